/*
 * One layer entry applied to a rootfs, safely.  Every path is cleaned
 * (no absolute paths, no ".."), its parent is reached by opening one
 * component at a time with O_NOFOLLOW below the rootfs's descriptor, and
 * every write is an *at call on that parent that never follows the last
 * component.  So a symlink planted by one entry can never carry a later
 * write out of the rootfs: an entry whose parent path goes through a
 * symlink is refused, and an entry that replaces a symlink replaces the
 * link itself.
 *
 * OCI whiteouts (image-spec layer.md): a regular file ".wh.NAME" deletes
 * NAME from the lower layers; ".wh..wh..opq" deletes everything the lower
 * layers put in its directory.  What this layer itself writes stays,
 * before or after the marker (u->seen), so the result does not depend on
 * where the markers sit in the tar.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define SYMLINK_TARGET_MAX 4095

void
runner_unpack_warn(struct runner_unpack *u, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (u->warn)
		u->warn(msg, u->ctx);
	else
		log_warnx("%s", msg);
}

int
runner_unpack_path_clean(char **out, const char *raw)
{
	struct buf b;
	const char *p, *end;

	if (raw == NULL)
		return err_set(ERR_INVALID, "entry without a usable name");
	if (raw[0] == '/')
		return err_set(ERR_INVALID, "entry '%s' has an absolute path",
		    raw);
	if (strlen(raw) >= PATH_MAX)
		return err_set(ERR_INVALID, "entry '%.64s...' has a path "
		    "longer than %d bytes", raw, PATH_MAX);
	buf_init(&b, PATH_MAX);
	buf_puts(&b, "");
	for (p = raw; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0 || (n == 1 && p[0] == '.'))
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			buf_free(&b);
			return err_set(ERR_INVALID, "entry '%s' has a '..' "
			    "component", raw);
		}
		if (b.len)
			buf_putc(&b, '/');
		buf_put(&b, p, n);
	}
	*out = buf_detach(&b, NULL);
	return 0;
}

/* Open the directory holding rel's last component, making missing
 * parents when create (and recording them as this layer's).  *dirfd is -1
 * and rc 0 when a parent is missing and !create.  *name points into rel. */
static int
unpack_parent_open(int *dirfd, const char **name, struct runner_unpack *u,
    const char *rel, bool create)
{
	char *copy = xstrdup(rel), *p = copy, *slash;
	int fd = dup(u->rootfd), rc = 0;

	*dirfd = -1;
	*name = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	if (fd < 0) {
		rc = err_sys("cannot dup the rootfs descriptor");
		goto done;
	}
	while ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p, u->root ? 0755 : 0755 | 0700) < 0 &&
			    errno != EEXIST) {
				rc = err_sys("layer %u: entry '%s': cannot make "
				    "directory '%s'", u->layer_no, rel, copy);
				goto done;
			}
			runner_strset_add(&u->seen, copy);
			next = openat(fd, p, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			struct stat st;
			int e = errno;
			if (e == ENOENT && !create)
				goto done;	/* nothing there: rc 0, fd -1 */
			if (fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				rc = err_set(ERR_INVALID, "layer %u: entry '%s' "
				    "goes through symlink '%s'", u->layer_no,
				    rel, copy);
			else if (e == ENOTDIR || e == ELOOP)
				rc = err_set(ERR_INVALID, "layer %u: entry '%s':"
				    " '%s' is not a directory", u->layer_no,
				    rel, copy);
			else {
				errno = e;
				rc = err_sys("layer %u: entry '%s': cannot open "
				    "'%s'", u->layer_no, rel, copy);
			}
			goto done;
		}
		close(fd);
		fd = next;
		*slash = '/';
		p = slash + 1;
	}
	*dirfd = fd;
	fd = -1;
done:
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/* Remove whatever is at name in dirfd (a tree for a directory).  The
 * parents of rel were opened without following links, so the path string
 * names the same place; nftw does not follow links either. */
