/*
 * The registry's HTTP front: routes /v2/... requests of the OCI
 * Distribution API to their handlers, checks names, references and tokens
 * before any body is read, and answers the small listing endpoints (/v2/,
 * catalog, tags).  Blobs and uploads are in server_blob.c, manifests and
 * referrers in server_manifest.c, tokens in auth.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/httpd.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "slipway/parse.h"
#include "registry_int.h"

#define LIST_PAGE_MAX 1000      /* entries per catalog or tags page */

void
registry_headers(struct httpd_req *req)
{
	httpd_header(req, "Docker-Distribution-API-Version", "registry/2.0");
}

json_t *
registry_error_entry(const char *code, const char *message, json_t *detail)
{
	char *msg = xstrdup(message ? message : "");
	json_t *e;

	/* messages may quote what the client sent: keep them printable
	 * ASCII, so they are valid JSON strings */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	e = json_pack("{s:s,s:s}", "code", code, "message", msg);
	free(msg);
	if (detail)
		json_object_set_new(e, "detail", detail);
	return e;
}

void
registry_errors(struct httpd_req *req, unsigned status, json_t *errors)
{
	json_t *j = json_pack("{s:o}", "errors", errors);
	char *body = json_dumps(j, JSON_COMPACT);

	httpd_respond(req, status, "application/json", body, strlen(body));
	free(body);
	json_decref(j);
}

/* Did the store fail for want of space?  err_sys words it with strerror
 * (the same text in this process). */
static bool
registry_store_is_full(void)
{
	char quota[128];

	snprintf(quota, sizeof(quota), "%s", strerror(EDQUOT));
	return strstr(err_last(), strerror(ENOSPC)) != NULL ||
	    strstr(err_last(), quota) != NULL;
}

void
registry_error(struct httpd_req *req, unsigned status, const char *code,
    const char *message, json_t *detail)
{
	json_t *arr = json_array();

	/* Every 500 follows the store's failure, whose message is the last
	 * one on this thread: a full disk is said plainly. */
	if (status == 500 && registry_store_is_full()) {
		registry_error_full(req, message);
		json_decref(arr);
		return;
	}
	json_array_append_new(arr, registry_error_entry(code, message,
	    detail));
	registry_errors(req, status, arr);
}

void
registry_error_full(struct httpd_req *req, const char *what)
{
	char msg[256];

	/* 507 Insufficient Storage (RFC 4918): the pusher learns that the
	 * disk is full rather than "cannot store" */
	snprintf(msg, sizeof(msg), "%s: no space left on the registry's "
	    "disk", what ? what : "cannot store");
	registry_error(req, 507, "UNKNOWN", msg, NULL);
}

/* The last path component of s[0..len) starts at *comp; returns its
 * length, and the length of what is before its '/' in *before. */
static size_t
route_last(const char *s, size_t len, const char **comp, size_t *before)
{
	size_t i = len;

	while (i > 0 && s[i - 1] != '/')
		i--;
	*comp = s + i;
	*before = i > 0 ? i - 1 : 0;
	return len - i;
}

static bool
route_is(const char *comp, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(comp, word, n) == 0;
}

enum registry_route
registry_route_parse(const char *path, char name[REGISTRY_NAME_MAX + 1],
    bool *name_ok, char **ref)
{
	enum registry_route route = ROUTE_NONE;
	const char *rest, *last, *prev;
	size_t len, nlast, nprev, before, before2, namelen = 0;

	name[0] = '\0';
	*name_ok = false;
	*ref = NULL;
	if (strcmp(path, "/token") == 0)
		return ROUTE_TOKEN;
	if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0)
		return ROUTE_BASE;
	if (strcmp(path, "/v2/_catalog") == 0)
		return ROUTE_CATALOG;
	if (strncmp(path, "/v2/", 4) != 0)
		return ROUTE_NONE;
	/* the name may hold slashes, so the route is read from the end */
	rest = path + 4;
	len = strlen(rest);
	if (len > 10 && strcmp(rest + len - 10, "/tags/list") == 0) {
		route = ROUTE_TAGS;
		namelen = len - 10;
		goto name;
	}
	if (len > 15 && strcmp(rest + len - 15, "/blobs/uploads/") == 0)
		len--;          /* the one route that ends in a slash */
	nlast = route_last(rest, len, &last, &before);
	if (before == 0)
		return ROUTE_NONE;
	nprev = route_last(rest, before, &prev, &before2);
	if (route_is(prev, nprev, "blobs") && route_is(last, nlast,
	    "uploads")) {
		route = ROUTE_UPLOADS;
		namelen = before2;
	} else if (route_is(prev, nprev, "manifests")) {
		route = ROUTE_MANIFEST;
	} else if (route_is(prev, nprev, "blobs")) {
		route = ROUTE_BLOB;
	} else if (route_is(prev, nprev, "referrers")) {
		route = ROUTE_REFERRERS;
	} else if (route_is(prev, nprev, "uploads") && before2 > 6 &&
	    memcmp(rest + before2 - 6, "/blobs", 6) == 0) {
		route = ROUTE_UPLOAD;
		before2 -= 6;
	} else {
		return ROUTE_NONE;
	}
	if (route != ROUTE_UPLOADS) {
		if (nlast == 0)
			return ROUTE_NONE;
		*ref = xstrndup(last, nlast);
		namelen = before2;
	}
