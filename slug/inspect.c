/*
 * Reading a slug back: one pass over the file computes the digest of the
 * gzip bytes, inflates them (every gzip member, as our libdeflate slugs
 * have many), computes the diff_id of the tar, and hands the tar to
 * libarchive, which lists the entries.  A slug is untrusted input here:
 * sizes are capped, entries checked, nothing is extracted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/slug.h"
#include "slug_int.h"

#define SLUG_READ_BUF ((size_t)256 << 10)

/* Invariant: size counts the file bytes read and hashed into gz_sha,
 * tar_size the inflated bytes hashed into tar_sha. */
struct slug_reader {
	const char *path;
	int fd;
	z_stream z;
	bool z_live;
	bool eof;               /* no more file bytes */
	bool done;              /* the last gzip member ended at EOF */
	unsigned char *in, *out;
	struct digest_ctx gz_sha, tar_sha;
	uint64_t size, tar_size, max_tar;
	int err;                /* our error, when a callback failed */
};

static int
slug_reader_fill(struct slug_reader *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->in, SLUG_READ_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_sys("cannot read '%s'", r->path);
	if (n == 0) {
		r->eof = true;
	} else {
		digest_update(&r->gz_sha, r->in, (size_t)n);
		r->size += (uint64_t)n;
	}
	r->z.next_in = r->in;
	r->z.avail_in = (uInt)n;
	return 0;
}

