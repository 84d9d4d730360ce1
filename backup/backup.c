/*
 * `slipway backup FILE`: the snapshot (stage.c) written as one archive,
 * manifest first and trailer last (include/slipway/backup.h), to
 * FILE.tmp, synced and renamed to FILE.  Each file is hashed again as it
 * is written and must be what the manifest says: the archive never holds
 * bytes its manifest does not vouch for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "backup_int.h"

#define BACKUP_IO_BUF (256 * 1024)

/* zstd when this libarchive has it built in, else gzip. */
static const char *
backup_filter_add(struct archive *a)
{
	if (archive_libzstd_version() != NULL &&
	    archive_write_add_filter_zstd(a) == ARCHIVE_OK)
		return "zstd";
	archive_write_add_filter_gzip(a);
	return "gzip";
}

static int
backup_archive_error(struct archive *a, const char *file)
{
	return err_set(ERR_IO, "cannot write '%s': %s", file,
	    archive_error_string(a) ? archive_error_string(a) : "libarchive "
	    "failed");
}

/* A header for path, owned by root, at the backup's time. */
static struct archive_entry *
backup_header(const char *path, mode_t type, unsigned mode, int64_t size,
    time_t when)
{
	struct archive_entry *ae = archive_entry_new();

	archive_entry_set_pathname(ae, path);
	archive_entry_set_filetype(ae, type);
	archive_entry_set_perm(ae, mode);
	archive_entry_set_size(ae, size);
	archive_entry_set_mtime(ae, when, 0);
	archive_entry_set_uid(ae, 0);
	archive_entry_set_gid(ae, 0);
	return ae;
}

static int
backup_write_bytes(struct archive *a, const char *file, const char *name,
    const void *data, size_t len, time_t when)
{
	struct archive_entry *ae = backup_header(name, AE_IFREG, 0600,
	    (int64_t)len, when);
	int rc = 0;

	if (archive_write_header(a, ae) != ARCHIVE_OK ||
	    archive_write_data(a, data, len) != (la_ssize_t)len)
		rc = backup_archive_error(a, file);
	archive_entry_free(ae);
	return rc;
}

/* One staged file, hashed as it goes and checked against e. */
static int
backup_write_file(struct archive *a, const char *file, const char *stage,
    const struct backup_entry *e, time_t when, struct backup_progress *p)
{
	char *path = fs_join(stage, e->path), *buf = xmalloc(BACKUP_IO_BUF);
	struct archive_entry *ae = backup_header(e->path, AE_IFREG, e->mode,
	    (int64_t)e->size, when);
	struct digest_ctx ctx = { 0 };
	char d[DIGEST_STR_MAX];
	uint64_t n = 0;
	ssize_t r;
	int fd = -1, rc = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = err_sys("cannot open '%s'", path);
		goto done;
	}
	if (archive_write_header(a, ae) != ARCHIVE_OK) {
		rc = backup_archive_error(a, file);
		goto done;
	}
	digest_init(&ctx, DIGEST_SHA256);
	while (n < e->size && (r = read(fd, buf, e->size - n <
	    BACKUP_IO_BUF ? (size_t)(e->size - n) : BACKUP_IO_BUF)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_sys("cannot read '%s'", path);
			goto done;
		}
		digest_update(&ctx, buf, (size_t)r);
		if (archive_write_data(a, buf, (size_t)r) != r) {
			rc = backup_archive_error(a, file);
			goto done;
		}
		n += (uint64_t)r;
		backup_progress_tick(p, (uint64_t)r, false);
	}
	digest_final(&ctx, d);
	if (n != e->size || strcmp(d + strlen("sha256:"), e->sha256) != 0 ||
	    read(fd, buf, 1) != 0)
		rc = err_set(ERR_CONFLICT, "'%s' changed while it was backed "
		    "up: try again", e->path);
	backup_progress_tick(p, 0, true);
