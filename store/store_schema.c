/*
 * Schema migrations, versioned in code.  PRAGMA user_version is the number
 * of migrations applied; store_open runs the missing ones, each in its own
 * BEGIN IMMEDIATE transaction with the version bump, so a crash mid-way
 * leaves the file at the last complete version.  A migration, once
 * shipped, is never edited: change the schema by adding one.
 *
 * tests/fixtures/store/store-v1.sql is a file written by version 1;
 * the unit tests open it and check the upgrade keeps every row.
 */
#include <stdio.h>

#include "slipway/err.h"
#include "store_int.h"

/* Version 1: users, tokens, keys, groups, apps, builds, configs, releases,
 * formations, runners. */
static const char store_v1[] =
	"CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  admin INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  hash TEXT NOT NULL UNIQUE,"
	"  label TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  last_used_at INTEGER,"
	"  revoked_at INTEGER);"
	"CREATE TABLE ssh_keys ("
	"  id INTEGER PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  fingerprint TEXT NOT NULL UNIQUE,"
	"  type TEXT NOT NULL,"
	"  public_key TEXT NOT NULL,"
	"  comment TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE deploy_groups ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE group_users ("
	"  group_id INTEGER NOT NULL REFERENCES deploy_groups(id)"
	"    ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  PRIMARY KEY (group_id, user_id));"
	"CREATE TABLE apps ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  owner_id INTEGER NOT NULL REFERENCES users(id),"
	"  deploy_branch TEXT NOT NULL DEFAULT 'main',"
	"  last_release INTEGER NOT NULL DEFAULT 0,"
	"  last_config INTEGER NOT NULL DEFAULT 0,"
	"  last_build INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE app_groups ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  group_id INTEGER NOT NULL REFERENCES deploy_groups(id),"
	"  PRIMARY KEY (app_id, group_id));"
	"CREATE TABLE collaborators ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	"  PRIMARY KEY (app_id, user_id));"
	"CREATE TABLE domains ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  domain TEXT NOT NULL UNIQUE);"
	"CREATE TABLE builds ("
	"  id INTEGER PRIMARY KEY,"
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  number INTEGER NOT NULL,"
	"  rev TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('pending', 'running', 'succeeded', 'failed')),"
	"  image TEXT,"
	"  digest TEXT,"
	"  slug_digest TEXT,"
	"  process_types TEXT NOT NULL DEFAULT '{}',"
	"  error TEXT,"
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  UNIQUE (app_id, number));"
	"CREATE TABLE configs ("
	"  id INTEGER PRIMARY KEY,"
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL,"
	"  vars TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (app_id, version));"
	"CREATE TABLE releases ("
	"  id INTEGER PRIMARY KEY,"
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  version INTEGER NOT NULL,"
	"  build_id INTEGER REFERENCES builds(id),"
	"  config_id INTEGER REFERENCES configs(id),"
	"  kind TEXT NOT NULL CHECK (kind IN ('config', 'deploy', 'rollback')),"
	"  rollback_of INTEGER,"
	"  summary TEXT NOT NULL,"
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (app_id, version));"
	"CREATE TABLE formations ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  type TEXT NOT NULL,"
	"  quantity INTEGER NOT NULL CHECK (quantity >= 0),"
	"  PRIMARY KEY (app_id, type));"
	"CREATE TABLE runners ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  group_id INTEGER NOT NULL REFERENCES deploy_groups(id),"
	"  key_hash TEXT NOT NULL UNIQUE,"
	"  created_at INTEGER NOT NULL,"
	"  last_heartbeat INTEGER);"
	"INSERT INTO deploy_groups (name, created_at)"
	"  VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER));";

/* Version 2: the schedule (which runner runs which container) and what
 * runners report back. */
