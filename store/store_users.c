/*
 * Users, API tokens and authentication.  A token is 32 random bytes shown
 * once as "slw_<64 hex>"; the store keeps only its sha256, so a stolen
 * database file gives no working token.  Runners' server keys work the same
 * way with the prefix "slr_" (store_runners.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

#define TS(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"

/* Refresh a token's last use at most this often (a write per request
 * would serialize readers behind the writer). */
#define STORE_TOKEN_TOUCH_SECS 60

int
store_user_create(struct store *s, const char *name, bool admin)
{
	int64_t uid;
	int rc;

	if (!name_user_is_valid(name))
		return err_set(ERR_INVALID, "invalid user name '%.64s': use "
		    "a lower-case letter, then up to 31 of a-z 0-9 _ . -",
		    name ? name : "");
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	rc = store_exec(s, NULL, "INSERT INTO users (name, admin, created_at)"
	    " VALUES (?, ?, ?)", "sni", name, admin ? 1 : 0,
	    (int64_t)time(NULL));
	if (rc == ERR_EXISTS) {
		rc = err_set(ERR_EXISTS, "user '%s' exists already", name);
		goto done;
	}
	if (rc < 0)
		goto done;
	uid = sqlite3_last_insert_rowid(s->db);
	rc = store_exec(s, NULL, "INSERT INTO group_users (group_id, user_id)"
	    " SELECT id, ? FROM deploy_groups WHERE name = 'default'", "i",
	    uid);
done:
	return store_tx_end(s, rc);
}

int
store_user_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st;
	int64_t uid, apps = 0, admins = 0;
	int admin = 0, rc;

	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_user_id(&uid, s, name)) < 0)
		goto done;
	if ((rc = store_prep(&st, s,
	    "SELECT (SELECT count(*) FROM apps WHERE owner_id = ?1),"
	    " (SELECT admin FROM users WHERE id = ?1),"
	    " (SELECT count(*) FROM users WHERE admin = 1)", "i", uid)) < 0)
		goto done;
	if ((rc = store_step(s, st)) > 0) {
		apps = sqlite3_column_int64(st, 0);
		admin = sqlite3_column_int(st, 1);
		admins = sqlite3_column_int64(st, 2);
		rc = 0;
	}
	store_done(st);
	if (rc < 0)
		goto done;
	if (apps > 0) {
		rc = err_set(ERR_CONFLICT, "cannot remove user '%s': it owns "
		    "%lld app(s); destroy them first", name, (long long)apps);
		goto done;
	}
	if (admin && admins <= 1) {
		rc = err_set(ERR_CONFLICT, "cannot remove user '%s': it is "
		    "the last admin", name);
		goto done;
	}
	rc = store_exec(s, NULL, "DELETE FROM users WHERE id = ?", "i", uid);
done:
	return store_tx_end(s, rc);
}

#define USER_COLUMNS \
	"u.name AS name," \
	" CASE u.admin WHEN 1 THEN 'admin' ELSE 'member' END AS role," \
	" (SELECT json_group_array(g.name) FROM (SELECT g.name FROM" \
	"  group_users gu JOIN deploy_groups g ON g.id = gu.group_id" \
	"  WHERE gu.user_id = u.id ORDER BY g.name) g) AS groups_json," \
	" " TS("u.created_at") " AS created_at"

int
store_user_get(json_t **out, struct store *s, const char *name)
{
	int rc = store_query_row(out, s, "SELECT " USER_COLUMNS
	    " FROM users u WHERE u.name = ?", "s", name);

	if (rc == ERR_NOTFOUND)
		return err_set(rc, "no such user '%s'", name);
	return rc;
}

int
store_user_list(json_t **out, struct store *s)
{
	return store_query_rows(out, s, "SELECT " USER_COLUMNS
	    " FROM users u ORDER BY u.name", NULL);
}

int
store_user_count(int64_t *out, struct store *s)
{
	int rc = store_query_int(out, s, "SELECT count(*) FROM users", NULL);

	return rc < 0 ? rc : 0;
}

/* ---- tokens ---- */

#define TOKEN_COLUMNS \
	"t.id AS id, u.name AS user, t.label AS label," \
	" " TS("t.created_at") " AS created_at," \
	" " TS("t.last_used_at") " AS last_used_at," \
	" " TS("t.expires_at") " AS expires_at"

/* Ephemeral tokens dead (expired or revoked) for this long are deleted
 * when another is made, so one row per SSH session does not pile up. */
#define STORE_TOKEN_PURGE_SECS 86400

static bool
store_label_is_valid(const char *label)
{
	size_t n = strlen(label);

	if (n > 100)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return false;
	return true;
}

int
store_token_create(char out[STORE_TOKEN_LEN], json_t **out_json,
    struct store *s, const char *user, const char *label)
{
	return store_token_create_ttl(out, out_json, s, user, label, 0);
}

int
store_token_create_ttl(char out[STORE_TOKEN_LEN], json_t **out_json,
    struct store *s, const char *user, const char *label, int64_t ttl_sec)
{
	char secret[STORE_TOKEN_LEN], hash[65];
	int64_t uid, id, now = (int64_t)time(NULL);
	int rc;

