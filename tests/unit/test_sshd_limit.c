/* Unit tests for the SSH server's connection limits (sshd/sshd_limit.c):
 * the admission policy, the grace, the log throttle and the flag parsers. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "../../sshd/sshd_int.h"

static struct in_addr
t_ip(const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return a;
}

/* Fill the table with n unauthenticated connections from ip. */
static void
t_fill(struct sshd_limit *l, unsigned n, const char *ip, pid_t first)
{
	for (unsigned i = 0; i < n; i++)
		sshd_limit_add(l, first + (pid_t)i, -1, t_ip(ip), 100.0);
}

/* n unauthenticated connections, each from an address of its own (so the
 * per-source cap stays out of the way). */
static void
t_fill_spread(struct sshd_limit *l, unsigned n, pid_t first)
{
	for (unsigned i = 0; i < n; i++)
		sshd_limit_add(l, first + (pid_t)i, -1,
		    (struct in_addr){ htonl(0x0a000000 + (uint32_t)first + i) },
		    1.0);
}

/* Percent admitted of every rnd in one period of the early drop's
 * comparison (100 * (full - start) = 3200 with the defaults). */
static unsigned
t_admitted(const struct sshd_limit *l, const char *ip)
{
	char why[256];
	unsigned k = 0;

	for (uint32_t r = 0; r < 3200; r++)
		k += sshd_limit_admit(why, sizeof(why), l, t_ip(ip), r) ? 1 : 0;
	return k * 100 / 3200;
}

TEST(sshd_limit__defaults)
{
	struct sshd_opts o = { 0 };
	struct sshd_limit l;

	sshd_limit_init(&l, &o);
	EXPECT_INT(64, l.max_conns);
	EXPECT_INT(16, l.reserved_auth);
	EXPECT_INT(8, l.per_source);
	EXPECT_INT(16, l.start);
	EXPECT_INT(30, l.rate);
	EXPECT_INT(48, l.full);
	EXPECT_INT(10, l.unauth_grace);
	sshd_limit_free(&l);
}

TEST(sshd_limit__small_max_conns_keeps_a_slot_for_strangers)
{
	struct sshd_opts o = { .max_conns = 4 };
	struct sshd_limit l;

	sshd_limit_init(&l, &o);
	EXPECT_INT(3, l.reserved_auth);
	EXPECT_INT(1, l.full);
	EXPECT_INT(1, l.start);
	sshd_limit_free(&l);
}

TEST(sshd_limit__per_source_cap_leaves_others_in)
{
	struct sshd_opts o = { 0 };
	struct sshd_limit l;
	char why[256];

	sshd_limit_init(&l, &o);
	t_fill(&l, 8, "127.0.0.2", 100);
	EXPECT_TRUE(!sshd_limit_admit(why, sizeof(why), &l, t_ip("127.0.0.2"),
	    0));
	EXPECT_TRUE(strstr(why, "from 127.0.0.2") != NULL);
	EXPECT_TRUE(strstr(why, "--max-per-source") != NULL);
	/* below start: no early drop for anybody else */
	EXPECT_INT(100, t_admitted(&l, "127.0.0.1"));
	/* once one of them authenticates it no longer counts */
	sshd_limit_find(&l, 100)->authed = true;
	EXPECT_TRUE(sshd_limit_admit(why, sizeof(why), &l, t_ip("127.0.0.2"),
	    0));
	sshd_limit_free(&l);
}

TEST(sshd_limit__early_drop_rises_from_rate_to_all)
{
	struct sshd_opts o = { 0 };
	struct sshd_limit l;

	sshd_limit_init(&l, &o);
	t_fill_spread(&l, 15, 100);
	EXPECT_INT(100, t_admitted(&l, "127.0.0.1"));
	t_fill_spread(&l, 1, 200);                  /* 16: start */
	EXPECT_INT(70, t_admitted(&l, "127.0.0.1")); /* 30% dropped */
	t_fill_spread(&l, 16, 300);                 /* 32: halfway */
	EXPECT_INT(35, t_admitted(&l, "127.0.0.1")); /* 65% dropped */
	t_fill_spread(&l, 16, 400);                 /* 48: full */
	EXPECT_INT(0, t_admitted(&l, "127.0.0.1"));
	sshd_limit_free(&l);
}

