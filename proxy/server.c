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
#include "slipway/log.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

#define PX_EVENTS 256
#define PX_TICK_MS 100
#define PX_ALOG_FLUSH 16384
#define PX_STOP_GRACE_MS 10000

struct px_server px_srv;
static volatile sig_atomic_t px_stop;

void
proxy_opts_default(struct proxy_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:8080";
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
px_now_update(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	px_srv.now_ns = (uint64_t)ts.tv_sec * 1000000000ULL +
	    (uint64_t)ts.tv_nsec;
	px_srv.now_ms = px_srv.now_ns / 1000000;
}

void
px_sock_init(struct px_sock *s, int kind, int fd, bool with_buf)
{
	s->kind = kind;
	s->fd = fd;
	s->rd = s->wr = s->eof = s->dead = false;
	s->in = with_buf ? xmalloc(PX_BUF) : NULL;
	s->ib = s->ie = 0;
}

int
px_sock_add(struct px_sock *s)
{
	struct epoll_event ev = { .data.ptr = s };

	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	if (s->kind == PX_K_LISTEN || s->kind == PX_K_CTL_LISTEN)
		ev.events = EPOLLIN;
	if (epoll_ctl(px_srv.ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		return err_sys("cannot watch socket");
	return 0;
}

/*
 * Read what fits into s->in.  A short read means the socket is drained
 * for now: with edge triggering the next arrival wakes us again.
 */
enum px_io
px_sock_read(struct px_sock *s)
{
	ssize_t n;

	if (!s->rd || s->eof)
		return PX_IO_AGAIN;
	if (s->ib == s->ie)
		s->ib = s->ie = 0;
	if (s->ie == PX_BUF && s->ib > 0) {
		memmove(s->in, s->in + s->ib, s->ie - s->ib);
		s->ie -= s->ib;
		s->ib = 0;
	}
	if (s->ie == PX_BUF)
		return PX_IO_AGAIN;
	n = read(s->fd, s->in + s->ie, PX_BUF - s->ie);
	if (n > 0) {
		/* A short read means nothing more for now, unless the peer's
		 * close came with the data: then no new edge will come, and
		 * the next read must see the end (a body ended by close). */
		if ((size_t)n < PX_BUF - s->ie && !s->hup)
			s->rd = false;
		s->ie += (size_t)n;
		return PX_IO_OK;
	}
	if (n == 0) {
		s->eof = true;
		return PX_IO_EOF;
	}
	if (errno == EAGAIN || errno == EINTR) {
		s->rd = false;
		return PX_IO_AGAIN;
	}
	return PX_IO_ERR;
}

/*
 * Write head[*head_off..] then body[0..n) with one writev.  Returns the
 * body bytes written (head bytes advance *head_off, up to head->len: the
 * caller resets the head when it wants), 0 when nothing more fits, -1 on
 * an error (errno).  head may be NULL.
 */
ssize_t
px_sock_send(struct px_sock *s, struct buf *head, size_t *head_off,
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
px_access_flush(void)
{
	size_t off = 0;

	while (off < px_srv.alog.len) {
		ssize_t w = write(px_srv.alog_fd, px_srv.alog.ptr + off,
		    px_srv.alog.len - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
	buf_reset(&px_srv.alog);
}

static void
px_on_signal(int sig)
{
	px_stop = 1;
}

static int
px_listen(const char *addr)
{
	struct px_backend parsed;
	int fd, one = 1;

	if (px_backend_parse(&parsed, addr) < 0)
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
px_accept(void)
{
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(px_srv.lsock.fd, (struct sockaddr *)&sa, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Level-triggered listener: stop watching it a
				 * moment, or we would spin. */
				log_warn("accept");
				epoll_ctl(px_srv.ep, EPOLL_CTL_DEL,
				    px_srv.lsock.fd, NULL);
				px_srv.accept_paused = true;
				px_srv.accept_resume = px_srv.now_ms + 200;
			}
			return;
		}
		px_client_accept(fd, &sa);
	}
}

/* Free what was closed during the last batch of events. */
static void
px_reap(void)
{
	while (px_srv.dead_clients) {
		struct px_client *c = px_srv.dead_clients;

		px_srv.dead_clients = c->dead_next;
		px_client_free(c);
	}
	while (px_srv.dead_ups) {
		struct px_upstream *u = px_srv.dead_ups;

		px_srv.dead_ups = u->dead_next;
		px_upstream_free(u);
	}
}

static void
px_sweep(void)
{
	struct px_client *c, *next;

	if (px_srv.accept_paused && px_srv.now_ms >= px_srv.accept_resume) {
		px_srv.accept_paused = false;
		px_sock_add(&px_srv.lsock);
	}
	for (c = px_srv.clients; c; c = next) {
		next = c->next;
		if (!c->s.dead && c->deadline && c->deadline <= px_srv.now_ms)
			px_client_timeout(c);
	}
	px_upstream_pool_sweep();
	if (px_srv.alog.len)
		px_access_flush();
}

static void
px_dispatch(struct epoll_event *e)
{
	struct px_sock *s = e->data.ptr;
	uint32_t ev = e->events;

	if (s->dead)
		return;
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		s->rd = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		s->hup = true;
	if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		s->wr = true;
	switch (s->kind) {
	case PX_K_LISTEN:
		px_accept();
		break;
	case PX_K_CTL_LISTEN:
		px_control_accept();
		break;
	case PX_K_CTL:
		px_control_event((struct px_ctl *)s, ev);
		break;
	case PX_K_CLIENT:
		px_client_run((struct px_client *)s);
		break;
	case PX_K_UPSTREAM:
		px_upstream_event((struct px_upstream *)s);
		break;
	}
}

/*
 * SIGINT/SIGTERM: stop accepting, let requests in progress finish (their
 * answers say "Connection: close"), close idle connections, and stop when
 * none is left or after PX_STOP_GRACE_MS.
 */
static int
px_stop_begin(void)
{
	px_now_update();
	px_srv.stopping = true;
	px_srv.stop_deadline = px_srv.now_ms + PX_STOP_GRACE_MS;
	if (!px_srv.accept_paused)
		epoll_ctl(px_srv.ep, EPOLL_CTL_DEL, px_srv.lsock.fd, NULL);
	px_srv.accept_paused = false;
	close(px_srv.lsock.fd);
	px_srv.lsock.fd = -1;
	log_info("stopping: %u connection%s open", px_srv.nclients,
	    px_srv.nclients == 1 ? "" : "s");
	return 0;
}

/* While stopping: close what is idle; true when nothing is left. */
static bool
px_stop_done(void)
{
	for (struct px_client *c = px_srv.clients, *next; c; c = next) {
		next = c->next;
		if (c->state == CS_HEAD && c->s.ib == c->s.ie) {
			c->t_start = 0;
			px_client_close(c);
		}
	}
	px_reap();
	if (px_srv.nclients && px_srv.now_ms < px_srv.stop_deadline)
		return false;
	if (px_srv.nclients)
		log_warnx("stopping: cutting %u connection%s still busy after "
		    "%d s", px_srv.nclients, px_srv.nclients == 1 ? "" : "s",
		    PX_STOP_GRACE_MS / 1000);
	return true;
}

static void
px_raise_nofile(void)
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
	struct epoll_event events[PX_EVENTS];
	struct sigaction sa;
	uint64_t last_sweep = 0;
	int rc = 0, lfd = -1, cfd = -1;

	memset(&px_srv, 0, sizeof(px_srv));
	px_srv.o = o;
	px_srv.ep = -1;
	px_srv.alog_fd = -1;
	px_srv.ctl_lock = -1;
	px_routes_init(&px_srv.routes, o->domain);
	px_srv.routes.on_unrouted = px_backend_unrouted;
	buf_init(&px_srv.alog, 1 << 20);
	if (!px_domain_valid(o->domain)) {
		rc = err_set(ERR_INVALID, "'%s' is not a domain name",
		    o->domain);
		goto done;
	}
	if (getrandom(&px_srv.rid_seed, sizeof(px_srv.rid_seed), 0) < 0)
		px_srv.rid_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	px_sources_init(&px_srv.sources, px_srv.rid_seed * 0x9e3779b97f4a7c15ULL);
	px_srv.refused.every = 10;
	if (o->routes_file && access(o->routes_file, F_OK) == 0 &&
	    (rc = px_routes_load(&px_srv.routes, o->routes_file)) < 0)
		goto done;
	if (o->access_log && strcmp(o->access_log, "-") == 0) {
		px_srv.alog_fd = STDERR_FILENO;
	} else if (o->access_log) {
		px_srv.alog_fd = open(o->access_log, O_WRONLY | O_APPEND |
		    O_CREAT | O_CLOEXEC, 0640);
		if (px_srv.alog_fd < 0) {
			rc = err_sys("cannot open access log '%s'",
			    o->access_log);
			goto done;
		}
	}
	px_raise_nofile();
	if ((px_srv.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		rc = err_sys("cannot make an epoll set");
		goto done;
	}
	/* The control socket first: once the port answers, routes can be
	 * set (tests and the runner wait for the port). */
	if ((cfd = px_control_open(o->control)) < 0) {
		rc = cfd;
		goto done;
	}
	px_sock_init(&px_srv.csock, PX_K_CTL_LISTEN, cfd, false);
	if ((rc = px_sock_add(&px_srv.csock)) < 0)
		goto done;
	if ((lfd = px_listen(o->listen)) < 0) {
		rc = lfd;
		goto done;
	}
	px_sock_init(&px_srv.lsock, PX_K_LISTEN, lfd, false);
	if ((rc = px_sock_add(&px_srv.lsock)) < 0)
		goto done;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = px_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("listening on %s (domain %s, control %s)", o->listen,
	    o->domain, o->control);

	for (;;) {
		int n;

		if (px_stop && !px_srv.stopping && px_stop_begin() < 0)
			break;
		if (px_srv.stopping && px_stop_done())
			break;
		n = epoll_wait(px_srv.ep, events, PX_EVENTS,
		    px_srv.ready ? 0 : PX_TICK_MS);
		if (n < 0 && errno != EINTR) {
			rc = err_sys("epoll_wait");
			break;
		}
		px_now_update();
		for (int i = 0; i < n; i++)
			px_dispatch(&events[i]);
		px_client_run_ready();
		px_reap();
		if (px_srv.now_ms - last_sweep >= PX_TICK_MS) {
			last_sweep = px_srv.now_ms;
			px_sweep();
			px_reap();
		} else if (px_srv.alog.len >= PX_ALOG_FLUSH) {
			px_access_flush();
		}
	}
done:
	while (px_srv.clients)
		px_client_close(px_srv.clients);
	px_reap();
	for (struct px_backend *b = px_srv.routes.backends; b; b = b->next)
		while (b->idle)
			px_upstream_close(b->idle);
	px_reap();
	px_control_close_all();
	if (px_srv.alog_fd >= 0) {
		px_access_flush();
		if (px_srv.alog_fd != STDERR_FILENO)
			close(px_srv.alog_fd);
	}
	if (cfd >= 0) {
		close(cfd);
		unlink(o->control);
	}
	if (px_srv.lsock.fd >= 0 && lfd >= 0)
		close(lfd);
	if (px_srv.ctl_lock >= 0)
		close(px_srv.ctl_lock);
	if (px_srv.ep >= 0)
		close(px_srv.ep);
	buf_free(&px_srv.alog);
	px_sources_free(&px_srv.sources);
	px_routes_free(&px_srv.routes);
	return rc;
}
