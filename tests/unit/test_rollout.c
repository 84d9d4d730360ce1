/*
 * Unit tests for the pieces of the rollout layer that stand alone: UTF-8
 * cleaning of program output, cursor reads of log rings (what `logs -f`
 * through the controller rests on), and the store reads behind the
 * rollout and one-off endpoints.  The daemon itself is driven end to end
 * by tests/integration/t070x.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/runner.h"
#include "slipway/store.h"
#include "slipway/utf8.h"

/* ---- utf8 ---- */

TEST(rollout__utf8_sanitize)
{
	char ok[] = "plain, caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80";
	char bad[] = "a\x80" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\xf4\x90\x80"
	    "\x80" "f\xff";
	char cut[] = "x\xe2\x82";
	char nul[] = { 'a', '\0', 'b' };

	EXPECT_INT(0, utf8_sanitize(ok, strlen(ok)));
	EXPECT_TRUE(utf8_is_valid(ok, strlen(ok)));
	EXPECT_TRUE(!utf8_is_valid(bad, strlen(bad)));
	/* each byte of a bad sequence becomes '?' */
	EXPECT_TRUE(utf8_sanitize(bad, strlen(bad)) > 0);
	EXPECT_STR("a?b?c??d???e????f?", bad);
	EXPECT_INT(2, utf8_sanitize(cut, strlen(cut)));
	EXPECT_STR("x??", cut);
	EXPECT_INT(1, utf8_sanitize(nul, 3));
	EXPECT_TRUE(memcmp(nul, "a?b", 3) == 0);
}

/* ---- log rings read by cursor ---- */

static int
collect(const char *line, size_t len, void *ctx)
{
	struct buf *b = ctx;

	buf_put(b, line, len);
	buf_putc(b, '\n');
	return 0;
}

static void
put(const char *dir, const char *app, const char *src, const char *text,
    uint64_t max)
{
	size_t n;
	char *line = runner_log_format(&n, src, text, strlen(text));

	if (logring_append(dir, app, line, n, max) < 0)
		harness_fail(__FILE__, __LINE__, "append: %s", err_last());
	free(line);
}

/* The texts of the lines in b (after "TS SOURCE: "), one per line. */
static char *
texts(struct buf *b)
{
	struct buf o;

	buf_init(&o, 0);
	for (char *p = b->ptr; p && *p;) {
		char *nl = strchr(p, '\n'), *t = strstr(p, ": ");
		if (t && (!nl || t < nl))
			buf_put(&o, t + 2, (size_t)((nl ? nl : p + strlen(p)) -
			    (t + 2)));
		buf_putc(&o, '|');
		p = nl ? nl + 1 : p + strlen(p);
	}
	return buf_detach(&o, NULL);
}

