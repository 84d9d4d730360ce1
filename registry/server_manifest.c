/*
 * Manifests and referrers: GET/HEAD/PUT/DELETE /v2/<name>/manifests/<ref>
 * and GET /v2/<name>/referrers/<digest>.
 *
 * A pushed manifest is kept byte for byte as a blob (content-addressed,
 * like layers), with a revision link in the repository holding the media
 * type it was pushed with, and the tag, if any, pointing at its digest.
 * The order of writes (blob, revision, referrer, tag) means a reader
 * following a tag always finds the revision and the bytes.
 *
 * A PUT by digest may name tags too (?tag=a&tag=b, distribution-spec
 * 1.1): all are checked before anything is written, each is answered
 * with an OCI-Tag header, and when one cannot be written the ones set
 * before it get back what they named, so the request makes all its tags
 * or none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/httpd.h"
#include "slipway/log.h"
#include "registry_int.h"

static int
manifest_stream(struct httpd_req *req, const char *data, size_t n, void *ctx)
{
	struct registry_req *rr = ctx;

	return buf_put(&rr->body, data, n);     /* capped at 4 MiB */
}

static void
manifest_too_big(struct httpd_req *req)
{
	registry_error(req, 413, "MANIFEST_INVALID", "manifest is larger "
	    "than 4 MiB", json_pack("{s:I}", "limit",
	    (json_int_t)REGISTRY_MANIFEST_MAX));
}

static bool
ref_is_digest(const char *ref)
{
	return strchr(ref, ':') != NULL;
}

int
registry_put_tags_parse(struct registry_strv *out, const char *const *vals,
    size_t n)
{
	struct registry_strv l = { 0 };

	if (n > REGISTRY_PUT_TAGS_MAX)
		return err_set(ERR_TOOBIG, "more than %d tags in one manifest "
		    "push", REGISTRY_PUT_TAGS_MAX);
	for (size_t i = 0; i < n; i++) {
		bool dup = false;

		if (!registry_tag_valid(vals[i])) {
			registry_strv_free(&l);
			return err_set(ERR_INVALID, "'%.*s' is not a valid tag "
			    "([a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})", 128,
			    vals[i]);
		}
		for (size_t j = 0; j < l.n && !dup; j++)
			dup = strcmp(l.v[j], vals[i]) == 0;
		if (!dup)
			registry_strv_push(&l, vals[i]);
	}
	for (size_t i = 0; i < l.n; i++)
		registry_strv_push(out, l.v[i]);
	registry_strv_free(&l);
	return 0;
}

/* ?tag= into rr->tags; answers (400, 414) and returns false when bad. */
static bool
manifest_tags_take(struct httpd_req *req, struct registry_req *rr)
{
	const char *vals[REGISTRY_PUT_TAGS_MAX + 1];
	size_t n = httpd_req_query_all(req, "tag", vals,
	    REGISTRY_PUT_TAGS_MAX + 1);
	int rc;

	if (n == 0)
		return true;
	if (!ref_is_digest(rr->ref)) {
		registry_error(req, 400, "MANIFEST_INVALID", "tag= goes with "
		    "a push by digest, not by tag", NULL);
		return false;
	}
	if ((rc = registry_put_tags_parse(&rr->tags, vals, n)) == 0)
		return true;
	if (rc == ERR_TOOBIG)
		registry_error(req, 414, "UNSUPPORTED", err_last(),
		    json_pack("{s:i}", "limit", REGISTRY_PUT_TAGS_MAX));
	else
		registry_error(req, 400, "TAG_INVALID", err_last(), NULL);
	return false;
}

int
registry_manifest_begin(struct httpd_req *req, struct registry_req *rr)
{
	const char *cl = httpd_req_header(req, "Content-Length");

	if (strcmp(req->method, "PUT") != 0)
		return 0;
	if (!manifest_tags_take(req, rr))
		return 0;
	if (cl && strtoull(cl, NULL, 10) > REGISTRY_MANIFEST_MAX) {
		manifest_too_big(req);
		return 0;
	}
	httpd_req_stream(req, manifest_stream, rr);
	return 0;
}

