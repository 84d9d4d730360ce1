/* Unit tests for lib/httpd.c and lib/net.c, driven by curl and raw
 * sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/httpd.h"
#include "slipway/net.h"
#include "slipway/proc.h"

struct t_state {
	size_t streamed;
	int done_calls;
	bool done_completed;
};

static int
t_stream(struct httpd_req *req, const char *data, size_t n, void *ctx)
{
	struct t_state *s = ctx;

	s->streamed += n;
	return s->streamed > 100000 ? -1 : 0;
}

static void
t_done(struct httpd_req *req, bool completed, void *ctx)
{
	struct t_state *s = ctx;

	s->done_calls++;
	s->done_completed = completed;
}

static int
t_begin(struct httpd_req *req, void *payload)
{
	if (strcmp(req->path, "/deny") == 0)
		return httpd_respond(req, 401, "text/plain", "no\n", 3);
	if (strcmp(req->path, "/stream") == 0) {
		httpd_req_stream(req, t_stream, payload);
		httpd_req_on_done(req, t_done, payload);
	}
	return 0;
}

static void
t_handle(struct httpd_req *req, void *payload)
{
	struct t_state *s = payload;
	char msg[128];

	if (strcmp(req->path, "/echo") == 0) {
		httpd_header(req, "X-Test", "yes");
		httpd_respond(req, 200, "text/plain", req->body.ptr,
		    req->body.len);
	} else if (strcmp(req->path, "/stream") == 0) {
		snprintf(msg, sizeof(msg), "%zu %d\n", s->streamed,
		    httpd_req_stream_failed(req));
		httpd_respond(req, 200, "text/plain", msg, strlen(msg));
	} else if (strcmp(req->path, "/file") == 0) {
		int fd = open("served", O_RDONLY);
		httpd_respond_fd(req, 200, "application/octet-stream", fd, 2,
		    3);
	} else if (strcmp(req->path, "/file7") == 0) {
		int fd = open("served", O_RDONLY);
		httpd_respond_fd(req, 200, "application/octet-stream", fd, 2,
		    7);
	} else if (strcmp(req->path, "/short") == 0) {
		/* announces more than the file holds */
		int fd = open("served", O_RDONLY);
		httpd_respond_fd(req, 200, "application/octet-stream", fd, 5,
		    20);
	} else if (strcmp(req->path, "/query") == 0) {
		const char *v = httpd_req_query(req, "a");
		httpd_respond(req, 200, "text/plain", v ? v : "-",
		    v ? strlen(v) : 1);
	}
	/* anything else: no answer, the layer must give 500 */
}

static struct httpd *
t_start_with(struct t_state *s, char *url, size_t n,
    const struct httpd_opts *extra)
{
	struct httpd_opts o = { .listen = "127.0.0.1:0", .begin = t_begin,
	    .handle = t_handle, .payload = s, .body_max = 1000,
	    .name = "test" };
	struct httpd *h;

	if (extra) {
		o.header_max = extra->header_max;
		o.conn_mem = extra->conn_mem;
		o.fd_buf = extra->fd_buf;
		o.conn_max = extra->conn_max;
		o.per_ip_max = extra->per_ip_max;
		o.head_timeout_ms = extra->head_timeout_ms;
	}
	EXPECT_OK(httpd_start(&h, &o));
	snprintf(url, n, "http://127.0.0.1:%u", (unsigned)httpd_port(h));
	return h;
}

static struct httpd *
t_start(struct t_state *s, char *url, size_t n)
{
	return t_start_with(s, url, n, NULL);
}

static char *
t_curl(const char *args)
{
	struct buf out;
	char *cmd = NULL;
	char *argv[] = { "sh", "-c", NULL, NULL };

	if (asprintf(&cmd, "curl -s %s", args) < 0)
		abort();
	argv[2] = cmd;
	EXPECT_INT(0, proc_run(&out, argv, 0, 1 << 20));
	free(cmd);
	return buf_detach(&out, NULL);
}

