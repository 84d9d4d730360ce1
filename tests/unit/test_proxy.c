/* Unit tests for proxy/: the HTTP head and chunk parsers (every smuggling
 * and oversize case), the route table, the control protocol and the count
 * of connections per source. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "../../proxy/proxy_int.h"

static struct proxy_head h;

/* Parse a whole request; returns the parser's result, status in *st. */
static int
req(const char *s, int *st)
{
	return proxy_http_parse_request(&h, st, s, strlen(s));
}

#define EXPECT_REJECT(want_status, text) do {				\
	int st_ = 0;							\
	int rc_ = req(text, &st_);					\
	if (rc_ >= 0)							\
		harness_fail(__FILE__, __LINE__, "accepted: %s", #text); \
	EXPECT_INT(want_status, st_);					\
} while (0)

TEST(proxy__parse_simple_get)
{
	int st;
	const char *s = "GET /a?b=1 HTTP/1.1\r\nHost: web.localhost:8080\r\n"
	    "User-Agent: t\r\nX-Request-Id: abc-1\r\n\r\nNEXT";

	EXPECT_INT(1, req(s, &st));
	EXPECT_INT(strlen(s) - 4, h.len);
	EXPECT_INT(1, h.minor);
	EXPECT_TRUE(proxy_str_eq(h.method, "get"));
	EXPECT_INT(6, h.path.n);
	EXPECT_TRUE(memcmp(h.path.p, "/a?b=1", 6) == 0);
	EXPECT_TRUE(proxy_str_eq(h.host, "web.localhost:8080"));
	EXPECT_TRUE(proxy_str_eq(h.request_id, "abc-1"));
	EXPECT_INT(-1, h.content_length);
	EXPECT_TRUE(!h.chunked);
	EXPECT_INT(3, h.nhdr);
}

TEST(proxy__parse_incomplete_needs_more)
{
	int st;
	const char *full = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";

	/* Every prefix is "need more", never an error. */
	for (size_t n = 0; n < strlen(full); n++)
		EXPECT_INT(0, proxy_http_parse_request(&h, &st, full, n));
	EXPECT_INT(1, req(full, &st));
	EXPECT_INT(3, h.content_length);
}

TEST(proxy__parse_absolute_form_and_options)
{
	int st;

	EXPECT_INT(1, req("GET http://web.localhost/p HTTP/1.1\r\nHost: other\r\n\r\n", &st));
	EXPECT_TRUE(proxy_str_eq(h.host, "web.localhost"));
	EXPECT_TRUE(proxy_str_eq(h.path, "/p"));
	EXPECT_INT(1, req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &st));
	EXPECT_REJECT(400, "GET * HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET http://u@evil/ HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET x HTTP/1.1\r\nHost: a\r\n\r\n");
}

TEST(proxy__parse_connection_tokens)
{
	int st;

	EXPECT_INT(1, req("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, "
	    "keep-alive, X-Secret\r\nUpgrade: websocket\r\n\r\n", &st));
	EXPECT_TRUE(h.conn_upgrade);
	EXPECT_TRUE(h.conn_keepalive);
	EXPECT_TRUE(!h.conn_close);
	EXPECT_INT(1, h.nconn_tokens);
	EXPECT_TRUE(proxy_str_eq(h.conn_tokens[0], "x-secret"));
	EXPECT_TRUE(proxy_str_eq(h.upgrade, "websocket"));
}

TEST(proxy__smuggling_cl_and_te)
{
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "chunked\r\nContent-Length: 3\r\n\r\n");
	EXPECT_ERR_HAS("both Content-Length and Transfer-Encoding");
}

TEST(proxy__smuggling_two_lengths)
{
	int st;

	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	    "Content-Length: 4\r\n\r\n");
	EXPECT_ERR_HAS("two different Content-Length");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n");
	/* The same value twice is one length (RFC 9112 6.3). */
	EXPECT_INT(1, req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n", &st));
	EXPECT_INT(5, h.content_length);
	EXPECT_INT(1, req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", &st));
}

TEST(proxy__smuggling_bad_lengths)
{
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
	    "99999999999999999999\r\n\r\n");
}

TEST(proxy__smuggling_transfer_encodings)
{
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "gzip, chunked\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "chunked, chunked\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "identity\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "xchunked\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	    "chunked\r\nTransfer-Encoding: chunked\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n");
	EXPECT_REJECT(400, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : "
	    "chunked\r\n\r\n");
}

