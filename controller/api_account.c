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
ctl_target_user(struct ctl_call *c, const char *named)
{
	if (named == NULL || strcmp(named, c->actor.name) == 0)
		return c->actor.name;
	if (!c->actor.admin) {
		ctl_error(c, 403, "forbidden", "only an admin may act for "
		    "another user");
		return NULL;
	}
	return named;
}

bool
ctl_body_ttl(struct ctl_call *c, json_int_t *out)
{
	json_t *v = json_object_get(c->body, "ttl");

	if (v == NULL || json_is_null(v))
		return true;
	*out = json_is_integer(v) ? json_integer_value(v) : -1;
	if (*out < 1 || *out > STORE_TOKEN_TTL_MAX) {
		ctl_error(c, 422, "invalid", "'ttl' is 1 to %d seconds",
		    STORE_TOKEN_TTL_MAX);
		return false;
	}
	return true;
}

void
ctl_me(struct ctl_call *c)
{
	json_t *u;

	if (ctl_need_user(c) &&
	    ctl_check(c, store_user_get(&u, c->st, c->actor.name)))
		ctl_reply(c, 200, u);
}

/* ---- users ---- */

void
ctl_users_list(struct ctl_call *c)
{
	json_t *list;

	if (ctl_need_admin(c) && ctl_check(c, store_user_list(&list, c->st)))
		ctl_reply(c, 200, list);
}

void
ctl_users_create(struct ctl_call *c)
{
	const char *name, *role;
	const struct ctl_field fields[] = {
		{ "name", &name, "'name' is required" },
		{ "role", &role, NULL },
	};
	json_t *u;

	if (!ctl_need_admin(c) || !ctl_body_fields(c, fields, 2))
		return;
	if (role && strcmp(role, "admin") && strcmp(role, "member")) {
		ctl_error(c, 422, "invalid", "'role' is admin or "
		    "member");
		return;
	}
	if (!ctl_check(c, store_user_create(c->st, name, role &&
	    !strcmp(role, "admin"))) ||
	    !ctl_check(c, store_user_get(&u, c->st, name)))
		return;
	log_info("%s added user '%s' (%s)", c->actor.name, name,
	    role ? role : "member");
	ctl_reply(c, 201, u);
}

void
ctl_users_get(struct ctl_call *c)
{
	const char *name;
	json_t *u;

	/* The caller first: a runner key is refused as such, and with one
	 * answer, not after ctl_target_user has answered for it. */
	if (ctl_need_user(c) &&
	    (name = ctl_target_user(c, c->seg[1])) != NULL &&
	    ctl_check(c, store_user_get(&u, c->st, name)))
		ctl_reply(c, 200, u);
}

void
ctl_users_delete(struct ctl_call *c)
{
	if (!ctl_need_admin(c) ||
	    !ctl_check(c, store_user_delete(c->st, c->seg[1])))
		return;
	log_info("%s removed user '%s'", c->actor.name, c->seg[1]);
	ctl_reply(c, 200, json_pack("{ss}", "removed", c->seg[1]));
}

/* ---- tokens ---- */

void
ctl_tokens_list(struct ctl_call *c)
{
	const char *user;
	json_t *list;

	if (!ctl_need_user(c))
		return;
	user = httpd_req_query(c->req, "user");
	if (c->actor.admin && user == NULL &&
	    httpd_req_query(c->req, "all") != NULL)
		user = NULL;    /* every user's */
	else if ((user = ctl_target_user(c, user)) == NULL)
		return;
	if (ctl_check(c, store_token_list(&list, c->st, user)))
		ctl_reply(c, 200, list);
}

void
ctl_tokens_create(struct ctl_call *c)
{
	char token[STORE_TOKEN_LEN];
	const char *user = NULL, *label = NULL;
	const struct ctl_field fields[] = {
		{ "user", &user, NULL }, { "label", &label, NULL },
	};
	json_int_t ttl = 0;
	json_t *t;

	if (!ctl_need_user(c))
		return;
	/* A body is optional.  Its ttl makes a token that dies by itself
	 * (seconds): for CI jobs and the like; the SSH server's session
	 * tokens are made the same way (controller/api_ssh.c). */
	if (c->body && (!ctl_body_fields(c, fields, 2) ||
	    !ctl_body_ttl(c, &ttl)))
		return;
	if ((user = ctl_target_user(c, user)) == NULL ||
	    !ctl_check(c, store_token_create_ttl(token, &t, c->st, user,
	    label, ttl)))
		return;
	log_info("%s made token %lld for '%s'", c->actor.name,
	    (long long)json_integer_value(json_object_get(t, "id")), user);
	json_object_set_new(t, "token", json_string(token));
	ctl_reply(c, 201, t);
}

void
ctl_tokens_revoke(struct ctl_call *c)
{
	unsigned long long id;

	if (!ctl_need_user(c))
		return;
	if (parse_uint(&id, c->seg[1], 1, INT64_MAX) < 0) {
		ctl_error(c, 404, "not_found", "no such token '%.40s'",
		    c->seg[1]);
		return;
	}
	if (!ctl_check(c, store_token_revoke(c->st, id, c->actor.admin ?
	    NULL : c->actor.name)))
		return;
	log_info("%s revoked token %llu", c->actor.name, id);
	ctl_reply(c, 200, json_pack("{sI}", "revoked", (json_int_t)id));
}