static void
internal_error(struct httpd_req *req, const char *what)
{
	log_warnx("registry: %s: %s", what, err_last());
	registry_error(req, 500, "UNKNOWN", what, NULL);
}

static void
manifest_get(struct httpd_req *req, struct registry_req *rr)
{
	struct registry_store *s = rr->reg->store;
	char digest[DIGEST_STR_MAX], *mt = NULL;
	uint64_t size;
	int fd = -1, rc;

	if (ref_is_digest(rr->ref))
		snprintf(digest, sizeof(digest), "%s", rr->ref);
	else if ((rc = registry_tag_get(digest, s, rr->name, rr->ref)) < 0)
		goto unknown;
	if ((rc = registry_revision_get(&mt, s, rr->name, digest)) < 0)
		goto unknown;
	if ((rc = registry_blob_open(s, digest, &fd, &size)) < 0)
		goto unknown;
	httpd_header(req, "Docker-Content-Digest", digest);
	httpd_respond_fd(req, 200, mt, fd, 0, size);
	free(mt);
	return;
unknown:
	free(mt);
	if (rc != ERR_NOTFOUND) {
		internal_error(req, "cannot read the manifest");
		return;
	}
	registry_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown to "
	    "registry", json_pack("{s:s,s:s}", "name", rr->name, "reference",
	    rr->ref));
}

/* The request's Content-Type without parameters, into buf. */
static const char *
content_type(struct httpd_req *req, char *buf, size_t len)
{
	const char *ct = httpd_req_header(req, "Content-Type");
	size_t n;

	if (ct == NULL)
		return NULL;
	n = strcspn(ct, "; \t");
	if (n >= len)
		n = len - 1;
	memcpy(buf, ct, n);
	buf[n] = '\0';
	return buf;
}

/* Every descriptor must name something the repository has.  Returns the
 * MANIFEST_BLOB_UNKNOWN (or size) errors, or NULL when all are there.
 * Touches the blobs, so a gc that starts after this spares them. */
static json_t *
manifest_refs_check(struct registry_req *rr, const struct registry_manifest *m)
{
	struct registry_store *s = rr->reg->store;
	json_t *errs = json_array();

	for (size_t i = 0; i < m->nrefs; i++) {
		const struct registry_manifest_ref *r = &m->refs[i];
		uint64_t size;

		if (r->kind == REF_MANIFEST) {
			if (registry_revision_get(NULL, s, rr->name,
			    r->digest) < 0)
				json_array_append_new(errs,
				    registry_error_entry(
				    "MANIFEST_BLOB_UNKNOWN", "manifest "
				    "references a manifest unknown to the "
				    "repository", json_pack("{s:s}", "digest",
				    r->digest)));
			continue;
		}
		if (r->foreign)
			continue;       /* non-distributable: elsewhere */
		if (!registry_link_has(s, rr->name, r->digest) ||
		    registry_blob_stat(s, r->digest, &size) < 0) {
			json_array_append_new(errs, registry_error_entry(
			    "MANIFEST_BLOB_UNKNOWN", "manifest references a "
			    "blob unknown to the repository",
			    json_pack("{s:s}", "digest", r->digest)));
		} else if ((int64_t)size != r->size) {
			json_array_append_new(errs, registry_error_entry(
			    "MANIFEST_INVALID", "descriptor size does not "
			    "match the blob", json_pack("{s:s,s:I,s:I}",
			    "digest", r->digest, "size", (json_int_t)r->size,
			    "stored", (json_int_t)size)));
		} else {
			registry_blob_touch(s, r->digest);
		}
	}
	if (json_array_size(errs) == 0) {
		json_decref(errs);
		return NULL;
	}
	return errs;
}

/* Point every ?tag= at digest, or none: a failure puts back what the
 * tags set so far named before (or removes them when new). */
