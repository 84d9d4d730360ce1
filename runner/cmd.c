/*
 * `slipway runner ...`: debug and operator commands over the runner's
 * core, without a controller.  run-local drives the whole path (unpack,
 * container, health check, stop) so tests and the joining layer can try
 * the real thing.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/home.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "slipway/parse.h"
#include "slipway/runner.h"

/* $SLIPWAY_HOME made absolute (the bundle paths must be). */
static int
cmd_home(char **out)
{
	const char *h = home_dir();
	char buf[PATH_MAX];

	if (realpath(h, buf) == NULL)
		return err_sys("cannot use SLIPWAY_HOME '%s'", h);
	*out = xstrdup(buf);
	return 0;
}

/* Split "a,b,c" into a NULL-terminated vector (caller frees). */
static char **
cmd_split(const char *s, size_t *n)
{
	char *copy = xstrdup(s), *tok, *save = NULL;
	char **v = xcalloc(1, sizeof(*v));
	size_t k = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		v = xrealloc(v, (k + 2) * sizeof(*v));
		v[k++] = xstrdup(tok);
		v[k] = NULL;
	}
	free(copy);
	if (n)
		*n = k;
	return v;
}

static void
cmd_print_event(const struct runner_container_info *i, void *ctx)
{
	(void)ctx;
	printf("event: %s state=%s port=%u restarts=%u exit=%d driver=%s\n",
	    i->process, runner_state_name(i->state), i->port, i->restarts,
	    i->exit_code, runner_driver_name(i->driver));
	fflush(stdout);
}

struct cmd_alive {
	struct runner *r;
	const char *id;
};

static bool
cmd_alive(void *ctx, char *why, size_t len)
{
	struct cmd_alive *a = ctx;
	struct runner_container_info i;
	bool up;

	if (runner_container_get(&i, a->r, a->id) < 0) {
		snprintf(why, len, "the container is gone");
		return false;
	}
	/* Down between restarts is still alive; a crash loop is not. */
	up = i.restarts < 3;
	if (!up)
		snprintf(why, len, "the process keeps exiting (last status %d, "
		    "%u restarts)", i.exit_code, i.restarts);
	runner_container_info_free(&i);
	return up;
}

