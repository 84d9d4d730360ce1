/* Unit tests for the controller's pure parts (release rules, scheduler)
 * and its home bootstrap. */
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/controller.h"
#include "slipway/store.h"

/* ---- release rules ---- */

static json_t *
J(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	if (j == NULL)
		harness_fail(__FILE__, __LINE__, "bad JSON in test: %s", text);
	return j;
}

static void
expect_summary(const char *want, const char *before, const char *changes)
{
	json_t *b = J(before), *c = J(changes);
	char *got = store_release_summary_config(b, c);

	if (strcmp(want, got) != 0)
		harness_fail(__FILE__, __LINE__, "summary: expected \"%s\", "
		    "got \"%s\"", want, got);
	free(got);
	json_decref(b);
	json_decref(c);
}

TEST(controller__config_apply_sets_and_unsets)
{
	json_t *values = J("{\"FOO\":\"1\",\"BAR\":\"2\"}");
	json_t *changes = J("{\"FOO\":\"9\",\"BAR\":null,\"NEW_1\":\"x\"}");
	json_t *out = NULL;
	bool changed = false;

	EXPECT_OK(store_release_config_apply(&out, &changed, values, changes));
	EXPECT_TRUE(changed);
	EXPECT_STR("9", json_string_value(json_object_get(out, "FOO")));
	EXPECT_TRUE(json_object_get(out, "BAR") == NULL);
	EXPECT_STR("x", json_string_value(json_object_get(out, "NEW_1")));
	/* the input is not touched */
	EXPECT_STR("1", json_string_value(json_object_get(values, "FOO")));
	json_decref(out);
	json_decref(changes);
	json_decref(values);
}

TEST(controller__config_apply_unchanged)
{
	json_t *values = J("{\"FOO\":\"1\"}");
	json_t *changes = J("{\"FOO\":\"1\",\"GONE\":null}");
	json_t *out = NULL;
	bool changed = true;

	EXPECT_OK(store_release_config_apply(&out, &changed, values, changes));
	EXPECT_TRUE(!changed);
	EXPECT_TRUE(json_equal(out, values));
	json_decref(out);
	json_decref(changes);
	json_decref(values);
}

TEST(controller__config_apply_refuses_bad_keys_and_values)
{
	static const char *const bad[] = {
		"{\"1FOO\":\"x\"}", "{\"FOO-BAR\":\"x\"}", "{\"\":\"x\"}",
		"{\"FOO BAR\":\"x\"}", "{\"FOO=\":\"x\"}", "{\"F\\u00e9\":\"x\"}",
		"{\"FOO\":1}", "{\"FOO\":true}", "{\"FOO\":[\"x\"]}",
		"{\"FOO\":\"a\\u0000b\"}", "[\"FOO\"]", "\"FOO=1\"",
	};
	json_t *values = J("{}");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *c = J(bad[i]), *out = NULL;
		bool changed;
		int rc = store_release_config_apply(&out, &changed, values, c);

		if (rc != ERR_INVALID)
			harness_fail(__FILE__, __LINE__, "%s: expected "
			    "ERR_INVALID, got %d", bad[i], rc);
		EXPECT_TRUE(out == NULL);
		json_decref(c);
	}
	json_decref(values);
}

TEST(controller__config_apply_caps)
{
	json_t *values = json_object(), *c = json_object(), *out = NULL;
	char *big = xmalloc(STORE_ENV_VALUE_MAX + 2);
	bool changed;

	memset(big, 'x', STORE_ENV_VALUE_MAX + 1);
	big[STORE_ENV_VALUE_MAX + 1] = '\0';
	json_object_set_new(c, "BIG", json_string(big));
	EXPECT_INT(ERR_TOOBIG,
	    store_release_config_apply(&out, &changed, values, c));
	json_object_clear(c);
	for (int i = 0; i <= STORE_ENV_MAX; i++) {
		char k[32];
		snprintf(k, sizeof(k), "K%d", i);
		json_object_set_new(c, k, json_string("v"));
	}
	EXPECT_INT(ERR_TOOBIG,
	    store_release_config_apply(&out, &changed, values, c));
	EXPECT_TRUE(out == NULL);
	free(big);
	json_decref(c);
	json_decref(values);
}

