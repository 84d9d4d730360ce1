/*
 * Client commands of the runtime: waiting for a rollout
 * (`releases:wait`, over lib/rollout.c's rollout_wait), rolling
 * restarts (`ps:restart`), one-offs (`run`) and logs (`logs`).  Each
 * long-polls the controller (docs/rollout.md), so nothing needs a
 * streaming HTTP response and a dropped connection loses nothing.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/rollout.h"

/* ---- waiting for a rollout ------------------------------------------ */

static void
wait_progress(json_t *ans, void *ctx)
{
	const char *st = json_string_value(json_object_get(ans, "state"));
	const char *why = json_string_value(json_object_get(ans, "reason"));

	(void)ctx;
	if (strcmp(st, "pending") == 0)
		fprintf(stderr, "waiting: %s\n", why ? why : "deploying");
}

/* Print what rollout_wait ended with: the URLs, or the reason. */
static int
wait_report(const char *name, int rc, json_t *ans, const char *app,
    int64_t version, bool json)
{
	json_t *u;
	size_t i;

	if (json && ans)
		client_print_json(ans);
	if (rc < 0)
		return cmdline_fail(name);
	if (json)
		return 0;
	if (strcmp(json_string_value(json_object_get(ans, "state")),
	    "idle") == 0) {
		printf("%s v%" PRId64 " is released; nothing runs: %s\n", app,
		    version, client_str(ans, "reason"));
		return 0;
	}
	printf("%s v%" PRId64 " is live", app, version);
	json_array_foreach(json_object_get(ans, "urls"), i, u)
		printf("%s %s", i ? "," : " at", json_string_value(u));
	printf("\n");
	return 0;
}

