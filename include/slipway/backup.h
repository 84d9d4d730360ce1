/*
 * `slipway backup FILE` and `slipway restore FILE`: one archive of a
 * SLIPWAY_HOME, made while every service runs, and put back onto an empty
 * home.  docs/backup.md says what is in it and how it stays consistent.
 *
 * The file is a tar (gzip'd, or zstd'd when libarchive can) of:
 *   slipway-backup.json     the manifest, first: format, slipway version,
 *                           time, and every entry with its type, mode,
 *                           size and sha256
 *   the entries, in the manifest's order, paths relative to the home
 *   slipway-backup.sha256   the trailer, last: sha256 of the manifest
 * Restore takes nothing it has not checked against both.
 */
#ifndef SLIPWAY_BACKUP_H
#define SLIPWAY_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BACKUP_FORMAT 1
#define BACKUP_MANIFEST_NAME "slipway-backup.json"
#define BACKUP_TRAILER_NAME "slipway-backup.sha256"
/* Caps on what a backup file may make restore hold in memory. */
#define BACKUP_MANIFEST_MAX ((size_t)256 << 20)
#define BACKUP_ENTRIES_MAX 4000000u

/* What a backup or a restore did, for the summary. */
struct backup_summary {
	uint64_t entries;
	uint64_t bytes;          /* of file contents */
	const char *compression; /* "zstd" or "gzip" (static) */
};

/* manifest.c */

/* True when path may be an entry of a backup: fs_path_is_safe (relative,
 * no "." or "..", no empty component) and not one of the two names the
 * format keeps for itself. */
bool backup_path_is_safe(const char *path);

/* True when a symlink at path to target stays inside the home: target is
 * relative and, read from path's directory, never climbs out of it. */
bool backup_symlink_is_safe(const char *path, const char *target);

/* Check a trailer against the manifest's bytes: it must be the lower hex
 * sha256 of them, with at most a final newline.  ERR_INVALID otherwise. */
int backup_trailer_check(const void *manifest, size_t len,
    const void *trailer, size_t tlen);

/* backup.c */

struct backup_opts {
	bool progress;           /* a line on stderr, rewritten as it goes */
};

/*
 * Write a backup of home to file: to file.tmp (0600), renamed into place
 * once whole and synced.  Runs beside the services (docs/backup.md);
 * the snapshot is staged under home (home_backup_stage_template) and
 * removed after.  On failure nothing is left at file or file.tmp.
 */
int backup_create(struct backup_summary *out, const char *home,
    const char *file, const struct backup_opts *opts);

/* restore.c */

/*
 * Restore the backup in file onto home, which must be absent or an empty
 * directory (ERR_EXISTS otherwise).  Everything is written to a temp
 * directory beside home and checked (every entry's path, type, size and
 * sha256 against the manifest, the manifest against the trailer) before
 * it is renamed into place; on any failure it is removed and home is as
 * it was.
 */
int backup_restore(struct backup_summary *out, const char *file,
    const char *home, const struct backup_opts *opts);

/* cmd.c */
int backup_cmd_backup(int argc, char **argv);
int backup_cmd_restore(int argc, char **argv);

#endif
