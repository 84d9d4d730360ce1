/*
 * The proxy's commands: `slipway proxy` (the daemon) and the clients of its
 * control socket (`proxy route set|rm`, `proxy routes`, `proxy drain`,
 * `proxy maintenance`).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/listenfd.h"
#include "slipway/log.h"
#include "slipway/parse.h"
#include "slipway/proxy.h"

/* Seconds with an optional fraction ("0.5") into milliseconds. */
static int
proxy_parse_secs(unsigned *out, const char *s)
{
	double v;
	int rc;

	if ((rc = parse_duration(&v, s, 0.001, 86400 * 7)) < 0)
		return rc;
	*out = (unsigned)(v * 1000 + 0.5);
	return 0;
}

static int
proxy_parse_count(unsigned *out, const char *s, unsigned max)
{
	unsigned long long v;

	if (parse_uint(&v, s, 1, max) < 0)
		return err_set(ERR_INVALID, "'%s' is not a count (1 to %u)", s,
		    max);
	*out = (unsigned)v;
	return 0;
}

static int
proxy_parse_fd(int *out, const char *s)
{
	unsigned long long v;

	if (parse_uint(&v, s, 0, 1 << 20) < 0)
		return err_set(ERR_INVALID, "'%s' is not a descriptor number", s);
	*out = (int)v;
	return 0;
}

static int
proxy_take_listeners(struct proxy_opts *o)
{
	struct listenfd_set set;
	int rc;

	if (o->listen_fd >= 0 && (rc = listenfd_check(o->listen_fd,
	    "--listen-fd")) < 0)
		return rc;
	if (o->tls_listen_fd >= 0 && (rc = listenfd_check(o->tls_listen_fd,
	    "--https-listen-fd")) < 0)
		return rc;
	if ((rc = listenfd_take(&set)) < 0 || set.n == 0)
		return rc;
	if (o->listen_fd < 0 && (o->listen_fd = listenfd_find(&set,
	    "http")) < 0 && set.n == 1 && strcmp(set.name[0], "https") != 0)
		o->listen_fd = set.fd[0];
	if (o->tls_listen_fd < 0)
		o->tls_listen_fd = listenfd_find(&set, "https");
	if (o->listen_fd < 0)
		return err_set(ERR_INVALID, "of the %zu sockets handed over "
		    "(LISTEN_FDNAMES), none is named 'http'", set.n);
	if ((rc = listenfd_check(o->listen_fd, "http")) < 0 ||
	    (o->tls_listen_fd >= 0 &&
	    (rc = listenfd_check(o->tls_listen_fd, "https")) < 0))
		return rc;
	return 0;
}

int
proxy_cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "listen-fd", required_argument, NULL, 'L' },
		{ "https-listen", required_argument, NULL, 's' },
		{ "https-listen-fd", required_argument, NULL, 'S' },
		{ "certs", required_argument, NULL, 'k' },
		{ "max-handshakes", required_argument, NULL, 'x' },
		{ "handshake-timeout", required_argument, NULL, 'X' },
		{ "control", required_argument, NULL, 'c' },
		{ "domain", required_argument, NULL, 'd' },
		{ "routes", required_argument, NULL, 'r' },
		{ "access-log", required_argument, NULL, 'a' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "max-conns-per-ip", required_argument, NULL, 'M' },
		{ "pool", required_argument, NULL, 'p' },
		{ "max-body", required_argument, NULL, 'b' },
		{ "header-timeout", required_argument, NULL, 'H' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "connect-timeout", required_argument, NULL, 'C' },
		{ "upstream-timeout", required_argument, NULL, 'U' },
		{ "tunnel-timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct proxy_opts o;
	char *ctl = NULL;
	int ch, rc = 0;

	proxy_opts_default(&o);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': o.listen = optarg; break;
		case 'L': rc = proxy_parse_fd(&o.listen_fd, optarg); break;
		case 's': o.tls_listen = optarg; break;
		case 'S': rc = proxy_parse_fd(&o.tls_listen_fd, optarg); break;
		case 'k': o.certs_dir = optarg; break;
		case 'x':
			rc = proxy_parse_count(&o.max_handshakes, optarg, 1000000);
			break;
		case 'X': rc = proxy_parse_secs(&o.handshake_timeout, optarg); break;
		case 'c': o.control = optarg; break;
		case 'd': o.domain = optarg; break;
		case 'r': o.routes_file = optarg; break;
		case 'a':
			o.access_log = strcmp(optarg, "off") == 0 ? NULL : optarg;
			break;
		case 'm': rc = proxy_parse_count(&o.max_conns, optarg, 1000000); break;
		case 'M':
			rc = proxy_parse_count(&o.max_conns_per_ip, optarg, 1000000);
			break;
		case 'p': rc = proxy_parse_count(&o.pool_max, optarg, 100000); break;
		case 'b': rc = parse_size(&o.max_body, optarg); break;
		case 'H': rc = proxy_parse_secs(&o.header_timeout, optarg); break;
		case 'I': rc = proxy_parse_secs(&o.idle_timeout, optarg); break;
		case 'C': rc = proxy_parse_secs(&o.connect_timeout, optarg); break;
		case 'U': rc = proxy_parse_secs(&o.upstream_timeout, optarg); break;
		case 'T': rc = proxy_parse_secs(&o.tunnel_timeout, optarg); break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
		if (rc < 0)
			return cmdline_usage_error(argv[0], "%s", err_last());
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]);
	/* --listen-fd N, or the sockets named "http" (and "https") handed
	 * over by the systemd protocol (`slipway up`, .socket units); else
	 * --listen (and --https-listen). */
	if ((rc = proxy_take_listeners(&o)) < 0)
		return cmdline_fail(argv[0]);
	if (o.control == NULL)
		o.control = ctl = proxy_ctl_default_path();
	log_init("proxy", LOG_LEVEL_INFO, true);
	rc = proxy_run(&o);
	free(ctl);
	if (rc < 0) {
		log_error("%s", err_last());
		return 1;
	}
	return 0;
}

