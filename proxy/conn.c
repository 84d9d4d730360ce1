/*
 * A client connection, as a state machine driven by readiness: read a
 * request head, pick the app's next backend, stream the request up and the
 * response down (bodies pass through the read buffers untouched; nothing
 * waits for a whole body), then wait for the next request.  px_client_run
 * repeats the step of the current state until none makes progress, so
 * every byte that can move on this wake-up moves, and then it returns:
 * another connection's slowness never blocks this one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

#define PX_LINGER_MS 2000
#define PX_OUT_MAX (PX_HEAD_MAX * 4)


/*
 * Answer a connection we will not take with a 503 and close it; log why,
 * one line per 10 s at most (a stranger repeats this at will).
 */
static void __attribute__((format(printf, 4, 5)))
px_client_refuse(int fd, const char *ip, const char *body, const char *fmt,
    ...)
{
	char busy[320], why[160], more[64];
	unsigned suppressed;
	va_list ap;
	int len = snprintf(busy, sizeof(busy), "HTTP/1.1 503 Service "
	    "Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nX-Slipway-Error: too-many-connections\r\n"
	    "Retry-After: 5\r\nConnection: close\r\n\r\n%s", strlen(body),
	    body);

	/* Best effort: a fresh socket has room for this. */
	if (write(fd, busy, (size_t)len) < 0)
		(void)0;
	close(fd);
	if (!lograte_due(&suppressed, &px_srv.refused, px_srv.now_ms / 1e3))
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lograte_more(more, sizeof(more), suppressed);
	log_warnx("refused a connection from %s: %s%s", ip, why, more);
}

static void
px_ip_format(char *out, size_t len, const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    out, (socklen_t)len);
	else if (sa->ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
		    (socklen_t)len);
	else
		snprintf(out, len, "unknown");
}

