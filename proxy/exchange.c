/*
 * One request/response exchange with a backend: route the request, pick a
 * backend (trying the next when one refuses), stream the request up and
 * the response down through the read buffers, and finish or fail it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slipway/err.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

static int proxy_connect_next(struct proxy_client *c);
static const char *proxy_what(const char *kind);

static void
proxy_copy(char *dst, size_t cap, struct proxy_str s)
{
	size_t n = s.n < cap - 1 ? s.n : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}


/*
 * What certificates decide before routing (docs/proxy.md): on the plain
 * listener, the ACME challenge path is answered for any host, and a host
 * with a valid certificate is redirected to https unless its options say
 * "redirect off"; on the HTTPS listener the Host must be the name the
 * handshake chose (421 otherwise: the certificate vouched for that name
 * only), and the host's hsts option applies.  Returns 0 to go on routing,
 * else what proxy_local returns.
 */
static int
proxy_request_tls(struct proxy_client *c, const struct proxy_head *h)
{
	const struct proxy_cert *crt;
	char host[256], loc[PROXY_LINE_MAX + 320], port[16] = "";
	int rc;

	c->hsts = 0;
	if (proxy_srv.certs == NULL)
		return 0;
	if (proxy_host_norm(host, sizeof(host), h->host.p, h->host.n) == 0)
		host[0] = '\0';
	if (c->tls) {
		if (strcmp(host, c->sni) != 0)
			return proxy_local(c, 421, "misdirected",
			    "misdirected request", "this connection is for "
			    "'%s', not for '%s'", c->sni, c->host);
		if ((crt = proxy_certs_find(proxy_srv.certs, host)) != NULL)
			c->hsts = crt->hsts;
		return 0;
	}
	if ((rc = proxy_certs_challenge(c, h->path, proxy_str_eq(h->method,
	    "get") || c->is_head)) != 0)
		return rc;
	if (proxy_srv.tsock.fd < 0 || host[0] == '\0' ||
	    (crt = proxy_certs_find(proxy_srv.certs, host)) == NULL ||
	    !crt->redirect)
		return 0;
	if (proxy_srv.https_port != 443)
		snprintf(port, sizeof(port), ":%u", proxy_srv.https_port);
	/* The path as sent: the parser let only visible ASCII through. */
	snprintf(loc, sizeof(loc), "Location: https://%s%s%.*s\r\n", host,
	    port, (int)(h->path.n ? h->path.n : 1), h->path.n ? h->path.p : "/");
	snprintf(c->app, sizeof(c->app), "%s", "-");
	c->error = "redirect";
	return proxy_local_answer(c, proxy_str_eq(h->method, "get") || c->is_head ?
	    301 : 308, loc, "", 0);
}

/* A complete head is at in[ib..): check it, route it, start it. */
int
proxy_request_start(struct proxy_client *c, const struct proxy_head *h)
{
	struct proxy_app *a;
	int rc;

	c->nreq++;
	proxy_request_reset(c);
	if (c->t_start == 0)
		c->t_start = proxy_srv.now_ns;
	proxy_copy(c->method, sizeof(c->method), h->method);
	proxy_copy(c->target, sizeof(c->target), h->target);
	proxy_copy(c->host, sizeof(c->host), h->host);
	c->minor = h->minor;
	c->is_head = proxy_str_eq(h->method, "head");
	c->keepalive = !h->conn_close && (h->minor == 1 || h->conn_keepalive);
	c->upgrade = h->minor == 1 && h->conn_upgrade && h->upgrade.n > 0;
	if (proxy_rid_valid(h->request_id))
		proxy_copy(c->rid, sizeof(c->rid), h->request_id);
	else
		proxy_rid_make(c->rid);
	if (h->chunked) {
		c->req_body = PROXY_BODY_CHUNKED;
	} else if (h->content_length > 0) {
		c->req_body = PROXY_BODY_LENGTH;
		c->req_left = (uint64_t)h->content_length;
	} else {
		c->req_scanned = true;
	}

	if ((rc = proxy_request_tls(c, h)) != 0) {
		c->s.ib += h->len;
		return rc;
	}
	a = proxy_routes_lookup(&proxy_srv.routes, h->host.p, h->host.n);
	if (a == NULL) {
		c->s.ib += h->len;
		return proxy_local(c, 404, "no-route", "no app here",
		    "no app is routed at host '%s'", c->host);
	}
	snprintf(c->app, sizeof(c->app), "%s", a->name);
	if (proxy_srv.o->max_body && c->req_body == PROXY_BODY_LENGTH &&
	    c->req_left > proxy_srv.o->max_body) {
		c->s.ib += h->len;
		return proxy_local(c, 413, "too-large", "request body too large",
		    "the body of %llu bytes is over the limit of %llu",
		    (unsigned long long)c->req_left, proxy_srv.o->max_body);
	}
	proxy_build_request(c, h);
	c->s.ib += h->len;
	c->state = CS_PROXY;
	return proxy_connect_next(c);
}

