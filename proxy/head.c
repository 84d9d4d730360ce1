/*
 * What the proxy writes: the request head sent upstream, the response head
 * sent to the client, its own answers (404/5xx pages that say which and
 * why) and the access log line.  Which fields are dropped is the table
 * proxy_drop_rules below.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "slipway/buf.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

const char *
proxy_status_text(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 421: return "Misdirected Request";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

static uint64_t
proxy_mix(uint64_t x)
{
	/* splitmix64: request ids look random, cost nothing, never repeat
	 * within a run (a bijection of the counter). */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void
proxy_rid_make(char *out)
{
	uint64_t n = proxy_srv.rid_count++;

	snprintf(out, PROXY_RID_MAX + 1, "%016llx%016llx",
	    (unsigned long long)proxy_mix(proxy_srv.rid_seed ^ n),
	    (unsigned long long)proxy_mix(n + 1));
}

/* A client's X-Request-Id is kept when it is short and plain. */
bool
proxy_rid_valid(struct proxy_str s)
{
	if (s.n == 0 || s.n > PROXY_RID_MAX)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char ch = s.p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_.:+/=", ch)))
			return false;
	}
	return true;
}

/*
 * The fields the proxy drops.  One table, names compared whole (proxy_str_eq
 * measures them), so a name cannot be filed under the wrong length again:
 * X-Forwarded-Host once sat under 15 bytes and reached the app beside ours.
 * PROXY_F_HOP: hop-by-hop (RFC 9110 7.6.1; Proxy-Authenticate/-Authorization
 * are meant for a proxy, and we are the last one), dropped both ways.
 * PROXY_F_OURS: set by the proxy on the request, so the client's copy goes.
 * Trailer is not here: chunked bodies pass verbatim, trailers included, so
 * the field announcing them stays true.
 */
enum {
	PROXY_F_HOP = 1,            /* both ways */
	PROXY_F_OURS = 2,           /* requests only */
	PROXY_F_UPGRADE = 4,        /* kept on a 101 answer */
};

static const struct proxy_drop_rule {
	const char *name;        /* lower case */
	unsigned flags;
} proxy_drop_rules[] = {
	{ "connection",          PROXY_F_HOP },
	{ "keep-alive",          PROXY_F_HOP },
	{ "proxy-connection",    PROXY_F_HOP },
	{ "proxy-authenticate",  PROXY_F_HOP },
	{ "proxy-authorization", PROXY_F_HOP },
	{ "te",                  PROXY_F_HOP },
	{ "transfer-encoding",   PROXY_F_HOP },   /* written again for chunked */
	{ "upgrade",             PROXY_F_HOP | PROXY_F_UPGRADE },
	{ "content-length",      PROXY_F_HOP },   /* written again from the parse */
	{ "host",                PROXY_F_OURS },
	{ "x-request-id",        PROXY_F_OURS },
	/* Who the client is, as another proxy would say it: we are the edge,
	 * so only what we write reaches the app. */
	{ "forwarded",           PROXY_F_OURS },
	{ "x-real-ip",           PROXY_F_OURS },
};

/* Every X-Forwarded-* field of a request (For, Proto, Host, Port, Server,
 * Prefix, ...): we set For, Proto and Host, no client sets any. */
static bool
proxy_forwarded_field(struct proxy_str name)
{
	static const char prefix[] = "x-forwarded-";
	struct proxy_str head = { name.p, sizeof(prefix) - 1 };

	return name.n > head.n && proxy_str_eq(head, prefix);
}

/*
 * Is this field ours to drop?  request: also the fields the proxy sets
 * itself.  For a 101 response Upgrade is kept.
 */
static bool
proxy_drop(struct proxy_str name, const struct proxy_head *h, bool request,
    bool keep_upgrade)
{
	for (size_t i = 0; i < sizeof(proxy_drop_rules) /
	    sizeof(proxy_drop_rules[0]); i++) {
		const struct proxy_drop_rule *r = &proxy_drop_rules[i];

		if (!proxy_str_eq(name, r->name))
			continue;
		if (keep_upgrade && (r->flags & PROXY_F_UPGRADE))
			return false;
		return (r->flags & PROXY_F_HOP) || request;
	}
	if (request && proxy_forwarded_field(name))
		return true;
	for (size_t i = 0; i < h->nconn_tokens; i++) {
		struct proxy_str t = h->conn_tokens[i];

		if (t.n == name.n && strncasecmp(t.p, name.p, t.n) == 0)
			return true;
	}
	return false;
}

static void
proxy_put_fields(struct buf *b, const struct proxy_head *h, bool request,
    bool keep_upgrade)
{
	for (size_t i = 0; i < h->nhdr; i++) {
		const struct proxy_hdr *f = &h->hdr[i];

		if (proxy_drop(f->name, h, request, keep_upgrade))
			continue;
		buf_put(b, f->name.p, f->name.n);
		buf_put(b, ": ", 2);
		buf_put(b, f->value.p, f->value.n);
		buf_put(b, "\r\n", 2);
	}
}

