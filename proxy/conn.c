/*
 * A client connection, as a state machine driven by readiness: read a
 * request head, pick the app's next backend, stream the request up and the
 * response down (bodies pass through the read buffers untouched; nothing
 * waits for a whole body), then wait for the next request.  proxy_client_run
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

#define PROXY_LINGER_MS 2000
#define PROXY_OUT_MAX (PROXY_HEAD_MAX * 4)


/*
 * Answer a connection we will not take with a 503 and close it; log why,
 * one line per 10 s at most (a stranger repeats this at will).
 */
static void __attribute__((format(printf, 4, 5)))
proxy_client_refuse(int fd, const char *ip, const char *body, const char *fmt,
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
	if (!lograte_due(&suppressed, &proxy_srv.refused, proxy_srv.now_ms / 1e3))
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	lograte_more(more, sizeof(more), suppressed);
	log_warnx("refused a connection from %s: %s%s", ip, why, more);
}

static void
proxy_ip_format(char *out, size_t len, const struct sockaddr_storage *sa)
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

/* Connections in handshake, oldest first: proxy_srv.hs_head. */
static void
proxy_hs_add(struct proxy_client *c)
{
	c->hs_prev = proxy_srv.hs_tail;
	c->hs_next = NULL;
	if (proxy_srv.hs_tail)
		proxy_srv.hs_tail->hs_next = c;
	else
		proxy_srv.hs_head = c;
	proxy_srv.hs_tail = c;
	proxy_srv.nhs++;
}

static void
proxy_hs_remove(struct proxy_client *c)
{
	if (c->hs_prev)
		c->hs_prev->hs_next = c->hs_next;
	else
		proxy_srv.hs_head = c->hs_next;
	if (c->hs_next)
		c->hs_next->hs_prev = c->hs_prev;
	else
		proxy_srv.hs_tail = c->hs_prev;
	c->hs_next = c->hs_prev = NULL;
	proxy_srv.nhs--;
}

