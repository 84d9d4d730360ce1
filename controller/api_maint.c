/*
 * An app's maintenance mode (`maintenance`, `maintenance:on`, `:off`):
 *
 *   GET /v1/apps/APP/maintenance        read   {"app","maintenance"}
 *   PUT /v1/apps/APP/maintenance        deploy {"maintenance": bool}
 *
 * The flag is the controller's (store_maint.c); the runners of the app
 * get it in their desired state ("maintenance": the names of their apps
 * in maintenance) and put their proxies in maintenance for it.  A change
 * wakes the runners' long-polls at once.
 */
#include <stdbool.h>

#include "ctl_int.h"
#include "slipway/log.h"

static void
maint_reply(struct ctl_call *c, const char *app, bool on)
{
	ctl_reply(c, 200, json_pack("{s:s,s:b}", "app", app, "maintenance",
	    on));
}

void
ctl_maintenance_get(struct ctl_call *c)
{
	bool on = false;

	if (ctl_app_read(c, c->seg[1]) &&
	    ctl_check(c, store_app_maintenance_get(&on, c->st, c->seg[1])))
		maint_reply(c, c->seg[1], on);
}

void
ctl_maintenance_set(struct ctl_call *c)
{
	json_t *v;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_need_body(c))
		return;
	v = json_object_get(c->body, "maintenance");
	if (!json_is_boolean(v)) {
		ctl_error(c, 422, "invalid", "'maintenance' is true or false");
		return;
	}
	if (!ctl_check(c, store_app_maintenance_set(c->st, c->seg[1],
	    json_is_true(v))))
		return;
	log_info("%s turned maintenance %s for app '%s'", c->actor.name,
	    json_is_true(v) ? "on" : "off", c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	maint_reply(c, c->seg[1], json_is_true(v));
}
