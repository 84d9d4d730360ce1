/*
 * Release rules, as Deis and Heroku have them, as pure functions: applying
 * a config change, the one-line summaries, and which release a rollback
 * copies.  The store (store_releases.c) numbers and records releases.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/store.h"

/* Does change set key to something other than what values hold? */
static bool
release_key_changes(json_t *values, const char *key, json_t *change)
{
	json_t *old = json_object_get(values, key);

	if (json_is_null(change))
		return old != NULL;
	return old == NULL || !json_equal(old, change);
}

int
store_release_config_apply(json_t **out, bool *changed, json_t *values,
    json_t *changes)
{
	const char *key;
	json_t *v, *next;

	if (!json_is_object(changes))
		return err_set(ERR_INVALID, "config changes must be an object "
		    "of KEY: \"value\" (or null to unset)");
	if (values != NULL && !json_is_object(values))
		return err_set(ERR_INVALID, "config values must be an object");
	json_object_foreach(changes, key, v) {
		if (!name_env_key_is_valid(key))
			return err_set(ERR_INVALID, "invalid config key "
			    "'%.64s': use a letter or _, then letters, digits "
			    "or _", key);
		if (json_is_null(v))
			continue;
		if (!json_is_string(v))
			return err_set(ERR_INVALID, "value of %s must be a "
			    "string", key);
		if (json_string_length(v) > STORE_ENV_VALUE_MAX)
			return err_set(ERR_TOOBIG, "value of %s is over %d "
			    "bytes", key, STORE_ENV_VALUE_MAX);
		if (strlen(json_string_value(v)) != json_string_length(v))
			return err_set(ERR_INVALID, "value of %s has a NUL "
			    "byte", key);
	}
	next = values ? json_deep_copy(values) : json_object();
	*changed = false;
	json_object_foreach(changes, key, v) {
		if (!release_key_changes(next, key, v))
			continue;
		*changed = true;
		if (json_is_null(v))
			json_object_del(next, key);
		else
			json_object_set(next, key, v);
	}
	if (json_object_size(next) > STORE_ENV_MAX) {
		json_decref(next);
		return err_set(ERR_TOOBIG, "an app has at most %d config "
		    "variables", STORE_ENV_MAX);
	}
	*out = next;
	return 0;
}

/* Append "KEY" to b, with sep before all but the first, unless the
 * summary would pass its cap: then count it in *more. */
static void
release_summary_key(struct buf *b, const char *sep, bool first,
    const char *key, size_t *more)
{
	size_t add = strlen(key) + (first ? 0 : strlen(sep));

	/* Room is kept for " ... (+NNNN more)". */
	if (*more || b->len + add > STORE_RELEASE_SUMMARY_MAX - 20) {
		(*more)++;
		return;
	}
	if (!first)
		buf_puts(b, sep);
	buf_puts(b, key);
}

char *
store_release_summary_config(json_t *values, json_t *changes)
{
	struct buf b;
	const char *key;
	json_t *v;
	size_t more = 0;
	int pass, n;

	buf_init(&b, STORE_RELEASE_SUMMARY_MAX + 1);
	/* Pass 0 names the keys set, pass 1 the keys unset. */
	for (pass = 0; pass < 2; pass++) {
		n = 0;
		json_object_foreach(changes, key, v) {
			if (json_is_null(v) != (pass == 1) ||
			    !release_key_changes(values, key, v))
				continue;
			if (n == 0) {
				if (b.len && !more)
					buf_puts(&b, "; ");
				if (!more)
					buf_puts(&b, pass ? "unset " : "set ");
			}
			release_summary_key(&b, ", ", n == 0, key, &more);
			n++;
		}
	}
	if (more)
		buf_printf(&b, " ... (+%zu more)", more);
	if (b.len == 0)
		buf_puts(&b, "config unchanged");
	return buf_detach(&b, NULL);
}

char *
store_release_summary_deploy(const char *rev)
{
	if (rev == NULL || rev[0] == '\0')
		return xstrdup("deploy");
	return xasprintf("deploy %.7s", rev);
}

char *
store_release_summary_rollback(int64_t target)
{
	return xasprintf("rollback to v%" PRId64, target);
}

int
store_release_rollback_target(int64_t *out, int64_t current, int64_t requested)
{
	if (requested < 0)
		return err_set(ERR_INVALID, "v%" PRId64 " is not a release",
		    requested);
	if (current <= 0)
		return err_set(ERR_INVALID, "the app has no releases to roll "
		    "back");
	if (requested == 0) {
		if (current < 2)
			return err_set(ERR_INVALID, "nothing to roll back "
			    "to: v1 is the first release");
		*out = current - 1;
		return 0;
	}
	if (requested > current)
		return err_set(ERR_NOTFOUND, "no release v%" PRId64 " (the "
		    "current release is v%" PRId64 ")", requested, current);
	if (requested == current)
		return err_set(ERR_INVALID, "v%" PRId64 " is the current "
		    "release", requested);
	*out = requested;
	return 0;
}
