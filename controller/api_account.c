/*
 * API handlers for who may do what: users, API tokens, SSH keys and
 * deployment groups.  Admins manage everyone; a member manages their own
 * tokens and keys and nothing else here.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/parse.h"

/* The user a call is about: ?user= / body "user" when an admin names one,
 * the caller otherwise.  NULL (answered) when a member names another. */
static const char *
api_target_user(struct api_call *c, const char *named)
{
	if (named == NULL || strcmp(named, c->actor.name) == 0)
		return c->actor.name;
	if (!c->actor.admin) {
		api_error(c, 403, "forbidden", "only an admin may act for "
		    "another user");
		return NULL;
	}
	return named;
}

bool
api_body_ttl(struct api_call *c, json_int_t *out)
{
	json_t *v = json_object_get(c->body, "ttl");

	if (v == NULL || json_is_null(v))
		return true;
	*out = json_is_integer(v) ? json_integer_value(v) : -1;
	if (*out < 1 || *out > STORE_TOKEN_TTL_MAX) {
		api_error(c, 422, "invalid", "'ttl' is 1 to %d seconds",
		    STORE_TOKEN_TTL_MAX);
		return false;
	}
	return true;
}

void
api_me(struct api_call *c)
{
	json_t *u;

	if (api_need_user(c) &&
	    api_check(c, store_user_get(&u, c->st, c->actor.name)))
		api_reply(c, 200, u);
}

/* ---- users ---- */

void
api_users_list(struct api_call *c)
{
	json_t *list;

	if (api_need_admin(c) && api_check(c, store_user_list(&list, c->st)))
		api_reply(c, 200, list);
}

void
api_users_create(struct api_call *c)
{
	const char *name, *role;
	const struct api_field fields[] = {
		{ "name", &name, "'name' is required" },
		{ "role", &role, NULL },
	};
	json_t *u;

	if (!api_need_admin(c) || !api_body_fields(c, fields, 2))
		return;
	if (role && strcmp(role, "admin") && strcmp(role, "member")) {
		api_error(c, 422, "invalid", "'role' is admin or "
		    "member");
		return;
	}
	if (!api_check(c, store_user_create(c->st, name, role &&
	    !strcmp(role, "admin"))) ||
	    !api_check(c, store_user_get(&u, c->st, name)))
		return;
	log_info("%s added user '%s' (%s)", c->actor.name, name,
	    role ? role : "member");
	api_reply(c, 201, u);
}

void
api_users_get(struct api_call *c)
{
	const char *name;
	json_t *u;

	/* The caller first: a runner key is refused as such, and with one
	 * answer, not after api_target_user has answered for it. */
	if (api_need_user(c) &&
	    (name = api_target_user(c, c->seg[1])) != NULL &&
	    api_check(c, store_user_get(&u, c->st, name)))
		api_reply(c, 200, u);
}

void
api_users_delete(struct api_call *c)
{
	if (!api_need_admin(c) ||
	    !api_check(c, store_user_delete(c->st, c->seg[1])))
		return;
	log_info("%s removed user '%s'", c->actor.name, c->seg[1]);
	api_reply(c, 200, json_pack("{ss}", "removed", c->seg[1]));
}

/* ---- tokens ---- */

void
api_tokens_list(struct api_call *c)
{
	const char *user;
	json_t *list;

	if (!api_need_user(c))
		return;
	user = httpd_req_query(c->req, "user");
	if (c->actor.admin && user == NULL &&
	    httpd_req_query(c->req, "all") != NULL)
		user = NULL;    /* every user's */
	else if ((user = api_target_user(c, user)) == NULL)
		return;
	if (api_check(c, store_token_list(&list, c->st, user)))
		api_reply(c, 200, list);
}

void
api_tokens_create(struct api_call *c)
{
	char token[STORE_TOKEN_LEN];
	const char *user = NULL, *label = NULL;
	const struct api_field fields[] = {
		{ "user", &user, NULL }, { "label", &label, NULL },
	};
	json_int_t ttl = 0;
	json_t *t;

	if (!api_need_user(c))
		return;
	/* A body is optional.  Its ttl makes a token that dies by itself
	 * (seconds): for CI jobs and the like; the SSH server's session
	 * tokens are made the same way (controller/api_ssh.c). */
	if (c->body && (!api_body_fields(c, fields, 2) ||
	    !api_body_ttl(c, &ttl)))
		return;
	if ((user = api_target_user(c, user)) == NULL ||
	    !api_check(c, store_token_create_ttl(token, &t, c->st, user,
	    label, ttl)))
		return;
	log_info("%s made token %lld for '%s'", c->actor.name,
	    (long long)json_integer_value(json_object_get(t, "id")), user);
	json_object_set_new(t, "token", json_string(token));
	api_reply(c, 201, t);
}

void
api_tokens_revoke(struct api_call *c)
{
	unsigned long long id;

	if (!api_need_user(c))
		return;
	if (parse_uint(&id, c->seg[1], 1, INT64_MAX) < 0) {
		api_error(c, 404, "not_found", "no such token '%.40s'",
		    c->seg[1]);
		return;
	}
	if (!api_check(c, store_token_revoke(c->st, id, c->actor.admin ?
	    NULL : c->actor.name)))
		return;
	log_info("%s revoked token %llu", c->actor.name, id);
	api_reply(c, 200, json_pack("{sI}", "revoked", (json_int_t)id));
}

