/*
 * API handlers for runners (admin side: add, list, remove; runner side,
 * authenticated with the runner's server key: register, heartbeat,
 * desired-state long-poll, status report) and the registry token endpoint
 * of the Docker token flow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/base64.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/jwt.h"
#include "slipway/log.h"
#include "slipway/name.h"

#define RUNNER_HEARTBEAT_EVERY 10
#define SCOPES_MAX 16

/* ---- admin side ---- */

void
ctl_runners_list(struct ctl_call *c)
{
	json_t *list;

	if (ctl_need_admin(c) && ctl_check(c, store_runner_list(&list, c->st,
	    ctl_live_after(c->ctl))))
		ctl_reply(c, 200, list);
}

void
ctl_runners_create(struct ctl_call *c)
{
	char key[STORE_TOKEN_LEN];
	const char *name, *group;
	const struct ctl_field fields[] = {
		{ "name", &name, "'name' is required" },
		{ "group", &group, NULL },
	};
	json_t *r;

	if (!ctl_need_admin(c) || !ctl_body_fields(c, fields, 2))
		return;
	if (group == NULL)
		group = "default";
	if (!ctl_check(c, store_runner_create(key, &r, c->st, name, group)))
		return;
	log_info("%s added runner '%s' to group '%s'", c->actor.name, name,
	    group);
	json_object_set_new(r, "server_key", json_string(key));
	ctl_reply(c, 201, r);
}

void
ctl_runners_delete(struct ctl_call *c)
{
	if (!ctl_need_admin(c) ||
	    !ctl_check(c, store_runner_delete(c->st, c->seg[1])))
		return;
	log_info("%s removed runner '%s'", c->actor.name, c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{ss}", "removed", c->seg[1]));
}

/* ---- runner side ---- */

/* The header a runner names its session in, on every call but register. */
#define RUNNER_SESSION_HEADER "X-Slipway-Session"

/*
 * Renew the lease of the calling runner's session: false after answering
 * when the call is not a runner's, or its session is not the key's
 * current one (409: the key was registered again elsewhere), or the
 * renewal cannot be stored.  A lease that had lapsed makes the schedule
 * give the runner slots again.  *epoch (may be NULL): the session's.
 */
static bool
ctl_runner_lease(struct ctl_call *c, int64_t *epoch)
{
	bool was_live = true;

	if (!ctl_need_runner(c) || !ctl_check(c, store_runner_renew(&was_live,
	    epoch, c->st, c->actor.runner_id, httpd_req_header(c->req,
	    RUNNER_SESSION_HEADER), time(NULL), ctl_live_after(c->ctl))))
		return false;
	if (!was_live) {
		log_info("runner '%s' renews its lease again", c->actor.name);
		ctl_schedule_check(c->ctl, c->st);
	}
	return true;
}

void
ctl_runner_register(struct ctl_call *c)
{
	const char *addr = httpd_req_peer(c->req), *presented = NULL;
	json_t *sess = NULL, *v;

	if (!ctl_need_runner(c))
		return;
	/* the session it held before, when it restarts: an optional body */
	if (json_is_object(c->body) &&
	    (v = json_object_get(c->body, "session")) != NULL) {
		if (!json_is_string(v) || json_string_length(v) > 100) {
			ctl_error(c, 422, "invalid", "'session' is the string "
			    "register gave");
			return;
		}
		presented = json_string_value(v);
	}
	if (!ctl_check(c, store_runner_session_open(&sess, c->st,
	    c->actor.runner_id, presented, addr ? addr : "?", time(NULL),
	    ctl_live_after(c->ctl)))) {
		log_warnx("runner '%s': register from %s refused: %s",
		    c->actor.name, addr ? addr : "?", err_last());
		return;
	}
	log_info("runner '%s' (group '%s') registered from %s, epoch %"
	    JSON_INTEGER_FORMAT, c->actor.name, c->actor.group,
	    addr ? addr : "?", json_integer_value(json_object_get(sess,
	    "epoch")));
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{sssssOsOsOsisisisi}", "runner",
	    c->actor.name, "group", c->actor.group,
	    "session", json_object_get(sess, "session"),
	    "epoch", json_object_get(sess, "epoch"),
	    "since", json_object_get(sess, "since"),
	    "heartbeat_interval", RUNNER_HEARTBEAT_EVERY,
	    "renew_every", CTL_RUNNER_RENEW_EVERY,
	    "lease", c->ctl->runner_timeout,
	    "timeout", c->ctl->runner_timeout));
	json_decref(sess);
}

