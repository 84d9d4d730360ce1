/*
 * Unit tests for the controller's store: schema and upgrade, users and
 * tokens, SSH keys, apps and access, releases, concurrent writers, the
 * stored schedule.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/proc.h"
#include "slipway/store.h"

static struct store *
open_store(void)
{
	struct store *s = NULL;

	if (store_open(&s, "slipway.db") < 0)
		harness_fail(__FILE__, __LINE__, "store_open: %s", err_last());
	return s;
}

static struct store_actor
user_actor(struct store *s, const char *name)
{
	char token[STORE_TOKEN_LEN];
	struct store_actor a;

	if (store_token_create(token, NULL, s, name, "test") < 0 ||
	    store_auth(&a, s, token) < 0)
		harness_fail(__FILE__, __LINE__, "token for %s: %s", name,
		    err_last());
	return a;
}

static json_t *
J(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	if (j == NULL)
		harness_fail(__FILE__, __LINE__, "bad JSON in test: %s", text);
	return j;
}

/* Apply a config change given as JSON text; *summary and version of the
 * release made (0 when none). */
static int64_t
config_change(struct store *s, const char *app, const char *changes,
    char *summary, size_t n)
{
	json_t *c = J(changes), *rel = NULL;
	int64_t v = 0;

	if (store_config_change(&rel, s, app, c, "tester") < 0)
		harness_fail(__FILE__, __LINE__, "config change %s: %s",
		    changes, err_last());
	if (rel) {
		v = json_integer_value(json_object_get(rel, "version"));
		if (summary)
			snprintf(summary, n, "%s", json_string_value(
			    json_object_get(rel, "summary")));
	}
	json_decref(rel);
	json_decref(c);
	return v;
}

static const char *
config_value(struct store *s, const char *app, const char *key)
{
	static char val[256];
	json_t *cfg;
	const char *v;

	if (store_config_get(&cfg, s, app) < 0)
		harness_fail(__FILE__, __LINE__, "config: %s", err_last());
	v = json_string_value(json_object_get(json_object_get(cfg, "values"),
	    key));
	snprintf(val, sizeof(val), "%s", v ? v : "(unset)");
	json_decref(cfg);
	return val;
}

static void
make_app(struct store *s, const char *name, const char *owner)
{
	const char *groups[] = { "default" };

	if (store_app_create(s, name, owner, groups, 1) < 0)
		harness_fail(__FILE__, __LINE__, "app %s: %s", name,
		    err_last());
}

/* ---- schema ---- */

TEST(store__open_sets_wal_and_schema)
{
	struct store *s = open_store();
	json_t *groups;
	struct buf out;

	EXPECT_INT(STORE_SCHEMA_VERSION, store_schema_version(s));
	EXPECT_OK(store_group_list(&groups, s));
	EXPECT_INT(1, json_array_size(groups));
	EXPECT_STR("default", json_string_value(json_object_get(
	    json_array_get(groups, 0), "name")));
	json_decref(groups);
	store_close(s);
	buf_init(&out, 0);
	char *argv[] = { "sqlite3", "slipway.db", "PRAGMA journal_mode", NULL };
	EXPECT_INT(0, proc_run(&out, argv, 0, 4096));
	EXPECT_STR("wal\n", out.ptr);
	buf_free(&out);
	/* opening again migrates nothing and keeps the group */
	s = open_store();
	EXPECT_INT(STORE_SCHEMA_VERSION, store_schema_version(s));
	store_close(s);
}

static const char *
fixture(const char *rel)
{
	static char path[PATH_MAX + 64];
	const char *top = getenv("SLIPWAY_TOP");
	char exe[PATH_MAX];
	ssize_t n;

	if (top) {
		snprintf(path, sizeof(path), "%s/tests/fixtures/%s", top, rel);
		return path;
	}
	/* build/san/unit -> the top of the tree */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		harness_fail(__FILE__, __LINE__, "set SLIPWAY_TOP");
	exe[n] = '\0';
	for (int i = 0; i < 3; i++)
		*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof(path), "%s/tests/fixtures/%s", exe, rel);
	return path;
}

TEST(store__upgrades_a_version_1_file)
{
	struct buf sql;
	struct store *s;
	struct store_actor admin, runner;
	sqlite3 *db;
	json_t *app, *key, *runners, *rel;
	char summary[128];
	char *msg = NULL;

	buf_init(&sql, 0);
	EXPECT_OK(fs_read_file(&sql, fixture("store/store-v1.sql"),
	    1 << 20));
	EXPECT_INT(SQLITE_OK, sqlite3_open("slipway.db", &db));
	if (sqlite3_exec(db, sql.ptr, NULL, NULL, &msg) != SQLITE_OK)
		harness_fail(__FILE__, __LINE__, "fixture: %s", msg);
	sqlite3_close(db);
	buf_free(&sql);

	s = open_store();
	EXPECT_INT(STORE_SCHEMA_VERSION, store_schema_version(s));
	/* every v1 row is still there and means the same */
	EXPECT_OK(store_auth(&admin, s, "slw_"
	    "0000000000000000000000000000000000000000000000000000000000000000"));
	EXPECT_STR("admin", admin.name);
	EXPECT_TRUE(admin.admin);
	EXPECT_OK(store_auth(&runner, s, "slr_"
	    "1111111111111111111111111111111111111111111111111111111111111111"));
	EXPECT_STR("node-1", runner.name);
	EXPECT_STR("default", runner.group);
	EXPECT_OK(store_app_get(&app, s, "shop"));
	EXPECT_STR("alice", json_string_value(json_object_get(app, "owner")));
	EXPECT_INT(3, json_integer_value(json_object_get(app, "release")));
	EXPECT_INT(2, json_integer_value(json_object_get(json_object_get(app,
	    "formation"), "web")));
	/* version 3 gave the old app an incarnation */
	EXPECT_INT(32, strlen(json_string_value(json_object_get(app, "uid"))));
	json_decref(app);
	EXPECT_OK(store_key_get(&key, s,
	    "SHA256:RKPDllhvyq/2FPg6eZWXi1iloJDj8bRQHXyjIJ4gYzc"));
	EXPECT_STR("alice", json_string_value(json_object_get(key, "user")));
	json_decref(key);
	EXPECT_STR("1", config_value(s, "shop", "FOO"));
	EXPECT_STR("2", config_value(s, "shop", "BAR"));
	/* numbering carries on from v3 */
	EXPECT_INT(4, config_change(s, "shop", "{\"BAZ\":\"3\"}", summary,
	    sizeof(summary)));
	EXPECT_OK(store_release_get(&rel, s, "shop", 2));
	EXPECT_STR("deploy 3f2a9c1", json_string_value(json_object_get(rel,
	    "summary")));
	json_decref(rel);
	/* what version 2 added works on the upgraded file */
	EXPECT_OK(store_runner_heartbeat(s, runner.runner_id, time(NULL)));
	EXPECT_OK(store_schedule_refresh(NULL, s, time(NULL) - 30));
	EXPECT_OK(store_runner_list(&runners, s, time(NULL) - 30));
	EXPECT_INT(2, json_integer_value(json_object_get(json_array_get(
	    runners, 0), "assigned")));
	json_decref(runners);
	store_close(s);
}

TEST(store__refuses_a_newer_file)
{
	struct store *s = NULL;
	sqlite3 *db;

	EXPECT_INT(SQLITE_OK, sqlite3_open("slipway.db", &db));
	EXPECT_INT(SQLITE_OK, sqlite3_exec(db, "PRAGMA user_version = 99",
	    NULL, NULL, NULL));
	sqlite3_close(db);
	EXPECT_INT(ERR_UNSUPPORTED, store_open(&s, "slipway.db"));
	EXPECT_ERR_HAS("newer");
	EXPECT_TRUE(s == NULL);
}

/* ---- users and tokens ---- */

TEST(store__tokens_are_hashed_and_revocable)
{
	struct store *s = open_store();
	char token[STORE_TOKEN_LEN];
	struct store_actor a;
	json_t *tj = NULL, *list;
	int64_t id;
	struct buf out;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_token_create(token, &tj, s, "alice", "laptop"));
	EXPECT_INT(68, strlen(token));
	EXPECT_TRUE(strncmp(token, "slw_", 4) == 0);
	id = json_integer_value(json_object_get(tj, "id"));
	json_decref(tj);
	EXPECT_OK(store_auth(&a, s, token));
	EXPECT_STR("alice", a.name);
	EXPECT_TRUE(!a.admin);
	/* the file holds the hash, never the token */
	store_close(s);
	buf_init(&out, 0);
	char *argv[] = { "sqlite3", "slipway.db", ".dump", NULL };
	EXPECT_INT(0, proc_run(&out, argv, 0, 1 << 20));
	EXPECT_TRUE(strstr(out.ptr, token + 4) == NULL);
	buf_free(&out);
	s = open_store();
	/* a near miss is not a token */
	token[10] = token[10] == 'a' ? 'b' : 'a';
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, token));
	token[10] = token[10] == 'a' ? 'b' : 'a';
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, "slw_short"));
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, ""));
	/* only alice may revoke it as alice */
	EXPECT_OK(store_user_create(s, "bob", false));
	EXPECT_INT(ERR_NOTFOUND, store_token_revoke(s, id, "bob"));
	EXPECT_OK(store_token_revoke(s, id, "alice"));
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, token));
	EXPECT_INT(ERR_NOTFOUND, store_token_revoke(s, id, NULL));
	EXPECT_OK(store_token_list(&list, s, "alice"));
	EXPECT_INT(0, json_array_size(list));
	json_decref(list);
	store_close(s);
}

