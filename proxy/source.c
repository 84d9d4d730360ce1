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
proxy_source_key(uint8_t key[16], const struct sockaddr_storage *sa)
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
proxy_source_hash(const struct proxy_sources *t, const uint8_t key[16])
{
	uint64_t h = 1469598103934665603ULL ^ t->seed;

	for (int i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29)) % PROXY_SOURCE_BUCKETS;
}

void
proxy_sources_init(struct proxy_sources *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->seed = seed;
}

void
proxy_sources_free(struct proxy_sources *t)
{
	for (size_t i = 0; i < PROXY_SOURCE_BUCKETS; i++)
		while (t->b[i]) {
			struct proxy_source *s = t->b[i];

			t->b[i] = s->next;
			free(s);
		}
}

struct proxy_source *
proxy_source_take(struct proxy_sources *t, const struct sockaddr_storage *sa,
    unsigned max)
{
	uint8_t key[16];
	size_t i;
	struct proxy_source *s;

	proxy_source_key(key, sa);
	i = proxy_source_hash(t, key);
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
proxy_source_put(struct proxy_sources *t, struct proxy_source *s)
{
	struct proxy_source **pp;

	if (s == NULL || --s->n > 0)
		return;
	for (pp = &t->b[s->bucket]; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	free(s);
}
