/*
 * Slugs from a directory (a build directory after a buildpack ran).  The
 * walk goes through directory file descriptors with O_NOFOLLOW everywhere,
 * so a symlink is read as a link (readlinkat) and never followed, whatever
 * it points at, and a file swapped for a link or a fifo mid-walk is caught.
 * Names in each directory are sorted in git tree order, so the slug does
 * not depend on the order the filesystem lists them in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/slug.h"
#include "slug_int.h"

/* Most names one directory may hold. */
#define SLUG_DIR_MAX_NAMES 1000000
/* File content is read in pieces of this size. */
#define SLUG_DIR_READ ((size_t)1 << 20)

struct slug_dir_name {
	char *name;
	struct stat st;
};

struct slug_dir_walk {
	struct slug_out *out;
	struct slug_ignore *ig;
	struct buf path;        /* relative path of the current entry */
	const struct stat *skip; /* our own output file, if it is inside */
	unsigned char *chunk;
	uint64_t ignored;
};

static int
slug_dir_name_cmp(const void *a, const void *b)
{
	const struct slug_dir_name *x = a, *y = b;

	return slug_name_cmp(x->name, S_ISDIR(x->st.st_mode), y->name,
	    S_ISDIR(y->st.st_mode));
}

static const char *
slug_dir_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "fifo";
	if (S_ISSOCK(mode))
		return "socket";
	if (S_ISCHR(mode))
		return "character device";
	if (S_ISBLK(mode))
		return "block device";
	return "special file";
}

/* The names in dirfd (lstat'ed, sorted).  Caller frees each and the array. */
static int
slug_dir_list(struct slug_dir_name **out, size_t *count, int dirfd,
    const char *where)
{
	struct slug_dir_name *names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if ((fd = dup(dirfd)) < 0)
		return err_sys("cannot read directory '%s'", where);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return err_sys("cannot read directory '%s'", where);
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno)
				rc = err_sys("cannot read directory '%s'",
				    where);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == SLUG_DIR_MAX_NAMES) {
			rc = err_set(ERR_TOOBIG, "directory '%s' has more than "
			    "%d entries", where, SLUG_DIR_MAX_NAMES);
			break;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		if (fstatat(dirfd, de->d_name, &names[n].st,
		    AT_SYMLINK_NOFOLLOW) < 0) {
			rc = err_sys("cannot stat '%s' in '%s'", de->d_name,
			    where);
			break;
		}
		names[n++].name = xstrdup(de->d_name);
	}
	closedir(d);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			free(names[i].name);
		free(names);
		return rc;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), slug_dir_name_cmp);
	*out = names;
	*count = n;
	return 0;
}

static int
slug_dir_file(struct slug_dir_walk *w, int dirfd, const char *name,
    const struct stat *lst)
{
	const char *rel = w->path.ptr;
	struct stat st;
	uint64_t left;
	ssize_t n;
	int fd, rc;

	/* O_NONBLOCK: if it became a fifo since the lstat, do not hang */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return err_sys("cannot open '%s'", rel);
	if (fstat(fd, &st) < 0) {
		rc = err_sys("cannot stat '%s'", rel);
		goto done;
	}
	if (!S_ISREG(st.st_mode) || st.st_ino != lst->st_ino ||
	    st.st_dev != lst->st_dev) {
		rc = err_set(ERR_CONFLICT, "'%s' changed while the slug was "
		    "made", rel);
		goto done;
	}
	if ((rc = slug_out_file(w->out, rel, (uint64_t)st.st_size,
	    (st.st_mode & S_IXUSR) != 0)) < 0)
		goto done;
	for (left = (uint64_t)st.st_size; left > 0; left -= (uint64_t)n) {
		size_t want = left < SLUG_DIR_READ ? (size_t)left :
		    SLUG_DIR_READ;
		n = read(fd, w->chunk, want);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n < 0) {
			rc = err_sys("cannot read '%s'", rel);
			goto done;
		}
		if (n == 0) {
			rc = err_set(ERR_CONFLICT, "'%s' shrank while the slug "
			    "was made", rel);
			goto done;
		}
		if ((rc = slug_out_data(w->out, w->chunk, (size_t)n)) < 0)
			goto done;
	}
	/* one more byte would mean it grew: the slug would lie about it */
	while ((n = read(fd, w->chunk, 1)) < 0 && errno == EINTR)
		;
	if (n > 0)
		rc = err_set(ERR_CONFLICT, "'%s' grew while the slug was made",
		    rel);
done:
	close(fd);
	return rc;
}

static int
slug_dir_symlink(struct slug_dir_walk *w, int dirfd, const char *name)
{
	char target[PATH_MAX];
	ssize_t n;

	n = readlinkat(dirfd, name, target, sizeof(target));
	if (n < 0)
		return err_sys("cannot read symlink '%s'", w->path.ptr);
	if ((size_t)n >= sizeof(target))
		return err_set(ERR_INVALID, "symlink '%s' has a target longer "
		    "than %d bytes", w->path.ptr, PATH_MAX - 1);
	target[n] = '\0';
	return slug_out_symlink(w->out, w->path.ptr, target);
}

