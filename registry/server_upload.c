/*
 * The upload protocol under /v2/<name>/blobs/uploads/: monolithic POST
 * with ?digest=, sessions (POST, PATCH chunks, closing PUT), status,
 * cancel, and cross-repository mount.
 *
 * Bodies are streamed to uploads/<uuid>/data and hashed as they arrive,
 * so a blob is read once and never held in memory; the running digest of
 * a session lives in reg->uploads between requests.  Only a verified
 * upload is renamed into blobs/; a wrong digest removes the session and
 * stores nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/httpd.h"
#include "slipway/log.h"
#include "registry_int.h"

#define WRITEBACK_STEP ((uint64_t)8 << 20)   /* start writeback every 8 MiB */
#define SWEEP_EVERY 60                        /* seconds between sweeps */

/* ---- the table of sessions ---- */

static void
upload_free(struct registry_upload *u)
{
	if (u->hashing)
		digest_abort(&u->ctx);
	free(u);
}

void
registry_uploads_free(struct registry *reg)
{
	struct registry_upload *u, *next;

	for (u = reg->uploads; u; u = next) {
		next = u->next;
		upload_free(u);
	}
	reg->uploads = NULL;
	reg->nuploads = 0;
}

/* Drop idle entries older than the upload age (their sessions are stale
 * on disk, or will be swept).  Locked by the caller. */
static void
upload_prune_locked(struct registry *reg, time_t now)
{
	struct registry_upload **pp = &reg->uploads, *u;

	while ((u = *pp) != NULL) {
		if (!u->busy && now - u->used > (time_t)reg->o.upload_age) {
			*pp = u->next;
			upload_free(u);
			reg->nuploads--;
		} else {
			pp = &u->next;
		}
	}
}

/* Take the session for one request: *out is marked busy.  ERR_NOTFOUND
 * when there is no such session in repo, ERR_CONFLICT when another
 * request is writing it. */