TEST(rollout__logs_since_tail_then_follow)
{
	struct logring_cursor cur = { 0, 0, 0 };
	struct logring_query q = { .app = "shop", .lines = 2 };
	struct buf b;
	bool gap = true;
	char *t;

	buf_init(&b, 0);
	/* nothing yet: no lines, a cursor that reads from the start */
	EXPECT_OK(logring_since(&cur, &gap, "logs", &q, true, collect, &b));
	EXPECT_INT(0, b.len);
	EXPECT_INT(0, cur.ino);
	put("logs", "shop", "web.1", "one", 0);
	put("logs", "shop", "worker.1", "two", 0);
	EXPECT_OK(logring_since(&cur, &gap, "logs", &q, false, collect,
	    &b));
	EXPECT_STR("one|two|", (t = texts(&b)));
	free(t);
	EXPECT_TRUE(!gap && cur.ino != 0);
	put("logs", "shop", "web.1", "three", 0);
	put("logs", "shop", "slipway[web.2]", "four", 0);
	buf_reset(&b);
	/* the tail: last two */
	EXPECT_OK(logring_since(&cur, NULL, "logs", &q, true, collect,
	    &b));
	EXPECT_STR("three|four|", (t = texts(&b)));
	free(t);
	/* then only what is new, filtered */
	put("logs", "shop", "worker.1", "five", 0);
	put("logs", "shop", "web.3", "six", 0);
	buf_reset(&b);
	q.process = "web";
	q.lines = 100;
	EXPECT_OK(logring_since(&cur, NULL, "logs", &q, false, collect,
	    &b));
	EXPECT_STR("six|", (t = texts(&b)));
	free(t);
	buf_reset(&b);
	EXPECT_OK(logring_since(&cur, NULL, "logs", &q, false, collect,
	    &b));
	EXPECT_INT(0, b.len);
	/* at most q->lines per call; the rest comes next time */
	q.process = NULL;
	for (int i = 0; i < 5; i++)
		put("logs", "shop", "web.1", "burst", 0);
	q.lines = 3;
	EXPECT_OK(logring_since(&cur, NULL, "logs", &q, false, collect,
	    &b));
	EXPECT_STR("burst|burst|burst|", (t = texts(&b)));
	free(t);
	buf_reset(&b);
	EXPECT_OK(logring_since(&cur, NULL, "logs", &q, false, collect,
	    &b));
	EXPECT_STR("burst|burst|", (t = texts(&b)));
	free(t);
	q.app = "../etc";
	EXPECT_INT(ERR_INVALID, logring_since(&cur, NULL, "logs", &q,
	    false, collect, &b));
	buf_free(&b);
}

TEST(rollout__logs_since_across_rotations)
{
	struct logring_cursor cur = { 0, 0, 0 };
	struct logring_query q = { .app = "rot", .lines = 1000 };
	struct buf b;
	bool gap = false;
	char *t;

	buf_init(&b, 0);
	/* about 50 bytes a line: the ring turns over past 200 bytes */
	put("logs", "rot", "web.1", "a1", 200);
	EXPECT_OK(logring_since(&cur, &gap, "logs", &q, true, collect,
	    &b));
	buf_reset(&b);
	put("logs", "rot", "web.1", "a2", 200);
	put("logs", "rot", "web.1", "a3", 200);
	put("logs", "rot", "web.1", "a4", 200);     /* rotates here */
	put("logs", "rot", "web.1", "b1", 200);
	EXPECT_OK(logring_since(&cur, &gap, "logs", &q, false, collect,
	    &b));
	EXPECT_STR("a2|a3|a4|b1|", (t = texts(&b)));
	free(t);
	EXPECT_TRUE(!gap);
	/* two rotations while away: what was in between is lost, and said */
	for (int i = 0; i < 10; i++)
		put("logs", "rot", "web.1", "c", 200);
	put("logs", "rot", "web.1", "last", 200);
	buf_reset(&b);
	EXPECT_OK(logring_since(&cur, &gap, "logs", &q, false, collect,
	    &b));
	EXPECT_TRUE(gap);
	EXPECT_TRUE(strstr(b.ptr, "web.1: last\n") != NULL);
	buf_free(&b);
}

/* ---- store reads ---- */

static json_t *
J(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	if (j == NULL)
		harness_fail(__FILE__, __LINE__, "bad JSON in test: %s", text);
	return j;
}

static int64_t
deploy(struct store *s, const char *app)
{
	json_t *b, *u, *out;
	int64_t v;

	if (store_build_create(&b, s, app, "abc1234", "tester") < 0)
		harness_fail(__FILE__, __LINE__, "build: %s", err_last());
	u = J("{\"status\":\"succeeded\",\"image\":\"127.0.0.1:5000/shop:v1\","
	    "\"digest\":\"sha256:0000000000000000000000000000000000000000000"
	    "000000000000000000007\",\"process_types\":{\"web\":\"./web\"}}");
	if (store_build_update(&out, s, app, json_integer_value(
	    json_object_get(b, "number")), u, "tester") < 0)
		harness_fail(__FILE__, __LINE__, "update: %s", err_last());
	v = json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version"));
	json_decref(out);
	json_decref(u);
	json_decref(b);
	return v;
}