/*
 * Give the request to the app's next backend.  The route is looked up
 * again: between two tries it may have been swapped, and the request
 * belongs to whichever backend it gets here until it is done.
 */
static int
proxy_connect_next(struct proxy_client *c)
{
	struct proxy_app *a = proxy_routes_app(&proxy_srv.routes, c->app);
	struct proxy_upstream *u;
	struct proxy_backend *b;

	for (;;) {
		if (a == NULL)
			return proxy_local(c, 503, "no-backend", "no backend",
			    "app '%s' has no route any more", c->app);
		if (a->maintenance)
			return proxy_local(c, 503, "maintenance",
			    "the app is in maintenance mode",
			    "app '%s' is in maintenance mode; try again later",
			    c->app);
		if (a->nbackends == 0)
			return proxy_local(c, 503, "no-backend", "no backend",
			    "app '%s' has no backend up", c->app);
		if (c->tries > a->nbackends)
			return proxy_local(c, 502, c->error ? c->error :
			    "backend-refused", proxy_what(c->error), NULL);
		b = proxy_app_pick(a);
		c->tries++;
		if (c->be != b) {
			if (c->be) {
				struct proxy_backend *old = c->be;

				c->be = NULL;
				old->inflight--;
				proxy_routes_backend_gc(&proxy_srv.routes, old);
			}
			c->be = b;
			b->inflight++;
		}
		if (proxy_upstream_get(&u, b) < 0) {
			c->error = "backend-refused";
			snprintf(c->why, sizeof(c->why), "app '%s', backend %s: "
			    "%s", c->app, b->addr, err_last());
			continue;
		}
		u->c = c;
		c->up = u;
		c->uphead_off = 0;
		c->deadline = proxy_srv.now_ms + (u->connecting ?
		    proxy_srv.o->connect_timeout : proxy_srv.o->upstream_timeout);
		if (!u->connecting)
			c->t_up = proxy_srv.now_ns;
		return 1;
	}
}

static const char *
proxy_what(const char *kind)
{
	if (kind && strcmp(kind, "backend-closed") == 0)
		return "the backend closed the connection without answering";
	return "the backend refused the connection";
}

static bool
proxy_idempotent(const struct proxy_client *c)
{
	return strcmp(c->method, "GET") == 0 || strcmp(c->method, "HEAD") == 0 ||
	    strcmp(c->method, "OPTIONS") == 0;
}

/*
 * The upstream failed before answering.  Try another backend when the
 * request cannot have reached one (nothing written) or went out on a kept
 * connection the backend had closed meanwhile (then only a bodiless
 * GET/HEAD/OPTIONS); otherwise say 502.
 */
