/*
 * Connections to backends and their keep-alive pools.  A backend keeps up
 * to pool_max idle connections, most recently used first; an idle one that
 * becomes readable (the backend closed it or, wrongly, sent something) is
 * closed at once, and one idle past the idle timeout too.  A backend that
 * leaves every route loses its idle connections at the swap; busy ones are
 * closed when their request ends.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

static void
proxy_pool_unlink(struct proxy_upstream *u)
{
	struct proxy_backend *b = u->be;

	if (u->prev)
		u->prev->next = u->next;
	else
		b->idle = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->next = u->prev = NULL;
	b->nidle--;
}

int
proxy_upstream_get(struct proxy_upstream **out, struct proxy_backend *be)
{
	struct proxy_upstream *u;
	int fd, one = 1;

	if ((u = be->idle) != NULL) {
		proxy_pool_unlink(u);
		u->reused = true;
		u->deadline = 0;
		*out = u;
		return 0;
	}
	fd = socket(be->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys("cannot make a socket");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	u = xcalloc(1, sizeof(*u));
	proxy_sock_init(&u->s, PROXY_K_UPSTREAM, fd, true);
	u->be = be;
	if (connect(fd, (struct sockaddr *)&be->sa, be->salen) < 0) {
		if (errno != EINPROGRESS) {
			int rc = err_sys("cannot connect");
			close(fd);
			proxy_upstream_free(u);
			return rc;
		}
		u->connecting = true;
	}
	if (proxy_sock_add(&u->s) < 0) {
		close(fd);
		proxy_upstream_free(u);
		return ERR_IO;
	}
	be->nconns++;
	*out = u;
	return 0;
}

void
proxy_upstream_close(struct proxy_upstream *u)
{
	struct proxy_backend *b = u->be;

	if (u->s.dead)
		return;
	if (u->c == NULL && u->deadline)
		proxy_pool_unlink(u);
	/* Closing removes the fd from the epoll set. */
	close(u->s.fd);
	u->s.fd = -1;
	u->s.dead = true;
	u->c = NULL;
	u->be = NULL;
	u->dead_next = proxy_srv.dead_ups;
	proxy_srv.dead_ups = u;
	b->nconns--;
	proxy_routes_backend_gc(&proxy_srv.routes, b);
}

void
proxy_upstream_release(struct proxy_upstream *u, bool reusable)
{
	struct proxy_backend *b = u->be;

	u->c = NULL;
	if (!reusable || b->refs == 0 || b->nidle >= proxy_srv.o->pool_max ||
	    u->s.eof || u->s.ib != u->s.ie) {
		u->deadline = 0;
		proxy_upstream_close(u);
		return;
	}
	u->s.ib = u->s.ie = 0;
	u->reused = false;
	u->deadline = proxy_srv.now_ms + proxy_srv.o->idle_timeout;
	u->prev = NULL;
	u->next = b->idle;
	if (b->idle)
		b->idle->prev = u;
	b->idle = u;
	b->nidle++;
}

void
proxy_upstream_event(struct proxy_upstream *u)
{
	if (u->c) {
		proxy_client_run(u->c);
		return;
	}
	/* Idle in the pool: anything readable means it is finished. */
	if (u->s.rd) {
		char b[64];
		ssize_t n = read(u->s.fd, b, sizeof(b));

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			u->s.rd = false;
			return;
		}
		proxy_upstream_close(u);
	}
}

void
proxy_upstream_pool_sweep(void)
{
	for (struct proxy_backend *b = proxy_srv.routes.backends, *bn; b; b = bn) {
		bn = b->next;
		/* Closing the last connection may free b: stop at it. */
		for (struct proxy_upstream *u = b->idle, *un; u; u = un) {
			un = u->next;
			if (u->deadline <= proxy_srv.now_ms) {
				bool last = b->nconns == 1;

				proxy_upstream_close(u);
				if (last)
					break;
			}
		}
	}
}

void
proxy_backend_unrouted(struct proxy_backend *b)
{
	/* Keep b alive while its idle list is emptied: refs is already 0, so
	 * the last close would free it under our feet. */
	b->inflight++;
	while (b->idle)
		proxy_upstream_close(b->idle);
	b->inflight--;
}

void
proxy_upstream_free(struct proxy_upstream *u)
{
	if (u == NULL)
		return;
	free(u->s.in);
	free(u);
}
