/*
 * Config versions, builds, releases and formations.
 *
 * A release is pending until its rollout ends, then live or failed
 * (store_release_settle); only a live one becomes the app's current
 * release.  The runners are given the app's target release: the newest
 * one unless it failed, else the current one.  A new release starts from
 * the target's build and config: after a failed v10, config:set makes v11
 * of v9's build, not of the broken one; while v10 rolls out, of v10's.
 * A rollback to vK makes vN+1 point at vK's build and config, so the next
 * config change starts from what is running.  Numbers (release version,
 * config version, build number) come from counters on the app's row,
 * bumped inside BEGIN IMMEDIATE, so they are dense and never reused even
 * with writers in several processes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

#define TS(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"
#define BUILD_REV_MAX 200
#define BUILD_ERROR_MAX 4096
#define BUILD_IMAGE_MAX 512
#define BUILD_COMMAND_MAX 4096

/* What an app runs now, or is rolling out: its target release's build and
 * config. */
struct store_current {
	int64_t release;        /* 0: none */
	int64_t build_id;       /* 0: none */
	int64_t config_id;      /* 0: none */
	int64_t config_version;
	json_t *values;         /* owned; {} when no config */
	json_t *process_types;  /* owned; NULL when no build */
};

static void
store_current_free(struct store_current *c)
{
	json_decref(c->values);
	json_decref(c->process_types);
}

static int
store_current_get(struct store_current *out, struct store *s, int64_t app_id)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_prep(&st, s, "SELECT r.version, r.build_id,"
	    " r.config_id, c.version, c.vars, b.process_types"
	    " FROM apps a JOIN releases r ON r.app_id = a.id"
	    "  AND r.version = a.target_release"
	    " LEFT JOIN configs c ON c.id = r.config_id"
	    " LEFT JOIN builds b ON b.id = r.build_id"
	    " WHERE a.id = ?", "i", app_id)) < 0)
		return rc;
	if ((rc = store_step(s, st)) > 0) {
		out->release = sqlite3_column_int64(st, 0);
		out->build_id = sqlite3_column_int64(st, 1);
		out->config_id = sqlite3_column_int64(st, 2);
		out->config_version = sqlite3_column_int64(st, 3);
		if (sqlite3_column_type(st, 4) == SQLITE_TEXT)
			out->values = json_loads((const char *)
			    sqlite3_column_text(st, 4), 0, NULL);
		if (sqlite3_column_type(st, 5) == SQLITE_TEXT)
			out->process_types = json_loads((const char *)
			    sqlite3_column_text(st, 5), 0, NULL);
		rc = 0;
	}
	store_done(st);
	if (out->values == NULL)
		out->values = json_object();
	return rc;
}

int
store_release_runs(struct store *s, int64_t app_id, int64_t build_id)
{
	if (build_id == 0)
		return 0;
	return store_query_int(NULL, s, "SELECT 1"
	    " FROM formations f JOIN builds b ON b.id = ?2"
	    " WHERE f.app_id = ?1 AND f.quantity > 0"
	    "  AND json_type(b.process_types, '$.\"' || f.type || '\"')"
	    "   IS NOT NULL"
	    "  AND EXISTS (SELECT 1 FROM app_groups WHERE app_id = ?1)",
	    "ii", app_id, build_id);
}

/* 1 when a release of build_id with config_id runs a release phase: the
 * build has a release command and the config does not set
 * STORE_RELEASE_PHASE_SKIP to 1; else 0. */
static int
store_release_phased(struct store *s, int64_t build_id, int64_t config_id)
{
	if (build_id == 0)
		return 0;
	return store_query_int(NULL, s, "SELECT 1 FROM builds b"
	    " LEFT JOIN configs c ON c.id = ?2"
	    " WHERE b.id = ?1 AND b.release_command IS NOT NULL"
	    "  AND coalesce(json_extract(c.vars, '$." STORE_RELEASE_PHASE_SKIP
	    "'), '') != '1'", "ii", build_id, config_id);
}

