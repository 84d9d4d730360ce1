/*
 * The controller as a registry client, for deleting images: a destroyed
 * app's (its repository is named after the app, and the next owner of
 * the name gets pull tokens for that repository) and those past an app's
 * retention (retain.c).  The controller mints itself a short token (it
 * holds the signing key) for the service the registry names in its 401,
 * lists the tags, and deletes tagged manifests by digest (the revision
 * and every tag naming it); the blobs go at the registry's next gc, as
 * after any delete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/registry.h"
#include "slipway/url.h"

#define PURGE_BODY_MAX (4 << 20)
#define PURGE_HEADER_MAX 1024
#define PURGE_TOKEN_TTL 120
#define PURGE_TIMEOUT 30
#define PURGE_ACCEPT "Accept: application/vnd.oci.image.manifest.v1+json, " \
	"application/vnd.oci.image.index.v1+json, " \
	"application/vnd.docker.distribution.manifest.v2+json, " \
	"application/vnd.docker.distribution.manifest.list.v2+json"

/* One answer: status, body (capped), the two headers we read. */
struct purge_resp {
	long status;
	struct buf body;
	char auth[PURGE_HEADER_MAX];    /* WWW-Authenticate */
	char digest[PURGE_HEADER_MAX];  /* Docker-Content-Digest */
	char ctype[PURGE_HEADER_MAX];   /* Content-Type */
};

static void
purge_header_copy(char *out, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
	    v[n - 1] == ' '))
		n--;
	while (n > 0 && *v == ' ') {
		v++;
		n--;
	}
	if (n >= PURGE_HEADER_MAX)
		n = PURGE_HEADER_MAX - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t
purge_header_cb(char *data, size_t size, size_t n, void *payload)
{
	struct purge_resp *r = payload;
	size_t len = size * n;

	if (len > 17 && strncasecmp(data, "WWW-Authenticate:", 17) == 0)
		purge_header_copy(r->auth, data + 17, len - 17);
	else if (len > 22 && strncasecmp(data, "Docker-Content-Digest:",
	    22) == 0)
		purge_header_copy(r->digest, data + 22, len - 22);
	else if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
		purge_header_copy(r->ctype, data + 13, len - 13);
	return len;
}

static size_t
purge_body_cb(char *data, size_t size, size_t n, void *payload)
{
	struct purge_resp *r = payload;

	if (buf_put(&r->body, data, size * n) < 0)
		return 0;       /* over the cap: curl stops with an error */
	return size * n;
}

/* method url with token (NULL: none) into *r; body (NULL: none) of
 * type ctype sent with it. */
