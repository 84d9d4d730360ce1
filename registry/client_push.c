/*
 * Push (distribution-spec v1.1 "Push"): blobs first, each only when the
 * registry lacks it (HEAD), mounted from another repository when one is
 * named, else uploaded: one PUT for small blobs, PATCH chunks then a
 * closing PUT for large ones.  A chunk that fails in transit is resumed
 * from the offset the registry reports; an upload session the registry
 * forgot is started again.  The manifest goes last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/log.h"
#include "slipway/registry.h"

#include "registry_int.h"

/* An upload the registry lost (404 on the session), or one we could not
 * resume: start it over. */
#define PUSH_RESTART 1

struct push_ctx {
	struct registry_client *c;
	const struct image_layout *l;
	const char *repo;
	const char *from;
	struct registry_xfer_stats *st;
};

static void
push_note(const struct push_ctx *p, const char *digest, const char *what,
    int64_t size)
{
	if (p->c->verbose)
		fprintf(stderr, "  %.19s %s (%lld bytes)\n", digest, what,
		    (long long)size);
}

/* 1 when the registry has the blob, 0 when not, or an error. */
static int
push_blob_exists(struct push_ctx *p, const struct image_desc *d)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	char *url = registry_client_url(p->c, "/v2/%s/blobs/%s", p->repo,
	    d->digest);
	int rc;

	registry_client_req_init(&r, "HEAD", url);
	r.retry = true;
	if ((rc = registry_client_do(&resp, p->c, &r)) < 0)
		goto done;
	if (resp.status == 200) {
		rc = resp.content_length < 0 || resp.content_length == d->size;
		if (!rc)
			log_warnx("registry has %s with %lld bytes, not %lld; "
			    "uploading it", d->digest,
			    (long long)resp.content_length, (long long)d->size);
	} else if (resp.status == 404) {
		rc = 0;
	} else {
		rc = registry_client_error(&resp, "cannot check blob %s",
		    d->digest);
	}
done:
	registry_client_resp_clear(&resp);
	free(url);
	return rc;
}

/* The "Range: 0-N" (or "bytes=0-N") of an upload: the next offset. */
static int64_t
push_range_next(const char *range)
{
	const char *dash;

	if (range == NULL)
		return -1;
	if (strncmp(range, "bytes=", 6) == 0)
		range += 6;
	if ((dash = strchr(range, '-')) == NULL || strtoll(range, NULL, 10))
		return -1;
	return strtoll(dash + 1, NULL, 10) + 1;
}

/* Ask the registry where an upload stands (GET on the session). */
static int
push_upload_status(struct push_ctx *p, char **session, int64_t *next)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	char *loc;
	int rc;

	registry_client_req_init(&r, "GET", *session);
	r.retry = true;
	if ((rc = registry_client_do(&resp, p->c, &r)) < 0)
		goto done;
	if (resp.status == 404) {
		rc = PUSH_RESTART;
		goto done;
	}
	if (resp.status != 204 && resp.status != 200) {
		rc = registry_client_error(&resp, "cannot get upload status");
		goto done;
	}
	*next = push_range_next(resp.range);
	if (*next < 0)
		*next = 0;
	/* "0-0" may mean 0 bytes or 1 (Distribution says it for both);
	 * 0 is the safe reading: the chunk is sent again. */
	if (*next == 1)
		*next = 0;
	if (resp.location && (loc = registry_client_url_resolve(p->c,
	    resp.location)) != NULL) {
		free(*session);
		*session = loc;
	}
	rc = 0;
done:
	registry_client_resp_clear(&resp);
	return rc;
}

/* PATCH the blob from offset 0 in chunks.  Returns 0, PUSH_RESTART, or
 * an error. */
