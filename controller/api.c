/*
 * The controller's HTTP API: routing, authentication, JSON bodies and
 * answers, and the permission checks the handlers share.
 *
 * Every call but GET /v1/health carries "Authorization: Bearer <secret>":
 * a user's API token or a runner's server key (the registry token endpoint
 * also takes Basic auth with the token as password).  Errors are JSON
 * {"error": "...", "code": "..."} with 400, 401, 403, 404, 405, 409, 413,
 * 422 or 500.  Routes are the table below; docs/controller.md lists them
 * with their bodies.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/log.h"

struct ctl_route {
	const char *method;
	const char *pattern;    /* segments after /v1/: name, :param, '*' */
	ctl_fn fn;
};

static void ctl_health(struct ctl_call *c);

static const struct ctl_route ctl_routes[] = {
	{ "GET", "health", ctl_health },
	{ "GET", "me", ctl_me },

	{ "GET", "users", ctl_users_list },
	{ "POST", "users", ctl_users_create },
	{ "GET", "users/:user", ctl_users_get },
	{ "DELETE", "users/:user", ctl_users_delete },
	{ "GET", "tokens", ctl_tokens_list },
	{ "POST", "tokens", ctl_tokens_create },
	{ "DELETE", "tokens/:id", ctl_tokens_revoke },
	{ "GET", "keys", ctl_keys_list },
	{ "POST", "keys", ctl_keys_add },
	{ "GET", "keys/*", ctl_keys_get },
	{ "DELETE", "keys/*", ctl_keys_remove },

	{ "GET", "groups", ctl_groups_list },
	{ "POST", "groups", ctl_groups_create },
	{ "DELETE", "groups/:group", ctl_groups_delete },
	{ "POST", "groups/:group/apps", ctl_groups_add_app },
	{ "DELETE", "groups/:group/apps/:app", ctl_groups_remove_app },
	{ "POST", "groups/:group/users", ctl_groups_add_user },
	{ "DELETE", "groups/:group/users/:user", ctl_groups_remove_user },

	{ "GET", "apps", ctl_apps_list },
	{ "POST", "apps", ctl_apps_create },
	{ "GET", "apps/:app", ctl_apps_get },
	{ "PATCH", "apps/:app", ctl_apps_update },
	{ "DELETE", "apps/:app", ctl_apps_destroy },
	{ "POST", "apps/:app/rename", ctl_apps_rename },
	{ "POST", "apps/:app/collaborators", ctl_collab_add },
	{ "DELETE", "apps/:app/collaborators/:user", ctl_collab_remove },
	{ "GET", "apps/:app/domains", ctl_domains_list },
	{ "POST", "apps/:app/domains", ctl_domains_add },
	{ "DELETE", "apps/:app/domains/:domain", ctl_domains_remove },
	{ "GET", "apps/:app/config", ctl_config_get },
	{ "PATCH", "apps/:app/config", ctl_config_change },
	{ "GET", "apps/:app/builds", ctl_builds_list },
	{ "POST", "apps/:app/builds", ctl_builds_create },
	{ "GET", "apps/:app/builds/:build", ctl_builds_get },
	{ "PATCH", "apps/:app/builds/:build", ctl_builds_update },
	{ "GET", "apps/:app/builds/:build/log", ctl_builds_log },
	{ "GET", "apps/:app/access", ctl_apps_access },
	{ "GET", "apps/:app/buildpacks", ctl_buildpacks_get },
	{ "PATCH", "apps/:app/buildpacks", ctl_buildpacks_edit },
	{ "PUT", "apps/:app/stack", ctl_stack_set },
	{ "DELETE", "apps/:app/cache", ctl_cache_purge },
	{ "GET", "apps/:app/maintenance", ctl_maintenance_get },
	{ "PUT", "apps/:app/maintenance", ctl_maintenance_set },
	{ "GET", "apps/:app/releases", ctl_releases_list },
	{ "GET", "apps/:app/releases/:version", ctl_releases_get },
	{ "GET", "apps/:app/releases/:version/rollout", ctl_rollout_get },
	{ "POST", "apps/:app/rollback", ctl_rollback },
	{ "GET", "apps/:app/formation", ctl_formation_get },
	{ "PATCH", "apps/:app/formation", ctl_formation_scale },
	{ "GET", "apps/:app/ps", ctl_ps },
	{ "POST", "apps/:app/ps/restart", ctl_ps_restart },
	{ "POST", "apps/:app/ps/stop", ctl_ps_stop },
	{ "POST", "apps/:app/ps/start", ctl_ps_start },
	{ "POST", "apps/:app/runs", ctl_runs_create },
	{ "GET", "apps/:app/runs/:run", ctl_runs_get },
	{ "GET", "apps/:app/logs", ctl_logs_get },

	{ "GET", "runners", ctl_runners_list },
	{ "POST", "runners", ctl_runners_create },
	{ "DELETE", "runners/:runner", ctl_runners_delete },
	{ "POST", "runner/register", ctl_runner_register },
	{ "POST", "runner/heartbeat", ctl_runner_heartbeat },
	{ "GET", "runner/desired", ctl_runner_desired },
	{ "POST", "runner/status", ctl_runner_status },
	{ "POST", "runner/logs", ctl_runner_logs },
	{ "POST", "runner/runs/:run", ctl_runner_run_update },

	{ "POST", "ssh/sessions", ctl_ssh_session_create },

	{ "GET", "registry/token", ctl_registry_token },
	{ NULL, NULL, NULL },
};

