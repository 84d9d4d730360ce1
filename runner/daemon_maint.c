/*
 * Maintenance mode, as the controller has it (`maintenance:on`): the
 * desired state lists the runner's apps in maintenance; the proxy's flag
 * of each app it routes is made to match, on every turn of the router
 * thread (twice a second), from what the proxy says it has.  So an app
 * routed after the flag was set, a proxy restarted, or a runner that
 * missed a change while it was down all end up as wanted, and the proxy
 * is never asked for a change it already has.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon_int.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/proxy.h"

void
runner_maint_want(struct runner_daemon *rd, json_t *doc)
{
	json_t *m = json_object_get(doc, "maintenance");

	pthread_mutex_lock(&rd->maintmu);
	json_decref(rd->maint_want);
	rd->maint_want = json_is_array(m) ? json_incref(m) : NULL;
	pthread_mutex_unlock(&rd->maintmu);
}

static bool
maint_wanted(json_t *want, const char *app)
{
	json_t *x;
	size_t i;

	json_array_foreach(want, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), app) == 0)
			return true;
	return false;
}

void
runner_maint_apply(struct runner_daemon *rd)
{
	json_t *want, *routes, *r;
	char *text = NULL;
	size_t i;

	pthread_mutex_lock(&rd->maintmu);
	want = json_incref(rd->maint_want);
	pthread_mutex_unlock(&rd->maintmu);
	/* no word from the controller yet: leave the proxy as it is */
	if (want == NULL)
		return;
	if (proxy_ctl_routes(&text, rd->o.proxy_ctl) < 0) {
		json_decref(want);
		return;
	}
	routes = json_loads(text, 0, NULL);
	free(text);
	json_array_foreach(json_object_get(routes, "routes"), i, r) {
		const char *app = json_string_value(json_object_get(r, "app"));
		bool on, have = json_is_true(json_object_get(r,
		    "maintenance"));

		if (app == NULL)
			continue;
		on = maint_wanted(want, app);
		if (on == have)
			continue;
		if (proxy_ctl_maintenance(rd->o.proxy_ctl, app, on) < 0)
			log_warnx("cannot turn maintenance %s for '%s': %s",
			    on ? "on" : "off", app, err_last());
		else
			log_info("%s: maintenance %s", app, on ? "on" : "off");
	}
	json_decref(routes);
	json_decref(want);
}