static int
push_chunks(struct push_ctx *p, const struct image_desc *d, int fd,
    char **session, size_t chunk, const char *label)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	int64_t off = 0, n, next, last_refused = -1;
	int rc = 0, budget = p->c->retries;
	char range[64], *loc;

	while (off < d->size) {
		n = d->size - off < (int64_t)chunk ? d->size - off :
		    (int64_t)chunk;
		snprintf(range, sizeof(range), "Content-Range: %lld-%lld",
		    (long long)off, (long long)(off + n - 1));
		registry_client_req_init(&r, "PATCH", *session);
		r.has_body = true;
		r.fd = fd;
		r.off = off;
		r.len = n;
		r.extra_header = range;
		r.label = label;
		r.progress_base = off;
		r.progress_total = d->size;
		/* PATCH is not repeated blindly: where the registry stands
		 * after a failure is asked, below. */
		rc = registry_client_do(&resp, p->c, &r);
		if (rc == 0 && resp.status == 202) {
			if (resp.location && (loc = registry_client_url_resolve(
			    p->c, resp.location)) != NULL) {
				free(*session);
				*session = loc;
			}
			next = push_range_next(resp.range);
			off = next > off ? next : off + n;
			registry_client_resp_clear(&resp);
			continue;
		}
		if (rc == 0 && resp.status == 404) {
			rc = PUSH_RESTART;
			goto done;
		}
		if (rc == 0 && resp.status == 416) {
			/* Not where the registry expects (a chunk sent twice:
			 * curl itself resends on a connection that died):
			 * resume at its offset, asking for it when the 416
			 * does not say, once per offset. */
			next = push_range_next(resp.range);
			registry_client_resp_clear(&resp);
			if (next < 0 && (rc = push_upload_status(p, session,
			    &next)) != 0)
				goto done;
			if (next == 1)
				next = 0;
			if (next == last_refused || budget-- <= 0) {
				rc = PUSH_RESTART;
				goto done;
			}
			last_refused = next;
			off = next;
			continue;
		}
		if ((rc < 0 && rc != ERR_IO) || (rc == 0 &&
		    resp.status != 429 && resp.status != 502 &&
		    resp.status != 503 && resp.status != 504)) {
			if (rc == 0)
				rc = registry_client_error(&resp,
				    "cannot upload blob %s", d->digest);
			goto done;
		}
		if (budget-- <= 0) {
			if (rc == 0)
				rc = registry_client_error(&resp,
				    "cannot upload blob %s", d->digest);
			goto done;
		}
		log_warnx("chunk at %lld of %s failed; resuming",
		    (long long)off, d->digest);
		registry_client_backoff(p->c->retries - budget - 1,
		    resp.retry_after);
		registry_client_resp_clear(&resp);
		if ((rc = push_upload_status(p, session, &off)) != 0)
			goto done;
	}
	rc = 0;
done:
	registry_client_resp_clear(&resp);
	return rc;
}

/* One upload session: POST, then the bytes, then PUT ?digest.  Returns
 * 0 (pushed or mounted), PUSH_RESTART, or an error. */
