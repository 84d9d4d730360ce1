/*
 * Reading blobs in pieces, so that memory stays flat whatever a pushed
 * file's size (a 1 GB sparse file is a 1 MB push).
 *
 * libgit2 streams loose objects (git_odb_open_rstream) but not packed
 * ones: git_odb_read inflates a packed object whole.  git itself streams
 * both (cat-file's stream_blob_to_fd), so a large packed blob is read
 * from `git cat-file blob` instead.  receive-pack keeps a push of 100
 * objects or more as a pack, so this is the common case for big apps.
 * git inherits our environment: in pre-receive that names git's
 * quarantine (GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES),
 * where the pushed objects still are.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

#include <git2.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/proc.h"
#include "slipway/slug.h"

static int
slug_blob_git_err(int code, const char *what, const char *path)
{
	const git_error *ge = git_error_last();

	return err_set(code, "cannot %s '%s': %s", what, path,
	    ge && ge->message ? ge->message : "libgit2 failed");
}

int
slug_blob_size(uint64_t *out, git_odb *odb, const git_oid *id,
    const char *path)
{
	git_object_t type;
	size_t size;

	if (git_odb_read_header(&size, &type, odb, id) < 0)
		return slug_blob_git_err(ERR_NOTFOUND, "read", path);
	if (type != GIT_OBJECT_BLOB)
		return err_set(ERR_INVALID, "'%s' is a %s in the tree, not a "
		    "blob", path, git_object_type2string(type));
	*out = (uint64_t)size;
	return 0;
}

/* Count what a source gave against the size the header promised. */
static int
slug_blob_give(uint64_t *left, const char *path, const void *data,
    size_t len, slug_sink_fn fn, void *payload)
{
	if (len > *left)
		return err_set(ERR_INVALID, "'%s' holds more than its object "
		    "header says", path);
	*left -= len;
	return len ? fn(payload, data, len) : 0;
}

static int
slug_blob_from_git(git_repository *repo, const git_oid *id, uint64_t size,
    const char *path, unsigned char *chunk, slug_sink_fn fn, void *payload)
{
	char hex[GIT_OID_HEXSZ + 1];
	/* git streams a packed blob only over core.bigFileThreshold (512 MiB
	 * by default) and reads a smaller one whole: ours are over 1 MiB. */
	char *argv[] = { "git", "-c", "core.bigFileThreshold=1m", "--git-dir",
	    (char *)git_repository_path(repo), "cat-file", "blob", hex, NULL };
	struct proc_opts po = { .flags = PROC_PIPE_OUT | PROC_NULL_IN };
	struct proc p;
	uint64_t left = size;
	int rc = 0, st;

	git_oid_tostr(hex, sizeof(hex), id);
	if ((rc = proc_spawn(&p, argv, &po)) < 0)
		return err_wrap(rc, "cannot read '%s'", path);
	while (rc == 0) {
		ssize_t n = read(p.out, chunk, SLUG_BLOB_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = err_sys("cannot read '%s' from git", path);
		else if (n == 0)
			break;
		else
			rc = slug_blob_give(&left, path, chunk, (size_t)n, fn,
			    payload);
	}
	/* a sink that failed stops git too: the pipe closes first */
	close(p.out);
	p.out = -1;
	st = proc_wait(&p);
	if (rc == 0 && st != 0)
		rc = err_set(ERR_IO, "cannot read '%s': git cat-file exited "
		    "with status %d", path, st);
	if (rc == 0 && left > 0)
		rc = err_set(ERR_INVALID, "'%s' ended %" PRIu64 " bytes short",
		    path, left);
	return rc;
}

int
slug_blob_stream(git_repository *repo, git_odb *odb, const git_oid *id,
    uint64_t size, const char *path, slug_sink_fn fn, void *payload)
{
	git_odb_object *obj = NULL;
	git_odb_stream *st = NULL;
	git_object_t type;
	unsigned char *chunk = NULL;
	uint64_t left = size;
	size_t len;
	int rc = 0;

	if (size <= SLUG_BLOB_CHUNK) {
		if (git_odb_read(&obj, odb, id) < 0)
			return slug_blob_git_err(ERR_NOTFOUND, "read", path);
		if (git_odb_object_size(obj) != size)
			rc = err_set(ERR_INVALID, "'%s' changed size while it "
			    "was read", path);
		else
			rc = slug_blob_give(&left, path,
			    git_odb_object_data(obj), size, fn, payload);
		git_odb_object_free(obj);
		return rc;
	}
	chunk = xmalloc(SLUG_BLOB_CHUNK);
	if (git_odb_open_rstream(&st, &len, &type, odb, id) < 0) {
		/* not loose: packed, which libgit2 cannot stream */
		rc = slug_blob_from_git(repo, id, size, path, chunk, fn,
		    payload);
		goto done;
	}
	if (type != GIT_OBJECT_BLOB || (uint64_t)len != size) {
		rc = err_set(ERR_INVALID, "'%s' changed while it was read",
		    path);
		goto done;
	}
	while (rc == 0 && left > 0) {
		int n = git_odb_stream_read(st, (char *)chunk,
		    SLUG_BLOB_CHUNK);
		if (n < 0)
			rc = slug_blob_git_err(ERR_IO, "read", path);
		else if (n == 0)
			rc = err_set(ERR_INVALID, "'%s' ended %" PRIu64 " bytes "
			    "short", path, left);
		else
			rc = slug_blob_give(&left, path, chunk, (size_t)n, fn,
			    payload);
	}
done:
	git_odb_stream_free(st);
	free(chunk);
	return rc;
}
