/*
 * An app's maintenance flag (apps.maintenance, schema version 7): set by
 * `maintenance:on` / `maintenance:off`, handed to the runners that run
 * the app in their desired state, which put their proxies in maintenance
 * for it (runner/daemon_maint.c).
 */
#include <stdbool.h>
#include <stdint.h>

#include "slipway/err.h"
#include "store_int.h"

int
store_app_maintenance_get(bool *on, struct store *s, const char *app)
{
	int64_t v = 0;
	int rc;

	rc = store_query_int(&v, s, "SELECT maintenance FROM apps"
	    " WHERE name = ?", "s", app);
	if (rc == 0)
		return err_set(ERR_NOTFOUND, "no such app '%s'", app);
	if (rc < 0)
		return rc;
	*on = v != 0;
	return 0;
}

int
store_app_maintenance_set(struct store *s, const char *app, bool on)
{
	int changes = 0, rc;

	rc = store_exec(s, &changes, "UPDATE apps SET maintenance = ?"
	    " WHERE name = ?", "is", (int64_t)on, app);
	if (rc == 0 && changes == 0)
		rc = err_set(ERR_NOTFOUND, "no such app '%s'", app);
	return rc;
}

int
store_maintenance_for_runner(json_t **out, struct store *s,
    int64_t runner_id)
{
	json_t *rows = NULL, *r;
	size_t i;
	int rc;

	/* apps of the runner's own group only, as its schedule */
	if ((rc = store_query_rows(&rows, s, "SELECT DISTINCT a.name AS app"
	    " FROM assignments x JOIN runners rn ON rn.id = x.runner_id"
	    " JOIN apps a ON a.id = x.app_id"
	    " WHERE x.runner_id = ? AND x.group_id = rn.group_id"
	    " AND a.maintenance = 1 ORDER BY a.name", "i", runner_id)) < 0)
		return rc;
	*out = json_array();
	json_array_foreach(rows, i, r)
		json_array_append(*out, json_object_get(r, "app"));
	json_decref(rows);
	return 0;
}
