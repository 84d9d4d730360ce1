/*
 * A small unit-test harness.  Each TEST runs in a forked child inside a
 * fresh temp directory (its cwd), so a crash, a sanitizer report or a leak
 * fails that test alone.  A failed EXPECT prints what it expected and what
 * it got, with file and line, and ends the test.
 *
 *   TEST(slug__empty_tree) { EXPECT_INT(0, f()); }
 */
#ifndef SLIPWAY_TEST_HARNESS_H
#define SLIPWAY_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "slipway/err.h"

typedef void (*harness_fn)(void);

void harness_register(const char *name, harness_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void harness_skip(const char *why) __attribute__((noreturn));
/* The test's temp directory (also its cwd). */
const char *harness_tmpdir(void);
/* Write a file under the temp dir (parents made); aborts the test on error. */
void harness_write(const char *rel, const char *data, size_t len, int mode);
/* Run a shell command in the temp dir; fails the test if it exits non-zero. */
void harness_sh(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TEST(name)							\
	static void test_##name(void);					\
	__attribute__((constructor)) static void harness_reg_##name(void) \
	{ harness_register(#name, test_##name); }			\
	static void test_##name(void)

#define EXPECT_TRUE(cond) do {						\
	if (!(cond))							\
		harness_fail(__FILE__, __LINE__, "expected %s", #cond);	\
} while (0)

#define EXPECT_INT(want, got) do {					\
	long long w_ = (long long)(want), g_ = (long long)(got);	\
	if (w_ != g_)							\
		harness_fail(__FILE__, __LINE__,			\
		    "%s: expected %lld, got %lld (last error: %s)",	\
		    #got, w_, g_, err_last());				\
} while (0)

/* rc must be >= 0; on failure shows the error message. */
#define EXPECT_OK(expr) do {						\
	int rc_ = (expr);						\
	if (rc_ < 0)							\
		harness_fail(__FILE__, __LINE__,			\
		    "%s: expected success, got %d (%s)", #expr, rc_,	\
		    err_last());					\
} while (0)

#define EXPECT_STR(want, got) do {					\
	const char *w_ = (want), *g_ = (got);				\
	if (g_ == NULL || strcmp(w_, g_) != 0)				\
		harness_fail(__FILE__, __LINE__,			\
		    "%s: expected \"%s\", got \"%s\"", #got, w_,	\
		    g_ ? g_ : "(null)");				\
} while (0)

/* The current error message must contain needle. */
#define EXPECT_ERR_HAS(needle) do {					\
	if (strstr(err_last(), (needle)) == NULL)			\
		harness_fail(__FILE__, __LINE__,			\
		    "error message: expected to contain \"%s\", got \"%s\"", \
		    (needle), err_last());				\
} while (0)

#define SH(...) harness_sh(__FILE__, __LINE__, __VA_ARGS__)

#endif