/* ---- answers ---- */

void
ctl_reply(struct ctl_call *c, unsigned status, json_t *body)
{
	static const char unencodable[] =
	    "{\"error\":\"cannot encode the answer\","
	    "\"code\":\"internal\"}\n";
	char *text;
	size_t n;

	if (body == NULL)
		body = json_object();
	text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(body);
	if (text == NULL) {
		/* sizeof, not a count by hand: the message may change */
		httpd_respond(c->req, 500, "application/json", unencodable,
		    sizeof(unencodable) - 1);
		return;
	}
	n = strlen(text);
	/* A newline makes curl output readable; JSON ignores it. */
	text = xrealloc(text, n + 2);
	text[n++] = '\n';
	text[n] = '\0';
	httpd_header(c->req, "Cache-Control", "no-store");
	httpd_respond(c->req, status, "application/json", text, n);
	free(text);
}

void
ctl_reply_raw(struct ctl_call *c, unsigned status, const char *text,
    size_t len)
{
	httpd_header(c->req, "Cache-Control", "no-store");
	httpd_respond(c->req, status, "application/json", text, len);
}

void
ctl_reply_page(struct ctl_call *c, const struct ctl_page *page)
{
	char path[64];
	int fd;

	httpd_header(c->req, "Cache-Control", "no-store");
	if (page->fd >= 0 && strcmp(c->req->method, "HEAD") != 0) {
		/* A file description of its own (not a dup, which would share
		 * the offset with every other request sending this page). */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", page->fd);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0 &&
		    httpd_respond_fd(c->req, 200, "application/json", fd, 0,
		    page->len) == 0)
			return;
	}
	httpd_respond(c->req, 200, "application/json", page->data, page->len);
}

void
ctl_error(struct ctl_call *c, unsigned status, const char *code,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status == 401)
		httpd_header(c->req, "WWW-Authenticate",
		    "Bearer realm=\"slipway\"");
	if (status >= 500)
		log_warnx("%s %s: %s", c->req->method, c->req->path, msg);
	ctl_reply(c, status, json_pack("{ssss}", "error", msg, "code", code));
}

void
ctl_fail(struct ctl_call *c, int rc)
{
	const char *msg = err_last()[0] ? err_last() : err_name(rc);

	switch (rc) {
	case ERR_NOTFOUND:
		ctl_error(c, 404, "not_found", "%s", msg);
		break;
	case ERR_EXISTS:
		ctl_error(c, 409, "exists", "%s", msg);
		break;
	case ERR_CONFLICT:
		ctl_error(c, 409, "conflict", "%s", msg);
		break;
	case ERR_INVALID:
		ctl_error(c, 422, "invalid", "%s", msg);
		break;
	case ERR_AUTH:
		ctl_error(c, 403, "forbidden", "%s", msg);
		break;
	case ERR_TOOBIG:
		ctl_error(c, 413, "too_large", "%s", msg);
		break;
	case ERR_UNSUPPORTED:
		ctl_error(c, 422, "unsupported", "%s", msg);
		break;
	case ERR_TIMEOUT:
		ctl_error(c, 503, "timeout", "%s", msg);
		break;
	default:
		ctl_error(c, 500, "internal", "%s", msg);
		break;
	}
}

/* ---- checks ---- */

bool
ctl_need_user(struct ctl_call *c)
{
	if (c->actor.user_id != 0)
		return true;
	ctl_error(c, 403, "forbidden", "this needs a user's API token, not a "
	    "runner key");
	return false;
}

bool
ctl_need_admin(struct ctl_call *c)
{
	if (!ctl_need_user(c))
		return false;
	if (c->actor.admin)
		return true;
	ctl_error(c, 403, "forbidden", "only an admin may do this");
	return false;
}

bool
ctl_need_runner(struct ctl_call *c)
{
	if (c->actor.runner_id != 0)
		return true;
	ctl_error(c, 403, "forbidden", "this needs a runner's server key");
	return false;
}