name:
	if (namelen == 0)
		return ROUTE_NONE;
	if (namelen <= REGISTRY_NAME_MAX) {
		memcpy(name, rest, namelen);
		name[namelen] = '\0';
		*name_ok = registry_name_valid(name);
	}
	return route;
}

/* Which methods each route takes. */
static bool
route_method_ok(enum registry_route r, const char *m)
{
	static const char *const allowed[] = {
		[ROUTE_NONE] = "",
		[ROUTE_BASE] = "GET HEAD",
		[ROUTE_CATALOG] = "GET",
		[ROUTE_TAGS] = "GET",
		[ROUTE_MANIFEST] = "GET HEAD PUT DELETE",
		[ROUTE_BLOB] = "GET HEAD DELETE",
		[ROUTE_UPLOADS] = "POST",
		[ROUTE_UPLOAD] = "GET PATCH PUT DELETE",
		[ROUTE_REFERRERS] = "GET",
		[ROUTE_TOKEN] = "GET",
	};
	const char *p = allowed[r];
	size_t n = strlen(m);

	while ((p = strstr(p, m)) != NULL) {
		if ((p == allowed[r] || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/* The action a request needs on its repository. */
static unsigned
route_action(enum registry_route r, const char *m)
{
	if (r == ROUTE_UPLOADS || r == ROUTE_UPLOAD)
		return ACT_PUSH;
	if (strcmp(m, "PUT") == 0)
		return ACT_PUSH;
	if (strcmp(m, "DELETE") == 0)
		return ACT_DELETE;
	return ACT_PULL;
}

/* Are the reference's syntax and the route compatible?  Answers if not. */
static bool
route_ref_ok(struct httpd_req *req, struct registry_req *rr)
{
	const char *ref = rr->ref;
	enum digest_algo algo;
	const char *hex;

	switch (rr->route) {
	case ROUTE_MANIFEST:
		if (strchr(ref, ':') ? digest_parse(ref, &algo, &hex) == 0 :
		    registry_tag_valid(ref))
			return true;
		if (strcmp(req->method, "PUT") == 0)
			registry_error(req, 400, strchr(ref, ':') ?
			    "DIGEST_INVALID" : "MANIFEST_INVALID",
			    "the reference is not a valid tag or digest",
			    NULL);
		else
			registry_error(req, 404, "MANIFEST_UNKNOWN",
			    "the reference is not a valid tag or digest",
			    NULL);
		return false;
	case ROUTE_BLOB:
	case ROUTE_REFERRERS:
		if (digest_parse(ref, &algo, &hex) == 0)
			return true;
		registry_error(req, 400, "DIGEST_INVALID", err_last(), NULL);
		return false;
	case ROUTE_UPLOAD:
		if (registry_uuid_valid(ref))
			return true;
		registry_error(req, 404, "BLOB_UPLOAD_UNKNOWN",
		    "no such upload", NULL);
		return false;
	default:
		return true;
	}
}

/* The repository a POST .../uploads/?mount=D&from=R mounts from: R when
 * D is a digest and R a valid name other than the request's, else NULL
 * (no mount to authorize: the POST starts an upload). */
static const char *
mount_source(struct httpd_req *req, const struct registry_req *rr)
{
	const char *mount = httpd_req_query(req, "mount");
	const char *from = httpd_req_query(req, "from");

	if (rr->route != ROUTE_UPLOADS || strcmp(req->method, "POST") != 0 ||
	    mount == NULL || from == NULL || !digest_is_valid(mount) ||
	    !registry_name_valid(from) || strcmp(from, rr->name) == 0)
		return NULL;
	return from;
}

static void
server_done(struct httpd_req *req, bool completed, void *ctx)
{
	struct registry_req *rr = ctx;

	registry_blob_done(rr, completed);
	registry_grants_free(rr->grants);
	buf_free(&rr->body);
	registry_strv_free(&rr->tags);
	free(rr->ref);
	free(rr);
	req->app = NULL;
}

static int
server_begin(struct httpd_req *req, void *payload)
{
	struct registry *reg = payload;
	struct registry_req *rr = xcalloc(1, sizeof(*rr));
	bool name_ok;

	rr->reg = reg;
	rr->fd = -1;
	rr->expect = UINT64_MAX;
	buf_init(&rr->body, REGISTRY_MANIFEST_MAX);
	req->app = rr;
	httpd_req_on_done(req, server_done, rr);
	registry_headers(req);

	rr->route = registry_route_parse(req->path, rr->name, &name_ok,
	    &rr->ref);
	if (rr->route == ROUTE_NONE) {
		registry_error(req, 404, "UNSUPPORTED", "no such endpoint",
		    NULL);
		return 0;
	}
	if (!route_method_ok(rr->route, req->method)) {
		registry_error(req, 405, "UNSUPPORTED", "method not allowed "
		    "here", NULL);
		return 0;
	}
	switch (rr->route) {
	case ROUTE_TOKEN:
		return 0;
	case ROUTE_BASE:
		registry_auth_request(req, rr, NULL, NULL, 0);
		return 0;
	case ROUTE_CATALOG:
		registry_auth_request(req, rr, "registry", "catalog", ACT_ALL);
		return 0;
	default:
		break;
	}
	/* syntax first (it tells nothing about what is stored), then the
	 * token, then the route's own checks, all before any body */
	if (!name_ok) {
		registry_error(req, 400, "NAME_INVALID", "invalid repository "
		    "name", json_pack("{s:s}", "name", req->path));
		return 0;
	}
	if (!route_ref_ok(req, rr))
		return 0;
	rr->mount_from = mount_source(req, rr);
	if (!registry_auth_request(req, rr, "repository", rr->name,
	    route_action(rr->route, req->method)))
		return 0;
	if (rr->route == ROUTE_MANIFEST)
		return registry_manifest_begin(req, rr);
	if (rr->route == ROUTE_BLOB || rr->route == ROUTE_UPLOADS ||
	    rr->route == ROUTE_UPLOAD)
		return registry_blob_begin(req, rr);
	return 0;
}

/* Parse ?n= (absent: the page maximum).  Answers 400 when bad. */
static bool
list_n(struct httpd_req *req, size_t *out)
{
	const char *s = httpd_req_query(req, "n");
	unsigned long long v;

	*out = LIST_PAGE_MAX;
	if (s == NULL)
		return true;
	if (parse_uint(&v, s, 0, ~0ULL) < 0) {
		registry_error(req, 400, "UNSUPPORTED", "n must be a "
		    "non-negative integer", NULL);
		return false;
	}
	*out = v < LIST_PAGE_MAX ? (size_t)v : LIST_PAGE_MAX;
	return true;
}

/* Answer one page of a sorted list after ?last=, as {key: [...]} plus
 * extra members, with a Link to the next page when more remain. */
static void
list_page(struct httpd_req *req, const struct registry_strv *all,
    const char *key, json_t *obj, const char *base)
{
	const char *last = httpd_req_query(req, "last");
	json_t *arr = json_array();
	size_t n, i = 0, taken = 0;
	char *body;

	if (!list_n(req, &n)) {
		json_decref(arr);
		json_decref(obj);
		return;
	}
	if (last)
		while (i < all->n && strcmp(all->v[i], last) <= 0)
			i++;
	for (; i < all->n && taken < n; i++, taken++)
		json_array_append_new(arr, json_string(all->v[i]));
	if (i < all->n && taken > 0) {
		char *link = xasprintf("<%s?n=%zu&last=%s>; rel=\"next\"", base,
		    n, all->v[i - 1]);
		httpd_header(req, "Link", link);
		free(link);
	}
	json_object_set_new(obj, key, arr);
	body = json_dumps(obj, JSON_COMPACT);
	httpd_respond(req, 200, "application/json", body, strlen(body));
	free(body);
	json_decref(obj);
}

static void
server_tags(struct httpd_req *req, struct registry_req *rr)
{
	struct registry_strv tags;
	char *base;
	int rc;

	rc = registry_tag_list(&tags, rr->reg->store, rr->name);
	if (rc == ERR_NOTFOUND) {
		registry_error(req, 404, "NAME_UNKNOWN", "repository name not "
		    "known to registry", json_pack("{s:s}", "name",
		    rr->name));
		return;
	}
	if (rc < 0) {
		log_warnx("registry: %s", err_last());
		registry_error(req, 500, "UNKNOWN", "cannot list tags", NULL);
		return;
	}
	base = xasprintf("/v2/%s/tags/list", rr->name);
	list_page(req, &tags, "tags", json_pack("{s:s}", "name", rr->name),
	    base);
	free(base);
	registry_strv_free(&tags);
}

static void
server_catalog(struct httpd_req *req, struct registry_req *rr)
{
	struct registry_strv repos;

	if (registry_repo_list(&repos, rr->reg->store) < 0) {
		log_warnx("registry: %s", err_last());
		registry_error(req, 500, "UNKNOWN", "cannot list repositories",
		    NULL);
		return;
	}
	list_page(req, &repos, "repositories", json_object(), "/v2/_catalog");
	registry_strv_free(&repos);
}

static void
server_handle(struct httpd_req *req, void *payload)
{
	struct registry_req *rr = req->app;

	switch (rr->route) {
	case ROUTE_BASE:
		httpd_respond(req, 200, "application/json", "{}", 2);
		break;
	case ROUTE_TOKEN:
		registry_token_handle(req, payload);
		break;
	case ROUTE_CATALOG:
		server_catalog(req, rr);
		break;
	case ROUTE_TAGS:
		server_tags(req, rr);
		break;
	case ROUTE_MANIFEST:
		registry_manifest_handle(req, rr);
		break;
	case ROUTE_REFERRERS:
		registry_referrers_handle(req, rr);
		break;
	case ROUTE_BLOB:
	case ROUTE_UPLOADS:
	case ROUTE_UPLOAD:
		registry_blob_handle(req, rr);
		break;
	case ROUTE_NONE:
		registry_error(req, 404, "UNSUPPORTED", "no such endpoint",
		    NULL);
		break;
	}
}

int
registry_start(struct registry **out, const struct registry_opts *opts)
{
	struct registry *reg = xcalloc(1, sizeof(*reg));
	struct httpd_opts ho = { 0 };
	struct sockaddr_in addr;
	char host[32];
	unsigned swept = 0;
	int rc;

	reg->o = *opts;
	if (reg->o.service == NULL)
		reg->o.service = REGISTRY_SERVICE_DEFAULT;
	if (reg->o.blob_max == 0)
		reg->o.blob_max = REGISTRY_BLOB_MAX_DEFAULT;
	if (reg->o.upload_age == 0)
		reg->o.upload_age = REGISTRY_UPLOAD_AGE_DEFAULT;
	pthread_mutex_init(&reg->lock, NULL);
	pthread_mutex_init(&reg->gc_mu, NULL);
	pthread_cond_init(&reg->gc_cv, NULL);
	if ((rc = net_addr_parse(&addr, opts->listen)) < 0)
		goto fail;
	if ((rc = registry_store_open(&reg->store, opts->root)) < 0)
		goto fail;
	/* a crash mid-upload left sessions behind: drop the stale ones */
	if ((rc = registry_upload_sweep(&swept, reg->store,
	    reg->o.upload_age, false)) < 0)
		goto fail;
	if (swept)
		log_info("registry: removed %u stale upload(s)", swept);
	reg->swept = time(NULL);
	if (opts->htpasswd &&
	    (rc = registry_htpasswd_load(&reg->users, opts->htpasswd)) < 0)
		goto fail;
	ho.listen = opts->listen;
	ho.begin = server_begin;
	ho.handle = server_handle;
	ho.payload = reg;
	ho.body_max = 64 << 10;         /* manifests and uploads stream */
	ho.header_max = REGISTRY_HEADER_MAX;
	/* libmicrohttpd reads a body in pieces of half this; it also clears
	 * it for every request, so more slows small requests (bench: 256 KiB
	 * costs ~10% of /v2/ GETs against 32 KiB, 2 MiB costs 60%) */
	ho.conn_mem = 256 << 10;
	/* blobs are copied through 1 MiB, not sent with sendfile, unless
	 * asked: on the VM measured (docs/registry.md) sendfile costs twice
	 * the CPU per byte */
	ho.fd_buf = opts->sendfile ? 0 : 1 << 20;
	ho.conn_max = opts->conn_max;
	ho.per_ip_max = opts->conn_per_ip;
	ho.name = "registry";
	ho.access_log = opts->access_log;
	if ((rc = httpd_start(&reg->httpd, &ho)) < 0)
		goto fail;
	if (opts->realm) {
		reg->realm = xstrdup(opts->realm);
	} else {
		addr.sin_port = htons(httpd_port(reg->httpd));
		net_addr_format(host, sizeof(host), &addr);
		reg->realm = xasprintf("http://%s/token", host);
	}
	if ((rc = registry_gc_start(reg)) < 0)
		goto fail;
	*out = reg;
	return 0;
fail:
	registry_stop(reg);
	return rc;
}

void
registry_stop(struct registry *reg)
{
	if (reg == NULL)
		return;
	registry_gc_stop(reg);
	httpd_stop(reg->httpd);
	registry_uploads_free(reg);
	registry_htpasswd_free(reg->users);
	registry_store_free(reg->store);
	pthread_mutex_destroy(&reg->lock);
	pthread_mutex_destroy(&reg->gc_mu);
	pthread_cond_destroy(&reg->gc_cv);
	free(reg->realm);
	free(reg);
}

uint16_t
registry_port(const struct registry *reg)
{
	return httpd_port(reg->httpd);
}
