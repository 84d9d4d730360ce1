/* The runner's firewall: the table's name, the port range it covers
 * (exactly the ports runner_port_find hands out) and the nft script. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slipway/err.h"
#include "slipway/runner.h"

TEST(runner__firewall_name_is_per_home)
{
	char a[RUNNER_FIREWALL_NAME_MAX], b[RUNNER_FIREWALL_NAME_MAX];
	char again[RUNNER_FIREWALL_NAME_MAX];

	runner_firewall_name(a, "/var/lib/slipway");
	runner_firewall_name(again, "/var/lib/slipway");
	runner_firewall_name(b, "/var/lib/slipway2");
	/* sha256("/var/lib/slipway"), first 12 hex digits */
	EXPECT_STR("slipway_7814fc6b4e9a", a);
	EXPECT_STR(a, again);
	EXPECT_TRUE(strcmp(a, b) != 0);
	EXPECT_INT(RUNNER_FIREWALL_NAME_MAX - 1, (int)strlen(b));
}

TEST(runner__firewall_range_is_the_ports_handed_out)
{
	unsigned port;

	EXPECT_INT(20999, runner_port_last(0));
	EXPECT_INT(20999, runner_port_last(20000));
	EXPECT_INT(31999, runner_port_last(31000));
	/* cut at the last port there is */
	EXPECT_INT(65535, runner_port_last(65000));
	EXPECT_INT(65535, runner_port_last(65535));
	/* nothing past the range, even when it is free */
	EXPECT_OK(runner_port_find(&port, 65535, NULL, 0));
	EXPECT_INT(65535, port);
	unsigned taken[] = { 65535 };
	EXPECT_INT(ERR_CONFLICT, runner_port_find(&port, 65535, taken, 1));
	EXPECT_ERR_HAS("no free port in 65535-65535");
}

TEST(runner__firewall_script_replaces_the_whole_table)
{
	char *s = runner_firewall_script("/var/lib/slipway", 20000, 20999);

	EXPECT_STR(
	    "table inet slipway_7814fc6b4e9a\n"
	    "delete table inet slipway_7814fc6b4e9a\n"
	    "table inet slipway_7814fc6b4e9a {\n"
	    "\tcomment \"slipway runner home /var/lib/slipway\"\n"
	    "\tchain input {\n"
	    "\t\ttype filter hook input priority filter; policy accept;\n"
	    "\t\tiif != \"lo\" tcp dport 20000-20999 "
	    "tcp flags & (syn | ack) == syn drop\n"
	    "\t}\n"
	    "}\n", s);
	free(s);
	/* a home nft would read as syntax gets no comment */
	s = runner_firewall_script("/tmp/a\"b", 20000, 20999);
	EXPECT_TRUE(strstr(s, "comment") == NULL);
	free(s);
	s = runner_firewall_remove_script("/var/lib/slipway");
	EXPECT_STR("table inet slipway_7814fc6b4e9a\n"
	    "delete table inet slipway_7814fc6b4e9a\n", s);
	free(s);
}
