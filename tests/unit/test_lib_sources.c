/* Unit tests for lib/sources.c: connections per source. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "slipway/sources.h"

static struct sockaddr_storage
t_sa(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		EXPECT_INT(1, inet_pton(AF_INET6, ip, &a->sin6_addr));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		EXPECT_INT(1, inet_pton(AF_INET, ip, &a->sin_addr));
	}
	return ss;
}

TEST(lib__sources_cap_each_address)
{
	static struct sources t;
	struct sockaddr_storage a = t_sa("10.0.0.1"), b = t_sa("10.0.0.2");
	struct sockaddr_storage mapped = t_sa("::ffff:10.0.0.1");
	struct sources_entry *held[3], *other;

	sources_init(&t, 42);
	held[0] = sources_take(&t, (struct sockaddr *)&a, 3);
	held[1] = sources_take(&t, (struct sockaddr *)&a, 3);
	/* the IPv4-mapped spelling is the same source */
	held[2] = sources_take(&t, (struct sockaddr *)&mapped, 3);
	EXPECT_TRUE(held[0] && held[0] == held[1] && held[1] == held[2]);
	EXPECT_TRUE(sources_take(&t, (struct sockaddr *)&a, 3) == NULL);
	EXPECT_INT(3, (int)held[0]->n);
	/* another address has its own count */
	other = sources_take(&t, (struct sockaddr *)&b, 3);
	EXPECT_TRUE(other != NULL && other != held[0]);
	/* one given back is one to take again */
	sources_put(&t, held[2]);
	held[2] = sources_take(&t, (struct sockaddr *)&a, 3);
	EXPECT_TRUE(held[2] == held[0]);
	for (int i = 0; i < 3; i++)
		sources_put(&t, held[i]);
	sources_put(&t, other);
	sources_put(&t, NULL);
	/* every entry went with its last connection */
	for (size_t i = 0; i < SOURCES_BUCKETS; i++)
		EXPECT_TRUE(t.b[i] == NULL);
	sources_free(&t);
}

TEST(lib__sources_ipv6_counts_per_64)
{
	static struct sources t;
	struct sockaddr_storage a = t_sa("2001:db8:1:2::1");
	struct sockaddr_storage b = t_sa("2001:db8:1:2:ffff::9");
	struct sockaddr_storage c = t_sa("2001:db8:1:3::1");
	struct sources_entry *s1, *s2, *s3;

	sources_init(&t, 7);
	s1 = sources_take(&t, (struct sockaddr *)&a, 2);
	s2 = sources_take(&t, (struct sockaddr *)&b, 2);
	EXPECT_TRUE(s1 != NULL && s1 == s2);
	/* a third host of the same /64 is over the cap; the next /64 is not */
	EXPECT_TRUE(sources_take(&t, (struct sockaddr *)&b, 2) == NULL);
	s3 = sources_take(&t, (struct sockaddr *)&c, 2);
	EXPECT_TRUE(s3 != NULL && s3 != s1);
	/* entries still counting are freed with the table */
	sources_free(&t);
}