int
store_release_insert(int64_t *out_version, struct store *s, int64_t app_id,
    int64_t build_id, int64_t config_id, const char *kind,
    int64_t rollback_of, const char *summary, const char *who)
{
	const char *state = "live", *phase = NULL;
	char why[64];
	int64_t v = 0;
	int rc;

	if ((rc = store_query_int(&v, s, "UPDATE apps SET last_release ="
	    " last_release + 1, release_seq = release_seq + 1 WHERE id = ?"
	    " RETURNING last_release", "i", app_id)) < 0)
		return rc;
	if (v == 0)
		return err_set(ERR_NOTFOUND, "app %" PRId64 " is gone", app_id);
	/* A release still rolling out never will now. */
	snprintf(why, sizeof(why), "superseded by v%" PRId64 " before it "
	    "went live", v);
	if ((rc = store_exec(s, NULL, "UPDATE releases SET state = 'failed',"
	    " reason = ?, superseded_by = ? WHERE app_id = ?"
	    " AND state = 'pending'", "sii", why, v, app_id)) < 0)
		return rc;
	/* A release with a release command runs it first (phase waiting),
	 * pending and not the target meanwhile: store_release_phase_end
	 * makes it the target.  Else one with nothing to run has no
	 * rollout to wait for: it is live at once. */
	if ((rc = store_release_phased(s, build_id, config_id)) < 0)
		return rc;
	if (rc > 0) {
		phase = "waiting";
		state = "pending";
	} else if ((rc = store_release_runs(s, app_id, build_id)) < 0) {
		return rc;
	} else if (rc > 0) {
		state = "pending";
	}
	if ((rc = store_exec(s, NULL, "INSERT INTO releases (app_id, version,"
	    " build_id, config_id, kind, rollback_of, summary, created_by,"
	    " created_at, state, phase) VALUES (?, ?, nullif(?, 0),"
	    " nullif(?, 0), ?, nullif(?, 0), ?, ?, ?, ?, ?)", "iiiisississ",
	    app_id, v, build_id, config_id, kind, rollback_of, summary, who,
	    (int64_t)time(NULL), state, phase)) < 0)
		return rc;
	if (phase) {
		/* the target stays: nothing of v starts before its phase */
		*out_version = v;
		return 0;
	}
	if ((rc = store_exec(s, NULL, "UPDATE apps SET target_release = ?1,"
	    " current_release = CASE WHEN ?2 THEN ?1 ELSE current_release END"
	    " WHERE id = ?3", "iii", v, (int64_t)(strcmp(state, "live") == 0),
	    app_id)) < 0)
		return rc;
	*out_version = v;
	return 0;
}

int
store_release_settle(bool *changed, struct store *s, const char *app,
    int64_t version, enum store_release_end end, const char *reason)
{
	bool live = end != STORE_RELEASE_FAILED;
	int64_t aid, bid = 0;
	int n = 0, rc;

	*changed = false;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0)
		goto done;
	/* Nothing ran because nothing is to run, not because the schedule
	 * has not caught up with a release just made. */
	if (end == STORE_RELEASE_IDLE && ((rc = store_query_int(&bid, s,
	    "SELECT coalesce(build_id, 0) FROM releases WHERE app_id = ?"
	    " AND version = ?", "ii", aid, version)) < 0 ||
	    (rc = store_release_runs(s, aid, bid)) != 0))
		goto done;
	if ((rc = store_exec(s, &n, "UPDATE releases SET state = ?,"
	    " reason = ? WHERE app_id = ? AND version = ?"
	    " AND state = 'pending'", "ssii", live ? "live" : "failed",
	    live ? NULL : reason, aid, version)) < 0 || n == 0)
		goto done;
	/* Live: it is the current release.  Failed: the runners go back
	 * to the current one, which never stopped serving. */
	if (live)
		rc = store_exec(s, NULL, "UPDATE apps SET current_release = ?,"
		    " release_seq = release_seq + 1 WHERE id = ?", "ii",
		    version, aid);
	else
		rc = store_exec(s, NULL, "UPDATE apps SET target_release ="
		    " CASE WHEN target_release = ? THEN current_release"
		    " ELSE target_release END, release_seq = release_seq + 1"
		    " WHERE id = ?", "ii", version, aid);
	*changed = rc == 0;
done:
	return store_tx_end(s, rc);
}

int
store_release_pending(json_t **out, struct store *s)
{
	return store_query_rows(out, s, "SELECT a.name AS app,"
	    " r.version AS release FROM releases r"
	    " JOIN apps a ON a.id = r.app_id AND a.target_release = r.version"
	    " WHERE r.state = 'pending' ORDER BY a.name", NULL);
}

#define RELEASE_COLUMNS \
	"r.version AS version, r.kind AS kind, r.summary AS summary," \
	" b.number AS build, b.rev AS rev, b.image AS image," \
	" b.digest AS digest, c.version AS config_version," \
	" r.rollback_of AS rollback_of, r.created_by AS created_by," \
	" " TS("r.created_at") " AS created_at, r.state AS state," \
	" r.reason AS reason, r.phase AS phase, r.phase_run AS phase_run," \
	" b.release_command AS release_command," \
	" r.version = (SELECT current_release" \
	"  FROM apps WHERE id = r.app_id) AS current_bool"

static int
store_release_json(json_t **out, struct store *s, int64_t app_id,
    int64_t version, bool with_config)
{
	int rc = store_query_row(out, s, "SELECT " RELEASE_COLUMNS ","
	    " b.process_types AS process_types_json, c.vars AS config_json"
	    " FROM releases r LEFT JOIN builds b ON b.id = r.build_id"
	    " LEFT JOIN configs c ON c.id = r.config_id"
	    " WHERE r.app_id = ? AND r.version = ?", "ii", app_id, version);

	if (rc == ERR_NOTFOUND)
		return err_set(rc, "no release v%" PRId64, version);
	if (rc == 0) {
		if (json_is_null(json_object_get(*out, "config")))
			json_object_set_new(*out, "config", json_object());
		if (!with_config) {
			json_object_del(*out, "config");
			json_object_del(*out, "process_types");
		}
	}
	return rc;
}

