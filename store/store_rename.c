/*
 * apps:rename for an app with no image yet (no build made one, none
 * runs).  An app's images live in the
 * registry repository named after it, and the releases and runners name
 * them so: until the registry can move a repository, an app with builds
 * keeps its name (the message says what to do instead).  Without builds
 * nothing outside the store carries the name but the app's repository,
 * which the controller moves after (ctl_apps_rename).
 */
#include <stdint.h>

#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

int
store_app_rename(struct store *s, const char *app, const char *name)
{
	int64_t aid, builds = 0;
	int rc;

	if (!name_app_is_valid(name))
		return err_set(ERR_INVALID, "invalid app name '%.64s': use a "
		    "lower-case letter, then up to 29 of a-z 0-9 -", name);
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_query_int(&builds, s, "SELECT count(*) FROM builds"
	    " WHERE app_id = ? AND (image IS NOT NULL OR status IN"
	    " ('pending', 'running'))", "i", aid)) < 0)
		goto done;
	if (builds > 0) {
		rc = err_set(ERR_CONFLICT, "cannot rename '%s': its images are "
		    "in registry repository '%s', which cannot be renamed yet; "
		    "create '%s' and push to it, then destroy '%s'", app, app,
		    name, app);
		goto done;
	}
	rc = store_exec(s, NULL, "UPDATE apps SET name = ? WHERE id = ?", "si",
	    name, aid);
	if (rc == ERR_EXISTS)
		rc = err_set(rc, "an app named '%s' exists", name);
done:
	return store_tx_end(s, rc);
}