TEST(store__users)
{
	struct store *s = open_store();
	json_t *u;

	EXPECT_OK(store_user_create(s, "admin", true));
	EXPECT_INT(ERR_EXISTS, store_user_create(s, "admin", false));
	EXPECT_INT(ERR_INVALID, store_user_create(s, "Admin", false));
	EXPECT_INT(ERR_INVALID, store_user_create(s, "", false));
	EXPECT_INT(ERR_INVALID, store_user_create(s, "a b", false));
	EXPECT_INT(ERR_INVALID, store_user_create(s, "../x", false));
	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_user_get(&u, s, "alice"));
	EXPECT_STR("member", json_string_value(json_object_get(u, "role")));
	EXPECT_STR("default", json_string_value(json_array_get(
	    json_object_get(u, "groups"), 0)));
	json_decref(u);
	make_app(s, "shop", "alice");
	EXPECT_INT(ERR_CONFLICT, store_user_delete(s, "alice"));
	EXPECT_INT(ERR_CONFLICT, store_user_delete(s, "admin"));
	EXPECT_ERR_HAS("last admin");
	EXPECT_OK(store_app_destroy(s, "shop"));
	EXPECT_OK(store_user_delete(s, "alice"));
	EXPECT_INT(ERR_NOTFOUND, store_user_get(&u, s, "alice"));
	store_close(s);
}

/* ---- SSH keys ---- */

static char *
keygen(const char *type, const char *bits, const char *name)
{
	struct buf b;
	char *line;

	SH("ssh-keygen -q -t %s %s%s -N '' -C %s@test -f %s", type,
	    bits ? "-b " : "", bits ? bits : "", name, name);
	buf_init(&b, 0);
	{
		char *p = xasprintf("%s.pub", name);
		if (fs_read_file(&b, p, 65536) < 0)
			harness_fail(__FILE__, __LINE__, "%s", err_last());
		free(p);
	}
	line = buf_detach(&b, NULL);
	return line;
}

static char *
keygen_fingerprint(const char *name)
{
	struct buf b;
	char *pub = xasprintf("%s.pub", name);
	char *argv[] = { "ssh-keygen", "-lf", pub, NULL };
	char *sp, *fp;

	buf_init(&b, 0);
	EXPECT_INT(0, proc_run(&b, argv, 0, 4096));
	/* "256 SHA256:... comment (ED25519)" */
	sp = strchr(b.ptr, ' ');
	fp = xstrndup(sp + 1, strcspn(sp + 1, " "));
	buf_free(&b);
	free(pub);
	return fp;
}

TEST(store__keys_parse_like_ssh_keygen)
{
	static const char *const types[][2] = { { "ed25519", NULL },
	    { "rsa", "3072" }, { "ecdsa", "256" }, { "ecdsa", "521" } };
	struct store *s = open_store();
	json_t *k, *list;

	EXPECT_OK(store_user_create(s, "alice", false));
	for (size_t i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "key%zu", i);
		char *line = keygen(types[i][0], types[i][1], name);
		char *fp = keygen_fingerprint(name);

		EXPECT_OK(store_key_add(&k, s, "alice", line));
		EXPECT_STR(fp, json_string_value(json_object_get(k,
		    "fingerprint")));
		EXPECT_TRUE(strncmp(json_string_value(json_object_get(k,
		    "comment")), name, strlen(name)) == 0);
		json_decref(k);
		free(fp);
		free(line);
	}
	EXPECT_OK(store_key_list(&list, s, "alice"));
	EXPECT_INT(4, json_array_size(list));
	json_decref(list);
	store_close(s);
}

TEST(store__keys_refuse_bad_input_with_reasons)
{
	struct store *s = open_store();
	char *line = keygen("ed25519", NULL, "k");
	char *small = keygen("rsa", "1024", "small");
	char *rsa = keygen("rsa", "2048", "r");
	char *fp = keygen_fingerprint("k");
	char bad[4096], *b64, *sp;
	json_t *k;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_user_create(s, "bob", false));
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", ""));
	EXPECT_ERR_HAS("empty");
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", "garbage"));
	EXPECT_ERR_HAS("unknown key type");
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice",
	    "ssh-ed25519 !!!notbase64!!!"));
	EXPECT_ERR_HAS("does not decode");
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", "ssh-ed25519"));
	EXPECT_ERR_HAS("no key data");
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice",
	    "-----BEGIN OPENSSH PRIVATE KEY-----"));
	/* truncated: cut the base64 short */
	snprintf(bad, sizeof(bad), "%.40s", line);
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", bad));
	EXPECT_ERR_HAS("malformed");
	/* trailing bytes in the blob */
	b64 = strchr(line, ' ') + 1;
	sp = strchr(b64, ' ');
	snprintf(bad, sizeof(bad), "ssh-ed25519 %.*sAAAA", (int)(sp - b64 - 0),
	    b64);
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", bad));
	/* an ed25519 blob labelled as rsa */
	snprintf(bad, sizeof(bad), "ssh-rsa %.*s", (int)(sp - b64), b64);
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", bad));
	/* two keys in one line */
	snprintf(bad, sizeof(bad), "%s\n%s", line, rsa);
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", bad));
	EXPECT_ERR_HAS("one line");
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice", small));
	EXPECT_ERR_HAS("1024 bits");
	EXPECT_INT(ERR_INVALID, store_key_add(&k, s, "alice",
	    "ssh-dss AAAAB3NzaC1kc3MAAACBAP"));
	EXPECT_ERR_HAS("DSA");
	/* good, then a duplicate for the same and for another user */
	EXPECT_OK(store_key_add(&k, s, "alice", line));
	json_decref(k);
	EXPECT_INT(ERR_EXISTS, store_key_add(&k, s, "alice", line));
	EXPECT_INT(ERR_EXISTS, store_key_add(&k, s, "bob", line));
	EXPECT_ERR_HAS("already registered");
	EXPECT_INT(ERR_NOTFOUND, store_key_remove(s, fp, "bob"));
	EXPECT_OK(store_key_remove(s, fp, "alice"));
	EXPECT_OK(store_key_add(&k, s, "bob", line));
	json_decref(k);
	free(fp);
	free(line);
	free(small);
	free(rsa);
	store_close(s);
}

/* ---- apps and access ---- */

TEST(store__app_names)
{
	static const char *const bad[] = { "", "A", "1app", "-app", "app_x",
	    "app.x", "app/x", "..", "app x", "abcdefghijklmnopqrstuvwxyz01234",
	    "app'", "app;rm" };
	struct store *s = open_store();
	const char *g[] = { "default" }, *nog[] = { "nope" };

	EXPECT_OK(store_user_create(s, "alice", false));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (store_app_create(s, bad[i], "alice", g, 1) != ERR_INVALID)
			harness_fail(__FILE__, __LINE__, "'%s' accepted",
			    bad[i]);
	EXPECT_OK(store_app_create(s, "abcdefghijklmnopqrstuvwxyz0123", "alice",
	    g, 1));
	EXPECT_OK(store_app_create(s, "a", "alice", g, 1));
	EXPECT_INT(ERR_EXISTS, store_app_create(s, "a", "alice", g, 1));
	/* made again under the same name, an app is another incarnation */
	{
		json_t *a1, *a2;
		EXPECT_OK(store_app_get(&a1, s, "a"));
		EXPECT_OK(store_app_destroy(s, "a"));
		EXPECT_OK(store_app_create(s, "a", "alice", g, 1));
		EXPECT_OK(store_app_get(&a2, s, "a"));
		EXPECT_TRUE(strcmp(json_string_value(json_object_get(a1, "uid")),
		    json_string_value(json_object_get(a2, "uid"))) != 0);
		json_decref(a1);
		json_decref(a2);
	}
	EXPECT_INT(ERR_NOTFOUND, store_app_create(s, "b", "alice", nog, 1));
	EXPECT_INT(ERR_NOTFOUND, store_app_create(s, "b", "nobody", g, 1));
	EXPECT_INT(ERR_INVALID, store_app_create(s, "b", "alice", g, 0));
	store_close(s);
}

TEST(store__access_follows_owner_collaborators_and_groups)
{
	struct store *s = open_store();
	struct store_actor alice, bob, root;
	struct store_access acc;
	const char *g[] = { "default", "production" };
	json_t *apps;

	EXPECT_OK(store_user_create(s, "root", true));
	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_user_create(s, "bob", false));
	EXPECT_OK(store_group_create(s, "production"));
	alice = user_actor(s, "alice");
	bob = user_actor(s, "bob");
	root = user_actor(s, "root");
	make_app(s, "shop", "alice");
	EXPECT_OK(store_app_create(s, "prod", "alice", g, 2));

	EXPECT_OK(store_app_access(&acc, s, &alice, "shop"));
	EXPECT_TRUE(acc.read && acc.deploy);
	EXPECT_OK(store_app_access(&acc, s, &bob, "shop"));
	EXPECT_TRUE(!acc.read && !acc.deploy);
	/* alice owns prod but may not deploy to production */
	EXPECT_OK(store_app_access(&acc, s, &alice, "prod"));
	EXPECT_TRUE(acc.read && !acc.deploy);
	EXPECT_STR("production", acc.denied_group);
	EXPECT_OK(store_group_add_user(s, "production", "alice"));
	EXPECT_OK(store_app_access(&acc, s, &alice, "prod"));
	EXPECT_TRUE(acc.deploy);
	/* a collaborator reads and deploys */
	EXPECT_OK(store_app_collaborator_add(s, "shop", "bob"));
	EXPECT_INT(ERR_EXISTS, store_app_collaborator_add(s, "shop", "bob"));
	EXPECT_OK(store_app_access(&acc, s, &bob, "shop"));
	EXPECT_TRUE(acc.read && acc.deploy);
	EXPECT_OK(store_app_list(&apps, s, &bob));
	EXPECT_INT(1, json_array_size(apps));
	json_decref(apps);
	EXPECT_OK(store_app_list(&apps, s, &root));
	EXPECT_INT(2, json_array_size(apps));
	json_decref(apps);
	EXPECT_OK(store_app_access(&acc, s, &root, "prod"));
	EXPECT_TRUE(acc.read && acc.deploy);
	EXPECT_INT(ERR_NOTFOUND, store_app_access(&acc, s, &root, "nope"));
	/* exact names: "sho" is not "shop" */
	EXPECT_INT(ERR_NOTFOUND, store_app_access(&acc, s, &alice, "sho"));
	store_close(s);
}