TEST(proxy__smuggling_line_endings)
{
	EXPECT_REJECT(400, "GET / HTTP/1.1\nHost: a\r\n\r\n");
	EXPECT_ERR_HAS("bare LF");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\n\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n");
	EXPECT_ERR_HAS("bare CR");
	EXPECT_REJECT(400, "GET / HTTP/1.1\rHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n");
}

TEST(proxy__smuggling_obs_fold_and_names)
{
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n");
	EXPECT_ERR_HAS("folding");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\n Host: a\r\n\r\n");
}

TEST(proxy__reject_control_bytes)
{
	int st;
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";

	EXPECT_TRUE(proxy_http_parse_request(&h, &st, nul, sizeof(nul) - 1) < 0);
	EXPECT_INT(400, st);
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n");
	EXPECT_REJECT(400, "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n");
}

TEST(proxy__host_rules)
{
	int st;

	EXPECT_REJECT(400, "GET / HTTP/1.1\r\n\r\n");
	EXPECT_ERR_HAS("no Host");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.1\r\nHost: \r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1.0\r\n\r\n");
	EXPECT_INT(1, req("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &st));
	EXPECT_INT(0, h.minor);
}

TEST(proxy__versions_and_methods)
{
	EXPECT_REJECT(505, "GET / HTTP/2.0\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(505, "GET / HTTP/1.2\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET / HTTP/1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET / http/1.1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "GET /\r\n\r\n");
	EXPECT_REJECT(501, "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n");
	EXPECT_REJECT(400, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n");
}

TEST(proxy__oversize_heads)
{
	struct buf b;
	int st;

	/* Many fields. */
	buf_init(&b, 0);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < PROXY_HEADERS_MAX; i++)
		buf_printf(&b, "X-%d: y\r\n", i);
	buf_puts(&b, "\r\n");
	EXPECT_TRUE(proxy_http_parse_request(&h, &st, b.ptr, b.len) < 0);
	EXPECT_INT(431, st);
	EXPECT_ERR_HAS("header fields");

	/* One huge field: the head passes PROXY_HEAD_MAX unfinished. */
	buf_reset(&b);
	buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
	while (b.len < PROXY_HEAD_MAX + 10)
		buf_putc(&b, 'y');
	EXPECT_TRUE(proxy_http_parse_request(&h, &st, b.ptr, b.len) < 0);
	EXPECT_INT(431, st);

	/* A long request line. */
	buf_reset(&b);
	buf_puts(&b, "GET /");
	while (b.len < PROXY_LINE_MAX + 100)
		buf_putc(&b, 'a');
	EXPECT_TRUE(proxy_http_parse_request(&h, &st, b.ptr, b.len) < 0);
	EXPECT_INT(414, st);
	buf_free(&b);
}

/* Scan s whole and byte by byte: both must agree. */
static ssize_t
chunks(const char *s, size_t n, bool *done)
{
	struct proxy_chunk c1 = { 0 }, c2 = { 0 };
	ssize_t whole = proxy_chunk_scan(&c1, s, n), sum = 0;

	for (size_t i = 0; i < n && !c2.done; i++) {
		ssize_t k = proxy_chunk_scan(&c2, s + i, 1);
		if (k < 0) {
			sum = k;
			break;
		}
		sum += k;
	}
	if (whole != sum || c1.done != c2.done)
		harness_fail(__FILE__, __LINE__, "whole %zd vs bytewise %zd",
		    whole, sum);
	*done = c1.done;
	return whole;
}

TEST(proxy__chunked_valid)
{
	const char *s = "5\r\nhello\r\n1A;name=v ; x\r\n"
	    "abcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
	bool done;

	EXPECT_INT(strlen(s) - 4, chunks(s, strlen(s), &done));
	EXPECT_TRUE(done);
	EXPECT_INT(5, chunks("0\r\n\r\n", 5, &done));
	EXPECT_TRUE(done);
	EXPECT_INT(3, chunks("5\r\n", 3, &done));
	EXPECT_TRUE(!done);
}

TEST(proxy__chunked_malformed)
{
	static const char *bad[] = {
		"zz\r\n",                 /* not hex */
		"\r\n",                   /* empty size */
		"-1\r\n",
		"0x5\r\nhello\r\n",
		"1234567890abcdef0\r\n",  /* past 15 hex digits */
		"5\nhello\r\n",           /* bare LF after size */
		"5\rhello\r\n",           /* bare CR after size */
		"5\r\nhelloXX\r\n",       /* data longer than its size */
		"5\r\nhello\n0\r\n\r\n",  /* bare LF after data */
		"5 5\r\nhello\r\n",       /* junk after size */
		"5;a\x01\r\n",            /* control byte in extension */
		"0\r\nBad Trailer: x\r\n\r\n",
		"0\r\nX: a\nb\r\n\r\n",
		"0\r\n\rX",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proxy_chunk c = { 0 };

		if (proxy_chunk_scan(&c, bad[i], strlen(bad[i])) >= 0)
			harness_fail(__FILE__, __LINE__, "accepted chunked "
			    "body #%zu", i);
	}
}

TEST(proxy__chunked_extension_cap)
{
	struct proxy_chunk c = { 0 };
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "5;");
	while (b.len < PROXY_CHUNK_LINE_MAX + 10)
		buf_putc(&b, 'a');
	EXPECT_TRUE(proxy_chunk_scan(&c, b.ptr, b.len) < 0);
	EXPECT_ERR_HAS("extension too long");
	buf_free(&b);
}

TEST(proxy__parse_response)
{
	const char *ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

	EXPECT_INT(1, proxy_http_parse_response(&h, ok, strlen(ok)));
	EXPECT_INT(200, h.status);
	EXPECT_INT(2, h.content_length);
	EXPECT_INT(1, proxy_http_parse_response(&h, "HTTP/1.1 204\r\n\r\n", 16));
	EXPECT_INT(204, h.status);
	EXPECT_INT(0, proxy_http_parse_response(&h, "HTTP/1.1 20", 11));
	EXPECT_TRUE(proxy_http_parse_response(&h, "HTTP/2 200 OK\r\n\r\n", 17) < 0);
	EXPECT_TRUE(proxy_http_parse_response(&h, "HTTP/1.1 099 X\r\n\r\n", 18) < 0);
	EXPECT_TRUE(proxy_http_parse_response(&h, "HTTP/1.1 200 OK\r\nContent-Length: 1"
	    "\r\nTransfer-Encoding: chunked\r\n\r\n", 67) < 0);
	EXPECT_TRUE(proxy_http_parse_response(&h, "HTTP/1.1 200 OK\nX: y\r\n\r\n", 24) < 0);
}

/* ---- routes ---- */

static const char *const two[] = { "127.0.0.1:9001", "127.0.0.1:9002" };

TEST(proxy__route_lookup)
{
	struct proxy_routes r;
	const char *dom[] = { "www.example.com" };

	proxy_routes_init(&r, "localhost");
	EXPECT_OK(proxy_routes_set(&r, "web", two, 2, dom, 1));
	EXPECT_TRUE(proxy_routes_lookup(&r, "web.localhost", 13) != NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "WEB.LocalHost:8080", 18) != NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "web.localhost.", 14) != NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "www.example.com:80", 18) != NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "example.com", 11) == NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "x.web.localhost", 15) == NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "webx.localhost", 14) == NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "we.localhost", 12) == NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "localhost", 9) == NULL);
	EXPECT_TRUE(proxy_routes_lookup(&r, "[::1]:80", 8) == NULL);
	proxy_routes_free(&r);
}