TEST(controller__summaries)
{
	char *s;

	expect_summary("set FOO, BAR", "{}", "{\"FOO\":\"1\",\"BAR\":\"2\"}");
	expect_summary("unset FOO", "{\"FOO\":\"1\"}", "{\"FOO\":null}");
	expect_summary("set A; unset B", "{\"B\":\"1\"}",
	    "{\"B\":null,\"A\":\"1\"}");
	/* keys whose value does not change are not named */
	expect_summary("set BAR", "{\"FOO\":\"1\"}",
	    "{\"FOO\":\"1\",\"BAR\":\"2\",\"GONE\":null}");
	s = store_release_summary_deploy(
	    "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c");
	EXPECT_STR("deploy 3f2a9c1", s);
	free(s);
	s = store_release_summary_deploy("main");
	EXPECT_STR("deploy main", s);
	free(s);
	s = store_release_summary_rollback(4);
	EXPECT_STR("rollback to v4", s);
	free(s);
}

TEST(controller__summary_is_capped)
{
	json_t *c = json_object(), *b = json_object();
	char *s;

	for (int i = 0; i < 100; i++) {
		char k[32];
		snprintf(k, sizeof(k), "SOME_LONG_KEY_%d", i);
		json_object_set_new(c, k, json_string("v"));
	}
	s = store_release_summary_config(b, c);
	EXPECT_TRUE(strlen(s) <= STORE_RELEASE_SUMMARY_MAX);
	EXPECT_TRUE(strncmp(s, "set SOME_LONG_KEY_0, ", 21) == 0);
	EXPECT_TRUE(strstr(s, " more)") != NULL);
	free(s);
	json_decref(c);
	json_decref(b);
}

TEST(controller__rollback_target)
{
	int64_t to = 0;

	EXPECT_OK(store_release_rollback_target(&to, 5, 0));
	EXPECT_INT(4, to);
	EXPECT_OK(store_release_rollback_target(&to, 5, 2));
	EXPECT_INT(2, to);
	EXPECT_INT(ERR_INVALID, store_release_rollback_target(&to, 5, 5));
	EXPECT_ERR_HAS("current release");
	EXPECT_INT(ERR_NOTFOUND, store_release_rollback_target(&to, 5, 6));
	EXPECT_INT(ERR_INVALID, store_release_rollback_target(&to, 1, 0));
	EXPECT_ERR_HAS("first release");
	EXPECT_INT(ERR_INVALID, store_release_rollback_target(&to, 0, 0));
	EXPECT_INT(ERR_INVALID, store_release_rollback_target(&to, 5, -1));
}

TEST(controller__version_parse)
{
	static const char *const bad[] = { "", "v", "v0", "0", "-1", "v-1",
	    "4x", "v 4", "vv4", "99999999999999999999", "04" };
	int64_t v = 0;

	EXPECT_OK(name_release_parse(&v, "v12"));
	EXPECT_INT(12, v);
	EXPECT_OK(name_release_parse(&v, "7"));
	EXPECT_INT(7, v);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (name_release_parse(&v, bad[i]) != ERR_INVALID)
			harness_fail(__FILE__, __LINE__, "'%s' parsed", bad[i]);
}

/* ---- scheduler ---- */

static const char *const G_DEFAULT[] = { "default" };
static const char *const G_PROD[] = { "production" };
static const char *const G_BOTH[] = { "default", "production" };

static size_t
count_on(const struct store_sched_slot *s, size_t n, const char *runner,
    const char *app)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i].runner && !strcmp(s[i].runner, runner) &&
		    (app == NULL || !strcmp(s[i].app, app)))
			c++;
	return c;
}

TEST(controller__sched_spreads_across_runners)
{
	struct store_sched_proc procs[] = { { "web", 4 }, { "worker", 2 } };
	struct store_sched_app apps[] = { { "shop", G_DEFAULT, 1, procs, 2 } };
	struct store_sched_runner runners[] = { { "r2", "default", true },
	    { "r1", "default", true } };
	struct store_sched_slot *plan;
	size_t n;

	store_sched_plan(&plan, &n, apps, 1, runners, 2, NULL, 0);
	EXPECT_INT(6, n);
	EXPECT_INT(3, count_on(plan, n, "r1", NULL));
	EXPECT_INT(3, count_on(plan, n, "r2", NULL));
	/* sorted by group, app, type, index */
	EXPECT_STR("web", plan[0].type);
	EXPECT_INT(1, plan[0].index);
	EXPECT_STR("worker", plan[5].type);
	EXPECT_INT(2, plan[5].index);
	/* web 1..4 alternate, so each runner has two web */
	size_t web_r1 = 0;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(plan[i].type, "web") && !strcmp(plan[i].runner, "r1"))
			web_r1++;
	EXPECT_INT(2, web_r1);
	store_sched_slots_free(plan, n);
}

