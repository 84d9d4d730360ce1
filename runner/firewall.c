/*
 * The runner's firewall: until containers get networks of their own
 * (they run in the host's network namespace, and an app binds $PORT on
 * whatever address it likes, usually every one), an nftables table keeps
 * the container ports off every interface but lo.  The proxy and the
 * health checks reach containers on 127.0.0.1, which is lo; so is any
 * connection the host makes to one of its own addresses.
 *
 * One table per runner (family inet: IPv4 and IPv6), named from its
 * home, replaced whole in one `nft -f -` transaction at each start: no
 * moment without the rule, no rule twice.  The table stays when the
 * runner exits, because its containers keep running;
 * `slipway runner firewall --remove` deletes it.  docs/runner.md says
 * why nftables and what replaces it.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cmdline.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/home.h"
#include "slipway/log.h"
#include "slipway/parse.h"
#include "slipway/proc.h"
#include "slipway/runner.h"

#define FIREWALL_OUT_MAX 4096   /* nft's output we keep, for the message */

unsigned
runner_port_last(unsigned base)
{
	unsigned last;

	if (base == 0)
		base = RUNNER_PORT_BASE;
	last = base + RUNNER_PORT_SPAN - 1;
	return last > 65535 ? 65535 : last;
}

void
runner_firewall_name(char out[RUNNER_FIREWALL_NAME_MAX], const char *home)
{
	char d[DIGEST_STR_MAX];

	digest_buf(d, DIGEST_SHA256, home, strlen(home));
	/* d is "sha256:<hex>" */
	snprintf(out, RUNNER_FIREWALL_NAME_MAX, "slipway_%.12s", d + 7);
}

/* "table X" first makes the table when it is missing, so that "delete
 * table X" never fails: the pair empties whatever was there, in the
 * same transaction as what follows. */
static void
firewall_reset(struct buf *b, const char *name)
{
	buf_printf(b, "table inet %s\ndelete table inet %s\n", name, name);
}

/* The table says whose it is, so that one a dead home left behind can be
 * traced (its name is a hash).  Only a home of plain path characters is
 * written: the comment is nft syntax, and at most 128 bytes long. */
