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

/* The table of services, in start order: the controller before the
 * registry (whose token realm it is). */
static size_t
up_services(struct supervise_svc *svcs, struct up_svc_args *args,
    const struct up_config *c, const struct up_state *st, char *self)
{
	size_t n = 0;
	struct up_svc_args *a;

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "controller");
	up_arg(a, "--listen");
	up_arg_own(a, xasprintf("%s:%u", c->host, c->controller_port));
	up_arg(a, "--home");
	up_arg(a, (char *)c->home);
	svcs[n++] = (struct supervise_svc){ .name = "controller",
	    .argv = a->argv };

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "registry");
	up_arg(a, "--listen");
	up_arg_own(a, xasprintf("%s:%u", c->host, c->registry_port));
	up_arg(a, "--root");
	up_arg_own(a, home_registry_dir(c->home));
	up_arg(a, "--realm");
	up_arg_own(a, xasprintf("http://%s:%u/v1/registry/token", c->host,
	    c->controller_port));
	svcs[n++] = (struct supervise_svc){ .name = "registry",
	    .argv = a->argv };

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "proxy");
	up_arg(a, "--listen");
	up_arg_own(a, xasprintf("%s:%u", c->host, c->proxy_port));
	up_arg(a, "--control");
	up_arg_own(a, home_proxy_socket_path(c->home));
	up_arg(a, "--domain");
	up_arg(a, (char *)c->domain);
	up_arg(a, "--routes");
	up_arg_own(a, fs_join(c->home, "proxy-routes.json"));
	svcs[n++] = (struct supervise_svc){ .name = "proxy",
	    .argv = a->argv };

	a = &args[n];
	up_arg(a, self);
	up_arg(a, "sshd");
	up_arg(a, "--listen");
	up_arg_own(a, xasprintf("%s:%u", c->host, c->ssh_port));
	up_arg(a, "--controller");
	up_arg_own(a, xasprintf("http://%s:%u", c->host, c->controller_port));
	up_arg(a, "--token-file");
	up_arg_own(a, fs_join(c->home, "up/service.token"));
	up_arg(a, "--registry");
	up_arg_own(a, xasprintf("%s:%u", c->host, c->registry_port));
	svcs[n++] = (struct supervise_svc){ .name = "sshd", .argv = a->argv };

	/* The runner's key goes in its environment (SLIPWAY_RUNNER_KEY, set
	 * by cli_cmd_up), not on a command line anyone can read. */
	a = &args[n];
	up_arg(a, self);
	up_arg(a, "runner");
	up_arg(a, "--controller");
	up_arg_own(a, xasprintf("http://%s:%u", c->host, c->controller_port));
	up_arg(a, "--group");
	up_arg(a, "default");
	up_arg(a, "--name");
	up_arg(a, "local");
	up_arg(a, "--registry");
	up_arg_own(a, xasprintf("%s:%u", c->host, c->registry_port));
	up_arg(a, "--proxy-control");
	up_arg_own(a, home_proxy_socket_path(c->home));
	up_arg(a, "--proxy-port");
	up_arg_own(a, xasprintf("%u", c->proxy_port));
	if (c->driver) {
		up_arg(a, "--driver");
		up_arg(a, (char *)c->driver);
	}
	if (c->publish_ports)
		up_arg(a, "--publish-ports");
	svcs[n++] = (struct supervise_svc){ .name = "runner", .argv = a->argv };
	(void)st;
	return n;
}

static void
up_print_next_steps(const struct up_config *c, const struct up_state *st)
{
	fprintf(stderr,
	    "\n"
	    "slipway is up. This is shown once; keep the token.\n"
	    "\n"
	    "  admin API token: %s\n"
	    "  slipway login http://%s:%u %s\n"
	    "\n",
	    st->admin_token, c->host, c->controller_port, st->admin_token);
	if (st->keys_added == 0)
		fprintf(stderr, "  No ~/.ssh/id_*.pub was found: add a key "
		    "with\n  slipway keys:add ~/.ssh/id_ed25519.pub\n\n");
	fprintf(stderr,
	    "Then, in your app (examples/hello is one):\n"
	    "  git remote add deploy ssh://git@%s:%u/hello.git\n"
	    "  git push deploy main\n"
	    "  curl http://hello.%s:%u/\n\n",
	    c->host, c->ssh_port, c->domain, c->proxy_port);
}

static int
up_port(unsigned *out, const char *s, const char *name)
{
	if (parse_port(out, s) < 0)
		return cmdline_usage_error(name, "%s", err_last());
	return 0;
}

int
cli_cmd_up(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "host", required_argument, NULL, 'h' },
		{ "controller-port", required_argument, NULL, 'c' },
		{ "registry-port", required_argument, NULL, 'r' },
		{ "ssh-port", required_argument, NULL, 's' },
		{ "proxy-port", required_argument, NULL, 'p' },
		{ "domain", required_argument, NULL, 'd' },
		{ "driver", required_argument, NULL, 'D' },
		{ "publish-ports", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	struct up_config c = { .host = "127.0.0.1", .controller_port = 7070,
	    .registry_port = 5000, .ssh_port = 2222, .proxy_port = 8080,
	    .domain = "localhost" };
	struct supervise_svc svcs[UP_MAX_SVCS];
	struct up_svc_args args[UP_MAX_SVCS];
	struct supervise_opts so = { 0 };
	struct up_state st;
	char *self, *home;
	size_t n;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': c.home = optarg; break;
		case 'h': c.host = optarg; break;
		case 'c':
			if (up_port(&c.controller_port, optarg, argv[0]))
				return 2;
			break;
		case 'r':
			if (up_port(&c.registry_port, optarg, argv[0]))
				return 2;
			break;
		case 's':
			if (up_port(&c.ssh_port, optarg, argv[0]))
				return 2;
			break;
		case 'p':
			if (up_port(&c.proxy_port, optarg, argv[0]))
				return 2;
			break;
		case 'd': c.domain = optarg; break;
		case 'D': c.driver = optarg; break;
		case 'U': c.publish_ports = true; break;
		default: return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'", argv[optind]);
	c.home = home_dir_option(c.home);
	/* Children get absolute paths: they may run from anywhere. */
	home = realpath(c.home, NULL);
	if (home == NULL) {
		if (fs_mkdir_p(c.home, 0755) < 0 ||
		    (home = realpath(c.home, NULL)) == NULL)
			return cmdline_fail(argv[0]);
	}
	c.home = home;
	setenv("SLIPWAY_HOME", home, 1);

	if ((rc = up_state_init(&st, &c)) < 0) {
		free(home);
		return cmdline_fail(argv[0]);
	}
	setenv("SLIPWAY_RUNNER_KEY", st.runner_key, 1);
	memset(svcs, 0, sizeof(svcs));
	memset(args, 0, sizeof(args));
	self = up_self();
	n = up_services(svcs, args, &c, &st, self);
	fprintf(stderr, "up: starting %zu services in %s (Ctrl-C stops them "
	    "all)\n", n, home);
	if (st.first_start)
		up_print_next_steps(&c, &st);
	rc = supervise_run(svcs, n, &so);
	up_args_free(args, n);
	up_state_free(&st);
	free(self);
	free(home);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}
