/*
 * Who may hold a connection to the SSH server, and for how long before
 * authenticating (OpenSSH's MaxStartups and PerSourceMaxStartups are the
 * model).  Pure bookkeeping: the listener (sshd.c) asks, accepts or
 * refuses, and tells this table when a connection authenticated or ended.
 *
 * Before a key is verified a connection is anybody's, and anybody can open
 * seventy of them: so unauthenticated connections get a pool of their own
 * (max_conns minus the reserve), at most per_source of it from one address,
 * random early drop once start of them are open (rate percent, rising
 * linearly to all at full), and unauth_grace seconds to authenticate.
 * Authenticated sessions may use every slot, the reserve included, so a
 * full pool of strangers never stops a build in progress.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "sshd_int.h"

#define SSHD_DEF_MAX_CONNS 64
#define SSHD_DEF_RESERVED_AUTH 16
#define SSHD_DEF_PER_SOURCE 8
#define SSHD_DEF_START 16
#define SSHD_DEF_RATE 30
#define SSHD_DEF_FULL 48
#define SSHD_DEF_UNAUTH_GRACE 10
#define SSHD_LOG_EVERY 10.0

static unsigned
sshd_or(unsigned v, unsigned dflt)
{
	return v ? v : dflt;
}

void
sshd_limit_init(struct sshd_limit *l, const struct sshd_opts *o)
{
	unsigned pool;

	memset(l, 0, sizeof(*l));
	l->max_conns = sshd_or(o->max_conns, SSHD_DEF_MAX_CONNS);
	l->reserved_auth = sshd_or(o->reserved_auth, SSHD_DEF_RESERVED_AUTH);
	l->per_source = sshd_or(o->max_per_source, SSHD_DEF_PER_SOURCE);
	l->start = sshd_or(o->startups[0], SSHD_DEF_START);
	l->rate = sshd_or(o->startups[1], SSHD_DEF_RATE);
	l->full = sshd_or(o->startups[2], SSHD_DEF_FULL);
	l->unauth_grace = sshd_or(o->unauth_grace_sec, SSHD_DEF_UNAUTH_GRACE);
	l->refusals.every = SSHD_LOG_EVERY;
	/* A small --max-conns with the default reserve still leaves
	 * strangers one slot: they must be able to become users. */
	if (l->reserved_auth >= l->max_conns)
		l->reserved_auth = l->max_conns - 1;
	pool = l->max_conns - l->reserved_auth;
	if (l->full > pool)
		l->full = pool;
	if (l->start > l->full)
		l->start = l->full;
	if (l->rate > 100)
		l->rate = 100;
	l->conns = xcalloc(l->max_conns, sizeof(*l->conns));
}

void
sshd_limit_free(struct sshd_limit *l)
{
	free(l->conns);
	l->conns = NULL;
	l->n = 0;
}

unsigned
sshd_limit_unauth(const struct sshd_limit *l, const struct in_addr *src)
{
	unsigned k = 0;

	for (size_t i = 0; i < l->n; i++)
		if (!l->conns[i].authed && (src == NULL ||
		    l->conns[i].src.s_addr == src->s_addr))
			k++;
	return k;
}

bool
sshd_limit_admit(char *why, size_t len, const struct sshd_limit *l,
    struct in_addr src, uint32_t rnd)
{
	unsigned unauth = sshd_limit_unauth(l, NULL);
	char ip[INET_ADDRSTRLEN];

	if (l->n >= l->max_conns) {
		snprintf(why, len, "%u connections open (--max-conns)",
		    l->max_conns);
		return false;
	}
	if (unauth >= l->full) {
		snprintf(why, len, "%u connections are not authenticated yet, "
		    "the most there may be (the rest is kept for users: "
		    "--max-startups, --reserved-auth)", unauth);
		return false;
	}
	if (sshd_limit_unauth(l, &src) >= l->per_source) {
		inet_ntop(AF_INET, &src, ip, sizeof(ip));
		snprintf(why, len, "%u connections from %s are not "
		    "authenticated yet, the most one address may have "
		    "(--max-per-source)", l->per_source, ip);
		return false;
	}
	if (unauth >= l->start) {
		/* Refuse with probability rate% at start, rising linearly to
		 * 100% at full (start < full here, or the check above had
		 * refused). */
		uint32_t span = 100 * (l->full - l->start);
		uint32_t p = l->rate * (l->full - l->start) +
		    (100 - l->rate) * (unauth - l->start);

		if (rnd % span < p) {
			snprintf(why, len, "random early drop: %u connections "
			    "are not authenticated yet (--max-startups "
			    "%u:%u:%u)", unauth, l->start, l->rate, l->full);
			return false;
		}
	}
	return true;
}

void
sshd_limit_add(struct sshd_limit *l, pid_t pid, int fd, struct in_addr src,
    double now)
{
	/* The caller asked sshd_limit_admit first, so there is room. */
	l->conns[l->n++] = (struct sshd_limit_conn){ .pid = pid, .fd = fd,
	    .src = src, .started = now };
}

struct sshd_limit_conn *
sshd_limit_find(struct sshd_limit *l, pid_t pid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->conns[i].pid == pid)
			return &l->conns[i];
	return NULL;
}

void
sshd_limit_remove(struct sshd_limit *l, pid_t pid)
{
	struct sshd_limit_conn *c = sshd_limit_find(l, pid);

	if (c == NULL)
		return;
	*c = l->conns[--l->n];
}

bool
sshd_limit_overdue(const struct sshd_limit *l,
    const struct sshd_limit_conn *c, double now)
{
	return !c->authed && now - c->started >= l->unauth_grace;
}

static int
sshd_limit_number(unsigned *out, const char *s, const char **end,
    unsigned max)
{
	char *e;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return ERR_INVALID;
	errno = 0;
	v = strtoul(s, &e, 10);
	if (errno || v == 0 || v > max)
		return ERR_INVALID;
	*out = (unsigned)v;
	*end = e;
	return 0;
}

int
sshd_limit_parse_count(unsigned *out, const char *s, unsigned max)
{
	const char *end;

	if (sshd_limit_number(out, s, &end, max) < 0 || *end != '\0')
		return err_set(ERR_INVALID, "'%s' is not a number from 1 to %u",
		    s, max);
	return 0;
}

int
sshd_limit_parse_startups(unsigned out[3], const char *s)
{
	const char *p = s;
	unsigned v[3];

	for (int i = 0; i < 3; i++) {
		if (sshd_limit_number(&v[i], p, &p, i == 1 ? 100 : 100000) < 0 ||
		    *p != (i < 2 ? ':' : '\0'))
			goto bad;
		p++;
	}
	if (v[0] > v[2])
		goto bad;
	memcpy(out, v, sizeof(v));
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not START:RATE:FULL (like "
	    "16:30:48: random early drop from START unauthenticated "
	    "connections, RATE percent rising to all at FULL)", s);
}