void
px_client_accept(int fd, const struct sockaddr_storage *sa)
{
	struct px_client *c;
	struct px_source *src;
	char ip[48];
	int one = 1;

	px_ip_format(ip, sizeof(ip), sa);
	if (px_srv.nclients >= px_srv.o->max_conns) {
		px_client_refuse(fd, ip, "503 Service Unavailable: too many "
		    "connections\n", "%u connections are open (--max-conns)",
		    px_srv.nclients);
		return;
	}
	src = px_source_take(&px_srv.sources, sa, px_srv.o->max_conns_per_ip);
	if (src == NULL) {
		px_client_refuse(fd, ip, "503 Service Unavailable: too many "
		    "connections from your address\n", "%u connections from "
		    "it are open, the most one address may have "
		    "(--max-conns-per-ip)", px_srv.o->max_conns_per_ip);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	px_sock_init(&c->s, PX_K_CLIENT, fd, true);
	memcpy(c->ip, ip, sizeof(c->ip));
	c->src = src;
	buf_init(&c->out, PX_OUT_MAX);
	buf_init(&c->uphead, PX_OUT_MAX);
	c->state = CS_HEAD;
	/* The first head's deadline counts from the connect: its first byte
	 * does not restart it (px_do_head), so a stranger holds a connection
	 * without a head for header_timeout, not twice that. */
	c->deadline = px_srv.now_ms + px_srv.o->header_timeout;
	if (px_sock_add(&c->s) < 0) {
		log_warnx("%s", err_last());
		px_source_put(&px_srv.sources, src);
		close(fd);
		free(c->s.in);
		free(c);
		return;
	}
	c->next = px_srv.clients;
	if (c->next)
		c->next->prev = c;
	px_srv.clients = c;
	px_srv.nclients++;
}

/* The request is over for the backend: log it, stop counting it. */
void
px_request_account(struct px_client *c)
{
	struct px_backend *b = c->be;

	if (c->t_start == 0)
		return;
	px_access_log(c);
	c->t_start = 0;
	if (b) {
		c->be = NULL;
		b->inflight--;
		b->served++;
		px_routes_backend_gc(&px_srv.routes, b);
	}
}

void
px_client_close(struct px_client *c)
{
	if (c->s.dead)
		return;
	if (c->up) {
		px_upstream_close(c->up);
		c->up = NULL;
	}
	if (c->t_start && c->status == 0) {
		c->status = 499;    /* as nginx: closed before an answer */
		if (c->error == NULL)
			c->error = "closed";
	}
	px_request_account(c);
	if (c->queued) {
		struct px_client **pp = &px_srv.ready;

		while (*pp != c)
			pp = &(*pp)->ready_next;
		*pp = c->ready_next;
		c->queued = false;
	}
	close(c->s.fd);
	c->s.fd = -1;
	c->s.dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		px_srv.clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->dead_next = px_srv.dead_clients;
	px_srv.dead_clients = c;
	px_srv.nclients--;
	px_source_put(&px_srv.sources, c->src);
	c->src = NULL;
}

void
px_client_free(struct px_client *c)
{
	if (c == NULL)
		return;
	buf_free(&c->out);
	buf_free(&c->uphead);
	free(c->s.in);
	free(c);
}

/* Answer sent: shut our write side and read until the client closes, so
 * unread request bytes do not turn our close into a reset that could
 * destroy the answer in flight. */
void
px_client_linger(struct px_client *c)
{
	shutdown(c->s.fd, SHUT_WR);
	c->state = CS_LINGER;
	c->deadline = px_srv.now_ms + PX_LINGER_MS;
}

/*
 * Answer the current request ourselves.  what is the page's first line;
 * c->why (set by the caller or from fmt) says why.  Once a response has
 * started nothing can be said any more: the connection is closed.
 */
int
px_local(struct px_client *c, int status, const char *kind, const char *what,
    const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	if (c->up) {
		px_upstream_close(c->up);
		c->up = NULL;
	}
	c->error = kind;
	if (c->resp_started) {
		px_client_close(c);
		return -1;
	}
	c->status = status;
	/* A body we did not read (or did not finish reading) is in the way
	 * of the next request. */
	if (!c->req_done && !(c->req_body == PX_BODY_NONE))
		c->close_after = true;
	if (status == 400 || status == 408 || status == 413 || status == 414 ||
	    status == 431 || status == 501 || status == 505)
		c->close_after = true;
	px_build_page(c, status, kind, what);
	c->bytes_out = c->out.len;
	px_request_account(c);
	c->state = CS_LOCAL;
	c->deadline = px_srv.now_ms + px_srv.o->upstream_timeout;
	return 1;
}

/* Reset what one request leaves behind. */
void
px_request_reset(struct px_client *c)
{
	c->tries = 0;
	c->why[0] = '\0';
	c->app[0] = '\0';
	c->req_body = PX_BODY_NONE;
	c->req_left = c->req_total = 0;
	memset(&c->req_ck, 0, sizeof(c->req_ck));
	c->req_pending = 0;
	c->req_scanned = c->req_sent_body = c->req_done = false;
	c->rstate = RS_HEAD;
	c->resp_body = PX_BODY_NONE;
	c->resp_left = 0;
	memset(&c->resp_ck, 0, sizeof(c->resp_ck));
	c->resp_pending = 0;
	c->resp_scanned = c->resp_started = c->up_close = false;
	c->close_after = c->shut_c = c->shut_u = false;
	c->status = 0;
	c->bytes_out = 0;
	c->error = NULL;
	c->t_up = c->t_head = 0;
	buf_reset(&c->out);
	c->out_off = 0;
}

static int
px_do_head(struct px_client *c)
{
	struct px_head h;
	enum px_io r;
	int status, rc;

	if (c->s.ib < c->s.ie) {
		rc = px_http_parse_request(&h, &status, c->s.in + c->s.ib,
		    c->s.ie - c->s.ib);
		if (rc > 0)
			return px_request_start(c, &h);
		if (rc < 0) {
			px_request_reset(c);
			c->nreq++;
			c->minor = 1;
			c->method[0] = c->target[0] = c->host[0] = '\0';
			px_rid_make(c->rid);
			c->s.ib = c->s.ie;
			if (c->t_start == 0)
				c->t_start = px_srv.now_ns;
			return px_local(c, status, status == 431 || status == 414 ?
			    "too-large" : "bad-request",
			    status == 431 ? "request head too large" :
			    status == 414 ? "request line too long" :
			    "bad request", "%s", err_last());
		}
	}
	r = px_sock_read(&c->s);
	if (r == PX_IO_OK) {
		if (c->t_start == 0) {
			/* The first byte of a request starts its clock; on a
			 * kept-alive connection it also ends the idle wait
			 * and starts the head's deadline (the first head's
			 * runs from the connect). */
			c->t_start = px_srv.now_ns;
			if (c->nreq > 0)
				c->deadline = px_srv.now_ms +
				    px_srv.o->header_timeout;
		}
		return 1;
	}
	if (r == PX_IO_AGAIN && !c->s.eof)
		return 0;
	/* Gone between requests, or in the middle of a head. */
	c->t_start = 0;
	px_client_close(c);
	return -1;
}

static int
px_do_local(struct px_client *c)
{
	bool progress = false;

	if (px_flush_out(c, &progress) < 0) {
		px_client_close(c);
		return -1;
	}
	if (c->out.len)
		return progress;
	if (c->close_after || !c->keepalive || c->s.eof) {
		px_client_linger(c);
		return 1;
	}
	c->state = CS_HEAD;
	c->deadline = px_srv.now_ms + (c->s.ib < c->s.ie ?
	    px_srv.o->header_timeout : px_srv.o->idle_timeout);
	if (c->s.ib < c->s.ie)
		c->t_start = px_srv.now_ns;
	return 1;
}

static int
px_do_linger(struct px_client *c)
{
	for (;;) {
		enum px_io r;

		c->s.ib = c->s.ie = 0;
		r = px_sock_read(&c->s);
		if (r == PX_IO_AGAIN && !c->s.eof)
			return 0;
		if (r != PX_IO_OK) {
			px_client_close(c);
			return -1;
		}
	}
}

/* After 101: bytes both ways until both sides have closed. */
static int
px_do_tunnel(struct px_client *c)
{
	struct px_upstream *u = c->up;
	bool progress = false;
	ssize_t w;
	enum px_io r;

	/* upstream -> client */
	w = px_sock_send(&c->s, &c->out, &c->out_off, u->s.in + u->s.ib,
	    u->s.ie - u->s.ib);
	if (w < 0)
		goto gone;
	if (c->out_off == c->out.len && c->out.len) {
		c->bytes_out += c->out.len;
		buf_reset(&c->out);
		c->out_off = 0;
		progress = true;
	}
	if (w > 0) {
		u->s.ib += (size_t)w;
		c->bytes_out += (uint64_t)w;
		progress = true;
	}
	r = px_sock_read(&u->s);
	if (r == PX_IO_OK || r == PX_IO_EOF)
		progress = true;
	else if (r == PX_IO_ERR)
		goto gone;
	if (u->s.eof && u->s.ib == u->s.ie && c->out.len == 0 && !c->shut_c) {
		shutdown(c->s.fd, SHUT_WR);
		c->shut_c = true;
	}

	/* client -> upstream */
	w = px_sock_send(&u->s, NULL, NULL, c->s.in + c->s.ib,
	    c->s.ie - c->s.ib);
	if (w < 0)
		goto gone;
	if (w > 0) {
		c->s.ib += (size_t)w;
		progress = true;
	}
	r = px_sock_read(&c->s);
	if (r == PX_IO_OK || r == PX_IO_EOF)
		progress = true;
	else if (r == PX_IO_ERR)
		goto gone;
	if (c->s.eof && c->s.ib == c->s.ie && !c->shut_u) {
		shutdown(u->s.fd, SHUT_WR);
		c->shut_u = true;
	}

	if (c->shut_c && c->shut_u) {
		px_client_close(c);
		return -1;
	}
	if (progress)
		c->deadline = px_srv.now_ms + px_srv.o->tunnel_timeout;
	return progress;
gone:
	px_client_close(c);
	return -1;
}

/* Steps one wake-up may take for one connection before the others get
 * their turn (a fast download would otherwise hold the loop). */
#define PX_TURN 16

void
px_client_run(struct px_client *c)
{
	int p = 1, steps = 0;

	while (p > 0 && !c->s.dead) {
		if (++steps > PX_TURN) {
			/* Edge-triggered: no new event will come for bytes
			 * already waiting, so come back after this batch. */
			if (!c->queued) {
				c->queued = true;
				c->ready_next = px_srv.ready;
				px_srv.ready = c;
			}
			return;
		}
		switch (c->state) {
		case CS_HEAD:
			p = px_do_head(c);
			break;
		case CS_PROXY:
			p = px_do_proxy(c);
			break;
		case CS_LOCAL:
			p = px_do_local(c);
			break;
		case CS_TUNNEL:
			p = px_do_tunnel(c);
			break;
		case CS_LINGER:
			p = px_do_linger(c);
			break;
		}
	}
}

void
px_client_run_ready(void)
{
	struct px_client *list = px_srv.ready;

	px_srv.ready = NULL;
	while (list) {
		struct px_client *c = list;

		list = c->ready_next;
		c->queued = false;
		if (!c->s.dead)
			px_client_run(c);
	}
}

void
px_client_timeout(struct px_client *c)
{
	switch (c->state) {
	case CS_HEAD:
		if (c->s.ib == c->s.ie) {
			/* Idle keep-alive, or connected and silent. */
			c->t_start = 0;
			px_client_close(c);
			return;
		}
		px_request_reset(c);
		c->minor = 1;
		px_rid_make(c->rid);
		c->s.ib = c->s.ie;
		px_local(c, 408, "header-timeout", "request head too slow",
		    "the request head did not arrive within %u ms",
		    px_srv.o->header_timeout);
		break;
	case CS_PROXY:
		if (!c->req_scanned && c->req_pending == 0 &&
		    c->up && !c->up->connecting && c->rstate == RS_HEAD) {
			/* Everything we had went up; the client stopped
			 * sending its body. */
			px_local(c, 408, "body-timeout", "request body too slow",
			    "no request body bytes for %u ms",
			    px_srv.o->upstream_timeout);
		} else if (c->up && c->up->connecting) {
			px_local(c, 504, "connect-timeout",
			    "the backend did not accept the connection in time",
			    "app '%s', backend %s: no connection within %u ms",
			    c->app, c->be->addr, px_srv.o->connect_timeout);
		} else if (c->rstate == RS_HEAD) {
			px_local(c, 504, "response-timeout",
			    "the backend did not answer in time",
			    "app '%s', backend %s: no answer within %u ms",
			    c->app, c->be->addr, px_srv.o->upstream_timeout);
		} else {
			c->error = "transfer-timeout";
			px_client_close(c);
			return;
		}
		break;
	default:
		px_client_close(c);
		return;
	}
	if (!c->s.dead)
		px_client_run(c);
}
