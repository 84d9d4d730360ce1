/*
 * API handlers for the SSH git server (slipway sshd) and the programs it
 * runs: SSH sessions and the access check a push starts with.
 *
 * The SSH server holds an admin token of its own (a service token) and
 * uses it for two things only: finding whose key is connecting
 * (GET /v1/keys/SHA256:...) and minting, for each session, a short-lived
 * token of that user (POST /v1/ssh/sessions).  Everything the session does
 * after that (creating the app, recording the build, pushing the image,
 * making the release) is done with the user's session token, so the
 * controller's own permission checks decide, exactly as they do for the
 * CLI.  The session token is revoked when the session ends and expires
 * by itself after its ttl if nobody revokes it.
 */
#include <stdio.h>
#include <string.h>

#include "ctl_int.h"
#include "slipway/err.h"
#include "slipway/log.h"

/* Longest a session may run before its token dies: a push with a 15 min
 * build, its image push and the rollout fit well inside. */
#define CTL_SSH_SESSION_TTL_DEFAULT 3600

void
ctl_ssh_session_create(struct ctl_call *c)
{
	char token[STORE_TOKEN_LEN], label[128];
	const char *fp, *user;
	const struct ctl_field field = { "fingerprint", &fp,
	    "'fingerprint' is required (SHA256:...)" };
	json_int_t ttl = CTL_SSH_SESSION_TTL_DEFAULT;
	json_t *key = NULL, *t = NULL;

	if (!ctl_need_admin(c) || !ctl_body_fields(c, &field, 1) ||
	    !ctl_body_ttl(c, &ttl) ||
	    !ctl_check(c, store_key_get(&key, c->st, fp)))
		return;
	user = json_string_value(json_object_get(key, "user"));
	snprintf(label, sizeof(label), "ssh session %.80s", fp);
	if (!ctl_check(c, store_token_create_ttl(token, &t, c->st, user, label,
	    ttl))) {
		json_decref(key);
		return;
	}
	log_info("%s opened an SSH session for '%s' (key %s, token %"
	    JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT " s)",
	    c->actor.name, user, fp,
	    json_integer_value(json_object_get(t, "id")), ttl);
	json_object_set_new(t, "token", json_string(token));
	json_object_set_new(t, "fingerprint", json_string(fp));
	json_decref(key);
	ctl_reply(c, 201, t);
}

void
ctl_apps_access(struct ctl_call *c)
{
	struct store_access acc;
	json_t *app;
	bool owner;

	if (!ctl_need_user(c) ||
	    !ctl_check(c, store_app_access(&acc, c->st, &c->actor, c->seg[1])) ||
	    !ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		return;
	owner = c->actor.admin || strcmp(json_string_value(json_object_get(app,
	    "owner")), c->actor.name) == 0;
	/* What the app is (uid, branch, groups) only to those who may read
	 * it. */
	ctl_reply(c, 200, json_pack("{s:s, s:s, s:b, s:b, s:b, s:s?, s:s?, "
	    "s:s?}", "app", c->seg[1], "user", c->actor.name, "read", acc.read,
	    "deploy", acc.deploy, "owner", owner && acc.read, "uid",
	    acc.read ? acc.uid : NULL, "deploy_branch", acc.read ?
	    json_string_value(json_object_get(app, "deploy_branch")) : NULL,
	    "denied_group", acc.read && !acc.deploy && acc.denied_group[0] ?
	    acc.denied_group : NULL));
	json_decref(app);
}
