/*
 * Private to the store (store/store*.c): the connection, its cache of
 * prepared statements, and the helpers every store file uses.
 */
#ifndef SLIPWAY_STORE_INT_H
#define SLIPWAY_STORE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include "slipway/store.h"

#define STORE_STMT_SLOTS 256
#define STORE_BUSY_MS 10000

/*
 * One SQLite connection.  Invariant: every statement in stmts was prepared
 * on db from the SQL text at the same address (the SQL strings are string
 * literals, so the address names the statement); in_tx is true between a
 * store_tx_* begin and its commit or rollback, and wlocked only while the
 * shared write mutex is held by this connection.
 */
struct store {
	sqlite3 *db;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} stmts[STORE_STMT_SLOTS];
	void *wlock;            /* pthread_mutex_t *, shared, not owned */
	bool wlocked;
	bool in_tx;
	int read_depth;         /* nested store_tx_read inside a read tx */
	bool read_only_tx;      /* in_tx came from store_tx_read */
};

/*
 * Prepare (or reuse) the statement for sql, reset it, and bind parameters
 * described by fmt, one character each:
 *   s  const char *   (NULL binds NULL)
 *   i  int64_t
 *   n  int
 * sql must be a string literal (the cache keys on its address).
 */
int store_prep(sqlite3_stmt **out, struct store *s, const char *sql,
    const char *fmt, ...);
/* Step: 1 for a row, 0 when done, a negative code (message set) on error. */
int store_step(struct store *s, sqlite3_stmt *st);
/* Reset a statement so it holds no read snapshot. */
void store_done(sqlite3_stmt *st);
/* Prepare, bind, run to completion.  *changes (may be NULL) gets the row
 * count changed. */
int store_exec(struct store *s, int *changes, const char *sql,
    const char *fmt, ...);

/* The row as a JSON object keyed by column name.  Columns named *_json
 * hold JSON text and are parsed (key without the suffix); *_bool become
 * true/false; NULL becomes null. */
json_t *store_row_json(sqlite3_stmt *st);
/* All rows of the statement as an array of store_row_json objects. */
int store_rows_json(json_t **out, struct store *s, sqlite3_stmt *st);
/* The first row as an object; ERR_NOTFOUND (no message) when none. */
int store_row1_json(json_t **out, struct store *s, sqlite3_stmt *st);

/* Statement runners: prepare sql and bind fmt's parameters as
 * store_prep does, run the statement and reset it.
 *   store_query_rows: every row, as store_rows_json.
 *   store_query_row: the first row, as store_row1_json (ERR_NOTFOUND, no
 *     message, when there is none).
 *   store_query_int: the first column of the first row into *out (when
 *     out is not NULL; left alone when there is no row), then steps on to
 *     the end, so an UPDATE ... RETURNING is finished before the next
 *     statement; 1 when there was a row, 0 when none.
 * All return a negative code (message set) on error. */
int store_query_rows(json_t **out, struct store *s, const char *sql,
    const char *fmt, ...);
int store_query_row(json_t **out, struct store *s, const char *sql,
    const char *fmt, ...);
int store_query_int(int64_t *out, struct store *s, const char *sql,
    const char *fmt, ...);

/* Map a SQLite result to our codes and set the message
 * ("cannot <what>: <sqlite message>"). */
int store_sqlerr(struct store *s, int rc, const char *what);

/* Transactions.  store_tx_write takes the shared write mutex (if any) and
 * runs BEGIN IMMEDIATE, so the write lock is held from the first read:
 * numbers read inside are the numbers written.  store_tx_read is a plain
 * BEGIN (one snapshot for several reads); inside another read transaction
 * it nests (and its end does nothing), inside a write one it is refused,
 * as is a write inside a read.  store_tx_end commits when
 * rc >= 0 and rolls back otherwise, and returns rc (or the commit's
 * error). */
int store_tx_write(struct store *s);
int store_tx_read(struct store *s);
int store_tx_end(struct store *s, int rc);
/* store_tx_end for a function that answers with *out: when the end is a
 * failure, *out is freed and set to NULL (nothing not stored is
 * returned).  out may be NULL; *out must be NULL or an answer. */
int store_tx_end_json(struct store *s, int rc, json_t **out);

/* Ids by name; ERR_NOTFOUND with "no such <thing> 'name'" otherwise. */
int store_user_id(int64_t *out, struct store *s, const char *name);
int store_app_id(int64_t *out, struct store *s, const char *name);
int store_group_id(int64_t *out, struct store *s, const char *name);
/* The app's target release: what its runners are to run, the newest
 * release unless that one failed, else the current (live) one; 0: none. */
int store_app_target_release(int64_t *out, struct store *s, int64_t app_id);

/* The migrations (store/store_schema.c): migration i (1-based) takes
 * the schema from version i-1 to i. */
int store_schema_migrate(struct store *s);

/* Release numbering, shared by config changes, deploys and rollbacks.
 * Must run inside store_tx_write.  Allocates vN+1 for app_id and inserts
 * it; *out_version is N+1. */
int store_release_insert(int64_t *out_version, struct store *s,
    int64_t app_id, int64_t build_id, int64_t config_id, const char *kind,
    int64_t rollback_of, const char *summary, const char *who);

/* 1 when a release of build_id (0: none) would run something: the
 * formation has a process of the build's types and the app a group;
 * else 0. */
int store_release_runs(struct store *s, int64_t app_id, int64_t build_id);

/* 32 random bytes as prefix + 64 hex into out; sha256 hex of the whole
 * string into hash (65 bytes). */
int store_secret_new(char out[STORE_TOKEN_LEN], char hash[65],
    const char *prefix);
void store_secret_hash(char hash[65], const char *secret);

#endif