TEST(store__groups)
{
	struct store *s = open_store();
	const char *g[] = { "staging" };
	char key[STORE_TOKEN_LEN];
	json_t *r;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_INT(ERR_CONFLICT, store_group_delete(s, "default"));
	EXPECT_INT(ERR_INVALID, store_group_create(s, "Bad Group"));
	EXPECT_OK(store_group_create(s, "staging"));
	EXPECT_INT(ERR_EXISTS, store_group_create(s, "staging"));
	EXPECT_OK(store_app_create(s, "shop", "alice", g, 1));
	EXPECT_INT(ERR_CONFLICT, store_group_remove_app(s, "staging", "shop"));
	EXPECT_INT(ERR_CONFLICT, store_group_delete(s, "staging"));
	EXPECT_ERR_HAS("only group");
	EXPECT_OK(store_group_add_app(s, "default", "shop"));
	EXPECT_INT(ERR_EXISTS, store_group_add_app(s, "default", "shop"));
	EXPECT_OK(store_group_remove_app(s, "staging", "shop"));
	EXPECT_OK(store_runner_create(key, &r, s, "node-1", "staging"));
	json_decref(r);
	EXPECT_INT(ERR_CONFLICT, store_group_delete(s, "staging"));
	EXPECT_OK(store_runner_delete(s, "node-1"));
	EXPECT_OK(store_group_delete(s, "staging"));
	store_close(s);
}

/* ---- names reused after a delete: nothing of the old owner survives */

TEST(store__user_name_reuse_inherits_nothing)
{
	struct store *s = open_store();
	struct store_actor a;
	struct store_access acc;
	char token[STORE_TOKEN_LEN];
	char *pub = keygen("ed25519", NULL, "bobkey");
	char *fp = keygen_fingerprint("bobkey");
	json_t *j = NULL;

	EXPECT_OK(store_user_create(s, "alice", true));
	EXPECT_OK(store_user_create(s, "bob", false));
	EXPECT_OK(store_group_create(s, "production"));
	EXPECT_OK(store_group_add_user(s, "production", "bob"));
	make_app(s, "shop", "alice");
	EXPECT_OK(store_app_collaborator_add(s, "shop", "bob"));
	EXPECT_OK(store_key_add(&j, s, "bob", pub));
	json_decref(j);
	EXPECT_OK(store_token_create(token, NULL, s, "bob", "laptop"));
	EXPECT_OK(store_user_delete(s, "bob"));

	/* bob is made again: bob is the last user, so his row id too */
	EXPECT_OK(store_user_create(s, "bob", false));
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, token));
	EXPECT_INT(ERR_NOTFOUND, store_key_get(&j, s, fp));
	EXPECT_OK(store_key_list(&j, s, "bob"));
	EXPECT_INT(0, json_array_size(j));
	json_decref(j);
	EXPECT_OK(store_token_list(&j, s, "bob"));
	EXPECT_INT(0, json_array_size(j));
	json_decref(j);
	EXPECT_OK(store_user_get(&j, s, "bob"));
	EXPECT_INT(1, json_array_size(json_object_get(j, "groups")));
	EXPECT_STR("default", json_string_value(json_array_get(
	    json_object_get(j, "groups"), 0)));
	json_decref(j);
	a = user_actor(s, "bob");
	EXPECT_OK(store_app_access(&acc, s, &a, "shop"));
	EXPECT_TRUE(!acc.read && !acc.deploy);
	free(pub);
	free(fp);
	store_close(s);
}

TEST(store__group_name_reuse_inherits_nothing)
{
	struct store *s = open_store();
	const char *g[] = { "default", "staging" };
	char key[STORE_TOKEN_LEN];
	bool in = true;
	json_t *j = NULL, *r = NULL;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_group_create(s, "staging"));
	EXPECT_OK(store_group_add_user(s, "staging", "alice"));
	EXPECT_OK(store_app_create(s, "shop", "alice", g, 2));
	EXPECT_OK(store_runner_create(key, &r, s, "node-1", "staging"));
	json_decref(r);
	EXPECT_OK(store_runner_delete(s, "node-1"));
	/* shop is in default too: the group may go, and shop leaves it */
	EXPECT_OK(store_group_delete(s, "staging"));

	EXPECT_OK(store_group_create(s, "staging"));
	EXPECT_OK(store_group_list(&j, s));
	for (size_t i = 0; i < json_array_size(j); i++) {
		json_t *e = json_array_get(j, i);
		if (strcmp(json_string_value(json_object_get(e, "name")),
		    "staging") != 0)
			continue;
		EXPECT_INT(0, json_array_size(json_object_get(e, "apps")));
		EXPECT_INT(0, json_array_size(json_object_get(e, "users")));
		EXPECT_INT(0, json_array_size(json_object_get(e, "runners")));
	}
	json_decref(j);
	{
		struct store_actor a = user_actor(s, "alice");
		EXPECT_OK(store_group_has_user(&in, s, "staging", a.user_id));
		EXPECT_TRUE(!in);
	}
	store_close(s);
}

TEST(store__runner_name_reuse_inherits_nothing)
{
	struct store *s = open_store();
	char old_key[STORE_TOKEN_LEN], key[STORE_TOKEN_LEN];
	struct store_actor a;
	json_t *r = NULL, *rep = J("{\"containers\":[{\"app\":\"x\"}]}");

	EXPECT_OK(store_group_create(s, "staging"));
	EXPECT_OK(store_runner_create(old_key, &r, s, "node-1", "staging"));
	json_decref(r);
	EXPECT_OK(store_auth(&a, s, old_key));
	EXPECT_OK(store_runner_report(s, a.runner_id, rep, time(NULL)));
	EXPECT_OK(store_runner_delete(s, "node-1"));

	EXPECT_OK(store_runner_create(key, &r, s, "node-1", "default"));
	json_decref(r);
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, old_key));
	EXPECT_OK(store_runner_list(&r, s, 0));
	EXPECT_INT(1, json_array_size(r));
	EXPECT_STR("default", json_string_value(json_object_get(
	    json_array_get(r, 0), "group")));
	EXPECT_TRUE(json_object_get(json_array_get(r, 0), "report") == NULL ||
	    json_object_size(json_object_get(json_array_get(r, 0),
	    "report")) == 0);
	json_decref(r);
	json_decref(rep);
	store_close(s);
}

/* One runner key, one session: a second register is refused while the
 * first's lease is live, the holder takes its own back, another takes
 * the key once the lease lapsed; renewals need the current session. */
