/*
 * The tar writer of a slug: libarchive's restricted pax format (plain
 * ustar headers unless a name or size needs a pax record), written through
 * our own callback into the gzip stage rather than libarchive's gzip
 * filter, so that we see the uncompressed tar (for the diff_id) and choose
 * the compressor (see docs/slug.md for the numbers).
 */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/proc.h"
#include "slug_int.h"

/* The longest path we put in a slug, "app/" included. */
#define SLUG_PATH_MAX 4096

int
slug_sink_fd(void *payload, const void *data, size_t len)
{
	if (proc_write_all(*(int *)payload, data, len) < 0)
		return err_sys("cannot write the slug");
	return 0;
}

bool
slug_name_is_valid(const char *name)
{
	if (name[0] == '\0' || strchr(name, '/') != NULL)
		return false;
	return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

bool
slug_name_is_excluded(const char *name)
{
	return strcmp(name, ".git") == 0;
}

int
slug_name_cmp(const char *a, bool a_dir, const char *b, bool b_dir)
{
	const unsigned char *p = (const unsigned char *)a;
	const unsigned char *q = (const unsigned char *)b;
	unsigned c1, c2;

	while (*p && *p == *q) {
		p++;
		q++;
	}
	/* at the end of a name, a directory continues with '/' */
	c1 = *p ? *p : (a_dir ? '/' : 0);
	c2 = *q ? *q : (b_dir ? '/' : 0);
	if (c1 != c2)
		return c1 < c2 ? -1 : 1;
	return 0;
}

static la_ssize_t
slug_out_write_cb(struct archive *a, void *client, const void *buf,
    size_t len)
{
	struct slug_out *o = client;
	int rc;

	(void)a;
	if (o->discard)
		return (la_ssize_t)len;
	if (len > o->max_tar - o->tar_size) {
		o->err = err_set(ERR_TOOBIG,
		    "slug content is larger than %llu bytes uncompressed "
		    "(%d times the cap; set a larger one with --max-size)",
		    (unsigned long long)o->max_tar, SLUG_TAR_FACTOR);
		return -1;
	}
	digest_update(&o->tar_sha, buf, len);
	o->tar_size += len;
	if ((rc = slug_gz_write(&o->gz, buf, len)) < 0) {
		o->err = rc;
		return -1;
	}
	return (la_ssize_t)len;
}

/* Turn a libarchive failure into ours; our own callback's error wins. */
static int
slug_out_fail(struct slug_out *o, const char *what)
{
	const char *msg;

	if (o->err < 0)
		return o->err;
	msg = archive_error_string(o->ar);
	return err_set(ERR_IO, "cannot write %s: %s", what,
	    msg ? msg : "libarchive failed");
}

int
slug_out_open(struct slug_out *o, const struct slug_opts *opts,
    int64_t mtime, slug_sink_fn sink, void *payload)
{
	uint64_t max = opts->max_size ? opts->max_size : SLUG_MAX_SIZE_DEFAULT;
	int rc;

	memset(o, 0, sizeof(*o));
	buf_init(&o->path, SLUG_PATH_MAX);
	o->mtime = mtime;
	o->max_tar = max > UINT64_MAX / SLUG_TAR_FACTOR ? UINT64_MAX :
	    max * SLUG_TAR_FACTOR;
	/* Names must not depend on the process locale: see slug_int.h. */
	o->loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
	if (o->loc == (locale_t)0)
		return err_set(ERR_UNSUPPORTED, "the C.UTF-8 locale is not "
		    "available (glibc 2.35 or later has it built in)");
	o->old_loc = uselocale(o->loc);
	if ((rc = digest_init(&o->tar_sha, DIGEST_SHA256)) < 0)
		goto done;
	if ((rc = slug_gz_init(&o->gz, opts->gzip, opts->level, max, sink,
	    payload)) < 0)
		goto done;
	o->ar = archive_write_new();
	o->entry = archive_entry_new();
	if (o->ar == NULL || o->entry == NULL) {
		rc = err_set(ERR_IO, "cannot start libarchive");
		goto done;
	}
	/* Unblocked: libarchive hands each write straight to us, and the
	 * tar ends right after its two zero blocks. */
	if (archive_write_set_format_pax_restricted(o->ar) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(o->ar, 0) != ARCHIVE_OK ||
	    archive_write_open(o->ar, o, NULL, slug_out_write_cb, NULL) !=
	    ARCHIVE_OK) {
		rc = slug_out_fail(o, "the slug");
		goto done;
	}
	rc = 0;
done:
	if (rc < 0)
		slug_out_abort(o);
	return rc;
}

static int
slug_out_header(struct slug_out *o, const char *rel, unsigned mode,
    uint64_t size, const char *target)
{
	int r;

	if (o->file_left > 0)
		return err_set(ERR_INVALID, "slug entry '%s' started before "
		    "the previous file was complete", rel);
	buf_reset(&o->path);
	if (buf_puts(&o->path, "app/") < 0 || buf_puts(&o->path, rel) < 0 ||
	    (S_ISDIR(mode) && rel[0] && buf_putc(&o->path, '/') < 0))
		return err_set(ERR_INVALID, "path '%.200s...' is longer than "
		    "%d bytes", rel, SLUG_PATH_MAX);
	archive_entry_clear(o->entry);
	archive_entry_copy_pathname(o->entry, o->path.ptr);
	archive_entry_set_mode(o->entry, mode);
	archive_entry_set_size(o->entry, (la_int64_t)size);
	archive_entry_set_mtime(o->entry, o->mtime, 0);
	archive_entry_set_uid(o->entry, 0);
	archive_entry_set_gid(o->entry, 0);
	if (target)
		archive_entry_copy_symlink(o->entry, target);
	r = archive_write_header(o->ar, o->entry);
	/* ARCHIVE_WARN: a name that is not UTF-8 was stored as bytes with
	 * hdrcharset=BINARY; the same bytes every time, so that is fine. */
	if (r < ARCHIVE_WARN)
		return slug_out_fail(o, o->path.ptr);
	o->entries++;
	o->file_left = S_ISREG(mode) ? size : 0;
	return 0;
}

int
slug_out_dir(struct slug_out *o, const char *rel)
{
	return slug_out_header(o, rel, S_IFDIR | 0755, 0, NULL);
}

int
slug_out_symlink(struct slug_out *o, const char *rel, const char *target)
{
	if (target[0] == '\0')
		return err_set(ERR_INVALID, "symlink '%s' has an empty target",
		    rel);
	if (strlen(target) >= SLUG_PATH_MAX)
		return err_set(ERR_INVALID, "symlink '%s' has a target longer "
		    "than %d bytes", rel, SLUG_PATH_MAX - 1);
	return slug_out_header(o, rel, S_IFLNK | 0777, 0, target);
}

int
slug_out_room(struct slug_out *o, const char *rel, uint64_t size)
{
	/* the file, its header(s) and the end of the tar */
	uint64_t need = size + 4 * 512;

	if (need < size || need > o->max_tar - o->tar_size)
		return err_set(ERR_TOOBIG,
		    "slug content is larger than %llu bytes uncompressed at "
		    "'%s' (%llu bytes; the cap is %d times --max-size)",
		    (unsigned long long)o->max_tar, rel,
		    (unsigned long long)size, SLUG_TAR_FACTOR);
	return 0;
}

int
slug_out_file(struct slug_out *o, const char *rel, uint64_t size, bool exec)
{
	int rc;

	if ((rc = slug_out_room(o, rel, size)) < 0)
		return rc;
	return slug_out_header(o, rel, S_IFREG | (exec ? 0755 : 0644), size,
	    NULL);
}

int
slug_out_data(struct slug_out *o, const void *data, size_t len)
{
	const char *p = data;

	if (len > o->file_left)
		return err_set(ERR_INVALID, "more data than the size given "
		    "for '%s'", o->path.ptr);
	while (len > 0) {
		la_ssize_t n = archive_write_data(o->ar, p, len);
		if (n <= 0)
			return slug_out_fail(o, o->path.ptr);
		p += n;
		len -= (size_t)n;
		o->file_left -= (uint64_t)n;
	}
	return 0;
}

int
slug_out_finish(struct slug_out *o, struct slug_info *info)
{
	int rc;

	if (o->file_left > 0)
		return err_set(ERR_INVALID, "'%s' ended %llu bytes short",
		    o->path.ptr, (unsigned long long)o->file_left);
	if (archive_write_close(o->ar) != ARCHIVE_OK)
		return slug_out_fail(o, "the end of the slug");
	if ((rc = slug_gz_finish(&o->gz, info->digest)) < 0)
		return rc;
	digest_final(&o->tar_sha, info->diff_id);
	info->size = o->gz.size;
	info->tar_size = o->tar_size;
	info->entries = o->entries;
	info->mtime = o->mtime;
	slug_out_abort(o);
	return 0;
}

void
slug_out_abort(struct slug_out *o)
{
	if (o == NULL)
		return;
	if (o->ar) {
		/* Close even a failed archive (libarchive's free skips that
		 * once the archive is FATAL, and leaks the client state), but
		 * let no byte of a failed slug reach the sink. */
		o->discard = true;
		archive_write_close(o->ar);
		archive_write_free(o->ar);
		o->ar = NULL;
	}
	archive_entry_free(o->entry);
	o->entry = NULL;
	slug_gz_free(&o->gz);
	digest_abort(&o->tar_sha);
	buf_free(&o->path);
	if (o->loc) {
		uselocale(o->old_loc);
		freelocale(o->loc);
		o->loc = (locale_t)0;
	}
}
