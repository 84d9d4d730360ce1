/*
 * What a client may hold of an httpd server before it has sent a request
 * head: per-source and total caps on connections, and a deadline for the
 * head (OpenSSH's PerSourceMaxStartups and LoginGraceTime are the model;
 * docs/security-http.md says why these numbers).
 *
 * Until its head is in, a connection is anybody's: the API and the
 * registry check a token only once the headers are there.  libmicrohttpd
 * gives a connection its own thread and an idle timeout that every byte
 * resets, so a slowloris sending a header byte every few seconds used to
 * hold a thread and a slot for good, and one address could hold them all.
 *
 * The caps are checked in the accept policy callback, against the counts
 * per source (lib/sources.c, the proxy's too) kept from MHD's connection
 * notifications; both run
 * in the thread that accepts, one connection after the other, so a count
 * cannot be overtaken by the connection it admits.  (MHD has
 * MHD_OPTION_PER_IP_CONNECTION_LIMIT, but its refusal says nothing: this
 * one names the address and the limit in the log.)
 *
 * The head deadline is a watchdog thread of our own: MHD has no deadline
 * that a byte does not reset.  Every 100 ms it shuts down the sockets whose
 * head is overdue; the connection's own thread then sees the end of its
 * input and closes it.  The watchdog touches a socket only under the
 * table's lock and MHD closes it only after the CLOSED notification, which
 * takes the same lock to leave the table: a shut down descriptor is never
 * one that was closed and reused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "slipway/alloc.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/lograte.h"
#include "slipway/sources.h"
#include "httpd_int.h"

#define HTTPD_GUARD_TICK_MS 100
#define HTTPD_GUARD_LOG_EVERY 10.0

/* One open connection, from MHD's STARTED notification to its CLOSED. */
struct httpd_conn {
	int fd;
	struct in_addr src;      /* for logs; 0.0.0.0 for a non-IPv4 peer */
	struct sources_entry *counted;
	double head_by;          /* monotonic; 0 while no head is awaited */
	struct httpd_conn *next, *prev;
};

/* Invariant: conns holds every connection MHD has told us of and not yet
 * closed, n of them; everything below mu is read and written under it. */
struct httpd_guard {
	const char *name;
	unsigned conn_max, per_ip_max;
	double head_sec;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct httpd_conn *conns;
	unsigned n;
	bool stopping;
	struct lograte refused, cut;
	struct sources srcs;     /* the connections of conns, per source */
	pthread_t thread;
};

static struct in_addr
httpd_src(const struct sockaddr *addr)
{
	struct in_addr none = { 0 };

	if (addr == NULL || addr->sa_family != AF_INET)
		return none;
	return ((const struct sockaddr_in *)addr)->sin_addr;
}

enum MHD_Result
httpd_guard_admit(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct httpd_guard *g = cls;
	struct in_addr src = httpd_src(addr);
	char why[160] = "", ip[INET_ADDRSTRLEN], more[64];
	unsigned from_src = 0, suppressed = 0;
	bool log = false;

	(void)len;
	pthread_mutex_lock(&g->mu);
	from_src = sources_count(&g->srcs, addr);
	if (g->n >= g->conn_max)
		snprintf(why, sizeof(why), "%u connections are open "
		    "(--max-conns)", g->n);
	else if (from_src >= g->per_ip_max)
		snprintf(why, sizeof(why), "%u connections from it are open, "
		    "the most one address may have (--max-conns-per-ip)",
		    from_src);
	if (why[0])
		log = lograte_due(&suppressed, &g->refused, clock_mono());
	pthread_mutex_unlock(&g->mu);
	if (why[0] == '\0')
		return MHD_YES;
	if (log) {
		inet_ntop(AF_INET, &src, ip, sizeof(ip));
		lograte_more(more, sizeof(more), suppressed);
		log_warnx("%s: refused a connection from %s: %s%s", g->name, ip,
		    why, more);
	}
	return MHD_NO;
}