static int
manifest_tags_set(struct registry_req *rr, const char *digest)
{
	struct registry_store *s = rr->reg->store;
	char (*old)[DIGEST_STR_MAX] = xcalloc(rr->tags.n + 1, sizeof(*old));
	size_t i;
	int rc = 0;

	for (i = 0; i < rr->tags.n; i++) {
		if (registry_tag_get(old[i], s, rr->name, rr->tags.v[i]) < 0)
			old[i][0] = '\0';
		if ((rc = registry_tag_set(s, rr->name, rr->tags.v[i],
		    digest)) < 0)
			break;
	}
	if (rc < 0) {
		char *why = xstrdup(err_last());

		while (i-- > 0) {
			if (old[i][0])
				registry_tag_set(s, rr->name, rr->tags.v[i],
				    old[i]);
			else
				registry_tag_remove(s, rr->name, rr->tags.v[i]);
		}
		err_set(rc, "%s", why);
		free(why);
	}
	free(old);
	return rc;
}

/* Store an accepted manifest: blob, revision, referrer entry, tags. */
static int
manifest_store(struct registry_req *rr, const struct registry_manifest *m,
    const char *digest)
{
	struct registry_store *s = rr->reg->store;
	const char *body = rr->body.ptr ? rr->body.ptr : "";
	int rc;

	if (registry_blob_stat(s, digest, NULL) < 0 &&
	    (rc = registry_blob_write(s, digest, body, rr->body.len)) < 0)
		return rc;
	registry_blob_touch(s, digest);
	if ((rc = registry_revision_put(s, rr->name, digest,
	    m->media_type)) < 0)
		return rc;
	if (m->subject[0]) {
		json_t *d = registry_manifest_descriptor(m, digest,
		    rr->body.len);
		char *text = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);

		rc = registry_referrer_put(s, rr->name, m->subject, digest,
		    text);
		free(text);
		json_decref(d);
		if (rc < 0)
			return rc;
	}
	if (!ref_is_digest(rr->ref))
		return registry_tag_set(s, rr->name, rr->ref, digest);
	return manifest_tags_set(rr, digest);
}

static void
manifest_put(struct httpd_req *req, struct registry_req *rr)
{
	struct registry_manifest *m = NULL;
	char ct[128], digest[DIGEST_STR_MAX], *loc;
	enum digest_algo algo = DIGEST_SHA256;
	const char *hex;
	char *mt = NULL;
	json_t *errs;
	int lk = -1;

	if (httpd_req_stream_failed(req)) {
		manifest_too_big(req);
		return;
	}
	if (registry_manifest_parse(&m, rr->body.ptr ? rr->body.ptr : "",
	    rr->body.len, content_type(req, ct, sizeof(ct))) < 0) {
		registry_error(req, 400, "MANIFEST_INVALID", err_last(), NULL);
		return;
	}
	if (ref_is_digest(rr->ref))
		digest_parse(rr->ref, &algo, &hex);
	digest_buf(digest, algo, rr->body.ptr ? rr->body.ptr : "",
	    rr->body.len);
	if (ref_is_digest(rr->ref) && strcmp(digest, rr->ref) != 0) {
		registry_error(req, 400, "DIGEST_INVALID", "provided digest "
		    "did not match uploaded content", json_pack("{s:s,s:s}",
		    "digest", rr->ref, "computed", digest));
		goto done;
	}
	/* gc may not sweep between the check and the write */
	if ((lk = registry_store_lock(rr->reg->store, false)) < 0) {
		internal_error(req, "cannot lock the store");
		goto done;
	}
	if ((errs = manifest_refs_check(rr, m)) != NULL) {
		registry_errors(req, 400, errs);
		goto done;
	}
	if (registry_revision_get(&mt, rr->reg->store, rr->name, digest) == 0 &&
	    strcmp(mt, m->media_type) != 0) {
		/* the same bytes keep the type they were first pushed as */
		registry_error(req, 400, "MANIFEST_INVALID", "this manifest is "
		    "already stored with another media type",
		    json_pack("{s:s}", "mediaType", mt));
		goto done;
	}
	if (manifest_store(rr, m, digest) < 0) {
		internal_error(req, "cannot store the manifest");
		goto done;
	}
	loc = xasprintf("/v2/%s/manifests/%s", rr->name, digest);
	httpd_header(req, "Location", loc);
	free(loc);
	httpd_header(req, "Docker-Content-Digest", digest);
	if (m->subject[0])
		httpd_header(req, "OCI-Subject", m->subject);
	for (size_t i = 0; i < rr->tags.n; i++)
		httpd_header(req, "OCI-Tag", rr->tags.v[i]);
	httpd_respond(req, 201, NULL, NULL, 0);
done:
	registry_store_unlock(lk);
	registry_manifest_free(m);
	free(mt);
}

