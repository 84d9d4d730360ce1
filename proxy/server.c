/*
 * `slipway proxy`: the event loop.  One thread, one epoll set, every socket
 * non-blocking and edge-triggered (registered once, never modified), so a
 * wake-up costs one epoll_wait and the reads and writes it allows.  Timers
 * are deadlines on the connections, swept a few times a second: a slow
 * client only ever holds its own connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/listenfd.h"
#include "slipway/log.h"
#include "slipway/name.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

#define PROXY_EVENTS 256
#define PROXY_TICK_MS 100
#define PROXY_ALOG_FLUSH 16384
#define PROXY_STOP_GRACE_MS 10000

struct proxy_server proxy_srv;
static volatile sig_atomic_t proxy_stop;

void
proxy_opts_default(struct proxy_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:8080";
	o->listen_fd = -1;
	o->tls_listen_fd = -1;
	o->max_handshakes = 1024;
	o->handshake_timeout = 10000;
	o->domain = "localhost";
	o->access_log = "-";
	o->max_conns = 10000;
	o->max_conns_per_ip = 256;
	o->pool_max = 64;
	o->header_timeout = 10000;
	o->idle_timeout = 60000;
	o->connect_timeout = 5000;
	o->upstream_timeout = 60000;
	o->tunnel_timeout = 3600000;
	o->max_body = 0;
}

void
proxy_now_update(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	proxy_srv.now_ns = (uint64_t)ts.tv_sec * 1000000000ULL +
	    (uint64_t)ts.tv_nsec;
	proxy_srv.now_ms = proxy_srv.now_ns / 1000000;
}

void
proxy_sock_init(struct proxy_sock *s, int kind, int fd, bool with_buf)
{
	s->kind = kind;
	s->fd = fd;
	s->rd = s->wr = s->eof = s->dead = false;
	s->in = with_buf ? xmalloc(PROXY_BUF) : NULL;
	s->ib = s->ie = 0;
}

int
proxy_sock_add(struct proxy_sock *s)
{
	struct epoll_event ev = { .data.ptr = s };

	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	if (s->kind == PROXY_K_LISTEN || s->kind == PROXY_K_TLS_LISTEN ||
	    s->kind == PROXY_K_CTL_LISTEN)
		ev.events = EPOLLIN;
	if (epoll_ctl(proxy_srv.ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return err_sys("cannot watch socket");
	return 0;
}

/*
 * Read what fits into s->in.  A short read means the socket is drained
 * for now: with edge triggering the next arrival wakes us again.
 */
enum proxy_io
proxy_sock_read(struct proxy_sock *s)
{
	ssize_t n;

	if (!s->rd || s->eof)
		return PROXY_IO_AGAIN;
	if (s->ib == s->ie)
		s->ib = s->ie = 0;
	if (s->ie == PROXY_BUF && s->ib > 0) {
		memmove(s->in, s->in + s->ib, s->ie - s->ib);
		s->ie -= s->ib;
		s->ib = 0;
	}
	if (s->ie == PROXY_BUF)
		return PROXY_IO_AGAIN;
	if (s->ssl)
		return proxy_tls_read(s);
	n = read(s->fd, s->in + s->ie, PROXY_BUF - s->ie);
	if (n > 0) {
		/* A short read means nothing more for now, unless the peer's
		 * close came with the data: then no new edge will come, and
		 * the next read must see the end (a body ended by close). */
		if ((size_t)n < PROXY_BUF - s->ie && !s->hup)
			s->rd = false;
		s->ie += (size_t)n;
		return PROXY_IO_OK;
	}
	if (n == 0) {
		s->eof = true;
		return PROXY_IO_EOF;
	}
	if (errno == EAGAIN || errno == EINTR) {
		s->rd = false;
		return PROXY_IO_AGAIN;
	}
	return PROXY_IO_ERR;
}

/*
 * Write head[*head_off..] then body[0..n) with one writev.  Returns the
 * body bytes written (head bytes advance *head_off, up to head->len: the
 * caller resets the head when it wants), 0 when nothing more fits, -1 on
 * an error (errno).  head may be NULL.
 */
ssize_t
proxy_sock_send(struct proxy_sock *s, struct buf *head, size_t *head_off,
    const char *body, size_t n)
{
	struct iovec iov[2];
	size_t hn = head ? head->len - *head_off : 0;
	int cnt = 0;
	ssize_t w;

	if (hn == 0 && n == 0)
		return 0;
	if (!s->wr)
		return 0;
	if (s->ssl)
		return proxy_tls_send(s, head, head_off, body, n);
	if (hn)
		iov[cnt++] = (struct iovec){ head->ptr + *head_off, hn };
	if (n)
		iov[cnt++] = (struct iovec){ (void *)body, n };
	w = writev(s->fd, iov, cnt);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			s->wr = false;
			return 0;
		}
		return -1;
	}
	if ((size_t)w < hn + n)
		s->wr = false;
	if (hn) {
		if ((size_t)w < hn) {
			*head_off += (size_t)w;
			return 0;
		}
		*head_off = head->len;
		w -= (ssize_t)hn;
	}
	return w;
}