static int
purge_send(struct purge_resp *r, const char *method, const char *url,
    const char *token, const char *ctype, const struct buf *body)
{
	struct curl_slist *h = NULL;
	char *auth = NULL, *ct = NULL;
	CURLcode cc;
	CURL *e;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body, PURGE_BODY_MAX);
	if ((e = curl_easy_init()) == NULL)
		return err_set(ERR_IO, "cannot start libcurl");
	h = curl_slist_append(h, PURGE_ACCEPT);
	if (token) {
		auth = xasprintf("Authorization: Bearer %s", token);
		h = curl_slist_append(h, auth);
	}
	if (body) {
		ct = xasprintf("Content-Type: %s", ctype);
		h = curl_slist_append(h, ct);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->ptr ? body->ptr :
		    "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body->len);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, purge_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, purge_body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)PURGE_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(e);
	if (cc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(auth);
	free(ct);
	if (cc != CURLE_OK) {
		buf_free(&r->body);
		return err_set(ERR_IO, "%s %s: %s", method, url,
		    curl_easy_strerror(cc));
	}
	return 0;
}

static int
purge_do(struct purge_resp *r, const char *method, const char *url,
    const char *token)
{
	return purge_send(r, method, url, token, NULL, NULL);
}

/* service="..." of a Bearer challenge into out. */
static bool
purge_service(char *out, size_t len, const char *challenge)
{
	const char *p = strstr(challenge, "service=\"");
	const char *end;

	if (strncasecmp(challenge, "Bearer ", 7) != 0 || p == NULL)
		return false;
	p += 9;
	if ((end = strchr(p, '"')) == NULL || (size_t)(end - p) >= len ||
	    end == p)
		return false;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return true;
}

int
ctl_reg_open(struct ctl_reg *out, json_t **tags, struct ctl *ctl,
    const char *registry, const char *name)
{
	char *url, *hostport, service[256];
	struct purge_resp r;
	json_t *j = NULL;
	bool plain;
	int rc;

	memset(out, 0, sizeof(*out));
	*tags = NULL;
	if ((rc = url_service_parse(&hostport, &plain, registry)) < 0)
		return rc;
	out->base = xasprintf("%s://%s", plain ? "http" : "https", hostport);
	out->name = xstrdup(name);
	free(hostport);
	url = xasprintf("%s/v2/%s/tags/list?n=100000", out->base, name);
	if ((rc = purge_do(&r, "GET", url, NULL)) < 0)
		goto done;
	if (r.status == 401) {
		struct registry_token_access acc = { "repository", name,
		    "pull,delete" };
		if (!purge_service(service, sizeof(service), r.auth)) {
			rc = err_set(ERR_IO, "the registry asked for no token "
			    "service slipway knows ('%.100s')", r.auth);
			goto done;
		}
		out->service = xstrdup(service);
		if ((rc = registry_token_mint(&out->token, ctl->key,
		    ctl->keylen, service, "controller", &acc, 1,
		    PURGE_TOKEN_TTL, time(NULL))) < 0)
			goto done;
		buf_free(&r.body);
		if ((rc = purge_do(&r, "GET", url, out->token)) < 0)
			goto done;
	}
	if (r.status == 404)
		goto done;      /* nothing was ever pushed there */
	if (r.status != 200 || (j = json_loadb(r.body.ptr ? r.body.ptr : "",
	    r.body.len, 0, NULL)) == NULL) {
		rc = err_set(ERR_IO, "the registry answered %ld to the tag list",
		    r.status);
		goto done;
	}
	*tags = json_incref(json_object_get(j, "tags"));
	if (*tags == NULL || !json_is_array(*tags)) {
		json_decref(*tags);
		*tags = json_array();
	}
done:
	json_decref(j);
	buf_free(&r.body);
	free(url);
	if (rc < 0)
		ctl_reg_close(out);
	return rc;
}

void
ctl_reg_close(struct ctl_reg *r)
{
	if (r == NULL)
		return;
	free(r->base);
	free(r->token);
	free(r->service);
	free(r->name);
	memset(r, 0, sizeof(*r));
}

bool
ctl_reg_tag_ok(const char *tag)
{
	return tag && tag[0] && strlen(tag) <= 128 && strspn(tag,
	    "abcdefghijklmnopqrstuvwxyz" "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") == strlen(tag);
}

int
ctl_reg_tag_digest(char out[CTL_DIGEST_MAX], struct ctl_reg *r,
    const char *tag)
{
	struct purge_resp resp;
	char *url;
	int rc;

	out[0] = '\0';
	if (!ctl_reg_tag_ok(tag))
		return err_set(ERR_INVALID, "'%.40s' is not a tag", tag);
	url = xasprintf("%s/v2/%s/manifests/%s", r->base, r->name, tag);
	rc = purge_do(&resp, "HEAD", url, r->token);
	free(url);
	buf_free(&resp.body);
	if (rc < 0)
		return rc;
	if (resp.status == 404)
		return ERR_NOTFOUND;    /* gone with an earlier digest */
	if (resp.status != 200 || strncmp(resp.digest, "sha256:", 7) != 0 ||
	    strlen(resp.digest) != 71 ||
	    strspn(resp.digest + 7, "0123456789abcdef") != 64)
		return err_set(ERR_IO, "the registry answered %ld with no "
		    "digest for tag '%s'", resp.status, tag);
	memcpy(out, resp.digest, 72);   /* "sha256:" + 64 hex + NUL */
	return 0;
}

int
ctl_reg_delete(struct ctl_reg *r, const char *digest)
{
	struct purge_resp resp;
	char *url = xasprintf("%s/v2/%s/manifests/%s", r->base, r->name,
	    digest);
	int rc = purge_do(&resp, "DELETE", url, r->token);

	free(url);
	buf_free(&resp.body);
	if (rc < 0)
		return rc;
	if (resp.status != 202 && resp.status != 200 && resp.status != 404)
		return err_set(ERR_IO, "the registry answered %ld to the "
		    "delete of %s", resp.status, digest);
	return 0;
}

/* Add descriptor d's size to *sum unless its digest was seen. */
static void
reg_desc_bytes(uint64_t *sum, json_t *seen, json_t *d)
{
	const char *digest = json_string_value(json_object_get(d, "digest"));
	json_t *size = json_object_get(d, "size");

	if (digest == NULL || !json_is_integer(size) ||
	    json_integer_value(size) < 0 || json_object_get(seen, digest))
		return;
	json_object_set_new(seen, digest, json_true());
	*sum += (uint64_t)json_integer_value(size);
}

/* Add the sizes of manifest digest, its config and its layers to *sum,
 * each digest once (seen).  An index's children are not followed: the
 * images builds push are single manifests. */
static int
reg_manifest_bytes(uint64_t *sum, json_t *seen, struct ctl_reg *r,
    const char *digest)
{
	struct purge_resp resp;
	char *url = xasprintf("%s/v2/%s/manifests/%s", r->base, r->name,
	    digest);
	json_t *m = NULL, *d;
	size_t i;
	int rc = purge_do(&resp, "GET", url, r->token);

	free(url);
	if (rc < 0)
		return rc;
	if (resp.status == 404)
		goto done;      /* deleted since the tag was read */
	if (resp.status != 200 || (m = json_loadb(resp.body.ptr ?
	    resp.body.ptr : "", resp.body.len, 0, NULL)) == NULL) {
		rc = err_set(ERR_IO, "the registry answered %ld for manifest "
		    "%s", resp.status, digest);
		goto done;
	}
	json_object_set_new(seen, digest, json_true());
	*sum += resp.body.len;
	reg_desc_bytes(sum, seen, json_object_get(m, "config"));
	json_array_foreach(json_object_get(m, "layers"), i, d)
		reg_desc_bytes(sum, seen, d);
done:
	json_decref(m);
	buf_free(&resp.body);
	return rc;
}

int
ctl_reg_each_tag(struct ctl_reg *r, json_t *tags, ctl_reg_tag_fn fn,
    void *ctx)
{
	char digest[CTL_DIGEST_MAX];
	json_t *t;
	size_t i;
	int rc;

	json_array_foreach(tags, i, t) {
		const char *tag = json_string_value(t);

		if (!ctl_reg_tag_ok(tag))
			continue;
		rc = ctl_reg_tag_digest(digest, r, tag);
		if (rc == ERR_NOTFOUND)
			continue;
		if (rc < 0 || (rc = fn(r, tag, digest, ctx)) < 0)
			return rc;
	}
	return 0;
}

/* ctl_registry_bytes' walk: each distinct manifest once. */
struct reg_bytes {
	uint64_t *sum;
	json_t *seen;
};

static int
reg_bytes_tag(struct ctl_reg *r, const char *tag, const char *digest,
    void *ctx)
{
	struct reg_bytes *b = ctx;

	if (json_object_get(b->seen, digest))
		return 0;
	return reg_manifest_bytes(b->sum, b->seen, r, digest);
}

int
ctl_registry_bytes(uint64_t *out, struct ctl *ctl, const char *registry,
    const char *name)
{
	struct reg_bytes b = { out, json_object() };
	json_t *tags = NULL;
	struct ctl_reg r;
	int rc;

	*out = 0;
	if ((rc = ctl_reg_open(&r, &tags, ctl, registry, name)) == 0 && tags)
		rc = ctl_reg_each_tag(&r, tags, reg_bytes_tag, &b);
	json_decref(b.seen);
	json_decref(tags);
	ctl_reg_close(&r);
	return rc;
}

static int
reg_purge_tag(struct ctl_reg *r, const char *tag, const char *digest,
    void *ctx)
{
	return ctl_reg_delete(r, digest);
}

int
ctl_registry_purge(struct ctl *ctl, const char *registry, const char *name)
{
	json_t *tags = NULL;
	struct ctl_reg r;
	int rc;

	if ((rc = ctl_reg_open(&r, &tags, ctl, registry, name)) == 0 && tags)
		rc = ctl_reg_each_tag(&r, tags, reg_purge_tag, NULL);
	json_decref(tags);
	ctl_reg_close(&r);
	return rc;
}

/* ctl_registry_copy's walk: the destination and its token. */
struct reg_copy {
	const char *from, *to;
	char *token;
};

/* Mount blob descriptor d's digest into c->to from c->from. */
static int
reg_copy_mount(struct ctl_reg *r, struct reg_copy *c, json_t *d)
{
	const char *digest = json_string_value(json_object_get(d, "digest"));
	struct purge_resp resp;
	struct buf none = { 0 };
	char *url;
	int rc;

	if (digest == NULL || strlen(digest) >= CTL_DIGEST_MAX ||
	    strspn(digest, "abcdefghijklmnopqrstuvwxyz0123456789:") !=
	    strlen(digest))
		return err_set(ERR_IO, "a manifest of '%s' names a blob with "
		    "no usable digest", c->from);
	url = xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", r->base,
	    c->to, digest, c->from);
	rc = purge_send(&resp, "POST", url, c->token,
	    "application/octet-stream", &none);
	free(url);
	buf_free(&resp.body);
	if (rc < 0)
		return rc;
	if (resp.status != 201)
		return err_set(ERR_IO, "the registry answered %ld to the mount "
		    "of %.19s from '%s' into '%s' (201 wanted: a session "
		    "would mean uploading it)", resp.status, digest, c->from,
		    c->to);
	return 0;
}