static int
proxy_upstream_failed(struct proxy_client *c, const char *kind,
    const char *what)
{
	struct proxy_upstream *u = c->up;
	struct proxy_backend *b = c->be;
	bool wrote = c->uphead_off > 0 || c->req_sent_body;
	bool reused = u->reused;
	bool retry = !c->resp_started && u->s.ie == 0 && (!wrote ||
	    (reused && proxy_idempotent(c) && c->req_body == PROXY_BODY_NONE));

	c->error = kind;
	snprintf(c->why, sizeof(c->why), "app '%s', backend %s: %s", c->app,
	    b->addr, what);
	if (reused) {
		/* One stale kept connection: the others likely are too. */
		b->inflight++;
		while (b->idle)
			proxy_upstream_close(b->idle);
		b->inflight--;
	}
	proxy_upstream_close(u);
	c->up = NULL;
	if (retry) {
		if (reused)
			c->tries--;   /* a stale connection is not a try */
		return proxy_connect_next(c);
	}
	if (c->resp_started) {
		proxy_client_close(c);
		return -1;
	}
	return proxy_local(c, 502, kind, proxy_what(kind), NULL);
}

/* Flush pending head bytes to the client.  -1 when the client is gone. */
int
proxy_flush_out(struct proxy_client *c, bool *progress)
{
	size_t before = c->out_off;

	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
		return 0;
	}
	if (proxy_sock_send(&c->s, &c->out, &c->out_off, NULL, 0) < 0)
		return -1;
	if (c->out_off != before)
		*progress = true;
	c->bytes_out += c->out_off - before;
	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	return 0;
}

/* Done: release the upstream, account, and wait for the next request. */
static int
proxy_request_done(struct proxy_client *c)
{
	bool reusable = c->req_done && c->resp_body != PROXY_BODY_CLOSE &&
	    !c->up_close && c->minor == 1;

	proxy_upstream_release(c->up, reusable);
	c->up = NULL;
	proxy_request_account(c);
	if (c->close_after || !c->keepalive || c->s.eof) {
		proxy_client_linger(c);
		return 1;
	}
	c->state = CS_HEAD;
	if (c->s.ib < c->s.ie) {
		c->t_start = proxy_srv.now_ns;
		c->deadline = proxy_srv.now_ms + proxy_srv.o->header_timeout;
	} else {
		c->deadline = proxy_srv.now_ms + proxy_srv.o->idle_timeout;
	}
	return 1;
}

/* A final, interim or 101 response head arrived. */
static int
proxy_response_head(struct proxy_client *c, const struct proxy_head *h)
{
	struct proxy_upstream *u = c->up;

	if (h->status == 101) {
		if (!c->upgrade)
			return proxy_local(c, 502, "backend-invalid",
			    "invalid answer from the backend", "app '%s', "
			    "backend %s: switched protocols unasked", c->app,
			    c->be->addr);
		c->status = 101;
		c->t_head = proxy_srv.now_ns;
		c->resp_started = true;
		proxy_build_response(c, h);
		u->s.ib += h->len;
		c->state = CS_TUNNEL;
		c->deadline = proxy_srv.now_ms + proxy_srv.o->tunnel_timeout;
		return 1;
	}
	if (h->status < 200) {
		/* Interim (100 Continue, 103): pass on to HTTP/1.1 clients. */
		if (c->minor == 1)
			proxy_build_response(c, h);
		u->s.ib += h->len;
		return 1;
	}
	c->status = h->status;
	c->t_head = proxy_srv.now_ns;
	if (c->is_head || h->status == 204 || h->status == 304) {
		c->resp_body = PROXY_BODY_NONE;
	} else if (h->chunked) {
		if (c->minor == 0)
			return proxy_local(c, 502, "backend-invalid",
			    "invalid answer from the backend", "app '%s', "
			    "backend %s: chunked answer to HTTP/1.0", c->app,
			    c->be->addr);
		c->resp_body = PROXY_BODY_CHUNKED;
	} else if (h->content_length >= 0) {
		c->resp_body = PROXY_BODY_LENGTH;
		c->resp_left = (uint64_t)h->content_length;
	} else {
		c->resp_body = PROXY_BODY_CLOSE;
	}
	c->resp_scanned = c->resp_body == PROXY_BODY_NONE ||
	    (c->resp_body == PROXY_BODY_LENGTH && c->resp_left == 0);
	c->up_close = h->conn_close || (h->minor == 0 && !h->conn_keepalive);
	c->close_after = !c->keepalive || c->resp_body == PROXY_BODY_CLOSE ||
	    !c->req_done || c->s.eof || proxy_srv.stopping;
	proxy_build_response(c, h);
	c->resp_started = true;
	u->s.ib += h->len;
	c->rstate = RS_BODY;
	return 1;
}