/* Inflate up to SLUG_READ_BUF bytes into r->out; 0 bytes at the end. */
static int
slug_reader_inflate(struct slug_reader *r, size_t *got)
{
	int zr, rc;

	*got = 0;
	while (*got == 0 && !r->done) {
		if (r->z.avail_in == 0 && !r->eof &&
		    (rc = slug_reader_fill(r)) < 0)
			return rc;
		if (r->z.avail_in == 0 && r->eof) {
			/* the file ended inside a member */
			return err_set(ERR_INVALID, "'%s' is truncated",
			    r->path);
		}
		r->z.next_out = r->out;
		r->z.avail_out = (uInt)SLUG_READ_BUF;
		zr = inflate(&r->z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return err_set(ERR_INVALID, "'%s' is not a valid gzip "
			    "file: %s", r->path, r->z.msg ? r->z.msg :
			    "inflate failed");
		*got = SLUG_READ_BUF - r->z.avail_out;
		if (zr == Z_STREAM_END) {
			/* another member may follow (RFC 1952 2.2) */
			if (r->z.avail_in == 0 && !r->eof &&
			    (rc = slug_reader_fill(r)) < 0)
				return rc;
			if (r->z.avail_in == 0 && r->eof)
				r->done = true;
			else
				inflateReset(&r->z);
		}
	}
	if (*got > r->max_tar - r->tar_size)
		return err_set(ERR_TOOBIG, "'%s' holds more than %llu bytes "
		    "of tar", r->path, (unsigned long long)r->max_tar);
	digest_update(&r->tar_sha, r->out, *got);
	r->tar_size += *got;
	return 0;
}

static la_ssize_t
slug_reader_cb(struct archive *a, void *client, const void **buf)
{
	struct slug_reader *r = client;
	size_t got;
	int rc;

	(void)a;
	if ((rc = slug_reader_inflate(r, &got)) < 0) {
		r->err = rc;
		return -1;
	}
	*buf = r->out;
	return (la_ssize_t)got;
}

static int
slug_inspect_fail(struct slug_reader *r, struct archive *ar)
{
	const char *msg;

	if (r->err < 0)
		return r->err;
	msg = archive_error_string(ar);
	return err_set(ERR_INVALID, "'%s' is not a valid slug: %s", r->path,
	    msg ? msg : "not a tar archive");
}

/* Keep app/Procfile's processes, or why they do not parse (a later
 * Procfile entry replaces an earlier one, as extraction would). */
static int
slug_inspect_procfile(struct slug_inspection *si, struct slug_reader *r,
    struct archive *ar, uint64_t size)
{
	char chunk[16384];
	struct buf b;
	la_ssize_t n;
	int rc = 0;

	si->has_procfile = true;
	slug_procfile_free(si->procfile);
	si->procfile = NULL;
	free(si->procfile_error);
	si->procfile_error = NULL;
	if (size > SLUG_SMALL_FILE_MAX) {
		si->procfile_error = xasprintf("Procfile is larger than %d "
		    "bytes", SLUG_SMALL_FILE_MAX);
		return 0;
	}
	buf_init(&b, SLUG_SMALL_FILE_MAX);
	while ((n = archive_read_data(ar, chunk, sizeof(chunk))) > 0)
		if ((rc = buf_put(&b, chunk, (size_t)n)) < 0)
			goto done;
	if (n < 0) {
		rc = slug_inspect_fail(r, ar);
		goto done;
	}
	if (slug_procfile_parse(&si->procfile, b.ptr ? b.ptr : "", b.len) < 0)
		si->procfile_error = xstrdup(err_last());
done:
	buf_free(&b);
	return rc;
}

/* Check one entry and add it; reads app/Procfile's content. */
static int
slug_inspect_entry(struct slug_inspection *si, struct slug_reader *r,
    struct archive *ar, struct archive_entry *e)
{
	const char *path = archive_entry_pathname(e);
	mode_t type = archive_entry_filetype(e);
	struct slug_entry *ent;
	char *rel = NULL;
	size_t n;
	int rc = 0;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%s' has an entry without a "
		    "usable name", r->path);
	if (strncmp(path, "app/", 4) != 0)
		return err_set(ERR_INVALID, "'%s' has an entry outside app/: "
		    "'%s'", r->path, path);
	rel = xstrdup(path + 4);
	n = strlen(rel);
	if (type == AE_IFDIR && n > 0 && rel[n - 1] == '/')
		rel[--n] = '\0';
	if (n > 0 && !fs_path_is_safe(rel))
		rc = err_set(ERR_INVALID, "'%s' has an unsafe entry '%s'",
		    r->path, path);
	else if (n == 0 && type != AE_IFDIR)
		rc = err_set(ERR_INVALID, "'%s' has an entry 'app/' that is "
		    "not a directory", r->path);
	else if (archive_entry_hardlink(e) != NULL)
		rc = err_set(ERR_INVALID, "'%s' has a hard link '%s'; slugs "
		    "have none", r->path, path);
	else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
		rc = err_set(ERR_INVALID, "'%s' has an entry '%s' that is not "
		    "a file, directory or symlink", r->path, path);
	else if (si->n_entries == SLUG_INSPECT_MAX_ENTRIES)
		rc = err_set(ERR_TOOBIG, "'%s' has more than %d entries",
		    r->path, SLUG_INSPECT_MAX_ENTRIES);
	if (rc < 0)
		goto done;
	if ((si->n_entries & (si->n_entries - 1)) == 0)
		si->entries = xrealloc(si->entries, (si->n_entries ?
		    2 * si->n_entries : 1) * sizeof(*si->entries));
	ent = &si->entries[si->n_entries++];
	memset(ent, 0, sizeof(*ent));
	ent->path = xstrdup(path);
	ent->type = type == AE_IFDIR ? SLUG_ENTRY_DIR :
	    type == AE_IFLNK ? SLUG_ENTRY_SYMLINK : SLUG_ENTRY_FILE;
	ent->mode = archive_entry_perm(e);
	ent->size = type == AE_IFREG ? (uint64_t)archive_entry_size(e) : 0;
	ent->mtime = (int64_t)archive_entry_mtime(e);
	if (type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);
		if (target == NULL || target[0] == '\0' ||
		    strlen(target) >= PATH_MAX) {
			rc = err_set(ERR_INVALID, "'%s' has a symlink '%s' with "
			    "an empty or over-long target", r->path, path);
			goto done;
		}
		ent->link = xstrdup(target);
	}
	if (type == AE_IFREG && strcmp(rel, "Procfile") == 0)
		rc = slug_inspect_procfile(si, r, ar, ent->size);
