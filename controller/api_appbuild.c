/*
 * How an app builds, when the pushed tree does not say (store/
 * store_appbuild.c):
 *
 *   GET    /v1/apps/APP/buildpacks  read    {"app","buildpacks":[...]}
 *   PATCH  /v1/apps/APP/buildpacks  deploy  {"op":"add"|"set"|"remove"|
 *                                   "clear", "url", "index"} -> the list
 *   PUT    /v1/apps/APP/stack       deploy  {"stack": NAME | null}
 *   DELETE /v1/apps/APP/cache       deploy  drop the build cache
 *
 * The list is used when the tree has no .buildpacks and no slipway.yml
 * `buildpacks:`; each entry passes name_buildpack_check (never a path).
 * A stack must be one the home has (or the busybox `default`).  The
 * cache is refused while a build of the app is under way: it is that
 * build's.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/image.h"
#include "slipway/log.h"

static void
bps_reply(struct ctl_call *c, json_t *list)
{
	ctl_reply(c, 200, json_pack("{s:s,s:o}", "app", c->seg[1],
	    "buildpacks", list));
}

void
ctl_buildpacks_get(struct ctl_call *c)
{
	json_t *list;

	if (ctl_app_read(c, c->seg[1]) &&
	    ctl_check(c, store_app_buildpacks_get(&list, c->st, c->seg[1])))
		bps_reply(c, list);
}

void
ctl_buildpacks_edit(struct ctl_call *c)
{
	const char *op, *url;
	const struct ctl_field fields[] = {
		{ "op", &op, "'op' is add, set, remove or clear" },
		{ "url", &url, NULL },
	};
	json_t *iv, *list;
	int64_t index = 0;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_need_body(c) ||
	    !ctl_body_fields(c, fields, 2))
		return;
	if ((iv = json_object_get(c->body, "index")) != NULL) {
		if (!json_is_integer(iv) || json_integer_value(iv) < 1 ||
		    json_integer_value(iv) > NAME_BUILDPACKS_MAX) {
			ctl_error(c, 422, "invalid", "'index' is 1 to %d",
			    NAME_BUILDPACKS_MAX);
			return;
		}
		index = json_integer_value(iv);
	}
	if (!ctl_check(c, store_app_buildpacks_edit(&list, c->st, c->seg[1],
	    op, url, index)))
		return;
	log_info("%s: buildpacks %s for app '%s'", c->actor.name, op,
	    c->seg[1]);
	bps_reply(c, list);
}

void
ctl_stack_set(struct ctl_call *c)
{
	struct image_stack_ref ref;
	json_t *v;
	const char *name = NULL;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_need_body(c))
		return;
	v = json_object_get(c->body, "stack");
	if (!json_is_null(v) && !json_is_string(v)) {
		ctl_error(c, 422, "invalid", "'stack' is a stack's name, or "
		    "null for the default");
		return;
	}
	name = json_string_value(v);
	if (name && strcmp(name, IMAGE_STACK_BUSYBOX) != 0) {
		/* the builder finds it in the same home */
		if (!ctl_check(c, image_stack_find(&ref, c->ctl->home, name)))
			return;
		image_stack_ref_clear(&ref);
	}
	if (!ctl_check(c, store_app_stack_set(c->st, c->seg[1], name)))
		return;
	log_info("%s set the stack of app '%s' to %s", c->actor.name,
	    c->seg[1], name ? name : "the default");
	ctl_reply(c, 200, json_pack("{s:s,s:s?}", "app", c->seg[1], "stack",
	    name));
}

void
ctl_cache_purge(struct ctl_call *c)
{
	json_t *app = NULL;
	const char *uid;
	char *cache = NULL;
	bool busy = false;

	if (!ctl_app_deploy(c, c->seg[1]) ||
	    !ctl_check(c, store_app_building(&busy, c->st, c->seg[1])))
		return;
	if (busy) {
		ctl_error(c, 409, "conflict", "a build of '%s' is under way and "
		    "uses its cache: purge it when the build is over",
		    c->seg[1]);
		return;
	}
	if (!ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		return;
	uid = json_string_value(json_object_get(app, "uid"));
	if (uid == NULL || strlen(uid) != 32) {
		ctl_error(c, 500, "internal", "app '%s' has no uid", c->seg[1]);
		goto done;
	}
	cache = home_cache_path(c->ctl->home, uid);
	if (!ctl_check(c, fs_remove_tree(cache)))
		goto done;
	log_info("%s purged the build cache of app '%s'", c->actor.name,
	    c->seg[1]);
	ctl_reply(c, 200, json_pack("{s:s,s:b}", "app", c->seg[1], "purged",
	    1));
done:
	free(cache);
	json_decref(app);
}
