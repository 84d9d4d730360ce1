/*
 * The log ring (lib/logring.c): one file of lines per app,
 * <dir>/<app>.log, rotated to <app>.log.1 past a size cap, each line
 * "<UTC time with ms> <source>: <text>".  The runner writes its apps'
 * rings under <home>/logs/apps, the controller its copy of the runners'
 * lines under its own home; both read them with these functions.
 */
#ifndef SLIPWAY_LOGRING_H
#define SLIPWAY_LOGRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* The longest text of one line; longer output is cut into pieces. */
#define LOGRING_LINE_MAX 8192

/* Append one line "<UTC time of wall, with ms> <source>: <text>\n" to b,
 * control characters but tab shown as '?' so one line of output is one
 * line of log (a '\r' ending text is dropped).  text is not cut here. */
void logring_line(struct buf *b, double wall, const char *source,
    const char *text, size_t len);

/* Append text, whole lines already formatted, to the ring <dir>/<app>.log
 * (dir made if needed), rotating it to .log.1 once it reaches max bytes
 * (0: 8 MiB).  Writers take turns (flock), so a rotation never splits an
 * append.  ERR_INVALID for a bad app name. */
int logring_append(const char *dir, const char *app, const char *text,
    size_t len, uint64_t max);

/* Called with each line (without newline); a negative return stops the
 * reader (the client went away). */
typedef int (*logring_fn)(const char *line, size_t len, void *ctx);

/* Whose lines: every source; the proxy's router lines (source "router");
 * or the app's own output (neither router nor slipway's messages). */
enum logring_source {
	LOGRING_SOURCE_ALL = 0,
	LOGRING_SOURCE_ROUTER,
	LOGRING_SOURCE_APP,
};

struct logring_query {
	const char *app;
	size_t lines;            /* the last N lines; 0: 100; capped 10000 */
	const char *process;     /* "web" (every web.N) or "web.1"; NULL: all */
	enum logring_source source;
	bool follow;             /* then wait for more until *stop */
	atomic_int *stop;        /* may be NULL (then follow never ends) */
};

/* Hand the last q->lines matching lines of the ring <dir>/<app>.log to
 * fn, oldest first, then (follow) each new one as it is written, across
 * rotations.  An app with no log yet gives no lines (ERR_NOTFOUND only
 * without follow). */
int logring_read(const char *dir, const struct logring_query *q,
    logring_fn fn, void *ctx);

/* Where a reader of a ring stands: the file it read (inode, and birth
 * time in ns where the file system keeps one, since inodes are reused)
 * and the offset after the last whole line it took. */
struct logring_cursor {
	uint64_t ino;
	uint64_t gen;
	uint64_t off;
};

/* Read the ring <dir>/<app>.log without blocking, for readers that come
 * back later (the controller's `logs -f`, a long-poll).  With tail: the
 * last q->lines matching lines, and *cur set to the end of what was
 * read.  Otherwise: the matching lines written after *cur (ino 0: from
 * the start of whatever file is there), across a rotation, at most
 * q->lines of them (the rest is left for the next call).  *cur is moved
 * past what was read; *gap (may be NULL) is set when lines were lost
 * because the ring turned over twice since *cur.  q->follow and q->stop
 * are ignored.  An app with no log gives no lines.  A negative return
 * from fn ends the read early (not an error). */
int logring_since(struct logring_cursor *cur, bool *gap, const char *dir,
    const struct logring_query *q, bool tail, logring_fn fn, void *ctx);

#endif
