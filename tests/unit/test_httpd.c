/* Unit tests for lib/httpd.c and lib/net.c, driven by curl. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
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
