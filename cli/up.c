/*
 * `slipway up`: every service of slipway on this machine, as children of
 * one supervisor (lib/supervise.c), with embedded defaults.  The services
 * are rows of up_services(); each is this same binary with a daemon
 * command, so `up` adds no second implementation of anything.
 */
#include <getopt.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/cli.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/parse.h"
#include "slipway/supervise.h"
#include "up_int.h"

#define UP_MAX_SVCS 8
#define UP_MAX_ARGS 24

/* One service: a name and its argv, built with up_arg(). */
struct up_svc_args {
	char *argv[UP_MAX_ARGS];
	bool own[UP_MAX_ARGS];     /* argv[i] was allocated for it */
	int argc;
};

static void
up_arg_add(struct up_svc_args *a, char *s, bool own)
{
	if (a->argc < UP_MAX_ARGS - 1) {
		a->own[a->argc] = own;
		a->argv[a->argc++] = s;
	} else if (own) {
		free(s);
	}
	a->argv[a->argc] = NULL;
}

/* A borrowed string, and one the table owns. */
static void up_arg(struct up_svc_args *a, char *s) { up_arg_add(a, s, false); }
static void up_arg_own(struct up_svc_args *a, char *s) { up_arg_add(a, s, true); }

static void
up_args_free(struct up_svc_args *args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < args[i].argc; k++)
			if (args[i].own[k])
				free(args[i].argv[k]);
}

static char *
up_self(void)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (n <= 0)
		return xstrdup("slipway");
	path[n] = '\0';
	return xstrdup(path);
}

/* "HOST:PORT" for --listen. */
static char *
up_listen(const char *host, unsigned port)
{
	return xasprintf("%s:%u", host, port);
}

/* The table of services, in start order: the controller before the
 * registry (whose token realm it is).  Each is handed the addresses
 * up_config derived: where it listens, and the URLs it reaches the
 * others by. */
static size_t
up_services(struct supervise_svc *svcs, struct up_svc_args *args,
    const struct up_config *c, char *self)
{
	size_t n = 0;
	struct up_svc_args *a;

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "controller");
	up_arg(a, "--listen");
	up_arg_own(a, up_listen(c->controller_host, c->controller_port));
	up_arg(a, "--url");
	up_arg(a, c->controller_url);
	up_arg(a, "--registry");
	up_arg(a, c->registry_url);
	up_arg(a, "--keep-releases");
	up_arg_own(a, xasprintf("%u", c->keep_releases));
	up_arg(a, "--runner-lease");
	up_arg_own(a, xasprintf("%u", c->runner_lease));
	up_arg(a, "--home");
	up_arg(a, c->home);
	up_arg(a, "--git-url");
	up_arg_own(a, xasprintf("ssh://git@%s:%u", c->hostname, c->ssh_port));
	svcs[n++] = (struct supervise_svc){ .name = "controller",
	    .argv = a->argv };

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "registry");
	up_arg(a, "--listen");
	up_arg_own(a, up_listen(c->registry_host, c->registry_port));
	up_arg(a, "--root");
	up_arg_own(a, home_registry_dir(c->home));
	up_arg(a, "--realm");
	up_arg_own(a, xasprintf("%s/v1/registry/token", c->controller_url));
	svcs[n++] = (struct supervise_svc){ .name = "registry",
	    .argv = a->argv };

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "proxy");
	up_arg(a, "--listen");
	up_arg_own(a, up_listen(c->public_host, c->http_port));
	up_arg(a, "--control");
	up_arg_own(a, home_proxy_socket_path(c->home));
	up_arg(a, "--domain");
	up_arg(a, c->domain);
	up_arg(a, "--routes");
	up_arg_own(a, home_proxy_routes_path(c->home));
	svcs[n++] = (struct supervise_svc){ .name = "proxy",
	    .argv = a->argv };

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "sshd");
	up_arg(a, "--listen");
	up_arg_own(a, up_listen(c->public_host, c->ssh_port));
	up_arg(a, "--controller");
	up_arg(a, c->controller_url);
	up_arg(a, "--token-file");
	up_arg_own(a, up_service_token_path(c->home));
	up_arg(a, "--registry");
	up_arg(a, c->registry_url);
	svcs[n++] = (struct supervise_svc){ .name = "sshd", .argv = a->argv };

	/* The runner's key goes in its environment (SLIPWAY_RUNNER_KEY, set
	 * by cli_cmd_up), not on a command line anyone can read. */
	a = &args[n];
	up_arg(a, self);
	up_arg(a, "runner");
	up_arg(a, "--controller");
	up_arg(a, c->controller_url);
	up_arg(a, "--group");
	up_arg(a, "default");
	up_arg(a, "--name");
	up_arg(a, "local");
	up_arg(a, "--registry");
	up_arg(a, c->registry_url);
	up_arg(a, "--proxy-control");
	up_arg_own(a, home_proxy_socket_path(c->home));
	up_arg(a, "--proxy-port");
	up_arg_own(a, xasprintf("%u", c->http_port));
	up_arg(a, "--driver");
	up_arg(a, c->driver);
	if (c->publish_ports)
		up_arg(a, "--publish-ports");
	svcs[n++] = (struct supervise_svc){ .name = "runner", .argv = a->argv };
	return n;
}