TEST(httpd__echo_body_and_headers)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	snprintf(args, sizeof(args), "-i -d hello %s/echo", url);
	got = t_curl(args);
	EXPECT_TRUE(strstr(got, "HTTP/1.1 200") != NULL);
	EXPECT_TRUE(strstr(got, "X-Test: yes") != NULL);
	EXPECT_TRUE(strstr(got, "\r\n\r\nhello") != NULL);
	free(got);
	httpd_stop(h);
}

TEST(httpd__body_over_cap_is_413)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	SH("head -c 5000 /dev/zero > big");
	snprintf(args, sizeof(args), "-o /dev/null -w %%{http_code} "
	    "--data-binary @big %s/echo", url);
	got = t_curl(args);
	EXPECT_STR("413", got);
	free(got);
	httpd_stop(h);
}

TEST(httpd__stream_body_and_done)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	SH("head -c 50000 /dev/zero > big");
	snprintf(args, sizeof(args), "--data-binary @big %s/stream", url);
	got = t_curl(args);
	EXPECT_STR("50000 0\n", got);
	free(got);
	/* curl can have the whole answer before the server thread reports
	 * the request complete; stopping first would report a shutdown */
	for (int i = 0; i < 500 && !__atomic_load_n(&s.done_calls,
	    __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	httpd_stop(h);
	EXPECT_INT(1, s.done_calls);
	EXPECT_TRUE(s.done_completed);
}

TEST(httpd__stream_failure_reported)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	SH("head -c 200000 /dev/zero > big");
	snprintf(args, sizeof(args), "--data-binary @big %s/stream", url);
	got = t_curl(args);
	EXPECT_TRUE(strstr(got, " 1\n") != NULL);
	free(got);
	httpd_stop(h);
}

TEST(httpd__early_answer_from_begin)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	snprintf(args, sizeof(args), "-o /dev/null -w %%{http_code} %s/deny",
	    url);
	got = t_curl(args);
	EXPECT_STR("401", got);
	free(got);
	httpd_stop(h);
}

TEST(httpd__fd_response_range_and_head)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	SH("printf 0123456789 > served");
	snprintf(args, sizeof(args), "%s/file", url);
	got = t_curl(args);
	EXPECT_STR("234", got);
	free(got);
	snprintf(args, sizeof(args), "-I %s/file", url);
	got = t_curl(args);
	EXPECT_TRUE(strstr(got, "Content-Length: 3") != NULL);
	free(got);
	httpd_stop(h);
}

TEST(httpd__fd_response_copied_through_small_buffer)
{
	struct httpd_opts x = { .fd_buf = 4 };
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start_with(&s, url, sizeof(url), &x);

	SH("printf 0123456789 > served");
	/* 7 bytes through a 4-byte buffer: two reads at the right places */
	snprintf(args, sizeof(args), "%s/file7", url);
	got = t_curl(args);
	EXPECT_STR("2345678", got);
	free(got);
	snprintf(args, sizeof(args), "-I %s/file7", url);
	got = t_curl(args);
	EXPECT_TRUE(strstr(got, "Content-Length: 7") != NULL);
	free(got);
	/* a file shorter than announced: the connection is cut, never
	 * padded, so the client sees a short body */
	snprintf(args, sizeof(args), "-o /dev/null -w '%%{size_download}' "
	    "%s/short; printf ' %%s' $?", url);
	got = t_curl(args);
	EXPECT_STR("5 18", got);
	free(got);
	httpd_stop(h);
}

TEST(httpd__header_cap_apart_from_connection_memory)
{
	struct httpd_opts x = { .header_max = 2048, .conn_mem = 64 << 10 };
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start_with(&s, url, sizeof(url), &x);

	SH("printf 'X-Big: ' > small; head -c 1000 /dev/zero | tr '\\0' a "
	    ">> small; echo >> small");
	SH("printf 'X-Big: ' > big; head -c 4000 /dev/zero | tr '\\0' a "
	    ">> big; echo >> big");
	snprintf(args, sizeof(args), "-o /dev/null -w %%{http_code} "
	    "-H @small -d hi %s/echo", url);
	got = t_curl(args);
	EXPECT_STR("200", got);
	free(got);
	/* fits in the connection's memory, but over the cap */
	snprintf(args, sizeof(args), "-o /dev/null -w %%{http_code} "
	    "-H @big -d hi %s/echo", url);
	got = t_curl(args);
	EXPECT_STR("431", got);
	free(got);
	httpd_stop(h);
}