/* ---- keys ---- */

void
api_keys_list(struct api_call *c)
{
	const char *user;
	json_t *list;

	if (!api_need_user(c))
		return;
	user = httpd_req_query(c->req, "user");
	if (c->actor.admin && user == NULL)
		user = NULL;    /* an admin sees every key */
	else if ((user = api_target_user(c, user)) == NULL)
		return;
	if (api_check(c, store_key_list(&list, c->st, user)))
		api_reply(c, 200, list);
}

void
api_keys_add(struct api_call *c)
{
	const char *user, *key;
	const struct api_field fields[] = {
		{ "user", &user, NULL },
		{ "public_key", &key, "'public_key' is required (the line "
		    "of an OpenSSH .pub file)" },
	};
	json_t *k;

	if (!api_need_user(c) || !api_body_fields(c, fields, 2) ||
	    (user = api_target_user(c, user)) == NULL ||
	    !api_check(c, store_key_add(&k, c->st, user, key)))
		return;
	log_info("%s added key %s for '%s'", c->actor.name,
	    json_string_value(json_object_get(k, "fingerprint")), user);
	api_reply(c, 201, k);
}

void
api_keys_get(struct api_call *c)
{
	json_t *k;

	if (!api_need_user(c) ||
	    !api_check(c, store_key_get(&k, c->st, c->rest)))
		return;
	if (!c->actor.admin && strcmp(json_string_value(json_object_get(k,
	    "user")), c->actor.name) != 0) {
		json_decref(k);
		api_error(c, 404, "not_found", "no such key '%.80s'",
		    c->rest);
		return;
	}
	api_reply(c, 200, k);
}

void
api_keys_remove(struct api_call *c)
{
	if (!api_need_user(c) ||
	    !api_check(c, store_key_remove(c->st, c->rest, c->actor.admin ?
	    NULL : c->actor.name)))
		return;
	log_info("%s removed key %s", c->actor.name, c->rest);
	api_reply(c, 200, json_pack("{ss}", "removed", c->rest));
}

/* ---- groups ---- */

void
api_groups_list(struct api_call *c)
{
	json_t *list;

	if (api_need_user(c) && api_check(c, store_group_list(&list, c->st)))
		api_reply(c, 200, list);
}

void
api_groups_create(struct api_call *c)
{
	const char *name;

	if (!api_need_admin(c) || !api_body_need(c, "name", &name) ||
	    !api_check(c, store_group_create(c->st, name)))
		return;
	log_info("%s made group '%s'", c->actor.name, name);
	api_reply(c, 201, json_pack("{ss}", "name", name));
}

void
api_groups_delete(struct api_call *c)
{
	if (!api_need_admin(c) ||
	    !api_check(c, store_group_delete(c->st, c->seg[1])))
		return;
	ctl_schedule_kick(c->ctl, c->st);
	api_reply(c, 200, json_pack("{ss}", "removed", c->seg[1]));
}

/* May the caller put app into (or take it out of) group?  Admins may; an
 * app's owner may when granted in that group. */
static bool
api_group_app_allowed(struct api_call *c, const char *group, const char *app)
{
	bool in = false;

	if (!api_app_owner(c, app))
		return false;
	if (c->actor.admin)
		return true;
	if (!api_check(c, store_group_has_user(&in, c->st, group,
	    c->actor.user_id)))
		return false;
	if (!in)
		api_error(c, 403, "forbidden", "you may not deploy to group "
		    "'%s'", group);
	return in;
}

void
api_groups_add_app(struct api_call *c)
{
	const char *app;

	if (!api_need_user(c) || !api_body_need(c, "app", &app) ||
	    !api_group_app_allowed(c, c->seg[1], app) ||
	    !api_check(c, store_group_add_app(c->st, c->seg[1], app)))
		return;
	log_info("%s deployed app '%s' to group '%s'", c->actor.name, app,
	    c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	api_reply(c, 201, json_pack("{ssss}", "group", c->seg[1], "app", app));
}

void
api_groups_remove_app(struct api_call *c)
{
	if (!api_need_user(c) ||
	    !api_group_app_allowed(c, c->seg[1], c->seg[3]) ||
	    !api_check(c, store_group_remove_app(c->st, c->seg[1],
	    c->seg[3])))
		return;
	ctl_schedule_kick(c->ctl, c->st);
	api_reply(c, 200, json_pack("{ssss}", "group", c->seg[1], "removed",
	    c->seg[3]));
}

void
api_groups_add_user(struct api_call *c)
{
	const char *user;

	if (!api_need_admin(c) || !api_body_need(c, "user", &user) ||
	    !api_check(c, store_group_add_user(c->st, c->seg[1], user)))
		return;
	log_info("%s granted '%s' group '%s'", c->actor.name, user, c->seg[1]);
	api_reply(c, 201, json_pack("{ssss}", "group", c->seg[1], "user",
	    user));
}

void
api_groups_remove_user(struct api_call *c)
{
	if (!api_need_admin(c) ||
	    !api_check(c, store_group_remove_user(c->st, c->seg[1],
	    c->seg[3])))
		return;
	api_reply(c, 200, json_pack("{ssss}", "group", c->seg[1], "removed",
	    c->seg[3]));
}
