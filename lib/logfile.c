/*
 * A log file rotated by size; see include/slipway/logfile.h.
 *
 * Every name is opened relative to one directory fd, so a rotation
 * renames within the directory that was checked, whatever happens to
 * the path meanwhile.  The rotation order is chosen for a crash between
 * any two steps: each rename moves one whole file one step older, so a
 * kill -9 leaves at worst a gap in the numbers (NAME.2 missing) or no
 * NAME yet, and the next open or rotation carries on from there.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/logfile.h"

/* How often to look whether NAME is still our file and, while writing
 * fails, to try again. */
#define LOGFILE_CHECK_SEC 1.0

/* fd >= 0: lines go to it, size is its length, check_at is when to
 * look at NAME again.  fd < 0: writing failed (failing is set), lines
 * are dropped and counted in lost, check_at is the next reopen. */
struct logfile {
	char *dir, *name, *path;
	unsigned long long max, size, lost;
	unsigned keep;
	int dirfd, fd;
	double check_at;
	bool failing;
	bool partial;           /* the file ends inside a line */
};

/* NAME.k into out (name is at most NAME_MAX, checked at open). */
static void
logfile_numbered(char *out, size_t outsz, const char *name, unsigned k)
{
	snprintf(out, outsz, "%s.%u", name, k);
}

static void
logfile_close(struct logfile *lf)
{
	if (lf->fd >= 0)
		close(lf->fd);
	if (lf->dirfd >= 0)
		close(lf->dirfd);
	lf->fd = lf->dirfd = -1;
}

/* Files numbered past keep, left by a run that kept more: removed, so
 * that keep + 1 files is the most there ever are. */
static void
logfile_prune(struct logfile *lf)
{
	char old[NAME_MAX + 16];

	for (unsigned k = lf->keep + 1; ; k++) {
		logfile_numbered(old, sizeof(old), lf->name, k);
		if (unlinkat(lf->dirfd, old, 0) < 0)
			break;
	}
}

/* Open NAME in the directory: appending, never through a symlink, a
 * regular file only (O_NONBLOCK so that a fifo put there cannot hang
 * the writer).  Read as well as written, for its last byte. */
static int
logfile_open_file(struct logfile *lf)
{
	struct stat st;
	char last;
	int rc = 0;

	lf->fd = openat(lf->dirfd, lf->name, O_RDWR | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
	if (lf->fd < 0 && errno == ELOOP)
		rc = err_set(ERR_INVALID, "'%s' is a symlink, not a log file",
		    lf->path);
	else if (lf->fd < 0 && errno == ENXIO)  /* a fifo or a socket */
		rc = err_set(ERR_INVALID, "'%s' is not a regular file",
		    lf->path);
	else if (lf->fd < 0)
		rc = err_sys("cannot open '%s'", lf->path);
	else if (fstat(lf->fd, &st) < 0)
		rc = err_sys("cannot stat '%s'", lf->path);
	else if (!S_ISREG(st.st_mode))
		rc = err_set(ERR_INVALID, "'%s' is not a regular file",
		    lf->path);
	if (rc < 0) {
		if (lf->fd >= 0)
			close(lf->fd);
		lf->fd = -1;
		return rc;
	}
	fcntl(lf->fd, F_SETFL, O_APPEND);
	lf->size = (unsigned long long)st.st_size;
	/* A file that ends inside a line (a write cut short, here or by a
	 * writer killed before us): the next line must not be glued to it. */
	lf->partial = st.st_size > 0 && (pread(lf->fd, &last, 1,
	    st.st_size - 1) != 1 || last != '\n');
	return 0;
}

/* (Re)open the directory by its path (it may have been removed and made
 * again since), then NAME in it. */
static int
logfile_reopen(struct logfile *lf)
{
	int rc;

	logfile_close(lf);
	if ((rc = fs_mkdir_p(lf->dir, 0750)) < 0)
		return rc;
	lf->dirfd = open(lf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lf->dirfd < 0)
		return err_sys("cannot open the directory '%s'", lf->dir);
	if ((rc = logfile_open_file(lf)) < 0) {
		logfile_close(lf);
		return rc;
	}
	logfile_prune(lf);
	return 0;
}

/* Is NAME still the file we write?  Not when someone moved or removed
 * it (or the directory). */
static bool
logfile_is_ours(const struct logfile *lf)
{
	struct stat a, b;

	return fstatat(lf->dirfd, lf->name, &a, AT_SYMLINK_NOFOLLOW) == 0 &&
	    fstat(lf->fd, &b) == 0 && a.st_ino == b.st_ino &&
	    a.st_dev == b.st_dev;
}

/* NAME.(keep-1) -> NAME.keep ... NAME -> NAME.1, then a fresh NAME.
 * Each rename over an older file drops it; a missing number is skipped. */
static int
logfile_rotate(struct logfile *lf)
{
	char from[NAME_MAX + 16], to[NAME_MAX + 16];

	if (lf->keep == 0 && unlinkat(lf->dirfd, lf->name, 0) < 0 &&
	    errno != ENOENT)
		return err_sys("cannot remove '%s'", lf->path);
	for (unsigned k = lf->keep; k >= 2; k--) {
		logfile_numbered(from, sizeof(from), lf->name, k - 1);
		logfile_numbered(to, sizeof(to), lf->name, k);
		if (renameat(lf->dirfd, from, lf->dirfd, to) < 0 &&
		    errno != ENOENT)
			return err_sys("cannot rename '%s/%s'", lf->dir, from);
	}
	logfile_numbered(to, sizeof(to), lf->name, 1);
	if (lf->keep > 0 &&
	    renameat(lf->dirfd, lf->name, lf->dirfd, to) < 0 && errno != ENOENT)
		return err_sys("cannot rename '%s'", lf->path);
	close(lf->fd);
	lf->fd = -1;
	return logfile_open_file(lf);
}

/* Every byte, or an error; a write cut short leaves partial set. */
static int
logfile_put(struct logfile *lf, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(lf->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return err_sys("cannot write '%s'", lf->path);
		}
		lf->partial = true;
		lf->size += (unsigned long long)w;
		p += w;
		n -= (size_t)w;
	}
	lf->partial = false;
	return 0;
}

