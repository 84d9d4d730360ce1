/*
 * Client connections per source, for the proxy's and httpd's
 * --max-conns-per-ip; see include/slipway/sources.h.
 *
 * A chained hash keyed with a random seed (a stranger cannot choose
 * addresses that all land in one chain); an entry lives while it counts a
 * connection.
 */
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/sources.h"

static void
sources_key(uint8_t key[16], const struct sockaddr *sa)
{
	memset(key, 0, 16);
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		/* as the IPv4-mapped IPv6 address, so both spellings agree */
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(key, &in6->sin6_addr, 16);
		else
			memcpy(key, &in6->sin6_addr, 8);
	}
}

static size_t
sources_hash(const struct sources *t, const uint8_t key[16])
{
	uint64_t h = 1469598103934665603ULL ^ t->seed;

	for (int i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29)) % SOURCES_BUCKETS;
}

void
sources_init(struct sources *t, uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->seed = seed;
}

void
sources_free(struct sources *t)
{
	for (size_t i = 0; i < SOURCES_BUCKETS; i++)
		while (t->b[i]) {
			struct sources_entry *s = t->b[i];

			t->b[i] = s->next;
			free(s);
		}
}

/* The entry of key, or NULL; *bucket is its chain. */
static struct sources_entry *
sources_find(struct sources *t, const uint8_t key[16], size_t *bucket)
{
	struct sources_entry *s;

	*bucket = sources_hash(t, key);
	for (s = t->b[*bucket]; s; s = s->next)
		if (memcmp(s->key, key, 16) == 0)
			break;
	return s;
}

unsigned
sources_count(struct sources *t, const struct sockaddr *sa)
{
	uint8_t key[16];
	size_t i;
	struct sources_entry *s;

	sources_key(key, sa);
	s = sources_find(t, key, &i);
	return s ? s->n : 0;
}

struct sources_entry *
sources_take(struct sources *t, const struct sockaddr *sa,
    unsigned max)
{
	uint8_t key[16];
	size_t i;
	struct sources_entry *s;

	sources_key(key, sa);
	if ((s = sources_find(t, key, &i)) == NULL) {
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
sources_put(struct sources *t, struct sources_entry *s)
{
	struct sources_entry **pp;

	if (s == NULL || --s->n > 0)
		return;
	for (pp = &t->b[s->bucket]; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	free(s);
}
