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

static int
parse_timeout(unsigned *out, const char *name, const char *s)
{
	unsigned long long v;

	if (parse_uint(&v, s, 1, 86400) < 0)
		return cmdline_usage_error(name, "--timeout is 1 to 86400 seconds");
	*out = (unsigned)v;
	return 0;
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
		else if (ch != 't' || (rc = parse_timeout(&timeout, argv[0],
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
		} else if ((rc = parse_timeout(&timeout, argv[0], optarg))) {
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

/* ---- run ------------------------------------------------------------- */

/* One word as sh reads it back: as it is when plain, else single-quoted. */
static void
shell_quote(struct buf *b, const char *w)
{
	if (w[0] && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
	    "UVWXYZ0123456789-_./=:,+@%") == strlen(w)) {
		buf_puts(b, w);
		return;
	}
	buf_putc(b, '\'');
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, *p);
	}
	buf_putc(b, '\'');
}

int
client_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = NULL, *r = NULL, *ans = NULL;
	unsigned timeout = 0;
	unsigned long long offset = 0;
	const char *app, *id, *state = "pending";
	struct buf cmd;
	double end;
	int ch, rc, first;

	buf_init(&cmd, 8192);
	/* "+": options end at APP, so the command keeps its own */
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch != 't') {
			rc = cmdline_usage_error(argv[0], "unknown option");
			goto done;
		}
		if ((rc = parse_timeout(&timeout, argv[0], optarg)))
			goto done;
	}
	if (argc - optind < 2) {
		rc = cmdline_usage_error(argv[0], "give APP -- COMMAND");
		goto done;
	}
	app = argv[optind];
	if ((rc = client_check_app(argv[0], app)))
		goto done;
	first = optind + 1;
	if (strcmp(argv[first], "--") == 0)
		first++;
	if (first >= argc) {
		rc = cmdline_usage_error(argv[0], "give the COMMAND after --");
		goto done;
	}
	/* One word is a shell command line (as Heroku's run); several are
	 * a command and its arguments, quoted so sh sees them as given. */
	if (first == argc - 1) {
		buf_puts(&cmd, argv[first]);
	} else {
		for (int i = first; i < argc; i++) {
			if (i > first)
				buf_putc(&cmd, ' ');
			shell_quote(&cmd, argv[i]);
		}
	}
	if (cmd.len == 0 || cmd.len >= 8192) {
		rc = cmdline_usage_error(argv[0], "the command is empty or over "
		    "8 KiB");
		goto done;
	}
	body = json_pack("{ss}", "command", cmd.ptr);
	rc = 1;
	if (!client_open(&c, argv[0]) ||
	    !client_call(&r, c, argv[0], "POST", body, "/v1/apps/%s/runs", app))
		goto done;
	id = json_string_value(json_object_get(r, "id"));
	fprintf(stderr, "Running '%s' on %s v%" JSON_INTEGER_FORMAT
	    " (runner %s, run.%s)\n", cmd.ptr, app, json_integer_value(
	    json_object_get(r, "release")), client_str(r, "runner"),
	    client_str(r, "index"));
	end = clock_mono() + (timeout ? timeout : 3600);
	for (;;) {
		char path[256];
		const char *outp;
		json_t *o;

		snprintf(path, sizeof(path), "/v1/apps/%s/runs/%s?offset=%llu"
		    "&wait=%d", app, id, offset, ROLLOUT_POLL_SECS);
		json_decref(ans);
		ans = NULL;
		if (apiclient_call(&ans, c, "GET", path, NULL) < 0) {
			cmdline_fail(argv[0]);
			goto done;
		}
		o = json_object_get(ans, "output");
		outp = json_string_value(o);
		if (json_integer_value(json_object_get(ans, "skipped")) > 0)
			fprintf(stderr, "(%" JSON_INTEGER_FORMAT " bytes of "
			    "output were dropped)\n", json_integer_value(
			    json_object_get(ans, "skipped")));
		if (outp && json_string_length(o) > 0) {
			fwrite(outp, 1, json_string_length(o), stdout);
			fflush(stdout);
		}
		offset = (unsigned long long)json_integer_value(
		    json_object_get(ans, "offset"));
		state = json_string_value(json_object_get(ans, "state"));
		if (state && (strcmp(state, "exited") == 0 ||
		    strcmp(state, "failed") == 0) &&
		    json_string_length(o) == 0)
			break;
		if (clock_mono() >= end) {
			fprintf(stderr, "slipway %s: gave up waiting after "
			    "%us; the one-off %s goes on\n", argv[0],
			    timeout ? timeout : 3600, id);
			goto done;
		}
	}
	if (strcmp(state, "failed") == 0) {
		fprintf(stderr, "slipway %s: the one-off failed: %s\n",
		    argv[0], client_str(ans, "error"));
		goto done;
	}
	ch = (int)json_integer_value(json_object_get(ans, "exit_code"));
	fprintf(stderr, "Exited with status %d\n", ch);
	rc = ch < 0 ? 1 : ch > 255 ? 255 : ch;
done:
	buf_free(&cmd);
	json_decref(body);
	json_decref(r);
	json_decref(ans);
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
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *ans = NULL;
	const char *proc = NULL;
	char *eproc = NULL, *cursor = NULL;
	unsigned long long lines = 100;
	bool follow = false;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "n:ftp:", opts, NULL)) != -1) {
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
	rc = 1;
	if (!client_call(&ans, c, argv[0], "GET", NULL,
	    "/v1/apps/%s/logs?lines=%d%r%r", argv[optind], (int)lines,
	    eproc ? "&process=" : "", eproc ? eproc : ""))
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
		path = xasprintf("/v1/apps/%s/logs?cursor=%s&wait=%d%s%s",
		    argv[optind], cursor, ROLLOUT_POLL_SECS, eproc ? "&process=" : "",
		    eproc ? eproc : "");
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
	json_decref(ans);
	apiclient_free(c);
	return rc;
}
