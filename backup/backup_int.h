/* Private to backup/: the entry list, the manifest and the snapshot. */
#ifndef SLIPWAY_BACKUP_INT_H
#define SLIPWAY_BACKUP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "slipway/backup.h"

enum backup_type {
	BACKUP_DIR = 'd',
	BACKUP_FILE = 'f',
	BACKUP_SYMLINK = 'l',
};

/* One entry of a backup: a path relative to the home.  A file has its
 * size and sha256 (64 lower hex), a symlink its target; a directory
 * comes before everything under it.  Strings are owned. */
struct backup_entry {
	char *path;
	enum backup_type type;
	unsigned mode;           /* permission bits only (0777) */
	uint64_t size;
	char sha256[65];
	char *target;
};

/* The entries in archive order. */
struct backup_list {
	struct backup_entry *v;
	size_t n, cap;
};

/* The entry appended: path and target are copied. */
struct backup_entry *backup_list_add(struct backup_list *l,
    enum backup_type type, const char *path, unsigned mode);
void backup_list_free(struct backup_list *l);

/* manifest.c */

/* The manifest of list, as written in the archive (JSON, one line).
 * Caller frees. */
char *backup_manifest_dump(const struct backup_list *list, time_t created,
    size_t *len);

/* Parse and check a manifest: format, and for every entry a safe path,
 * a known type, a directory as its parent listed before it, no second
 * entry of one path, a safe symlink target, a size and a sha256 for a
 * file.  ERR_INVALID with what is wrong; out is empty then. */
int backup_manifest_parse(struct backup_list *out, const void *data,
    size_t len);

/* The trailer for a manifest: sha256 hex and a newline, in out. */
void backup_trailer_make(char out[66], const void *manifest, size_t len);

/* progress.c: one stderr line, rewritten at most ten times a second,
 * when on (a terminal and no --json). */
struct backup_progress {
	bool on;
	const char *verb;        /* "staged", "wrote", "restored" */
	uint64_t entries, bytes, total_entries, total_bytes;
	struct timespec last;
	bool shown;
};

void backup_progress_tick(struct backup_progress *p, uint64_t bytes,
    bool entry);
/* The last line, kept, and a newline. */
void backup_progress_end(struct backup_progress *p);

/* stage.c: the snapshot, made under the home (docs/backup.md). */
struct backup_stage {
	const char *home;
	char *dir;               /* home/.backup.XXXXXX */
	struct backup_list list;
	bool vanished;           /* a file went away while it was taken */
	struct backup_progress *progress;
};

/* Take the snapshot into st->dir (made here), entries in st->list.
 * backup_stage_free removes the directory. */
int backup_stage_make(struct backup_stage *st, const char *home,
    struct backup_progress *progress);
void backup_stage_free(struct backup_stage *st);

/* stage_git.c */
int backup_stage_repos(struct backup_stage *st);

/* stage.c, for stage_git.c. */

/* What to do with one file or directory of a tree being taken. */
enum backup_take {
	BACKUP_SKIP,
	BACKUP_COPY,             /* read and written: a file that may change */
	BACKUP_LINK,             /* hard-linked: written once, never changed */
	BACKUP_LINK_DIGEST,      /* linked, and its name is its sha256 */
};

/* rel is the path under the home; is_dir says what it is. */
typedef enum backup_take (*backup_take_fn)(const char *rel, bool is_dir);

/* Take rel (a directory under the home) and what is under it, as take
 * says.  What is already in the snapshot is kept: a second call takes
 * only what appeared since.  A file gone before it could be taken sets
 * st->vanished and is left out. */
int backup_stage_tree(struct backup_stage *st, const char *rel,
    backup_take_fn take);
/* Take one file (copied) or one directory (no content), when it exists. */
int backup_stage_file(struct backup_stage *st, const char *rel);
int backup_stage_dir(struct backup_stage *st, const char *rel);

/* abs (a home path function's answer, freed here) relative to the
 * home.  Caller frees. */
char *backup_stage_rel(const struct backup_stage *st, char *abs);

/* sha256 hex of a file's bytes, and its size. */
int backup_hash_file(char out[65], uint64_t *size, const char *path);

#endif
