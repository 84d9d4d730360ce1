/* Unit tests for lib/parse.c: the good forms and every hostile one. */
#include <string.h>

#include "harness.h"
#include "slipway/err.h"
#include "slipway/parse.h"

/* Each text must be refused with ERR_INVALID and leave *out alone. */
static void
expect_uint_refused(const char *const *bad, unsigned long long min,
    unsigned long long max)
{
	for (size_t i = 0; bad[i]; i++) {
		unsigned long long v = 77;

		if (parse_uint(&v, bad[i], min, max) != ERR_INVALID || v != 77)
			harness_fail(__FILE__, __LINE__, "parse_uint took "
			    "'%s'", bad[i]);
	}
}

TEST(lib__parse_uint_good)
{
	unsigned long long v;

	EXPECT_OK(parse_uint(&v, "0", 0, 10));
	EXPECT_INT(0, v);
	EXPECT_OK(parse_uint(&v, "10", 0, 10));
	EXPECT_INT(10, v);
	EXPECT_OK(parse_uint(&v, "007", 1, 10));
	EXPECT_INT(7, v);
	EXPECT_OK(parse_uint(&v, "18446744073709551615", 0, ~0ULL));
	EXPECT_TRUE(v == ~0ULL);
}

TEST(lib__parse_uint_hostile)
{
	static const char *const bad[] = {
		"", " ", " 5", "5 ", "+5", "-5", "-0", "5x", "x5", "0x10",
		"5.0", "1e3", "٣", "5\n", "\t5",
		"18446744073709551616",             /* 2^64: overflow */
		"99999999999999999999999999999999999999999999999999",
		NULL,
	};

	expect_uint_refused(bad, 0, ~0ULL);
}

TEST(lib__parse_uint_range_and_message)
{
	static const char *const out_of_range[] = { "0", "11", "4294967297",
	    NULL };
	unsigned long long v;

	expect_uint_refused(out_of_range, 1, 10);
	EXPECT_INT(ERR_INVALID, parse_uint(&v, "-1", 1, 10));
	EXPECT_STR("'-1' is not a number from 1 to 10", err_last());
}

TEST(lib__parse_port)
{
	static const char *const bad[] = { "", "0", "00", "65536", "-1",
	    "+80", " 80", "80 ", "80:", "0x50", "4294967376",
	    "99999999999999999999999", NULL };
	unsigned p = 0;

	EXPECT_OK(parse_port(&p, "1"));
	EXPECT_INT(1, p);
	EXPECT_OK(parse_port(&p, "65535"));
	EXPECT_INT(65535, p);
	EXPECT_OK(parse_port(&p, "08080"));
	EXPECT_INT(8080, p);
	for (size_t i = 0; bad[i]; i++) {
		p = 5;
		if (parse_port(&p, bad[i]) != ERR_INVALID || p != 5)
			harness_fail(__FILE__, __LINE__, "parse_port took "
			    "'%s'", bad[i]);
	}
	EXPECT_INT(ERR_INVALID, parse_port(&p, "65536"));
	EXPECT_STR("'65536' is not a port", err_last());
}

TEST(lib__parse_size)
{
	static const struct { const char *s; unsigned long long v; } good[] = {
		{ "0", 0 }, { "100", 100 }, { "100B", 100 }, { "1k", 1024 },
		{ "1K", 1024 }, { "1KB", 1024 }, { "1KiB", 1024 },
		{ "64m", 64ULL << 20 }, { "64MiB", 64ULL << 20 },
		{ "2G", 2ULL << 30 }, { "3gB", 3ULL << 30 },
		{ "17179869183G", 17179869183ULL << 30 },  /* the largest */
		{ "18446744073709551615", ~0ULL },
	};
	static const char *const bad[] = {
		"", "K", "B", "-1", "+1", " 1", "1 ", "1 K", "1x", "1KK",
		"1T", "1iB", "1i", "1Bi", "1KiBx", "1.5M", "0x10", "1e3",
		"17179869184G",                     /* 2^64: overflow */
		"18446744073709551616",
		"99999999999999999999999999999999K",
		NULL,
	};
	unsigned long long v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		EXPECT_OK(parse_size(&v, good[i].s));
		if (v != good[i].v)
			harness_fail(__FILE__, __LINE__, "'%s' gave %llu",
			    good[i].s, v);
	}
	for (size_t i = 0; bad[i]; i++) {
		v = 9;
		if (parse_size(&v, bad[i]) != ERR_INVALID || v != 9)
			harness_fail(__FILE__, __LINE__, "parse_size took "
			    "'%s'", bad[i]);
	}
	EXPECT_INT(ERR_INVALID, parse_size(&v, "12q"));
	EXPECT_STR("'12q' is not a size", err_last());
}

TEST(lib__parse_duration)
{
	static const char *const bad[] = {
		"", ".", "-1", "+1", " 1", "1 ", "1s", "1e3", "1E3", "0x10",
		"inf", "nan", "1..2", "1.2.3", "0", "0.0009", "604801",
		"1" "000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000",
		NULL,
	};
	double v;

	EXPECT_OK(parse_duration(&v, "30", 0.001, 604800));
	EXPECT_TRUE(v == 30);
	EXPECT_OK(parse_duration(&v, "0.5", 0.001, 604800));
	EXPECT_TRUE(v == 0.5);
	EXPECT_OK(parse_duration(&v, ".25", 0.001, 604800));
	EXPECT_TRUE(v == 0.25);
	EXPECT_OK(parse_duration(&v, "2.", 0.001, 604800));
	EXPECT_TRUE(v == 2);
	EXPECT_OK(parse_duration(&v, "604800", 0.001, 604800));
	EXPECT_OK(parse_duration(&v, "0.001", 0.001, 604800));
	for (size_t i = 0; bad[i]; i++) {
		v = 3;
		if (parse_duration(&v, bad[i], 0.001, 604800) != ERR_INVALID ||
		    v != 3)
			harness_fail(__FILE__, __LINE__, "parse_duration took "
			    "'%s'", bad[i]);
	}
	EXPECT_INT(ERR_INVALID, parse_duration(&v, "x", 0.001, 604800));
	EXPECT_STR("'x' is not a number of seconds (0.001 to 604800)",
	    err_last());
}
