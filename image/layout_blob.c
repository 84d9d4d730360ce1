/*
 * Blobs of an image layout: blobs/<alg>/<hex>, content-addressed.  A blob
 * is only ever created by renaming a complete, fsync'd, verified temp file
 * into place (or by hard-linking a verified blob of another layout), so a
 * reader sees a whole blob or none.  Reads check size and digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"
#include "slipway/proc.h"

#include "image_int.h"

#define BLOB_IO_CHUNK (128 << 10)

/* Invariant: fd >= 0 and tmp set until commit or free; size counts the
 * bytes written, never more than limit. */
struct image_blob_writer {
	struct image_layout *l;
	char *tmp;
	int fd;
	struct digest_ctx ctx;
	int64_t size;
	int64_t limit;
};

char *
image_layout_blob_path(const struct image_layout *l, const char *digest)
{
	const char *colon = strchr(digest, ':');

	/* Callers pass parsed digests only; the assertion keeps a bug from
	 * becoming a path outside the layout. */
	if (colon == NULL || !digest_is_valid(digest))
		abort();
	return xasprintf("%s/blobs/%.*s/%s", l->path, (int)(colon - digest),
	    digest, colon + 1);
}

/* Open a blob that must be a regular file (not a symlink out of the
 * layout) of exactly d->size bytes. */
int
image_layout_blob_open(const struct image_layout *l,
    const struct image_desc *d)
{
	char *path = image_layout_blob_path(l, d->digest);
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = errno == ELOOP ?
		    err_set(ERR_INVALID, "blob '%s' is a symlink", path) :
		    errno == ENOENT ?
		    err_set(ERR_NOTFOUND, "blob %s is missing from '%s'",
		    d->digest, l->path) :
		    err_sys("cannot open '%s'", path);
		free(path);
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = err_sys("cannot stat '%s'", path);
	} else if (!S_ISREG(st.st_mode)) {
		rc = err_set(ERR_INVALID, "blob '%s' is not a regular file",
		    path);
	} else if ((int64_t)st.st_size != d->size) {
		rc = err_set(ERR_INVALID, "blob %s has %lld bytes, its "
		    "descriptor says %lld", d->digest, (long long)st.st_size,
		    (long long)d->size);
	} else {
		free(path);
		return fd;
	}
	close(fd);
	free(path);
	return rc;
}