void
ctl_runner_heartbeat(struct ctl_call *c)
{
	int64_t epoch = 0;

	if (!ctl_runner_lease(c, &epoch))
		return;
	ctl_reply(c, 200, json_pack("{sssIsi}", "status", "ok", "epoch",
	    (json_int_t)epoch, "lease", c->ctl->runner_timeout));
}

/* The runner's desired state with its version (a digest of the rest). */
static int
ctl_desired_doc(json_t **out, struct ctl_call *c)
{
	char d[DIGEST_STR_MAX], *text;
	int rc;

	json_t *maint = NULL;

	if ((rc = store_schedule_for_runner(out, c->st,
	    c->actor.runner_id)) < 0)
		return rc;
	/* the apps in maintenance: the runner's proxy answers for them */
	if ((rc = store_maintenance_for_runner(&maint, c->st,
	    c->actor.runner_id)) < 0) {
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	json_object_set_new(*out, "maintenance", maint);
	ctl_desired_extend(c->ctl, *out, c->actor.name);
	text = json_dumps(*out, JSON_COMPACT | JSON_SORT_KEYS);
	digest_buf(d, DIGEST_SHA256, text, strlen(text));
	free(text);
	json_object_set_new(*out, "version", json_stringn(d + 7, 16));
	return 0;
}

void
ctl_runner_desired(struct ctl_call *c)
{
	const char *have = httpd_req_query(c->req, "version");
	struct ctl *ctl = c->ctl;
	struct timespec deadline;
	json_t *doc = NULL;
	long wait;
	uint64_t gen;
	int rc;

	int64_t epoch = 0;

	/* Polling for work renews the lease, before the doc is made: what
	 * the doc says is then what the schedule gives a live runner. */
	if (!ctl_wait_param(c, &wait) || !ctl_runner_lease(c, &epoch))
		return;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += wait;
	for (;;) {
		pthread_mutex_lock(&ctl->sched_mu);
		gen = ctl->sched_gen;
		pthread_mutex_unlock(&ctl->sched_mu);
		json_decref(doc);
		if ((rc = ctl_desired_doc(&doc, c)) < 0) {
			ctl_fail(c, rc);
			return;
		}
		if (have == NULL || strcmp(have, json_string_value(
		    json_object_get(doc, "version"))) != 0)
			break;
		/* Same as the runner has: wait for the schedule to move. */
		pthread_mutex_lock(&ctl->sched_mu);
		rc = 0;
		while (ctl->sched_gen == gen && !ctl->stopping && rc == 0)
			rc = pthread_cond_timedwait(&ctl->sched_cv,
			    &ctl->sched_mu, &deadline);
		gen = ctl->sched_gen;
		pthread_mutex_unlock(&ctl->sched_mu);
		if (rc != 0 || ctl->stopping)
			break;  /* timed out: answer with what is */
	}
	/* outside the version: a new session does not change the work */
	json_object_set_new(doc, "epoch", json_integer(epoch));
	ctl_reply(c, 200, doc);
}

void
ctl_runner_status(struct ctl_call *c)
{
	json_t *list;

	if (!ctl_need_runner(c) || !ctl_need_body(c) ||
	    !ctl_runner_lease(c, NULL))
		return;
	list = json_object_get(c->body, "containers");
	if (list && !json_is_array(list)) {
		ctl_error(c, 422, "invalid", "'containers' is a list");
		return;
	}
	if (!ctl_check(c, store_runner_report(c->st, c->actor.runner_id,
	    c->body, time(NULL))))
		return;
	/* a report is a sign of life too: a runner that was not live takes
	 * its slots again, as on a heartbeat; rollout waiters read it */
	ctl_schedule_kick(c->ctl, c->st);
	ctl_releases_settle(c->ctl, c->st);
	ctl_live_notify();
	ctl_reply(c, 200, json_pack("{ss}", "status", "ok"));
}

/* ---- registry tokens (Docker token authentication) ---- */

/* The secret from Basic (password = token; the user name is ignored) or
 * Bearer auth, in out (size n).  False when there is none. */
static bool
ctl_token_secret(char *out, size_t n, struct httpd_req *req)
{
	const char *h = httpd_req_header(req, "Authorization");
	struct buf raw;
	char *colon;
	bool ok = false;

	if (h == NULL)
		return false;
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		snprintf(out, n, "%s", h + 7);
		return true;
	}
	if (strncasecmp(h, "Basic ", 6) != 0)
		return false;
	buf_init(&raw, 1024);
	if (base64_decode(&raw, h + 6, strlen(h + 6), false) == 0 && raw.ptr &&
	    strlen(raw.ptr) == raw.len && (colon = strchr(raw.ptr, ':'))) {
		snprintf(out, n, "%s", colon + 1);
		ok = true;
	}
	buf_free(&raw);
	return ok;
}