done:
	if (rc < 0)
		digest_abort(&ctx);
	if (fd >= 0)
		close(fd);
	archive_entry_free(ae);
	free(buf);
	free(path);
	return rc;
}

static int
backup_write_entry(struct archive *a, const char *file, const char *stage,
    const struct backup_entry *e, time_t when, struct backup_progress *p)
{
	struct archive_entry *ae;
	int rc = 0;

	if (e->type == BACKUP_FILE)
		return backup_write_file(a, file, stage, e, when, p);
	ae = backup_header(e->path, e->type == BACKUP_DIR ? AE_IFDIR :
	    AE_IFLNK, e->mode, 0, when);
	if (e->type == BACKUP_SYMLINK)
		archive_entry_set_symlink(ae, e->target);
	if (archive_write_header(a, ae) != ARCHIVE_OK)
		rc = backup_archive_error(a, file);
	archive_entry_free(ae);
	backup_progress_tick(p, 0, true);
	return rc;
}

/* The archive of st into fd. */
static int
backup_write(struct backup_summary *out, int fd, const char *file,
    const struct backup_stage *st, struct backup_progress *p)
{
	struct archive *a = archive_write_new();
	time_t when = time(NULL);
	char *manifest = NULL, trailer[66];
	size_t mlen;
	int rc = 0;

	out->compression = backup_filter_add(a);
	archive_write_set_format_pax_restricted(a);
	/* No padding past the last block: the file ends with the archive. */
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		rc = backup_archive_error(a, file);
		goto done;
	}
	manifest = backup_manifest_dump(&st->list, when, &mlen);
	if ((rc = backup_write_bytes(a, file, BACKUP_MANIFEST_NAME, manifest,
	    mlen, when)) < 0)
		goto done;
	for (size_t i = 0; i < st->list.n && rc == 0; i++)
		rc = backup_write_entry(a, file, st->dir, &st->list.v[i], when,
		    p);
	if (rc < 0)
		goto done;
	backup_trailer_make(trailer, manifest, mlen);
	if ((rc = backup_write_bytes(a, file, BACKUP_TRAILER_NAME, trailer,
	    strlen(trailer), when)) < 0)
		goto done;
	if (archive_write_close(a) != ARCHIVE_OK)
		rc = backup_archive_error(a, file);
	out->entries = st->list.n;
	out->bytes = p->bytes;
done:
	archive_write_free(a);
	free(manifest);
	return rc;
}

int
backup_create(struct backup_summary *out, const char *home,
    const char *file, const struct backup_opts *opts)
{
	struct backup_progress staged = { .on = opts && opts->progress,
	    .verb = "backup: snapshot" };
	struct backup_progress wrote = { .on = staged.on,
	    .verb = "backup: writing" };
	struct backup_stage st;
	char *tmp = xasprintf("%s.tmp", file);
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if ((rc = backup_stage_make(&st, home, &staged)) < 0) {
		backup_progress_end(&staged);
		err_wrap(rc, "cannot back up '%s'", home);
		goto done;
	}
	backup_progress_end(&staged);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0) {
		rc = err_sys("cannot create '%s'", tmp);
		goto done;
	}
	/* 0600 whatever the umask or a file left there: it holds secrets. */
	fchmod(fd, 0600);
	wrote.total_entries = st.list.n;
	wrote.total_bytes = staged.bytes;
	if ((rc = backup_write(out, fd, file, &st, &wrote)) < 0)
		goto done;
	backup_progress_end(&wrote);
	if (fsync(fd) < 0) {
		rc = err_sys("cannot sync '%s'", tmp);
		goto done;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, file) < 0) {
		rc = err_sys("cannot rename '%s' to '%s'", tmp, file);
		goto done;
	}
	rc = fs_fsync_parent(file);
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		if (wrote.shown)
			backup_progress_end(&wrote);
		unlink(tmp);
	}
	backup_stage_free(&st);
	free(tmp);
	return rc;
}