TEST(controller__sched_spreads_apps_before_load)
{
	struct store_sched_proc one[] = { { "web", 1 } };
	struct store_sched_app apps[] = { { "a", G_DEFAULT, 1, one, 1 },
	    { "b", G_DEFAULT, 1, one, 1 }, { "c", G_DEFAULT, 1, one, 1 } };
	struct store_sched_runner runners[] = { { "r1", "default", true },
	    { "r2", "default", true }, { "r3", "default", true } };
	struct store_sched_slot *plan;
	size_t n;

	store_sched_plan(&plan, &n, apps, 3, runners, 3, NULL, 0);
	EXPECT_INT(3, n);
	EXPECT_INT(1, count_on(plan, n, "r1", NULL));
	EXPECT_INT(1, count_on(plan, n, "r2", NULL));
	EXPECT_INT(1, count_on(plan, n, "r3", NULL));
	store_sched_slots_free(plan, n);
}

TEST(controller__sched_keeps_to_groups)
{
	struct store_sched_proc procs[] = { { "web", 2 } };
	struct store_sched_app apps[] = { { "prod-app", G_PROD, 1, procs, 1 },
	    { "both", G_BOTH, 2, procs, 1 } };
	struct store_sched_runner runners[] = { { "d1", "default", true },
	    { "p1", "production", true }, { "s1", "staging", true } };
	struct store_sched_slot *plan;
	size_t n;

	store_sched_plan(&plan, &n, apps, 2, runners, 3, NULL, 0);
	/* both: 2 in default + 2 in production; prod-app: 2 in production */
	EXPECT_INT(6, n);
	for (size_t i = 0; i < n; i++) {
		EXPECT_TRUE(plan[i].runner != NULL);
		if (!strcmp(plan[i].group, "default"))
			EXPECT_STR("d1", plan[i].runner);
		else
			EXPECT_STR("p1", plan[i].runner);
	}
	EXPECT_INT(0, count_on(plan, n, "s1", NULL));
	EXPECT_INT(0, count_on(plan, n, "d1", "prod-app"));
	store_sched_slots_free(plan, n);
}

TEST(controller__sched_group_without_live_runner_leaves_slots_unplaced)
{
	struct store_sched_proc procs[] = { { "web", 2 } };
	struct store_sched_app apps[] = { { "shop", G_PROD, 1, procs, 1 } };
	struct store_sched_runner runners[] = { { "d1", "default", true },
	    { "p1", "production", false } };
	struct store_sched_slot *plan;
	size_t n;

	store_sched_plan(&plan, &n, apps, 1, runners, 2, NULL, 0);
	EXPECT_INT(2, n);
	EXPECT_TRUE(plan[0].runner == NULL && plan[1].runner == NULL);
	store_sched_slots_free(plan, n);
}

TEST(controller__sched_dead_runner_loses_slots_to_its_group)
{
	struct store_sched_proc procs[] = { { "web", 3 } };
	struct store_sched_app apps[] = { { "shop", G_DEFAULT, 1, procs, 1 } };
	struct store_sched_runner runners[] = { { "r1", "default", true },
	    { "r2", "default", true }, { "r3", "default", true },
	    { "x1", "production", true } };
	struct store_sched_slot *plan, *next;
	size_t n, m;
	char *had_r1 = NULL;

	store_sched_plan(&plan, &n, apps, 1, runners, 4, NULL, 0);
	EXPECT_INT(3, n);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(plan[i].runner, "r2"))
			had_r1 = plan[i].type;  /* any slot r2 has */
	EXPECT_TRUE(had_r1 != NULL);
	runners[1].live = false;        /* r2 stops heartbeating */
	store_sched_plan(&next, &m, apps, 1, runners, 4, plan, n);
	EXPECT_INT(3, m);
	EXPECT_INT(0, count_on(next, m, "r2", NULL));
	EXPECT_INT(0, count_on(next, m, "x1", NULL));
	EXPECT_INT(3, count_on(next, m, "r1", NULL) +
	    count_on(next, m, "r3", NULL));
	/* the slots r1 and r3 had stay where they were */
	for (size_t i = 0; i < n; i++)
		if (strcmp(plan[i].runner, "r2") != 0)
			EXPECT_STR(plan[i].runner, next[i].runner);
	store_sched_slots_free(next, m);
	store_sched_slots_free(plan, n);
}

