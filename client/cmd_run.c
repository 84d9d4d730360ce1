/*
 * `slipway run APP -- COMMAND`: a one-off container of the current
 * release (controller/api_runs.c keeps it), its output followed by offset
 * until it ends; with --detach (or as run:detached, Heroku's and Dokku's
 * name) only started, its output read later with run:output.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/rollout.h"

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

/* Print one-off id's output from the start until it ends (or timeout
 * seconds pass); the exit status to give: the command's, or 1. */
static int
run_follow(struct apiclient *c, const char *name, const char *app,
    const char *id, unsigned timeout)
{
	unsigned long long offset = 0;
	const char *state = "pending";
	json_t *ans = NULL;
	double end = clock_mono() + (timeout ? timeout : 3600);
	int rc = 1, code;

	for (;;) {
		char path[256];
		const char *outp;
		json_t *o;

		snprintf(path, sizeof(path), "/v1/apps/%s/runs/%s?offset=%llu"
		    "&wait=%d", app, id, offset, ROLLOUT_POLL_SECS);
		json_decref(ans);
		ans = NULL;
		if (apiclient_call(&ans, c, "GET", path, NULL) < 0) {
			cmdline_fail(name);
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
			    "%us; the one-off %s goes on\n", name,
			    timeout ? timeout : 3600, id);
			goto done;
		}
	}
	if (strcmp(state, "failed") == 0) {
		fprintf(stderr, "slipway %s: the one-off failed: %s\n",
		    name, client_str(ans, "error"));
		goto done;
	}
	code = (int)json_integer_value(json_object_get(ans, "exit_code"));
	fprintf(stderr, "Exited with status %d\n", code);
	rc = code < 0 ? 1 : code > 255 ? 255 : code;
done:
	json_decref(ans);
	return rc;
}

int
client_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "detach", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = NULL, *r = NULL;
	unsigned timeout = 0;
	bool detach = strcmp(argv[0], "run:detached") == 0;
	const char *app, *id;
	struct buf cmd;
	int ch, rc, first;

	buf_init(&cmd, 8192);
	/* "+": options end at APP, so the command keeps its own */
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (ch == 'd') {
			detach = true;
			continue;
		}
		if (ch != 't') {
			rc = cmdline_usage_error(argv[0], "unknown option");
			goto done;
		}
		if ((rc = client_parse_timeout(&timeout, argv[0], optarg)))
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
	    " (runner %s, run.%s)%s\n", cmd.ptr, app, json_integer_value(
	    json_object_get(r, "release")), client_str(r, "runner"),
	    client_str(r, "index"), detach ? ", detached" : "");
	if (detach) {
		/* the id alone on stdout, for $(slipway run --detach ...) */
		printf("%s\n", id);
		fprintf(stderr, "Its output: slipway run:output %s %s (kept for "
		    "10 minutes after it ends)\n", app, id);
		rc = 0;
		goto done;
	}
	rc = run_follow(c, argv[0], app, id, timeout);
done:
	buf_free(&cmd);
	json_decref(body);
	json_decref(r);
	apiclient_free(c);
	return rc;
}

int
client_cmd_run_output(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	unsigned timeout = 0;
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 't')
			return cmdline_usage_error(argv[0], "unknown option");
		if ((rc = client_parse_timeout(&timeout, argv[0], optarg)))
			return rc;
	}
	if ((rc = client_nargs(argc, argv, 2, "APP and ID")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (strlen(argv[optind + 1]) != 32 || strspn(argv[optind + 1],
	    "0123456789abcdef") != 32)
		return cmdline_usage_error(argv[0], "'%.64s' is not a one-off's "
		    "id (32 hex, as run --detach printed)", argv[optind + 1]);
	if (!client_open(&c, argv[0]))
		return 1;
	rc = run_follow(c, argv[0], argv[optind], argv[optind + 1], timeout);
	apiclient_free(c);
	return rc;
}
