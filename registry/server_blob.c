/*
 * Blobs: GET/HEAD/DELETE /v2/<name>/blobs/<digest>, with Range, sent with
 * sendfile (httpd_respond_fd) and never read into memory.  Requests under
 * blobs/uploads/ go on to server_upload.c.
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
#include "slipway/fs.h"
#include "slipway/httpd.h"
#include "slipway/log.h"
#include "registry_int.h"

/* ---- range headers ---- */

static bool
range_num(const char **p, uint64_t *out)
{
	uint64_t v = 0;

	if (**p < '0' || **p > '9')
		return false;
	while (**p >= '0' && **p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(**p - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

int
registry_range_parse(const char *h, uint64_t size, uint64_t *off,
    uint64_t *len)
{
	uint64_t a, b;
	const char *p;

	/* RFC 9110: a Range the server does not understand (other units,
	 * bad syntax, several ranges) may be ignored: send it all */
	if (h == NULL || strncmp(h, "bytes=", 6) != 0)
		return 0;
	p = h + 6;
	if (strchr(p, ','))
		return 0;
	if (*p == '-') {
		p++;
		if (!range_num(&p, &b) || *p != '\0')
			return 0;
		if (b == 0 || size == 0)
			return err_set(ERR_INVALID, "range not satisfiable");
		*len = b < size ? b : size;
		*off = size - *len;
		return 1;
	}
	if (!range_num(&p, &a) || *p++ != '-')
		return 0;
	if (*p == '\0') {
		b = UINT64_MAX;
	} else if (!range_num(&p, &b) || *p != '\0' || b < a) {
		return 0;
	}
	if (a >= size)
		return err_set(ERR_INVALID, "range not satisfiable");
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

int
registry_content_range_parse(const char *h, uint64_t *start, uint64_t *end)
{
	const char *p = h;

	if (strncmp(p, "bytes ", 6) == 0 || strncmp(p, "bytes=", 6) == 0)
		p += 6;
	if (!range_num(&p, start) || *p++ != '-' || !range_num(&p, end) ||
	    (*p != '\0' && *p != '/') || *end < *start)
		return err_set(ERR_INVALID, "Content-Range '%.60s' is not "
		    "START-END", h);
	return 0;
}

/* GET/HEAD of a blob, with Range. */
static void
blob_get(struct httpd_req *req, struct registry_req *rr)
{
	struct registry_store *s = rr->reg->store;
	uint64_t size = 0, off = 0, len;
	bool head = strcmp(req->method, "HEAD") == 0;
	char cr[96];
	int fd = -1, rc;

	if (!registry_link_has(s, rr->name, rr->ref) ||
	    registry_blob_open(s, rr->ref, &fd, &size) < 0) {
		registry_error(req, 404, "BLOB_UNKNOWN", "blob unknown to "
		    "registry", json_pack("{s:s}", "digest", rr->ref));
		return;
	}
	httpd_header(req, "Docker-Content-Digest", rr->ref);
	httpd_header(req, "Accept-Ranges", "bytes");
	if (head) {
		/* a client told "exists" may skip the upload and name the
		 * blob in a manifest: keep it young for gc */
		int lk = registry_store_lock(s, false);
		registry_blob_touch(s, rr->ref);
		registry_store_unlock(lk);
		httpd_respond_fd(req, 200, "application/octet-stream", fd, 0,
		    size);
		return;
	}
	len = size;
	rc = registry_range_parse(httpd_req_header(req, "Range"), size, &off,
	    &len);
	if (rc < 0) {
		close(fd);
		snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
		httpd_header(req, "Content-Range", cr);
		registry_error(req, 416, "SIZE_INVALID", "range not "
		    "satisfiable", json_pack("{s:I}", "size",
		    (json_int_t)size));
		return;
	}
	if (rc == 1) {
		snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%"
		    PRIu64, off, off + len - 1, size);
		httpd_header(req, "Content-Range", cr);
	}
	httpd_respond_fd(req, rc == 1 ? 206 : 200, "application/octet-stream",
	    fd, off, len);
}

int
registry_blob_begin(struct httpd_req *req, struct registry_req *rr)
{
	int rc = 0;

	if (rr->route != ROUTE_BLOB)
		rc = registry_upload_begin(req, rr);
	if (httpd_req_answered(req))
		registry_upload_end(rr);
	return rc;
}

void
registry_blob_handle(struct httpd_req *req, struct registry_req *rr)
{
	if (rr->route != ROUTE_BLOB) {
		registry_upload_handle(req, rr);
	} else if (strcmp(req->method, "DELETE") != 0) {
		blob_get(req, rr);
	} else if (registry_link_remove(rr->reg->store, rr->name,
	    rr->ref) < 0) {
		registry_error(req, 404, "BLOB_UNKNOWN", "blob unknown to "
		    "registry", json_pack("{s:s}", "digest", rr->ref));
	} else {
		httpd_respond(req, 202, NULL, NULL, 0);
	}
	/* let the session go before the answer reaches the client */
	registry_upload_end(rr);
}

void
registry_blob_done(struct registry_req *rr, bool completed)
{
	registry_upload_end(rr);
	if (rr->trash) {
		if (fs_remove_tree(rr->trash) < 0)
			log_warnx("registry: %s", err_last());
		free(rr->trash);
		rr->trash = NULL;
	}
}
