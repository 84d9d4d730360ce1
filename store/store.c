/*
 * The store's connection: opening in WAL mode, the prepared-statement
 * cache, rows as JSON, transactions, names and secrets.  See
 * include/slipway/store.h and store/store_int.h.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "store_int.h"

int
store_sqlerr(struct store *s, int rc, const char *what)
{
	const char *msg = s && s->db ? sqlite3_errmsg(s->db) :
	    sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return err_set(ERR_CONFLICT, "cannot %s: the store is busy "
		    "(%s); try again", what, msg);
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return err_set(ERR_EXISTS, "cannot %s: it exists "
			    "already", what);
		return err_set(ERR_INVALID, "cannot %s: %s", what, msg);
	case SQLITE_TOOBIG:
		return err_set(ERR_TOOBIG, "cannot %s: %s", what, msg);
	default:
		return err_set(ERR_IO, "cannot %s: %s", what, msg);
	}
}

static int
store_pragma(struct store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot set up the store (%s): %s", sql,
		    msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return rc;
	}
	return 0;
}

int
store_open(struct store **out, const char *path)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot open the store '%s': %s", path,
		    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	/* WAL: readers never wait for the writer; NORMAL sync is durable
	 * across a process crash and loses at most the last commit on power
	 * loss, which the WAL docs call safe for this mode. */
	if ((rc = store_pragma(s, "PRAGMA journal_mode=WAL")) < 0 ||
	    (rc = store_pragma(s, "PRAGMA synchronous=NORMAL")) < 0 ||
	    (rc = store_pragma(s, "PRAGMA foreign_keys=ON")) < 0)
		goto fail;
	if ((rc = store_schema_migrate(s)) < 0) {
		err_wrap(rc, "cannot open the store '%s'", path);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < STORE_STMT_SLOTS; i++)
		sqlite3_finalize(s->stmts[i].st);
	s->read_depth = 0;
	if (s->in_tx)
		store_tx_end(s, ERR_IO);
	sqlite3_close(s->db);
	free(s);
}

void
store_set_write_lock(struct store *s, void *pthread_mutex)
{
	s->wlock = pthread_mutex;
}

