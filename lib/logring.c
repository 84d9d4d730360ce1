/*
 * The log ring: one file per app, <dir>/<app>.log, rotated to
 * <app>.log.1 past a size cap (so an app keeps between one and two caps
 * of history), lines like
 *
 *   2026-11-22T12:00:00.123Z web.1: GET / 200
 *   2026-11-22T12:00:01.000Z slipway[web.1]: state changed from up to down
 *
 * Written by the runner (<home>/logs/apps) and by the controller (its
 * copy of the runners' lines); read by both.  See
 * include/slipway/logring.h.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/logring.h"
#include "slipway/name.h"
#include "slipway/proc.h"

#define LOGRING_MAX_DEFAULT (8ULL << 20)
#define LOGRING_LINES_MAX 10000
#define LOGRING_FOLLOW_MS 200

/* UTC "2026-11-22T12:00:00.123Z" into out (at least 32 bytes). */
static void
logring_time_format(char *out, size_t len, double wall)
{
	time_t sec = (time_t)wall;
	double frac = (wall - (double)sec) * 1000;
	unsigned ms = frac < 0 ? 0 : frac > 999 ? 999 : (unsigned)frac;
	struct tm tm;
	size_t n;

	gmtime_r(&sec, &tm);
	n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03uZ", ms);
}

void
logring_line(struct buf *b, double wall, const char *source, const char *text,
    size_t len)
{
	char ts[40];

	logring_time_format(ts, sizeof(ts), wall);
	buf_printf(b, "%s %s: ", ts, source);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\r' && i + 1 == len)
			break;
		buf_putc(b, (c < 0x20 && c != '\t') || c == 0x7f ? '?' :
		    (char)c);
	}
	buf_putc(b, '\n');
}

int
logring_append(const char *dir, const char *app, const char *text,
    size_t len, uint64_t max)
{
	char *path = NULL, *old = NULL;
	struct stat st;
	int fd = -1, rc = 0;

	if (!name_app_is_valid(app))
		return err_set(ERR_INVALID, "'%s' is not an app name",
		    app ? app : "");
	if (max == 0)
		max = LOGRING_MAX_DEFAULT;
	path = xasprintf("%s/%s.log", dir, app);
	if ((rc = fs_mkdir_p(dir, 0750)) < 0)
		goto done;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0640)) < 0) {
		rc = err_sys("cannot open '%s'", path);
		goto done;
	}
	/* One writer at a time, so a rotation never splits an append. */
	flock(fd, LOCK_EX);
	if ((rc = proc_write_all(fd, text, len)) < 0)
		goto done;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size >= max) {
		old = xasprintf("%s.1", path);
		if (rename(path, old) < 0)
			rc = err_sys("cannot rotate '%s'", path);
	}
done:
	if (fd >= 0)
		close(fd);	/* drops the lock */
	free(old);
	free(path);
	return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Does the line's source ("web.1", "slipway[web.1]", "router") match
 * process, a type ("web": every web.N) or a process ("web.1"), NULL or ""
 * for all? */
static bool
log_process_matches(const char *src, size_t n, const char *process)
{
	size_t fl;

	if (process == NULL || process[0] == '\0')
		return true;
	if (n > 9 && strncmp(src, "slipway[", 8) == 0 && src[n - 1] == ']') {
		src += 8;
		n -= 9;
	}
	fl = strlen(process);
	if (n == fl && strncmp(src, process, n) == 0)
		return true;
	/* "web" matches every web.N */
	return strchr(process, '.') == NULL && n > fl + 1 &&
	    strncmp(src, process, fl) == 0 && src[fl] == '.';
}

/* Does the line's source match the query's process and source? */
static bool
log_line_matches(const char *line, const struct logring_query *q)
{
	const char *sp, *end, *src;
	bool router, platform;
	size_t n;

	if ((q->process == NULL || q->process[0] == '\0') &&
	    q->source == LOGRING_SOURCE_ALL)
		return true;
	if ((sp = strchr(line, ' ')) == NULL ||
	    (end = strstr(sp + 1, ": ")) == NULL)
		return false;
	src = sp + 1;
	n = (size_t)(end - src);
	router = n == 6 && strncmp(src, "router", 6) == 0;
	platform = n >= 7 && strncmp(src, "slipway", 7) == 0 &&
	    (n == 7 || src[7] == '[');
	if (q->source == LOGRING_SOURCE_ROUTER && !router)
		return false;
	if (q->source == LOGRING_SOURCE_APP && (router || platform))
		return false;
	return log_process_matches(src, n, q->process);
}