/* Loopback, RFC 1918, CGNAT (100.64/10) or link-local: not the internet. */
static bool
up_addr_is_private(const char *host)
{
	unsigned a, b;

	if (sscanf(host, "%u.%u.", &a, &b) != 2)
		return false;
	return a == 127 || a == 10 || (a == 172 && b >= 16 && b <= 31) ||
	    (a == 192 && b == 168) || (a == 100 && b >= 64 && b <= 127) ||
	    (a == 169 && b == 254);
}

/* The API and the registry are meant to be private (docs/server.md):
 * say so when the configuration puts one on a public address. */
static void
up_warn_exposure(const struct up_config *c)
{
	if (!up_addr_is_private(c->controller_host))
		fprintf(stderr, "up: warning: the controller API listens on "
		    "%s, which may face the internet; set controller.address "
		    "(--controller-host) to a private address\n",
		    c->controller_host);
	if (!up_addr_is_private(c->registry_host))
		fprintf(stderr, "up: warning: the registry listens on %s, "
		    "which may face the internet; set registry.address "
		    "(--registry-host) to a private address\n",
		    c->registry_host);
}

static void
up_print_next_steps(const struct up_config *c, const struct up_state *st)
{
	fprintf(stderr,
	    "\n"
	    "slipway is up. This is shown once; keep the token.\n"
	    "\n"
	    "  admin API token: %s\n"
	    "  slipway login %s %s\n"
	    "\n",
	    st->admin_token, c->controller_url, st->admin_token);
	if (st->keys_added == 0)
		fprintf(stderr, "  No ~/.ssh/id_*.pub was found: add a key "
		    "with\n  slipway keys:add ~/.ssh/id_ed25519.pub\n\n");
	fprintf(stderr,
	    "Then, in your app (examples/hello is one):\n"
	    "  git remote add deploy ssh://git@%s:%u/hello.git\n"
	    "  git push deploy main\n"
	    "  curl http://hello.%s:%u/\n\n",
	    c->hostname, c->ssh_port, c->domain, c->http_port);
}

int
cli_cmd_up(int argc, char **argv)
{
	struct supervise_svc svcs[UP_MAX_SVCS];
	struct up_svc_args args[UP_MAX_SVCS];
	struct supervise_opts so = { 0 };
	struct up_listen ls = { -1, -1, false };
	struct up_request req;
	struct up_config c;
	struct up_state st;
	char *self, *home;
	size_t n;
	int rc;

	if ((rc = up_config_load(&c, &req, argc, argv)) != 0) {
		up_config_free(&c);
		return rc;
	}
	if (req.show) {
		up_config_print(&c, req.json, false, stdout);
		up_config_free(&c);
		return 0;
	}
	/* Children get absolute paths: they may run from anywhere. */
	home = realpath(c.home, NULL);
	if (home == NULL) {
		if (fs_mkdir_p(c.home, 0755) < 0 ||
		    (home = realpath(c.home, NULL)) == NULL) {
			up_config_free(&c);
			return cmdline_fail(argv[0]);
		}
	}
	free(c.home);
	c.home = home;
	setenv("SLIPWAY_HOME", home, 1);
	up_warn_exposure(&c);

	if (up_log_open(&so.log, &c) < 0 ||
	    up_listen_open(&ls, &c) < 0 ||
	    (rc = up_state_init(&st, &c)) < 0) {
		up_listen_close(&ls);
		supervise_log_free(so.log);
		up_config_free(&c);
		return cmdline_fail(argv[0]);
	}
	setenv("SLIPWAY_RUNNER_KEY", st.runner_key, 1);
	memset(svcs, 0, sizeof(svcs));
	memset(args, 0, sizeof(args));
	self = up_self();
	n = up_services(svcs, args, &c, self);
	up_listen_attach(svcs, n, &ls);
	fprintf(stderr, "up: starting %zu services in %s (Ctrl-C stops them "
	    "all)\n", n, home);
	up_log_say_where(so.log, &c);
	if (st.first_start)
		up_print_next_steps(&c, &st);
	rc = supervise_run(svcs, n, &so);
	up_listen_close(&ls);
	supervise_log_free(so.log);
	up_args_free(args, n);
	up_state_free(&st);
	free(self);
	up_config_free(&c);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}