int
runner_cmd_run_local(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "image-layers", required_argument, NULL, 'l' },
		{ "digest", required_argument, NULL, 'd' },
		{ "app", required_argument, NULL, 'a' },
		{ "release", required_argument, NULL, 'r' },
		{ "process", required_argument, NULL, 'p' },
		{ "command", required_argument, NULL, 'c' },
		{ "driver", required_argument, NULL, 'D' },
		{ "health", required_argument, NULL, 'H' },
		{ "no-health", no_argument, NULL, 'N' },
		{ "health-deadline", required_argument, NULL, 'T' },
		{ "env", required_argument, NULL, 'e' },
		{ "port", required_argument, NULL, 'P' },
		{ "user", required_argument, NULL, 'u' },
		{ "grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	const char *layers_s = NULL, *digest = NULL, *app = NULL;
	const char *release = "v1", *ptype = "web", *command = NULL;
	const char *health = NULL, *user = NULL;
	enum runner_driver driver = RUNNER_DRIVER_AUTO;
	double deadline = 60, grace = 10;
	bool no_health = false;
	char **env = xcalloc(1, sizeof(*env)), **layers = NULL;
	char *home = NULL, *rootfs = NULL, *id = NULL, answer[512];
	size_t nenv = 0, nlayers = 0;
	unsigned port = 0;
	struct runner *r = NULL;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': layers_s = optarg; break;
		case 'd': digest = optarg; break;
		case 'a': app = optarg; break;
		case 'r': release = optarg; break;
		case 'p': ptype = optarg; break;
		case 'c': command = optarg; break;
		case 'H': health = optarg; break;
		case 'N': no_health = true; break;
		case 'u': user = optarg; break;
		case 'T':
		case 'g':
			if (parse_duration(c == 'T' ? &deadline : &grace, optarg,
			    0, 86400) < 0) {
				rc = cmdline_usage_error(argv[0], "%s",
				    err_last());
				goto done;
			}
			break;
		case 'P':
			if (parse_port(&port, optarg) < 0) {
				rc = cmdline_usage_error(argv[0], "%s",
				    err_last());
				goto done;
			}
			break;
		case 'e':
			if (strchr(optarg, '=') == NULL) {
				rc = cmdline_usage_error(argv[0], "--env wants K=V, "
				    "not '%s'", optarg);
				goto done;
			}
			env = xrealloc(env, (nenv + 2) * sizeof(*env));
			env[nenv++] = xstrdup(optarg);
			env[nenv] = NULL;
			break;
		case 'D':
			if (runner_driver_parse(&driver, optarg) < 0) {
				rc = cmdline_usage_error(argv[0], "%s", err_last());
				goto done;
			}
			break;
		default:
			rc = 2;
			goto done;
		}
	}
	if (!layers_s || !digest || !app || !command) {
		rc = cmdline_usage_error(argv[0], "--image-layers, --digest, --app "
		    "and --command are required");
		goto done;
	}
	layers = cmd_split(layers_s, &nlayers);
	if (cmd_home(&home) < 0)
		goto fail;
	if (runner_image_unpack(&rootfs, home, digest,
	    (const char *const *)layers, nlayers, NULL) < 0)
		goto fail;
	printf("image %s unpacked at %s\n", digest, rootfs);
	fflush(stdout);

	/* Before any thread: signals are taken synchronously below. */
	net_signals_block();
	struct runner_opts ro = { .home = home, .driver = driver,
	    .stop_grace_sec = grace, .on_event = cmd_print_event };
	if (runner_open(&r, &ro) < 0)
		goto fail;
	struct runner_container_spec spec = { .app = app, .release = release,
	    .process_type = ptype, .index = 1, .command = command,
	    .image = digest, .env = env, .port = port, .user = user };
	if (runner_container_create(&id, r, &spec) < 0)
		goto fail;
	if (runner_container_start(r, id) < 0) {
		rc = cmdline_fail(argv[0]);
		runner_container_destroy(r, id);
		goto done;
	}
	struct runner_container_info info;
	runner_container_get(&info, r, id);
	printf("container %s driver=%s port=%u\n", id,
	    runner_driver_name(info.driver), info.port);
	fflush(stdout);
	if (!no_health && (health || strcmp(ptype, "web") == 0)) {
		struct cmd_alive alive = { r, id };
		struct runner_health_opts ho = { .port = info.port,
		    .path = health, .deadline_sec = deadline,
		    .alive = cmd_alive, .ctx = &alive };
		if (runner_health_wait(&ho, answer, sizeof(answer)) < 0) {
			fprintf(stderr, "slipway %s: %s.%u %s\n", argv[0], ptype,
			    1, err_last());
			runner_container_info_free(&info);
			runner_container_destroy(r, id);
			goto done;
		}
		printf("healthy: %s\n", answer);
	}
	runner_container_info_free(&info);
	runner_container_get(&info, r, id);
	printf("PORT=%u state=%s\n", info.port, runner_state_name(info.state));
	fflush(stdout);
	runner_container_info_free(&info);

	int sig = net_signal_wait();
	printf("signal %d: stopping %s\n", sig, id);
	fflush(stdout);
	if (runner_container_destroy(r, id) < 0)
		goto fail;
	printf("destroyed %s\n", id);
	rc = 0;
	goto done;
fail:
	rc = cmdline_fail(argv[0]);
done:
	runner_close(r);
	runner_strv_free(env);
	runner_strv_free(layers);
	free(id);
	free(rootfs);
	free(home);
	return rc;
}

static void
cmd_warn(const char *msg, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", msg);
}

int
runner_cmd_unpack(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "digest", required_argument, NULL, 'd' },
		{ "into", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *digest = NULL, *into = NULL;
	struct runner_unpack_opts uo = { .warn = cmd_warn };
	char *home = NULL, *rootfs = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': digest = optarg; break;
		case 'i': into = optarg; break;
		default: return 2;
		}
	}
	if (optind >= argc || (!digest == !into))
		return cmdline_usage_error(argv[0], "give --digest or --into, and "
		    "the layers");
	if (into) {
		if (runner_layers_unpack(into, (const char *const *)argv + optind,
		    (size_t)(argc - optind), &uo) < 0)
			return cmdline_fail(argv[0]);
		printf("%s\n", into);
		return 0;
	}
	if (cmd_home(&home) < 0)
		return cmdline_fail(argv[0]);
	rc = runner_image_unpack(&rootfs, home, digest,
	    (const char *const *)argv + optind, (size_t)(argc - optind), &uo);
	if (rc < 0)
		rc = cmdline_fail(argv[0]);
	else
		printf("%s\n", rootfs);
	free(rootfs);
	free(home);
	return rc < 0 ? 1 : rc;
}

