/*
 * Files: atomic writes, directories, safe relative paths.
 * Every write that matters goes through fs_write_atomic or fs_tmp_* +
 * fs_commit: write to a temp file in the same directory, fsync, rename,
 * fsync the directory.  A reader sees the old file or the new, never half.
 */
#ifndef SLIPWAY_FS_H
#define SLIPWAY_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;

/* Write data to path atomically with the given mode. */
int fs_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode);

/* Open a temp file beside path ("<path>.tmp.XXXXXX"); *out_tmp is the temp
 * name (caller frees).  Returns the fd or a negative code. */
int fs_tmp_open(char **out_tmp, const char *path, mode_t mode);

/* fsync fd, close it, rename tmp over path, fsync the directory.  On
 * failure tmp is removed.  fd is always closed. */
int fs_tmp_commit(int fd, const char *tmp, const char *path);

/* Close fd and remove tmp (the failure path of fs_tmp_open). */
void fs_tmp_abort(int fd, const char *tmp);

/* fsync the directory holding path. */
int fs_fsync_parent(const char *path);

/* Read a whole file, failing with ERR_TOOBIG past max bytes. */
int fs_read_file(struct buf *out, const char *path, size_t max);

/* Read the file name in the directory dirfd, a file someone we do not
 * trust (a build sandbox, a container) could have written: opened
 * relative to dirfd, never through a symlink, never blocking on a fifo;
 * only a regular file with one name, of at most max bytes.  A symlink,
 * a hard link or anything not a file is ERR_INVALID, a missing one
 * ERR_NOTFOUND, past max ERR_TOOBIG.  name is one component. */
int fs_read_beneath(struct buf *out, int dirfd, const char *name,
    size_t max);

/* mkdir -p; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf without following symlinks; a missing path is fine. */
int fs_remove_tree(const char *path);

bool fs_exists(const char *path);
/* Does rel name something inside the tree root, links resolved as if
 * root were "/" (openat2 RESOLVE_IN_ROOT: an image's absolute link never
 * reaches the host's file)?  A dangling link counts as nothing. */
bool fs_exists_in_root(const char *root, const char *rel);
bool fs_is_dir(const char *path);

/* True when rel is a safe relative path: not empty, not absolute, no "."
 * or ".." component, no empty component, no NUL, under PATH_MAX. */
bool fs_path_is_safe(const char *rel);

/* "a" + "b" -> "a/b" (no doubled slash).  Caller frees. */
char *fs_join(const char *a, const char *b);

/* A fresh directory under $TMPDIR (or /tmp) named prefix.XXXXXX. */
int fs_mkdtemp(char **out, const char *prefix);

#endif
