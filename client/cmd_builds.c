/*
 * `slipway builds APP`, the builds with, for a failed one, why it failed.
 *
 * Following a build's log from the CLI: `slipway builds:create` (which asks
 * the controller to run the build and then follows it, for CI) and
 * `slipway builds:log APP N [-f]`.  The log comes from
 * GET /v1/apps/APP/builds/N/log in pieces (offset, long-poll with wait);
 * the exit status says how the build ended.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/parse.h"

#define FOLLOW_WAIT 20
#define WHY_MAX 100             /* of a failed build's reason, in a table */

/* "failed: WHY" for a failed build with a reason: its first line, cut to
 * WHY_MAX, escaped (a build's error may carry what a buildpack said). */
static void
cmd_builds_status(json_t *b)
{
	const char *why = json_string_value(json_object_get(b, "error"));
	char esc[4 * WHY_MAX + 1];
	size_t n;

	if (why == NULL || why[0] == '\0' || strcmp(client_str(b, "status"),
	    "failed") != 0)
		return;
	n = strcspn(why, "\n");
	log_escape(esc, sizeof(esc), why, n > WHY_MAX ? WHY_MAX : n);
	json_object_set_new(b, "status", json_sprintf("failed: %s%s", esc,
	    n > WHY_MAX ? "..." : ""));
}

static void
cmd_print_builds(json_t *list, char **args)
{
	static const struct client_column cols[] = {
		{ "BUILD", "number" }, { "REV", "rev" }, { "STATUS", "status" },
		{ "BY", "created_by" }, { "WHEN", "created_at" },
	};
	size_t i;
	json_t *b;

	(void)args;
	json_array_foreach(list, i, b)
		cmd_builds_status(b);
	client_print_columns(list, cols, 5);
}

int
client_cmd_builds(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s/builds", .nargs = 1, .what = "APP",
		.print = cmd_print_builds,
	};

	return client_show(argc, argv, &v);
}

int
client_build_follow(struct apiclient *c, const char *name, const char *app,
    long long number, bool follow)
{
	char num[32], off[32];
	long long offset = 0;
	json_t *r = NULL;
	int rc = 1;

	snprintf(num, sizeof(num), "%lld", number);
	for (;;) {
		const char *text, *status;

		json_decref(r);
		r = NULL;
		snprintf(off, sizeof(off), "%lld", offset);
		if (!client_call(&r, c, name, "GET", NULL, "/v1/apps/%s/builds/%r/"
		    "log?offset=%r&wait=%d", app, num, off,
		    follow ? FOLLOW_WAIT : 0))
			goto done;
		text = json_string_value(json_object_get(r, "text"));
		if (text && text[0]) {
			fputs(text, stdout);
			fflush(stdout);
		}
		offset = json_integer_value(json_object_get(r, "offset"));
		status = json_string_value(json_object_get(r, "status"));
		if (json_is_true(json_object_get(r, "done"))) {
			rc = status && strcmp(status, "succeeded") == 0 ? 0 : 1;
			if (rc)
				fprintf(stderr, "slipway %s: build %s of %s %s\n",
				    name, num, app, status ? status : "ended");
			goto done;
		}
		/* Without -f, what there is now is all. */
		if (!follow && (text == NULL || text[0] == '\0')) {
			rc = 0;
			goto done;
		}
	}
done:
	json_decref(r);
	return rc;
}

int
client_cmd_builds_log(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	bool follow = false;
	unsigned long long n;
	int o, rc;

	while ((o = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (o != 'f')
			return cmdline_usage_error(argv[0], "unknown option");
		follow = true;
	}
	if ((rc = client_nargs(argc, argv, 2, "APP and BUILD")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (parse_uint(&n, argv[optind + 1], 1, INT64_MAX) < 0)
		return cmdline_usage_error(argv[0], "BUILD is a build number");
	if (!client_open(&c, argv[0]))
		return 1;
	rc = client_build_follow(c, argv[0], argv[optind], n, follow);
	apiclient_free(c);
	return rc;
}
