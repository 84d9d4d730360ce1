/*
 * A small HTTP server layer over libmicrohttpd, shared by the registry and
 * the controller.  Each connection runs in its own thread, so a handler may
 * block (long-polls, disk writes).  A request reaches the application in up
 * to two steps:
 *
 *   begin(req)    optional, when the headers are in: may answer at once
 *                 (401 before a large upload is read), or call
 *                 httpd_req_stream() to take the body as a stream instead
 *                 of a buffer.
 *   handle(req)   when the whole body is in (req->body, capped by
 *                 body_max, unless streamed): must answer with one of the
 *                 httpd_respond* calls.
 *
 * Before its head is in a connection is anybody's, so what one can hold
 * is bounded: conn_max connections in all, per_ip_max from one address
 * (more are closed at once, with a log line), and head_timeout_ms for the
 * head, counted from the connect, not reset by a byte (a slowloris is cut
 * then); a body then takes as long as it keeps moving (docs/security-http.md).
 *
 * A request that never got an answer (handler bug) gets a 500.  A body
 * over body_max gets 413 without being read further.  When the request
 * ends, by an answer or a dropped connection, the cleanup set with
 * httpd_req_on_done() runs with `completed` false if the client went away
 * before the response was sent (so an upload can be discarded).
 */
#ifndef SLIPWAY_HTTPD_H
#define SLIPWAY_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "slipway/buf.h"

struct httpd;
struct httpd_req;

typedef int (*httpd_begin_fn)(struct httpd_req *req, void *payload);
typedef void (*httpd_handle_fn)(struct httpd_req *req, void *payload);
/* Takes a piece of a streamed body; a negative return stops the upload:
 * the rest is discarded and handle() is still called (check
 * httpd_req_stream_failed()). */
typedef int (*httpd_stream_fn)(struct httpd_req *req, const char *data,
    size_t n, void *ctx);
typedef void (*httpd_done_fn)(struct httpd_req *req, bool completed,
    void *ctx);

struct httpd_opts {
	const char *listen;        /* "127.0.0.1:5000"; port 0 picks one */
	httpd_begin_fn begin;      /* may be NULL */
	httpd_handle_fn handle;
	void *payload;             /* passed to begin and handle */
	size_t body_max;           /* buffered bodies; 0: 1 MiB */
	size_t header_max;         /* request line and headers; 0: 32 KiB;
	                            * 431 beyond */
	size_t conn_mem;           /* libmicrohttpd's memory per connection,
	                            * at least header_max (the default): it
	                            * reads a body in pieces of about half of
	                            * it, and clears it for every request */
	size_t fd_buf;             /* httpd_respond_fd: 0 sends with
	                            * sendfile; N copies through a buffer of
	                            * N bytes (pread + send) instead */
	unsigned conn_max;         /* simultaneous connections; 0: 512 */
	unsigned per_ip_max;       /* of those from one IPv4 address; 0: 64 */
	unsigned head_timeout_ms;  /* a request head must be in within this
	                            * of the connect, or of the previous
	                            * answer on a kept-alive connection, or
	                            * the connection is closed; 0: 10000 */
	unsigned timeout_sec;      /* idle connection timeout (a body or an
	                            * answer that stops moving); 0: 60 */
	const char *name;          /* for logs: "registry" */
	bool access_log;           /* one log_info line per request */
};

/* Start serving in background threads.  Fails with a clear message when
 * the address cannot be bound. */
int httpd_start(struct httpd **out, const struct httpd_opts *opts);
/* Stop accepting, wait for the running handlers, free.  Accepts NULL. */
void httpd_stop(struct httpd *h);
/* The port actually bound (useful with port 0). */
uint16_t httpd_port(const struct httpd *h);

/* The request, as the handlers see it.  Strings live as long as req. */
struct httpd_req {
	const char *method;        /* "GET", "HEAD", ... */
	const char *path;          /* decoded path, without the query */
	const char *version;
	struct buf body;           /* the body when not streamed */
	uint64_t received;         /* body bytes seen (streamed or not) */
	void *app;                 /* the application's per-request state */
};

/* A request header (case-insensitive name) or NULL. */
const char *httpd_req_header(struct httpd_req *req, const char *name);
/* A query argument (decoded) or NULL. */
const char *httpd_req_query(struct httpd_req *req, const char *name);
/* Every value of a query argument given more than once ("scope=a&scope=b"),
 * in order, into out (at most max); returns how many it put there.
 * The strings live as long as req. */
size_t httpd_req_query_all(struct httpd_req *req, const char *name,
    const char **out, size_t max);
/* The client's address as "IP" (for logs and X-Forwarded-For). */
const char *httpd_req_peer(struct httpd_req *req);

/* From begin(): take the body as a stream. */
void httpd_req_stream(struct httpd_req *req, httpd_stream_fn fn, void *ctx);
bool httpd_req_stream_failed(const struct httpd_req *req);
/* Called once when the request ends (answered or dropped). */
void httpd_req_on_done(struct httpd_req *req, httpd_done_fn fn, void *ctx);

/* Add a response header; call before one of the httpd_respond* calls. */
void httpd_header(struct httpd_req *req, const char *name,
    const char *value);

/* Answer with a copy of body (may be NULL with len 0).  For HEAD the
 * Content-Length is len but no body is sent. */
int httpd_respond(struct httpd_req *req, unsigned status,
    const char *content_type, const void *body, size_t len);
/* Answer with len bytes of fd from offset, with sendfile or, when
 * opts.fd_buf is set, by pread into a buffer of at most that size (never
 * more of the file in memory).  The fd is owned by the response from now
 * on, even on failure. */
int httpd_respond_fd(struct httpd_req *req, unsigned status,
    const char *content_type, int fd, uint64_t offset, uint64_t len);
bool httpd_req_answered(const struct httpd_req *req);

#endif