void
httpd_guard_notify(void *cls, struct MHD_Connection *mc,
    void **socket_context, enum MHD_ConnectionNotificationCode code)
{
	struct httpd_guard *g = cls;
	struct httpd_conn *c;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		c = xcalloc(1, sizeof(*c));
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci ? ci->connect_fd : -1;
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		c->src = httpd_src(ci ? ci->client_addr : NULL);
		c->head_by = clock_mono() + g->head_sec;
		pthread_mutex_lock(&g->mu);
		c->counted = sources_take(&g->srcs, ci ? ci->client_addr : NULL,
		    UINT_MAX);
		c->next = g->conns;
		if (c->next)
			c->next->prev = c;
		g->conns = c;
		g->n++;
		pthread_mutex_unlock(&g->mu);
		*socket_context = c;
		return;
	}
	if ((c = *socket_context) == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g->n--;
	sources_put(&g->srcs, c->counted);
	pthread_mutex_unlock(&g->mu);
	free(c);
	*socket_context = NULL;
}

static struct httpd_conn *
httpd_conn_of(struct MHD_Connection *mc)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void
httpd_guard_clock(struct httpd_guard *g, struct MHD_Connection *mc,
    bool start)
{
	struct httpd_conn *c = httpd_conn_of(mc);

	if (c == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	c->head_by = start ? clock_mono() + g->head_sec : 0;
	pthread_mutex_unlock(&g->mu);
}

void
httpd_guard_head_done(struct httpd_guard *g, struct MHD_Connection *mc)
{
	httpd_guard_clock(g, mc, false);
}

void
httpd_guard_request_done(struct httpd_guard *g, struct MHD_Connection *mc)
{
	httpd_guard_clock(g, mc, true);
}

/* Shut down the sockets whose head is overdue; log one line at most per
 * HTTPD_GUARD_LOG_EVERY. */
static void
httpd_guard_sweep(struct httpd_guard *g)
{
	double now = clock_mono();
	struct in_addr first = { 0 };
	unsigned cut = 0, suppressed = 0;
	char ip[INET_ADDRSTRLEN], more[64];
	bool log;

	for (struct httpd_conn *c = g->conns; c; c = c->next) {
		if (c->head_by == 0 || now < c->head_by)
			continue;
		c->head_by = 0;
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		if (cut++ == 0)
			first = c->src;
	}
	if (cut == 0)
		return;
	/* one event counted by lograte_due, the others here */
	log = lograte_due(&suppressed, &g->cut, now);
	if (!log) {
		g->cut.suppressed += cut - 1;
		return;
	}
	inet_ntop(AF_INET, &first, ip, sizeof(ip));
	lograte_more(more, sizeof(more), suppressed + cut - 1);
	log_warnx("%s: closed a connection from %s: no complete request head "
	    "within %g s%s", g->name, ip, g->head_sec, more);
}

static void *
httpd_guard_main(void *arg)
{
	struct httpd_guard *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->mu);
	while (!g->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += HTTPD_GUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&g->cv, &g->mu, &ts);
		if (!g->stopping)
			httpd_guard_sweep(g);
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int
httpd_guard_new(struct httpd_guard **out, const char *name,
    unsigned conn_max, unsigned per_ip_max, unsigned head_ms)
{
	struct httpd_guard *g = xcalloc(1, sizeof(*g));
	pthread_condattr_t ca;
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)(clock_mono() * 1e9);
	sources_init(&g->srcs, seed);
	g->name = name;
	g->conn_max = conn_max;
	g->per_ip_max = per_ip_max;
	g->head_sec = head_ms / 1000.0;
	g->refused.every = g->cut.every = HTTPD_GUARD_LOG_EVERY;
	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&g->thread, NULL, httpd_guard_main, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		sources_free(&g->srcs);
		free(g);
		return err_set(ERR_IO, "%s: cannot start the connection "
		    "watchdog thread", name);
	}
	*out = g;
	return 0;
}

void
httpd_guard_free(struct httpd_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	g->stopping = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	/* MHD_stop_daemon has closed every connection, each with its CLOSED
	 * notification: the table is empty */
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	sources_free(&g->srcs);
	free(g);
}