int
runner_cmd_ps(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct runner_container_info *v;
	bool json = false;
	char *home;
	size_t n;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'j')
			return 2;
		json = true;
	}
	if (cmd_home(&home) < 0 ||
	    runner_container_list_home(&v, &n, home) < 0)
		return cmdline_fail(argv[0]);
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, runner_container_info_json(&v[i]));
		char *text = json_dumps(a, JSON_INDENT(2));
		printf("%s\n", text);
		free(text);
		json_decref(a);
	}
	for (size_t i = 0; i < n; i++) {
		if (!json)
			printf("%-8s %-11s %s port=%u restarts=%u exit=%d "
			    "driver=%s release=%s id=%s\n", v[i].process,
			    v[i].retiring && v[i].state == RUNNER_STATE_UP ?
			    "retiring" : runner_state_name(v[i].state),
			    v[i].app, v[i].port,
			    v[i].restarts, v[i].exit_code,
			    runner_driver_name(v[i].driver), v[i].release,
			    v[i].id);
		runner_container_info_free(&v[i]);
	}
	free(v);
	free(home);
	return 0;
}

static int
cmd_print_line(const char *line, size_t len, void *ctx)
{
	(void)ctx;
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	return fflush(stdout) == 0 ? 0 : -1;
}

int
runner_cmd_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "process", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct logring_query q = { 0 };
	char *home;
	int c, rc;

	while ((c = getopt_long(argc, argv, "n:fp:", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': q.lines = (size_t)atol(optarg); break;
		case 'f': q.follow = true; break;
		case 'p': q.process = optarg; break;
		default: return 2;
		}
	}
	if (optind != argc - 1)
		return cmdline_usage_error(argv[0], "give one app");
	q.app = argv[optind];
	if (cmd_home(&home) < 0)
		return cmdline_fail(argv[0]);
	rc = runner_logs_read(home, &q, cmd_print_line, NULL);
	free(home);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}

int
runner_cmd_gc(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keep", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	char **keep = NULL, *home;
	unsigned removed = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'k')
			return 2;
		runner_strv_free(keep);
		keep = cmd_split(optarg, NULL);
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'", argv[optind]);
	if (cmd_home(&home) < 0) {
		runner_strv_free(keep);
		return cmdline_fail(argv[0]);
	}
	rc = runner_images_gc(home, keep, &removed);
	runner_strv_free(keep);
	free(home);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	printf("removed %u image%s\n", removed, removed == 1 ? "" : "s");
	return 0;
}

int
runner_cmd_supervise(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "driver", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	enum runner_driver driver = RUNNER_DRIVER_AUTO;
	struct runner *r = NULL;
	char *home = NULL;
	int c, sig;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (c != 'D')
			return 2;
		if (runner_driver_parse(&driver, optarg) < 0)
			return cmdline_usage_error(argv[0], "%s", err_last());
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'", argv[optind]);
	if (cmd_home(&home) < 0)
		return cmdline_fail(argv[0]);
	net_signals_block();
	struct runner_opts ro = { .home = home, .driver = driver,
	    .on_event = cmd_print_event };
	if (runner_open(&r, &ro) < 0) {
		free(home);
		return cmdline_fail(argv[0]);
	}
	printf("supervising (driver %s)\n", runner_driver_name(
	    runner_driver(r)));
	fflush(stdout);
	sig = net_signal_wait();
	printf("signal %d: leaving the containers running\n", sig);
	runner_close(r);
	free(home);
	return 0;
}

int
runner_cmd_destroy(int argc, char **argv)
{
	struct runner *r = NULL;
	char *home = NULL;
	int rc = 0;

	if (argc < 2)
		return cmdline_usage_error(argv[0], "give container ids");
	if (cmd_home(&home) < 0)
		return cmdline_fail(argv[0]);
	struct runner_opts ro = { .home = home, .stop_grace_sec = 5 };
	if (runner_open(&r, &ro) < 0) {
		free(home);
		return cmdline_fail(argv[0]);
	}
	for (int i = 1; i < argc; i++) {
		if (runner_container_destroy(r, argv[i]) < 0)
			rc = cmdline_fail(argv[0]);
		else
			printf("destroyed %s\n", argv[i]);
	}
	runner_close(r);
	free(home);
	return rc;
}
