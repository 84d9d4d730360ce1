/*
 * How an app builds, as the app's settings say when the pushed tree does
 * not (schema version 9): its buildpacks list (apps.buildpacks, a JSON
 * array in order: Heroku's `buildpacks:add`, `:set`, `:remove`, `:clear`)
 * and its stack (apps.stack, `stack:set`; NULL: the home's default).
 * Each edit reads and writes the list in one write transaction, so two
 * edits at once both land.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

int
store_app_buildpacks_get(json_t **out, struct store *s, const char *app)
{
	json_t *row = NULL;
	int rc;

	*out = NULL;
	rc = store_query_row(&row, s, "SELECT buildpacks AS buildpacks_json"
	    " FROM apps WHERE name = ?", "s", app);
	if (rc == ERR_NOTFOUND)
		return err_set(rc, "no such app '%s'", app);
	if (rc < 0)
		return rc;
	*out = json_incref(json_object_get(row, "buildpacks"));
	json_decref(row);
	if (!json_is_array(*out)) {
		/* only this file writes it: anything else is no list */
		json_decref(*out);
		*out = json_array();
	}
	return 0;
}

/* Where url is in list, or -1. */
static int64_t
bps_find(json_t *list, const char *url)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), url) == 0)
			return (int64_t)i;
	return -1;
}

static int
bps_apply(json_t *list, const char *op, const char *url, int64_t index)
{
	int64_t n = (int64_t)json_array_size(list), at;

	if (strcmp(op, "clear") == 0)
		return json_array_clear(list) == 0 ? 0 : ERR_IO;
	if (index < 0 || index > NAME_BUILDPACKS_MAX)
		return err_set(ERR_INVALID, "index %lld is not 1 to %d",
		    (long long)index, NAME_BUILDPACKS_MAX);
	if (strcmp(op, "remove") == 0) {
		at = url ? bps_find(list, url) : index - 1;
		if (url == NULL && index == 0)
			return err_set(ERR_INVALID, "remove needs a buildpack "
			    "or an index");
		if (at < 0 || at >= n)
			return url ? err_set(ERR_NOTFOUND, "buildpack '%.200s' "
			    "is not in the app's list", url) :
			    err_set(ERR_NOTFOUND, "the app's list has no "
			    "buildpack %lld", (long long)index);
		json_array_remove(list, (size_t)at);
		return 0;
	}
	if (url == NULL || name_buildpack_check(url) < 0)
		return url ? ERR_INVALID : err_set(ERR_INVALID, "%s needs a "
		    "buildpack", op);
	if (strcmp(op, "set") == 0) {
		if (index == 0) {
			json_array_clear(list);
			json_array_append_new(list, json_string(url));
			return 0;
		}
		if (index > n + 1)
			return err_set(ERR_INVALID, "index %lld is past the "
			    "end of the app's %lld buildpack(s)",
			    (long long)index, (long long)n);
		at = bps_find(list, url);
		if (at >= 0 && at != index - 1)
			return err_set(ERR_EXISTS, "buildpack '%.200s' is "
			    "already buildpack %lld", url, (long long)at + 1);
		if (index == n + 1)
			json_array_append_new(list, json_string(url));
		else
			json_array_set_new(list, (size_t)(index - 1),
			    json_string(url));
		return 0;
	}
	if (strcmp(op, "add") == 0) {
		if ((at = bps_find(list, url)) >= 0)
			return err_set(ERR_EXISTS, "buildpack '%.200s' is "
			    "already buildpack %lld", url, (long long)at + 1);
		if (n >= NAME_BUILDPACKS_MAX)
			return err_set(ERR_INVALID, "an app has at most %d "
			    "buildpacks", NAME_BUILDPACKS_MAX);
		if (index == 0 || index > n)
			json_array_append_new(list, json_string(url));
		else
			json_array_insert_new(list, (size_t)(index - 1),
			    json_string(url));
		return 0;
	}
	return err_set(ERR_INVALID, "'%.20s' is not add, set, remove or "
	    "clear", op);
}

int
store_app_buildpacks_edit(json_t **out, struct store *s, const char *app,
    const char *op, const char *url, int64_t index)
{
	json_t *list = NULL;
	char *text = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_buildpacks_get(&list, s, app)) < 0 ||
	    (rc = bps_apply(list, op, url, index)) < 0)
		goto done;
	text = json_dumps(list, JSON_COMPACT);
	if ((rc = store_exec(s, NULL, "UPDATE apps SET buildpacks = ?"
	    " WHERE name = ?", "ss", text, app)) < 0)
		goto done;
	*out = list;
	list = NULL;
done:
	free(text);
	json_decref(list);
	return store_tx_end_json(s, rc, out);
}

int
store_app_stack_set(struct store *s, const char *app, const char *stack)
{
	int changes = 0, rc;

	/* the stack rule (image_stack_name_is_valid) is the app rule */
	if (stack && !name_app_is_valid(stack))
		return err_set(ERR_INVALID, "'%.64s' is not a stack name",
		    stack);
	rc = store_exec(s, &changes, "UPDATE apps SET stack = ? WHERE name = ?",
	    "ss", stack, app);
	if (rc == 0 && changes == 0)
		rc = err_set(ERR_NOTFOUND, "no such app '%s'", app);
	return rc;
}

int
store_app_building(bool *out, struct store *s, const char *app)
{
	int64_t id;
	int rc;

	*out = false;
	if ((rc = store_app_id(&id, s, app)) < 0)
		return rc;
	rc = store_query_int(NULL, s, "SELECT 1 FROM builds WHERE app_id = ?"
	    " AND status IN ('pending', 'running') LIMIT 1", "i", id);
	if (rc < 0)
		return rc;
	*out = rc == 1;
	return 0;
}
