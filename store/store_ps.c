/*
 * ps:stop and ps:start (Dokku's names): stop every process of an app and
 * bring the same counts back later.  Stopping keeps the formation it ends
 * in apps.stopped_formation (schema version 7) and scales each type to 0,
 * in one transaction; starting gives each type that is still at 0 its
 * kept count (a type scaled meanwhile keeps what it was given) and
 * forgets them.  Both then take effect as any scale does.
 */
#include <stdint.h>
#include <stdlib.h>

#include "slipway/err.h"
#include "store_int.h"

int
store_ps_stop(json_t **out, struct store *s, const char *app)
{
	json_t *row = NULL, *running;
	char *text = NULL;
	int64_t aid;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_query_row(&row, s, "SELECT stopped_formation IS NOT"
	    " NULL AS stopped, (SELECT json_group_object(type, quantity)"
	    "  FROM formations WHERE app_id = a.id AND quantity > 0)"
	    "  AS running_json FROM apps a WHERE a.id = ?", "i", aid)) < 0)
		goto done;
	running = json_object_get(row, "running");
	if (json_object_size(running) == 0) {
		rc = json_integer_value(json_object_get(row, "stopped")) ?
		    err_set(ERR_CONFLICT, "app '%s' is stopped already; "
		    "ps:start starts it", app) :
		    err_set(ERR_INVALID, "app '%s' runs nothing to stop", app);
		goto done;
	}
	text = json_dumps(running, JSON_COMPACT | JSON_SORT_KEYS);
	if ((rc = store_exec(s, NULL, "UPDATE apps SET stopped_formation = ?"
	    " WHERE id = ?", "si", text, aid)) < 0 ||
	    (rc = store_exec(s, NULL, "UPDATE formations SET quantity = 0"
	    " WHERE app_id = ?", "i", aid)) < 0)
		goto done;
	*out = json_incref(running);
done:
	json_decref(row);
	free(text);
	return store_tx_end_json(s, rc, out);
}

int
store_ps_start(json_t **out, struct store *s, const char *app)
{
	json_t *row = NULL, *saved;
	const char *type;
	json_t *q;
	int64_t aid;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_query_row(&row, s, "SELECT stopped_formation AS"
	    " saved_json FROM apps WHERE id = ?", "i", aid)) < 0)
		goto done;
	saved = json_object_get(row, "saved");
	if (!json_is_object(saved)) {
		rc = err_set(ERR_CONFLICT, "app '%s' is not stopped (ps:stop "
		    "stops it; ps:scale sets the counts)", app);
		goto done;
	}
	json_object_foreach(saved, type, q) {
		if (!json_is_integer(q))
			continue;
		if ((rc = store_exec(s, NULL, "UPDATE formations SET quantity = ?"
		    " WHERE app_id = ? AND type = ? AND quantity = 0", "iis",
		    (int64_t)json_integer_value(q), aid, type)) < 0)
			goto done;
	}
	if ((rc = store_exec(s, NULL, "UPDATE apps SET stopped_formation ="
	    " NULL WHERE id = ?", "i", aid)) < 0)
		goto done;
	rc = store_formation_get(out, s, app);
done:
	json_decref(row);
	return store_tx_end_json(s, rc, out);
}
