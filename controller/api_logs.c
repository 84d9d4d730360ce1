/*
 * App logs through the controller.  Runners ship the lines of their app
 * log rings in batches (POST /v1/runner/logs); the controller appends
 * them, as they came, to its own capped ring per app,
 * $SLIPWAY_HOME/logs/controller/apps/<app>.log (rotated to .log.1 past
 * CTL_LOG_MAX, the format and code of runner/logs.c).  Clients read the
 * last lines, then follow with a cursor (GET .../logs?cursor=C&wait=S,
 * long-polled), so `logs -f` survives a dropped connection and needs no
 * streaming response.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/logring.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/utf8.h"

#define CTL_LOG_MAX (8ULL << 20)        /* per app before rotation */
#define LOG_BATCH_MAX 5000              /* lines in one POST */
#define LOG_LINE_MAX (16u << 10)
#define LOG_ANSWER_LINES 5000           /* lines in one follow answer */
#define LOG_APPS_MAX 64                 /* distinct apps in one POST */

static char *
logs_dir(struct ctl *ctl)
{
	return xasprintf("%s/logs/controller/apps", ctl->home);
}

/* May this runner write app's log?  Asked once per app per batch. */
struct logs_seen {
	char app[STORE_NAME_MAX + 1];
	bool ok;
};

void
ctl_runner_logs(struct ctl_call *c)
{
	struct logs_seen seen[LOG_APPS_MAX];
	json_t *lines, *x;
	char *dir = NULL;
	char cur[STORE_NAME_MAX + 1] = "";
	size_t nseen = 0, accepted = 0, refused = 0, i;
	struct buf text;
	int rc = 0;

	if (!ctl_need_runner(c) || !ctl_need_body(c))
		return;
	lines = json_object_get(c->body, "lines");
	if (!json_is_array(lines) || json_array_size(lines) > LOG_BATCH_MAX) {
		ctl_error(c, 422, "invalid", "'lines' is a list of at most %d "
		    "{\"app\", \"line\"}", LOG_BATCH_MAX);
		return;
	}
	dir = logs_dir(c->ctl);
	buf_init(&text, 0);
	json_array_foreach(lines, i, x) {
		const char *app = json_string_value(json_object_get(x, "app"));
		json_t *lv = json_object_get(x, "line");
		const struct logs_seen *sv = NULL;
		size_t n, start;

		if (app == NULL || !json_is_string(lv) ||
		    !name_app_is_valid(app) ||
		    json_string_length(lv) > LOG_LINE_MAX) {
			refused++;
			continue;
		}
		for (size_t k = 0; k < nseen && !sv; k++)
			if (strcmp(seen[k].app, app) == 0)
				sv = &seen[k];
		if (sv == NULL) {
			bool ok = false;
			if (nseen == LOG_APPS_MAX) {
				refused++;
				continue;
			}
			if ((rc = store_app_in_group(&ok, c->st, app,
			    c->actor.group)) < 0)
				goto done;
			snprintf(seen[nseen].app, sizeof(seen[nseen].app), "%s",
			    app);
			seen[nseen].ok = ok;
			sv = &seen[nseen++];
		}
		/* a runner writes only the logs of its group's apps */
		if (!sv->ok) {
			refused++;
			continue;
		}
		if (strcmp(cur, app) != 0) {
			if (text.len && (rc = logring_append(dir, cur,
			    text.ptr, text.len, CTL_LOG_MAX)) < 0)
				goto done;
			buf_reset(&text);
			snprintf(cur, sizeof(cur), "%s", app);
		}
		/* One line of log is one line of text: control bytes (and
		 * "\u0000") are shown as '?'. */
		start = text.len;
		n = json_string_length(lv);
		buf_put(&text, json_string_value(lv), n);
		for (size_t k = start; k < text.len; k++) {
			unsigned char ch = (unsigned char)text.ptr[k];
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				text.ptr[k] = '?';
		}
		buf_putc(&text, '\n');
		accepted++;
	}
	if (text.len)
		rc = logring_append(dir, cur, text.ptr, text.len,
		    CTL_LOG_MAX);
done:
	buf_free(&text);
	free(dir);
	if (rc < 0) {
		ctl_fail(c, rc);
		return;
	}
	if (accepted)
		ctl_live_notify();
	ctl_reply(c, 200, json_pack("{sIsI}", "accepted", (json_int_t)accepted,
	    "refused", (json_int_t)refused));
}