TEST(store__runner_sessions)
{
	struct store *s = open_store();
	char key[STORE_TOKEN_LEN], first[128];
	struct store_actor a;
	json_t *r = NULL, *sess = NULL;
	time_t now = time(NULL);
	bool live = false;
	int64_t epoch = 0;

	EXPECT_OK(store_runner_create(key, &r, s, "node-1", "default"));
	json_decref(r);
	EXPECT_OK(store_auth(&a, s, key));
	EXPECT_INT(ERR_CONFLICT, store_runner_renew(NULL, NULL, s, a.runner_id,
	    "rs1_x", now, now - 5));
	EXPECT_ERR_HAS("no session: register first");
	EXPECT_OK(store_runner_session_open(&sess, s, a.runner_id, NULL,
	    "10.0.0.1", now, now - 5));
	snprintf(first, sizeof(first), "%s", json_string_value(
	    json_object_get(sess, "session")));
	EXPECT_INT(1, json_integer_value(json_object_get(sess, "epoch")));
	json_decref(sess);
	/* a second host while the first is live */
	EXPECT_INT(ERR_CONFLICT, store_runner_session_open(&sess, s,
	    a.runner_id, NULL, "10.0.0.2", now + 1, now - 4));
	EXPECT_ERR_HAS("runner key already in use by a live runner at "
	    "10.0.0.1 since ");
	EXPECT_TRUE(sess == NULL);
	EXPECT_INT(ERR_CONFLICT, store_runner_session_open(&sess, s,
	    a.runner_id, "rs1_forged", "10.0.0.2", now + 1, now - 4));
	/* renewals: the session only */
	EXPECT_INT(ERR_CONFLICT, store_runner_renew(NULL, NULL, s, a.runner_id,
	    NULL, now + 1, now - 4));
	EXPECT_INT(ERR_CONFLICT, store_runner_renew(NULL, NULL, s, a.runner_id,
	    "rs1_forged", now + 1, now - 4));
	EXPECT_ERR_HAS("registered again, by the runner at 10.0.0.1");
	EXPECT_OK(store_runner_renew(&live, &epoch, s, a.runner_id, first,
	    now + 2, now - 3));
	EXPECT_TRUE(live);
	EXPECT_INT(1, epoch);
	/* the holder again (a restart): same session, next epoch */
	EXPECT_OK(store_runner_session_open(&sess, s, a.runner_id, first,
	    "10.0.0.1", now + 3, now - 2));
	EXPECT_STR(first, json_string_value(json_object_get(sess, "session")));
	EXPECT_INT(2, json_integer_value(json_object_get(sess, "epoch")));
	json_decref(sess);
	/* lapsed: renewing says it was not live; another host may take it */
	EXPECT_OK(store_runner_renew(&live, NULL, s, a.runner_id, first,
	    now + 20, now + 15));
	EXPECT_TRUE(!live);
	EXPECT_OK(store_runner_session_open(&sess, s, a.runner_id, NULL,
	    "10.0.0.2", now + 40, now + 35));
	EXPECT_TRUE(strcmp(first, json_string_value(json_object_get(sess,
	    "session"))) != 0);
	EXPECT_INT(3, json_integer_value(json_object_get(sess, "epoch")));
	json_decref(sess);
	EXPECT_INT(ERR_CONFLICT, store_runner_renew(NULL, NULL, s, a.runner_id,
	    first, now + 41, now + 36));
	EXPECT_OK(store_runner_list(&r, s, now + 36));
	EXPECT_STR("10.0.0.2", json_string_value(json_object_get(
	    json_array_get(r, 0), "address")));
	json_decref(r);
	/* a controller restart 100 s later: the lease shifts with it */
	EXPECT_OK(store_runner_lease_grace(s, now + 140));
	EXPECT_OK(store_runner_list(&r, s, now + 136));
	EXPECT_TRUE(json_is_true(json_object_get(json_array_get(r, 0),
	    "live")));
	EXPECT_STR("live", json_string_value(json_object_get(
	    json_array_get(r, 0), "state")));
	json_decref(r);
	store_close(s);
}

/* ---- releases ---- */

static void
deploy(struct store *s, const char *app, const char *rev, int64_t *version)
{
	json_t *b, *u, *out;
	char text[512];

	if (store_build_create(&b, s, app, rev, "tester") < 0)
		harness_fail(__FILE__, __LINE__, "build: %s", err_last());
	snprintf(text, sizeof(text), "{\"status\":\"succeeded\","
	    "\"image\":\"127.0.0.1:5000/%s:v1\",\"digest\":\"sha256:%064d\","
	    "\"process_types\":{\"web\":\"./web\",\"worker\":\"./work\"}}",
	    app, 7);
	u = J(text);
	if (store_build_update(&out, s, app, json_integer_value(
	    json_object_get(b, "number")), u, "tester") < 0)
		harness_fail(__FILE__, __LINE__, "build update: %s",
		    err_last());
	*version = json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version"));
	json_decref(out);
	json_decref(u);
	json_decref(b);
}

static int64_t
rollback(struct store *s, const char *app, int64_t to, char *summary,
    size_t n)
{
	json_t *rel;
	int64_t v;

	if (store_release_rollback(&rel, s, app, to, "tester") < 0)
		harness_fail(__FILE__, __LINE__, "rollback: %s", err_last());
	v = json_integer_value(json_object_get(rel, "version"));
	snprintf(summary, n, "%s", json_string_value(json_object_get(rel,
	    "summary")));
	json_decref(rel);
	return v;
}

/* The runners' verdict on app's pending target release (if any): what
 * the controller records when a rollout ends. */
static void
rollout_ends(struct store *s, const char *app, bool live, const char *why)
{
	json_t *pending, *x;
	bool changed;
	size_t i;

	if (store_release_pending(&pending, s) < 0)
		harness_fail(__FILE__, __LINE__, "pending: %s", err_last());
	json_array_foreach(pending, i, x)
		if (strcmp(json_string_value(json_object_get(x, "app")),
		    app) == 0 && store_release_settle(&changed, s, app,
		    json_integer_value(json_object_get(x, "release")), live ?
		    STORE_RELEASE_LIVE : STORE_RELEASE_FAILED, why) < 0)
			harness_fail(__FILE__, __LINE__, "settle: %s",
			    err_last());
	json_decref(pending);
}