/* ---- config ---- */

int
store_config_get(json_t **out, struct store *s, const char *app)
{
	struct store_current cur;
	int64_t aid;
	int rc;

	*out = NULL;
	if ((rc = store_tx_read(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_current_get(&cur, s, aid)) < 0)
		goto done;
	*out = json_pack("{sIsO}", "version", (json_int_t)cur.config_version,
	    "values", cur.values);
	store_current_free(&cur);
done:
	return store_tx_end_json(s, rc, out);
}

int
store_config_change(json_t **out, struct store *s, const char *app,
    json_t *changes, const char *who)
{
	struct store_current cur = { 0 };
	json_t *next = NULL;
	char *vars = NULL, *summary = NULL;
	int64_t aid, cversion = 0, version;
	bool changed = false;
	int rc;

	*out = NULL;
	/* Refuse bad input before taking the write lock. */
	if ((rc = store_release_config_apply(&next, &changed, NULL,
	    changes)) < 0)
		return rc;
	json_decref(next);
	next = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_current_get(&cur, s, aid)) < 0 ||
	    (rc = store_release_config_apply(&next, &changed, cur.values,
	    changes)) < 0 || !changed)
		goto done;
	summary = store_release_summary_config(cur.values, changes);
	vars = json_dumps(next, JSON_COMPACT | JSON_SORT_KEYS);
	if ((rc = store_query_int(&cversion, s, "UPDATE apps SET last_config ="
	    " last_config + 1 WHERE id = ? RETURNING last_config", "i",
	    aid)) < 0)
		goto done;
	if ((rc = store_exec(s, NULL, "INSERT INTO configs (app_id, version,"
	    " vars, created_by, created_at) VALUES (?, ?, ?, ?, ?)", "iissi",
	    aid, cversion, vars, who, (int64_t)time(NULL))) < 0)
		goto done;
	if ((rc = store_release_insert(&version, s, aid, cur.build_id,
	    sqlite3_last_insert_rowid(s->db), "config", 0, summary, who)) < 0)
		goto done;
	rc = store_release_json(out, s, aid, version, false);
done:
	rc = store_tx_end_json(s, rc, out);
	store_current_free(&cur);
	json_decref(next);
	free(vars);
	free(summary);
	return rc;
}

/* ---- builds ---- */

#define BUILD_COLUMNS \
	"b.number AS number, b.rev AS rev, b.status AS status," \
	" b.image AS image, b.digest AS digest, b.slug_digest AS slug_digest," \
	" b.process_types AS process_types_json, b.error AS error," \
	" b.created_by AS created_by, " TS("b.created_at") " AS created_at," \
	" " TS("b.updated_at") " AS updated_at"

