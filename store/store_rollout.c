/*
 * What the rollout, one-off and log endpoints read: how far each runner
 * assigned to an app got with its release (from the runners' reports),
 * where a one-off can run, and whether an app is deployed to a group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/err.h"
#include "store_int.h"

#define TS(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"

int
store_rollout_view(json_t **out, struct store *s, const char *app,
    time_t live_after)
{
	json_t *slots = NULL;
	int64_t aid, current = 0, serving = 0;
	int rc;

	*out = NULL;
	if ((rc = store_tx_read(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_app_target_release(&current, s, aid)) < 0 ||
	    (rc = store_query_int(&serving, s, "SELECT r.version FROM apps a"
	    " JOIN releases r ON r.app_id = a.id"
	    "  AND r.version = a.current_release"
	    " WHERE a.id = ? AND r.build_id IS NOT NULL", "i", aid)) < 0)
		goto done;
	/* One row per slot; the runner's report of this app rides along
	 * (reports are objects keyed by app under "apps"). */
	if ((rc = store_query_rows(&slots, s, "SELECT g.name AS \"group\","
	    " x.type AS type, x.idx AS \"index\", rn.name AS runner,"
	    " coalesce(rn.last_heartbeat >= ?, 0) AS live_bool,"
	    " json_extract(rn.report, '$.apps.\"' || a.name || '\"')"
	    "  AS report_json,"
	    " (SELECT j.value FROM json_each(rn.report, '$.containers') j"
	    "  WHERE json_extract(j.value, '$.app') = a.name"
	    "  AND json_extract(j.value, '$.type') = x.type"
	    "  AND json_extract(j.value, '$.index') = x.idx LIMIT 1)"
	    "  AS container_json,"
	    " " TS("rn.reported_at") " AS reported_at"
	    " FROM assignments x JOIN apps a ON a.id = x.app_id"
	    " JOIN deploy_groups g ON g.id = x.group_id"
	    " LEFT JOIN runners rn ON rn.id = x.runner_id"
	    " WHERE x.app_id = ? ORDER BY rn.name, x.type, x.idx", "ii",
	    (int64_t)live_after, aid)) < 0)
		goto done;
	*out = json_pack("{sIsIso}", "release", (json_int_t)current,
	    "serving", (json_int_t)serving, "slots", slots);
done:
	return store_tx_end_json(s, rc, out);
}

int
store_rollout_failed(json_t **out, struct store *s, time_t live_after)
{
	return store_query_rows(out, s, "SELECT a.name AS app,"
	    " a.target_release AS release, rn.name AS runner,"
	    " json_extract(j.value, '$.reason') AS reason,"
	    " coalesce(json_extract(j.value, '$.restart'), '') AS restart"
	    " FROM runners rn, json_each(rn.report, '$.apps') j"
	    " JOIN apps a ON a.name = j.key"
	    " WHERE rn.last_heartbeat >= ?"
	    "  AND json_extract(j.value, '$.state') = 'failed'"
	    "  AND json_extract(j.value, '$.release') = a.target_release"
	    " ORDER BY a.name, rn.name", "i", (int64_t)live_after);
}

int
store_run_runner(json_t **out, struct store *s, const char *app,
    time_t live_after)
{
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	/* A live runner of one of the app's groups; one that runs the app
	 * already has its image. */
	rc = store_query_row(out, s, "SELECT r.id AS id, r.name AS name,"
	    " g.name AS \"group\" FROM runners r"
	    " JOIN deploy_groups g ON g.id = r.group_id"
	    " JOIN app_groups ag ON ag.group_id = r.group_id"
	    "  AND ag.app_id = ?1"
	    " WHERE r.last_heartbeat >= ?2"
	    " ORDER BY (SELECT count(*) FROM assignments x"
	    "  WHERE x.runner_id = r.id AND x.app_id = ?1) > 0 DESC,"
	    " (SELECT count(*) FROM assignments x WHERE x.runner_id = r.id),"
	    " r.name LIMIT 1", "ii", aid, (int64_t)live_after);
	if (rc == ERR_NOTFOUND)
		rc = err_set(ERR_CONFLICT, "no live runner in the groups of "
		    "app '%s' to run it on", app);
	return rc;
}

int
store_run_target(json_t **out, struct store *s, const char *app,
    time_t live_after)
{
	json_t *rel = NULL, *runner = NULL;
	int64_t aid, current = 0;
	int rc;

	*out = NULL;
	if ((rc = store_tx_read(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_app_target_release(&current, s, aid)) < 0)
		goto done;
	if (current == 0) {
		rc = err_set(ERR_CONFLICT, "app '%s' has no release yet: "
		    "deploy it first", app);
		goto done;
	}
	if ((rc = store_release_get(&rel, s, app, current)) < 0)
		goto done;
	if (!json_is_string(json_object_get(rel, "digest"))) {
		rc = err_set(ERR_CONFLICT, "release v%lld of '%s' has no "
		    "build to run: deploy it first", (long long)current, app);
		goto done;
	}
	rc = store_run_runner(&runner, s, app, live_after);
	if (rc < 0)
		goto done;
	*out = json_pack("{sOsO}", "release", rel, "runner", runner);
done:
	json_decref(rel);
	json_decref(runner);
	return store_tx_end_json(s, rc, out);
}

int
store_app_in_group(bool *out, struct store *s, const char *app,
    const char *group)
{
	int rc;

	*out = false;
	if ((rc = store_query_int(NULL, s, "SELECT 1 FROM apps a"
	    " JOIN app_groups ag ON ag.app_id = a.id"
	    " JOIN deploy_groups g ON g.id = ag.group_id"
	    " WHERE a.name = ? AND g.name = ?", "ss", app, group)) < 0)
		return rc;
	*out = rc > 0;
	return 0;
}
