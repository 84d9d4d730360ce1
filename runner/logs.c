/*
 * Per-app logs: one ring per app at <home>/logs/apps/<app>.log, rotated to
 * <app>.log.1 past a size cap (so an app keeps between one and two caps of
 * history), lines like
 *
 *   2026-11-22T12:00:00.123Z web.1: GET / 200
 *   2026-11-22T12:00:01.000Z slipway[web.1]: state changed from up to down
 *
 * A container's stdout and stderr go to one file in its bundle, opened
 * O_APPEND (containers/<id>/output); the supervisor tails it, stamps each
 * line with the time it read it and appends it here, then punches the
 * consumed part out of the file.  A file rather than a pipe so that a
 * container outlives a runner restart without losing a line or dying of
 * SIGPIPE: the next runner resumes at the offset in the state file.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/name.h"
#include "slipway/proc.h"

#define LOG_MAX_DEFAULT (8ULL << 20)
#define LOG_LINE_MAX 8192
#define LOG_LINES_MAX 10000
#define LOG_PUNCH_EVERY (1 << 20)
#define LOG_FOLLOW_MS 200

double
runner_now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
runner_time_format(char *out, size_t len, double wall)
{
	time_t sec = (time_t)wall;
	int ms = (int)((wall - (double)sec) * 1000);
	struct tm tm;

	if (ms > 999)
		ms = 999;
	gmtime_r(&sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
}

/* Append text (whole lines) to <dir>/<app>.log, rotating after. */
static int
log_ring_write_dir(const char *dir, const char *app, const char *text,
    size_t len, uint64_t max)
{
	char *path = NULL, *old = NULL;
	struct stat st;
	int fd = -1, rc = 0;

	if (!name_app_is_valid(app))
		return err_set(ERR_INVALID, "'%s' is not an app name",
		    app ? app : "");
	if (max == 0)
		max = LOG_MAX_DEFAULT;
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

/* The app's ring under home. */
static int
log_ring_write(const char *home, const char *app, const char *text,
    size_t len, uint64_t max)
{
	char *dir = xasprintf("%s/logs/apps", home);
	int rc = log_ring_write_dir(dir, app, text, len, max);

	free(dir);
	return rc;
}

int
runner_log_ring_append(const char *dir, const char *app, const char *text,
    size_t len, uint64_t max)
{
	return log_ring_write_dir(dir, app, text, len, max);
}

/* A runner's write to the app's ring, shown to its log hook too (with
 * r->logmu held). */
static int
ctr_log_write(struct runner *r, const char *app, const char *text,
    size_t len)
{
	int rc = log_ring_write(r->home, app, text, len, r->log_max);

	if (r->on_log)
		r->on_log(app, text, len, r->ctx);
	return rc;
}

/* "TS SOURCE: " + text + "\n", control characters but tab shown as '?'
 * so one line of output is one line of log. */
static void
log_format(struct buf *b, double wall, const char *source, const char *text,
    size_t len)
{
	char ts[40];

	runner_time_format(ts, sizeof(ts), wall);
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

char *
runner_log_format(size_t *len, const char *source, const char *text,
    size_t textlen)
{
	struct buf b;

	buf_init(&b, 0);
	if (textlen > LOG_LINE_MAX)
		textlen = LOG_LINE_MAX;
	log_format(&b, runner_now_wall(), source, text, textlen);
	return buf_detach(&b, len);
}

int
runner_log_append(const char *home, const char *app, const char *source,
    const char *text, size_t len, uint64_t max)
{
	struct buf b;
	int rc;

	buf_init(&b, LOG_LINE_MAX * 2);
	if (len > LOG_LINE_MAX)
		len = LOG_LINE_MAX;
	log_format(&b, runner_now_wall(), source, text, len);
	rc = log_ring_write(home, app, b.ptr, b.len, max);
	buf_free(&b);
	return rc;
}

void
runner_ctr_say(struct runner *r, struct runner_ctr *c, const char *fmt, ...)
{
	char msg[1024], *src, *line;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	src = xasprintf("slipway[%s]", c->process);
	line = runner_log_format(&n, src, msg, strlen(msg));
	pthread_mutex_lock(&r->logmu);
	if (ctr_log_write(r, c->app, line, n) < 0)
		log_warnx("runner: %s", err_last());
	pthread_mutex_unlock(&r->logmu);
	free(line);
	free(src);
}

void
runner_ctr_tail(struct runner *r, struct runner_ctr *c, bool eof)
{
	char chunk[65536], *nl;
	struct buf out;
	double now = runner_now_wall();
	ssize_t n;

	pthread_mutex_lock(&r->logmu);
	if (c->out_fd < 0)
		goto done;
	buf_init(&out, 0);
	while ((n = pread(c->out_fd, chunk, sizeof(chunk),
	    (off_t)c->out_off)) > 0) {
		c->out_off += (uint64_t)n;
		for (ssize_t i = 0; i < n; ) {
			size_t room = LOG_LINE_MAX - c->partial.len;
			size_t take = (size_t)(n - i);
			nl = memchr(chunk + i, '\n', take);
			if (nl)
				take = (size_t)(nl - (chunk + i));
			/* Past LOG_LINE_MAX a line is cut into pieces. */
			if (take > room)
				take = room;
			buf_put(&c->partial, chunk + i, take);
			i += (ssize_t)take;
			if (i < n && chunk[i] == '\n')
				i++;
			else if (c->partial.len < LOG_LINE_MAX)
				continue;
			log_format(&out, now, c->process, c->partial.ptr,
			    c->partial.len);
			buf_reset(&c->partial);
		}
		/* Keep each append to the ring below a few MiB. */
		if (out.len > (4 << 20)) {
			ctr_log_write(r, c->app, out.ptr, out.len);
			buf_reset(&out);
		}
	}
	if (eof && c->partial.len) {
		log_format(&out, now, c->process, c->partial.ptr,
		    c->partial.len);
		buf_reset(&c->partial);
	}
	if (out.len && ctr_log_write(r, c->app, out.ptr, out.len) < 0)
		log_warnx("runner: %s", err_last());
	buf_free(&out);
	/* What was read is not needed on disk any more: free its blocks
	 * (the file's size and our offsets stay). */
	if (c->out_off >= LOG_PUNCH_EVERY) {
		off_t upto = (off_t)(c->out_off & ~(uint64_t)4095);
		(void)fallocate(c->out_fd, FALLOC_FL_PUNCH_HOLE |
		    FALLOC_FL_KEEP_SIZE, 0, upto);
	}
done:
	pthread_mutex_unlock(&r->logmu);
}

/* ---- reading --------------------------------------------------------- */

/* Does the line's source ("web.1" or "slipway[web.1]") match filter? */
static bool
log_line_matches(const char *line, const char *filter)
{
	const char *sp, *end, *src;
	size_t n, fl;

	if (filter == NULL || filter[0] == '\0')
		return true;
	if ((sp = strchr(line, ' ')) == NULL ||
	    (end = strstr(sp + 1, ": ")) == NULL)
		return false;
	src = sp + 1;
	n = (size_t)(end - src);
	if (n > 9 && strncmp(src, "slipway[", 8) == 0 && src[n - 1] == ']') {
		src += 8;
		n -= 9;
	}
	fl = strlen(filter);
	if (n == fl && strncmp(src, filter, n) == 0)
		return true;
	/* "web" matches every web.N */
	return strchr(filter, '.') == NULL && n > fl + 1 &&
	    strncmp(src, filter, fl) == 0 && src[fl] == '.';
}

struct log_ring {
	char **lines;
	size_t cap, start, count;
};

static void
ring_push(struct log_ring *r, const char *line)
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
log_scan(FILE *f, const char *filter, struct log_ring *ring,
    runner_log_fn fn, void *ctx)
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
		if (!log_line_matches(line, filter))
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
runner_logs_read(const char *home, const struct runner_log_query *q,
    runner_log_fn fn, void *ctx)
{
	struct log_ring ring = { 0 };
	char *path = NULL, *old = NULL;
	FILE *f = NULL, *o = NULL;
	struct stat st, cur;
	int rc = 0;

	if (!name_app_is_valid(q->app))
		return err_set(ERR_INVALID, "'%s' is not an app name",
		    q->app ? q->app : "");
	ring.cap = q->lines ? q->lines : 100;
	if (ring.cap > LOG_LINES_MAX)
		ring.cap = LOG_LINES_MAX;
	ring.lines = xcalloc(ring.cap, sizeof(*ring.lines));
	path = xasprintf("%s/logs/apps/%s.log", home, q->app);
	old = xasprintf("%s.1", path);
	if ((o = fopen(old, "re")) != NULL) {
		log_scan(o, q->process, &ring, NULL, NULL);
		fclose(o);
	}
	f = fopen(path, "re");
	if (f)
		log_scan(f, q->process, &ring, NULL, NULL);
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
		poll(NULL, 0, LOG_FOLLOW_MS);
		if (f && log_scan(f, q->process, NULL, fn, ctx) < 0)
			break;
		/* Rotated (or made): finish the old file, then the new one
		 * from its start. */
		if (stat(path, &st) == 0 && (f == NULL ||
		    (fstat(fileno(f), &cur) == 0 && cur.st_ino != st.st_ino))) {
			if (f) {
				if (log_scan(f, q->process, NULL, fn, ctx) < 0)
					break;
				fclose(f);
			}
			if ((f = fopen(path, "re")) != NULL &&
			    log_scan(f, q->process, NULL, fn, ctx) < 0)
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
log_scan_from(FILE *f, uint64_t *off, const char *filter, size_t *left,
    runner_log_fn fn, void *ctx)
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
		if (!log_line_matches(line, filter))
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
log_cursor_in(const struct runner_log_cursor *cur,
    const struct log_file_id *id)
{
	return cur->ino == id->ino && (cur->gen == 0 || id->gen == 0 ||
	    cur->gen == id->gen) && cur->off <= id->size;
}

int
runner_logs_since(struct runner_log_cursor *cur, bool *gap, const char *dir,
    const struct runner_log_query *q, bool tail, runner_log_fn fn, void *ctx)
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
	if (left > LOG_LINES_MAX)
		left = LOG_LINES_MAX;
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
		struct log_ring ring = { .cap = left };

		ring.lines = xcalloc(ring.cap, sizeof(*ring.lines));
		if (o)
			log_scan(o, q->process, &ring, NULL, NULL);
		cur->ino = cur->gen = cur->off = 0;
		if (f) {
			log_scan(f, q->process, &ring, NULL, NULL);
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
			if ((rc = log_scan_from(o, &cur->off, q->process, &left,
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
	rc = log_scan_from(f, &cur->off, q->process, &left, fn, ctx);
done:
	if (f)
		fclose(f);
	if (o)
		fclose(o);
	free(path);
	free(old);
	return rc < 0 && rc != -1 ? rc : 0;
}

/* ---- the last words of one container --------------------------------- */

int
runner_container_last_line(char *out, size_t len, struct runner *r,
    const char *id)
{
	struct runner_ctr *c;
	char *path = NULL, buf[8192];
	struct stat st;
	ssize_t n;
	size_t end, start;
	int fd, rc = 0;

	if (len == 0)
		return ERR_INVALID;
	out[0] = '\0';
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->nctrs && !path; i++) {
		c = r->ctrs[i];
		if (strcmp(c->id, id) == 0)
			path = xasprintf("%s/output", c->dir);
	}
	pthread_mutex_unlock(&r->mu);
	if (path == NULL)
		return err_set(ERR_NOTFOUND, "no container '%s'", id);
	/* The file the process writes: the core punches out what it has
	 * copied to the log only past a MiB, so the end is still there. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 && errno == ENOENT)
		goto done;      /* never started: no words yet */
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = err_sys("cannot read '%s'", path);
		goto done;
	}
	start = st.st_size > (off_t)sizeof(buf) ? (size_t)(st.st_size -
	    (off_t)sizeof(buf)) : 0;
	if ((n = pread(fd, buf, sizeof(buf), (off_t)start)) <= 0)
		goto done;
	end = (size_t)n;
	while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
		end--;
	start = end;
	/* a hole reads as NULs: the line starts after one too */
	while (start > 0 && buf[start - 1] != '\n' && buf[start - 1] != '\0')
		start--;
	if (end - start >= len)
		start = end - (len - 1);
	for (size_t i = start; i < end; i++) {
		unsigned char ch = (unsigned char)buf[i];
		out[i - start] = (ch < 0x20 && ch != '\t') || ch == 0x7f ? '?' :
		    (char)ch;
	}
	out[end - start] = '\0';
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}
