/*
 * The release phase (schema version 9): a release whose build has a
 * release command (Procfile `release: CMD`) is made pending with phase
 * `waiting` and is not the app's target, so its runners start nothing of
 * it (store_release_insert).  The controller's ticker starts the command
 * as a one-off of that release (`running`, phase_run its id) and ends
 * the phase: `done` makes the release the target (or live at once when
 * nothing is to run), `failed` fails the release with the reason, and
 * the release before keeps serving.  A release superseded meanwhile is
 * failed by the newer one (store_release_insert) and leaves the list.
 *
 * Kill -9 order: the phase's state is in the store, the one-off in the
 * controller's memory; a controller that restarts finds `running` with
 * a run it does not know and starts the command again (it may so run
 * twice, never zero times before the release is the target).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "slipway/err.h"
#include "store_int.h"

int
store_release_phase_list(json_t **out, struct store *s)
{
	return store_query_rows(out, s, "SELECT a.name AS app,"
	    " r.version AS release, r.phase AS phase, r.phase_run AS run,"
	    " b.release_command AS command, b.image AS image,"
	    " b.digest AS digest, c.vars AS config_json FROM releases r"
	    " JOIN apps a ON a.id = r.app_id"
	    " JOIN builds b ON b.id = r.build_id"
	    " LEFT JOIN configs c ON c.id = r.config_id"
	    " WHERE r.phase IN ('waiting', 'running') AND r.state = 'pending'"
	    " ORDER BY a.name, r.version", NULL);
}

int
store_release_phase_start(struct store *s, const char *app, int64_t version,
    const char *run)
{
	int64_t aid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	/* run NULL: the one-off was lost, wait for another */
	return store_exec(s, NULL, "UPDATE releases SET phase = ?,"
	    " phase_run = ? WHERE app_id = ? AND version = ?"
	    " AND phase IN ('waiting', 'running') AND state = 'pending'",
	    "ssii", run ? "running" : "waiting", run, aid, version);
}

int
store_release_phase_end(bool *changed, struct store *s, const char *app,
    int64_t version, bool ok, const char *reason)
{
	int64_t aid, bid = 0;
	bool live;
	int n = 0, rc;

	*changed = false;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_query_int(&bid, s, "SELECT coalesce(build_id, 0)"
	    " FROM releases WHERE app_id = ? AND version = ?"
	    " AND phase = 'running' AND state = 'pending'", "ii", aid,
	    version)) <= 0)
		goto done;
	if (!ok) {
		if ((rc = store_exec(s, &n, "UPDATE releases SET phase ="
		    " 'failed', state = 'failed', reason = ? WHERE app_id = ?"
		    " AND version = ?", "sii", reason, aid, version)) < 0)
			goto done;
		rc = store_exec(s, NULL, "UPDATE apps SET release_seq ="
		    " release_seq + 1 WHERE id = ?", "i", aid);
		*changed = rc == 0;
		goto done;
	}
	if ((rc = store_exec(s, NULL, "UPDATE releases SET phase = 'done'"
	    " WHERE app_id = ? AND version = ?", "ii", aid, version)) < 0)
		goto done;
	/* As store_release_insert would have without a phase: with
	 * nothing to run it is live at once. */
	if ((rc = store_release_runs(s, aid, bid)) < 0)
		goto done;
	live = rc == 0;
	if (live && (rc = store_exec(s, NULL, "UPDATE releases SET state ="
	    " 'live' WHERE app_id = ? AND version = ?", "ii", aid,
	    version)) < 0)
		goto done;
	rc = store_exec(s, NULL, "UPDATE apps SET target_release = ?1,"
	    " current_release = CASE WHEN ?2 THEN ?1 ELSE current_release END,"
	    " release_seq = release_seq + 1 WHERE id = ?3", "iii", version,
	    (int64_t)live, aid);
	*changed = rc == 0;
done:
	return store_tx_end(s, rc < 0 ? rc : 0);
}
