/*
 * Client connections per source, for --max-conns-per-ip: one address must
 * not take every slot of --max-conns (issue 18; docs/security-http.md).
 * A source is an IPv4 address, or an IPv6 /64: one host is usually given
 * a whole /64, so a per-address count there would cap nothing.
 *
 * A chained hash keyed with a random seed (a stranger cannot choose
 * addresses that all land in one chain); an entry lives while it counts a
 * connection.  Single-threaded, as the whole loop.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "proxy_int.h"

static void
px_source_key(uint8_t key[16], const struct sockaddr_storage *sa)
{
	memset(key, 0, 16);
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		/* as the IPv4-mapped IPv6 address, so both spellings agree */
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(key, &in6->sin6_addr, 16);
		else
			memcpy(key, &in6->sin6_addr, 8);
	}
}

static size_t
px_source_hash(const struct px_sources *t, const uint8_t key[16])
{
	uint64_t h = 1469598103934665603ULL ^ t->seed;

	for (int i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29)) % PX_SOURCE_BUCKETS;
}

void
px_sources_init(struct px_sources *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->seed = seed;
}

void
px_sources_free(struct px_sources *t)
{
	for (size_t i = 0; i < PX_SOURCE_BUCKETS; i++)
		while (t->b[i]) {
			struct px_source *s = t->b[i];

			t->b[i] = s->next;
			free(s);
		}
}

struct px_source *
px_source_take(struct px_sources *t, const struct sockaddr_storage *sa,
    unsigned max)
{
	uint8_t key[16];
	size_t i;
	struct px_source *s;

	px_source_key(key, sa);
	i = px_source_hash(t, key);
	for (s = t->b[i]; s; s = s->next)
		if (memcmp(s->key, key, 16) == 0)
			break;
	if (s == NULL) {
		if (max == 0)
			return NULL;
		s = xcalloc(1, sizeof(*s));
		memcpy(s->key, key, 16);
		s->bucket = i;
		s->next = t->b[i];
		t->b[i] = s;
	} else if (s->n >= max) {
		return NULL;
	}
	s->n++;
	return s;
}

void
px_source_put(struct px_sources *t, struct px_source *s)
{
	struct px_source **pp;

	if (s == NULL || --s->n > 0)
		return;
	for (pp = &t->b[s->bucket]; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	free(s);
}