void
proxy_client_accept(int fd, const struct sockaddr_storage *sa, bool tls)
{
	struct proxy_client *c;
	struct sources_entry *src;
	char ip[48];
	int one = 1;

	proxy_ip_format(ip, sizeof(ip), sa);
	if (tls && proxy_srv.nhs >= proxy_srv.o->max_handshakes) {
		/* Full of handshakes: the oldest goes, not the newcomer.  A
		 * real client's handshake takes milliseconds, so what is
		 * oldest is what dribbles (OpenSSH's MaxStartups drops at
		 * random for the same reason). */
		struct proxy_client *old = proxy_srv.hs_head;
		unsigned suppressed;
		char more[64];

		if (lograte_due(&suppressed, &proxy_srv.tls_fail,
		    proxy_srv.now_ms / 1e3)) {
			lograte_more(more, sizeof(more), suppressed);
			log_warnx("dropped the oldest TLS handshake (from %s): "
			    "%u are in progress (--max-handshakes)%s", old->ip,
			    proxy_srv.nhs, more);
		}
		old->error = "tls-handshake-dropped";
		proxy_client_close(old);
	}
	if (proxy_srv.nclients >= proxy_srv.o->max_conns) {
		if (tls) {
			/* No words can be said before a handshake. */
			close(fd);
			return;
		}
		proxy_client_refuse(fd, ip, "503 Service Unavailable: too many "
		    "connections\n", "%u connections are open (--max-conns)",
		    proxy_srv.nclients);
		return;
	}
	src = sources_take(&proxy_srv.sources, (const struct sockaddr *)sa,
	    proxy_srv.o->max_conns_per_ip);
	if (src == NULL && tls) {
		close(fd);
		return;
	}
	if (src == NULL) {
		proxy_client_refuse(fd, ip, "503 Service Unavailable: too many "
		    "connections from your address\n", "%u connections from "
		    "it are open, the most one address may have "
		    "(--max-conns-per-ip)", proxy_srv.o->max_conns_per_ip);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = xcalloc(1, sizeof(*c));
	proxy_sock_init(&c->s, PROXY_K_CLIENT, fd, true);
	memcpy(c->ip, ip, sizeof(c->ip));
	c->src = src;
	buf_init(&c->out, PROXY_OUT_MAX);
	buf_init(&c->uphead, PROXY_OUT_MAX);
	c->state = CS_HEAD;
	/* The first head's deadline counts from the connect: its first byte
	 * does not restart it (proxy_do_head), so a stranger holds a connection
	 * without a head for header_timeout, not twice that.  A handshake
	 * has its own (and then the head its header_timeout). */
	c->deadline = proxy_srv.now_ms + proxy_srv.o->header_timeout;
	c->tls = tls;
	if (tls) {
		c->state = CS_TLS;
		c->deadline = proxy_srv.now_ms + proxy_srv.o->handshake_timeout;
	}
	if ((tls && proxy_tls_start(c) < 0) || proxy_sock_add(&c->s) < 0) {
		if (!c->s.ssl && !tls)
			log_warnx("%s", err_last());
		if (c->s.ssl)
			proxy_tls_close(&c->s);
		sources_put(&proxy_srv.sources, src);
		close(fd);
		buf_free(&c->out);
		buf_free(&c->uphead);
		free(c->s.in);
		free(c);
		return;
	}
	if (tls)
		proxy_hs_add(c);
	c->next = proxy_srv.clients;
	if (c->next)
		c->next->prev = c;
	proxy_srv.clients = c;
	proxy_srv.nclients++;
}

/* The request is over for the backend: log it, stop counting it. */
void
proxy_request_account(struct proxy_client *c)
{
	struct proxy_backend *b = c->be;

	if (c->t_start == 0)
		return;
	proxy_access_log(c);
	c->t_start = 0;
	if (b) {
		c->be = NULL;
		b->inflight--;
		b->served++;
		proxy_routes_backend_gc(&proxy_srv.routes, b);
	}
}

void
proxy_client_close(struct proxy_client *c)
{
	if (c->s.dead)
		return;
	if (c->up) {
		proxy_upstream_close(c->up);
		c->up = NULL;
	}
	if (c->t_start && c->status == 0) {
		c->status = 499;    /* as nginx: closed before an answer */
		if (c->error == NULL)
			c->error = "closed";
	}
	proxy_request_account(c);
	if (c->queued) {
		struct proxy_client **pp = &proxy_srv.ready;

		while (*pp != c)
			pp = &(*pp)->ready_next;
		*pp = c->ready_next;
		c->queued = false;
	}
	if (c->state == CS_TLS)
		proxy_hs_remove(c);
	if (c->s.ssl)
		proxy_tls_close(&c->s);
	close(c->s.fd);
	c->s.fd = -1;
	c->s.dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		proxy_srv.clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->dead_next = proxy_srv.dead_clients;
	proxy_srv.dead_clients = c;
	proxy_srv.nclients--;
	sources_put(&proxy_srv.sources, c->src);
	c->src = NULL;
}

void
proxy_client_free(struct proxy_client *c)
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
proxy_client_linger(struct proxy_client *c)
{
	proxy_sock_shut(&c->s);
	c->state = CS_LINGER;
	c->deadline = proxy_srv.now_ms + PROXY_LINGER_MS;
}

/*
 * Answer the current request ourselves.  what is the page's first line;
 * c->why (set by the caller or from fmt) says why.  Once a response has
 * started nothing can be said any more: the connection is closed.
 */
int
proxy_local(struct proxy_client *c, int status, const char *kind,
    const char *what, const char *fmt, ...)
{
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
	if (c->up) {
		proxy_upstream_close(c->up);
		c->up = NULL;
	}
	c->error = kind;
	if (c->resp_started) {
		proxy_client_close(c);
		return -1;
	}
	c->status = status;
	/* A body we did not read (or did not finish reading) is in the way
	 * of the next request. */
	if (!c->req_done && !(c->req_body == PROXY_BODY_NONE))
		c->close_after = true;
	if (status == 400 || status == 408 || status == 413 || status == 414 ||
	    status == 431 || status == 501 || status == 505)
		c->close_after = true;
	proxy_build_page(c, status, kind, what);
	c->bytes_out = c->out.len;
	proxy_request_account(c);
	c->state = CS_LOCAL;
	c->deadline = proxy_srv.now_ms + proxy_srv.o->upstream_timeout;
	return 1;
}

int
proxy_local_answer(struct proxy_client *c, int status, const char *extra,
    const char *body, size_t n)
{
	if (c->up) {
		proxy_upstream_close(c->up);
		c->up = NULL;
	}
	c->status = status;
	if (!c->req_done && !(c->req_body == PROXY_BODY_NONE))
		c->close_after = true;
	proxy_build_answer(c, status, extra, body, n);
	c->bytes_out = c->out.len;
	proxy_request_account(c);
	c->state = CS_LOCAL;
	c->deadline = proxy_srv.now_ms + proxy_srv.o->upstream_timeout;
	return 1;
}

/* Reset what one request leaves behind. */
void
proxy_request_reset(struct proxy_client *c)
{
	c->tries = 0;
	c->why[0] = '\0';
	c->app[0] = '\0';
	c->req_body = PROXY_BODY_NONE;
	c->req_left = c->req_total = 0;
	memset(&c->req_ck, 0, sizeof(c->req_ck));
	c->req_pending = 0;
	c->req_scanned = c->req_sent_body = c->req_done = false;
	c->rstate = RS_HEAD;
	c->resp_body = PROXY_BODY_NONE;
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
proxy_do_head(struct proxy_client *c)
{
	struct proxy_head h;
	enum proxy_io r;
	int status, rc;

	if (c->s.ib < c->s.ie) {
		rc = proxy_http_parse_request(&h, &status, c->s.in + c->s.ib,
		    c->s.ie - c->s.ib);
		if (rc > 0)
			return proxy_request_start(c, &h);
		if (rc < 0) {
			proxy_request_reset(c);
			c->nreq++;
			c->minor = 1;
			c->method[0] = c->target[0] = c->host[0] = '\0';
			proxy_rid_make(c->rid);
			c->s.ib = c->s.ie;
			if (c->t_start == 0)
				c->t_start = proxy_srv.now_ns;
			return proxy_local(c, status, status == 431 || status == 414 ?
			    "too-large" : "bad-request",
			    status == 431 ? "request head too large" :
			    status == 414 ? "request line too long" :
			    "bad request", "%s", err_last());
		}
	}
	r = proxy_sock_read(&c->s);
	if (r == PROXY_IO_OK) {
		if (c->t_start == 0) {
			/* The first byte of a request starts its clock; on a
			 * kept-alive connection it also ends the idle wait
			 * and starts the head's deadline (the first head's
			 * runs from the connect). */
			c->t_start = proxy_srv.now_ns;
			if (c->nreq > 0)
				c->deadline = proxy_srv.now_ms +
				    proxy_srv.o->header_timeout;
		}
		return 1;
	}
	if (r == PROXY_IO_AGAIN && !c->s.eof)
		return 0;
	/* Gone between requests, or in the middle of a head. */
	c->t_start = 0;
	proxy_client_close(c);
	return -1;
}

static int
proxy_do_tls(struct proxy_client *c)
{
	int rc = proxy_tls_handshake(c);

	if (rc <= 0)
		return rc;
	proxy_hs_remove(c);
	c->state = CS_HEAD;
	c->deadline = proxy_srv.now_ms + proxy_srv.o->header_timeout;
	return 1;
}

static int
proxy_do_local(struct proxy_client *c)
{
	bool progress = false;

	if (proxy_flush_out(c, &progress) < 0) {
		proxy_client_close(c);
		return -1;
	}
	if (c->out.len)
		return progress;
	if (c->close_after || !c->keepalive || c->s.eof) {
		proxy_client_linger(c);
		return 1;
	}
	c->state = CS_HEAD;
	c->deadline = proxy_srv.now_ms + (c->s.ib < c->s.ie ?
	    proxy_srv.o->header_timeout : proxy_srv.o->idle_timeout);
	if (c->s.ib < c->s.ie)
		c->t_start = proxy_srv.now_ns;
	return 1;
}

static int
proxy_do_linger(struct proxy_client *c)
{
	for (;;) {
		enum proxy_io r;

		c->s.ib = c->s.ie = 0;
		r = proxy_sock_read(&c->s);
		if (r == PROXY_IO_AGAIN && !c->s.eof)
			return 0;
		if (r != PROXY_IO_OK) {
			proxy_client_close(c);
			return -1;
		}
	}
}

/* After 101: bytes both ways until both sides have closed. */
static int
proxy_do_tunnel(struct proxy_client *c)
{
	struct proxy_upstream *u = c->up;
	bool progress = false;
	ssize_t w;
	enum proxy_io r;

	/* upstream -> client */
	w = proxy_sock_send(&c->s, &c->out, &c->out_off, u->s.in + u->s.ib,
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
	r = proxy_sock_read(&u->s);
	if (r == PROXY_IO_OK || r == PROXY_IO_EOF)
		progress = true;
	else if (r == PROXY_IO_ERR)
		goto gone;
	if (u->s.eof && u->s.ib == u->s.ie && c->out.len == 0 && !c->shut_c) {
		proxy_sock_shut(&c->s);
		c->shut_c = true;
	}

	/* client -> upstream */
	w = proxy_sock_send(&u->s, NULL, NULL, c->s.in + c->s.ib,
	    c->s.ie - c->s.ib);
	if (w < 0)
		goto gone;
	if (w > 0) {
		c->s.ib += (size_t)w;
		progress = true;
	}
	r = proxy_sock_read(&c->s);
	if (r == PROXY_IO_OK || r == PROXY_IO_EOF)
		progress = true;
	else if (r == PROXY_IO_ERR)
		goto gone;
	if (c->s.eof && c->s.ib == c->s.ie && !c->shut_u) {
		shutdown(u->s.fd, SHUT_WR);
		c->shut_u = true;
	}

	if (c->shut_c && c->shut_u) {
		proxy_client_close(c);
		return -1;
	}
	if (progress)
		c->deadline = proxy_srv.now_ms + proxy_srv.o->tunnel_timeout;
	return progress;
gone:
	proxy_client_close(c);
	return -1;
}

/* Steps one wake-up may take for one connection before the others get
 * their turn (a fast download would otherwise hold the loop). */
#define PROXY_TURN 16

void
proxy_client_run(struct proxy_client *c)
{
	int p = 1, steps = 0;

	while (p > 0 && !c->s.dead) {
		if (++steps > PROXY_TURN) {
			/* Edge-triggered: no new event will come for bytes
			 * already waiting, so come back after this batch. */
			if (!c->queued) {
				c->queued = true;
				c->ready_next = proxy_srv.ready;
				proxy_srv.ready = c;
			}
			return;
		}
		switch (c->state) {
		case CS_TLS:
			p = proxy_do_tls(c);
			break;
		case CS_HEAD:
			p = proxy_do_head(c);
			break;
		case CS_PROXY:
			p = proxy_do_proxy(c);
			break;
		case CS_LOCAL:
			p = proxy_do_local(c);
			break;
		case CS_TUNNEL:
			p = proxy_do_tunnel(c);
			break;
		case CS_LINGER:
			p = proxy_do_linger(c);
			break;
		}
	}
}

void
proxy_client_run_ready(void)
{
	struct proxy_client *list = proxy_srv.ready;

	proxy_srv.ready = NULL;
	while (list) {
		struct proxy_client *c = list;

		list = c->ready_next;
		c->queued = false;
		if (!c->s.dead)
			proxy_client_run(c);
	}
}

void
proxy_client_timeout(struct proxy_client *c)
{
	switch (c->state) {
	case CS_TLS:
		c->error = "tls-handshake-timeout";
		proxy_client_close(c);
		return;
	case CS_HEAD:
		if (c->s.ib == c->s.ie) {
			/* Idle keep-alive, or connected and silent. */
			c->t_start = 0;
			proxy_client_close(c);
			return;
		}
		proxy_request_reset(c);
		c->minor = 1;
		proxy_rid_make(c->rid);
		c->s.ib = c->s.ie;
		proxy_local(c, 408, "header-timeout", "request head too slow",
		    "the request head did not arrive within %u ms",
		    proxy_srv.o->header_timeout);
		break;
	case CS_PROXY:
		if (!c->req_scanned && c->req_pending == 0 &&
		    c->up && !c->up->connecting && c->rstate == RS_HEAD) {
			/* Everything we had went up; the client stopped
			 * sending its body. */
			proxy_local(c, 408, "body-timeout", "request body too slow",
			    "no request body bytes for %u ms",
			    proxy_srv.o->upstream_timeout);
		} else if (c->up && c->up->connecting) {
			proxy_local(c, 504, "connect-timeout",
			    "the backend did not accept the connection in time",
			    "app '%s', backend %s: no connection within %u ms",
			    c->app, c->be->addr, proxy_srv.o->connect_timeout);
		} else if (c->rstate == RS_HEAD) {
			proxy_local(c, 504, "response-timeout",
			    "the backend did not answer in time",
			    "app '%s', backend %s: no answer within %u ms",
			    c->app, c->be->addr, proxy_srv.o->upstream_timeout);
		} else {
			c->error = "transfer-timeout";
			proxy_client_close(c);
			return;
		}
		break;
	default:
		proxy_client_close(c);
		return;
	}
	if (!c->s.dead)
		proxy_client_run(c);
}