TEST(httpd__query_and_unanswered_is_500)
{
	struct t_state s = { 0 };
	char url[64], args[256], *got;
	struct httpd *h = t_start(&s, url, sizeof(url));

	snprintf(args, sizeof(args), "'%s/query?a=b%%20c'", url);
	got = t_curl(args);
	EXPECT_STR("b c", got);
	free(got);
	snprintf(args, sizeof(args), "-o /dev/null -w %%{http_code} %s/nope",
	    url);
	got = t_curl(args);
	EXPECT_STR("500", got);
	free(got);
	httpd_stop(h);
}

/* A TCP connection from src (a loopback address) to 127.0.0.1:port. */
static int
t_connect(const char *src, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	EXPECT_TRUE(fd >= 0);
	inet_pton(AF_INET, src, &a.sin_addr);
	EXPECT_INT(0, bind(fd, (struct sockaddr *)&a, sizeof(a)));
	a.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	EXPECT_INT(0, connect(fd, (struct sockaddr *)&a, sizeof(a)));
	return fd;
}

/* Whether the server closed fd within ms (what it said goes to out). */
static bool
t_closed_within(int fd, int ms, char *out, size_t len)
{
	double end = clock_mono() + ms / 1000.0;
	size_t got = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((end - clock_mono()) * 1000);
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			return false;
		n = recv(fd, out + got, len - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == len - 1)
			got = 0;
	}
	out[got] = '\0';
	return true;
}

static void
t_send(int fd, const char *s)
{
	EXPECT_INT((int)strlen(s), (int)send(fd, s, strlen(s), MSG_NOSIGNAL));
}