struct logring_lines {
	char **lines;
	size_t cap, start, count;
};

static void
ring_push(struct logring_lines *r, const char *line)
{
	size_t i = (r->start + r->count) % r->cap;

	if (r->count == r->cap) {
		free(r->lines[r->start]);
		r->lines[r->start] = xstrdup(line);
		r->start = (r->start + 1) % r->cap;
		return;
	}
	r->lines[i] = xstrdup(line);
	r->count++;
}

/* Read the complete lines of f from where it stands; a last line without
 * newline is left for later (the writer may be in the middle of it). */
static int
log_scan(FILE *f, const struct logring_query *q, struct logring_lines *ring,
    logring_fn fn, void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	for (;;) {
		long pos = ftell(f);
		if ((n = getline(&line, &cap, f)) < 0)
			break;
		if (line[n - 1] != '\n') {
			fseek(f, pos, SEEK_SET);
			break;
		}
		line[--n] = '\0';
		if (!log_line_matches(line, q))
			continue;
		if (ring)
			ring_push(ring, line);
		else if (fn(line, (size_t)n, ctx) < 0) {
			rc = -1;
			break;
		}
	}
	clearerr(f);
	free(line);
	return rc;
}

int
logring_read(const char *dir, const struct logring_query *q, logring_fn fn,
    void *ctx)
{
	struct logring_lines ring = { 0 };
	char *path = NULL, *old = NULL;
	FILE *f = NULL, *o = NULL;
	struct stat st, cur;
	int rc = 0;

	if (!name_app_is_valid(q->app))
		return err_set(ERR_INVALID, "'%s' is not an app name",
		    q->app ? q->app : "");
	ring.cap = q->lines ? q->lines : 100;
	if (ring.cap > LOGRING_LINES_MAX)
		ring.cap = LOGRING_LINES_MAX;
	ring.lines = xcalloc(ring.cap, sizeof(*ring.lines));
	path = xasprintf("%s/%s.log", dir, q->app);
	old = xasprintf("%s.1", path);
	if ((o = fopen(old, "re")) != NULL) {
		log_scan(o, q, &ring, NULL, NULL);
		fclose(o);
	}
	f = fopen(path, "re");
	if (f)
		log_scan(f, q, &ring, NULL, NULL);
	else if (!q->follow && ring.count == 0) {
		rc = err_set(ERR_NOTFOUND, "app '%s' has no logs yet", q->app);
		goto done;
	}
	for (size_t i = 0; i < ring.count; i++) {
		const char *l = ring.lines[(ring.start + i) % ring.cap];
		if (fn(l, strlen(l), ctx) < 0)
			goto done;
	}
	while (q->follow && !(q->stop && *q->stop)) {
		poll(NULL, 0, LOGRING_FOLLOW_MS);
		if (f && log_scan(f, q, NULL, fn, ctx) < 0)
			break;
		/* Rotated (or made): finish the old file, then the new one
		 * from its start. */
		if (stat(path, &st) == 0 && (f == NULL ||
		    (fstat(fileno(f), &cur) == 0 && cur.st_ino != st.st_ino))) {
			if (f) {
				if (log_scan(f, q, NULL, fn, ctx) < 0)
					break;
				fclose(f);
			}
			if ((f = fopen(path, "re")) != NULL &&
			    log_scan(f, q, NULL, fn, ctx) < 0)
				break;
		}
	}
done:
	if (f)
		fclose(f);
	for (size_t i = 0; i < ring.cap; i++)
		free(ring.lines[i]);
	free(ring.lines);
	free(path);
	free(old);
	return rc;
}

/* ---- reading from a cursor ------------------------------------------- */

/* Hand the matching whole lines of f from off on to fn, at most *left of
 * them; *off is moved past every whole line consumed (matching or not). */