static int
push_upload(struct push_ctx *p, const struct image_desc *d, int fd,
    bool *mounted)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	char *url = NULL, *session = NULL, *final = NULL, *tmp, label[32];
	size_t chunk = p->c->chunk_size;
	int rc;

	*mounted = false;
	snprintf(label, sizeof(label), "%.19s", d->digest);
	url = registry_client_url(p->c, "/v2/%s/blobs/uploads/", p->repo);
	if (p->from) {
		tmp = registry_client_url_add_query(url, "mount", d->digest);
		free(url);
		url = registry_client_url_add_query(tmp, "from", p->from);
		free(tmp);
	}
	registry_client_req_init(&r, "POST", url);
	r.retry = true;
	rc = registry_client_do(&resp, p->c, &r);
	if (rc == ERR_AUTH && p->from) {
		/* The registry asks for pull on the source (as Distribution
		 * does) and the realm did not grant it: upload instead, and
		 * try no more mounts from there. */
		p->from = NULL;
		registry_client_resp_clear(&resp);
		free(url);
		url = registry_client_url(p->c, "/v2/%s/blobs/uploads/",
		    p->repo);
		registry_client_req_init(&r, "POST", url);
		r.retry = true;
		rc = registry_client_do(&resp, p->c, &r);
	}
	if (rc < 0)
		goto done;
	if (p->from && resp.status == 201) {
		*mounted = true;
		goto done;
	}
	if (resp.status != 202) {
		rc = registry_client_error(&resp, "cannot start uploading %s",
		    d->digest);
		goto done;
	}
	if ((session = registry_client_url_resolve(p->c,
	    resp.location)) == NULL) {
		rc = ERR_INVALID;
		goto done;
	}
	if (resp.chunk_min) {
		/* OCI-Chunk-Min-Length: chunks (but the last) at least
		 * this long; believed up to 1 GiB. */
		long long min = strtoll(resp.chunk_min, NULL, 10);
		if (min > (long long)chunk && min <= (1LL << 30))
			chunk = (size_t)min;
	}
	registry_client_resp_clear(&resp);
	if (d->size > (int64_t)p->c->chunk_size) {
		if ((rc = push_chunks(p, d, fd, &session, chunk, label)) != 0)
			goto done;
		final = registry_client_url_add_query(session, "digest",
		    d->digest);
		registry_client_req_init(&r, "PUT", final);
		r.has_body = true;
	} else {
		final = registry_client_url_add_query(session, "digest",
		    d->digest);
		registry_client_req_init(&r, "PUT", final);
		r.has_body = true;
		r.fd = fd;
		r.len = d->size;
		r.label = label;
		r.progress_total = d->size;
	}
	rc = registry_client_do(&resp, p->c, &r);
	if (rc == ERR_IO || (rc == 0 && (resp.status == 502 ||
	    resp.status == 503 || resp.status == 504))) {
		/* The answer may be what was lost: the blob may be in. */
		int have = push_blob_exists(p, d);
		if (have == 1) {
			rc = 0;
			goto done;
		}
		rc = PUSH_RESTART;
		goto done;
	}
	if (rc < 0)
		goto done;
	if (resp.status == 404) {
		rc = PUSH_RESTART;
		goto done;
	}
	if (resp.status != 201) {
		rc = registry_client_error(&resp, "cannot upload blob %s",
		    d->digest);
		goto done;
	}
	if (resp.digest && strcmp(resp.digest, d->digest) != 0) {
		rc = err_set(ERR_INVALID, "registry stored %s as %.80s",
		    d->digest, resp.digest);
		goto done;
	}
done:
	registry_client_resp_clear(&resp);
	free(url);
	free(session);
	free(final);
	return rc;
}

static int
push_blob(struct push_ctx *p, const struct image_desc *d)
{
	bool mounted;
	int fd, rc, attempt = 0;

	if ((rc = push_blob_exists(p, d)) < 0)
		return rc;
	if (rc == 1) {
		p->st->existed++;
		push_note(p, d->digest, "exists", d->size);
		return 0;
	}
	if ((fd = image_layout_blob_open(p->l, d)) < 0)
		return fd;
	while ((rc = push_upload(p, d, fd, &mounted)) == PUSH_RESTART) {
		if (attempt++ >= p->c->retries) {
			rc = err_set(ERR_IO, "cannot upload blob %s: the "
			    "registry lost the upload %d times", d->digest,
			    attempt);
			break;
		}
		log_warnx("upload of %s restarts", d->digest);
	}
	close(fd);
	if (rc < 0)
		return rc;
	if (mounted) {
		p->st->mounted++;
		push_note(p, d->digest, "mounted", d->size);
	} else {
		p->st->sent++;
		p->st->bytes += d->size;
		push_note(p, d->digest, "pushed", d->size);
	}
	return 0;
}

