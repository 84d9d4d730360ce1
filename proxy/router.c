/*
 * Router lines: for each request routed to an app, one line in Heroku's
 * router format for the app's own log (`slipway logs --source router`):
 *
 *   at=info method=GET path="/" host=shop.localhost request_id=R
 *   fwd="203.0.113.9" connect=0ms service=3ms status=200 bytes=1234
 *   protocol=http
 *
 * (at=error and error="..." for a request the proxy answered itself).
 * The proxy has no business with the apps' log files, which live where
 * its runner keeps them: it queues the lines, and the runner that sets
 * its routes takes them over the control socket ({"op":"router"},
 * control.c) and writes them with the app's other lines.  The queue is
 * capped; lines past the cap are counted and dropped, so a runner that
 * stops taking them never costs the proxy memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "slipway/buf.h"
#include "proxy_int.h"

/* What the queue holds at most: a few seconds of heavy traffic. */
#define ROUTER_QUEUE_MAX ((size_t)512 << 10)

/* Records "APP\tWALL\tTEXT\n"; text has no tab or newline. */
static struct buf router_q;
static bool router_q_init;
static unsigned long long router_dropped;

static long
router_ms(uint64_t from, uint64_t to)
{
	return from && to >= from ? (long)((to - from + 500000) / 1000000) :
	    -1;
}

/* s, with '"', '\\', tab and newline shown escaped (the line is one
 * field of a record, and a value in quotes). */
static void
router_put_quoted(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(b, '\\');
		if (*s == '\t' || *s == '\n' || *s == '\r')
			buf_putc(b, '?');
		else
			buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

void
proxy_router_note(const struct proxy_client *c)
{
	struct timespec ts;
	struct buf line;
	long conn, total;

	if (c->app[0] == '\0' || c->status == 0)
		return;
	if (!router_q_init) {
		buf_init(&router_q, ROUTER_QUEUE_MAX);
		router_q_init = true;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	conn = router_ms(c->t_start, c->t_up);
	total = router_ms(c->t_start, proxy_srv.now_ns);
	buf_init(&line, 0);
	buf_printf(&line, "%s\t%lld.%03ld\tat=%s method=%s path=", c->app,
	    (long long)ts.tv_sec, ts.tv_nsec / 1000000,
	    c->error ? "error" : "info", c->method[0] ? c->method : "-");
	router_put_quoted(&line, c->target[0] ? c->target : "-");
	buf_printf(&line, " host=%s request_id=%s fwd=\"%s\"",
	    c->host[0] ? c->host : "-", c->rid[0] ? c->rid : "-", c->ip);
	if (conn >= 0)
		buf_printf(&line, " connect=%ldms", conn);
	buf_printf(&line, " service=%ldms status=%d bytes=%llu protocol=http",
	    total < 0 ? 0 : total, c->status,
	    (unsigned long long)c->bytes_out);
	if (c->error)
		buf_printf(&line, " error=\"%s\"", c->error);
	buf_putc(&line, '\n');
	if (buf_put(&router_q, line.ptr, line.len) < 0)
		router_dropped++;
	buf_free(&line);
}

json_t *
proxy_router_take(void)
{
	json_t *lines = json_array();
	size_t off = 0;

	while (router_q_init && off < router_q.len) {
		const char *rec = router_q.ptr + off;
		const char *end = memchr(rec, '\n', router_q.len - off);
		const char *t1 = memchr(rec, '\t', (size_t)(end - rec));
		const char *t2 = t1 ? memchr(t1 + 1, '\t',
		    (size_t)(end - t1 - 1)) : NULL;

		if (t1 && t2)
			json_array_append_new(lines, json_pack("[s#,f,s#]", rec,
			    (int)(t1 - rec), strtod(t1 + 1, NULL), t2 + 1,
			    (int)(end - t2 - 1)));
		off = (size_t)(end - router_q.ptr) + 1;
	}
	if (router_q_init)
		buf_reset(&router_q);
	json_t *ans = json_pack("{s:o,s:I}", "lines", lines, "dropped",
	    (json_int_t)router_dropped);
	router_dropped = 0;
	return ans;
}

void
proxy_router_free(void)
{
	if (router_q_init)
		buf_free(&router_q);
	router_q_init = false;
}