TEST(proxy__route_round_robin)
{
	struct proxy_routes r;
	struct proxy_app *a;

	proxy_routes_init(&r, "localhost");
	EXPECT_OK(proxy_routes_set(&r, "web", two, 2, NULL, 0));
	a = proxy_routes_app(&r, "web");
	EXPECT_STR("127.0.0.1:9001", proxy_app_pick(a)->addr);
	EXPECT_STR("127.0.0.1:9002", proxy_app_pick(a)->addr);
	EXPECT_STR("127.0.0.1:9001", proxy_app_pick(a)->addr);
	proxy_routes_free(&r);
}

TEST(proxy__route_rejects_bad_input)
{
	struct proxy_routes r;
	const char *bad_be[] = { "localhost:80" }, *v6[] = { "[::1]:8080" };
	const char *dup[] = { "127.0.0.1:1", "127.0.0.1:01" };
	const char *d1[] = { "a.localhost" }, *d2[] = { "Bad_Domain" };
	const char *d3[] = { "shop.example" };

	proxy_routes_init(&r, "localhost");
	EXPECT_INT(ERR_INVALID, proxy_routes_set(&r, "Web", NULL, 0, NULL, 0));
	EXPECT_INT(ERR_INVALID, proxy_routes_set(&r, "web", bad_be, 1, NULL, 0));
	EXPECT_INT(ERR_INVALID, proxy_routes_set(&r, "web", dup, 2, NULL, 0));
	EXPECT_INT(ERR_INVALID, proxy_routes_set(&r, "web", NULL, 0, d1, 1));
	EXPECT_ERR_HAS("under the proxy's domain");
	EXPECT_INT(ERR_INVALID, proxy_routes_set(&r, "web", NULL, 0, d2, 1));
	EXPECT_OK(proxy_routes_set(&r, "web", v6, 1, d3, 1));
	EXPECT_STR("[::1]:8080", proxy_routes_app(&r, "web")->backends[0]->addr);
	EXPECT_INT(ERR_CONFLICT, proxy_routes_set(&r, "api", NULL, 0, d3, 1));
	EXPECT_ERR_HAS("routed to app 'web'");
	EXPECT_TRUE(proxy_routes_app(&r, "api") == NULL);
	EXPECT_INT(ERR_NOTFOUND, proxy_routes_rm(&r, "api"));
	proxy_routes_free(&r);
}

