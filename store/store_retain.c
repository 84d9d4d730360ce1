/*
 * Image retention: which builds' images an app keeps in the registry.
 * The controller's retention job (controller/retain.c) deletes the rest.
 */
#include "slipway/err.h"
#include "store_int.h"

int
store_app_builds_kept(json_t **out, struct store *s, const char *app,
    int64_t keep)
{
	int64_t aid;
	int rc;

	*out = NULL;
	if (keep < 1)
		return err_set(ERR_INVALID, "an app keeps at least 1 release");
	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	/* Kept: the builds the last keep releases point at, whatever build
	 * each is (a rollback or a config change points at an older one);
	 * the builds of the current and the target release, which serve
	 * however many failed releases came after them; and every build
	 * newer than any release points at: running, or pushed and not
	 * released yet (waiting to land), whose image is in the registry
	 * before its release is in the store. */
	return store_query_rows(out, s, "SELECT b.number AS number,"
	    " b.digest AS digest,"
	    " (b.id IN (SELECT r.build_id FROM releases r"
	    "   WHERE r.app_id = ?1 ORDER BY r.version DESC LIMIT ?2)"
	    "  OR b.id IN (SELECT r.build_id FROM releases r, apps a"
	    "   WHERE a.id = ?1 AND r.app_id = ?1 AND r.version IN"
	    "   (a.current_release, a.target_release))"
	    "  OR b.id > (SELECT coalesce(max(r.build_id), 0) FROM releases r"
	    "   WHERE r.app_id = ?1)) AS kept_bool"
	    " FROM builds b WHERE b.app_id = ?1 ORDER BY b.number", "ii", aid,
	    keep);
}