/* A git revision as a build may name it: a branch, tag or commit id. */
static bool
store_rev_is_valid(const char *rev)
{
	size_t n = strlen(rev);

	if (n == 0 || n > BUILD_REV_MAX || rev[0] == '-' || rev[0] == '/' ||
	    strstr(rev, "..") || strstr(rev, "//") || rev[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = rev[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._/-", c)))
			return false;
	}
	return true;
}

static int
store_build_json(json_t **out, struct store *s, int64_t app_id,
    int64_t number)
{
	int rc = store_query_row(out, s, "SELECT " BUILD_COLUMNS
	    " FROM builds b WHERE b.app_id = ? AND b.number = ?", "ii", app_id,
	    number);

	if (rc == ERR_NOTFOUND)
		return err_set(rc, "no build %" PRId64, number);
	return rc;
}

int
store_build_create(json_t **out, struct store *s, const char *app,
    const char *rev, const char *who)
{
	sqlite3_stmt *st;
	int64_t aid, number = 0, now = (int64_t)time(NULL);
	char *branch = NULL;
	int rc;

	*out = NULL;
	if (rev && !store_rev_is_valid(rev))
		return err_set(ERR_INVALID, "invalid revision '%.64s': use a "
		    "branch, tag or commit id", rev);
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0)
		goto done;
	if ((rc = store_prep(&st, s, "UPDATE apps SET last_build ="
	    " last_build + 1 WHERE id = ? RETURNING last_build, deploy_branch",
	    "i", aid)) < 0)
		goto done;
	if ((rc = store_step(s, st)) > 0) {
		number = sqlite3_column_int64(st, 0);
		branch = xstrdup((const char *)sqlite3_column_text(st, 1));
		while ((rc = store_step(s, st)) > 0)
			;
	}
	store_done(st);
	if (rc < 0)
		goto done;
	if ((rc = store_exec(s, NULL, "INSERT INTO builds (app_id, number,"
	    " rev, status, created_by, created_at, updated_at)"
	    " VALUES (?, ?, ?, 'pending', ?, ?, ?)", "iissii", aid, number,
	    rev ? rev : branch, who, now, now)) < 0)
		goto done;
	rc = store_build_json(out, s, aid, number);
done:
	free(branch);
	return store_tx_end_json(s, rc, out);
}

int
store_build_get(json_t **out, struct store *s, const char *app,
    int64_t number)
{
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	return store_build_json(out, s, aid, number);
}

int
store_build_list(json_t **out, struct store *s, const char *app)
{
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	return store_query_rows(out, s, "SELECT " BUILD_COLUMNS " FROM builds b"
	    " WHERE b.app_id = ? ORDER BY b.number DESC", "i", aid);
}

/* Check the fields of a build update; on success *status is the new
 * status (the old one when not given). */
static int
store_build_update_check(json_t *u, const char **status, const char *old)
{
	static const char *const fields[] = { "status", "rev", "image",
	    "digest", "slug_digest", "process_types", "error", "land",
	    "release_command", NULL };
	const char *key, *to;
	json_t *v;

	if (!json_is_object(u))
		return err_set(ERR_INVALID, "a build update is an object");
	json_object_foreach(u, key, v) {
		bool known = false;
		for (int i = 0; fields[i]; i++)
			known = known || strcmp(key, fields[i]) == 0;
		if (!known)
			return err_set(ERR_INVALID, "unknown build field "
			    "'%.40s'", key);
		if (strcmp(key, "process_types") != 0 && !json_is_string(v))
			return err_set(ERR_INVALID, "build field '%s' must be "
			    "a string", key);
	}
	to = json_string_value(json_object_get(u, "status"));
	if (to == NULL)
		to = old;
	if (strcmp(to, "pending") && strcmp(to, "running") &&
	    strcmp(to, "succeeded") && strcmp(to, "failed"))
		return err_set(ERR_INVALID, "build status is pending, running, "
		    "succeeded or failed, not '%.20s'", to);
	if (!strcmp(old, "succeeded") || !strcmp(old, "failed"))
		return err_set(ERR_CONFLICT, "the build has %s already", old);
	if (!strcmp(old, "running") && !strcmp(to, "pending"))
		return err_set(ERR_CONFLICT, "a running build cannot go back "
		    "to pending");
	if ((v = json_object_get(u, "rev")) &&
	    !store_rev_is_valid(json_string_value(v)))
		return err_set(ERR_INVALID, "invalid revision");
	if ((v = json_object_get(u, "image")) &&
	    (json_string_length(v) == 0 ||
	    json_string_length(v) > BUILD_IMAGE_MAX ||
	    strpbrk(json_string_value(v), " \t\r\n")))
		return err_set(ERR_INVALID, "invalid image reference");
	if (((v = json_object_get(u, "digest")) &&
	    !digest_is_valid(json_string_value(v))) ||
	    ((v = json_object_get(u, "slug_digest")) &&
	    !digest_is_valid(json_string_value(v))))
		return err_set(ERR_INVALID, "digests are sha256:<64 hex>");
	if ((v = json_object_get(u, "release_command")) &&
	    (json_string_length(v) == 0 ||
	    json_string_length(v) > BUILD_COMMAND_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)))
		return err_set(ERR_INVALID, "the release command is a "
		    "non-empty string of at most %d bytes", BUILD_COMMAND_MAX);
	if ((v = json_object_get(u, "error")) &&
	    json_string_length(v) > BUILD_ERROR_MAX)
		return err_set(ERR_TOOBIG, "build error is over %d bytes",
		    BUILD_ERROR_MAX);
	if ((v = json_object_get(u, "process_types"))) {
		json_t *cmd;
		if (!json_is_object(v) ||
		    json_object_size(v) > STORE_PROC_TYPES_MAX)
			return err_set(ERR_INVALID, "process_types is an "
			    "object of up to %d TYPE: \"command\"",
			    STORE_PROC_TYPES_MAX);
		json_object_foreach(v, key, cmd) {
			if (!name_proc_type_is_valid(key))
				return err_set(ERR_INVALID, "invalid process "
				    "type '%.40s'", key);
			size_t n = json_string_length(cmd);
			if (!json_is_string(cmd) || n == 0 ||
			    n > BUILD_COMMAND_MAX ||
			    strlen(json_string_value(cmd)) != n)
				return err_set(ERR_INVALID, "command of "
				    "process type '%s' must be a non-empty "
				    "string", key);
		}
	}
	if ((v = json_object_get(u, "land")) && (strcmp(to, "succeeded") ||
	    strncmp(json_string_value(v), "refs/heads/", 11) ||
	    !store_rev_is_valid(json_string_value(v))))
		return err_set(ERR_INVALID, "'land' is the branch a push "
		    "moves (refs/heads/NAME), with status succeeded");
	if (!strcmp(to, "succeeded") && !strcmp(old, "pending") &&
	    !json_object_get(u, "digest"))
		return err_set(ERR_INVALID, "a succeeded build needs its "
		    "image and digest");
	*status = to;
	return 0;
}