static void
firewall_comment(struct buf *b, const char *home)
{
	size_t n = strlen(home);

	if (n == 0 || n > 100 || strspn(home, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != n)
		return;
	buf_printf(b, "\tcomment \"slipway runner home %s\"\n", home);
}

char *
runner_firewall_script(const char *home, unsigned first, unsigned last)
{
	char name[RUNNER_FIREWALL_NAME_MAX];
	struct buf b;

	runner_firewall_name(name, home);
	buf_init(&b, 0);
	firewall_reset(&b, name);
	/* Only a connection's first packet (SYN without ACK) is dropped: a
	 * stateless rule that needs no conntrack, and leaves alone the
	 * replies to connections the host opens itself from a local port
	 * that happens to lie in the range.  Dropped, not refused, so that a
	 * scan learns nothing. */
	buf_printf(&b, "table inet %s {\n", name);
	firewall_comment(&b, home);
	buf_printf(&b,
	    "\tchain input {\n"
	    "\t\ttype filter hook input priority filter; policy accept;\n"
	    "\t\tiif != \"lo\" tcp dport %u-%u "
	    "tcp flags & (syn | ack) == syn drop\n"
	    "\t}\n"
	    "}\n", first, last);
	return buf_detach(&b, NULL);
}

char *
runner_firewall_remove_script(const char *home)
{
	char name[RUNNER_FIREWALL_NAME_MAX];
	struct buf b;

	runner_firewall_name(name, home);
	buf_init(&b, 0);
	firewall_reset(&b, name);
	return buf_detach(&b, NULL);
}

/* Feed script to `nft -f -`.  The script is far smaller than a pipe's
 * buffer, so it is written whole before the output is read. */
static int
firewall_nft(const char *script)
{
	char *argv[] = { "nft", "-f", "-", NULL };
	struct proc_opts o = { .flags = PROC_PIPE_IN | PROC_PIPE_OUT |
	    PROC_ERR_TO_OUT };
	struct proc p;
	struct buf out;
	char chunk[1024];
	ssize_t n;
	int rc, status;

	if ((rc = proc_spawn(&p, argv, &o)) < 0)
		return rc;
	rc = proc_write_all(p.in, script, strlen(script));
	close(p.in);
	p.in = -1;
	buf_init(&out, FIREWALL_OUT_MAX);
	while ((n = read(p.out, chunk, sizeof(chunk))) > 0)
		if (out.len + (size_t)n <= FIREWALL_OUT_MAX)
			buf_put(&out, chunk, (size_t)n);
	status = proc_wait(&p);
	if (rc == 0 && status != 0) {
		const char *text = out.len ? out.ptr : "";
		rc = err_set(ERR_IO, "nft failed (status %d): %.*s", status,
		    (int)strcspn(text, "\n"), text);
	}
	buf_free(&out);
	return rc;
}

int
runner_firewall_install(const char *home, unsigned base)
{
	unsigned first = base ? base : RUNNER_PORT_BASE;
	char *script = runner_firewall_script(home, first,
	    runner_port_last(first));
	int rc = firewall_nft(script);

	free(script);
	return rc;
}

int
runner_firewall_remove(const char *home)
{
	char *script = runner_firewall_remove_script(home);
	int rc = firewall_nft(script);

	free(script);
	return rc;
}

void
runner_firewall_start(const char *home, unsigned base, bool publish)
{
	char name[RUNNER_FIREWALL_NAME_MAX];
	unsigned first = base ? base : RUNNER_PORT_BASE;
	unsigned last = runner_port_last(first);
	int rc;

	runner_firewall_name(name, home);
	if (publish) {
		/* A table an earlier start left would still drop them. */
		if (geteuid() == 0 && (rc = runner_firewall_remove(home)) < 0 &&
		    rc != ERR_NOTFOUND)
			log_warnx("cannot remove the firewall table inet %s: %s",
			    name, err_last());
		log_info("--publish-ports: container ports %u-%u are reachable "
		    "from every interface, as asked", first, last);
		return;
	}
	if (geteuid() != 0) {
		log_warnx("not root: container ports %u-%u are reachable from "
		    "every interface, bypassing the proxy; run the runner as "
		    "root with nftables installed, or pass --publish-ports",
		    first, last);
		return;
	}
	rc = runner_firewall_install(home, first);
	if (rc == ERR_NOTFOUND)
		log_warnx("nft not found: container ports %u-%u are reachable "
		    "from every interface, bypassing the proxy; install "
		    "nftables (apt install nftables), or pass --publish-ports",
		    first, last);
	else if (rc < 0)
		log_warnx("cannot install the firewall (%s): container ports "
		    "%u-%u are reachable from every interface, bypassing the "
		    "proxy", err_last(), first, last);
	else
		log_info("firewall: table inet %s drops connections to "
		    "container ports %u-%u that do not come from lo", name,
		    first, last);
}

/* The home as the runner names it: its real path, or the path given when
 * it is gone (a table may outlive its home). */
static int
firewall_home(char **out)
{
	const char *h = home_dir();
	char real[PATH_MAX];

	if (realpath(h, real) != NULL)
		*out = xstrdup(real);
	else if (h[0] == '/')
		*out = xstrdup(h);
	else
		return err_sys("cannot use SLIPWAY_HOME '%s'", h);
	return 0;
}

int
runner_cmd_firewall(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "remove", no_argument, NULL, 'R' },
		{ "port-base", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	char name[RUNNER_FIREWALL_NAME_MAX], *home = NULL, *script;
	unsigned long long base = RUNNER_PORT_BASE;
	bool remove = false;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'R': remove = true; break;
		case 'B':
			if (parse_uint(&base, optarg, 1024, 65000) < 0)
				return cmdline_usage_error(argv[0], "--port-base is "
				    "1024 to 65000");
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'", argv[optind]);
	if (firewall_home(&home) < 0)
		return cmdline_fail(argv[0]);
	runner_firewall_name(name, home);
	if (remove) {
		if (runner_firewall_remove(home) < 0)
			rc = cmdline_fail(argv[0]);
		else
			printf("removed table inet %s\n", name);
	} else {
		script = runner_firewall_script(home, (unsigned)base,
		    runner_port_last((unsigned)base));
		fputs(script, stdout);
		free(script);
	}
	free(home);
	return rc;
}