TEST(controller__sched_is_stable_and_rebalances_a_new_runner)
{
	struct store_sched_proc procs[] = { { "web", 4 } };
	struct store_sched_app apps[] = { { "shop", G_DEFAULT, 1, procs, 1 } };
	struct store_sched_runner runners[] = { { "r1", "default", true },
	    { "r2", "default", true } };
	struct store_sched_slot *plan, *again, *grown;
	size_t n, m, k, moved = 0;

	store_sched_plan(&plan, &n, apps, 1, runners, 1, NULL, 0);
	EXPECT_INT(4, count_on(plan, n, "r1", NULL));
	store_sched_plan(&again, &m, apps, 1, runners, 1, plan, n);
	for (size_t i = 0; i < n; i++)
		EXPECT_STR(plan[i].runner, again[i].runner);
	/* r2 arrives: half move to it, the rest stay on r1 */
	store_sched_plan(&grown, &k, apps, 1, runners, 2, plan, n);
	EXPECT_INT(2, count_on(grown, k, "r1", NULL));
	EXPECT_INT(2, count_on(grown, k, "r2", NULL));
	for (size_t i = 0; i < k; i++)
		moved += strcmp(grown[i].runner, "r1") != 0;
	EXPECT_INT(2, moved);
	store_sched_slots_free(grown, k);
	store_sched_slots_free(again, m);
	store_sched_slots_free(plan, n);
}

TEST(controller__sched_scale_down_drops_high_indexes)
{
	struct store_sched_proc procs[] = { { "web", 3 } };
	struct store_sched_app apps[] = { { "shop", G_DEFAULT, 1, procs, 1 } };
	struct store_sched_runner runners[] = { { "r1", "default", true } };
	struct store_sched_slot *plan, *next;
	size_t n, m;

	store_sched_plan(&plan, &n, apps, 1, runners, 1, NULL, 0);
	procs[0].quantity = 1;
	store_sched_plan(&next, &m, apps, 1, runners, 1, plan, n);
	EXPECT_INT(1, m);
	EXPECT_INT(1, next[0].index);
	procs[0].quantity = 0;
	store_sched_slots_free(next, m);
	store_sched_plan(&next, &m, apps, 1, runners, 1, plan, n);
	EXPECT_INT(0, m);
	store_sched_slots_free(next, m);
	store_sched_slots_free(plan, n);
}

/* ---- the home bootstrap ---- */

TEST(controller__home_init_makes_admin_once)
{
	struct controller_home h, again;
	struct store_actor a;
	struct store *s = NULL;
	struct stat st;
	json_t *tokens = NULL;

	EXPECT_OK(controller_home_init(&h, "home", "first start"));
	EXPECT_TRUE(h.admin_token != NULL && h.key != NULL && h.keylen > 0);
	EXPECT_INT(0, stat("home", &st));
	EXPECT_INT(0700, st.st_mode & 0777);
	EXPECT_INT(0, stat("home/secret", &st));
	EXPECT_INT(0600, st.st_mode & 0777);
	EXPECT_OK(store_open(&s, "home/slipway.db"));
	EXPECT_OK(store_auth(&a, s, h.admin_token));
	EXPECT_STR("admin", a.name);
	EXPECT_TRUE(a.admin);
	EXPECT_OK(store_token_list(&tokens, s, "admin"));
	EXPECT_INT(1, json_array_size(tokens));
	EXPECT_STR("first start", json_string_value(json_object_get(
	    json_array_get(tokens, 0), "label")));
	json_decref(tokens);
	store_close(s);

	/* the next start finds it all: no second token, the same key */
	EXPECT_OK(controller_home_init(&again, "home", "first start"));
	EXPECT_TRUE(again.admin_token == NULL);
	EXPECT_INT(h.keylen, again.keylen);
	EXPECT_TRUE(memcmp(h.key, again.key, h.keylen) == 0);
	controller_home_free(&again);
	controller_home_free(&h);
	controller_home_free(NULL);
}

TEST(controller__home_init_on_a_file_fails_and_makes_nothing)
{
	struct controller_home h = { 0 };

	harness_write("home", "x", 1, 0644);
	EXPECT_INT(ERR_EXISTS, controller_home_init(&h, "home", "x"));
	EXPECT_ERR_HAS("not a directory");
	EXPECT_TRUE(h.admin_token == NULL && h.key == NULL);
}