/* --control for the client commands; returns the path to use (free it). */
static char *
proxy_control_arg(const char *given)
{
	return given ? xstrdup(given) : proxy_ctl_default_path();
}

int
proxy_cmd_route_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "domain", required_argument, NULL, 'd' },
		{ "control", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *domains[64], *control = NULL;
	size_t nd = 0;
	char *ctl;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (nd == 64)
				return cmdline_usage_error(argv[0],
				    "more than 64 domains");
			domains[nd++] = optarg;
			break;
		case 'c': control = optarg; break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (argc - optind < 1)
		return cmdline_usage_error(argv[0], "APP is missing");
	ctl = proxy_control_arg(control);
	rc = proxy_ctl_route_set(ctl, argv[optind],
	    (const char *const *)argv + optind + 1, (size_t)(argc - optind - 1),
	    domains, nd);
	free(ctl);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}

static const struct option proxy_ctl_only[] = {
	{ "control", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};

int
proxy_cmd_route_rm(int argc, char **argv)
{
	const char *control = NULL;
	char *ctl;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", proxy_ctl_only, NULL)) != -1) {
		if (ch != 'c')
			return cmdline_usage_error(argv[0], "unknown option");
		control = optarg;
	}
	if (argc - optind != 1)
		return cmdline_usage_error(argv[0], "expected one APP");
	ctl = proxy_control_arg(control);
	rc = proxy_ctl_route_rm(ctl, argv[optind]);
	free(ctl);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}

int
proxy_cmd_maintenance(int argc, char **argv)
{
	const char *control = NULL;
	char *ctl;
	int ch, rc;
	bool on;

	while ((ch = getopt_long(argc, argv, "", proxy_ctl_only, NULL)) != -1) {
		if (ch != 'c')
			return cmdline_usage_error(argv[0], "unknown option");
		control = optarg;
	}
	if (argc - optind != 2 || (strcmp(argv[optind + 1], "on") != 0 &&
	    strcmp(argv[optind + 1], "off") != 0))
		return cmdline_usage_error(argv[0], "expected APP on|off");
	on = strcmp(argv[optind + 1], "on") == 0;
	ctl = proxy_control_arg(control);
	rc = proxy_ctl_maintenance(ctl, argv[optind], on);
	free(ctl);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	printf("%s: maintenance %s\n", argv[optind], on ? "on" : "off");
	return 0;
}

static void
proxy_print_routes(json_t *o)
{
	json_t *r, *b, *d;
	size_t i, j;

	printf("%-30s %-5s %s\n", "APP", "MAINT", "BACKENDS (in flight) / "
	    "DOMAINS");
	json_array_foreach(json_object_get(o, "routes"), i, r) {
		printf("%-30s %-5s", json_string_value(json_object_get(r, "app")),
		    json_is_true(json_object_get(r, "maintenance")) ? "on" : "-");
		json_array_foreach(json_object_get(r, "backends"), j, b)
			printf(" %s(%lld)", json_string_value(json_object_get(b,
			    "addr")), (long long)json_integer_value(
			    json_object_get(b, "inflight")));
		if (json_array_size(json_object_get(r, "backends")) == 0)
			printf(" (no backend)");
		json_array_foreach(json_object_get(r, "domains"), j, d)
			printf("%s%s", j ? " " : " / ", json_string_value(d));
		printf("\n");
	}
}

int
proxy_cmd_routes(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "control", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *control = NULL;
	bool as_json = false;
	char *ctl, *text = NULL;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': as_json = true; break;
		case 'c': control = optarg; break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]);
	ctl = proxy_control_arg(control);
	rc = proxy_ctl_routes(&text, ctl);
	free(ctl);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	if (as_json) {
		printf("%s\n", text);
	} else {
		json_t *o = json_loads(text, 0, NULL);

		proxy_print_routes(o);
		json_decref(o);
	}
	free(text);
	return 0;
}

int
proxy_cmd_drain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", required_argument, NULL, 'w' },
		{ "control", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *control = NULL;
	unsigned wait_ms = 0, left = 0;
	bool routed = false;
	char *ctl;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			if (proxy_parse_secs(&wait_ms, optarg) < 0)
				return cmdline_usage_error(argv[0], "%s",
				    err_last());
			break;
		case 'c': control = optarg; break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (argc - optind != 1)
		return cmdline_usage_error(argv[0], "expected one BACKEND");
	ctl = proxy_control_arg(control);
	if (wait_ms)
		rc = proxy_ctl_drain_wait(&left, ctl, argv[optind], wait_ms);
	else
		rc = proxy_ctl_drain(&left, &routed, ctl, argv[optind]);
	free(ctl);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	if (left == 0)
		printf("%s: drained (no request in flight)\n", argv[optind]);
	else
		printf("%s: %u request%s in flight%s\n", argv[optind], left,
		    left == 1 ? "" : "s", routed ? " (still routed)" : "");
	return 0;
}