/* Make the deploy release of a succeeded build (its JSON in build) with
 * the app's current config, inside store_tx_write, by who (NULL: whoever
 * made the build); *out is the release. */
static int
store_build_release(json_t **out, struct store *s, int64_t aid, int64_t bid,
    json_t *build, const char *who)
{
	struct store_current cur = { 0 };
	char *summary = NULL;
	int64_t version;
	int rc;

	if ((rc = store_current_get(&cur, s, aid)) < 0)
		goto done;
	summary = store_release_summary_deploy(json_string_value(
	    json_object_get(build, "rev")));
	/* First deploy of an app that has a web process: run one, as
	 * Heroku and Deis do.  Later deploys keep the formation.  Before
	 * the release, which is pending only when something runs. */
	if (json_object_get(json_object_get(build, "process_types"),
	    "web") && (rc = store_exec(s, NULL, "INSERT INTO formations"
	    " (app_id, type, quantity) SELECT ?1, 'web', 1 WHERE NOT"
	    " EXISTS (SELECT 1 FROM formations WHERE app_id = ?1)",
	    "i", aid)) < 0)
		goto done;
	if ((rc = store_release_insert(&version, s, aid, bid, cur.config_id,
	    "deploy", 0, summary, who ? who : json_string_value(
	    json_object_get(build, "created_by")))) < 0)
		goto done;
	rc = store_release_json(out, s, aid, version, false);
done:
	store_current_free(&cur);
	free(summary);
	return rc;
}

int
store_build_update(json_t **out, struct store *s, const char *app,
    int64_t number, json_t *update, const char *who)
{
	sqlite3_stmt *st;
	json_t *build = NULL, *release = NULL;
	const char *to = NULL, *land = NULL;
	char *old = NULL, *pt = NULL;
	int64_t aid, bid = 0;
	int rc;

	*out = NULL;
	if (json_is_object(update) && json_object_get(update, "landed")) {
		/* {"landed": REF}: git has moved REF to the build's commit. */
		const char *ref = json_string_value(json_object_get(update,
		    "landed"));
		if (ref == NULL || json_object_size(update) != 1)
			return err_set(ERR_INVALID, "'landed' is the branch git "
			    "moved, alone in the update");
		return store_landing_end(out, s, app, number, ref, true, NULL);
	}
	if (json_is_object(update) && json_object_get(update, "release")) {
		/* {"release": REF}: the push is released before git moves
		 * REF, so a rollout that fails can still reject it. */
		const char *ref = json_string_value(json_object_get(update,
		    "release"));
		if (ref == NULL || json_object_size(update) != 1)
			return err_set(ERR_INVALID, "'release' is the branch the "
			    "push moves, alone in the update");
		return store_landing_release(out, s, app, number, ref);
	}
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0)
		goto done;
	if ((rc = store_prep(&st, s, "SELECT id, status FROM builds"
	    " WHERE app_id = ? AND number = ?", "ii", aid, number)) < 0)
		goto done;
	if ((rc = store_step(s, st)) > 0) {
		bid = sqlite3_column_int64(st, 0);
		old = xstrdup((const char *)sqlite3_column_text(st, 1));
	}
	store_done(st);
	if (rc == 0)
		rc = err_set(ERR_NOTFOUND, "no build %" PRId64, number);
	if (rc < 0 || (rc = store_build_update_check(update, &to, old)) < 0)
		goto done;
	if (json_object_get(update, "process_types"))
		pt = json_dumps(json_object_get(update, "process_types"),
		    JSON_COMPACT | JSON_SORT_KEYS);
	if ((rc = store_exec(s, NULL, "UPDATE builds SET status = ?,"
	    " rev = coalesce(?, rev), image = coalesce(?, image),"
	    " digest = coalesce(?, digest),"
	    " slug_digest = coalesce(?, slug_digest),"
	    " process_types = coalesce(?, process_types),"
	    " release_command = coalesce(?, release_command),"
	    " error = coalesce(?, error), updated_at = ? WHERE id = ?",
	    "ssssssssii", to,
	    json_string_value(json_object_get(update, "rev")),
	    json_string_value(json_object_get(update, "image")),
	    json_string_value(json_object_get(update, "digest")),
	    json_string_value(json_object_get(update, "slug_digest")), pt,
	    json_string_value(json_object_get(update, "release_command")),
	    json_string_value(json_object_get(update, "error")),
	    (int64_t)time(NULL), bid)) < 0)
		goto done;
	if ((rc = store_build_json(&build, s, aid, number)) < 0)
		goto done;
	if (strcmp(to, "succeeded") == 0) {
		if (json_is_null(json_object_get(build, "image")) ||
		    json_is_null(json_object_get(build, "digest"))) {
			rc = err_set(ERR_INVALID, "a succeeded build needs its "
			    "image and digest");
			goto done;
		}
		land = json_string_value(json_object_get(update, "land"));
		/* A push's build waits for git to move the branch; anything
		 * else (a CI build) is released now. */
		if (land)
			rc = store_exec(s, NULL, "INSERT INTO landings (build_id,"
			    " app_id, ref, created_at) VALUES (?, ?, ?, ?)",
			    "iisi", bid, aid, land, (int64_t)time(NULL));
		else
			rc = store_build_release(&release, s, aid, bid, build,
			    who);
		if (rc < 0)
			goto done;
	}
	*out = json_pack("{sOso}", "build", build,
	    "release", release ? release : json_null());
	if (land)
		json_object_set_new(*out, "landing", json_pack("{ss ss}",
		    "ref", land, "state", "waiting"));