static int
log_scan_from(FILE *f, uint64_t *off, const struct logring_query *q,
    size_t *left,
    logring_fn fn, void *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	if (fseeko(f, (off_t)*off, SEEK_SET) < 0) {
		free(line);
		return err_sys("cannot seek in a log");
	}
	while (*left > 0 && (n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break;  /* the writer is in the middle of it */
		*off += (uint64_t)n;
		line[--n] = '\0';
		if (!log_line_matches(line, q))
			continue;
		(*left)--;
		if (fn(line, (size_t)n, ctx) < 0) {
			rc = -1;
			break;
		}
	}
	clearerr(f);
	free(line);
	return rc;
}

/* Which file f is: inode, birth time (0 when unknown), size. */
struct log_file_id {
	uint64_t ino, gen, size;
};

static int
log_file_id(struct log_file_id *out, FILE *f)
{
	struct statx sx;

	if (statx(fileno(f), "", AT_EMPTY_PATH, STATX_INO | STATX_SIZE |
	    STATX_BTIME, &sx) < 0)
		return err_sys("cannot stat a log");
	out->ino = sx.stx_ino;
	out->size = sx.stx_size;
	out->gen = (sx.stx_mask & STATX_BTIME) ? (uint64_t)sx.stx_btime.tv_sec *
	    1000000000ULL + sx.stx_btime.tv_nsec : 0;
	return 0;
}

/* Is the cursor in this file?  A reused inode has another birth time,
 * or (where there is none) may be shorter than the offset. */
static bool
log_cursor_in(const struct logring_cursor *cur,
    const struct log_file_id *id)
{
	return cur->ino == id->ino && (cur->gen == 0 || id->gen == 0 ||
	    cur->gen == id->gen) && cur->off <= id->size;
}

int
logring_since(struct logring_cursor *cur, bool *gap, const char *dir,
    const struct logring_query *q, bool tail, logring_fn fn, void *ctx)
{
	char *path = NULL, *old = NULL;
	FILE *f = NULL, *o = NULL;
	struct log_file_id st, ost;
	size_t left;
	int rc = 0;

	if (gap)
		*gap = false;
	if (!name_app_is_valid(q->app))
		return err_set(ERR_INVALID, "'%s' is not an app name",
		    q->app ? q->app : "");
	left = q->lines ? q->lines : 100;
	if (left > LOGRING_LINES_MAX)
		left = LOGRING_LINES_MAX;
	path = xasprintf("%s/%s.log", dir, q->app);
	old = xasprintf("%s.1", path);
	/* Open both before looking at either, so a rotation in between
	 * shows as an inode that moved, not as lost lines. */
	f = fopen(path, "re");
	o = fopen(old, "re");
	if ((f && (rc = log_file_id(&st, f)) < 0) ||
	    (o && (rc = log_file_id(&ost, o)) < 0))
		goto done;
	if (tail) {
		struct logring_lines ring = { .cap = left };

		ring.lines = xcalloc(ring.cap, sizeof(*ring.lines));
		if (o)
			log_scan(o, q, &ring, NULL, NULL);
		cur->ino = cur->gen = cur->off = 0;
		if (f) {
			log_scan(f, q, &ring, NULL, NULL);
			cur->ino = st.ino;
			cur->gen = st.gen;
			cur->off = (uint64_t)ftello(f);
		}
		for (size_t i = 0; i < ring.count && rc == 0; i++) {
			const char *l = ring.lines[(ring.start + i) % ring.cap];
			if (fn(l, strlen(l), ctx) < 0)
				rc = -1;
		}
		for (size_t i = 0; i < ring.cap; i++)
			free(ring.lines[i]);
		free(ring.lines);
		goto done;
	}
	if (cur->ino != 0 && !(f && log_cursor_in(cur, &st))) {
		/* Rotated since: finish the old file, then the new one. */
		if (o && log_cursor_in(cur, &ost)) {
			if ((rc = log_scan_from(o, &cur->off, q, &left,
			    fn, ctx)) < 0 || left == 0)
				goto done;
			/* the old file is done only when nothing is left */
			if (cur->off < ost.size)
				goto done;
		} else if (gap) {
			*gap = true;
		}
		cur->ino = cur->gen = cur->off = 0;
	}
	if (f == NULL)
		goto done;
	cur->ino = st.ino;
	cur->gen = st.gen;
	rc = log_scan_from(f, &cur->off, q, &left, fn, ctx);
done:
	if (f)
		fclose(f);
	if (o)
		fclose(o);
	free(path);
	free(old);
	return rc < 0 && rc != -1 ? rc : 0;
}