static int
logs_collect(const char *line, size_t len, void *ctx)
{
	char *copy = xstrndup(line, len);

	utf8_sanitize(copy, len);
	json_array_append_new(ctx, json_stringn(copy, len));
	free(copy);
	return 0;
}

/* "INODE-BIRTH-OFFSET", as answered. */
static bool
logs_cursor_parse(struct logring_cursor *out, const char *s)
{
	unsigned long long ino, gen, off;
	int used = 0;

	if (strlen(s) > 62 || strspn(s, "0123456789-") != strlen(s) ||
	    sscanf(s, "%llu-%llu-%llu%n", &ino, &gen, &off, &used) != 3 ||
	    (size_t)used != strlen(s))
		return false;
	out->ino = ino;
	out->gen = gen;
	out->off = off;
	return true;
}

void
ctl_logs_get(struct ctl_call *c)
{
	const char *n = httpd_req_query(c->req, "lines");
	const char *proc = httpd_req_query(c->req, "process");
	const char *cs = httpd_req_query(c->req, "cursor");
	const char *src = httpd_req_query(c->req, "source");
	struct logring_query q = { .app = c->seg[1], .process = proc };
	struct logring_cursor cur = { 0, 0, 0 };
	json_t *lines = json_array();
	char *dir = NULL, cbuf[72];
	double deadline;
	bool gap = false, any_gap = false;
	long wait;
	int rc;

	if (!ctl_app_read(c, c->seg[1]) || !ctl_wait_param(c, &wait))
		goto out;
	q.lines = 100;
	if (n) {
		unsigned long long v;
		if (parse_uint(&v, n, 1, 10000) < 0) {
			ctl_error(c, 422, "invalid", "lines is 1 to 10000");
			goto out;
		}
		q.lines = (size_t)v;
	}
	if (proc && (proc[0] == '\0' || strlen(proc) > 40 ||
	    strspn(proc, "abcdefghijklmnopqrstuvwxyz0123456789_-.") !=
	    strlen(proc))) {
		ctl_error(c, 422, "invalid", "process is a type (web) or a "
		    "process (web.1)");
		goto out;
	}
	if (src && strcmp(src, "router") == 0) {
		q.source = LOGRING_SOURCE_ROUTER;
	} else if (src && strcmp(src, "app") == 0) {
		q.source = LOGRING_SOURCE_APP;
	} else if (src) {
		ctl_error(c, 422, "invalid", "source is router (the proxy's "
		    "lines) or app (the app's own)");
		goto out;
	}
	if (cs && !logs_cursor_parse(&cur, cs)) {
		ctl_error(c, 422, "invalid", "cursor is what the last answer "
		    "gave");
		goto out;
	}
	if (cs)
		q.lines = LOG_ANSWER_LINES;
	dir = logs_dir(c->ctl);
	deadline = clock_mono() + (double)wait;
	for (;;) {
		uint64_t gen = ctl_live_gen();

		if ((rc = logring_since(&cur, &gap, dir, &q, cs == NULL,
		    logs_collect, lines)) < 0) {
			ctl_fail(c, rc);
			goto out;
		}
		any_gap = any_gap || gap;
		if (cs == NULL || json_array_size(lines) > 0 ||
		    !ctl_live_wait(c->ctl, gen, deadline))
			break;
	}
	snprintf(cbuf, sizeof(cbuf), "%" PRIu64 "-%" PRIu64 "-%" PRIu64,
	    cur.ino, cur.gen, cur.off);
	ctl_reply(c, 200, json_pack("{sOsssb}", "lines", lines, "cursor", cbuf,
	    "gap", any_gap));
out:
	json_decref(lines);
	free(dir);
}
