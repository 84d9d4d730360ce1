/*
 * HTTP server glue over libmicrohttpd; see include/slipway/httpd.h.
 * libmicrohttpd calls httpd_access() several times per request: once when
 * the headers are in, once per piece of body, and once more with no data
 * when the body is complete.  httpd_req_int carries the state between.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/httpd.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "httpd_int.h"

/* room for the registry's OCI-Tag per tag of a manifest push (64) */
#define HTTPD_HEADERS_MAX 80

struct httpd {
	struct MHD_Daemon *mhd;
	struct httpd_guard *guard;
	struct httpd_opts o;
	uint16_t port;
};

/* Invariant: pub is first, so a struct httpd_req * is also one of these;
 * answered is set once a response is queued, and no second is. */
struct httpd_req_int {
	struct httpd_req pub;
	struct httpd *h;
	struct MHD_Connection *conn;
	char *path;
	char peer[INET6_ADDRSTRLEN];
	httpd_stream_fn stream;
	void *stream_ctx;
	bool stream_failed;
	httpd_done_fn done;
	void *done_ctx;
	bool answered;
	unsigned status;
	uint64_t sent;
	struct timespec start;
	int nheaders;
	char *headers[HTTPD_HEADERS_MAX][2];
};

static struct httpd_req_int *
httpd_int(struct httpd_req *req)
{
	return (struct httpd_req_int *)req;
}

const char *
httpd_req_header(struct httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(httpd_int(req)->conn,
	    MHD_HEADER_KIND, name);
}

const char *
httpd_req_query(struct httpd_req *req, const char *name)
{
	return MHD_lookup_connection_value(httpd_int(req)->conn,
	    MHD_GET_ARGUMENT_KIND, name);
}

struct httpd_query_all {
	const char *name;
	const char **out;
	size_t max, n;
};

static enum MHD_Result
httpd_query_each(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct httpd_query_all *q = cls;

	(void)kind;
	if (key && strcmp(key, q->name) == 0) {
		if (q->n < q->max)
			q->out[q->n] = value ? value : "";
		q->n++;
	}
	return MHD_YES;
}

size_t
httpd_req_query_all(struct httpd_req *req, const char *name,
    const char **out, size_t max)
{
	struct httpd_query_all q = { name, out, max, 0 };

	MHD_get_connection_values(httpd_int(req)->conn, MHD_GET_ARGUMENT_KIND,
	    httpd_query_each, &q);
	return q.n < max ? q.n : max;
}

const char *
httpd_req_peer(struct httpd_req *req)
{
	return httpd_int(req)->peer;
}

void
httpd_req_stream(struct httpd_req *req, httpd_stream_fn fn, void *ctx)
{
	httpd_int(req)->stream = fn;
	httpd_int(req)->stream_ctx = ctx;
}

bool
httpd_req_stream_failed(const struct httpd_req *req)
{
	return ((const struct httpd_req_int *)req)->stream_failed;
}

void
httpd_req_on_done(struct httpd_req *req, httpd_done_fn fn, void *ctx)
{
	httpd_int(req)->done = fn;
	httpd_int(req)->done_ctx = ctx;
}

bool
httpd_req_answered(const struct httpd_req *req)
{
	return ((const struct httpd_req_int *)req)->answered;
}

void
httpd_header(struct httpd_req *req, const char *name, const char *value)
{
	struct httpd_req_int *r = httpd_int(req);

	if (r->nheaders == HTTPD_HEADERS_MAX) {
		log_warnx("%s: more than %d response headers; '%s' dropped",
		    r->h->o.name, HTTPD_HEADERS_MAX, name);
		return;
	}
	r->headers[r->nheaders][0] = xstrdup(name);
	r->headers[r->nheaders][1] = xstrdup(value);
	r->nheaders++;
}

/* Queue resp (which this consumes) as the answer. */
static int
httpd_queue(struct httpd_req_int *r, unsigned status, const char *ctype,
    struct MHD_Response *resp, uint64_t len)
{
	enum MHD_Result ok;

	if (resp == NULL)
		return err_set(ERR_IO, "cannot make a response");
	if (r->answered) {
		MHD_destroy_response(resp);
		return err_set(ERR_CONFLICT, "request already answered");
	}
	if (ctype)
		MHD_add_response_header(resp, "Content-Type", ctype);
	for (int i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i][0],
		    r->headers[i][1]);
	ok = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	if (ok != MHD_YES)
		return err_set(ERR_IO, "cannot queue a response");
	r->answered = true;
	r->status = status;
	r->sent = len;
	return 0;
}