TEST(proxy__route_swap_keeps_busy_backend)
{
	struct proxy_routes r;
	const char *next[] = { "127.0.0.1:9003" };
	struct proxy_backend *old;

	proxy_routes_init(&r, "localhost");
	EXPECT_OK(proxy_routes_set(&r, "web", two, 2, NULL, 0));
	old = proxy_app_pick(proxy_routes_app(&r, "web"));
	old->inflight++;              /* a request in progress on it */
	EXPECT_OK(proxy_routes_set(&r, "web", next, 1, NULL, 0));
	EXPECT_STR("127.0.0.1:9003", proxy_app_pick(proxy_routes_app(&r, "web"))->addr);
	/* Unrouted but still counted: drain state stays visible. */
	EXPECT_TRUE(proxy_routes_backend(&r, "127.0.0.1:9001") == old);
	EXPECT_INT(0, old->refs);
	EXPECT_TRUE(proxy_routes_backend(&r, "127.0.0.1:9002") == NULL);
	old->inflight--;
	proxy_routes_backend_gc(&r, old);
	EXPECT_TRUE(proxy_routes_backend(&r, "127.0.0.1:9001") == NULL);
	proxy_routes_free(&r);
}

TEST(proxy__route_maintenance_and_rm)
{
	struct proxy_routes r;

	proxy_routes_init(&r, "localhost");
	EXPECT_OK(proxy_routes_maintenance(&r, "new", true));
	EXPECT_TRUE(proxy_routes_app(&r, "new")->maintenance);
	EXPECT_INT(0, proxy_routes_app(&r, "new")->nbackends);
	EXPECT_OK(proxy_routes_set(&r, "new", two, 1, NULL, 0));
	EXPECT_TRUE(proxy_routes_app(&r, "new")->maintenance);
	EXPECT_OK(proxy_routes_rm(&r, "new"));
	EXPECT_TRUE(proxy_routes_lookup(&r, "new.localhost", 13) == NULL);
	EXPECT_TRUE(proxy_routes_backend(&r, "127.0.0.1:9001") == NULL);
	proxy_routes_free(&r);
}

TEST(proxy__routes_file_round_trip)
{
	struct proxy_routes r, r2;
	const char *dom[] = { "shop.example" };

	proxy_routes_init(&r, "localhost");
	EXPECT_OK(proxy_routes_set(&r, "web", two, 2, dom, 1));
	EXPECT_OK(proxy_routes_maintenance(&r, "web", true));
	EXPECT_OK(proxy_routes_save(&r, "routes.json"));
	proxy_routes_init(&r2, "localhost");
	EXPECT_OK(proxy_routes_load(&r2, "routes.json", false));
	EXPECT_INT(2, proxy_routes_app(&r2, "web")->nbackends);
	EXPECT_TRUE(proxy_routes_app(&r2, "web")->maintenance);
	EXPECT_TRUE(proxy_routes_lookup(&r2, "shop.example", 12) != NULL);
	proxy_routes_free(&r2);
	proxy_routes_free(&r);

	{
		const char *bad = "{\"routes\":[{\"app\":\"x\",\"backends\":[1]}]}";

		harness_write("bad.json", bad, strlen(bad), 0600);
	}
	proxy_routes_init(&r, "localhost");
	EXPECT_INT(ERR_INVALID, proxy_routes_load(&r, "bad.json", false));
	EXPECT_ERR_HAS("bad.json");
	proxy_routes_free(&r);
}