int
image_layout_blob_stat(const struct image_layout *l,
    const struct image_desc *d)
{
	int fd = image_layout_blob_open(l, d);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* Hash fd to its end with d's algorithm and compare. */
static int
blob_check_fd(int fd, const struct image_desc *d, struct buf *keep)
{
	char got[DIGEST_STR_MAX];
	struct digest_ctx ctx;
	enum digest_algo algo;
	const char *hex;
	char *chunk;
	ssize_t n;
	int rc;

	if ((rc = digest_parse(d->digest, &algo, &hex)) < 0 ||
	    (rc = digest_init(&ctx, algo)) < 0)
		return rc;
	chunk = xmalloc(BLOB_IO_CHUNK);
	while ((n = read(fd, chunk, BLOB_IO_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_sys("cannot read blob %s", d->digest);
			break;
		}
		digest_update(&ctx, chunk, (size_t)n);
		if (keep && (rc = buf_put(keep, chunk, (size_t)n)) < 0)
			break;
	}
	free(chunk);
	if (rc < 0) {
		digest_abort(&ctx);
		return rc;
	}
	digest_final(&ctx, got);
	if (strcmp(got, d->digest) != 0)
		return err_set(ERR_INVALID, "blob %s is corrupt: its content "
		    "hashes to %s", d->digest, got);
	return 0;
}

int
image_layout_blob_verify(const struct image_layout *l,
    const struct image_desc *d)
{
	int fd, rc;

	if ((fd = image_layout_blob_open(l, d)) < 0)
		return fd;
	rc = blob_check_fd(fd, d, NULL);
	close(fd);
	return rc;
}

int
image_layout_blob_read(struct buf *out, const struct image_layout *l,
    const struct image_desc *d, size_t max)
{
	struct buf b;
	int fd, rc;

	if (d->size < 0 || (uint64_t)d->size > max)
		return err_set(ERR_TOOBIG, "blob %s of %lld bytes is over the "
		    "%zu byte cap", d->digest, (long long)d->size, max);
	if ((fd = image_layout_blob_open(l, d)) < 0)
		return fd;
	buf_init(&b, max);
	rc = blob_check_fd(fd, d, &b);
	close(fd);
	if (rc < 0) {
		buf_free(&b);
		return rc;
	}
	if (b.ptr == NULL)
		buf_put(&b, "", 0);
	*out = b;
	return 0;
}

int
image_blob_writer_open(struct image_blob_writer **out,
    struct image_layout *l)
{
	struct image_blob_writer *w = xcalloc(1, sizeof(*w));
	char *base = fs_join(l->path, ".blob");
	int rc;

	w->l = l;
	w->limit = IMAGE_BLOB_SIZE_MAX;
	w->fd = fs_tmp_open(&w->tmp, base, 0644);
	free(base);
	if (w->fd < 0) {
		rc = w->fd;
		free(w);
		return rc;
	}
	if ((rc = digest_init(&w->ctx, DIGEST_SHA256)) < 0) {
		fs_tmp_abort(w->fd, w->tmp);
		free(w->tmp);
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void
image_blob_writer_set_limit(struct image_blob_writer *w, int64_t max)
{
	w->limit = max;
}

int64_t
image_blob_writer_size(const struct image_blob_writer *w)
{
	return w->size;
}

int
image_blob_writer_write(struct image_blob_writer *w, const void *data,
    size_t n)
{
	int rc;

	if ((int64_t)n > w->limit - w->size)
		return err_set(ERR_TOOBIG, "blob is larger than the %lld bytes "
		    "expected", (long long)w->limit);
	if ((rc = proc_write_all(w->fd, data, n)) < 0)
		return err_wrap(rc, "blob temp file '%s'", w->tmp);
	digest_update(&w->ctx, data, n);
	w->size += (int64_t)n;
	return 0;
}

int
image_blob_writer_reset(struct image_blob_writer *w)
{
	int rc;

	digest_abort(&w->ctx);
	if (ftruncate(w->fd, 0) < 0 || lseek(w->fd, 0, SEEK_SET) < 0)
		return err_sys("cannot truncate '%s'", w->tmp);
	w->size = 0;
	if ((rc = digest_init(&w->ctx, DIGEST_SHA256)) < 0)
		return rc;
	return 0;
}

int
image_blob_writer_commit(struct image_blob_writer *w, const char *want_digest,
    int64_t want_size, char out_digest[DIGEST_STR_MAX])
{
	char got[DIGEST_STR_MAX], *path = NULL, *dir = NULL;
	struct image_desc d = { 0 };
	int rc;

	digest_final(&w->ctx, got);
	if (want_size >= 0 && want_size != w->size) {
		rc = err_set(ERR_INVALID, "blob has %lld bytes, expected %lld",
		    (long long)w->size, (long long)want_size);
		goto fail;
	}
	if (want_digest && strncmp(want_digest, "sha256:", 7) != 0) {
		/* Another algorithm: hash the temp file again with it. */
		if (lseek(w->fd, 0, SEEK_SET) < 0) {
			rc = err_sys("cannot rewind '%s'", w->tmp);
			goto fail;
		}
		snprintf(d.digest, sizeof(d.digest), "%s", want_digest);
		if ((rc = blob_check_fd(w->fd, &d, NULL)) < 0)
			goto fail;
		snprintf(got, sizeof(got), "%s", want_digest);
	} else if (want_digest && strcmp(want_digest, got) != 0) {
		rc = err_set(ERR_INVALID, "digest mismatch: expected %s, got %s",
		    want_digest, got);
		goto fail;
	}
	path = image_layout_blob_path(w->l, got);
	dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
	if ((rc = fs_mkdir_p(dir, 0755)) < 0)
		goto fail;
	rc = fs_tmp_commit(w->fd, w->tmp, path);
	w->fd = -1;
	free(w->tmp);
	w->tmp = NULL;
	if (rc < 0)
		goto done;
	if (out_digest)
		snprintf(out_digest, DIGEST_STR_MAX, "%s", got);
	goto done;
fail:
	fs_tmp_abort(w->fd, w->tmp);
	w->fd = -1;
	free(w->tmp);
	w->tmp = NULL;
done:
	free(path);
	free(dir);
	return rc;
}

void
image_blob_writer_free(struct image_blob_writer *w)
{
	if (w == NULL)
		return;
	if (w->tmp) {
		digest_abort(&w->ctx);
		fs_tmp_abort(w->fd, w->tmp);
		free(w->tmp);
	}
	free(w);
}

int
image_layout_blob_put(struct image_desc *out, struct image_layout *l,
    const char *media_type, const void *data, size_t len)
{
	struct image_blob_writer *w;
	char digest[DIGEST_STR_MAX];
	int rc;

	if ((rc = image_blob_writer_open(&w, l)) < 0)
		return rc;
	if ((rc = image_blob_writer_write(w, data, len)) < 0 ||
	    (rc = image_blob_writer_commit(w, NULL, (int64_t)len,
	    digest)) < 0) {
		image_blob_writer_free(w);
		return rc;
	}
	image_blob_writer_free(w);
	memset(out, 0, sizeof(*out));
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	out->size = (int64_t)len;
	out->media_type = xstrdup(media_type);
	return 0;
}

/* Copy src blob into dst through a writer, verifying on commit. */
static int
blob_copy_bytes(struct image_layout *dst, const struct image_layout *src,
    const struct image_desc *d)
{
	struct image_blob_writer *w = NULL;
	char *chunk = NULL;
	ssize_t n;
	int fd, rc;

	if ((fd = image_layout_blob_open(src, d)) < 0)
		return fd;
	if ((rc = image_blob_writer_open(&w, dst)) < 0)
		goto done;
	image_blob_writer_set_limit(w, d->size);
	chunk = xmalloc(BLOB_IO_CHUNK);
	while ((n = read(fd, chunk, BLOB_IO_CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_sys("cannot read blob %s", d->digest);
			goto done;
		}
		if ((rc = image_blob_writer_write(w, chunk, (size_t)n)) < 0)
			goto done;
	}
	rc = image_blob_writer_commit(w, d->digest, d->size, NULL);
done:
	free(chunk);
	image_blob_writer_free(w);
	close(fd);
	return rc;
}

int
image_layout_blob_copy(struct image_layout *dst,
    const struct image_layout *src, const struct image_desc *d)
{
	char *from = NULL, *to = NULL, *dir = NULL;
	int rc;

	if (image_layout_blob_stat(dst, d) == 0)
		return 0;
	if ((rc = image_layout_blob_verify(src, d)) < 0)
		return rc;
	from = image_layout_blob_path(src, d->digest);
	to = image_layout_blob_path(dst, d->digest);
	dir = xstrndup(to, (size_t)(strrchr(to, '/') - to));
	if ((rc = fs_mkdir_p(dir, 0755)) < 0)
		goto done;
	/* A link makes the whole blob appear at once, as a rename would;
	 * across file systems, copy. */
	if (link(from, to) == 0)
		rc = fs_fsync_parent(to);
	else    /* EXDEV, or a corrupt file in the way: a verified copy
		 * renamed over it */
		rc = blob_copy_bytes(dst, src, d);
done:
	free(from);
	free(to);
	free(dir);
	return rc;
}