bool
ctl_need_body(struct ctl_call *c)
{
	if (json_is_object(c->body))
		return true;
	ctl_error(c, 400, "bad_request", "this needs a JSON object as the "
	    "request body");
	return false;
}

bool
ctl_app_access(struct ctl_call *c, const char *app, int level,
    struct store_access *out)
{
	struct store_access acc;

	if (!ctl_need_user(c) ||
	    !ctl_check(c, store_app_access(&acc, c->st, &c->actor, app)))
		return false;
	if (!acc.read) {
		ctl_error(c, 403, "forbidden", "you may not act on app '%s': "
		    "you are neither its owner nor a collaborator", app);
		return false;
	}
	if (level >= 1 && !acc.deploy) {
		ctl_error(c, 403, "forbidden", "you may not deploy app '%s': "
		    "it is deployed to group '%s', which you are not granted",
		    app, acc.denied_group);
		return false;
	}
	if (out)
		*out = acc;
	return true;
}

bool
ctl_app_read(struct ctl_call *c, const char *app)
{
	return ctl_app_access(c, app, 0, NULL);
}

bool
ctl_app_deploy(struct ctl_call *c, const char *app)
{
	return ctl_app_access(c, app, 1, NULL);
}

bool
ctl_app_owner(struct ctl_call *c, const char *app)
{
	json_t *a;
	bool ok;

	if (!ctl_app_read(c, app))
		return false;
	if (c->actor.admin)
		return true;
	if (!ctl_check(c, store_app_get(&a, c->st, app)))
		return false;
	ok = strcmp(json_string_value(json_object_get(a, "owner")),
	    c->actor.name) == 0;
	json_decref(a);
	if (!ok)
		ctl_error(c, 403, "forbidden", "only the owner of app '%s' or "
		    "an admin may do this", app);
	return ok;
}

bool
ctl_check(struct ctl_call *c, int rc)
{
	if (rc >= 0)
		return true;
	ctl_fail(c, rc);
	return false;
}

const char *
ctl_body_str(struct ctl_call *c, const char *key, bool *bad)
{
	json_t *v = json_object_get(c->body, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		ctl_error(c, 422, "invalid", "'%s' must be a string", key);
		*bad = true;
		return NULL;
	}
	return json_string_value(v);
}

bool
ctl_body_need(struct ctl_call *c, const char *key, const char **out)
{
	bool bad = false;

	if (!ctl_need_body(c))
		return false;
	if ((*out = ctl_body_str(c, key, &bad)) == NULL) {
		if (!bad)
			ctl_error(c, 422, "invalid", "'%s' is required", key);
		return false;
	}
	return true;
}

bool
ctl_body_fields(struct ctl_call *c, const struct ctl_field *f, size_t n)
{
	bool bad = false;

	if (!ctl_need_body(c))
		return false;
	/* every type first, then what is missing: a wrong type is named
	 * even when a required field is absent too */
	for (size_t i = 0; i < n; i++) {
		*f[i].out = ctl_body_str(c, f[i].key, &bad);
		if (bad)
			return false;
	}
	for (size_t i = 0; i < n; i++)
		if (*f[i].out == NULL && f[i].missing) {
			ctl_error(c, 422, "invalid", "%s", f[i].missing);
			return false;
		}
	return true;
}

/* ---- routing ---- */

static void
ctl_health(struct ctl_call *c)
{
	json_t *j = json_pack("{ssss}", "status", "ok", "version",
	    SLIPWAY_VERSION);

	if (c->ctl->git_url)
		json_object_set_new(j, "git_url", json_string(c->ctl->git_url));
	ctl_reply(c, 200, j);
}

/* Split c->path after "/v1/" into segments, empty ones kept (ctl_match
 * refuses them where a name goes, so "apps//x" is not "apps/x", but a '*'
 * takes them: a key fingerprint is base64 and may hold "//").  The last
 * segment takes whatever is left past API_SEGS_MAX.  False for paths not
 * under /v1/. */