void
proxy_access_flush(void)
{
	size_t off = 0;

	while (off < proxy_srv.alog.len) {
		ssize_t w = write(proxy_srv.alog_fd, proxy_srv.alog.ptr + off,
		    proxy_srv.alog.len - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
	buf_reset(&proxy_srv.alog);
}

static void
proxy_on_signal(int sig)
{
	proxy_stop = 1;
}

static int
proxy_listen(const char *addr)
{
	struct proxy_backend parsed;
	int fd, one = 1;

	if (proxy_backend_parse(&parsed, addr) < 0)
		return err_set(ERR_INVALID, "'%s' is not a listen address "
		    "(IP:PORT)", addr);
	fd = socket(parsed.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys("cannot make a socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&parsed.sa, parsed.salen) < 0 ||
	    listen(fd, 4096) < 0) {
		int rc = err_sys("cannot listen on '%s'", addr);
		close(fd);
		return rc;
	}
	return fd;
}

static void
proxy_accept(struct proxy_sock *l)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(l->fd, (struct sockaddr *)&sa, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered listener: stop watching it a
				 * moment, or we would spin. */
				log_warn("accept");
				epoll_ctl(proxy_srv.ep, EPOLL_CTL_DEL,
				    proxy_srv.lsock.fd, NULL);
				if (proxy_srv.tsock.fd >= 0)
					epoll_ctl(proxy_srv.ep, EPOLL_CTL_DEL,
					    proxy_srv.tsock.fd, NULL);
				proxy_srv.accept_paused = true;
				proxy_srv.accept_resume = proxy_srv.now_ms + 200;
			}
			return;
		}
		proxy_client_accept(fd, &sa, l->kind == PROXY_K_TLS_LISTEN);
	}
}

/* Free what was closed during the last batch of events. */
static void
proxy_reap(void)
{
	while (proxy_srv.dead_clients) {
		struct proxy_client *c = proxy_srv.dead_clients;

		proxy_srv.dead_clients = c->dead_next;
		proxy_client_free(c);
	}
	while (proxy_srv.dead_ups) {
		struct proxy_upstream *u = proxy_srv.dead_ups;

		proxy_srv.dead_ups = u->dead_next;
		proxy_upstream_free(u);
	}
}

static void
proxy_sweep(void)
{
	struct proxy_client *c, *next;

	proxy_control_retry();
	if (proxy_srv.accept_paused && proxy_srv.now_ms >= proxy_srv.accept_resume) {
		proxy_srv.accept_paused = false;
		proxy_sock_add(&proxy_srv.lsock);
		if (proxy_srv.tsock.fd >= 0)
			proxy_sock_add(&proxy_srv.tsock);
	}
	proxy_certs_poll(proxy_srv.certs);
	for (c = proxy_srv.clients; c; c = next) {
		next = c->next;
		if (!c->s.dead && c->deadline && c->deadline <= proxy_srv.now_ms)
			proxy_client_timeout(c);
	}
	proxy_upstream_pool_sweep();
	if (proxy_srv.alog.len)
		proxy_access_flush();
}

static void
proxy_dispatch(struct epoll_event *e)
{
	struct proxy_sock *s = e->data.ptr;
	uint32_t ev = e->events;

	if (s->dead)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rd = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		s->hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->wr = true;
	/* TLS: a read that waited for room to write, or the other way. */
	if (s->rd_wants_wr && (ev & EPOLLOUT)) {
		s->rd = true;
		s->rd_wants_wr = false;
	}
	if (s->wr_wants_rd && (ev & EPOLLIN)) {
		s->wr = true;
		s->wr_wants_rd = false;
	}
	switch (s->kind) {
	case PROXY_K_LISTEN:
	case PROXY_K_TLS_LISTEN:
		proxy_accept(s);
		break;
	case PROXY_K_CTL_LISTEN:
		proxy_control_accept();
		break;
	case PROXY_K_CTL:
		proxy_control_event((struct proxy_control_conn *)s, ev);
		break;
	case PROXY_K_CLIENT:
		proxy_client_run((struct proxy_client *)s);
		break;
	case PROXY_K_UPSTREAM:
		proxy_upstream_event((struct proxy_upstream *)s);
		break;
	}
}