static int
reg_copy_tag(struct ctl_reg *r, const char *tag, const char *digest,
    void *ctx)
{
	struct reg_copy *c = ctx;
	struct purge_resp get, put;
	json_t *m = NULL, *d;
	char *url;
	size_t i;
	int rc;

	url = xasprintf("%s/v2/%s/manifests/%s", r->base, c->from, digest);
	rc = purge_do(&get, "GET", url, r->token);
	free(url);
	if (rc < 0)
		return rc;
	if (get.status == 404)
		goto done;      /* deleted since the tag was read */
	if (get.status != 200 || get.ctype[0] == '\0' ||
	    (m = json_loadb(get.body.ptr ? get.body.ptr : "", get.body.len, 0,
	    NULL)) == NULL) {
		rc = err_set(ERR_IO, "the registry answered %ld for manifest "
		    "%s of '%s'", get.status, digest, c->from);
		goto done;
	}
	if ((d = json_object_get(m, "config")) &&
	    (rc = reg_copy_mount(r, c, d)) < 0)
		goto done;
	json_array_foreach(json_object_get(m, "layers"), i, d)
		if ((rc = reg_copy_mount(r, c, d)) < 0)
			goto done;
	url = xasprintf("%s/v2/%s/manifests/%s", r->base, c->to, tag);
	rc = purge_send(&put, "PUT", url, c->token, get.ctype, &get.body);
	free(url);
	buf_free(&put.body);
	if (rc == 0 && put.status != 201)
		rc = err_set(ERR_IO, "the registry answered %ld to tag '%s' of "
		    "'%s'", put.status, tag, c->to);
done:
	json_decref(m);
	buf_free(&get.body);
	return rc;
}

int
ctl_registry_copy(struct ctl *ctl, const char *registry, const char *from,
    const char *to)
{
	struct registry_token_access acc[2] = {
		{ "repository", to, "pull,push" },
		{ "repository", from, "pull" },
	};
	struct reg_copy c = { from, to, NULL };
	json_t *tags = NULL;
	struct ctl_reg r;
	int rc;

	if ((rc = ctl_reg_open(&r, &tags, ctl, registry, from)) < 0 ||
	    tags == NULL)
		goto done;
	if (r.service && (rc = registry_token_mint(&c.token, ctl->key,
	    ctl->keylen, r.service, "controller", acc, 2, PURGE_TOKEN_TTL,
	    time(NULL))) < 0)
		goto done;
	rc = ctl_reg_each_tag(&r, tags, reg_copy_tag, &c);
done:
	free(c.token);
	json_decref(tags);
	ctl_reg_close(&r);
	return rc;
}