static const char store_v2[] =
	"ALTER TABLE runners ADD COLUMN report TEXT NOT NULL DEFAULT '{}';"
	"ALTER TABLE runners ADD COLUMN reported_at INTEGER;"
	"CREATE TABLE assignments ("
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  group_id INTEGER NOT NULL REFERENCES deploy_groups(id)"
	"    ON DELETE CASCADE,"
	"  type TEXT NOT NULL,"
	"  idx INTEGER NOT NULL,"
	"  runner_id INTEGER REFERENCES runners(id) ON DELETE SET NULL,"
	"  PRIMARY KEY (app_id, group_id, type, idx));"
	"CREATE INDEX assignments_runner ON assignments (runner_id);";

/* Version 3: an app's incarnation, random at creation, so an app made
 * again under a destroyed one's name (and maybe its row id) is told
 * apart; caches of what never changes in an app key on it. */
static const char store_v3[] =
	"ALTER TABLE apps ADD COLUMN uid TEXT;"
	"UPDATE apps SET uid = lower(hex(randomblob(16)));"
	"CREATE UNIQUE INDEX apps_uid ON apps (uid);";

/* Version 4: tokens that expire (SSH session tokens and builds the
 * controller runs: minted per session, revoked when it ends, and dead
 * after their ttl even when nobody revokes them). */
static const char store_v4[] =
	"ALTER TABLE tokens ADD COLUMN expires_at INTEGER;"
	"CREATE INDEX tokens_expires ON tokens (expires_at)"
	"  WHERE expires_at IS NOT NULL;";

/* Version 5: the builds not finished, by when they were last heard
 * from, so the sweep for builders that stopped renewing their lease
 * (store_build_expire, every second) reads only those. */
static const char store_v5[] =
	"CREATE INDEX builds_unfinished ON builds (updated_at)"
	"  WHERE status IN ('pending', 'running');";

/* Version 6: pushes waiting to land (issue 18, break 5).  A push's build
 * is released only once git has moved the branch (docs/push.md, "Crash
 * consistency"); until then its row here says `waiting`, and how it ended
 * stays: `landed` with the release made, or `failed` with why. */
static const char store_v6[] =
	"CREATE TABLE landings ("
	"  build_id INTEGER PRIMARY KEY REFERENCES builds(id)"
	"    ON DELETE CASCADE,"
	"  app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,"
	"  ref TEXT NOT NULL,"
	"  state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN"
	"    ('waiting', 'landed', 'failed')),"
	"  release INTEGER,"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX landings_waiting ON landings (state)"
	"  WHERE state = 'waiting';";

/* Version 7: release states (issue 16).  A release is `pending` until
 * its rollout ends, then `live` or `failed` (with `reason`); only a live
 * one becomes the app's current release (current_release), and the
 * runners are given target_release: the newest release unless it failed,
 * else the current one, so a failed rollout leaves the previous release
 * serving and nothing revives it.  release_seq grows with every release
 * made or settled (the key of cached release lists).  superseded_by is
 * set on a release that failed only because a newer one came before it
 * went live (no fault of its own: a rollback may go to it).  Releases made
 * before this version count as live: the newest was current. */
static const char store_v7[] =
	"ALTER TABLE releases ADD COLUMN state TEXT NOT NULL DEFAULT 'live'"
	"  CHECK (state IN ('pending', 'live', 'failed'));"
	"ALTER TABLE releases ADD COLUMN reason TEXT;"
	"ALTER TABLE releases ADD COLUMN superseded_by INTEGER;"
	"ALTER TABLE apps ADD COLUMN current_release INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE apps ADD COLUMN target_release INTEGER NOT NULL"
	"  DEFAULT 0;"
	"ALTER TABLE apps ADD COLUMN release_seq INTEGER NOT NULL DEFAULT 0;"
	"UPDATE apps SET current_release = last_release,"
	"  target_release = last_release, release_seq = last_release;"
	"CREATE INDEX releases_pending ON releases (app_id)"
	"  WHERE state = 'pending';";

/* Version 8 (issue 16): an app's maintenance flag (`maintenance:on`):
 * its runners turn their proxies' maintenance on for it, which answers
 * 503 with a page of its own instead of passing requests to the app; and
 * the formation `ps:stop` stopped, which `ps:start` brings back (NULL:
 * not stopped). */