static int
upload_acquire(struct registry_upload **out, struct registry *reg,
    const char *uuid, const char *repo)
{
	struct registry_upload *u, *fresh = NULL;
	int rc = 0;

	/* the disk says whether the session exists (gc may have swept it) */
	if ((rc = registry_upload_check(reg->store, uuid, repo)) < 0)
		goto forget;
	fresh = xcalloc(1, sizeof(*fresh));
	pthread_mutex_lock(&reg->lock);
	for (u = reg->uploads; u; u = u->next)
		if (strcmp(u->uuid, uuid) == 0)
			break;
	if (u == NULL) {
		/* known on disk only (a restart): its hash is rebuilt
		 * from the file when the upload is closed */
		u = fresh;
		fresh = NULL;
		snprintf(u->uuid, sizeof(u->uuid), "%s", uuid);
		snprintf(u->repo, sizeof(u->repo), "%s", repo);
		u->next = reg->uploads;
		reg->uploads = u;
		reg->nuploads++;
	}
	if (u->busy) {
		rc = err_set(ERR_CONFLICT, "upload '%s' is busy with another "
		    "request", uuid);
	} else {
		u->busy = true;
		u->used = time(NULL);
		*out = u;
	}
	pthread_mutex_unlock(&reg->lock);
	free(fresh);
	return rc;
forget:
	/* gone on disk: forget any state kept for it */
	pthread_mutex_lock(&reg->lock);
	for (struct registry_upload **pp = &reg->uploads; *pp;
	    pp = &(*pp)->next) {
		if (strcmp((*pp)->uuid, uuid) == 0 && !(*pp)->busy) {
			u = *pp;
			*pp = u->next;
			upload_free(u);
			reg->nuploads--;
			break;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

static void
upload_release(struct registry *reg, struct registry_upload *u)
{
	pthread_mutex_lock(&reg->lock);
	u->busy = false;
	u->used = time(NULL);
	pthread_mutex_unlock(&reg->lock);
}

/* Remove the session from the table and from disk. */
static void
upload_finish(struct registry *reg, struct registry_upload *u)
{
	pthread_mutex_lock(&reg->lock);
	for (struct registry_upload **pp = &reg->uploads; *pp;
	    pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			reg->nuploads--;
			break;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	if (registry_upload_remove(reg->store, u->uuid) < 0)
		log_warnx("registry: %s", err_last());
	upload_free(u);
}

/* Like upload_finish, but the bytes on disk are removed only when the
 * answer is out (registry_blob_done): unlinking a big file takes a while,
 * and the client need not wait for it. */
static void
upload_finish_later(struct registry *reg, struct registry_upload *u,
    struct registry_req *rr)
{
	pthread_mutex_lock(&reg->lock);
	for (struct registry_upload **pp = &reg->uploads; *pp;
	    pp = &(*pp)->next) {
		if (*pp == u) {
			*pp = u->next;
			reg->nuploads--;
			break;
		}
	}
	pthread_mutex_unlock(&reg->lock);
	if (registry_upload_retire(&rr->trash, reg->store, u->uuid) < 0) {
		log_warnx("registry: %s", err_last());
		if (registry_upload_remove(reg->store, u->uuid) < 0)
			log_warnx("registry: %s", err_last());
	}
	upload_free(u);
}

/* Start a session in repo, busy for the caller, hashing sha256.  Sweeps
 * stale sessions now and then.  ERR_CONFLICT when too many are open. */
static int
upload_new(struct registry_upload **out, struct registry *reg,
    const char *repo)
{
	struct registry_upload *u;
	time_t now = time(NULL);
	bool sweep = false;
	int rc;

	pthread_mutex_lock(&reg->lock);
	if (now - reg->swept > SWEEP_EVERY) {
		reg->swept = now;
		sweep = true;
	}
	if (reg->nuploads >= REGISTRY_UPLOADS_MAX)
		upload_prune_locked(reg, now);
	rc = reg->nuploads >= REGISTRY_UPLOADS_MAX ? ERR_CONFLICT : 0;
	if (rc == 0)
		reg->nuploads++;        /* hold the place */
	pthread_mutex_unlock(&reg->lock);
	if (sweep && registry_upload_sweep(NULL, reg->store,
	    reg->o.upload_age, false) < 0)
		log_warnx("registry: %s", err_last());
	if (rc < 0)
		return err_set(ERR_CONFLICT, "too many uploads in progress");
	u = xcalloc(1, sizeof(*u));
	snprintf(u->repo, sizeof(u->repo), "%s", repo);
	if ((rc = registry_upload_create(u->uuid, reg->store, repo)) < 0 ||
	    (rc = digest_init(&u->ctx, DIGEST_SHA256)) < 0) {
		if (u->uuid[0])
			registry_upload_remove(reg->store, u->uuid);
		free(u);
		pthread_mutex_lock(&reg->lock);
		reg->nuploads--;
		pthread_mutex_unlock(&reg->lock);
		return rc;
	}
	u->hashing = true;
	u->busy = true;
	u->used = now;
	pthread_mutex_lock(&reg->lock);
	u->next = reg->uploads;
	reg->uploads = u;
	pthread_mutex_unlock(&reg->lock);
	*out = u;
	return 0;
}


/* ---- writing a body into a session ---- */

static void
upload_headers(struct httpd_req *req, struct registry_req *rr,
    uint64_t size)
{
	char *loc = xasprintf("/v2/%s/blobs/uploads/%s", rr->name,
	    rr->up->uuid);
	char range[48];

	/* "0-<last byte>"; an empty session says "0-0", as distribution */
	snprintf(range, sizeof(range), "0-%" PRIu64, size ? size - 1 : 0);
	httpd_header(req, "Location", loc);
	httpd_header(req, "Range", range);
	httpd_header(req, "Docker-Upload-UUID", rr->up->uuid);
	free(loc);
}

static int
blob_stream(struct httpd_req *req, const char *data, size_t n, void *ctx)
{
	struct registry_req *rr = ctx;
	uint64_t at = rr->start + rr->written;
	size_t done = 0;

	if (at + n > rr->reg->o.blob_max || at + n < at) {
		rr->werr = ERR_TOOBIG;
		return -1;
	}
	if (rr->expect != UINT64_MAX && rr->written + n > rr->expect) {
		rr->werr = ERR_INVALID;
		return -1;
	}
	while (done < n) {
		ssize_t w = pwrite(rr->fd, data + done, n - done,
		    (off_t)(at + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rr->wfull = errno == ENOSPC || errno == EDQUOT;
			log_warn("registry: cannot write upload %s",
			    rr->up->uuid);
			rr->werr = ERR_IO;
			return -1;
		}
		done += (size_t)w;
	}
	if (rr->up->hashing) {
		digest_update(&rr->up->ctx, data, n);
		rr->up->hashed += n;
	}
	rr->written += n;
	/* start writeback early, so the fsync before commit is short */
	if (rr->written - rr->synced >= WRITEBACK_STEP) {
		sync_file_range(rr->fd, (off_t)(rr->start + rr->synced),
		    (off_t)(rr->written - rr->synced),
		    SYNC_FILE_RANGE_WRITE);
		rr->synced = rr->written;
	}
	return 0;
}

/* Open the session's data file for this request and hold its "in use"
 * lock; rr->start is where the body will go. */
static int
upload_open(struct registry_req *rr)
{
	char *path = registry_upload_data(rr->reg->store, rr->up->uuid);
	struct stat st;
	int rc = 0;

	rr->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (rr->fd < 0 || flock(rr->fd, LOCK_SH) < 0 ||
	    fstat(rr->fd, &st) < 0) {
		rc = err_sys("cannot open upload '%s'", path);
		goto done;
	}
	rr->start = (uint64_t)st.st_size;
	if (rr->up->hashing && rr->up->hashed != rr->start) {
		/* the file moved under the hash (a crash, a failed
		 * chunk): verify from the file at the end instead */
		digest_abort(&rr->up->ctx);
		rr->up->hashing = false;
	}
done:
	free(path);
	return rc;
}

/* Undo what this request wrote (a chunk that failed). */
static void
upload_rollback(struct registry_req *rr)
{
	if (rr->written == 0)
		return;
	if (ftruncate(rr->fd, (off_t)rr->start) < 0)
		log_warn("registry: cannot truncate upload %s", rr->up->uuid);
	if (rr->up->hashing) {
		digest_abort(&rr->up->ctx);
		rr->up->hashing = false;
	}
	rr->written = 0;
}

/* Set up a body write (PATCH, closing PUT, monolithic POST): check the
 * Content-Range and Content-Length against the session.  Answers and
 * returns false when they do not fit. */
static bool
upload_prepare(struct httpd_req *req, struct registry_req *rr)
{
	const char *cr = httpd_req_header(req, "Content-Range");
	const char *cl = httpd_req_header(req, "Content-Length");
	uint64_t a, b, len;

	if (upload_open(rr) < 0) {
		log_warnx("registry: %s", err_last());
		registry_error(req, 500, "UNKNOWN", "cannot open the upload",
		    NULL);
		return false;
	}
	if (cr) {
		if (registry_content_range_parse(cr, &a, &b) < 0) {
			registry_error(req, 400, "BLOB_UPLOAD_INVALID",
			    err_last(), NULL);
			return false;
		}
		if (a != rr->start) {
			/* the spec: chunks in order, or 416 */
			upload_headers(req, rr, rr->start);
			registry_error(req, 416, "BLOB_UPLOAD_INVALID",
			    "chunk is out of order", json_pack("{s:I}",
			    "offset", (json_int_t)rr->start));
			return false;
		}
		rr->expect = b - a + 1;
	}
	if (cl) {
		char *end;

		errno = 0;
		len = strtoull(cl, &end, 10);
		if (errno || *end || (rr->expect != UINT64_MAX &&
		    len != rr->expect)) {
			registry_error(req, 400, "SIZE_INVALID", "Content-Length "
			    "does not match Content-Range", NULL);
			return false;
		}
		if (len > rr->reg->o.blob_max ||
		    rr->start + len > rr->reg->o.blob_max) {
			registry_error(req, 413, "SIZE_INVALID", "blob is "
			    "larger than this registry takes", NULL);
			return false;
		}
	}
	httpd_req_stream(req, blob_stream, rr);
	return true;
}

/* After the body: did it go in whole?  Answers and rolls back if not. */
static bool
upload_body_ok(struct httpd_req *req, struct registry_req *rr)
{
	if (httpd_req_stream_failed(req) || rr->werr) {
		upload_rollback(rr);
		if (rr->werr == ERR_TOOBIG)
			registry_error(req, 413, "SIZE_INVALID", "blob is "
			    "larger than this registry takes", NULL);
		else if (rr->werr == ERR_INVALID)
			registry_error(req, 400, "SIZE_INVALID", "body is "
			    "longer than its Content-Range", NULL);
		else if (rr->wfull)
			registry_error_full(req, "cannot store the upload");
		else
			registry_error(req, 500, "UNKNOWN", "cannot store the "
			    "upload", NULL);
		return false;
	}
	if (rr->expect != UINT64_MAX && rr->written != rr->expect) {
		upload_rollback(rr);
		registry_error(req, 400, "SIZE_INVALID", "body is shorter than "
		    "its Content-Range", NULL);
		return false;
	}
	return true;
}

/* After a verified upload: when the store holds digest already with this
 * size (a re-push, or two pushes of one blob at once), link that copy into
 * the repository, so this one needs neither a sync nor a rename.  Under
 * the gc lock, as a mount, so gc cannot take the blob in between.  0 when
 * linked; otherwise the caller stores its own copy (which also replaces a
 * stored copy of the wrong size). */
static int
upload_link_stored(struct registry_req *rr, const char *digest,
    uint64_t size)
{
	struct registry_store *s = rr->reg->store;
	uint64_t have = 0;
	int lk, rc;

	if ((lk = registry_store_lock(s, false)) < 0)
		return lk;
	rc = registry_blob_stat(s, digest, &have);
	if (rc == 0 && have != size) {
		log_warnx("registry: stored blob %s has %" PRIu64 " bytes, "
		    "not %" PRIu64 ": replacing it", digest, have, size);
		rc = ERR_CONFLICT;
	}
	if (rc == 0) {
		registry_blob_touch(s, digest);
		rc = registry_link_add(s, rr->name, digest);
	}
	registry_store_unlock(lk);
	return rc;
}

/* Close the session with the client's digest: verify, rename into the
 * store (or link the copy the store has), link into the repository.
 * Answers 201, or 400 DIGEST_INVALID (and the session is dropped: nothing
 * is stored). */
static void
upload_commit(struct httpd_req *req, struct registry_req *rr,
    const char *want)
{
	struct registry *reg = rr->reg;
	struct registry_upload *u = rr->up;
	char got[DIGEST_STR_MAX], *path, *loc;
	enum digest_algo algo;
	const char *hex;
	int rc;

	digest_parse(want, &algo, &hex);
	path = registry_upload_data(reg->store, u->uuid);
	if (u->hashing && u->ctx.algo == algo &&
	    u->hashed == rr->start + rr->written) {
		digest_final(&u->ctx, got);
		u->hashing = false;
	} else if ((rc = digest_file(got, algo, path)) < 0) {
		log_warnx("registry: %s", err_last());
		registry_error(req, 500, "UNKNOWN", "cannot read the upload",
		    NULL);
		goto done;
	}
	if (strcmp(got, want) != 0) {
		registry_error(req, 400, "DIGEST_INVALID", "provided digest "
		    "did not match uploaded content", json_pack("{s:s,s:s}",
		    "digest", want, "computed", got));
		upload_finish(reg, u);
		rr->up = NULL;
		goto done;
	}
	if (upload_link_stored(rr, want, rr->start + rr->written) == 0) {
		rr->committed = true;
		upload_finish_later(reg, u, rr);
		rr->up = NULL;
		goto answer;
	}
	/* durable before it is visible; fresh mtime for gc's grace */
	if (fchmod(rr->fd, 0644) < 0 || fdatasync(rr->fd) < 0 ||
	    futimens(rr->fd, NULL) < 0 ||
	    (rc = registry_blob_commit(reg->store, want, path)) < 0 ||
	    (rc = registry_link_add(reg->store, rr->name, want)) < 0) {
		log_warnx("registry: cannot store blob %s: %s", want,
		    err_last());
		registry_error(req, 500, "UNKNOWN", "cannot store the blob",
		    NULL);
		goto done;
	}
	rr->committed = true;
	upload_finish(reg, u);
	rr->up = NULL;
answer:
	loc = xasprintf("/v2/%s/blobs/%s", rr->name, want);
	httpd_header(req, "Location", loc);
	httpd_header(req, "Docker-Content-Digest", want);
	free(loc);
	httpd_respond(req, 201, NULL, NULL, 0);
done:
	free(path);
}

/* ?digest= of a closing request: answers 400 when missing or bad. */
static const char *
upload_digest_arg(struct httpd_req *req)
{
	const char *d = httpd_req_query(req, "digest");

	if (d == NULL || !digest_is_valid(d)) {
		registry_error(req, 400, "DIGEST_INVALID", d ? err_last() :
		    "the digest parameter is missing", NULL);
		return NULL;
	}
	return d;
}

/* ---- POST /v2/<name>/blobs/uploads/ ---- */

/* Cross-repository mount: answers 201 and returns true when done. */
static bool
upload_mount(struct httpd_req *req, struct registry_req *rr,
    const char *digest, const char *from)
{
	struct registry *reg = rr->reg;
	bool may = reg->o.anonymous_pull || registry_grants_allow(rr->grants,
	    "repository", from, ACT_PULL);
	char *loc;
	int lk, rc;

	if (!registry_name_valid(from) || !may ||
	    !registry_link_has(reg->store, from, digest))
		return false;
	/* under the gc lock, so gc cannot take the blob between the check
	 * and the link */
	if ((lk = registry_store_lock(reg->store, false)) < 0)
		return false;
	rc = registry_blob_stat(reg->store, digest, NULL);
	if (rc == 0) {
		rc = registry_link_add(reg->store, rr->name, digest);
		registry_blob_touch(reg->store, digest);
	}
	registry_store_unlock(lk);
	if (rc < 0)
		return false;
	loc = xasprintf("/v2/%s/blobs/%s", rr->name, digest);
	httpd_header(req, "Location", loc);
	httpd_header(req, "Docker-Content-Digest", digest);
	free(loc);
	httpd_respond(req, 201, NULL, NULL, 0);
	return true;
}

static int
uploads_begin(struct httpd_req *req, struct registry_req *rr)
{
	const char *mount = httpd_req_query(req, "mount");
	const char *from = httpd_req_query(req, "from");
	const char *digest = httpd_req_query(req, "digest");
	const char *cl = httpd_req_header(req, "Content-Length");
	const char *te = httpd_req_header(req, "Transfer-Encoding");
	bool has_body = (cl && strcmp(cl, "0") != 0) || te;

	if (mount) {
		if (!digest_is_valid(mount)) {
			registry_error(req, 400, "DIGEST_INVALID", err_last(),
			    NULL);
			return 0;
		}
		if (from && upload_mount(req, rr, mount, from))
			return 0;
		/* not mountable: the spec says start a session instead */
		digest = NULL;
		has_body = false;
	}
	if (digest && !digest_is_valid(digest)) {
		registry_error(req, 400, "DIGEST_INVALID", err_last(), NULL);
		return 0;
	}
	if (digest == NULL && has_body) {
		registry_error(req, 400, "BLOB_UPLOAD_INVALID", "a POST with "
		    "a body needs ?digest=", NULL);
		return 0;
	}
	if (upload_new(&rr->up, rr->reg, rr->name) < 0) {
		if (rr->reg->nuploads >= REGISTRY_UPLOADS_MAX)
			registry_error(req, 429, "TOOMANYREQUESTS",
			    err_last(), NULL);
		else
			registry_error(req, 500, "UNKNOWN", "cannot start an "
			    "upload", NULL);
		return 0;
	}
	if (digest == NULL) {
		/* a session: the client PATCHes and PUTs to Location */
		upload_headers(req, rr, 0);
		httpd_respond(req, 202, NULL, NULL, 0);
		return 0;
	}
	/* monolithic: the body is the blob; dropped with the request */
	rr->temp = true;
	upload_prepare(req, rr);
	return 0;
}

int
registry_upload_begin(struct httpd_req *req, struct registry_req *rr)
{
	const char *m = req->method;
	int rc;

	if (rr->route == ROUTE_UPLOADS)
		return uploads_begin(req, rr);
	if (strcmp(m, "PATCH") != 0 && strcmp(m, "PUT") != 0)
		return 0;
	if (strcmp(m, "PUT") == 0 && upload_digest_arg(req) == NULL)
		return 0;
	rc = upload_acquire(&rr->up, rr->reg, rr->ref, rr->name);
	if (rc == ERR_CONFLICT) {
		registry_error(req, 416, "BLOB_UPLOAD_INVALID", err_last(),
		    NULL);
		return 0;
	}
	if (rc < 0) {
		registry_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload "
		    "unknown to registry", NULL);
		return 0;
	}
	upload_prepare(req, rr);
	return 0;
}

/* GET of an upload: its status. */
static void
upload_status(struct httpd_req *req, struct registry_req *rr)
{
	struct registry *reg = rr->reg;
	struct registry_upload probe = { 0 };
	struct stat st;
	char *path;

	if (registry_upload_check(reg->store, rr->ref, rr->name) < 0) {
		registry_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload "
		    "unknown to registry", NULL);
		return;
	}
	path = registry_upload_data(reg->store, rr->ref);
	if (stat(path, &st) < 0)
		st.st_size = 0;
	free(path);
	snprintf(probe.uuid, sizeof(probe.uuid), "%s", rr->ref);
	rr->up = &probe;
	upload_headers(req, rr, (uint64_t)st.st_size);
	rr->up = NULL;
	httpd_respond(req, 204, NULL, NULL, 0);
}

static void
upload_cancel(struct httpd_req *req, struct registry_req *rr)
{
	struct registry_upload *u;
	int rc;

	rc = upload_acquire(&u, rr->reg, rr->ref, rr->name);
	if (rc == ERR_CONFLICT) {
		registry_error(req, 400, "BLOB_UPLOAD_INVALID", err_last(),
		    NULL);
		return;
	}
	if (rc < 0) {
		registry_error(req, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload "
		    "unknown to registry", NULL);
		return;
	}
	upload_finish(rr->reg, u);
	httpd_respond(req, 204, NULL, NULL, 0);
}

void
registry_upload_handle(struct httpd_req *req, struct registry_req *rr)
{
	const char *m = req->method;

	if (rr->route == ROUTE_UPLOAD && strcmp(m, "GET") == 0) {
		upload_status(req, rr);
		return;
	}
	if (rr->route == ROUTE_UPLOAD && strcmp(m, "DELETE") == 0) {
		upload_cancel(req, rr);
		return;
	}
	/* a body went into a session: PATCH, closing PUT, monolithic POST */
	if (rr->up == NULL || !upload_body_ok(req, rr))
		return;
	if (strcmp(m, "PATCH") == 0) {
		upload_headers(req, rr, rr->start + rr->written);
		httpd_respond(req, 202, NULL, NULL, 0);
		return;
	}
	upload_commit(req, rr, httpd_req_query(req, "digest"));
}

/* End this request's hold on its session: close the data file (dropping
 * the "in use" lock) and let the next request in.  Called as soon as the
 * answer is queued, before it reaches the client, who may send the next
 * chunk on another connection at once; and from done for a dropped
 * request. */
void
registry_upload_end(struct registry_req *rr)
{
	if (rr->fd >= 0)
		close(rr->fd);
	rr->fd = -1;
	if (rr->up == NULL)
		return;
	if (rr->temp && !rr->committed)
		upload_finish(rr->reg, rr->up);   /* nobody can resume it */
	else
		upload_release(rr->reg, rr->up);
	rr->up = NULL;
}