/* Move request bytes up.  Returns -1 when c was closed. */
static int
proxy_pump_request(struct proxy_client *c, bool *progress)
{
	struct proxy_upstream *u = c->up;
	size_t before = c->uphead_off;
	ssize_t w;

	if (!c->req_scanned) {
		size_t from = c->s.ib + c->req_pending, avail = c->s.ie - from;
		ssize_t k = (ssize_t)avail;

		if (c->req_body == PROXY_BODY_LENGTH) {
			if ((uint64_t)k > c->req_left)
				k = (ssize_t)c->req_left;
			c->req_left -= (uint64_t)k;
			c->req_scanned = c->req_left == 0;
		} else if (avail) {
			k = proxy_chunk_scan(&c->req_ck, c->s.in + from, avail);
			if (k < 0)
				return proxy_local(c, 400, "bad-request",
				    "bad request", "malformed chunked body: %s",
				    err_last()) < 0 ? -1 : 0;
			c->req_scanned = c->req_ck.done;
		}
		c->req_pending += (size_t)k;
		c->req_total += (uint64_t)k;
		if (proxy_srv.o->max_body && c->req_total > proxy_srv.o->max_body)
			return proxy_local(c, 413, "too-large",
			    "request body too large", "the body is over the "
			    "limit of %llu bytes", proxy_srv.o->max_body) < 0 ?
			    -1 : 0;
	}
	w = proxy_sock_send(&u->s, &c->uphead, &c->uphead_off,
	    c->s.in + c->s.ib, c->req_pending);
	if (w < 0)
		return proxy_upstream_failed(c, "backend-closed", strerror(errno))
		    < 0 ? -1 : 0;
	if (w > 0) {
		c->s.ib += (size_t)w;
		c->req_pending -= (size_t)w;
		c->req_sent_body = true;
	}
	if (w > 0 || c->uphead_off != before)
		*progress = true;
	if (c->uphead_off == c->uphead.len && c->req_scanned &&
	    c->req_pending == 0) {
		c->req_done = true;
		return 0;
	}
	if (!c->req_scanned) {
		enum proxy_io r = proxy_sock_read(&c->s);

		if (r == PROXY_IO_OK)
			*progress = true;
		else if (r != PROXY_IO_AGAIN) {
			/* The client left in the middle of its body. */
			c->error = "client-closed-body";
			proxy_client_close(c);
			return -1;
		}
	}
	return 0;
}