static int
unpack_remove(struct runner_unpack *u, int dirfd, const char *name,
    const char *rel)
{
	struct stat st;
	int rc = 0;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_sys("layer %u: cannot stat "
		    "'%s'", u->layer_no, rel);
	if (S_ISDIR(st.st_mode)) {
		char *full = fs_join(u->rootpath, rel);
		rc = fs_remove_tree(full);
		free(full);
	} else if (unlinkat(dirfd, name, 0) < 0) {
		rc = err_sys("layer %u: cannot remove '%s'", u->layer_no, rel);
	}
	return rc;
}

/* Everything the lower layers put in the directory rel (fd), minus what
 * this layer wrote; directories this layer wrote are cleaned the same
 * way, one level down. */
static int
unpack_opaque_clear(struct runner_unpack *u, int fd, const char *rel)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dir;
	int dfd, rc = 0;

	if ((dfd = dup(fd)) < 0 || (dir = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return err_sys("layer %u: cannot read directory '%s'",
		    u->layer_no, rel[0] ? rel : "/");
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(d->d_name);
	}
	closedir(dir);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *child = rel[0] ? xasprintf("%s/%s", rel, names[i]) :
		    xstrdup(names[i]);
		struct stat st;
		if (!runner_strset_has(&u->seen, child)) {
			rc = unpack_remove(u, fd, names[i], child);
		} else if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0
		    && S_ISDIR(st.st_mode)) {
			int sub = openat(fd, names[i], O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				rc = err_sys("layer %u: cannot open '%s'",
				    u->layer_no, child);
			else {
				rc = unpack_opaque_clear(u, sub, child);
				close(sub);
			}
		}
		free(child);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* A regular file named .wh.*: apply it, never write it. */
static int
unpack_whiteout(struct runner_unpack *u, const char *rel, const char *base)
{
	const char *victim = base + strlen(WH_PREFIX);
	char *dir = xstrndup(rel, (size_t)(base - rel)), *target = NULL;
	const char *name;
	int dirfd = -1, rc = 0;

	if (dir[0] && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	if (strcmp(base, WH_OPAQUE) == 0) {
		/* Open the directory itself (made if missing: the layer says
		 * it exists and is empty below). */
		char *probe = dir[0] ? xasprintf("%s/x", dir) : xstrdup("x");
		rc = unpack_parent_open(&dirfd, &name, u, probe, true);
		free(probe);
		if (rc == 0)
			rc = unpack_opaque_clear(u, dirfd, dir);
		goto done;
	}
	if (victim[0] == '\0' || strcmp(victim, ".") == 0 ||
	    strcmp(victim, "..") == 0) {
		rc = err_set(ERR_INVALID, "layer %u: entry '%s' is a malformed "
		    "whiteout", u->layer_no, rel);
		goto done;
	}
	if (strncmp(victim, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
		/* ".wh..wh.*" other than the opaque marker is reserved. */
		runner_unpack_warn(u, "layer %u: entry '%s': unknown reserved "
		    "whiteout, ignored", u->layer_no, rel);
		goto done;
	}
	target = dir[0] ? xasprintf("%s/%s", dir, victim) : xstrdup(victim);
	if (runner_strset_has(&u->seen, target))
		goto done;	/* this layer's own entry stays */
	if ((rc = unpack_parent_open(&dirfd, &name, u, target, false)) < 0 ||
	    dirfd < 0)
		goto done;
	rc = unpack_remove(u, dirfd, name, target);
done:
	if (dirfd >= 0)
		close(dirfd);
	free(dir);
	free(target);
	return rc;
}

static mode_t
unpack_mode(struct runner_unpack *u, mode_t m, bool dir)
{
	/* setuid and setgid never come from a layer; the sticky bit may. */
	m &= 01777;
	if (dir && !u->root)
		m |= 0700;	/* we must still write below it */
	return m;
}

static void
unpack_owner_time(struct runner_unpack *u, int dirfd, const char *name,
    struct archive_entry *e, bool is_link)
{
	struct timespec ts[2];

	if (u->root)
		(void)fchownat(dirfd, name, (uid_t)archive_entry_uid(e),
		    (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW);
	if (archive_entry_mtime_is_set(e)) {
		ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
		ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
		(void)utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
	}
	(void)is_link;
}

static int
unpack_file(struct runner_unpack *u, struct archive *a,
    struct archive_entry *e, int dirfd, const char *name, const char *rel)
{
	la_int64_t size = archive_entry_size(e), off;
	const void *block;
	size_t len;
	int fd, rc = 0, r;

	if (size < 0 || (uint64_t)size > u->lim.entry_max)
		return err_set(ERR_TOOBIG, "layer %u: entry '%s' is larger "
		    "than %llu bytes", u->layer_no, rel,
		    (unsigned long long)u->lim.entry_max);
	if ((rc = unpack_remove(u, dirfd, name, rel)) < 0)
		return rc;
	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys("layer %u: cannot create '%s'", u->layer_no, rel);
	while ((r = archive_read_data_block(a, &block, &len, &off)) ==
	    ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off + len > (uint64_t)size) {
			rc = err_set(ERR_INVALID, "layer %u: entry '%s' has "
			    "data past its size", u->layer_no, rel);
			goto done;
		}
		u->total += len;
		if (u->total > u->lim.total_max) {
			rc = err_set(ERR_TOOBIG, "layer %u: entry '%s': the "
			    "image is larger than %llu bytes", u->layer_no,
			    rel, (unsigned long long)u->lim.total_max);
			goto done;
		}
		for (size_t done_n = 0; done_n < len; ) {
			ssize_t w = pwrite(fd, (const char *)block + done_n,
			    len - done_n, off + (off_t)done_n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = err_sys("layer %u: cannot write '%s'",
				    u->layer_no, rel);
				goto done;
			}
			done_n += (size_t)w;
		}
	}
	if (r != ARCHIVE_EOF) {
		rc = err_set(ERR_INVALID, "layer %u: cannot read entry '%s': "
		    "%s", u->layer_no, rel, archive_error_string(a));
		goto done;
	}
	/* A sparse file may end in a hole. */
	if (ftruncate(fd, size) < 0) {
		rc = err_sys("layer %u: cannot size '%s'", u->layer_no, rel);
		goto done;
	}
	if (u->root)
		(void)fchown(fd, (uid_t)archive_entry_uid(e),
		    (gid_t)archive_entry_gid(e));
	/* After chown, which would clear these bits anyway. */
	if (fchmod(fd, unpack_mode(u, archive_entry_perm(e), false)) < 0)
		rc = err_sys("layer %u: cannot chmod '%s'", u->layer_no, rel);
done:
	close(fd);
	if (rc == 0)
		unpack_owner_time(u, dirfd, name, e, false);
	return rc;
}

static int
unpack_dir(struct runner_unpack *u, struct archive_entry *e, int dirfd,
    const char *name, const char *rel)
{
	mode_t m = unpack_mode(u, archive_entry_perm(e), true);
	struct stat st;
	int rc;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(st.st_mode) && (rc = unpack_remove(u, dirfd, name, rel)) < 0)
		return rc;
	if (mkdirat(dirfd, name, m) < 0 && errno != EEXIST)
		return err_sys("layer %u: cannot make directory '%s'",
		    u->layer_no, rel);
	if (fchmodat(dirfd, name, m, 0) < 0)
		return err_sys("layer %u: cannot chmod '%s'", u->layer_no, rel);
	if (u->root)
		(void)fchownat(dirfd, name, (uid_t)archive_entry_uid(e),
		    (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int
unpack_symlink(struct runner_unpack *u, struct archive_entry *e, int dirfd,
    const char *name, const char *rel)
{
	const char *target = archive_entry_symlink(e);
	int rc;

	if (target == NULL || target[0] == '\0' ||
	    strlen(target) > SYMLINK_TARGET_MAX)
		return err_set(ERR_INVALID, "layer %u: symlink '%s' has an "
		    "empty or oversized target", u->layer_no, rel);
	/* Any target is allowed: it is only ever followed inside the
	 * container's root, and the unpack never writes through a link. */
	if ((rc = unpack_remove(u, dirfd, name, rel)) < 0)
		return rc;
	if (symlinkat(target, dirfd, name) < 0)
		return err_sys("layer %u: cannot make symlink '%s'",
		    u->layer_no, rel);
	unpack_owner_time(u, dirfd, name, e, true);
	return 0;
}

static int
unpack_hardlink(struct runner_unpack *u, struct archive_entry *e, int dirfd,
    const char *name, const char *rel)
{
	const char *raw = archive_entry_hardlink(e), *tname;
	char *target = NULL;
	struct stat st;
	int tfd = -1, rc;

	if ((rc = runner_unpack_path_clean(&target, raw)) < 0) {
		rc = err_set(ERR_INVALID, "layer %u: hardlink '%s' points "
		    "outside the rootfs ('%s')", u->layer_no, rel, raw);
		goto done;
	}
	if (target[0] == '\0' || strcmp(target, rel) == 0) {
		rc = err_set(ERR_INVALID, "layer %u: hardlink '%s' points to "
		    "'%s'", u->layer_no, rel, raw);
		goto done;
	}
	if ((rc = unpack_parent_open(&tfd, &tname, u, target, false)) < 0)
		goto done;
	if (tfd < 0 || fstatat(tfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = err_set(ERR_INVALID, "layer %u: hardlink '%s' points to "
		    "'%s', which is not unpacked yet", u->layer_no, rel, target);
		goto done;
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		rc = err_set(ERR_INVALID, "layer %u: hardlink '%s' points to "
		    "'%s', which is not a file", u->layer_no, rel, target);
		goto done;
	}
	if ((rc = unpack_remove(u, dirfd, name, rel)) < 0)
		goto done;
	if (linkat(tfd, tname, dirfd, name, 0) < 0)
		rc = err_sys("layer %u: cannot link '%s' to '%s'", u->layer_no,
		    rel, target);
done:
	if (tfd >= 0)
		close(tfd);
	free(target);
	return rc;
}

int
runner_unpack_entry(struct runner_unpack *u, struct archive *a,
    struct archive_entry *e)
{
	const char *raw = archive_entry_pathname(e), *name, *base;
	mode_t type = archive_entry_filetype(e);
	bool hard = archive_entry_hardlink(e) != NULL;
	char *rel = NULL;
	int dirfd = -1, rc;

	if (++u->entries > u->lim.entries_max)
		return err_set(ERR_TOOBIG, "layer %u: more than %llu entries",
		    u->layer_no, (unsigned long long)u->lim.entries_max);
	if ((rc = runner_unpack_path_clean(&rel, raw)) < 0) {
		err_wrap(rc, "layer %u", u->layer_no);
		goto done;
	}
	if (rel[0] == '\0')
		goto done;	/* "./": the rootfs itself */
	if (archive_entry_xattr_count(e) > 0 && !u->xattr_warned) {
		u->xattr_warned = true;
		runner_unpack_warn(u, "layer %u ('%s'): extended attributes "
		    "dropped", u->layer_no, rel);
	}
	base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	if (!hard && type == AE_IFREG &&
	    strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
		rc = unpack_whiteout(u, rel, base);
		goto done;
	}
	if (!hard && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		runner_unpack_warn(u, "layer %u: entry '%s' is a %s; skipped",
		    u->layer_no, rel, type == AE_IFCHR ? "character device" :
		    type == AE_IFBLK ? "block device" : type == AE_IFIFO ?
		    "fifo" : type == AE_IFSOCK ? "socket" : "special file");
		goto done;
	}
	if ((rc = unpack_parent_open(&dirfd, &name, u, rel, true)) < 0)
		goto done;
	if (hard)
		rc = unpack_hardlink(u, e, dirfd, name, rel);
	else if (type == AE_IFDIR)
		rc = unpack_dir(u, e, dirfd, name, rel);
	else if (type == AE_IFLNK)
		rc = unpack_symlink(u, e, dirfd, name, rel);
	else
		rc = unpack_file(u, a, e, dirfd, name, rel);
	if (rc == 0)
		runner_strset_add(&u->seen, rel);
done:
	if (dirfd >= 0)
		close(dirfd);
	free(rel);
	return rc;
}
