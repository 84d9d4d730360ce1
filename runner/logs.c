/*
 * Per-app logs: one ring per app at <home>/logs/apps/<app>.log (the
 * format, writing and reading are lib/logring.c).
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
#include "slipway/logring.h"
#include "slipway/name.h"
#include "slipway/proc.h"

#define LOG_PUNCH_EVERY (1 << 20)

double
runner_now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The app's ring under home. */
static int
log_ring_write(const char *home, const char *app, const char *text,
    size_t len, uint64_t max)
{
	char *dir = xasprintf("%s/logs/apps", home);
	int rc = logring_append(dir, app, text, len, max);

	free(dir);
	return rc;
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

char *
runner_log_format(size_t *len, const char *source, const char *text,
    size_t textlen)
{
	struct buf b;

	buf_init(&b, 0);
	if (textlen > LOGRING_LINE_MAX)
		textlen = LOGRING_LINE_MAX;
	logring_line(&b, runner_now_wall(), source, text, textlen);
	return buf_detach(&b, len);
}

int
runner_log_append(const char *home, const char *app, const char *source,
    const char *text, size_t len, uint64_t max)
{
	struct buf b;
	int rc;

	buf_init(&b, LOGRING_LINE_MAX * 2);
	if (len > LOGRING_LINE_MAX)
		len = LOGRING_LINE_MAX;
	logring_line(&b, runner_now_wall(), source, text, len);
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
			size_t room = LOGRING_LINE_MAX - c->partial.len;
			size_t take = (size_t)(n - i);
			nl = memchr(chunk + i, '\n', take);
			if (nl)
				take = (size_t)(nl - (chunk + i));
			/* Past LOGRING_LINE_MAX a line is cut into pieces. */
			if (take > room)
				take = room;
			buf_put(&c->partial, chunk + i, take);
			i += (ssize_t)take;
			if (i < n && chunk[i] == '\n')
				i++;
			else if (c->partial.len < LOGRING_LINE_MAX)
				continue;
			logring_line(&out, now, c->process, c->partial.ptr,
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
		logring_line(&out, now, c->process, c->partial.ptr,
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

int
runner_logs_read(const char *home, const struct logring_query *q,
    logring_fn fn, void *ctx)
{
	char *dir = xasprintf("%s/logs/apps", home);
	int rc = logring_read(dir, q, fn, ctx);

	free(dir);
	return rc;
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