int
httpd_respond(struct httpd_req *req, unsigned status, const char *ctype,
    const void *body, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)(body ? body : ""),
	    MHD_RESPMEM_MUST_COPY);
	return httpd_queue(httpd_int(req), status, ctype, resp, len);
}

/* An fd response sent by copying: each call fills libmicrohttpd's buffer
 * (of opts.fd_buf bytes at most) with a pread at the next position. */
struct httpd_fd_copy {
	int fd;
	uint64_t offset;
};

static ssize_t
httpd_fd_copy_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct httpd_fd_copy *fc = cls;
	ssize_t n;

	do
		n = pread(fc->fd, buf, max, (off_t)(fc->offset + pos));
	while (n < 0 && errno == EINTR);
	/* a file shorter than announced: cut the connection, never pad */
	return n > 0 ? n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void
httpd_fd_copy_free(void *cls)
{
	struct httpd_fd_copy *fc = cls;

	close(fc->fd);
	free(fc);
}

int
httpd_respond_fd(struct httpd_req *req, unsigned status, const char *ctype,
    int fd, uint64_t offset, uint64_t len)
{
	struct httpd_req_int *r = httpd_int(req);
	size_t bufsz = r->h->o.fd_buf;
	struct MHD_Response *resp;
	struct httpd_fd_copy *fc;

	if (bufsz == 0 || len == 0) {
		resp = MHD_create_response_from_fd_at_offset64(len, fd,
		    offset);
		if (resp == NULL)
			close(fd);
		return httpd_queue(r, status, ctype, resp, len);
	}
	/* never a buffer bigger than the answer (manifests are small) */
	if (len < bufsz)
		bufsz = (size_t)len;
	fc = xmalloc(sizeof(*fc));
	fc->fd = fd;
	fc->offset = offset;
	resp = MHD_create_response_from_callback(len, bufsz,
	    httpd_fd_copy_read, fc, httpd_fd_copy_free);
	if (resp == NULL)
		httpd_fd_copy_free(fc);
	return httpd_queue(r, status, ctype, resp, len);
}

static void
httpd_plain(struct httpd_req_int *r, unsigned status, const char *msg)
{
	httpd_respond(&r->pub, status, "text/plain; charset=utf-8", msg,
	    strlen(msg));
}

static struct httpd_req_int *
httpd_req_new(struct httpd *h, struct MHD_Connection *c, const char *url,
    const char *method, const char *version)
{
	struct httpd_req_int *r = xcalloc(1, sizeof(*r));
	const union MHD_ConnectionInfo *ci;
	const char *q;

	r->h = h;
	r->conn = c;
	q = strchr(url, '?');
	r->path = q ? xstrndup(url, (size_t)(q - url)) : xstrdup(url);
	r->pub.path = r->path;
	r->pub.method = method;
	r->pub.version = version;
	buf_init(&r->pub.body, h->o.body_max);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    ci->client_addr)->sin_addr, r->peer, sizeof(r->peer));
	return r;
}

static enum MHD_Result
httpd_head_add(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	size_t *n = cls;

	(void)kind;
	/* as on the wire: "Name: value\r\n" */
	*n += strlen(key) + 4 + (value ? strlen(value) : 0);
	return MHD_YES;
}

/* The size of the request line and headers as sent (give or take the
 * spaces around values), to hold them to opts.header_max whatever memory
 * libmicrohttpd was given for reading. */
static size_t
httpd_head_size(struct httpd_req_int *r, const char *url)
{
	size_t n = strlen(r->pub.method) + strlen(url) +
	    strlen(r->pub.version) + 4;

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, httpd_head_add,
	    &n);
	return n;
}

/* A Content-Length the buffered body cannot hold is refused up front. */
static bool
httpd_len_over(struct httpd_req_int *r)
{
	const char *cl = httpd_req_header(&r->pub, "Content-Length");

	return cl && strtoull(cl, NULL, 10) > r->h->o.body_max;
}