TEST(store__release_arithmetic)
{
	struct store *s = open_store();
	char sum[128];
	int64_t v;
	json_t *rel, *list, *f;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	EXPECT_INT(ERR_INVALID, store_release_rollback(&rel, s, "shop", 0,
	    "x"));
	EXPECT_INT(1, config_change(s, "shop", "{\"FOO\":\"1\",\"BAR\":\"b\"}",
	    sum, sizeof(sum)));
	EXPECT_STR("set FOO, BAR", sum);
	deploy(s, "shop", "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	EXPECT_INT(2, v);
	rollout_ends(s, "shop", true, NULL);
	EXPECT_INT(3, config_change(s, "shop", "{\"FOO\":\"2\"}", sum,
	    sizeof(sum)));
	rollout_ends(s, "shop", true, NULL);
	/* unchanged: no release */
	EXPECT_INT(0, config_change(s, "shop", "{\"FOO\":\"2\"}", sum,
	    sizeof(sum)));
	EXPECT_INT(4, config_change(s, "shop", "{\"BAR\":null}", sum,
	    sizeof(sum)));
	EXPECT_STR("unset BAR", sum);
	rollout_ends(s, "shop", true, NULL);
	/* v5 = rollback to v2: FOO=1, BAR=b with v2's build */
	EXPECT_INT(5, rollback(s, "shop", 2, sum, sizeof(sum)));
	EXPECT_STR("rollback to v2", sum);
	rollout_ends(s, "shop", true, NULL);
	EXPECT_STR("1", config_value(s, "shop", "FOO"));
	EXPECT_STR("b", config_value(s, "shop", "BAR"));
	/* v6 = rollback with no target: to v4 (FOO=2, no BAR) */
	EXPECT_INT(6, rollback(s, "shop", 0, sum, sizeof(sum)));
	EXPECT_STR("rollback to v4", sum);
	rollout_ends(s, "shop", true, NULL);
	EXPECT_STR("2", config_value(s, "shop", "FOO"));
	EXPECT_STR("(unset)", config_value(s, "shop", "BAR"));
	/* rollback of a rollback: v7 = v5's content = v2's */
	EXPECT_INT(7, rollback(s, "shop", 5, sum, sizeof(sum)));
	EXPECT_STR("rollback to v5", sum);
	rollout_ends(s, "shop", true, NULL);
	EXPECT_STR("1", config_value(s, "shop", "FOO"));
	EXPECT_STR("b", config_value(s, "shop", "BAR"));
	/* and again: v8 = v6's content = v4's */
	EXPECT_INT(8, rollback(s, "shop", 6, sum, sizeof(sum)));
	rollout_ends(s, "shop", true, NULL);
	EXPECT_STR("2", config_value(s, "shop", "FOO"));
	EXPECT_STR("(unset)", config_value(s, "shop", "BAR"));
	/* the next config change starts from what runs now */
	EXPECT_INT(9, config_change(s, "shop", "{\"NEW\":\"x\"}", sum,
	    sizeof(sum)));
	rollout_ends(s, "shop", true, NULL);
	EXPECT_STR("2", config_value(s, "shop", "FOO"));
	EXPECT_STR("(unset)", config_value(s, "shop", "BAR"));
	EXPECT_OK(store_release_get(&rel, s, "shop", 9));
	EXPECT_INT(1, json_integer_value(json_object_get(rel, "build")));
	EXPECT_STR("x", json_string_value(json_object_get(json_object_get(rel,
	    "config"), "NEW")));
	json_decref(rel);
	EXPECT_OK(store_release_get(&rel, s, "shop", 1));
	EXPECT_TRUE(json_is_null(json_object_get(rel, "build")));
	json_decref(rel);
	EXPECT_INT(ERR_INVALID, store_release_rollback(&rel, s, "shop", 9,
	    "x"));
	EXPECT_INT(ERR_NOTFOUND, store_release_rollback(&rel, s, "shop", 10,
	    "x"));
	EXPECT_INT(ERR_NOTFOUND, store_release_get(&rel, s, "shop", 10));
	EXPECT_OK(store_release_list(&list, s, "shop", 1000));
	EXPECT_INT(9, json_array_size(list));
	for (size_t i = 0; i < 9; i++)
		EXPECT_INT(9 - (int)i, json_integer_value(json_object_get(
		    json_array_get(list, i), "version")));
	json_decref(list);
	/* first deploy scaled web to 1 */
	EXPECT_OK(store_formation_get(&f, s, "shop"));
	EXPECT_INT(1, json_integer_value(json_object_get(f, "web")));
	json_decref(f);
	store_close(s);
}

/* A failed rollout never becomes current: later releases start from the
 * live one, the runners are given the live one again, and a rollback to
 * the failed one is refused. */
TEST(store__release_states)
{
	struct store *s = open_store();
	struct store_actor admin = { .admin = true };
	struct store_access acc;
	char sum[128];
	int64_t v;
	json_t *rel, *list, *app;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	/* nothing to run: live at once */
	EXPECT_INT(1, config_change(s, "shop", "{\"A\":\"1\"}", sum,
	    sizeof(sum)));
	EXPECT_OK(store_release_get(&rel, s, "shop", 1));
	EXPECT_STR("live", json_string_value(json_object_get(rel, "state")));
	EXPECT_TRUE(json_is_true(json_object_get(rel, "current")));
	json_decref(rel);
	deploy(s, "shop", "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	EXPECT_INT(2, v);
	EXPECT_OK(store_release_get(&rel, s, "shop", 2));
	EXPECT_STR("pending", json_string_value(json_object_get(rel, "state")));
	EXPECT_TRUE(json_is_false(json_object_get(rel, "current")));
	json_decref(rel);
	rollout_ends(s, "shop", true, NULL);
	/* v3, a new build, fails */
	deploy(s, "shop", "4f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	EXPECT_INT(3, v);
	EXPECT_OK(store_app_access(&acc, s, &admin, "shop"));
	EXPECT_INT(3, acc.release);
	rollout_ends(s, "shop", false, "runner r1: web.1 never became healthy");
	EXPECT_OK(store_release_get(&rel, s, "shop", 3));
	EXPECT_STR("failed", json_string_value(json_object_get(rel, "state")));
	EXPECT_STR("runner r1: web.1 never became healthy",
	    json_string_value(json_object_get(rel, "reason")));
	json_decref(rel);
	/* the runners are given v2 again; the app's release is v2 */
	EXPECT_OK(store_app_access(&acc, s, &admin, "shop"));
	EXPECT_INT(2, acc.release);
	EXPECT_OK(store_app_get(&app, s, "shop"));
	EXPECT_INT(2, json_integer_value(json_object_get(app,
	    "current_release")));
	EXPECT_INT(3, json_integer_value(json_object_get(app, "release")));
	json_decref(app);
	/* a config change makes v4 of v2's build (build 1), not build 2's */
	EXPECT_INT(4, config_change(s, "shop", "{\"B\":\"2\"}", sum,
	    sizeof(sum)));
	EXPECT_OK(store_release_get(&rel, s, "shop", 4));
	EXPECT_INT(1, json_integer_value(json_object_get(rel, "build")));
	EXPECT_STR("pending", json_string_value(json_object_get(rel, "state")));
	json_decref(rel);
	/* superseded before it went live: failed, and says by what */
	deploy(s, "shop", "5f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	EXPECT_INT(5, v);
	EXPECT_OK(store_release_get(&rel, s, "shop", 4));
	EXPECT_STR("failed", json_string_value(json_object_get(rel, "state")));
	EXPECT_STR("superseded by v5 before it went live",
	    json_string_value(json_object_get(rel, "reason")));
	json_decref(rel);
	rollout_ends(s, "shop", true, NULL);
	/* a settled release stays as it is */
	{
		bool changed = true;
		EXPECT_OK(store_release_settle(&changed, s, "shop", 3,
		    STORE_RELEASE_LIVE, NULL));
		EXPECT_TRUE(!changed);
	}
	/* no rollback to a release that failed its rollout; one superseded
	 * before it went live did not fail on its own */
	EXPECT_INT(ERR_INVALID, store_release_rollback(&rel, s, "shop", 3,
	    "x"));
	EXPECT_ERR_HAS("v3 failed (runner r1: web.1 never became healthy)");
	EXPECT_INT(6, rollback(s, "shop", 0, sum, sizeof(sum)));
	EXPECT_STR("rollback to v4", sum);
	rollout_ends(s, "shop", true, NULL);
	/* with no version: the newest below the target that did not fail
	 * (v8 failed, above it) */
	EXPECT_INT(7, rollback(s, "shop", 5, sum, sizeof(sum)));
	rollout_ends(s, "shop", true, NULL);
	deploy(s, "shop", "6f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	rollout_ends(s, "shop", false, "runner r1: web.1 never became healthy");
	EXPECT_INT(9, rollback(s, "shop", 0, sum, sizeof(sum)));
	EXPECT_STR("rollback to v6", sum);
	EXPECT_OK(store_release_list(&list, s, "shop", 10));
	EXPECT_STR("pending", json_string_value(json_object_get(
	    json_array_get(list, 0), "state")));
	EXPECT_STR("failed", json_string_value(json_object_get(
	    json_array_get(list, 1), "state")));
	EXPECT_TRUE(json_is_true(json_object_get(json_array_get(list, 2),
	    "current")));
	EXPECT_STR("failed", json_string_value(json_object_get(
	    json_array_get(list, 6), "state")));
	json_decref(list);
	/* idle while the formation wants a process: the schedule has not
	 * caught up with the release, nothing is settled; scaled to
	 * nothing, it is live */
	{
		bool changed = true;
		json_t *f, *q = J("{\"web\":0}");
		EXPECT_OK(store_release_settle(&changed, s, "shop", 9,
		    STORE_RELEASE_IDLE, NULL));
		EXPECT_TRUE(!changed);
		EXPECT_OK(store_formation_scale(&f, s, "shop", q));
		json_decref(f);
		json_decref(q);
		EXPECT_OK(store_release_settle(&changed, s, "shop", 9,
		    STORE_RELEASE_IDLE, NULL));
		EXPECT_TRUE(changed);
	}
	store_close(s);
}

TEST(store__builds)
{
	struct store *s = open_store();
	json_t *b, *u, *out;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	EXPECT_OK(store_build_create(&b, s, "shop", NULL, "alice"));
	EXPECT_STR("main", json_string_value(json_object_get(b, "rev")));
	EXPECT_STR("pending", json_string_value(json_object_get(b, "status")));
	EXPECT_INT(1, json_integer_value(json_object_get(b, "number")));
	json_decref(b);
	EXPECT_INT(ERR_INVALID, store_build_create(&b, s, "shop", "-x", "a"));
	EXPECT_INT(ERR_INVALID, store_build_create(&b, s, "shop", "a..b", "a"));
	EXPECT_INT(ERR_INVALID, store_build_create(&b, s, "shop", "a b", "a"));
	u = J("{\"status\":\"running\"}");
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	EXPECT_TRUE(json_is_null(json_object_get(out, "release")));
	json_decref(out);
	json_decref(u);
	u = J("{\"status\":\"pending\"}");
	EXPECT_INT(ERR_CONFLICT, store_build_update(&out, s, "shop", 1, u, "a"));
	json_decref(u);
	u = J("{\"status\":\"succeeded\",\"digest\":\"md5:abc\"}");
	EXPECT_INT(ERR_INVALID, store_build_update(&out, s, "shop", 1, u, "a"));
	json_decref(u);
	u = J("{\"status\":\"succeeded\",\"bogus\":\"x\"}");
	EXPECT_INT(ERR_INVALID, store_build_update(&out, s, "shop", 1, u, "a"));
	json_decref(u);
	/* succeeded without an image makes no release */
	u = J("{\"status\":\"succeeded\"}");
	EXPECT_INT(ERR_INVALID, store_build_update(&out, s, "shop", 1, u, "a"));
	json_decref(u);
	u = J("{\"status\":\"failed\",\"error\":\"compile failed\"}");
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	json_decref(out);
	EXPECT_INT(ERR_CONFLICT, store_build_update(&out, s, "shop", 1, u, "a"));
	json_decref(u);
	EXPECT_OK(store_build_get(&b, s, "shop", 1));
	EXPECT_STR("failed", json_string_value(json_object_get(b, "status")));
	json_decref(b);
	EXPECT_OK(store_release_list(&b, s, "shop", 10));
	EXPECT_INT(0, json_array_size(b));
	json_decref(b);
	store_close(s);
}

/* Set when build number of app was last heard from (its lease's start),
 * as if its last update were that long ago. */
static void
build_heard_at(const char *app, int64_t number, time_t when)
{
	char sql[256];
	sqlite3 *db;

	snprintf(sql, sizeof(sql), "UPDATE builds SET updated_at = %lld"
	    " WHERE number = %lld AND app_id = (SELECT id FROM apps"
	    " WHERE name = '%s')", (long long)when, (long long)number, app);
	EXPECT_INT(SQLITE_OK, sqlite3_open("slipway.db", &db));
	sqlite3_busy_timeout(db, 5000);
	EXPECT_INT(SQLITE_OK, sqlite3_exec(db, sql, NULL, NULL, NULL));
	sqlite3_close(db);
}

static const char *
build_field(struct store *s, const char *app, int64_t number,
    const char *key, char *buf, size_t n)
{
	json_t *b;

	EXPECT_OK(store_build_get(&b, s, app, number));
	snprintf(buf, n, "%s", json_is_null(json_object_get(b, key)) ? "null" :
	    json_string_value(json_object_get(b, key)));
	json_decref(b);
	return buf;
}

/* A build whose builder stopped reporting for a whole lease fails, with
 * the reason; pending ones too, on every app; finished ones and ones
 * still within their lease are left alone. */
TEST(store__build_lease_expires)
{
	struct store *s = open_store();
	time_t now = time(NULL);
	json_t *b, *u, *out;
	char buf[128];
	int64_t v;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	make_app(s, "blog", "alice");
	EXPECT_OK(store_build_create(&b, s, "shop", "main", "alice"));
	json_decref(b);
	u = J("{\"status\":\"running\"}");
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	json_decref(out);
	EXPECT_OK(store_build_create(&b, s, "blog", "main", "alice"));
	json_decref(b);
	deploy(s, "shop", "abc1234", &v);               /* shop build 2 */
	EXPECT_OK(store_build_create(&b, s, "shop", "main", "alice"));
	json_decref(b);                                  /* shop build 3 */
	build_heard_at("shop", 1, now - 100);
	build_heard_at("blog", 1, now - 100);
	build_heard_at("shop", 2, now - 100);

	/* Within the lease: nothing. */
	EXPECT_OK(store_build_expire(&out, s, now, 120));
	EXPECT_INT(0, json_array_size(out));
	json_decref(out);
	EXPECT_STR("running", build_field(s, "shop", 1, "status", buf,
	    sizeof(buf)));

	EXPECT_OK(store_build_expire(&out, s, now, 60));
	EXPECT_INT(2, json_array_size(out));
	EXPECT_STR("shop", json_string_value(json_object_get(
	    json_array_get(out, 0), "app")));
	EXPECT_INT(1, json_integer_value(json_object_get(
	    json_array_get(out, 0), "number")));
	EXPECT_STR("blog", json_string_value(json_object_get(
	    json_array_get(out, 1), "app")));
	json_decref(out);
	EXPECT_STR("failed", build_field(s, "shop", 1, "status", buf,
	    sizeof(buf)));
	EXPECT_STR(STORE_BUILD_LEASE_EXPIRED, build_field(s, "shop", 1,
	    "error", buf, sizeof(buf)));
	EXPECT_STR("failed", build_field(s, "blog", 1, "status", buf,
	    sizeof(buf)));
	EXPECT_STR("succeeded", build_field(s, "shop", 2, "status", buf,
	    sizeof(buf)));
	EXPECT_STR("pending", build_field(s, "shop", 3, "status", buf,
	    sizeof(buf)));

	/* Once is enough: a second sweep finds nothing. */
	EXPECT_OK(store_build_expire(NULL, s, now, 60));
	EXPECT_OK(store_build_expire(&out, s, now, 60));
	EXPECT_INT(0, json_array_size(out));
	json_decref(out);

	/* The builder that comes back late cannot finish it, nor release. */
	EXPECT_INT(ERR_CONFLICT, store_build_update(&out, s, "shop", 1, u,
	    "alice"));
	EXPECT_ERR_HAS("failed already");
	json_decref(u);
	u = J("{\"status\":\"succeeded\",\"image\":\"r/shop:v1\","
	    "\"digest\":\"sha256:0000000000000000000000000000000000000000"
	    "000000000000000000000000\"}");
	EXPECT_INT(ERR_CONFLICT, store_build_update(&out, s, "shop", 1, u,
	    "alice"));
	json_decref(u);
	EXPECT_OK(store_release_list(&b, s, "shop", 10));
	EXPECT_INT(1, json_array_size(b));              /* v1, of build 2 */
	json_decref(b);
	store_close(s);
}

/* Each update of a running build renews its lease. */
TEST(store__build_update_renews_the_lease)
{
	struct store *s = open_store();
	time_t now = time(NULL);
	json_t *b, *u, *out;
	char buf[128];

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	EXPECT_OK(store_build_create(&b, s, "shop", NULL, "alice"));
	json_decref(b);
	u = J("{\"status\":\"running\"}");
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	json_decref(out);
	build_heard_at("shop", 1, now - 100);
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	json_decref(out);
	json_decref(u);
	EXPECT_OK(store_build_expire(&out, s, now, 60));
	EXPECT_INT(0, json_array_size(out));
	json_decref(out);
	EXPECT_STR("running", build_field(s, "shop", 1, "status", buf,
	    sizeof(buf)));
	EXPECT_STR("null", build_field(s, "shop", 1, "error", buf,
	    sizeof(buf)));
	store_close(s);
}

/* A push's build is released only once git has moved its branch
 * (issue 18, break 5): "land" records it waiting, "landed" (or the
 * controller's repair) releases it, a push that did not land fails the
 * build and releases nothing. */
TEST(store__push_builds_wait_to_land)
{
	static const char done[] = "{\"status\":\"succeeded\","
	    "\"image\":\"r/shop:v1\",\"digest\":\"sha256:"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	    "\"process_types\":{\"web\":\"serve\"},"
	    "\"land\":\"refs/heads/main\"}";
	struct store *s = open_store();
	json_t *b, *u, *out;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	for (int i = 0; i < 2; i++) {
		EXPECT_OK(store_build_create(&b, s, "shop", "abc", "alice"));
		json_decref(b);
	}
	u = J("{\"status\":\"succeeded\",\"land\":\"main\"}");
	EXPECT_INT(ERR_INVALID, store_build_update(&out, s, "shop", 1, u, "a"));
	json_decref(u);
	u = J(done);
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	EXPECT_TRUE(json_is_null(json_object_get(out, "release")));
	EXPECT_STR("waiting", json_string_value(json_object_get(
	    json_object_get(out, "landing"), "state")));
	json_decref(out);
	EXPECT_OK(store_build_update(&out, s, "shop", 2, u, "alice"));
	json_decref(out);
	json_decref(u);
	EXPECT_OK(store_release_list(&b, s, "shop", 10));
	EXPECT_INT(0, json_array_size(b));
	json_decref(b);
	EXPECT_OK(store_landing_list(&b, s));
	EXPECT_INT(2, json_array_size(b));
	EXPECT_STR("refs/heads/main", json_string_value(json_object_get(
	    json_array_get(b, 0), "ref")));
	json_decref(b);

	/* Another branch did not move to it; main did: v1, told twice. */
	u = J("{\"landed\":\"refs/heads/feature\"}");
	EXPECT_INT(ERR_NOTFOUND, store_build_update(&out, s, "shop", 1, u,
	    "alice"));
	json_decref(u);
	u = J("{\"landed\":\"refs/heads/main\"}");
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	EXPECT_INT(1, json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version")));
	json_decref(out);
	EXPECT_OK(store_landing_end(&out, s, "shop", 1, NULL, true, NULL));
	EXPECT_INT(1, json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version")));
	json_decref(out);

	/* Build 2's push was rejected: failed, no release, and saying so
	 * to a post-receive that comes late. */
	EXPECT_OK(store_landing_end(&out, s, "shop", 2, "refs/heads/main",
	    false, "the push did not land"));
	EXPECT_TRUE(json_is_null(json_object_get(out, "release")));
	json_decref(out);
	EXPECT_OK(store_build_get(&b, s, "shop", 2));
	EXPECT_STR("failed", json_string_value(json_object_get(b, "status")));
	EXPECT_STR("the push did not land", json_string_value(
	    json_object_get(b, "error")));
	json_decref(b);
	EXPECT_INT(ERR_CONFLICT, store_build_update(&out, s, "shop", 2, u,
	    "alice"));
	json_decref(u);
	EXPECT_OK(store_release_list(&b, s, "shop", 10));
	EXPECT_INT(1, json_array_size(b));
	json_decref(b);
	EXPECT_OK(store_landing_list(&b, s));
	EXPECT_INT(0, json_array_size(b));
	json_decref(b);
	store_close(s);
}

/* A push released before git moves its branch (the pre-receive hook
 * follows the rollout, so a failed one rejects the push): "release"
 * makes the release at once and again gives the same; landing keeps it;
 * a push that did not land takes it back, the live release before it
 * current again, the build left alone. */
TEST(store__push_released_before_landing)
{
	static const char done[] = "{\"status\":\"succeeded\","
	    "\"image\":\"r/shop:v1\",\"digest\":\"sha256:"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
	    "\"process_types\":{\"web\":\"serve\"},"
	    "\"land\":\"refs/heads/main\"}";
	struct store *s = open_store();
	json_t *b, *u, *rel, *out;
	bool changed;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	u = J(done);
	for (int i = 0; i < 3; i++) {
		EXPECT_OK(store_build_create(&b, s, "shop", "abc", "alice"));
		json_decref(b);
		EXPECT_OK(store_build_update(&out, s, "shop", i + 1, u,
		    "alice"));
		json_decref(out);
	}
	json_decref(u);
	rel = J("{\"release\":\"refs/heads/main\"}");
	u = J("{\"release\":\"refs/heads/other\"}");
	EXPECT_INT(ERR_NOTFOUND, store_build_update(&out, s, "shop", 1, u,
	    "alice"));
	json_decref(u);
	u = J("{\"release\":\"refs/heads/main\",\"x\":1}");
	EXPECT_INT(ERR_INVALID, store_build_update(&out, s, "shop", 1, u,
	    "alice"));
	json_decref(u);
	/* Build 1: released, then landed: v1 stays, no second release. */
	for (int i = 0; i < 2; i++) {
		EXPECT_OK(store_build_update(&out, s, "shop", 1, rel, "alice"));
		EXPECT_INT(1, json_integer_value(json_object_get(
		    json_object_get(out, "release"), "version")));
		json_decref(out);
	}
	u = J("{\"landed\":\"refs/heads/main\"}");
	EXPECT_OK(store_build_update(&out, s, "shop", 1, u, "alice"));
	EXPECT_INT(1, json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version")));
	json_decref(out);
	EXPECT_OK(store_release_list(&b, s, "shop", 10));
	EXPECT_INT(1, json_array_size(b));
	json_decref(b);
	EXPECT_OK(store_release_settle(&changed, s, "shop", 1,
	    STORE_RELEASE_LIVE, NULL));
	/* Build 2: released and gone live, but git kept main:
	 * taken back, v1 current again, build 2 still succeeded. */
	EXPECT_OK(store_build_update(&out, s, "shop", 2, rel, "alice"));
	EXPECT_INT(2, json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version")));
	json_decref(out);
	EXPECT_OK(store_release_settle(&changed, s, "shop", 2,
	    STORE_RELEASE_LIVE, NULL));
	EXPECT_OK(store_release_get(&b, s, "shop", 2));
	EXPECT_TRUE(json_is_true(json_object_get(b, "current")));
	json_decref(b);
	EXPECT_OK(store_landing_end(&out, s, "shop", 2, "refs/heads/main",
	    false, "the push did not land"));
	json_decref(out);
	EXPECT_OK(store_release_get(&b, s, "shop", 2));
	EXPECT_STR("failed", json_string_value(json_object_get(b, "state")));
	EXPECT_STR("the push did not land", json_string_value(
	    json_object_get(b, "reason")));
	EXPECT_TRUE(!json_is_true(json_object_get(b, "current")));
	json_decref(b);
	EXPECT_OK(store_release_get(&b, s, "shop", 1));
	EXPECT_TRUE(json_is_true(json_object_get(b, "current")));
	json_decref(b);
	EXPECT_OK(store_build_get(&b, s, "shop", 2));
	EXPECT_STR("succeeded", json_string_value(json_object_get(b,
	    "status")));
	json_decref(b);
	/* A late post-receive for it is refused; it cannot be released
	 * again. */
	EXPECT_INT(ERR_CONFLICT, store_build_update(&out, s, "shop", 2, u,
	    "alice"));
	EXPECT_INT(ERR_NOTFOUND, store_build_update(&out, s, "shop", 2, rel,
	    "alice"));
	/* Build 3 lands normally after it: v3 current. */
	EXPECT_OK(store_build_update(&out, s, "shop", 3, rel, "alice"));
	json_decref(out);
	EXPECT_OK(store_landing_end(&out, s, "shop", 3, NULL, true, NULL));
	EXPECT_INT(3, json_integer_value(json_object_get(json_object_get(out,
	    "release"), "version")));
	json_decref(out);
	EXPECT_OK(store_landing_list(&b, s));
	EXPECT_INT(0, json_array_size(b));
	json_decref(b);
	EXPECT_OK(store_release_settle(&changed, s, "shop", 3,
	    STORE_RELEASE_LIVE, NULL));
	EXPECT_OK(store_release_get(&b, s, "shop", 3));
	EXPECT_TRUE(json_is_true(json_object_get(b, "current")));
	json_decref(b);
	json_decref(u);
	json_decref(rel);
	store_close(s);
}

TEST(store__scale)
{
	struct store *s = open_store();
	json_t *q, *f;
	int64_t v;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	deploy(s, "shop", "abc1234", &v);
	q = J("{\"web\":3,\"worker\":1}");
	EXPECT_OK(store_formation_scale(&f, s, "shop", q));
	EXPECT_INT(3, json_integer_value(json_object_get(f, "web")));
	json_decref(f);
	json_decref(q);
	q = J("{\"clock\":1}");
	EXPECT_INT(ERR_INVALID, store_formation_scale(&f, s, "shop", q));
	EXPECT_ERR_HAS("no process type 'clock'");
	json_decref(q);
	q = J("{\"web\":101}");
	EXPECT_INT(ERR_INVALID, store_formation_scale(&f, s, "shop", q));
	json_decref(q);
	q = J("{\"web\":-1}");
	EXPECT_INT(ERR_INVALID, store_formation_scale(&f, s, "shop", q));
	json_decref(q);
	q = J("{\"web\":\"2\"}");
	EXPECT_INT(ERR_INVALID, store_formation_scale(&f, s, "shop", q));
	json_decref(q);
	store_close(s);
}

/*
 * Writers in several processes, each with its own connection, change one
 * app's config at once: every change gets its own release number, the
 * numbers are 1..N with no gap, and no change is lost.
 */
TEST(store__concurrent_writers_number_densely)
{
	enum { PROCS = 4, EACH = 25 };
	struct store *s = open_store();
	pid_t pids[PROCS];
	json_t *list, *cfg;
	int seen[PROCS * EACH + 1] = { 0 };

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	store_close(s);
	for (int p = 0; p < PROCS; p++) {
		if ((pids[p] = fork()) == 0) {
			struct store *c = open_store();
			for (int i = 0; i < EACH; i++) {
				char ch[64];
				json_t *j, *rel = NULL;
				snprintf(ch, sizeof(ch), "{\"K_%d_%d\":\"v\"}", p, i);
				j = J(ch);
				if (store_config_change(&rel, c, "shop", j,
				    "w") < 0 || rel == NULL)
					_exit(1);
				json_decref(rel);
				json_decref(j);
			}
			store_close(c);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;
		waitpid(pids[p], &st, 0);
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	s = open_store();
	EXPECT_OK(store_release_list(&list, s, "shop", 1000));
	EXPECT_INT(PROCS * EACH, json_array_size(list));
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_int_t v = json_integer_value(json_object_get(
		    json_array_get(list, i), "version"));
		EXPECT_TRUE(v >= 1 && v <= PROCS * EACH);
		EXPECT_INT(0, seen[v]);
		seen[v] = 1;
	}
	json_decref(list);
	EXPECT_OK(store_config_get(&cfg, s, "shop"));
	EXPECT_INT(PROCS * EACH, json_integer_value(json_object_get(cfg,
	    "version")));
	EXPECT_INT(PROCS * EACH, json_object_size(json_object_get(cfg,
	    "values")));
	json_decref(cfg);
	store_close(s);
}

/* ---- runners and the schedule ---- */

TEST(store__schedule_follows_groups_and_heartbeats)
{
	struct store *s = open_store();
	char k1[STORE_TOKEN_LEN], k2[STORE_TOKEN_LEN], k3[STORE_TOKEN_LEN];
	struct store_actor r1, r2, r3;
	const char *prod[] = { "production" };
	json_t *j, *q, *c;
	time_t now = time(NULL);
	int64_t v;
	bool changed;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_group_create(s, "production"));
	make_app(s, "shop", "alice");
	EXPECT_OK(store_app_create(s, "secret", "alice", prod, 1));
	deploy(s, "shop", "abc1234", &v);
	deploy(s, "secret", "def5678", &v);
	q = J("{\"web\":2}");
	EXPECT_OK(store_formation_scale(&j, s, "shop", q));
	json_decref(j);
	json_decref(q);
	EXPECT_INT(1, config_change(s, "shop", "{\"FOO\":\"bar\"}", NULL, 0)
	    > 0);
	EXPECT_OK(store_runner_create(k1, &j, s, "r1", "default"));
	json_decref(j);
	EXPECT_OK(store_runner_create(k2, &j, s, "r2", "default"));
	json_decref(j);
	EXPECT_OK(store_runner_create(k3, &j, s, "p1", "production"));
	json_decref(j);
	EXPECT_INT(ERR_EXISTS, store_runner_create(k3, &j, s, "p1", "default"));
	EXPECT_INT(ERR_INVALID, store_runner_create(k3, &j, s, "P 1", "default"));
	EXPECT_OK(store_auth(&r1, s, k1));
	EXPECT_OK(store_auth(&r2, s, k2));
	EXPECT_OK(store_auth(&r3, s, k3));
	EXPECT_TRUE(r1.runner_id > 0 && r1.user_id == 0);
	EXPECT_OK(store_runner_heartbeat(s, r1.runner_id, now));
	EXPECT_OK(store_runner_heartbeat(s, r2.runner_id, now));
	EXPECT_OK(store_runner_heartbeat(s, r3.runner_id, now));
	EXPECT_OK(store_schedule_refresh(&changed, s, now - 30));
	EXPECT_TRUE(changed);
	EXPECT_OK(store_schedule_refresh(&changed, s, now - 30));
	EXPECT_TRUE(!changed);

	EXPECT_OK(store_schedule_for_runner(&j, s, r1.runner_id));
	c = json_object_get(j, "containers");
	EXPECT_INT(1, json_array_size(c));
	EXPECT_STR("shop", json_string_value(json_object_get(json_array_get(c,
	    0), "app")));
	EXPECT_STR("./web", json_string_value(json_object_get(json_array_get(c,
	    0), "command")));
	EXPECT_STR("bar", json_string_value(json_object_get(json_object_get(
	    json_array_get(c, 0), "env"), "FOO")));
	json_decref(j);
	/* the production runner sees only the production app */
	EXPECT_OK(store_schedule_for_runner(&j, s, r3.runner_id));
	c = json_object_get(j, "containers");
	EXPECT_INT(1, json_array_size(c));
	EXPECT_STR("secret", json_string_value(json_object_get(json_array_get(c,
	    0), "app")));
	json_decref(j);

	/* r2 goes silent: r1 gets both of shop's web */
	EXPECT_OK(store_runner_heartbeat(s, r2.runner_id, now - 100));
	EXPECT_OK(store_schedule_refresh(&changed, s, now - 30));
	EXPECT_TRUE(changed);
	EXPECT_OK(store_schedule_for_runner(&j, s, r1.runner_id));
	EXPECT_INT(2, json_array_size(json_object_get(j, "containers")));
	json_decref(j);
	EXPECT_OK(store_schedule_for_runner(&j, s, r2.runner_id));
	EXPECT_INT(0, json_array_size(json_object_get(j, "containers")));
	json_decref(j);

	/* what a runner reports shows in the app's ps */
	q = J("{\"containers\":[{\"app\":\"shop\",\"type\":\"web\","
	    "\"index\":1,\"state\":\"up\",\"healthy\":true}]}");
	EXPECT_OK(store_runner_report(s, r1.runner_id, q, now));
	json_decref(q);
	EXPECT_OK(store_schedule_for_app(&j, s, "shop", 0));
	EXPECT_INT(2, json_array_size(j));
	EXPECT_STR("up", json_string_value(json_object_get(json_object_get(
	    json_array_get(j, 0), "reported"), "state")));
	EXPECT_TRUE(json_is_null(json_object_get(json_array_get(j, 1),
	    "reported")));
	json_decref(j);
	store_close(s);
}

/* The numbers of the builds app keeps, as "1 2 3". */
static const char *
kept(struct store *s, const char *app, int64_t keep)
{
	static char text[256];
	json_t *l, *x;
	size_t i, off = 0;

	if (store_app_builds_kept(&l, s, app, keep) < 0)
		harness_fail(__FILE__, __LINE__, "kept: %s", err_last());
	text[0] = '\0';
	json_array_foreach(l, i, x)
		if (json_is_true(json_object_get(x, "kept")))
			off += (size_t)snprintf(text + off, sizeof(text) - off,
			    "%s%lld", off ? " " : "", (long long)
			    json_integer_value(json_object_get(x, "number")));
	json_decref(l);
	return text;
}

TEST(store__kept_builds_follow_the_last_releases)
{
	struct store *s = open_store();
	char sum[128];
	json_t *b, *l;
	int64_t v;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	EXPECT_INT(ERR_INVALID, store_app_builds_kept(&l, s, "shop", 0));
	EXPECT_INT(ERR_NOTFOUND, store_app_builds_kept(&l, s, "nope", 3));
	EXPECT_STR("", kept(s, "shop", 3));
	for (int i = 0; i < 5; i++)
		deploy(s, "shop", "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	EXPECT_INT(5, v);
	EXPECT_STR("3 4 5", kept(s, "shop", 3));
	/* every build is listed, kept or not */
	EXPECT_OK(store_app_builds_kept(&l, s, "shop", 3));
	EXPECT_INT(5, (int)json_array_size(l));
	EXPECT_TRUE(json_is_false(json_object_get(json_array_get(l, 0),
	    "kept")));
	EXPECT_STR("sha256:0000000000000000000000000000000000000000000000000000"
	    "000000000007", json_string_value(json_object_get(json_array_get(l,
	    0), "digest")));
	json_decref(l);
	/* config changes point at the build before them: fewer images */
	EXPECT_INT(6, config_change(s, "shop", "{\"A\":\"1\"}", sum,
	    sizeof(sum)));
	EXPECT_INT(7, config_change(s, "shop", "{\"A\":\"2\"}", sum,
	    sizeof(sum)));
	EXPECT_STR("5", kept(s, "shop", 3));
	EXPECT_STR("4 5", kept(s, "shop", 4));
	/* a rollback to v1 keeps build 1 again while it is listed */
	EXPECT_INT(8, rollback(s, "shop", 1, sum, sizeof(sum)));
	EXPECT_STR("1 5", kept(s, "shop", 3));
	/* a build still running (no release yet) is kept */
	EXPECT_OK(store_build_create(&b, s, "shop", NULL, "tester"));
	json_decref(b);
	EXPECT_STR("1 5 6", kept(s, "shop", 3));
	EXPECT_STR("1 6", kept(s, "shop", 1));
	store_close(s);
}

/* Failed releases past the kept window never take the image of the
 * release that serves. */
TEST(store__kept_builds_include_the_current_release)
{
	struct store *s = open_store();
	bool changed;
	int64_t v;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	deploy(s, "shop", "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c", &v);
	EXPECT_OK(store_release_settle(&changed, s, "shop", v,
	    STORE_RELEASE_LIVE, NULL));
	EXPECT_TRUE(changed);
	for (int i = 0; i < 3; i++) {
		deploy(s, "shop", "3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c",
		    &v);
		EXPECT_OK(store_release_settle(&changed, s, "shop", v,
		    STORE_RELEASE_FAILED, "web never became healthy"));
	}
	EXPECT_STR("1 3 4", kept(s, "shop", 2));
	EXPECT_STR("1 4", kept(s, "shop", 1));
	store_close(s);
}

/* ---- how an app builds (store_appbuild.c) ---- */

static char *
bps_text(json_t *list)
{
	static char out[1024];
	char *s = json_dumps(list, JSON_COMPACT);

	snprintf(out, sizeof(out), "%s", s ? s : "(null)");
	free(s);
	json_decref(list);
	return out;
}

TEST(store__app_buildpacks_edit_in_order)
{
	struct store *s = open_store();
	json_t *l = NULL;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	EXPECT_OK(store_app_buildpacks_get(&l, s, "shop"));
	EXPECT_STR("[]", bps_text(l));
	EXPECT_OK(store_app_buildpacks_edit(&l, s, "shop", "add", "b", 0));
	json_decref(l);
	EXPECT_OK(store_app_buildpacks_edit(&l, s, "shop", "add", "a", 1));
	EXPECT_STR("[\"a\",\"b\"]", bps_text(l));
	EXPECT_INT(ERR_EXISTS, store_app_buildpacks_edit(&l, s, "shop", "add",
	    "a", 0));
	EXPECT_OK(store_app_buildpacks_edit(&l, s, "shop", "set",
	    "https://h/c.git#v1", 2));
	EXPECT_STR("[\"a\",\"https://h/c.git#v1\"]", bps_text(l));
	EXPECT_OK(store_app_buildpacks_edit(&l, s, "shop", "remove", NULL, 1));
	EXPECT_STR("[\"https://h/c.git#v1\"]", bps_text(l));
	EXPECT_INT(ERR_NOTFOUND, store_app_buildpacks_edit(&l, s, "shop",
	    "remove", "zz", 0));
	EXPECT_OK(store_app_buildpacks_edit(&l, s, "shop", "set", "x", 0));
	EXPECT_STR("[\"x\"]", bps_text(l));
	/* a path is never stored, nor a file:// URL; nothing changes */
	EXPECT_INT(ERR_INVALID, store_app_buildpacks_edit(&l, s, "shop", "add",
	    "/etc", 0));
	EXPECT_ERR_HAS("is a path");
	EXPECT_INT(ERR_INVALID, store_app_buildpacks_edit(&l, s, "shop", "add",
	    "file:///srv/bp.git", 0));
	EXPECT_INT(ERR_INVALID, store_app_buildpacks_edit(&l, s, "shop", "add",
	    "../x", 0));
	EXPECT_INT(ERR_INVALID, store_app_buildpacks_edit(&l, s, "shop", "nope",
	    "x", 0));
	EXPECT_OK(store_app_buildpacks_get(&l, s, "shop"));
	EXPECT_STR("[\"x\"]", bps_text(l));
	EXPECT_OK(store_app_buildpacks_edit(&l, s, "shop", "clear", NULL, 0));
	EXPECT_STR("[]", bps_text(l));
	EXPECT_INT(ERR_NOTFOUND, store_app_buildpacks_get(&l, s, "nosuch"));
	/* the stack: a name, or NULL for the default */
	EXPECT_OK(store_app_stack_set(s, "shop", "bookworm"));
	EXPECT_OK(store_app_get(&l, s, "shop"));
	EXPECT_STR("bookworm", json_string_value(json_object_get(l, "stack")));
	EXPECT_TRUE(json_is_array(json_object_get(l, "buildpacks")));
	json_decref(l);
	EXPECT_INT(ERR_INVALID, store_app_stack_set(s, "shop", "../x"));
	EXPECT_OK(store_app_stack_set(s, "shop", NULL));
	EXPECT_OK(store_app_get(&l, s, "shop"));
	EXPECT_TRUE(json_is_null(json_object_get(l, "stack")));
	json_decref(l);
	store_close(s);
}

/* apps:rename in the store: the builds' image references follow the new
 * name (only their repository part), a running build refuses it with
 * what to do, a taken name is ERR_EXISTS, and the check changes
 * nothing. */
TEST(store__rename_moves_image_references)
{
	struct store *s = open_store();
	json_t *b, *rel;
	int64_t v;

	EXPECT_OK(store_user_create(s, "alice", false));
	make_app(s, "shop", "alice");
	make_app(s, "other", "alice");
	deploy(s, "shop", "abc", &v);
	EXPECT_INT(ERR_EXISTS, store_app_rename_check(s, "shop", "other"));
	EXPECT_INT(ERR_INVALID, store_app_rename_check(s, "shop", "Bad"));
	EXPECT_OK(store_app_rename_check(s, "shop", "hi"));
	EXPECT_OK(store_build_create(&b, s, "shop", "def", "alice"));
	json_decref(b);
	EXPECT_INT(ERR_CONFLICT, store_app_rename_check(s, "shop", "hi"));
	EXPECT_INT(ERR_CONFLICT, store_app_rename(s, "shop", "hi"));
	EXPECT_TRUE(strstr(err_last(), "while a build of it runs") != NULL);
	b = J("{\"status\":\"failed\",\"error\":\"x\"}");
	EXPECT_OK(store_build_update(&rel, s, "shop", 2, b, "alice"));
	json_decref(rel);
	json_decref(b);
	EXPECT_INT(ERR_EXISTS, store_app_rename(s, "shop", "other"));
	EXPECT_OK(store_app_rename(s, "shop", "hi"));
	EXPECT_INT(ERR_NOTFOUND, store_app_get(&rel, s, "shop"));
	EXPECT_OK(store_release_get(&rel, s, "hi", v));
	EXPECT_STR("127.0.0.1:5000/hi:v1", json_string_value(json_object_get(
	    rel, "image")));
	json_decref(rel);
	store_close(s);
}