/* Move response bytes down.  Returns -1 when c was closed. */
static int
proxy_pump_response(struct proxy_client *c, bool *progress)
{
	struct proxy_upstream *u = c->up;
	struct proxy_head h;
	enum proxy_io r;
	size_t before;
	ssize_t w;
	int rc;

	if (c->rstate == RS_HEAD) {
		/* Interim heads wait until the one before is flushed.  (A
		 * final head is not flushed here: it leaves with the first
		 * body bytes, in one writev.) */
		if (proxy_flush_out(c, progress) < 0) {
			c->error = "client-gone";
			proxy_client_close(c);
			return -1;
		}
		if (c->out.len)
			return 0;
		if (u->s.ib < u->s.ie) {
			rc = proxy_http_parse_response(&h, u->s.in + u->s.ib,
			    u->s.ie - u->s.ib);
			if (rc < 0)
				return proxy_local(c, 502, "backend-invalid",
				    "invalid answer from the backend",
				    "app '%s', backend %s: %s", c->app,
				    c->be->addr, err_last()) < 0 ? -1 : 0;
			if (rc > 0) {
				*progress = true;
				return proxy_response_head(c, &h) < 0 ? -1 : 0;
			}
		}
		r = proxy_sock_read(&u->s);
		if (r == PROXY_IO_OK) {
			*progress = true;
		} else if (r != PROXY_IO_AGAIN) {
			return proxy_upstream_failed(c, "backend-closed",
			    r == PROXY_IO_EOF ? "closed the connection without "
			    "answering" : strerror(errno)) < 0 ? -1 : 0;
		}
		return 0;
	}
	if (c->rstate != RS_BODY)
		return 0;
	if (!c->resp_scanned) {
		size_t from = u->s.ib + c->resp_pending, avail = u->s.ie - from;
		ssize_t k = (ssize_t)avail;

		if (c->resp_body == PROXY_BODY_LENGTH) {
			if ((uint64_t)k > c->resp_left)
				k = (ssize_t)c->resp_left;
			c->resp_left -= (uint64_t)k;
			c->resp_scanned = c->resp_left == 0;
		} else if (c->resp_body == PROXY_BODY_CHUNKED && avail) {
			k = proxy_chunk_scan(&c->resp_ck, u->s.in + from, avail);
			if (k < 0) {
				c->error = "backend-bad-chunk";
				proxy_client_close(c);
				return -1;
			}
			c->resp_scanned = c->resp_ck.done;
		}
		c->resp_pending += (size_t)k;
	}
	before = c->out_off;
	w = proxy_sock_send(&c->s, &c->out, &c->out_off, u->s.in + u->s.ib,
	    c->resp_pending);
	if (w < 0) {
		c->error = "client-gone";
		proxy_client_close(c);
		return -1;
	}
	if (c->out_off != before) {
		c->bytes_out += c->out_off - before;
		*progress = true;
	}
	if (w > 0) {
		u->s.ib += (size_t)w;
		c->resp_pending -= (size_t)w;
		c->bytes_out += (uint64_t)w;
		*progress = true;
	}
	if (proxy_flush_out(c, progress) < 0)
		return -1;
	if (c->resp_scanned) {
		if (c->resp_pending == 0 && c->out.len == 0)
			c->rstate = RS_DONE;
		return 0;
	}
	r = proxy_sock_read(&u->s);
	if (r == PROXY_IO_OK) {
		*progress = true;
	} else if (r != PROXY_IO_AGAIN) {
		if (r == PROXY_IO_EOF && c->resp_body == PROXY_BODY_CLOSE) {
			c->resp_scanned = true;
			*progress = true;
			return 0;
		}
		/* Cut short: the client can only learn it from the close. */
		c->error = "backend-closed-mid-answer";
		proxy_client_close(c);
		return -1;
	}
	return 0;
}

int
proxy_do_proxy(struct proxy_client *c)
{
	struct proxy_upstream *u = c->up;
	bool progress = false;

	if (u->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!u->s.wr)
			return 0;
		if (getsockopt(u->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY) {
			u->s.wr = false;
			return 0;
		}
		if (err)
			return proxy_upstream_failed(c, "backend-refused",
			    strerror(err));
		u->connecting = false;
		c->t_up = proxy_srv.now_ns;
		c->deadline = proxy_srv.now_ms + proxy_srv.o->upstream_timeout;
		progress = true;
	}
	if (!c->req_done && proxy_pump_request(c, &progress) < 0)
		return -1;
	if (c->state != CS_PROXY)
		return 1;
	if (proxy_pump_response(c, &progress) < 0)
		return -1;
	if (c->state != CS_PROXY)
		return 1;
	if (c->rstate == RS_DONE) {
		if (!c->req_done)
			c->close_after = true;
		return proxy_request_done(c);
	}
	if (progress)
		c->deadline = proxy_srv.now_ms + proxy_srv.o->upstream_timeout;
	return progress;
}

