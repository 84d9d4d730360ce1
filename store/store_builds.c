/*
 * The builds' leases.  A builder holds a lease on the build it runs: the
 * build's updated_at is when it was last heard from, and every update of
 * the build (a builder that works sends {"status":"running"} every third
 * of the lease) renews it.  A pending or running build not heard from
 * for a whole lease has lost its builder (killed, crashed, or cut off
 * from a controller that was itself killed): store_build_expire fails
 * it, with the reason, so no build stays "running" for good.  A builder
 * that comes back too late finds its build failed (ERR_CONFLICT) and
 * cannot make a release of it.
 */
#include <stdio.h>

#include "slipway/err.h"
#include "store_int.h"

int
store_build_expire(json_t **out, struct store *s, time_t now, int64_t lease)
{
	json_t *list = NULL;
	int64_t before = (int64_t)now - lease;
	int rc;

	if (out)
		*out = NULL;
	/* The common case, every second: nothing overdue, and no write
	 * lock taken to find that out (builds_unfinished answers it). */
	if ((rc = store_query_int(NULL, s, "SELECT 1 FROM builds"
	    " WHERE status IN ('pending', 'running') AND updated_at < ?"
	    " LIMIT 1", "i", before)) <= 0) {
		if (rc == 0 && out)
			*out = json_array();
		return rc;
	}
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_query_rows(&list, s, "SELECT a.name AS app,"
	    " b.number AS number FROM builds b JOIN apps a ON a.id = b.app_id"
	    " WHERE b.status IN ('pending', 'running') AND b.updated_at < ?"
	    " ORDER BY b.id", "i", before)) < 0)
		goto done;
	rc = store_exec(s, NULL, "UPDATE builds SET status = 'failed',"
	    " error = ?, updated_at = ? WHERE status IN ('pending', 'running')"
	    " AND updated_at < ?", "sii", STORE_BUILD_LEASE_EXPIRED,
	    (int64_t)now, before);
done:
	rc = store_tx_end_json(s, rc, &list);
	if (rc >= 0 && out)
		*out = list;
	else
		json_decref(list);
	return rc < 0 ? rc : 0;
}