/*
 * SIGINT/SIGTERM: stop accepting, let requests in progress finish (their
 * answers say "Connection: close"), close idle connections, and stop when
 * none is left or after PROXY_STOP_GRACE_MS.
 */
static int
proxy_stop_begin(void)
{
	proxy_now_update();
	proxy_srv.stopping = true;
	proxy_srv.stop_deadline = proxy_srv.now_ms + PROXY_STOP_GRACE_MS;
	if (!proxy_srv.accept_paused) {
		epoll_ctl(proxy_srv.ep, EPOLL_CTL_DEL, proxy_srv.lsock.fd, NULL);
		if (proxy_srv.tsock.fd >= 0)
			epoll_ctl(proxy_srv.ep, EPOLL_CTL_DEL, proxy_srv.tsock.fd,
			    NULL);
	}
	proxy_srv.accept_paused = false;
	/* A listener handed over is closed here, in this process only: the
	 * socket lives on in its holder, and the connections queued on it
	 * wait for the proxy after this one. */
	close(proxy_srv.lsock.fd);
	proxy_srv.lsock.fd = -1;
	if (proxy_srv.tsock.fd >= 0)
		close(proxy_srv.tsock.fd);
	proxy_srv.tsock.fd = -1;
	proxy_control_release();
	log_info("stopping: %u connection%s open", proxy_srv.nclients,
	    proxy_srv.nclients == 1 ? "" : "s");
	return 0;
}

/*
 * While stopping: close what is idle; true when nothing is left.  Idle
 * is a keep-alive connection between requests.  A connection that has not
 * begun its first request is not idle: accepted just before the stop, its
 * client has sent (or is sending) a request, and closing it unread would
 * reset that request; it gets its answer or its header timeout.
 */
static bool
proxy_stop_done(void)
{
	for (struct proxy_client *c = proxy_srv.clients, *next; c; c = next) {
		next = c->next;
		if (c->state == CS_HEAD && c->s.ib == c->s.ie && c->nreq > 0) {
			c->t_start = 0;
			proxy_client_close(c);
		}
	}
	proxy_reap();
	if (proxy_srv.nclients && proxy_srv.now_ms < proxy_srv.stop_deadline)
		return false;
	if (proxy_srv.nclients)
		log_warnx("stopping: cutting %u connection%s still busy after "
		    "%d s", proxy_srv.nclients, proxy_srv.nclients == 1 ? "" : "s",
		    PROXY_STOP_GRACE_MS / 1000);
	return true;
}

static unsigned
proxy_sock_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* The HTTPS listener, when one is asked for, with its certificates. */
static int
proxy_tls_listen(const struct proxy_opts *o, char *taddr, size_t len)
{
	int fd, rc;

	taddr[0] = '\0';
	if (o->certs_dir &&
	    (rc = proxy_certs_open(&proxy_srv.certs, o->certs_dir)) < 0)
		return rc;
	if (o->tls_listen_fd < 0 && o->tls_listen == NULL)
		return 0;
	if (o->certs_dir == NULL)
		return err_set(ERR_INVALID, "an HTTPS listener needs its "
		    "certificates: give --certs DIR");
	if ((rc = proxy_tls_init()) < 0)
		return rc;
	if (o->tls_listen_fd >= 0) {
		fd = o->tls_listen_fd;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	} else if ((fd = proxy_listen(o->tls_listen)) < 0) {
		return fd;
	}
	listenfd_addr(taddr, len, fd);
	proxy_sock_init(&proxy_srv.tsock, PROXY_K_TLS_LISTEN, fd, false);
	proxy_srv.https_port = proxy_sock_port(fd);
	return proxy_sock_add(&proxy_srv.tsock);
}