void
proxy_build_request(struct proxy_client *c, const struct proxy_head *h)
{
	struct buf *b = &c->uphead;

	buf_reset(b);
	c->uphead_off = 0;
	buf_put(b, h->method.p, h->method.n);
	buf_putc(b, ' ');
	buf_put(b, h->path.n ? h->path.p : "/", h->path.n ? h->path.n : 1);
	buf_puts(b, c->minor ? " HTTP/1.1\r\nHost: " : " HTTP/1.0\r\nHost: ");
	buf_put(b, h->host.p, h->host.n);
	buf_put(b, "\r\n", 2);
	proxy_put_fields(b, h, true, false);
	if (c->req_body == PROXY_BODY_LENGTH)
		buf_printf(b, "Content-Length: %llu\r\n",
		    (unsigned long long)c->req_left);
	else if (c->req_body == PROXY_BODY_CHUNKED)
		buf_puts(b, "Transfer-Encoding: chunked\r\n");
	if (c->upgrade) {
		buf_puts(b, "Connection: upgrade\r\nUpgrade: ");
		buf_put(b, h->upgrade.p, h->upgrade.n);
		buf_put(b, "\r\n", 2);
	} else if (c->minor == 0) {
		/* An HTTP/1.0 request is sent as one: the backend then must
		 * not chunk, and closes after. */
		buf_puts(b, "Connection: close\r\n");
	}
	buf_printf(b, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: %s\r\n"
	    "X-Forwarded-Port: %u\r\nX-Forwarded-Host: %s\r\n"
	    "X-Request-Id: %s\r\n\r\n", c->ip, c->tls ? "https" : "http",
	    c->tls ? proxy_srv.https_port : proxy_srv.http_port, c->host,
	    c->rid);
}

void
proxy_build_response(struct proxy_client *c, const struct proxy_head *h)
{
	struct buf *b = &c->out;
	bool rid = false;

	buf_printf(b, "HTTP/1.1 %d ", h->status);
	buf_put(b, h->reason.p, h->reason.n);
	buf_put(b, "\r\n", 2);
	proxy_put_fields(b, h, false, h->status == 101);
	for (size_t i = 0; i < h->nhdr && !rid; i++)
		rid = proxy_str_eq(h->hdr[i].name, "x-request-id");
	if (h->status == 101) {
		buf_puts(b, "Connection: upgrade\r\n");
	} else if (h->status >= 200) {
		if (h->content_length >= 0)
			buf_printf(b, "Content-Length: %lld\r\n",
			    (long long)h->content_length);
		if (c->resp_body == PROXY_BODY_CHUNKED)
			buf_puts(b, "Transfer-Encoding: chunked\r\n");
		if (c->close_after)
			buf_puts(b, "Connection: close\r\n");
		else if (c->minor == 0)
			buf_puts(b, "Connection: keep-alive\r\n");
	}
	if (!rid)
		buf_printf(b, "X-Request-Id: %s\r\n", c->rid);
	if (c->hsts && h->status >= 200)
		buf_printf(b, "Strict-Transport-Security: max-age=%lu\r\n",
		    c->hsts);
	buf_put(b, "\r\n", 2);
}

void
proxy_build_answer(struct proxy_client *c, int status, const char *extra,
    const char *body, size_t n)
{
	buf_reset(&c->out);
	c->out_off = 0;
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Length: %zu\r\nCache-Control: "
	    "no-store\r\n", status, proxy_status_text(status), n);
	if (extra)
		buf_puts(&c->out, extra);
	if (c->rid[0])
		buf_printf(&c->out, "X-Request-Id: %s\r\n", c->rid);
	if (c->hsts)
		buf_printf(&c->out, "Strict-Transport-Security: max-age=%lu\r\n",
		    c->hsts);
	buf_puts(&c->out, c->close_after ? "Connection: close\r\n\r\n" :
	    c->minor == 0 ? "Connection: keep-alive\r\n\r\n" : "\r\n");
	if (!c->is_head)
		buf_put(&c->out, body, n);
}

void
proxy_build_page(struct proxy_client *c, int status, const char *kind,
    const char *what)
{
	char body[768], extra[128];
	int n;

	n = snprintf(body, sizeof(body), "%d %s: %s\n%s%srequest id: %s\n",
	    status, proxy_status_text(status), what, c->why,
	    c->why[0] ? "\n" : "", c->rid[0] ? c->rid : "-");
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	snprintf(extra, sizeof(extra), "X-Slipway-Error: %s\r\n%s", kind,
	    status == 503 ? "Retry-After: 5\r\n" : "");
	proxy_build_answer(c, status, extra, body, (size_t)n);
}

static double
proxy_ms(uint64_t from, uint64_t to)
{
	return from && to >= from ? (double)(to - from) / 1e6 : -1;
}

/* One line per request:
 *   TIME IP "METHOD TARGET HTTP/1.x" STATUS BYTES host=H app=A
 *   backend=B rid=R total=MS connect=MS head=MS [error=KIND] */
void
proxy_access_log(struct proxy_client *c)
{
	static char stamp[32];
	static time_t stamp_sec;
	struct timespec ts;
	double total, conn, head;

	proxy_router_note(c);
	if (proxy_srv.alog_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != stamp_sec) {
		struct tm tm;

		stamp_sec = ts.tv_sec;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	total = proxy_ms(c->t_start, proxy_srv.now_ns);
	conn = proxy_ms(c->t_start, c->t_up);
	head = proxy_ms(c->t_start, c->t_head);
	buf_printf(&proxy_srv.alog, "%s access %s \"%s %s HTTP/1.%d\" %d %llu "
	    "host=%s app=%s backend=%s rid=%s total=%.3fms", stamp, c->ip,
	    c->method[0] ? c->method : "-", c->target[0] ? c->target : "-",
	    c->minor, c->status, (unsigned long long)c->bytes_out,
	    c->host[0] ? c->host : "-", c->app[0] ? c->app : "-",
	    c->be ? c->be->addr : "-", c->rid[0] ? c->rid : "-",
	    total < 0 ? 0 : total);
	if (conn >= 0)
		buf_printf(&proxy_srv.alog, " connect=%.3fms", conn);
	if (head >= 0)
		buf_printf(&proxy_srv.alog, " head=%.3fms", head);
	if (c->error)
		buf_printf(&proxy_srv.alog, " error=%s", c->error);
	buf_putc(&proxy_srv.alog, '\n');
}