/* DELETE by digest: the revision, the tags naming it, its referrer
 * entry.  The bytes stay until gc, and at least for its grace: the
 * manifest's blob and every blob it names are touched before the
 * revision goes, so a pull that read the manifest a moment ago still
 * finds its config and layers (a gc that marks before the removal keeps
 * them as named, one that marks after sees them young). */
static int
manifest_delete_digest(struct registry_req *rr)
{
	struct registry_store *s = rr->reg->store;
	struct registry_manifest *m = NULL;
	struct registry_strv tags;
	char *mt = NULL;
	struct buf b;
	int rc;

	if ((rc = registry_revision_get(&mt, s, rr->name, rr->ref)) < 0)
		return rc;
	if (registry_blob_read(&b, s, rr->ref, REGISTRY_MANIFEST_MAX) == 0) {
		if (registry_manifest_parse(&m, b.ptr, b.len, mt) < 0)
			m = NULL;
		buf_free(&b);
	}
	free(mt);
	registry_blob_touch(s, rr->ref);
	for (size_t i = 0; m && i < m->nrefs; i++)
		if (m->refs[i].kind == REF_BLOB && !m->refs[i].foreign)
			registry_blob_touch(s, m->refs[i].digest);
	if ((rc = registry_revision_remove(s, rr->name, rr->ref)) < 0)
		goto done;
	if (registry_tag_list(&tags, s, rr->name) == 0) {
		for (size_t i = 0; i < tags.n; i++) {
			char d[DIGEST_STR_MAX];

			if (registry_tag_get(d, s, rr->name, tags.v[i]) == 0 &&
			    strcmp(d, rr->ref) == 0)
				registry_tag_remove(s, rr->name, tags.v[i]);
		}
		registry_strv_free(&tags);
	}
	if (m && m->subject[0])
		registry_referrer_remove(s, rr->name, m->subject, rr->ref);
done:
	registry_manifest_free(m);
	return rc;
}

void
registry_manifest_handle(struct httpd_req *req, struct registry_req *rr)
{
	const char *m = req->method;
	int rc;

	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
		manifest_get(req, rr);
		return;
	}
	if (strcmp(m, "PUT") == 0) {
		manifest_put(req, rr);
		return;
	}
	rc = ref_is_digest(rr->ref) ? manifest_delete_digest(rr) :
	    registry_tag_remove(rr->reg->store, rr->name, rr->ref);
	if (rc == ERR_NOTFOUND)
		registry_error(req, 404, "MANIFEST_UNKNOWN", "manifest unknown "
		    "to registry", json_pack("{s:s,s:s}", "name", rr->name,
		    "reference", rr->ref));
	else if (rc < 0)
		internal_error(req, "cannot delete the manifest");
	else
		httpd_respond(req, 202, NULL, NULL, 0);
}

void
registry_referrers_handle(struct httpd_req *req, struct registry_req *rr)
{
	const char *filter = httpd_req_query(req, "artifactType");
	json_t *list = NULL, *idx;
	char *body;

	if (filter && *filter == '\0')
		filter = NULL;
	if (registry_referrer_list(&list, rr->reg->store, rr->name, rr->ref,
	    filter) < 0) {
		internal_error(req, "cannot list referrers");
		return;
	}
	idx = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
	    MT_OCI_INDEX, "manifests", list);
	body = json_dumps(idx, JSON_COMPACT);
	if (filter)
		httpd_header(req, "OCI-Filters-Applied", "artifactType");
	httpd_respond(req, 200, MT_OCI_INDEX, body, strlen(body));
	free(body);
	json_decref(idx);
}
