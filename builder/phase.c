/*
 * The release phase as the pusher sees it: while a release waits for its
 * phase, the rollout answer names the one-off that runs it
 * (controller/release_phase.c); its output is followed here, line by
 * line, as the build's own lines (so a push shows them as `remote:`),
 * until it ends.  Whether the release then goes on or fails is the
 * rollout's answer, not this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/err.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/rollout.h"

#define PHASE_LINE_MAX 4096
#define PHASE_FOLLOW_MAX (60 * 60)      /* s: then the rollout decides */

/* Say each whole line of b, keeping the rest (or cutting it when long). */
static void
phase_lines(struct builder_out *bo, struct buf *b, bool flush)
{
	size_t at = 0;

	for (;;) {
		char *nl = b->ptr ? memchr(b->ptr + at, '\n', b->len - at) :
		    NULL;
		size_t n = nl ? (size_t)(nl - (b->ptr + at)) : b->len - at;
		if (nl == NULL && !flush && n < PHASE_LINE_MAX)
			break;
		if (nl == NULL && n == 0)
			break;
		{
			char *line = xstrndup(b->ptr + at, n);
			builder_line(bo, line);
			free(line);
		}
		at += n + (nl ? 1 : 0);
	}
	if (at)
		buf_consume(b, at);
}

void
builder_phase_follow(struct builder_out *bo, struct apiclient *api,
    const char *app, const char *run)
{
	unsigned long long offset = 0;
	double end = clock_mono() + PHASE_FOLLOW_MAX;
	char *eapp = apiclient_escape(app), *erun = apiclient_escape(run);
	json_t *ans = NULL;
	struct buf b;

	buf_init(&b, 0);
	builder_say(bo, "Running the release phase (one-off %.12s)", run);
	while (clock_mono() < end) {
		char path[512];
		const char *state;
		json_t *o;

		snprintf(path, sizeof(path), "/v1/apps/%s/runs/%s?offset=%llu"
		    "&wait=%d", eapp, erun, offset, ROLLOUT_POLL_SECS);
		json_decref(ans);
		ans = NULL;
		if (apiclient_call(&ans, api, "GET", path, NULL) < 0) {
			builder_warn(bo, "cannot follow the release phase: %s",
			    err_last());
			break;
		}
		o = json_object_get(ans, "output");
		if (json_string_length(o) > 0) {
			buf_put(&b, json_string_value(o),
			    json_string_length(o));
			phase_lines(bo, &b, false);
		}
		offset = (unsigned long long)json_integer_value(
		    json_object_get(ans, "offset"));
		state = json_string_value(json_object_get(ans, "state"));
		if (state && (strcmp(state, "exited") == 0 ||
		    strcmp(state, "failed") == 0) && json_string_length(o) == 0) {
			phase_lines(bo, &b, true);
			if (strcmp(state, "exited") == 0)
				builder_say(bo, "Release phase exited with status "
				    "%" JSON_INTEGER_FORMAT, json_integer_value(
				    json_object_get(ans, "exit_code")));
			break;
		}
	}
	json_decref(ans);
	buf_free(&b);
	free(eapp);
	free(erun);
}