static bool
ctl_split(struct ctl_call *c)
{
	char *p;

	if (strncmp(c->path, "/v1/", 4) != 0 || c->path[4] == '\0')
		return false;
	p = c->path + 4;
	c->nseg = 0;
	for (;;) {
		char *slash = c->nseg < API_SEGS_MAX - 1 ? strchr(p, '/') :
		    NULL;

		c->seg[c->nseg++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return true;
}

/* Does the route's pattern match the segments?  Fills c->rest for '*'. */
static bool
ctl_match(struct ctl_call *c, const char *pattern, const char *orig)
{
	char pat[128];
	char *save = NULL, *tok;
	int i = 0;

	snprintf(pat, sizeof(pat), "%s", pattern);
	c->rest = NULL;
	for (tok = strtok_r(pat, "/", &save); tok;
	    tok = strtok_r(NULL, "/", &save), i++) {
		if (i >= c->nseg || c->seg[i][0] == '\0')
			return false;
		if (strcmp(tok, "*") == 0) {
			/* the rest of the original path, slashes and all */
			c->rest = orig + (c->seg[i] - c->path);
			return true;
		}
		/* a name or :param is one segment (the last may hold the
		 * rest of a long path) */
		if (strchr(c->seg[i], '/'))
			return false;
		if (tok[0] != ':' && strcmp(tok, c->seg[i]) != 0)
			return false;
	}
	return i == c->nseg;
}

/* The bearer secret from Authorization, or NULL. */
static const char *
ctl_bearer(struct httpd_req *req)
{
	const char *h = httpd_req_header(req, "Authorization");

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

int
ctl_begin(struct httpd_req *req, void *payload)
{
	(void)payload;
	/* Say 401 before reading a body nobody may send; the registry
	 * token endpoint also takes Basic auth, so it is left to handle. */
	if (httpd_req_header(req, "Authorization") == NULL &&
	    strcmp(req->path, "/v1/health") != 0 &&
	    strcmp(req->path, "/v1/registry/token") != 0 &&
	    strncmp(req->path, "/v1/", 4) == 0) {
		static const char msg[] = "{\"error\":\"missing token: send "
		    "'Authorization: Bearer <token>'\",\"code\":"
		    "\"unauthorized\"}\n";
		httpd_header(req, "WWW-Authenticate",
		    "Bearer realm=\"slipway\"");
		httpd_respond(req, 401, "application/json", msg,
		    sizeof(msg) - 1);
	}
	return 0;
}

static void
ctl_dispatch(struct ctl_call *c, const char *orig)
{
	const struct ctl_route *hit = NULL;
	const char *method = c->req->method;
	bool path_known = false, snapshot = false;
	int rc;

	if (strcmp(method, "HEAD") == 0)
		method = "GET";
	if (!ctl_split(c)) {
		ctl_error(c, 404, "not_found", "no such endpoint '%.200s'",
		    orig);
		return;
	}
	for (const struct ctl_route *r = ctl_routes; r->method; r++) {
		if (!ctl_match(c, r->pattern, orig))
			continue;
		path_known = true;
		if (strcmp(r->method, method) == 0) {
			hit = r;
			break;
		}
	}
	if (hit == NULL) {
		if (path_known)
			ctl_error(c, 405, "method_not_allowed", "%s is not "
			    "allowed on '%.200s'", c->req->method, orig);
		else
			ctl_error(c, 404, "not_found", "no such endpoint "
			    "'%.200s'", orig);
		return;
	}
	/* match again: the loop may have moved on past a '*' route */
	ctl_match(c, hit->pattern, orig);
	/* A read answers from one snapshot: one read lock for all its
	 * statements.  Not the long-polls, which wait (and must see what
	 * changes meanwhile). */
	snapshot = strcmp(method, "GET") == 0 &&
	    hit->fn != ctl_runner_desired && hit->fn != ctl_rollout_get &&
	    hit->fn != ctl_runs_get && hit->fn != ctl_logs_get &&
	    store_snapshot_begin(c->st) == 0;
	if (hit->fn != ctl_health && hit->fn != ctl_registry_token) {
		rc = store_auth(&c->actor, c->st, ctl_bearer(c->req));
		if (rc < 0) {
			if (rc == ERR_AUTH)
				ctl_error(c, 401, "unauthorized", "%s",
				    err_last());
			else
				ctl_fail(c, rc);
			goto done;
		}
	}
	if (c->req->body.len > 0) {
		json_error_t jerr;

		c->body = json_loadb(c->req->body.ptr, c->req->body.len,
		    JSON_REJECT_DUPLICATES, &jerr);
		if (c->body == NULL) {
			ctl_error(c, 400, "bad_request", "the body is not "
			    "valid JSON: %s", jerr.text);
			goto done;
		}
	}
	hit->fn(c);
done:
	if (snapshot)
		store_snapshot_end(c->st);
}

void
ctl_handle(struct httpd_req *req, void *payload)
{
	struct ctl_call c = { .ctl = payload, .req = req };
	int rc;

	if ((rc = ctl_store_get(&c.st, c.ctl)) < 0) {
		ctl_fail(&c, rc);
		return;
	}
	c.path = xstrdup(req->path);
	ctl_dispatch(&c, req->path);
	json_decref(c.body);
	free(c.path);
	ctl_store_put(c.ctl, c.st);
}