	if (out_json)
		*out_json = NULL;
	if (label == NULL)
		label = "";
	if (!store_label_is_valid(label))
		return err_set(ERR_INVALID, "a token label is at most 100 "
		    "printable characters");
	if (ttl_sec < 0 || ttl_sec > STORE_TOKEN_TTL_MAX)
		return err_set(ERR_INVALID, "a token's ttl is 1 to %d seconds",
		    STORE_TOKEN_TTL_MAX);
	if ((rc = store_secret_new(secret, hash, STORE_TOKEN_PREFIX)) < 0)
		return rc;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_user_id(&uid, s, user)) < 0)
		goto done;
	/* expires_at NULL: never */
	if ((rc = store_exec(s, NULL, "INSERT INTO tokens (user_id, hash,"
	    " label, created_at, expires_at) VALUES (?, ?, ?, ?, NULLIF(?, 0))",
	    "issii", uid, hash, label, now, ttl_sec ? now + ttl_sec : 0)) < 0)
		goto done;
	id = sqlite3_last_insert_rowid(s->db);
	if (ttl_sec > 0) {
		if ((rc = store_exec(s, NULL, "DELETE FROM tokens WHERE"
		    " expires_at IS NOT NULL AND (expires_at < ?1 OR"
		    " revoked_at < ?1)", "i", now - STORE_TOKEN_PURGE_SECS)) < 0)
			goto done;
	}
	if (out_json)
		rc = store_query_row(out_json, s, "SELECT " TOKEN_COLUMNS
		    " FROM tokens t JOIN users u ON u.id = t.user_id"
		    " WHERE t.id = ?", "i", id);
done:
	if ((rc = store_tx_end_json(s, rc, out_json)) == 0)
		memcpy(out, secret, STORE_TOKEN_LEN);
	return rc;
}

int
store_token_list(json_t **out, struct store *s, const char *user)
{
	return store_query_rows(out, s, "SELECT " TOKEN_COLUMNS
	    " FROM tokens t JOIN users u ON u.id = t.user_id"
	    " WHERE t.revoked_at IS NULL AND (?1 IS NULL OR u.name = ?1)"
	    " AND (t.expires_at IS NULL OR t.expires_at > ?2)"
	    " ORDER BY t.id", "si", user, (int64_t)time(NULL));
}

int
store_token_revoke(struct store *s, int64_t id, const char *user)
{
	int changes = 0, rc;

	rc = store_exec(s, &changes, "UPDATE tokens SET revoked_at = ?"
	    " WHERE id = ? AND revoked_at IS NULL AND (?3 IS NULL OR"
	    " user_id = (SELECT id FROM users WHERE name = ?3))", "iis",
	    (int64_t)time(NULL), id, user);
	if (rc < 0)
		return rc;
	if (changes == 0)
		return err_set(ERR_NOTFOUND, "no such token %lld",
		    (long long)id);
	return 0;
}

/* "slw_" or "slr_" and exactly 64 lower-case hex digits. */
static bool
store_secret_is_wellformed(const char *secret, const char *prefix)
{
	if (strncmp(secret, prefix, 4) != 0 ||
	    strlen(secret) != STORE_TOKEN_LEN - 1)
		return false;
	for (const char *p = secret + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int
store_auth_user(struct store_actor *out, struct store *s, const char *hash)
{
	sqlite3_stmt *st;
	int64_t tid = 0, used = 0, now = (int64_t)time(NULL);
	int rc;

	if ((rc = store_prep(&st, s, "SELECT u.id, u.name, u.admin, t.id,"
	    " coalesce(t.last_used_at, 0) FROM tokens t"
	    " JOIN users u ON u.id = t.user_id"
	    " WHERE t.hash = ? AND t.revoked_at IS NULL"
	    " AND (t.expires_at IS NULL OR t.expires_at > ?)", "si", hash,
	    now)) < 0)
		return rc;
	if ((rc = store_step(s, st)) > 0) {
		out->user_id = sqlite3_column_int64(st, 0);
		snprintf(out->name, sizeof(out->name), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		out->admin = sqlite3_column_int(st, 2) != 0;
		tid = sqlite3_column_int64(st, 3);
		used = sqlite3_column_int64(st, 4);
	}
	store_done(st);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(ERR_AUTH, "invalid or revoked token");
	if (now - used >= STORE_TOKEN_TOUCH_SECS)
		/* Best effort: a busy store must not fail the request. */
		store_exec(s, NULL, "UPDATE tokens SET last_used_at = ?"
		    " WHERE id = ?", "ii", now, tid);
	return 0;
}

static int
store_auth_runner(struct store_actor *out, struct store *s, const char *hash)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = store_prep(&st, s, "SELECT r.id, r.name, g.name"
	    " FROM runners r JOIN deploy_groups g ON g.id = r.group_id"
	    " WHERE r.key_hash = ?", "s", hash)) < 0)
		return rc;
	if ((rc = store_step(s, st)) > 0) {
		out->runner_id = sqlite3_column_int64(st, 0);
		snprintf(out->name, sizeof(out->name), "%s",
		    (const char *)sqlite3_column_text(st, 1));
		snprintf(out->group, sizeof(out->group), "%s",
		    (const char *)sqlite3_column_text(st, 2));
	}
	store_done(st);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(ERR_AUTH, "invalid or revoked token");
	return 0;
}

int
store_auth(struct store_actor *out, struct store *s, const char *secret)
{
	char hash[65];

	memset(out, 0, sizeof(*out));
	if (secret == NULL)
		return err_set(ERR_AUTH, "missing token");
	if (store_secret_is_wellformed(secret, STORE_TOKEN_PREFIX)) {
		store_secret_hash(hash, secret);
		return store_auth_user(out, s, hash);
	}
	if (store_secret_is_wellformed(secret, STORE_RUNNER_KEY_PREFIX)) {
		store_secret_hash(hash, secret);
		return store_auth_runner(out, s, hash);
	}
	return err_set(ERR_AUTH, "invalid or revoked token");
}