done:
	rc = store_tx_end_json(s, rc, out);
	json_decref(build);
	free(old);
	free(pt);
	return rc;
}

/* ---- pushes landing ---- */

static int store_release_take_back(struct store *s, int64_t aid,
    int64_t version, const char *why);

int
store_landing_list(json_t **out, struct store *s)
{
	return store_query_rows(out, s, "SELECT a.name AS app, a.uid AS uid,"
	    " b.number AS number, b.rev AS rev, l.ref AS ref,"
	    " CAST(strftime('%s', 'now') AS INTEGER) - l.created_at AS age"
	    " FROM landings l JOIN builds b ON b.id = l.build_id"
	    " JOIN apps a ON a.id = l.app_id WHERE l.state = 'waiting'"
	    " ORDER BY l.build_id", NULL);
}

int
store_landing_end(json_t **out, struct store *s, const char *app,
    int64_t number, const char *ref, bool landed, const char *why)
{
	json_t *build = NULL, *release = NULL, *l = NULL;
	const char *state;
	int64_t aid, bid = 0, version = 0;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_build_json(&build, s, aid, number)) < 0)
		goto done;
	rc = store_query_row(&l, s, "SELECT l.build_id AS id, l.ref AS ref,"
	    " l.state AS state, coalesce(l.release, 0) AS release"
	    " FROM landings l JOIN builds b ON b.id = l.build_id"
	    " WHERE b.app_id = ? AND b.number = ?", "ii", aid, number);
	if (rc == ERR_NOTFOUND || (rc == 0 && ref && strcmp(ref,
	    json_string_value(json_object_get(l, "ref"))) != 0)) {
		rc = err_set(ERR_NOTFOUND, "build %" PRId64 " of '%s' is not "
		    "a push waiting for %s", number, app, ref ? ref : "git");
		goto done;
	}
	if (rc < 0)
		goto done;
	bid = json_integer_value(json_object_get(l, "id"));
	state = json_string_value(json_object_get(l, "state"));
	version = json_integer_value(json_object_get(l, "release"));
	if (strcmp(state, "failed") == 0) {
		const char *e = json_string_value(json_object_get(build,
		    "error"));
		rc = version ? err_set(ERR_CONFLICT, "v%" PRId64 " of '%s' "
		    "was taken back: its push did not land", version, app) :
		    err_set(ERR_CONFLICT, "build %" PRId64 " of '%s' was not "
		    "released: %s", number, app, e ? e : "its push did not "
		    "land");
		goto done;
	}
	if (strcmp(state, "landed") == 0 || (landed && version)) {
		/* Told twice (the repair, then the hook), or released before
		 * git moved the branch: the same release. */
		rc = version ? store_release_json(&release, s, aid, version,
		    false) : 0;
		if (rc == 0 && strcmp(state, "landed"))
			rc = store_exec(s, NULL, "UPDATE landings SET state ="
			    " 'landed' WHERE build_id = ?", "i", bid);
	} else if (version) {
		/* Released before git moved the branch, and git did not: the
		 * release is taken back (a push git rejected changes
		 * nothing); the build itself stays as it was. */
		if ((rc = store_exec(s, NULL, "UPDATE landings SET state ="
		    " 'failed' WHERE build_id = ?", "i", bid)) < 0 ||
		    (rc = store_release_take_back(s, aid, version, why)) < 0)
			goto done;
	} else if (landed) {
		if ((rc = store_build_release(&release, s, aid, bid,
		    build, NULL)) < 0 ||
		    (rc = store_exec(s, NULL, "UPDATE landings SET state ="
		    " 'landed', release = ? WHERE build_id = ?", "ii",
		    json_integer_value(json_object_get(release, "version")),
		    bid)) < 0)
			goto done;
	} else {
		if ((rc = store_exec(s, NULL, "UPDATE landings SET state ="
		    " 'failed' WHERE build_id = ?", "i", bid)) < 0 ||
		    (rc = store_exec(s, NULL, "UPDATE builds SET status ="
		    " 'failed', error = ?, updated_at = ? WHERE id = ?", "sii",
		    why, (int64_t)time(NULL), bid)) < 0)
			goto done;
		json_decref(build);
		build = NULL;
		if ((rc = store_build_json(&build, s, aid, number)) < 0)
			goto done;
	}
	if (rc < 0)
		goto done;
	*out = json_pack("{sOso}", "build", build,
	    "release", release ? release : json_null());