static void
proxy_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
proxy_run(const struct proxy_opts *o)
{
	struct epoll_event events[PROXY_EVENTS];
	struct sigaction sa;
	uint64_t last_sweep = 0;
	char laddr[64], taddr[64];
	int rc = 0, lfd = -1;

	memset(&proxy_srv, 0, sizeof(proxy_srv));
	proxy_srv.o = o;
	proxy_srv.ep = -1;
	proxy_srv.alog_fd = -1;
	proxy_srv.ctl_lock = -1;
	proxy_srv.csock.fd = -1;
	proxy_srv.lsock.fd = -1;
	proxy_srv.tsock.fd = -1;
	proxy_routes_init(&proxy_srv.routes, o->domain);
	proxy_srv.routes.on_unrouted = proxy_backend_unrouted;
	buf_init(&proxy_srv.alog, 1 << 20);
	if (!name_domain_is_valid(o->domain)) {
		rc = err_set(ERR_INVALID, "'%s' is not a domain name",
		    o->domain);
		goto done;
	}
	if (getrandom(&proxy_srv.rid_seed, sizeof(proxy_srv.rid_seed), 0) < 0)
		proxy_srv.rid_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	sources_init(&proxy_srv.sources, proxy_srv.rid_seed * 0x9e3779b97f4a7c15ULL);
	proxy_srv.refused.every = 10;
	proxy_srv.tls_fail.every = 10;
	if (o->routes_file && access(o->routes_file, F_OK) == 0 &&
	    (rc = proxy_routes_load(&proxy_srv.routes, o->routes_file,
	    false)) < 0)
		goto done;
	if (o->access_log && strcmp(o->access_log, "-") == 0) {
		proxy_srv.alog_fd = STDERR_FILENO;
	} else if (o->access_log) {
		proxy_srv.alog_fd = open(o->access_log, O_WRONLY | O_APPEND |
		    O_CREAT | O_CLOEXEC, 0640);
		if (proxy_srv.alog_fd < 0) {
			rc = err_sys("cannot open access log '%s'",
			    o->access_log);
			goto done;
		}
	}
	proxy_raise_nofile();
	if ((proxy_srv.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		rc = err_sys("cannot make an epoll set");
		goto done;
	}
	/* The control socket first: once the port answers, routes can be
	 * set (tests and the runner wait for the port). */
	if ((rc = proxy_control_take(o->listen_fd >= 0)) < 0)
		goto done;
	if (o->listen_fd >= 0) {
		lfd = o->listen_fd;
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
		listenfd_addr(laddr, sizeof(laddr), lfd);
	} else if ((lfd = proxy_listen(o->listen)) < 0) {
		rc = lfd;
		goto done;
	} else {
		snprintf(laddr, sizeof(laddr), "%s", o->listen);
	}
	proxy_sock_init(&proxy_srv.lsock, PROXY_K_LISTEN, lfd, false);
	proxy_srv.http_port = proxy_sock_port(lfd);
	if ((rc = proxy_sock_add(&proxy_srv.lsock)) < 0)
		goto done;
	if ((rc = proxy_tls_listen(o, taddr, sizeof(taddr))) < 0)
		goto done;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = proxy_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("listening on %s%s (domain %s, control %s)", laddr,
	    o->listen_fd >= 0 ? ", handed over" : "", o->domain, o->control);
	if (taddr[0])
		log_info("listening for HTTPS on %s%s (certificates in %s)",
		    taddr, o->tls_listen_fd >= 0 ? ", handed over" : "",
		    o->certs_dir);
	listenfd_ready();

	for (;;) {
		int n;

		if (proxy_stop && !proxy_srv.stopping && proxy_stop_begin() < 0)
			break;
		if (proxy_srv.stopping && proxy_stop_done())
			break;
		n = epoll_wait(proxy_srv.ep, events, PROXY_EVENTS,
		    proxy_srv.ready ? 0 : PROXY_TICK_MS);
		if (n < 0 && errno != EINTR) {
			rc = err_sys("epoll_wait");
			break;
		}
		proxy_now_update();
		for (int i = 0; i < n; i++)
			proxy_dispatch(&events[i]);
		proxy_client_run_ready();
		proxy_reap();
		if (proxy_srv.now_ms - last_sweep >= PROXY_TICK_MS) {
			last_sweep = proxy_srv.now_ms;
			proxy_sweep();
			proxy_reap();
		} else if (proxy_srv.alog.len >= PROXY_ALOG_FLUSH) {
			proxy_access_flush();
		}
	}
done:
	while (proxy_srv.clients)
		proxy_client_close(proxy_srv.clients);
	proxy_reap();
	for (struct proxy_backend *b = proxy_srv.routes.backends; b; b = b->next)
		while (b->idle)
			proxy_upstream_close(b->idle);
	proxy_reap();
	proxy_control_close_all();
	if (proxy_srv.alog_fd >= 0) {
		proxy_access_flush();
		if (proxy_srv.alog_fd != STDERR_FILENO)
			close(proxy_srv.alog_fd);
	}
	proxy_control_release();
	if (proxy_srv.lsock.fd >= 0 && lfd >= 0)
		close(lfd);
	if (proxy_srv.tsock.fd >= 0)
		close(proxy_srv.tsock.fd);
	proxy_certs_free(proxy_srv.certs);
	proxy_tls_free();
	if (proxy_srv.ep >= 0)
		close(proxy_srv.ep);
	buf_free(&proxy_srv.alog);
	proxy_router_free();
	sources_free(&proxy_srv.sources);
	proxy_routes_free(&proxy_srv.routes);
	return rc;
}
