/* Unit tests for lib/name.c: each rule's edges and hostile names. */
#include <string.h>

#include "harness.h"
#include "slipway/name.h"

typedef bool (*name_fn)(const char *);

static void
expect_names(name_fn f, const char *what, const char *const *good,
    const char *const *bad)
{
	for (size_t i = 0; good[i]; i++)
		if (!f(good[i]))
			harness_fail(__FILE__, __LINE__, "%s refused '%s'", what,
			    good[i]);
	for (size_t i = 0; bad[i]; i++)
		if (f(bad[i]))
			harness_fail(__FILE__, __LINE__, "%s took '%s'", what,
			    bad[i]);
	if (f(NULL))
		harness_fail(__FILE__, __LINE__, "%s took NULL", what);
}

/* What no name may be: paths, shell words, quotes, controls, blanks. */
#define HOSTILE "", "..", ".", "/", "a/b", "../a", "a b", " a", "a ", \
	"a\n", "a\tb", "a'b", "a\"b", "a;b", "$(a)", "`a`", "a\\b", "a\x7f", \
	"\xc3\xa9t\xc3\xa9", "a\xff"

TEST(lib__name_app)
{
	static const char *const good[] = { "a", "shop", "my-app-2",
	    "a23456789012345678901234567890", "a-", NULL };
	static const char *const bad[] = { HOSTILE, "Shop", "1app", "-app",
	    "my_app", "my.app", "a234567890123456789012345678901", NULL };

	expect_names(name_app_is_valid, "app", good, bad);
	expect_names(name_group_is_valid, "group", good, bad);
}

TEST(lib__name_user)
{
	static const char *const good[] = { "admin", "ann.lee", "bob_2",
	    "c-d", "a2345678901234567890123456789012", NULL };
	static const char *const bad[] = { HOSTILE, "Admin", "_a", ".a", "2a",
	    "a@b", "a23456789012345678901234567890123", NULL };

	expect_names(name_user_is_valid, "user", good, bad);
}

TEST(lib__name_runner)
{
	char longest[NAME_RUNNER_MAX + 2];
	static const char *const good[] = { "local", "web-1.example.com",
	    "1host", NULL };
	static const char *const bad[] = { HOSTILE, "Host", "-a", ".a",
	    "a_b", "a:b", NULL };

	expect_names(name_runner_is_valid, "runner", good, bad);
	memset(longest, 'a', NAME_RUNNER_MAX);
	longest[NAME_RUNNER_MAX] = '\0';
	EXPECT_TRUE(name_runner_is_valid(longest));
	strcat(longest, "a");
	EXPECT_TRUE(!name_runner_is_valid(longest));
}

TEST(lib__name_env_key)
{
	char longest[NAME_ENV_KEY_MAX + 2];
	static const char *const good[] = { "PORT", "_X", "database_url",
	    "A1", NULL };
	static const char *const bad[] = { HOSTILE, "1A", "A-B", "A.B",
	    "A=B", "-A", NULL };

	expect_names(name_env_key_is_valid, "env key", good, bad);
	memset(longest, 'K', NAME_ENV_KEY_MAX);
	longest[NAME_ENV_KEY_MAX] = '\0';
	EXPECT_TRUE(name_env_key_is_valid(longest));
	strcat(longest, "K");
	EXPECT_TRUE(!name_env_key_is_valid(longest));
}

TEST(lib__name_proc_type)
{
	static const char *const good[] = { "web", "worker_2", "release-task",
	    "w23456789012345678901234567890", NULL };
	static const char *const bad[] = { HOSTILE, "Web", "_web", "-web",
	    "2web", "web.1", "w234567890123456789012345678901", NULL };

	expect_names(name_proc_type_is_valid, "process type", good, bad);
}