/* Send one request on fd and read until its answer is in. */
static void
t_ask(char *out, size_t len, int fd, const char *req)
{
	size_t got = 0;

	t_send(fd, req);
	while (got < len - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = recv(fd, out + got, len - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		out[got] = '\0';
		if (strstr(out, "\r\n\r\n") && strstr(out, "\r\n\r\n")[4])
			break;
	}
	out[got] = '\0';
}

static const char t_query[] = "GET /query?a=x HTTP/1.1\r\nHost: t\r\n\r\n";

TEST(httpd__per_ip_cap_leaves_room_for_others)
{
	struct httpd_opts x = { .conn_max = 4, .per_ip_max = 2 };
	struct t_state s = { 0 };
	char url[64], got[512];
	struct httpd *h = t_start_with(&s, url, sizeof(url), &x);
	uint16_t port = httpd_port(h);
	int a1 = t_connect("127.0.0.2", port), a2 = t_connect("127.0.0.2",
	    port), a3, b, c, d, e;

	/* a third from the same address is closed at once, unanswered */
	a3 = t_connect("127.0.0.2", port);
	EXPECT_TRUE(t_closed_within(a3, 2000, got, sizeof(got)));
	EXPECT_STR("", got);
	close(a3);
	/* the held two still work, and another address is served */
	t_ask(got, sizeof(got), a1, t_query);
	EXPECT_TRUE(strstr(got, "HTTP/1.1 200") != NULL);
	b = t_connect("127.0.0.3", port);
	t_ask(got, sizeof(got), b, t_query);
	EXPECT_TRUE(strstr(got, "\r\n\r\nx") != NULL);
	/* four in all: the fifth is refused whatever its address */
	c = t_connect("127.0.0.4", port);
	d = t_connect("127.0.0.5", port);
	EXPECT_TRUE(t_closed_within(d, 2000, got, sizeof(got)));
	close(d);
	/* a slot given back is a slot again */
	close(a2);
	for (int i = 0; i < 50; i++) {
		e = t_connect("127.0.0.2", port);
		if (!t_closed_within(e, 100, got, sizeof(got)))
			break;
		close(e);
		e = -1;
	}
	EXPECT_TRUE(e >= 0);
	t_ask(got, sizeof(got), e, t_query);
	EXPECT_TRUE(strstr(got, "HTTP/1.1 200") != NULL);
	close(a1);
	close(b);
	close(c);
	close(e);
	httpd_stop(h);
}

TEST(httpd__head_deadline_not_reset_by_bytes)
{
	struct httpd_opts x = { .head_timeout_ms = 1000 };
	struct t_state s = { 0 };
	char url[64], got[512];
	struct httpd *h = t_start_with(&s, url, sizeof(url), &x);
	static const char head[] = "GET /query?a=x HTTP/1.1\r\nHost: t\r\n"
	    "X-Slow: yyyyyyyyyyyyyyyyyyyyyy\r\n\r\n";
	double t0 = clock_mono();
	int fd = t_connect("127.0.0.1", httpd_port(h));
	bool cut = false;

	/* a byte every 150 ms: MHD's idle timeout would never end it */
	for (size_t i = 0; i < sizeof(head) - 4 && !cut; i++) {
		if (send(fd, head + i, 1, MSG_NOSIGNAL) != 1)
			break;
		cut = t_closed_within(fd, 150, got, sizeof(got));
	}
	EXPECT_TRUE(cut || t_closed_within(fd, 1000, got, sizeof(got)));
	EXPECT_TRUE(clock_mono() - t0 >= 0.9);
	EXPECT_TRUE(clock_mono() - t0 < 2.0);
	close(fd);
	httpd_stop(h);
}

TEST(httpd__slow_body_after_the_head_is_not_cut)
{
	struct httpd_opts x = { .head_timeout_ms = 1000 };
	struct t_state s = { 0 };
	char url[64], got[512];
	struct httpd *h = t_start_with(&s, url, sizeof(url), &x);
	int fd = t_connect("127.0.0.1", httpd_port(h));
	double t0;

	t_send(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n"
	    "\r\n");
	/* 8 bytes over 2.4 s: twice the head deadline, and moving */
	for (int i = 0; i < 7; i++) {
		EXPECT_TRUE(!t_closed_within(fd, 300, got, sizeof(got)));
		t_send(fd, "b");
	}
	t_ask(got, sizeof(got), fd, "b");
	EXPECT_TRUE(strstr(got, "HTTP/1.1 200") != NULL);
	EXPECT_TRUE(strstr(got, "\r\n\r\nbbbbbbbb") != NULL);
	/* kept alive: the next head has the deadline from the answer */
	t0 = clock_mono();
	t_send(fd, "GET /q");
	EXPECT_TRUE(t_closed_within(fd, 3000, got, sizeof(got)));
	EXPECT_TRUE(clock_mono() - t0 >= 0.8);
	EXPECT_TRUE(clock_mono() - t0 < 2.0);
	close(fd);
	httpd_stop(h);
}

TEST(httpd__listen_errors)
{
	struct httpd_opts o = { .listen = "nonsense", .handle = t_handle };
	struct httpd *h = NULL, *h2 = NULL;
	char addr[64];

	EXPECT_INT(ERR_INVALID, httpd_start(&h, &o));
	o.listen = "127.0.0.1:99999";
	EXPECT_INT(ERR_INVALID, httpd_start(&h, &o));
	o.listen = "127.0.0.1:0";
	EXPECT_OK(httpd_start(&h, &o));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)httpd_port(h));
	o.listen = addr;
	EXPECT_INT(ERR_IO, httpd_start(&h2, &o));
	EXPECT_ERR_HAS("cannot listen on");
	httpd_stop(h);
}

TEST(net__addr_parse)
{
	struct sockaddr_in a;
	char s[32];

	EXPECT_OK(net_addr_parse(&a, "127.0.0.1:5000"));
	net_addr_format(s, sizeof(s), &a);
	EXPECT_STR("127.0.0.1:5000", s);
	EXPECT_OK(net_addr_parse(&a, "localhost:1"));
	EXPECT_INT(ERR_INVALID, net_addr_parse(&a, "127.0.0.1"));
	EXPECT_INT(ERR_INVALID, net_addr_parse(&a, "127.0.0.1:"));
	EXPECT_INT(ERR_INVALID, net_addr_parse(&a, "127.0.0.1:5x"));
	EXPECT_INT(ERR_INVALID, net_addr_parse(&a, "example.com:80"));
}