done:
	free(rel);
	return rc;
}

int
slug_inspect_file(struct slug_inspection **out, const char *path,
    uint64_t max_tar_size)
{
	struct slug_inspection *si = xcalloc(1, sizeof(*si));
	struct slug_reader r;
	struct archive *ar = NULL;
	struct archive_entry *e;
	locale_t loc, old_loc = (locale_t)0;
	int rc = 0, ar_rc;

	memset(&r, 0, sizeof(r));
	r.fd = -1;
	r.path = path;
	r.max_tar = max_tar_size ? max_tar_size :
	    SLUG_MAX_SIZE_DEFAULT * SLUG_TAR_FACTOR;
	/* names read back the same whatever the process locale */
	loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
	if (loc == (locale_t)0) {
		slug_inspection_free(si);
		return err_set(ERR_UNSUPPORTED, "the C.UTF-8 locale is not "
		    "available");
	}
	old_loc = uselocale(loc);
	if ((r.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = err_sys("cannot open '%s'", path);
		goto done;
	}
	if ((rc = digest_init(&r.gz_sha, DIGEST_SHA256)) < 0 ||
	    (rc = digest_init(&r.tar_sha, DIGEST_SHA256)) < 0)
		goto done;
	r.in = xmalloc(SLUG_READ_BUF);
	r.out = xmalloc(SLUG_READ_BUF);
	if (inflateInit2(&r.z, 16 + 15) != Z_OK) {
		rc = err_set(ERR_IO, "cannot start zlib");
		goto done;
	}
	r.z_live = true;
	if ((rc = slug_reader_fill(&r)) < 0)
		goto done;
	if (r.z.avail_in < 2 || r.in[0] != 0x1f || r.in[1] != 0x8b) {
		rc = err_set(ERR_INVALID, "'%s' is not a slug: it is not "
		    "gzip'd", path);
		goto done;
	}
	if ((ar = archive_read_new()) == NULL) {
		rc = err_set(ERR_IO, "cannot start libarchive");
		goto done;
	}
	archive_read_support_format_tar(ar);
	if (archive_read_open(ar, &r, NULL, slug_reader_cb, NULL) !=
	    ARCHIVE_OK) {
		rc = slug_inspect_fail(&r, ar);
		goto done;
	}
	while ((ar_rc = archive_read_next_header(ar, &e)) != ARCHIVE_EOF) {
		if (ar_rc < ARCHIVE_WARN) {
			rc = slug_inspect_fail(&r, ar);
			goto done;
		}
		if ((rc = slug_inspect_entry(si, &r, ar, e)) < 0)
			goto done;
	}
	if (si->n_entries == 0) {
		rc = err_set(ERR_INVALID, "'%s' is not a slug: it has no "
		    "entries", path);
		goto done;
	}
	/* what follows the tar's end still counts for both digests */
	while (!r.done) {
		size_t got;
		if ((rc = slug_reader_inflate(&r, &got)) < 0)
			goto done;
	}
	digest_final(&r.gz_sha, si->digest);
	digest_final(&r.tar_sha, si->diff_id);
	si->size = r.size;
	si->tar_size = r.tar_size;
done:
	if (ar)
		archive_read_free(ar);
	if (r.z_live)
		inflateEnd(&r.z);
	digest_abort(&r.gz_sha);
	digest_abort(&r.tar_sha);
	free(r.in);
	free(r.out);
	if (r.fd >= 0)
		close(r.fd);
	uselocale(old_loc);
	freelocale(loc);
	if (rc < 0) {
		slug_inspection_free(si);
		return rc;
	}
	*out = si;
	return 0;
}

void
slug_inspection_free(struct slug_inspection *si)
{
	if (si == NULL)
		return;
	for (size_t i = 0; i < si->n_entries; i++) {
		free(si->entries[i].path);
		free(si->entries[i].link);
	}
	free(si->entries);
	slug_procfile_free(si->procfile);
	free(si->procfile_error);
	free(si);
}