static int
slug_dir_walk_dir(struct slug_dir_walk *w, int dirfd)
{
	struct slug_dir_name *names = NULL;
	size_t count = 0, base = w->path.len;
	int rc;

	if ((rc = slug_dir_list(&names, &count, dirfd,
	    base ? w->path.ptr : ".")) < 0)
		return rc;
	for (size_t i = 0; i < count && rc == 0; i++) {
		const char *name = names[i].name;
		const struct stat *st = &names[i].st;
		int sub;

		if (slug_name_is_excluded(name))
			continue;
		if (w->skip && st->st_ino == w->skip->st_ino &&
		    st->st_dev == w->skip->st_dev)
			continue;
		if ((base > 0 && buf_putc(&w->path, '/') < 0) ||
		    buf_puts(&w->path, name) < 0) {
			rc = err_set(ERR_INVALID, "a path in the directory is "
			    "longer than %zu bytes", w->path.max);
			break;
		}
		if (w->ig && slug_ignore_match_leaf(w->ig, w->path.ptr,
		    S_ISDIR(st->st_mode))) {
			w->ignored++;
		} else if (S_ISDIR(st->st_mode)) {
			sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				rc = err_sys("cannot open directory '%s'",
				    w->path.ptr);
			} else {
				if ((rc = slug_out_dir(w->out, w->path.ptr)) == 0)
					rc = slug_dir_walk_dir(w, sub);
				close(sub);
			}
		} else if (S_ISREG(st->st_mode)) {
			rc = slug_dir_file(w, dirfd, name, st);
		} else if (S_ISLNK(st->st_mode)) {
			rc = slug_dir_symlink(w, dirfd, name);
		} else {
			rc = err_set(ERR_UNSUPPORTED, "'%s' is a %s; only "
			    "files, directories and symlinks go into a slug",
			    w->path.ptr, slug_dir_kind(st->st_mode));
		}
		w->path.len = base;
		w->path.ptr[base] = '\0';
	}
	for (size_t i = 0; i < count; i++)
		free(names[i].name);
	free(names);
	return rc;
}

/* The root's .slugignore, when it is a regular file. */
static int
slug_dir_ignore(struct slug_ignore **out, int dirfd)
{
	char text[SLUG_SMALL_FILE_MAX + 1];
	size_t len = 0;
	struct stat st;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	fd = openat(dirfd, ".slugignore", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP ? 0 :
		    err_sys("cannot open .slugignore");
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	while (len < sizeof(text)) {
		n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys("cannot read .slugignore");
			close(fd);
			return rc;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > SLUG_SMALL_FILE_MAX)
		return err_set(ERR_TOOBIG, ".slugignore is larger than %d "
		    "bytes", SLUG_SMALL_FILE_MAX);
	if ((rc = slug_ignore_parse(out, text, len)) < 0)
		return err_wrap(rc, ".slugignore");
	return 0;
}

static int
slug_write_dir_skip(struct slug_info *out, const char *dir,
    const struct slug_opts *opts, slug_sink_fn sink, void *payload,
    const struct stat *skip)
{
	struct slug_opts defaults = SLUG_OPTS_INIT;
	struct slug_dir_walk w;
	struct slug_out o;
	struct slug_info info;
	int64_t mtime;
	int dirfd, rc;

	memset(&w, 0, sizeof(w));
	memset(&o, 0, sizeof(o));
	memset(&info, 0, sizeof(info));
	if (opts == NULL)
		opts = &defaults;
	mtime = opts->mtime >= 0 ? opts->mtime : SLUG_DIR_EPOCH;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys("cannot open directory '%s'", dir);
	buf_init(&w.path, PATH_MAX);
	w.out = &o;
	w.skip = skip;
	w.chunk = xmalloc(SLUG_DIR_READ);
	if (!opts->no_slugignore && (rc = slug_dir_ignore(&w.ig, dirfd)) < 0)
		goto done;
	if ((rc = slug_out_open(&o, opts, mtime, sink, payload)) < 0)
		goto done;
	if ((rc = slug_out_dir(&o, "")) < 0 ||
	    (rc = slug_dir_walk_dir(&w, dirfd)) < 0 ||
	    (rc = slug_out_finish(&o, &info)) < 0)
		goto done;
	info.ignored = w.ignored;
	if (out)
		*out = info;
done:
	slug_out_abort(&o);
	slug_ignore_free(w.ig);
	buf_free(&w.path);
	free(w.chunk);
	close(dirfd);
	return rc;
}

int
slug_write_dir(struct slug_info *out, const char *dir,
    const struct slug_opts *opts, slug_sink_fn sink, void *payload)
{
	return slug_write_dir_skip(out, dir, opts, sink, payload, NULL);
}

int
slug_create_dir_file(struct slug_info *out, const char *dir, const char *path,
    const struct slug_opts *opts)
{
	struct stat st;
	char *tmp = NULL;
	int fd, rc;

	if ((fd = fs_tmp_open(&tmp, path, 0644)) < 0)
		return fd;
	/* the slug may be written inside the directory it is made of */
	if (fstat(fd, &st) < 0) {
		rc = err_sys("cannot stat '%s'", tmp);
		fs_tmp_abort(fd, tmp);
		free(tmp);
		return rc;
	}
	rc = slug_write_dir_skip(out, dir, opts, slug_sink_fd, &fd, &st);
	if (rc < 0)
		fs_tmp_abort(fd, tmp);
	else
		rc = fs_tmp_commit(fd, tmp, path);
	free(tmp);
	return rc;
}