/* PUT a manifest or index (its exact bytes) under ref. */
static int
push_manifest_put(struct push_ctx *p, const struct image_manifest *m,
    const char *ref)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	char *url = registry_client_url(p->c, "/v2/%s/manifests/%s", p->repo,
	    ref);
	int rc;

	registry_client_req_init(&r, "PUT", url);
	r.has_body = true;
	r.data = m->raw;
	r.len = (int64_t)m->raw_len;
	r.content_type = m->media_type;
	r.retry = true;
	if ((rc = registry_client_do(&resp, p->c, &r)) < 0)
		goto done;
	if (resp.status != 201 && resp.status != 200) {
		rc = registry_client_error(&resp, "cannot put manifest %s",
		    ref);
		goto done;
	}
	if (resp.digest && strcmp(resp.digest, m->digest) != 0) {
		rc = err_set(ERR_INVALID, "registry stored manifest %s as "
		    "%.80s", m->digest, resp.digest);
		goto done;
	}
done:
	registry_client_resp_clear(&resp);
	free(url);
	return rc;
}

/* Push what d names: a manifest's blobs then the manifest, or an index's
 * manifests then the index.  depth stops an index of indexes. */
static int
push_desc(struct push_ctx *p, const struct image_desc *d, const char *ref,
    int depth, struct image_manifest **out)
{
	struct image_manifest *m = NULL;
	struct buf b = { 0 };
	int rc;

	if (depth > 1)
		return err_set(ERR_UNSUPPORTED, "nested image indexes are not "
		    "pushed");
	if ((rc = image_layout_blob_read(&b, p->l, d, IMAGE_MANIFEST_MAX)) < 0 ||
	    (rc = image_manifest_parse(&m, d->media_type, b.ptr, b.len)) < 0)
		goto done;
	if (m->is_index) {
		for (size_t i = 0; i < m->nmanifests; i++)
			if ((rc = push_desc(p, &m->manifests[i],
			    m->manifests[i].digest, depth + 1, NULL)) < 0)
				goto done;
	} else {
		if ((rc = push_blob(p, &m->config)) < 0)
			goto done;
		for (size_t i = 0; i < m->nlayers; i++)
			if ((rc = push_blob(p, &m->layers[i])) < 0)
				goto done;
	}
	rc = push_manifest_put(p, m, ref);
	if (rc == 0 && out) {
		*out = m;
		m = NULL;
	}
done:
	buf_free(&b);
	image_manifest_free(m);
	return rc;
}

int
registry_client_push(struct registry_xfer_stats *out,
    struct registry_client *c, const struct image_layout *l,
    const char *tag, const struct registry_ref *dst, const char *from_repo)
{
	struct push_ctx p = { .c = c, .l = l, .repo = dst->repo,
	    .from = from_repo, .st = out };
	struct image_manifest *m = NULL;
	struct image_desc d;
	const char *ref;
	char *scope;
	int rc;

	memset(out, 0, sizeof(*out));
	if (from_repo && (!registry_repo_is_valid(from_repo) ||
	    strcmp(from_repo, dst->repo) == 0))
		from_repo = p.from = NULL;
	if ((rc = image_layout_resolve(&d, l, tag)) < 0)
		return rc;
	if (dst->digest && strcmp(dst->digest, d.digest) != 0) {
		rc = err_set(ERR_INVALID, "the image is %s, not %s", d.digest,
		    dst->digest);
		goto done;
	}
	ref = dst->digest ? dst->digest : dst->tag ? dst->tag :
	    tag ? tag : d.ref_name ? d.ref_name : "latest";
	scope = xasprintf("repository:%s:pull,push", dst->repo);
	registry_client_auth_add_scope(c, scope);
	free(scope);
	if (from_repo) {
		scope = xasprintf("repository:%s:pull", from_repo);
		registry_client_auth_add_scope(c, scope);
		free(scope);
	}
	if ((rc = push_desc(&p, &d, ref, 0, &m)) < 0) {
		rc = err_wrap(rc, "cannot push to %s/%s", c->registry,
		    dst->repo);
		goto done;
	}
	snprintf(out->digest, sizeof(out->digest), "%s", m->digest);
	out->media_type = xstrdup(m->media_type);
	out->size = (int64_t)m->raw_len;
done:
	image_manifest_free(m);
	image_desc_clear(&d);
	return rc;
}
