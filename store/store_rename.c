/*
 * apps:rename in the store: the app's name, and the image references of
 * its builds, which name the registry repository (named after the app)
 * as "HOST/APP:vN".  The controller has already tagged the images into
 * the new repository (ctl_apps_rename); this makes the releases and the
 * runners read them there, in one transaction, so a kill leaves the app
 * wholly under one name.  A build still pending or running would push
 * to the old repository after the rename: such an app keeps its name
 * until the build ends.
 */
#include <stdint.h>

#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

/* ERR_CONFLICT when a build of app aid is pending or running. */
static int
rename_busy(struct store *s, int64_t aid, const char *app)
{
	int64_t busy = 0;
	int rc;

	if ((rc = store_query_int(&busy, s, "SELECT count(*) FROM builds"
	    " WHERE app_id = ? AND status IN ('pending', 'running')", "i",
	    aid)) < 0)
		return rc;
	if (busy > 0)
		return err_set(ERR_CONFLICT, "cannot rename '%s' while a build "
		    "of it runs: wait for it to end ('slipway builds %s'), "
		    "then rename", app, app);
	return 0;
}

int
store_app_rename_check(struct store *s, const char *app, const char *name)
{
	int64_t aid, taken = 0;
	int rc;

	if (!name_app_is_valid(name))
		return err_set(ERR_INVALID, "invalid app name '%.64s': use a "
		    "lower-case letter, then up to 29 of a-z 0-9 -", name);
	if ((rc = store_tx_read(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = rename_busy(s, aid, app)) < 0 ||
	    (rc = store_query_int(&taken, s, "SELECT count(*) FROM apps"
	    " WHERE name = ?", "s", name)) < 0)
		goto done;
	if (taken > 0)
		rc = err_set(ERR_EXISTS, "an app named '%s' exists", name);
done:
	return store_tx_end(s, rc);
}

int
store_app_rename(struct store *s, const char *app, const char *name)
{
	int64_t aid;
	int rc;

	if (!name_app_is_valid(name))
		return err_set(ERR_INVALID, "invalid app name '%.64s': use a "
		    "lower-case letter, then up to 29 of a-z 0-9 -", name);
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = rename_busy(s, aid, app)) < 0)
		goto done;
	rc = store_exec(s, NULL, "UPDATE apps SET name = ? WHERE id = ?", "si",
	    name, aid);
	if (rc == ERR_EXISTS) {
		rc = err_set(rc, "an app named '%s' exists", name);
		goto done;
	}
	/* "HOST/OLD:vN" to "HOST/NEW:vN": HOST has no '/', so "/OLD:" is
	 * the repository part and nothing else. */
	if (rc == 0)
		rc = store_exec(s, NULL, "UPDATE builds SET image = replace("
		    "image, '/' || ?1 || ':', '/' || ?2 || ':') WHERE app_id = ?3"
		    " AND image IS NOT NULL", "ssi", app, name, aid);
done:
	return store_tx_end(s, rc);
}