int
client_cmd_releases_wait(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *ans = NULL, *app = NULL;
	unsigned timeout = 0;
	int64_t version = 0;
	bool json = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch != 't' || (rc = client_parse_timeout(&timeout, argv[0],
		    optarg)))
			return ch == 't' ? rc : cmdline_usage_error(argv[0],
			    "unknown option");
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cmdline_usage_error(argv[0], "give APP and maybe vN");
	if ((rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (argc - optind == 2 &&
	    name_release_parse(&version, argv[optind + 1]) < 0)
		return cmdline_usage_error(argv[0], "'%s' is not a release (vN)",
		    argv[optind + 1]);
	if (!client_open(&c, argv[0]))
		return 1;
	if (version == 0) {
		if (!client_call(&app, c, argv[0], "GET", NULL, "/v1/apps/%s",
		    argv[optind])) {
			apiclient_free(c);
			return 1;
		}
		version = json_integer_value(json_object_get(app, "release"));
		json_decref(app);
		if (version == 0) {
			apiclient_free(c);
			fprintf(stderr, "slipway %s: app '%s' has no release "
			    "yet\n", argv[0], argv[optind]);
			return 1;
		}
	}
	rc = rollout_wait(&ans, c, argv[optind], version, NULL, timeout,
	    json ? NULL : wait_progress, NULL);
	rc = wait_report(argv[0], rc, ans, argv[optind], version, json);
	json_decref(ans);
	apiclient_free(c);
	return rc;
}

/* ---- ps:restart ------------------------------------------------------ */

int
client_cmd_ps_restart(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = json_object(), *ans = NULL, *r = NULL;
	unsigned timeout = 0;
	bool nowait = false;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'n') {
			nowait = true;
		} else if (ch != 't') {
			rc = cmdline_usage_error(argv[0], "unknown option");
			goto done;
		} else if ((rc = client_parse_timeout(&timeout, argv[0], optarg))) {
			goto done;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		rc = cmdline_usage_error(argv[0], "give APP and maybe a TYPE");
		goto done;
	}
	if ((rc = client_check_app(argv[0], argv[optind])))
		goto done;
	if (argc - optind == 2) {
		if (!name_proc_type_is_valid(argv[optind + 1])) {
			rc = cmdline_usage_error(argv[0], "'%.64s' is not a "
			    "process type", argv[optind + 1]);
			goto done;
		}
		json_object_set_new(body, "type",
		    json_string(argv[optind + 1]));
	}
	rc = 1;
	if (!client_open(&c, argv[0]) ||
	    !client_call(&r, c, argv[0], "POST", body, "/v1/apps/%s/ps/restart",
	    argv[optind]))
		goto done;
	if (nowait) {
		printf("Restarting %s (%s)\n", argv[optind],
		    argc - optind == 2 ? argv[optind + 1] : "all types");
		rc = 0;
		goto done;
	}
	rc = rollout_wait(&ans, c, argv[optind], json_integer_value(
	    json_object_get(r, "release")), json_string_value(json_object_get(
	    r, "restart")), timeout, wait_progress, NULL);
	if (rc < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	printf("Restarted %s (%s) v%" JSON_INTEGER_FORMAT "\n", argv[optind],
	    argc - optind == 2 ? argv[optind + 1] : "all types",
	    json_integer_value(json_object_get(r, "release")));
	rc = 0;
done:
	json_decref(body);
	json_decref(ans);
	json_decref(r);
	apiclient_free(c);
	return rc;
}

/* ---- logs ------------------------------------------------------------ */

static atomic_int logs_stop;   /* lock-free: safe in a handler */

static void
logs_on_signal(int sig)
{
	(void)sig;
	logs_stop = 1;
}

static void
logs_print(json_t *ans)
{
	json_t *l;
	size_t i;

	if (json_is_true(json_object_get(ans, "gap")))
		printf("(some lines were lost: the log turned over while "
		    "following)\n");
	json_array_foreach(json_object_get(ans, "lines"), i, l) {
		fwrite(json_string_value(l), 1, json_string_length(l), stdout);
		fputc('\n', stdout);
	}
	fflush(stdout);
}

int
client_cmd_logs(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", no_argument, NULL, 'f' },    /* Heroku's name */
		{ "process", required_argument, NULL, 'p' },
		{ "source", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *ans = NULL;
	const char *proc = NULL, *source = NULL;
	char *eproc = NULL, *cursor = NULL, *filters = NULL;
	unsigned long long lines = 100;
	bool follow = false;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "n:ftp:s:", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			if (parse_uint(&lines, optarg, 1, 10000) < 0)
				return cmdline_usage_error(argv[0], "-n is 1 to "
				    "10000 lines");
			break;
		case 'f':
		case 't':
			follow = true;
			break;
		case 'p':
			proc = optarg;
			break;
		case 's':
			if (strcmp(optarg, "router") && strcmp(optarg, "app"))
				return cmdline_usage_error(argv[0], "--source is "
				    "router (the proxy's lines) or app (the app's "
				    "own)");
			source = optarg;
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if ((rc = client_nargs(argc, argv, 1, "APP")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (proc && (proc[0] == '\0' || strlen(proc) > 40 ||
	    strspn(proc, "abcdefghijklmnopqrstuvwxyz0123456789_-.") !=
	    strlen(proc)))
		return cmdline_usage_error(argv[0], "--process is a type (web) or "
		    "a process (web.1)");
	if (!client_open(&c, argv[0]))
		return 1;
	eproc = proc ? apiclient_escape(proc) : NULL;
	/* source is one of two words: nothing in it needs escaping */
	filters = xasprintf("%s%s%s%s", eproc ? "&process=" : "",
	    eproc ? eproc : "", source ? "&source=" : "", source ? source : "");
	rc = 1;
	if (!client_call(&ans, c, argv[0], "GET", NULL,
	    "/v1/apps/%s/logs?lines=%d%r", argv[optind], (int)lines, filters))
		goto done;
	logs_print(ans);
	if (follow) {
		struct sigaction sa = { .sa_handler = logs_on_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		apiclient_set_cancel(c, &logs_stop);
	}
	while (follow && !logs_stop) {
		char *path;
		int r;

		cursor = apiclient_escape(client_str(ans, "cursor"));
		json_decref(ans);
		ans = NULL;
		/* the app name was checked: nothing in it needs escaping */
		path = xasprintf("/v1/apps/%s/logs?cursor=%s&wait=%d%s",
		    argv[optind], cursor, ROLLOUT_POLL_SECS, filters);
		r = apiclient_call(&ans, c, "GET", path, NULL);
		free(path);
		free(cursor);
		cursor = NULL;
		if (r < 0) {
			if (logs_stop)
				break;
			cmdline_fail(argv[0]);
			goto done;
		}
		logs_print(ans);
	}
	rc = 0;
done:
	free(cursor);
	free(eproc);
	free(filters);
	json_decref(ans);
	apiclient_free(c);
	return rc;
}
