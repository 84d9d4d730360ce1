/* Unit tests for cli/up_units.c: the texts, and systemd-analyze verify. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "../../cli/up_int.h"

static void
t_write(const char *name, char *text)
{
	harness_write(name, text, strlen(text), 0644);
	free(text);
}

TEST(up_units__service_and_sockets_name_each_other)
{
	char *svc = up_unit_service("/usr/local/bin/slipway", "/var/lib/slipway");
	char *http = up_unit_socket("http", "0.0.0.0:80");

	EXPECT_TRUE(strstr(svc, "\nSockets=slipway-http.socket "
	    "slipway-ssh.socket\n") != NULL);
	EXPECT_TRUE(strstr(svc, "\nExecStart=/usr/local/bin/slipway up --home "
	    "/var/lib/slipway\n") != NULL);
	EXPECT_TRUE(strstr(svc, "\nExecReload=/bin/kill -HUP $MAINPID\n"));
	EXPECT_TRUE(strstr(http, "\nListenStream=0.0.0.0:80\n"
	    "FileDescriptorName=http\nService=slipway.service\n") != NULL);
	free(svc);
	free(http);
}

/* systemd-analyze verify runs without systemd as PID 1 (it loads the
 * units offline); where it is missing the test says so. */
TEST(up_units__pass_systemd_analyze_verify)
{
	if (system("command -v systemd-analyze >/dev/null 2>&1") != 0)
		harness_skip("no systemd-analyze here");
	/* verify checks that ExecStart's program exists */
	t_write("slipway.service", up_unit_service("/bin/true",
	    harness_tmpdir()));
	t_write("slipway-http.socket", up_unit_socket("http",
	    "127.0.0.1:8080"));
	t_write("slipway-ssh.socket", up_unit_socket("ssh", "0.0.0.0:2222"));
	SH("SYSTEMD_LOG_LEVEL=warning systemd-analyze verify slipway.service "
	    "slipway-http.socket slipway-ssh.socket > verify.out 2>&1 || "
	    "{ cat verify.out; exit 1; }; "
	    "! grep -v 'ssh-agent\\|gpg-agent\\|dirmngr' verify.out | grep .");
}