/* Is action among the comma-separated actions? */
static bool
ctl_has_action(const char *actions, const char *action)
{
	size_t n = strlen(action);

	for (const char *p = actions; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, action, n) == 0)
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* Repository names as OCI distribution allows them (lower-case path
 * components of [a-z0-9] joined by . _ __ - and separated by /). */
static bool
ctl_repo_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i], prev = i ? name[i - 1] : '/';
		bool alnum = (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9');
		if (!alnum && !strchr("._-/", ch))
			return false;
		if (!alnum && (prev == '/' || i == n - 1))
			return false;
	}
	return true;
}

/* The actions the caller may have on repository name, of those asked. */
static json_t *
ctl_repo_grant(struct ctl_call *c, const char *name, const char *asked)
{
	json_t *granted = json_array(), *app = NULL;
	bool pull = false, push = false;
	struct store_access acc;

	if (c->actor.admin) {
		pull = push = true;
	} else if (c->actor.runner_id) {
		/* a runner pulls the apps of its group, nothing else */
		if (name_app_is_valid(name) &&
		    store_app_get(&app, c->st, name) == 0) {
			size_t i;
			json_t *g;
			json_array_foreach(json_object_get(app, "groups"), i, g)
				pull = pull || !strcmp(json_string_value(g),
				    c->actor.group);
			json_decref(app);
		}
	} else if (name_app_is_valid(name) &&
	    store_app_access(&acc, c->st, &c->actor, name) == 0) {
		pull = acc.read;
		push = acc.deploy;
	}
	if (pull && ctl_has_action(asked, "pull"))
		json_array_append_new(granted, json_string("pull"));
	if (push && ctl_has_action(asked, "push"))
		json_array_append_new(granted, json_string("push"));
	if (c->actor.admin && ctl_has_action(asked, "delete"))
		json_array_append_new(granted, json_string("delete"));
	return granted;
}

/* One scope "TYPE:NAME:ACTIONS" (modified in place) into the access
 * claim, with what the caller may have of it. */
static int
ctl_scope_add(json_t *access, struct ctl_call *c, char *s)
{
	char *first = strchr(s, ':'), *last = strrchr(s, ':');
	json_t *acts;

	if (first == NULL || first == last)
		return err_set(ERR_INVALID, "bad scope '%.100s': want "
		    "repository:NAME:ACTIONS", s);
	*first = '\0';
	*last = '\0';
	if (strcmp(s, "repository") == 0) {
		if (!ctl_repo_name_ok(first + 1))
			return err_set(ERR_INVALID, "bad repository name "
			    "'%.100s'", first + 1);
		acts = ctl_repo_grant(c, first + 1, last + 1);
	} else {
		/* registry:catalog:* and the like: admins only */
		acts = json_array();
		if (c->actor.admin && strcmp(s, "registry") == 0 &&
		    strcmp(first + 1, "catalog") == 0 &&
		    ctl_has_action(last + 1, "*"))
			json_array_append_new(acts, json_string("*"));
	}
	/* Per the token spec a scope not granted is left out, not refused:
	 * the registry answers 401/403 for it. */
	if (json_array_size(acts) > 0)
		json_array_append_new(access, json_pack("{ssssso}", "type", s,
		    "name", first + 1, "actions", acts));
	else
		json_decref(acts);
	return 0;
}

