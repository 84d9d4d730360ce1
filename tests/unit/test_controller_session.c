/*
 * Unit tests for tokens that expire (schema version 4): the SSH server's
 * session tokens and the builds the controller runs use them.  Expiry is
 * moved into the past with sqlite3 itself rather than by waiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
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

/* Run SQL on the file with the sqlite3 program (the store closed). */
static void
sql(const char *text)
{
	char *argv[] = { "sqlite3", "slipway.db", (char *)text, NULL };
	struct buf out;

	if (proc_run(&out, argv, PROC_ERR_TO_OUT, 1 << 16) != 0)
		harness_fail(__FILE__, __LINE__, "sqlite3: %s", out.ptr);
	buf_free(&out);
}

TEST(store__ttl_tokens_expire)
{
	struct store *s = open_store();
	char token[STORE_TOKEN_LEN], forever[STORE_TOKEN_LEN];
	struct store_actor a;
	json_t *tj = NULL, *list;
	int64_t id;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_OK(store_token_create_ttl(token, &tj, s, "alice", "ssh session",
	    60));
	id = json_integer_value(json_object_get(tj, "id"));
	/* it says when it ends */
	EXPECT_TRUE(json_is_string(json_object_get(tj, "expires_at")));
	json_decref(tj);
	EXPECT_OK(store_token_create(forever, &tj, s, "alice", "laptop"));
	EXPECT_TRUE(json_is_null(json_object_get(tj, "expires_at")));
	json_decref(tj);
	EXPECT_OK(store_auth(&a, s, token));
	EXPECT_STR("alice", a.name);
	EXPECT_OK(store_token_list(&list, s, "alice"));
	EXPECT_INT(2, json_array_size(list));
	json_decref(list);
	store_close(s);

	/* a minute later (moved, not waited for) */
	char upd[128];
	snprintf(upd, sizeof(upd), "UPDATE tokens SET expires_at = "
	    "CAST(strftime('%%s','now') AS INTEGER) - 1 WHERE id = %lld",
	    (long long)id);
	sql(upd);
	s = open_store();
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, token));
	EXPECT_ERR_HAS("invalid or revoked token");
	EXPECT_OK(store_auth(&a, s, forever));
	EXPECT_OK(store_token_list(&list, s, "alice"));
	EXPECT_INT(1, json_array_size(list));
	EXPECT_STR("laptop", json_string_value(json_object_get(
	    json_array_get(list, 0), "label")));
	json_decref(list);
	store_close(s);
}

TEST(store__ttl_tokens_revoked_and_refused_ttls)
{
	struct store *s = open_store();
	char token[STORE_TOKEN_LEN];
	struct store_actor a;
	json_t *tj = NULL;

	EXPECT_OK(store_user_create(s, "alice", false));
	EXPECT_INT(ERR_INVALID, store_token_create_ttl(token, NULL, s, "alice",
	    NULL, -1));
	EXPECT_INT(ERR_INVALID, store_token_create_ttl(token, NULL, s, "alice",
	    NULL, STORE_TOKEN_TTL_MAX + 1));
	EXPECT_INT(ERR_NOTFOUND, store_token_create_ttl(token, NULL, s,
	    "nobody", NULL, 60));
	/* revoked before its time: dead at once */
	EXPECT_OK(store_token_create_ttl(token, &tj, s, "alice", NULL, 3600));
	EXPECT_OK(store_auth(&a, s, token));
	EXPECT_OK(store_token_revoke(s, json_integer_value(json_object_get(tj,
	    "id")), "alice"));
	EXPECT_INT(ERR_AUTH, store_auth(&a, s, token));
	json_decref(tj);
	store_close(s);
}

TEST(store__dead_ttl_tokens_are_purged)
{
	struct store *s = open_store();
	char token[STORE_TOKEN_LEN];
	struct buf out;

	EXPECT_OK(store_user_create(s, "alice", false));
	for (int i = 0; i < 3; i++)
		EXPECT_OK(store_token_create_ttl(token, NULL, s, "alice", NULL,
		    60));
	EXPECT_OK(store_token_create(token, NULL, s, "alice", "keep me"));
	store_close(s);
	/* two sessions long over, one revoked long ago */
	sql("UPDATE tokens SET expires_at = 1000 WHERE id IN (1, 2);"
	    "UPDATE tokens SET revoked_at = 1000 WHERE id = 3;");
	s = open_store();
	EXPECT_OK(store_token_create_ttl(token, NULL, s, "alice", NULL, 60));
	store_close(s);
	char *argv[] = { "sqlite3", "slipway.db",
	    "SELECT group_concat(id) FROM (SELECT id FROM tokens ORDER BY id)",
	    NULL };
	EXPECT_INT(0, proc_run(&out, argv, 0, 4096));
	/* the permanent token and the new one are left */
	EXPECT_STR("4,5\n", out.ptr);
	buf_free(&out);
}