int
store_schema_version(struct store *s)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK)
		return store_sqlerr(s, sqlite3_errcode(s->db),
		    "read the schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The slot for sql: where it is cached, or the empty slot to put it in. */
static int
store_slot(struct store *s, const char *sql)
{
	uintptr_t h = (uintptr_t)sql;
	int i;

	h ^= h >> 17;
	h *= 0x9e3779b1u;
	i = (int)(h % STORE_STMT_SLOTS);
	for (int n = 0; n < STORE_STMT_SLOTS; n++) {
		if (s->stmts[i].sql == sql || s->stmts[i].sql == NULL)
			return i;
		i = (i + 1) % STORE_STMT_SLOTS;
	}
	return -1;
}

static int
store_vprep(sqlite3_stmt **out, struct store *s, const char *sql,
    const char *fmt, va_list ap)
{
	sqlite3_stmt *st = NULL;
	int slot = store_slot(s, sql), rc, i = 1;

	if (slot >= 0 && s->stmts[slot].sql == sql) {
		st = s->stmts[slot].st;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	} else {
		rc = sqlite3_prepare_v3(s->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &st, NULL);
		if (rc != SQLITE_OK)
			return store_sqlerr(s, rc, "prepare a statement");
		if (slot >= 0) {
			s->stmts[slot].sql = sql;
			s->stmts[slot].st = st;
		} else {
			/* The cache is sized for every statement in the
			 * store; running out is a bug, not a failure. */
			sqlite3_finalize(st);
			return err_set(ERR_IO, "statement cache is full");
		}
	}
	for (const char *f = fmt; f && *f; f++, i++) {
		switch (*f) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(st, i, v, -1,
			    SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
			break;
		case 'n':
			rc = sqlite3_bind_int(st, i, va_arg(ap, int));
			break;
		default:
			return err_set(ERR_INVALID, "bad bind format '%c'", *f);
		}
		if (rc != SQLITE_OK)
			return store_sqlerr(s, rc, "bind a parameter");
	}
	*out = st;
	return 0;
}

int
store_prep(sqlite3_stmt **out, struct store *s, const char *sql,
    const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_vprep(out, s, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int
store_step(struct store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	rc = store_sqlerr(s, sqlite3_extended_errcode(s->db),
	    "query the store");
	sqlite3_reset(st);
	return rc;
}

void
store_done(sqlite3_stmt *st)
{
	if (st)
		sqlite3_reset(st);
}

int
store_exec(struct store *s, int *changes, const char *sql, const char *fmt,
    ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_vprep(&st, s, sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	while ((rc = store_step(s, st)) > 0)
		;
	if (rc == 0 && changes)
		*changes = sqlite3_changes(s->db);
	store_done(st);
	return rc;
}

int
store_query_rows(json_t **out, struct store *s, const char *sql,
    const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_vprep(&st, s, sql, fmt, ap);
	va_end(ap);
	return rc < 0 ? rc : store_rows_json(out, s, st);
}

int
store_query_row(json_t **out, struct store *s, const char *sql,
    const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = store_vprep(&st, s, sql, fmt, ap);
	va_end(ap);
	return rc < 0 ? rc : store_row1_json(out, s, st);
}

int
store_query_int(int64_t *out, struct store *s, const char *sql,
    const char *fmt, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int rc, more;

	va_start(ap, fmt);
	rc = store_vprep(&st, s, sql, fmt, ap);
	va_end(ap);
	if (rc < 0)
		return rc;
	if ((rc = store_step(s, st)) > 0) {
		if (out)
			*out = sqlite3_column_int64(st, 0);
		while ((more = store_step(s, st)) > 0)
			;
		if (more < 0)
			rc = more;
	}
	store_done(st);
	return rc;
}

static bool
store_suffix(const char *name, const char *suffix, size_t *stem)
{
	size_t n = strlen(name), m = strlen(suffix);

	if (n <= m || strcmp(name + n - m, suffix) != 0)
		return false;
	*stem = n - m;
	return true;
}

json_t *
store_row_json(sqlite3_stmt *st)
{
	json_t *obj = json_object();
	int n = sqlite3_column_count(st);

	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(st, i);
		int type = sqlite3_column_type(st, i);
		char key[128];
		size_t stem;
		json_t *v;

		snprintf(key, sizeof(key), "%s", name);
		if (store_suffix(name, "_json", &stem) && stem < sizeof(key)) {
			key[stem] = '\0';
			v = NULL;
			if (type == SQLITE_TEXT)
				v = json_loads((const char *)
				    sqlite3_column_text(st, i),
				    JSON_DECODE_ANY, NULL);
			if (v == NULL)
				v = json_null();
		} else if (store_suffix(name, "_bool", &stem) &&
		    stem < sizeof(key)) {
			key[stem] = '\0';
			v = json_boolean(sqlite3_column_int64(st, i) != 0);
		} else if (type == SQLITE_INTEGER) {
			v = json_integer(sqlite3_column_int64(st, i));
		} else if (type == SQLITE_FLOAT) {
			v = json_real(sqlite3_column_double(st, i));
		} else if (type == SQLITE_NULL) {
			v = json_null();
		} else {
			v = json_stringn((const char *)sqlite3_column_text(st,
			    i), (size_t)sqlite3_column_bytes(st, i));
			if (v == NULL)  /* not UTF-8: never stored by us */
				v = json_null();
		}
		json_object_set_new(obj, key, v);
	}
	return obj;
}

int
store_rows_json(json_t **out, struct store *s, sqlite3_stmt *st)
{
	json_t *arr = json_array();
	int rc;

	while ((rc = store_step(s, st)) > 0)
		json_array_append_new(arr, store_row_json(st));
	store_done(st);
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

int
store_row1_json(json_t **out, struct store *s, sqlite3_stmt *st)
{
	int rc = store_step(s, st);

	if (rc > 0)
		*out = store_row_json(st);
	store_done(st);
	if (rc == 0)
		return ERR_NOTFOUND;
	return rc < 0 ? rc : 0;
}

static int
store_tx_begin(struct store *s, const char *sql, bool write)
{
	int rc;

	if (s->in_tx && !write && s->read_only_tx) {
		s->read_depth++;
		return 0;
	}
	if (s->in_tx)
		return err_set(ERR_IO, "nested store transaction");
	if (write && s->wlock) {
		pthread_mutex_lock(s->wlock);
		s->wlocked = true;
	}
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = store_sqlerr(s, sqlite3_extended_errcode(s->db),
		    "start a transaction");
		if (s->wlocked) {
			s->wlocked = false;
			pthread_mutex_unlock(s->wlock);
		}
		return rc;
	}
	s->in_tx = true;
	s->read_only_tx = !write;
	return 0;
}

int
store_snapshot_begin(struct store *s)
{
	return store_tx_read(s);
}

void
store_snapshot_end(struct store *s)
{
	store_tx_end(s, 0);
}

int
store_tx_write(struct store *s)
{
	return store_tx_begin(s, "BEGIN IMMEDIATE", true);
}

int
store_tx_read(struct store *s)
{
	return store_tx_begin(s, "BEGIN", false);
}

int
store_tx_end(struct store *s, int rc)
{
	if (!s->in_tx)
		return rc;
	if (s->read_depth > 0) {
		s->read_depth--;
		return rc;
	}
	if (rc >= 0) {
		int src = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		if (src != SQLITE_OK) {
			rc = store_sqlerr(s, sqlite3_extended_errcode(s->db),
			    "commit");
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		}
	} else if (!sqlite3_get_autocommit(s->db)) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	}
	s->in_tx = false;
	if (s->wlocked) {
		s->wlocked = false;
		pthread_mutex_unlock(s->wlock);
	}
	return rc;
}

int
store_tx_end_json(struct store *s, int rc, json_t **out)
{
	rc = store_tx_end(s, rc);
	if (rc < 0 && out && *out) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

/* ---- ids ---- */

static int
store_id_of(int64_t *out, struct store *s, const char *sql, const char *what,
    const char *name)
{
	int rc = store_query_int(out, s, sql, "s", name);

	if (rc == 0)
		return err_set(ERR_NOTFOUND, "no such %s '%s'", what, name);
	return rc < 0 ? rc : 0;
}

int
store_user_id(int64_t *out, struct store *s, const char *name)
{
	return store_id_of(out, s, "SELECT id FROM users WHERE name = ?",
	    "user", name);
}

int
store_app_id(int64_t *out, struct store *s, const char *name)
{
	return store_id_of(out, s, "SELECT id FROM apps WHERE name = ?",
	    "app", name);
}

int
store_group_id(int64_t *out, struct store *s, const char *name)
{
	return store_id_of(out, s,
	    "SELECT id FROM deploy_groups WHERE name = ?", "group", name);
}

int
store_app_target_release(int64_t *out, struct store *s, int64_t app_id)
{
	int rc;

	*out = 0;
	rc = store_query_int(out, s, "SELECT target_release FROM apps"
	    " WHERE id = ?", "i", app_id);
	return rc < 0 ? rc : 0;
}

/* ---- secrets ---- */

void
store_secret_hash(char hash[65], const char *secret)
{
	char d[DIGEST_STR_MAX];

	digest_buf(d, DIGEST_SHA256, secret, strlen(secret));
	memcpy(hash, d + strlen("sha256:"), 65);
}

int
store_secret_new(char out[STORE_TOKEN_LEN], char hash[65], const char *prefix)
{
	unsigned char raw[32];
	size_t p = strlen(prefix);

	if (p != 4)
		return err_set(ERR_INVALID, "bad secret prefix '%s'", prefix);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_set(ERR_IO, "cannot get random bytes for a secret");
	memcpy(out, prefix, p);
	digest_hex(out + p, raw, sizeof(raw));
	store_secret_hash(hash, out);
	return 0;
}
