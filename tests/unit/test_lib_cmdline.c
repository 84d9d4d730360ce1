/* Unit tests for lib/cmdline.c: the exact lines a failing command prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"

static const char *
synopsis(const char *name)
{
	if (strcmp(name, "apps:create") == 0)
		return "NAME";
	if (strcmp(name, "apps") == 0)
		return "";
	return NULL;
}

/* Run f with stderr going to a file; returns what it wrote. */
static char *
stderr_of(int (*f)(void), int *rc)
{
	struct buf b;
	int saved = dup(2);

	fflush(stderr);
	EXPECT_TRUE(freopen("stderr.txt", "w", stderr) != NULL);
	*rc = f();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	buf_init(&b, 4096);
	EXPECT_OK(fs_read_file(&b, "stderr.txt", 4096));
	buf_puts(&b, "");
	return buf_detach(&b, NULL);
}

static int
usage_create(void)
{
	return cmdline_usage_error("apps:create", "invalid app name '%s'",
	    "Shop");
}

static int
usage_apps(void)
{
	return cmdline_usage_error("apps", "unexpected argument '%s'", "x");
}

static int
usage_unknown(void)
{
	return cmdline_usage_error("nosuch", "bad");
}

static int
fail_with_message(void)
{
	err_set(ERR_NOTFOUND, "no such app 'shop'");
	return cmdline_fail("apps:info");
}

static int
fail_without_message(void)
{
	err_clear();
	return cmdline_fail("apps:info");
}

TEST(lib__cmdline_usage_error_lines)
{
	char *out;
	int rc;

	cmdline_set_synopsis(synopsis);
	out = stderr_of(usage_create, &rc);
	EXPECT_INT(2, rc);
	EXPECT_STR("slipway apps:create: invalid app name 'Shop'\n"
	    "usage: slipway apps:create NAME\n", out);
	free(out);
	out = stderr_of(usage_apps, &rc);
	EXPECT_STR("slipway apps: unexpected argument 'x'\n"
	    "usage: slipway apps\n", out);
	free(out);
	out = stderr_of(usage_unknown, &rc);
	EXPECT_STR("slipway nosuch: bad\n", out);
	free(out);
	cmdline_set_synopsis(NULL);
	out = stderr_of(usage_create, &rc);
	EXPECT_STR("slipway apps:create: invalid app name 'Shop'\n", out);
	free(out);
}

TEST(lib__cmdline_fail_lines)
{
	char *out;
	int rc;

	out = stderr_of(fail_with_message, &rc);
	EXPECT_INT(1, rc);
	EXPECT_STR("slipway apps:info: no such app 'shop'\n", out);
	free(out);
	out = stderr_of(fail_without_message, &rc);
	EXPECT_INT(1, rc);
	EXPECT_STR("slipway apps:info: failed\n", out);
	free(out);
}