static const char store_v8[] =
	"ALTER TABLE apps ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0"
	"  CHECK (maintenance IN (0, 1));"
	"ALTER TABLE apps ADD COLUMN stopped_formation TEXT;";

/* Version 9 (issue 17): a runner key holds one session at a time.
 * session is a random id the controller gives at register and the runner
 * presents on every lease renewal; session_addr and session_since say
 * where and since when it is held; epoch grows with every register, and
 * the runner refuses answers of an older one (a stale long-poll). */
static const char store_v9[] =
	"ALTER TABLE runners ADD COLUMN session TEXT;"
	"ALTER TABLE runners ADD COLUMN session_addr TEXT;"
	"ALTER TABLE runners ADD COLUMN session_since INTEGER;"
	"ALTER TABLE runners ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;";

/* Version 10 (issue 15): an app's buildpacks (`buildpacks:add`, `:set`,
 * `:remove`, `:clear`), a JSON array of names and URLs in order, used
 * when the pushed tree names none; its stack (`stack:set`), NULL for the
 * home's default; a build's release command (Procfile `release:`); and
 * a release's release phase: NULL (none), `waiting` (for a runner),
 * `running` (one-off phase_run), `done` or `failed`.  A release waiting
 * or running its phase is pending and not yet the app's target, so no
 * container of it starts before the phase has succeeded. */
static const char store_v10[] =
	"ALTER TABLE apps ADD COLUMN buildpacks TEXT NOT NULL DEFAULT '[]';"
	"ALTER TABLE apps ADD COLUMN stack TEXT;"
	"ALTER TABLE builds ADD COLUMN release_command TEXT;"
	"ALTER TABLE releases ADD COLUMN phase TEXT CHECK (phase IN"
	"  ('waiting', 'running', 'done', 'failed'));"
	"ALTER TABLE releases ADD COLUMN phase_run TEXT;"
	"CREATE INDEX releases_phase ON releases (app_id)"
	"  WHERE phase IN ('waiting', 'running');";

static const char *const store_migrations[] = {
	store_v1,
	store_v2,
	store_v3,
	store_v4,
	store_v5,
	store_v6,
	store_v7,
	store_v8,
	store_v9,
	store_v10,
};

_Static_assert(sizeof(store_migrations) / sizeof(store_migrations[0]) ==
    STORE_SCHEMA_VERSION, "STORE_SCHEMA_VERSION is the number of migrations");

static int
store_migrate_one(struct store *s, int to)
{
	char bump[64], *msg = NULL;
	int rc, have;

	if ((rc = store_tx_write(s)) < 0)
		return rc;
	/* Another process may have migrated while we waited for the lock. */
	have = store_schema_version(s);
	if (have < 0) {
		rc = have;
		goto done;
	}
	if (have >= to)
		goto done;
	snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", to);
	if (sqlite3_exec(s->db, store_migrations[to - 1], NULL, NULL, &msg)
	    != SQLITE_OK ||
	    sqlite3_exec(s->db, bump, NULL, NULL, &msg) != SQLITE_OK) {
		rc = err_set(ERR_IO, "schema migration to version %d failed: "
		    "%s", to, msg ? msg : "unknown error");
		sqlite3_free(msg);
	}
done:
	return store_tx_end(s, rc);
}

int
store_schema_migrate(struct store *s)
{
	int have = store_schema_version(s), rc;

	if (have < 0)
		return have;
	if (have > STORE_SCHEMA_VERSION)
		return err_set(ERR_UNSUPPORTED, "the store has schema version "
		    "%d, newer than this slipway knows (%d); upgrade slipway",
		    have, STORE_SCHEMA_VERSION);
	for (int v = have + 1; v <= STORE_SCHEMA_VERSION; v++)
		if ((rc = store_migrate_one(s, v)) < 0)
			return rc;
	/* `default` always exists, whatever was done to the file. */
	return store_exec(s, NULL,
	    "INSERT OR IGNORE INTO deploy_groups (name, created_at)"
	    " VALUES ('default', CAST(strftime('%s', 'now') AS INTEGER))",
	    NULL);
}