done:
	json_decref(build);
	json_decref(l);
	return store_tx_end_json(s, rc, out);
}

/* Fail release version of app aid, which a push made before git moved
 * its branch, with why (unless its rollout failed it already), and give
 * the app back the newest live release before it as current and target
 * where it was either.  Inside store_tx_write. */
static int
store_release_take_back(struct store *s, int64_t aid, int64_t version,
    const char *why)
{
	int64_t prev = 0;
	int rc;

	if ((rc = store_exec(s, NULL, "UPDATE releases SET state = 'failed',"
	    " reason = ? WHERE app_id = ? AND version = ? AND state != 'failed'",
	    "sii", why, aid, version)) < 0 ||
	    (rc = store_query_int(&prev, s, "SELECT coalesce(max(version), 0)"
	    " FROM releases WHERE app_id = ? AND version < ?"
	    " AND state = 'live'", "ii", aid, version)) < 0)
		return rc;
	return store_exec(s, NULL, "UPDATE apps SET"
	    " current_release = CASE WHEN current_release = ?1 THEN ?2"
	    "  ELSE current_release END,"
	    " target_release = CASE WHEN target_release = ?1 THEN"
	    "  (CASE WHEN current_release = ?1 THEN ?2 ELSE current_release END)"
	    "  ELSE target_release END,"
	    " release_seq = release_seq + 1 WHERE id = ?3", "iii", version,
	    prev, aid);
}

int
store_landing_release(json_t **out, struct store *s, const char *app,
    int64_t number, const char *ref)
{
	json_t *build = NULL, *release = NULL, *l = NULL;
	int64_t aid, bid, version;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_build_json(&build, s, aid, number)) < 0)
		goto done;
	rc = store_query_row(&l, s, "SELECT l.build_id AS id, l.ref AS ref,"
	    " l.state AS state, coalesce(l.release, 0) AS release"
	    " FROM landings l JOIN builds b ON b.id = l.build_id"
	    " WHERE b.app_id = ? AND b.number = ?", "ii", aid, number);
	if (rc == ERR_NOTFOUND || (rc == 0 && (strcmp(ref, json_string_value(
	    json_object_get(l, "ref"))) != 0 || strcmp("waiting",
	    json_string_value(json_object_get(l, "state"))) != 0))) {
		rc = err_set(ERR_NOTFOUND, "build %" PRId64 " of '%s' is not "
		    "a push waiting for %s", number, app, ref);
		goto done;
	}
	if (rc < 0)
		goto done;
	bid = json_integer_value(json_object_get(l, "id"));
	version = json_integer_value(json_object_get(l, "release"));
	if (version)
		rc = store_release_json(&release, s, aid, version, false);
	else if ((rc = store_build_release(&release, s, aid, bid, build,
	    NULL)) == 0)
		rc = store_exec(s, NULL, "UPDATE landings SET release = ?"
		    " WHERE build_id = ?", "ii", json_integer_value(
		    json_object_get(release, "version")), bid);
	if (rc < 0)
		goto done;
	*out = json_pack("{sOso}", "build", build,
	    "release", release ? release : json_null());
done:
	json_decref(build);
	json_decref(l);
	return store_tx_end_json(s, rc, out);
}

/* ---- releases ---- */

int
store_release_list(json_t **out, struct store *s, const char *app,
    int64_t limit)
{
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	return store_query_rows(out, s, "SELECT " RELEASE_COLUMNS
	    " FROM releases r LEFT JOIN builds b ON b.id = r.build_id"
	    " LEFT JOIN configs c ON c.id = r.config_id"
	    " WHERE r.app_id = ? ORDER BY r.version DESC LIMIT ?", "ii", aid,
	    limit);
}

int
store_release_get(json_t **out, struct store *s, const char *app,
    int64_t version)
{
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	return store_release_json(out, s, aid, version, true);
}