TEST(rollout__store_view_and_run_target)
{
	struct store *s = NULL;
	const char *groups[] = { "default" };
	char key[STORE_TOKEN_LEN];
	struct store_actor r1;
	time_t now = time(NULL);
	json_t *j, *slot, *q;
	bool in;

	EXPECT_OK(store_open(&s, "slipway.db"));
	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_app_create(s, "shop", "alice", groups, 1));
	EXPECT_OK(store_group_create(s, "production"));
	EXPECT_OK(store_app_in_group(&in, s, "shop", "default"));
	EXPECT_TRUE(in);
	EXPECT_OK(store_app_in_group(&in, s, "shop", "production"));
	EXPECT_TRUE(!in);
	EXPECT_OK(store_app_in_group(&in, s, "nope", "default"));
	EXPECT_TRUE(!in);

	/* no release: nothing to run a one-off of */
	EXPECT_INT(ERR_CONFLICT, store_run_target(&j, s, "shop", now - 30));
	EXPECT_ERR_HAS("no release yet");
	EXPECT_INT(ERR_NOTFOUND, store_rollout_view(&j, s, "nope", now - 30));
	EXPECT_INT(1, deploy(s, "shop"));
	/* a release, no runner */
	EXPECT_INT(ERR_CONFLICT, store_run_target(&j, s, "shop", now - 30));
	EXPECT_ERR_HAS("no live runner");
	EXPECT_OK(store_schedule_refresh(NULL, s, now - 30));
	EXPECT_OK(store_rollout_view(&j, s, "shop", now - 30));
	EXPECT_INT(1, json_integer_value(json_object_get(j, "release")));
	slot = json_array_get(json_object_get(j, "slots"), 0);
	EXPECT_STR("web", json_string_value(json_object_get(slot, "type")));
	EXPECT_TRUE(json_is_null(json_object_get(slot, "runner")));
	json_decref(j);

	EXPECT_OK(store_runner_create(key, &j, s, "r1", "default"));
	json_decref(j);
	EXPECT_OK(store_auth(&r1, s, key));
	EXPECT_OK(store_runner_heartbeat(s, r1.runner_id, now));
	EXPECT_OK(store_schedule_refresh(NULL, s, now - 30));
	EXPECT_OK(store_run_target(&j, s, "shop", now - 30));
	EXPECT_STR("r1", json_string_value(json_object_get(json_object_get(j,
	    "runner"), "name")));
	EXPECT_STR("./web", json_string_value(json_object_get(json_object_get(
	    json_object_get(j, "release"), "process_types"), "web")));
	json_decref(j);

	/* the runner's report of the app rides along with its slots */
	q = J("{\"apps\":{\"shop\":{\"release\":1,\"state\":\"failed\","
	    "\"reason\":\"web.1 never became healthy\"},\"other\":{}}}");
	EXPECT_OK(store_runner_report(s, r1.runner_id, q, now));
	json_decref(q);
	EXPECT_OK(store_rollout_view(&j, s, "shop", now - 30));
	slot = json_array_get(json_object_get(j, "slots"), 0);
	EXPECT_STR("r1", json_string_value(json_object_get(slot, "runner")));
	EXPECT_TRUE(json_is_true(json_object_get(slot, "live")));
	EXPECT_STR("failed", json_string_value(json_object_get(json_object_get(
	    slot, "report"), "state")));
	json_decref(j);
	/* a silent runner is not live */
	EXPECT_OK(store_runner_heartbeat(s, r1.runner_id, now - 100));
	EXPECT_OK(store_rollout_view(&j, s, "shop", now - 30));
	slot = json_array_get(json_object_get(j, "slots"), 0);
	EXPECT_TRUE(json_is_false(json_object_get(slot, "live")));
	json_decref(j);
	store_close(s);
}