/* The proxy that takes the control socket over reads the file again over
 * its live table: the file's routes win, apps it no longer names go. */
TEST(proxy__routes_reload_prunes_what_the_file_dropped)
{
	struct proxy_routes r, live;

	proxy_routes_init(&r, "localhost");
	EXPECT_OK(proxy_routes_set(&r, "web", two, 1, NULL, 0));
	EXPECT_OK(proxy_routes_save(&r, "routes.json"));
	proxy_routes_init(&live, "localhost");
	EXPECT_OK(proxy_routes_set(&live, "web", two, 2, NULL, 0));
	EXPECT_OK(proxy_routes_set(&live, "gone", two, 1, NULL, 0));
	EXPECT_OK(proxy_routes_load(&live, "routes.json", true));
	EXPECT_INT(1, proxy_routes_app(&live, "web")->nbackends);
	EXPECT_TRUE(proxy_routes_app(&live, "gone") == NULL);
	EXPECT_TRUE(proxy_routes_lookup(&live, "gone.localhost", 14) == NULL);
	proxy_routes_free(&live);
	proxy_routes_free(&r);
}

/* ---- control protocol ---- */

static char *
ctl(struct proxy_routes *r, const char *line, bool *changed)
{
	return proxy_control_handle(r, line, strlen(line), changed);
}

TEST(proxy__control_protocol)
{
	struct proxy_routes r;
	bool changed;
	char *a;

	proxy_routes_init(&r, "localhost");
	a = ctl(&r, "{\"op\":\"set\",\"app\":\"web\",\"backends\":[\"127.0.0.1:9001\"]}",
	    &changed);
	EXPECT_STR("{\"ok\":true}", a);
	EXPECT_TRUE(changed);
	free(a);
	a = ctl(&r, "{\"op\":\"drain\",\"backend\":\"127.0.0.1:9001\"}", &changed);
	EXPECT_TRUE(strstr(a, "\"inflight\":0") && strstr(a, "\"routed\":true"));
	EXPECT_TRUE(!changed);
	free(a);
	a = ctl(&r, "{\"op\":\"routes\"}", &changed);
	EXPECT_TRUE(strstr(a, "\"app\":\"web\"") != NULL);
	free(a);
	a = ctl(&r, "{\"op\":\"maintenance\",\"app\":\"web\",\"on\":true}", &changed);
	EXPECT_STR("{\"ok\":true}", a);
	free(a);
	EXPECT_TRUE(proxy_routes_app(&r, "web")->maintenance);
	a = ctl(&r, "{\"op\":\"rm\",\"app\":\"web\"}", &changed);
	EXPECT_STR("{\"ok\":true}", a);
	free(a);
	a = ctl(&r, "{\"op\":\"drain\",\"backend\":\"127.0.0.1:9001\"}", &changed);
	EXPECT_TRUE(strstr(a, "\"routed\":false") != NULL);
	free(a);
	proxy_routes_free(&r);
}

TEST(proxy__control_rejects_bad_requests)
{
	static const char *bad[] = {
		"not json",
		"[1]",
		"{}",
		"{\"op\":\"fly\",\"app\":\"web\"}",
		"{\"op\":\"set\"}",
		"{\"op\":\"set\",\"app\":\"web\",\"backends\":\"127.0.0.1:1\"}",
		"{\"op\":\"set\",\"app\":\"web\",\"backends\":[\"nope\"]}",
		"{\"op\":\"set\",\"app\":\"../x\",\"backends\":[]}",
		"{\"op\":\"maintenance\",\"app\":\"web\",\"on\":\"yes\"}",
		"{\"op\":\"rm\",\"app\":\"web\"}",
		"{\"op\":\"drain\",\"backend\":\"x\"}",
		"{\"op\":\"set\",\"op\":\"rm\",\"app\":\"web\"}",
	};
	struct proxy_routes r;
	bool changed;

	proxy_routes_init(&r, "localhost");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *a = ctl(&r, bad[i], &changed);

		if (strncmp(a, "{\"ok\":false", 11) != 0 || changed)
			harness_fail(__FILE__, __LINE__, "%s -> %s", bad[i], a);
		free(a);
	}
	EXPECT_TRUE(r.apps == NULL);
	proxy_routes_free(&r);
}