/* The scopes asked for into the access claim: every scope= parameter
 * (Docker clients send one per repository, e.g. to mount from another),
 * each of which may hold several separated by spaces.  At most
 * SCOPES_MAX in all. */
static int
ctl_scopes(json_t **out, struct ctl_call *c, const char *const *scopes,
    size_t nscopes)
{
	json_t *access = json_array();
	int n = 0, rc = 0;

	for (size_t i = 0; i < nscopes && rc == 0; i++) {
		char *copy = xstrdup(scopes[i]), *save = NULL, *s;

		for (s = strtok_r(copy, " ", &save); s && rc == 0;
		    s = strtok_r(NULL, " ", &save)) {
			if (++n > SCOPES_MAX)
				rc = err_set(ERR_INVALID, "more than %d "
				    "scopes", SCOPES_MAX);
			else
				rc = ctl_scope_add(access, c, s);
		}
		free(copy);
	}
	if (rc < 0) {
		json_decref(access);
		return ERR_INVALID;
	}
	*out = access;
	return 0;
}

void
ctl_registry_token(struct ctl_call *c)
{
	char secret[256], issued[32], sub[STORE_NAME_MAX + 16], jti[33];
	const char *service = httpd_req_query(c->req, "service");
	const char *scopes[SCOPES_MAX + 1];
	size_t nscopes;
	unsigned char rnd[16];
	json_t *access = NULL, *claims;
	char *token = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if (!ctl_token_secret(secret, sizeof(secret), c->req) ||
	    store_auth(&c->actor, c->st, secret) < 0) {
		httpd_header(c->req, "WWW-Authenticate",
		    "Basic realm=\"slipway\"");
		ctl_reply(c, 401, json_pack("{ssss}", "error",
		    "registry tokens need your API token as the password "
		    "(Basic) or as a Bearer token", "code", "unauthorized"));
		return;
	}
	if (service == NULL || service[0] == '\0' || strlen(service) > 255) {
		ctl_error(c, 400, "bad_request", "'service' is required "
		    "(the registry's name, from its WWW-Authenticate header)");
		return;
	}
	/* one more than allowed, to tell "too many" from "just enough" */
	nscopes = httpd_req_query_all(c->req, "scope", scopes,
	    SCOPES_MAX + 1);
	if ((rc = ctl_scopes(&access, c, scopes, nscopes)) < 0) {
		ctl_error(c, 400, "bad_request", "%s", err_last());
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		json_decref(access);
		ctl_error(c, 500, "internal", "no random bytes");
		return;
	}
	digest_hex(jti, rnd, sizeof(rnd));
	snprintf(sub, sizeof(sub), "%s%s", c->actor.runner_id ? "runner:" : "",
	    c->actor.name);
	claims = json_pack("{sssssssIsIsssO}", "iss", "slipway", "sub", sub,
	    "aud", service, "exp", (json_int_t)(now + CTL_REGISTRY_TOKEN_TTL),
	    "iat", (json_int_t)now, "jti", jti, "access", access);
	rc = jwt_mint(&token, claims, c->ctl->key, c->ctl->keylen);
	json_decref(claims);
	if (rc < 0) {
		json_decref(access);
		ctl_fail(c, rc);
		return;
	}
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		char *text = json_dumps(access, JSON_COMPACT);
		log_debug("registry token for %s: %s", sub, text);
		free(text);
	}
	json_decref(access);
	gmtime_r(&now, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ctl_reply(c, 200, json_pack("{sssssiss}", "token", token,
	    "access_token", token, "expires_in", CTL_REGISTRY_TOKEN_TTL,
	    "issued_at", issued));
	free(token);
}