int
store_release_rollback(json_t **out, struct store *s, const char *app,
    int64_t target, const char *who)
{
	sqlite3_stmt *st;
	int64_t aid, current = 0, to, build_id = 0, config_id = 0, version;
	char *summary = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	/* From what the runners are given: the current release, or the
	 * one rolling out.  Not to a release that failed its own rollout
	 * (one superseded before it went live did not). */
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_app_target_release(&current, s, aid)) < 0)
		goto done;
	if (target == 0 && current > 1 && (rc = store_query_int(&target, s,
	    "SELECT coalesce(max(version), 0) FROM releases WHERE app_id = ?"
	    " AND version < ? AND (state != 'failed'"
	    "  OR superseded_by IS NOT NULL)", "ii", aid, current)) < 0)
		goto done;
	if (target == 0 && current > 1) {
		rc = err_set(ERR_INVALID, "nothing to roll back to: every "
		    "release before v%" PRId64 " failed", current);
		goto done;
	}
	if (target > 0 && (rc = store_prep(&st, s, "SELECT reason"
	    " FROM releases WHERE app_id = ? AND version = ?"
	    " AND state = 'failed' AND superseded_by IS NULL", "ii", aid,
	    target)) == 0) {
		if ((rc = store_step(s, st)) > 0)
			rc = err_set(ERR_INVALID, "v%" PRId64 " failed (%.200s): "
			    "roll back to a release that went live", target,
			    sqlite3_column_type(st, 0) == SQLITE_TEXT ?
			    (const char *)sqlite3_column_text(st, 0) : "");
		store_done(st);
	}
	if (rc < 0 ||
	    (rc = store_release_rollback_target(&to, current, target)) < 0)
		goto done;
	if ((rc = store_prep(&st, s, "SELECT coalesce(build_id, 0),"
	    " coalesce(config_id, 0) FROM releases"
	    " WHERE app_id = ? AND version = ?", "ii", aid, to)) < 0)
		goto done;
	if ((rc = store_step(s, st)) > 0) {
		build_id = sqlite3_column_int64(st, 0);
		config_id = sqlite3_column_int64(st, 1);
	}
	store_done(st);
	if (rc == 0)
		rc = err_set(ERR_NOTFOUND, "no release v%" PRId64, to);
	if (rc < 0)
		goto done;
	summary = store_release_summary_rollback(to);
	if ((rc = store_release_insert(&version, s, aid, build_id, config_id,
	    "rollback", to, summary, who)) < 0)
		goto done;
	rc = store_release_json(out, s, aid, version, false);
done:
	free(summary);
	return store_tx_end_json(s, rc, out);
}

/* ---- formation ---- */

int
store_formation_get(json_t **out, struct store *s, const char *app)
{
	sqlite3_stmt *st;
	json_t *f = json_object();
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		goto fail;
	if ((rc = store_prep(&st, s, "SELECT type, quantity FROM formations"
	    " WHERE app_id = ? ORDER BY type", "i", aid)) < 0)
		goto fail;
	while ((rc = store_step(s, st)) > 0)
		json_object_set_new(f, (const char *)sqlite3_column_text(st, 0),
		    json_integer(sqlite3_column_int64(st, 1)));
	store_done(st);
	if (rc < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	json_decref(f);
	return rc;
}

int
store_formation_scale(json_t **out, struct store *s, const char *app,
    json_t *quantities)
{
	struct store_current cur = { 0 };
	const char *type;
	json_t *q;
	int64_t aid;
	int rc;

	*out = NULL;
	if (!json_is_object(quantities) || json_object_size(quantities) == 0 ||
	    json_object_size(quantities) > STORE_PROC_TYPES_MAX)
		return err_set(ERR_INVALID, "scale takes TYPE: N for 1 to %d "
		    "process types", STORE_PROC_TYPES_MAX);
	json_object_foreach(quantities, type, q) {
		if (!name_proc_type_is_valid(type))
			return err_set(ERR_INVALID, "invalid process type "
			    "'%.40s'", type);
		if (!json_is_integer(q) || json_integer_value(q) < 0 ||
		    json_integer_value(q) > STORE_SCALE_MAX)
			return err_set(ERR_INVALID, "%s must be a number from "
			    "0 to %d", type, STORE_SCALE_MAX);
	}
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_current_get(&cur, s, aid)) < 0)
		goto done;
	json_object_foreach(quantities, type, q) {
		/* Once there is a build, only its process types run. */
		if (cur.process_types &&
		    !json_object_get(cur.process_types, type)) {
			rc = err_set(ERR_INVALID, "app '%s' has no process "
			    "type '%s' in its current release", app, type);
			goto done;
		}
		if ((rc = store_exec(s, NULL, "INSERT INTO formations (app_id,"
		    " type, quantity) VALUES (?, ?, ?) ON CONFLICT"
		    " (app_id, type)"
		    " DO UPDATE SET quantity = excluded.quantity",
		    "isi", aid, type, (int64_t)json_integer_value(q))) < 0)
			goto done;
	}
	rc = store_formation_get(out, s, app);
done:
	store_current_free(&cur);
	return store_tx_end_json(s, rc, out);
}
