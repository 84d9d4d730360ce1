/*
 * The router lines of this runner's proxy (proxy/router.c) into the apps'
 * logs: twice a second the proxy's queue is taken over its control socket
 * and each line written to the app's ring with source "router" and the
 * time the proxy answered, then shipped with the app's other lines, so
 * `slipway logs` shows them where Heroku shows its router's.  The same
 * turn keeps the proxy's maintenance flags (daemon_maint.c).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/logring.h"
#include "slipway/name.h"
#include "slipway/proxy.h"

#define ROUTER_EVERY_SECS 0.5

/* Write one [APP, WALL, TEXT] line. */
static void
router_line(struct runner_daemon *rd, const char *dir, json_t *l)
{
	const char *app = json_string_value(json_array_get(l, 0));
	const char *text = json_string_value(json_array_get(l, 2));
	struct buf b;

	if (app == NULL || text == NULL || !name_app_is_valid(app))
		return;
	buf_init(&b, 0);
	logring_line(&b, json_number_value(json_array_get(l, 1)), "router",
	    text, strnlen(text, LOGRING_LINE_MAX));
	if (logring_append(dir, app, b.ptr, b.len, 0) < 0)
		log_warnx("router lines of '%s': %s", app, err_last());
	runner_log_queue(rd, app, b.ptr, b.len);
	buf_free(&b);
}

void *
runner_router(void *arg)
{
	struct runner_daemon *rd = arg;
	char *dir = xasprintf("%s/logs/apps", rd->home);

	while (!rd->stopping) {
		json_t *ans = NULL, *l;
		json_int_t dropped;
		size_t i;

		runner_sleep(rd, ROUTER_EVERY_SECS);
		runner_maint_apply(rd);
		/* no proxy (yet, or any more): nothing to take */
		if (proxy_ctl_router(&ans, rd->o.proxy_ctl) < 0)
			continue;
		json_array_foreach(json_object_get(ans, "lines"), i, l)
			router_line(rd, dir, l);
		dropped = json_integer_value(json_object_get(ans, "dropped"));
		if (dropped > 0)
			log_warnx("the proxy dropped %" JSON_INTEGER_FORMAT
			    " router lines: its queue was full", dropped);
		json_decref(ans);
	}
	free(dir);
	return NULL;
}