/* ---- keys ---- */

void
ctl_keys_list(struct ctl_call *c)
{
	const char *user;
	json_t *list;

	if (!ctl_need_user(c))
		return;
	user = httpd_req_query(c->req, "user");
	if (c->actor.admin && user == NULL)
		user = NULL;    /* an admin sees every key */
	else if ((user = ctl_target_user(c, user)) == NULL)
		return;
	if (ctl_check(c, store_key_list(&list, c->st, user)))
		ctl_reply(c, 200, list);
}

void
ctl_keys_add(struct ctl_call *c)
{
	const char *user, *key;
	const struct ctl_field fields[] = {
		{ "user", &user, NULL },
		{ "public_key", &key, "'public_key' is required (the line "
		    "of an OpenSSH .pub file)" },
	};
	json_t *k;

	if (!ctl_need_user(c) || !ctl_body_fields(c, fields, 2) ||
	    (user = ctl_target_user(c, user)) == NULL ||
	    !ctl_check(c, store_key_add(&k, c->st, user, key)))
		return;
	log_info("%s added key %s for '%s'", c->actor.name,
	    json_string_value(json_object_get(k, "fingerprint")), user);
	ctl_reply(c, 201, k);
}

void
ctl_keys_get(struct ctl_call *c)
{
	json_t *k;

	if (!ctl_need_user(c) ||
	    !ctl_check(c, store_key_get(&k, c->st, c->rest)))
		return;
	if (!c->actor.admin && strcmp(json_string_value(json_object_get(k,
	    "user")), c->actor.name) != 0) {
		json_decref(k);
		ctl_error(c, 404, "not_found", "no such key '%.80s'",
		    c->rest);
		return;
	}
	ctl_reply(c, 200, k);
}

void
ctl_keys_remove(struct ctl_call *c)
{
	if (!ctl_need_user(c) ||
	    !ctl_check(c, store_key_remove(c->st, c->rest, c->actor.admin ?
	    NULL : c->actor.name)))
		return;
	log_info("%s removed key %s", c->actor.name, c->rest);
	ctl_reply(c, 200, json_pack("{ss}", "removed", c->rest));
}

/* ---- groups ---- */

void
ctl_groups_list(struct ctl_call *c)
{
	json_t *list;

	if (ctl_need_user(c) && ctl_check(c, store_group_list(&list, c->st)))
		ctl_reply(c, 200, list);
}

void
ctl_groups_create(struct ctl_call *c)
{
	const char *name;

	if (!ctl_need_admin(c) || !ctl_body_need(c, "name", &name) ||
	    !ctl_check(c, store_group_create(c->st, name)))
		return;
	log_info("%s made group '%s'", c->actor.name, name);
	ctl_reply(c, 201, json_pack("{ss}", "name", name));
}

void
ctl_groups_delete(struct ctl_call *c)
{
	if (!ctl_need_admin(c) ||
	    !ctl_check(c, store_group_delete(c->st, c->seg[1])))
		return;
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{ss}", "removed", c->seg[1]));
}

/* May the caller put app into (or take it out of) group?  Admins may; an
 * app's owner may when granted in that group. */
static bool
ctl_group_app_allowed(struct ctl_call *c, const char *group, const char *app)
{
	bool in = false;

	if (!ctl_app_owner(c, app))
		return false;
	if (c->actor.admin)
		return true;
	if (!ctl_check(c, store_group_has_user(&in, c->st, group,
	    c->actor.user_id)))
		return false;
	if (!in)
		ctl_error(c, 403, "forbidden", "you may not deploy to group "
		    "'%s'", group);
	return in;
}

void
ctl_groups_add_app(struct ctl_call *c)
{
	const char *app;

	if (!ctl_need_user(c) || !ctl_body_need(c, "app", &app) ||
	    !ctl_group_app_allowed(c, c->seg[1], app) ||
	    !ctl_check(c, store_group_add_app(c->st, c->seg[1], app)))
		return;
	log_info("%s deployed app '%s' to group '%s'", c->actor.name, app,
	    c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 201, json_pack("{ssss}", "group", c->seg[1], "app", app));
}

void
ctl_groups_remove_app(struct ctl_call *c)
{
	if (!ctl_need_user(c) ||
	    !ctl_group_app_allowed(c, c->seg[1], c->seg[3]) ||
	    !ctl_check(c, store_group_remove_app(c->st, c->seg[1],
	    c->seg[3])))
		return;
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{ssss}", "group", c->seg[1], "removed",
	    c->seg[3]));
}

void
ctl_groups_add_user(struct ctl_call *c)
{
	const char *user;

	if (!ctl_need_admin(c) || !ctl_body_need(c, "user", &user) ||
	    !ctl_check(c, store_group_add_user(c->st, c->seg[1], user)))
		return;
	log_info("%s granted '%s' group '%s'", c->actor.name, user, c->seg[1]);
	ctl_reply(c, 201, json_pack("{ssss}", "group", c->seg[1], "user",
	    user));
}

void
ctl_groups_remove_user(struct ctl_call *c)
{
	if (!ctl_need_admin(c) ||
	    !ctl_check(c, store_group_remove_user(c->st, c->seg[1],
	    c->seg[3])))
		return;
	ctl_reply(c, 200, json_pack("{ssss}", "group", c->seg[1], "removed",
	    c->seg[3]));
}
