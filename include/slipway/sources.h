/*
 * Connections per source, for the per-source caps of the servers that
 * face strangers (the proxy; the controller API and the registry through
 * lib/httpd.c): one address must not take every slot of a server
 * (issue 18; docs/security-http.md).  A source is an IPv4 address (also
 * spelled IPv4-mapped), or an IPv6 /64: one host is usually given a whole
 * /64, so a per-address count there would cap nothing.  Not locked: the
 * caller serializes (one loop, or its own mutex).
 */
#ifndef SLIPWAY_SOURCES_H
#define SLIPWAY_SOURCES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SOURCES_BUCKETS 4096

/* One source with n > 0 connections. */
struct sources_entry {
	uint8_t key[16];         /* IPv4-mapped, or the /64 then zeros */
	unsigned n;
	size_t bucket;
	struct sources_entry *next;
};

struct sources {
	struct sources_entry *b[SOURCES_BUCKETS];
	uint64_t seed;           /* random: chains cannot be aimed at */
};

void sources_init(struct sources *t, uint64_t seed);
void sources_free(struct sources *t);
/* Connections counted now from sa's source (sa NULL: the "unknown"
 * source, all zeros). */
unsigned sources_count(struct sources *t, const struct sockaddr *sa);
/* Count one more connection from sa's source, unless it has max already:
 * then NULL and nothing changed.  Give the entry back to sources_put when
 * the connection ends. */
struct sources_entry *sources_take(struct sources *t,
    const struct sockaddr *sa, unsigned max);
/* One connection fewer (s may be NULL). */
void sources_put(struct sources *t, struct sources_entry *s);

#endif