TEST(sshd_limit__reserve_is_for_authenticated_sessions)
{
	struct sshd_opts o = { .max_conns = 8, .reserved_auth = 2,
	    .max_per_source = 8, .startups = { 6, 100, 6 } };
	struct sshd_limit l;
	char why[256];

	sshd_limit_init(&l, &o);
	t_fill(&l, 6, "127.0.0.2", 100);
	/* the unauthenticated pool (8 - 2) is full */
	EXPECT_TRUE(!sshd_limit_admit(why, sizeof(why), &l, t_ip("127.0.0.1"),
	    0));
	EXPECT_TRUE(strstr(why, "kept for users") != NULL);
	/* two of them authenticate: room for two strangers again, and the
	 * sessions may use the whole table */
	sshd_limit_find(&l, 100)->authed = true;
	sshd_limit_find(&l, 101)->authed = true;
	t_fill(&l, 2, "127.0.0.3", 200);
	EXPECT_INT(8, (long long)l.n);
	EXPECT_TRUE(!sshd_limit_admit(why, sizeof(why), &l, t_ip("127.0.0.1"),
	    0));
	EXPECT_TRUE(strstr(why, "8 connections open (--max-conns)") != NULL);
	sshd_limit_remove(&l, 100);
	EXPECT_TRUE(sshd_limit_find(&l, 100) == NULL);
	EXPECT_INT(7, (long long)l.n);
	sshd_limit_free(&l);
}

TEST(sshd_limit__grace_ends_only_the_unauthenticated)
{
	struct sshd_opts o = { 0 };
	struct sshd_limit l;

	sshd_limit_init(&l, &o);
	sshd_limit_add(&l, 10, -1, t_ip("127.0.0.2"), 100.0);
	sshd_limit_add(&l, 11, -1, t_ip("127.0.0.2"), 100.0);
	sshd_limit_find(&l, 11)->authed = true;
	EXPECT_TRUE(!sshd_limit_overdue(&l, sshd_limit_find(&l, 10), 109.9));
	EXPECT_TRUE(sshd_limit_overdue(&l, sshd_limit_find(&l, 10), 110.0));
	EXPECT_TRUE(!sshd_limit_overdue(&l, sshd_limit_find(&l, 11), 1000.0));
	sshd_limit_free(&l);
}

TEST(sshd_limit__refusals_logged_once_per_ten_seconds)
{
	struct sshd_opts o = { 0 };
	struct sshd_limit l;
	unsigned more = 99;

	sshd_limit_init(&l, &o);
	EXPECT_TRUE(lograte_due(&more, &l.refusals, 50.0));
	EXPECT_INT(0, more);
	for (int i = 0; i < 61; i++)
		EXPECT_TRUE(!lograte_due(&more, &l.refusals, 50.0 + i * 0.1));
	EXPECT_TRUE(lograte_due(&more, &l.refusals, 60.0));
	EXPECT_INT(61, more);
	EXPECT_TRUE(!lograte_due(&more, &l.refusals, 69.9));
	sshd_limit_free(&l);
}

TEST(sshd_limit__parsers)
{
	unsigned n, s[3];

	EXPECT_OK(sshd_limit_parse_startups(s, "16:30:48"));
	EXPECT_INT(16, s[0]);
	EXPECT_INT(30, s[1]);
	EXPECT_INT(48, s[2]);
	EXPECT_OK(sshd_limit_parse_startups(s, "5:100:5"));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, "16:30"));
	EXPECT_ERR_HAS("'16:30' is not START:RATE:FULL");
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, "16:30:48:1"));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, "48:30:16"));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, "16:101:48"));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, "0:30:48"));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, "16:-3:48"));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_startups(s, " 16:30:48"));
	EXPECT_OK(sshd_limit_parse_count(&n, "64", 100000));
	EXPECT_INT(64, n);
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_count(&n, "0", 100000));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_count(&n, "64x", 100000));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_count(&n, "", 100000));
	EXPECT_INT(ERR_INVALID, sshd_limit_parse_count(&n, "100001", 100000));
	EXPECT_ERR_HAS("is not a number from 1 to 100000");
}