static enum MHD_Result
httpd_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **con_cls)
{
	struct httpd *h = cls;
	struct httpd_req_int *r = *con_cls;

	if (r == NULL) {
		httpd_guard_head_done(h->guard, c);
		r = httpd_req_new(h, c, url, method, version);
		*con_cls = r;
		if (h->o.conn_mem > h->o.header_max &&
		    httpd_head_size(r, url) > h->o.header_max) {
			httpd_plain(r, 431, "request headers too large\n");
			return MHD_YES;
		}
		if (h->o.begin)
			h->o.begin(&r->pub, h->o.payload);
		if (!r->answered && r->stream == NULL && httpd_len_over(r))
			httpd_plain(r, 413, "request body too large\n");
		return MHD_YES;
	}
	if (*size > 0) {
		size_t n = *size;

		*size = 0;
		r->pub.received += n;
		if (r->answered)
			return MHD_YES;
		if (r->stream) {
			if (!r->stream_failed &&
			    r->stream(&r->pub, data, n, r->stream_ctx) < 0)
				r->stream_failed = true;
			return MHD_YES;
		}
		/* A chunked body past the cap: drop the connection rather
		 * than read an unbounded amount. */
		return buf_put(&r->pub.body, data, n) < 0 ? MHD_NO : MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	err_clear();
	h->o.handle(&r->pub, h->o.payload);
	if (!r->answered) {
		log_warnx("%s: %s %s: no answer from the handler (%s)",
		    h->o.name, method, r->path, err_last());
		httpd_plain(r, 500, "internal error\n");
	}
	return MHD_YES;
}

static void
httpd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	struct httpd_req_int *r = *con_cls;
	bool ok = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;

	/* kept alive, the connection has a new head deadline from now */
	httpd_guard_request_done(h->guard, c);
	if (r == NULL)
		return;
	if (r->done)
		r->done(&r->pub, ok && r->answered, r->done_ctx);
	if (h->o.access_log && log_enabled(LOG_LEVEL_INFO)) {
		struct timespec now;
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (double)(now.tv_sec - r->start.tv_sec) * 1e3 +
		    (double)(now.tv_nsec - r->start.tv_nsec) / 1e6;
		log_info("%s %s %s %u %llu %.1fms%s", r->peer, r->pub.method,
		    r->path, r->status, (unsigned long long)r->sent, ms,
		    ok ? "" : " (dropped)");
	}
	for (int i = 0; i < r->nheaders; i++) {
		free(r->headers[i][0]);
		free(r->headers[i][1]);
	}
	buf_free(&r->pub.body);
	free(r->path);
	free(r);
	*con_cls = NULL;
}

static void
httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char msg[512];
	size_t n;

	if (!log_enabled(LOG_LEVEL_DEBUG))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("%s: libmicrohttpd: %s", h->o.name, msg);
}

int
httpd_start(struct httpd **out, const struct httpd_opts *opts)
{
	struct httpd *h = xcalloc(1, sizeof(*h));
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *di;
	int rc;

	h->o = *opts;
	if (!h->o.body_max)
		h->o.body_max = 1 << 20;
	if (!h->o.header_max)
		h->o.header_max = 32 << 10;
	if (h->o.conn_mem < h->o.header_max)
		h->o.conn_mem = h->o.header_max;
	if (!h->o.conn_max)
		h->o.conn_max = 512;
	if (!h->o.per_ip_max)
		h->o.per_ip_max = 64;
	if (!h->o.head_timeout_ms)
		h->o.head_timeout_ms = 10000;
	if (!h->o.timeout_sec)
		h->o.timeout_sec = 60;
	if (!h->o.name)
		h->o.name = "httpd";
	if ((rc = net_addr_parse(&addr, opts->listen)) < 0 ||
	    (rc = httpd_guard_new(&h->guard, h->o.name, h->o.conn_max,
	    h->o.per_ip_max, h->o.head_timeout_ms)) < 0) {
		free(h);
		return rc;
	}
	/* The guard's accept policy refuses over the caps, and says so in
	 * the log; MHD's own total (which also counts connections being torn
	 * down) is a backstop a little above it. */
	h->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
	    0, httpd_guard_admit, h->guard, httpd_access, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	    MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->o.conn_mem,
	    MHD_OPTION_CONNECTION_LIMIT, h->o.conn_max + 16,
	    MHD_OPTION_NOTIFY_CONNECTION, httpd_guard_notify, h->guard,
	    MHD_OPTION_CONNECTION_TIMEOUT, h->o.timeout_sec,
	    MHD_OPTION_EXTERNAL_LOGGER, httpd_mhd_log, h,
	    MHD_OPTION_END);
	if (h->mhd == NULL) {
		httpd_guard_free(h->guard);
		free(h);
		return err_set(ERR_IO, "cannot listen on '%s': address in use "
		    "or not available", opts->listen);
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : ntohs(addr.sin_port);
	*out = h;
	return 0;
}

void
httpd_stop(struct httpd *h)
{
	if (h == NULL)
		return;
	MHD_stop_daemon(h->mhd);
	httpd_guard_free(h->guard);
	free(h);
}

uint16_t
httpd_port(const struct httpd *h)
{
	return h->port;
}
