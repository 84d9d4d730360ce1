/*
 * `slipway restore FILE`: a backup put back onto an absent or empty
 * SLIPWAY_HOME.  Nothing is trusted before it is checked:
 *   - the first entry must be the manifest (capped), whose every entry
 *     has a safe path under a directory listed before it, and a known
 *     type (backup_manifest_parse);
 *   - each archive entry must be the next manifest entry, same path,
 *     type and size, and a file's bytes must hash to its sha256;
 *   - the trailer must be the manifest's sha256, and nothing may follow.
 * It is all written into a fresh directory beside the home, with no
 * entry ever written through a symlink (none has one as its parent) and
 * nothing but files, directories and symlinks made; only when the last
 * check passed is that directory renamed to the home.  On any failure
 * it is removed: the home stays absent or empty.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "backup_int.h"

#define RESTORE_IO_BUF (256 * 1024)
#define RESTORE_TRAILER_MAX 128

struct restore {
	struct archive *a;
	const char *file;
	char *tmp;               /* the directory beside the home */
	struct backup_list list;
	struct backup_progress *progress;
};

/* A read that failed: the file is cut short or damaged. */
static int
restore_archive_error(struct restore *r, const char *what)
{
	const char *why = archive_error_string(r->a);

	return err_set(ERR_INVALID, "'%s' is truncated or corrupt (%s: %s): "
	    "nothing was restored", r->file, what, why ? why : "unexpected "
	    "end of data");
}

/* A backup that reads but is not what it says. */
static int
restore_invalid(struct restore *r)
{
	return err_wrap(ERR_INVALID, "'%s' is not a valid backup; nothing "
	    "was restored", r->file);
}

static int
restore_next(struct restore *r, struct archive_entry **ae, const char *want)
{
	int s = archive_read_next_header(r->a, ae);

	if (s == ARCHIVE_EOF) {
		err_set(ERR_INVALID, "it ends before %s", want);
		return restore_invalid(r);
	}
	if (s != ARCHIVE_OK)
		return restore_archive_error(r, want);
	return 0;
}

/* A small entry (manifest, trailer) into out, at most max bytes. */
static int
restore_read_small(struct restore *r, struct archive_entry *ae,
    const char *name, size_t max, struct buf *out)
{
	char chunk[8192];
	la_ssize_t n;

	if (strcmp(archive_entry_pathname(ae), name) != 0 ||
	    archive_entry_filetype(ae) != AE_IFREG) {
		err_set(ERR_INVALID, "'%s' is not where it belongs", name);
		return restore_invalid(r);
	}
	if (archive_entry_size(ae) < 0 ||
	    (uint64_t)archive_entry_size(ae) > max) {
		err_set(ERR_TOOBIG, "'%s' is larger than %zu bytes", name, max);
		return restore_invalid(r);
	}
	buf_init(out, max);
	while ((n = archive_read_data(r->a, chunk, sizeof(chunk))) > 0)
		if (buf_put(out, chunk, (size_t)n) < 0)
			return restore_invalid(r);
	if (n < 0)
		return restore_archive_error(r, name);
	if (out->len != (size_t)archive_entry_size(ae)) {
		err_set(ERR_INVALID, "'%s' has %zu bytes, its header says %lld",
		    name, out->len, (long long)archive_entry_size(ae));
		return restore_invalid(r);
	}
	return 0;
}