/* A line that could not be written: said once on stderr, then counted. */
static int
logfile_fail(struct logfile *lf, int rc)
{
	if (!lf->failing)
		log_print_line(stderr, "%s; log lines are dropped until it "
		    "can be written again", err_last());
	lf->failing = true;
	lf->lost++;
	if (lf->fd >= 0) {
		close(lf->fd);
		lf->fd = -1;
	}
	lf->check_at = clock_mono() + LOGFILE_CHECK_SEC;
	return rc;
}

int
logfile_write(struct logfile *lf, const char *line, size_t n)
{
	double now = clock_mono();
	int rc;

	if (now >= lf->check_at) {
		lf->check_at = now + LOGFILE_CHECK_SEC;
		if ((lf->fd < 0 || !logfile_is_ours(lf)) &&
		    (rc = logfile_reopen(lf)) < 0)
			return logfile_fail(lf, rc);
	} else if (lf->fd < 0) {
		lf->lost++;
		return ERR_IO;
	}
	/* (the newline that ends a cut line counts: the cap holds) */
	if (lf->size > 0 && lf->size + lf->partial + n > lf->max &&
	    (rc = logfile_rotate(lf)) < 0)
		return logfile_fail(lf, rc);
	/* The end of a line cut short is lost with it; the next line starts
	 * a line of its own. */
	if ((lf->partial && (rc = logfile_put(lf, "\n", 1)) < 0) ||
	    (rc = logfile_put(lf, line, n)) < 0)
		return logfile_fail(lf, rc);
	if (lf->failing) {
		log_print_line(stderr, "'%s' is written again; %llu log lines "
		    "were dropped", lf->path, lf->lost);
		lf->failing = false;
		lf->lost = 0;
	}
	return 0;
}

int
logfile_open(struct logfile **out, const char *dir, const char *name,
    unsigned long long max_bytes, unsigned keep)
{
	struct logfile *lf;
	int rc;

	if (*name == '\0' || strchr(name, '/') || strlen(name) > NAME_MAX - 12)
		return err_set(ERR_INVALID, "'%s' is not a log file name",
		    name);
	if (max_bytes == 0)
		return err_set(ERR_INVALID, "a log file needs a size cap");
	lf = xcalloc(1, sizeof(*lf));
	lf->dir = xstrdup(dir);
	lf->name = xstrdup(name);
	lf->path = fs_join(dir, name);
	lf->max = max_bytes;
	lf->keep = keep;
	lf->fd = lf->dirfd = -1;
	if ((rc = logfile_reopen(lf)) < 0) {
		logfile_free(lf);
		return rc;
	}
	lf->check_at = clock_mono() + LOGFILE_CHECK_SEC;
	*out = lf;
	return 0;
}

const char *
logfile_path(const struct logfile *lf)
{
	return lf->path;
}

void
logfile_free(struct logfile *lf)
{
	if (lf == NULL)
		return;
	logfile_close(lf);
	free(lf->dir);
	free(lf->name);
	free(lf->path);
	free(lf);
}
