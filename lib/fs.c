/* File helpers; see include/slipway/fs.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/proc.h"

int
fs_fsync_parent(const char *path)
{
	char *dir = xstrdup(path), *slash;
	int fd, rc = 0;

	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = err_sys("cannot sync directory '%s'", dir);
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int
fs_tmp_open(char **out_tmp, const char *path, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp.XXXXXX", path);
	int fd;

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int rc = err_sys("cannot create '%s'", tmp);
		free(tmp);
		return rc;
	}
	if (fchmod(fd, mode) < 0) {
		int rc = err_sys("cannot chmod '%s'", tmp);
		fs_tmp_abort(fd, tmp);
		free(tmp);
		return rc;
	}
	*out_tmp = tmp;
	return fd;
}

void
fs_tmp_abort(int fd, const char *tmp)
{
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
}

int
fs_tmp_commit(int fd, const char *tmp, const char *path)
{
	if (fsync(fd) < 0) {
		int rc = err_sys("cannot sync '%s'", tmp);
		fs_tmp_abort(fd, tmp);
		return rc;
	}
	if (close(fd) < 0) {
		int rc = err_sys("cannot close '%s'", tmp);
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, path) < 0) {
		int rc = err_sys("cannot rename '%s' to '%s'", tmp, path);
		unlink(tmp);
		return rc;
	}
	return fs_fsync_parent(path);
}


int
fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp = NULL;
	int fd, rc;

	if ((fd = fs_tmp_open(&tmp, path, mode)) < 0)
		return fd;
	if (proc_write_all(fd, data, len) < 0) {
		rc = err_wrap(ERR_IO, "'%s'", tmp);
		fs_tmp_abort(fd, tmp);
	} else {
		rc = fs_tmp_commit(fd, tmp, path);
	}
	free(tmp);
	return rc;
}

/* Read fd to its end into *out, at most max bytes; what names it in
 * messages.  fd is the caller's. */
static int
fs_read_fd(struct buf *out, int fd, const char *what, size_t max)
{
	char chunk[65536];
	struct buf b;
	ssize_t n;
	int rc = 0;

	buf_init(&b, max);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_sys("cannot read '%s'", what);
			break;
		}
		if (buf_put(&b, chunk, (size_t)n) < 0) {
			rc = err_set(ERR_TOOBIG, "'%s' is larger than %zu bytes",
			    what, max);
			break;
		}
	}
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
fs_read_file(struct buf *out, const char *path, size_t max)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys("cannot open '%s'", path);
	rc = fs_read_fd(out, fd, path, max);
	close(fd);
	return rc;
}

int
fs_read_beneath(struct buf *out, int dirfd, const char *name, size_t max)
{
	struct stat st;
	int fd, rc;

	if (!fs_path_is_safe(name) || strchr(name, '/') != NULL)
		return err_set(ERR_INVALID, "'%s' is not a plain file name",
		    name);
	/* O_NONBLOCK: a fifo put there opens at once instead of hanging */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP)
			return err_set(ERR_INVALID, "'%s' is a symlink, not a "
			    "file: refused", name);
		return err_sys("cannot open '%s'", name);
	}
	if (fstat(fd, &st) < 0) {
		rc = err_sys("cannot stat '%s'", name);
	} else if (!S_ISREG(st.st_mode)) {
		rc = err_set(ERR_INVALID, "'%s' is not a regular file: "
		    "refused", name);
	} else if (st.st_nlink != 1) {
		/* another name for a file made elsewhere */
		rc = err_set(ERR_INVALID, "'%s' is a hard link (%ju names): "
		    "refused", name, (uintmax_t)st.st_nlink);
	} else if ((uint64_t)st.st_size > max) {
		rc = err_set(ERR_TOOBIG, "'%s' is larger than %zu bytes",
		    name, max);
	} else {
		rc = fs_read_fd(out, fd, name, max);
	}
	close(fd);
	return rc;
}

int
fs_mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = err_sys("cannot create directory '%s'", p);
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	if (rc == 0 && !fs_is_dir(path))
		rc = err_set(ERR_EXISTS, "'%s' exists and is not a directory",
		    path);
	free(p);
	return rc;
}

static int
fs_remove_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st; (void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int
fs_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : err_sys("cannot stat '%s'", path);
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0)
			return err_sys("cannot remove '%s'", path);
		return 0;
	}
	if (nftw(path, fs_remove_one, 32, FTW_DEPTH | FTW_PHYS) < 0)
		return err_sys("cannot remove '%s'", path);
	return 0;
}

bool
fs_exists_in_root(const char *root, const char *rel)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	int dfd, fd;

	if ((dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
	close(dfd);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

bool
fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool
fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool
fs_path_is_safe(const char *rel)
{
	const char *p = rel, *end;

	if (rel == NULL || *rel == '\0' || *rel == '/')
		return false;
	if (strlen(rel) >= PATH_MAX)
		return false;
	for (;;) {
		end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0)
			return false;
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (*end == '\0')
			return true;
		p = end + 1;
	}
}

char *
fs_join(const char *a, const char *b)
{
	size_t n = strlen(a);

	if (n > 0 && a[n - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

int
fs_mkdtemp(char **out, const char *prefix)
{
	const char *tmpdir = getenv("TMPDIR");
	char *p;

	if (tmpdir == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	p = xasprintf("%s/%s.XXXXXX", tmpdir, prefix);
	if (mkdtemp(p) == NULL) {
		int rc = err_sys("cannot create a directory in '%s'", tmpdir);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}