static int
restore_file(struct restore *r, const struct backup_entry *e,
    const char *path)
{
	char *buf = xmalloc(RESTORE_IO_BUF), d[DIGEST_STR_MAX];
	struct digest_ctx ctx;
	uint64_t n = 0;
	la_ssize_t got;
	int fd, rc = 0;

	/* Fresh directory, no symlink on the way: O_EXCL and O_NOFOLLOW
	 * say so again. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0) {
		free(buf);
		return err_sys("cannot create '%s'", path);
	}
	digest_init(&ctx, DIGEST_SHA256);
	while ((got = archive_read_data(r->a, buf, RESTORE_IO_BUF)) > 0) {
		digest_update(&ctx, buf, (size_t)got);
		n += (uint64_t)got;
		if (n > e->size)
			break;
		for (la_ssize_t off = 0; off < got; ) {
			ssize_t w = write(fd, buf + off, (size_t)(got - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = err_sys("cannot write '%s'", path);
				goto done;
			}
			off += w;
		}
		backup_progress_tick(r->progress, (uint64_t)got, false);
	}
	if (got < 0) {
		rc = restore_archive_error(r, e->path);
		goto done;
	}
	digest_final(&ctx, d);
	ctx.md = NULL;
	if (n != e->size || strcmp(d + strlen("sha256:"), e->sha256) != 0) {
		err_set(ERR_INVALID, "'%s' does not match the manifest (its "
		    "size or sha256)", e->path);
		rc = restore_invalid(r);
	}
done:
	digest_abort(&ctx);
	close(fd);
	free(buf);
	return rc;
}

/* The header names e: tar writers end a directory's name with '/'. */
static bool
restore_name_is(const char *name, const struct backup_entry *e)
{
	size_t n = strlen(e->path);

	if (name == NULL || strncmp(name, e->path, n) != 0)
		return false;
	return name[n] == '\0' || (e->type == BACKUP_DIR &&
	    strcmp(name + n, "/") == 0);
}

/* Entry e from the archive's next header, into r->tmp. */
static int
restore_entry(struct restore *r, const struct backup_entry *e)
{
	struct archive_entry *ae;
	mode_t type;
	char *path = NULL;
	int rc;

	if ((rc = restore_next(r, &ae, e->path)) < 0)
		return rc;
	type = archive_entry_filetype(ae);
	if (!restore_name_is(archive_entry_pathname(ae), e) ||
	    type != (e->type == BACKUP_DIR ? AE_IFDIR : e->type == BACKUP_FILE ?
	    AE_IFREG : AE_IFLNK) ||
	    (e->type == BACKUP_FILE && archive_entry_size(ae) !=
	    (int64_t)e->size) ||
	    (e->type == BACKUP_SYMLINK && (archive_entry_symlink(ae) == NULL ||
	    strcmp(archive_entry_symlink(ae), e->target) != 0)) ||
	    archive_entry_hardlink(ae) != NULL) {
		err_set(ERR_INVALID, "entry '%.200s' is not the manifest's "
		    "'%.200s'", archive_entry_pathname(ae) ?
		    archive_entry_pathname(ae) : "", e->path);
		return restore_invalid(r);
	}
	path = fs_join(r->tmp, e->path);
	if (e->type == BACKUP_DIR) {
		/* Its mode at the end: a read-only one would stop the
		 * entries under it. */
		if (mkdir(path, 0700) < 0)
			rc = err_sys("cannot make '%s'", path);
	} else if (e->type == BACKUP_SYMLINK) {
		if (symlink(e->target, path) < 0)
			rc = err_sys("cannot make '%s'", path);
	} else {
		rc = restore_file(r, e, path);
	}
	backup_progress_tick(r->progress, 0, true);
	free(path);
	return rc;
}

/* Modes, children before parents (a directory closed last). */
static int
restore_modes(struct restore *r)
{
	for (size_t i = r->list.n; i-- > 0; ) {
		const struct backup_entry *e = &r->list.v[i];
		char *path;
		int rc = 0;

		if (e->type == BACKUP_SYMLINK)
			continue;
		path = fs_join(r->tmp, e->path);
		if (chmod(path, e->mode) < 0)
			rc = err_sys("cannot set the mode of '%s'", path);
		free(path);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The whole archive into r->tmp, checked. */
static int
restore_read(struct restore *r)
{
	struct archive_entry *ae;
	struct buf manifest = { 0 }, trailer = { 0 };
	int rc, s;

	if ((rc = restore_next(r, &ae, "the manifest")) < 0 ||
	    (rc = restore_read_small(r, ae, BACKUP_MANIFEST_NAME,
	    BACKUP_MANIFEST_MAX, &manifest)) < 0)
		goto done;
	if ((rc = backup_manifest_parse(&r->list, manifest.ptr,
	    manifest.len)) < 0) {
		rc = restore_invalid(r);
		goto done;
	}
	r->progress->total_entries = r->list.n;
	for (size_t i = 0; i < r->list.n; i++)
		r->progress->total_bytes += r->list.v[i].size;
	for (size_t i = 0; i < r->list.n && rc == 0; i++)
		rc = restore_entry(r, &r->list.v[i]);
	if (rc < 0)
		goto done;
	if ((rc = restore_next(r, &ae, "the trailer")) < 0 ||
	    (rc = restore_read_small(r, ae, BACKUP_TRAILER_NAME,
	    RESTORE_TRAILER_MAX, &trailer)) < 0)
		goto done;
	if ((rc = backup_trailer_check(manifest.ptr, manifest.len,
	    trailer.ptr, trailer.len)) < 0) {
		rc = restore_invalid(r);
		goto done;
	}
	if ((s = archive_read_next_header(r->a, &ae)) == ARCHIVE_OK) {
		err_set(ERR_INVALID, "'%.200s' follows the trailer",
		    archive_entry_pathname(ae));
		rc = restore_invalid(r);
	} else if (s != ARCHIVE_EOF) {
		rc = restore_archive_error(r, "the end");
	}
done:
	buf_free(&trailer);
	buf_free(&manifest);
	return rc;
}

/* ERR_EXISTS unless home is absent or an empty directory; *exists says
 * which, *mode what the restored home's mode will be (the empty one's). */
static int
restore_target_check(const char *home, bool *exists, mode_t *mode)
{
	struct stat sb;
	struct dirent *de;
	DIR *d;
	bool empty = true;

	*exists = false;
	*mode = 0755;
	if (lstat(home, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_sys("cannot use '%s'", home);
	}
	if (!S_ISDIR(sb.st_mode))
		return err_set(ERR_EXISTS, "cannot restore into '%s': it is "
		    "not a directory", home);
	if ((d = opendir(home)) == NULL)
		return err_sys("cannot read '%s'", home);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name,
		    "..") != 0)
			empty = false;
	closedir(d);
	if (!empty)
		return err_set(ERR_EXISTS, "cannot restore into '%s': it is "
		    "not empty (restore needs an absent or empty SLIPWAY_HOME)",
		    home);
	*exists = true;
	*mode = sb.st_mode & 07777;
	return 0;
}

/* A fresh directory beside home: .<name>.restore-XXXXXX. */
static int
restore_tmp_make(char **out, const char *home)
{
	char *a = xstrdup(home), *b = xstrdup(home);
	char *dir = dirname(a), *base = basename(b);
	char *tmpl = xasprintf("%s/.%s.restore-XXXXXX", dir, base);
	int rc = 0;

	if ((rc = fs_mkdir_p(dir, 0755)) == 0 && mkdtemp(tmpl) == NULL)
		rc = err_sys("cannot make a directory beside '%s'", home);
	if (rc < 0)
		free(tmpl);
	else
		*out = tmpl;
	free(a);
	free(b);
	return rc;
}

int
backup_restore(struct backup_summary *out, const char *file,
    const char *home, const struct backup_opts *opts)
{
	struct backup_progress p = { .on = opts && opts->progress,
	    .verb = "restore:" };
	struct restore r = { .file = file, .progress = &p };
	bool exists;
	mode_t mode;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if ((rc = restore_target_check(home, &exists, &mode)) < 0)
		return rc;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys("cannot open '%s'", file);
	if ((rc = restore_tmp_make(&r.tmp, home)) < 0)
		goto done;
	r.a = archive_read_new();
	archive_read_support_filter_all(r.a);
	archive_read_support_format_tar(r.a);
	if (archive_read_open_fd(r.a, fd, RESTORE_IO_BUF) != ARCHIVE_OK) {
		rc = restore_archive_error(&r, "its start");
		goto done;
	}
	if ((rc = restore_read(&r)) < 0 || (rc = restore_modes(&r)) < 0)
		goto done;
	if (chmod(r.tmp, mode) < 0) {
		rc = err_sys("cannot set the mode of '%s'", r.tmp);
		goto done;
	}
	out->compression = archive_filter_code(r.a, 0) ==
	    ARCHIVE_FILTER_ZSTD ? "zstd" : "gzip";
	/* The home appears whole, or not at all: an empty one goes only
	 * now, and one that is no longer empty makes the rename fail. */
	if (exists && rmdir(home) < 0) {
		rc = err_sys("cannot replace the empty '%s'", home);
		goto done;
	}
	if (rename(r.tmp, home) < 0) {
		rc = err_sys("cannot rename '%s' to '%s'", r.tmp, home);
		if (exists)
			mkdir(home, 0755);
		goto done;
	}
	free(r.tmp);
	r.tmp = NULL;
	rc = fs_fsync_parent(home);
	out->entries = r.list.n;
	out->bytes = p.bytes;
done:
	backup_progress_end(&p);
	if (r.a)
		archive_read_free(r.a);
	if (r.tmp) {
		fs_remove_tree(r.tmp);
		free(r.tmp);
	}
	backup_list_free(&r.list);
	if (fd >= 0)
		close(fd);
	return rc;
}
