/* Unit tests for lib/home.c: the home and the paths under it. */
#include <stdlib.h>

#include "harness.h"
#include "slipway/home.h"

/* Compare, then free what the path function returned. */
#define EXPECT_PATH(want, expr) do {					\
	char *p_ = (expr);						\
	EXPECT_STR((want), p_);						\
	free(p_);							\
} while (0)

TEST(lib_home__dir_is_the_environment_or_the_default)
{
	unsetenv("SLIPWAY_HOME");
	EXPECT_STR("/var/lib/slipway", home_dir());
	setenv("SLIPWAY_HOME", "", 1);
	EXPECT_STR("/var/lib/slipway", home_dir());
	setenv("SLIPWAY_HOME", "/srv/slipway", 1);
	EXPECT_STR("/srv/slipway", home_dir());
}

TEST(lib_home__option_wins_and_empty_means_the_default)
{
	setenv("SLIPWAY_HOME", "/srv/slipway", 1);
	EXPECT_STR("/srv/slipway", home_dir_option(NULL));
	EXPECT_STR("/opt/s", home_dir_option("/opt/s"));
	/* as `controller --home ''` and `up --home ''` always did */
	EXPECT_STR("/var/lib/slipway", home_dir_option(""));
	unsetenv("SLIPWAY_HOME");
	EXPECT_STR("/var/lib/slipway", home_dir_option(NULL));
}

TEST(lib_home__daemon_paths)
{
	EXPECT_PATH("/h/slipway.db", home_store_path("/h"));
	EXPECT_PATH("/h/secret", home_secret_path("/h"));
	EXPECT_PATH("/h/registry", home_registry_dir("/h"));
	EXPECT_PATH("/h/proxy.sock", home_proxy_socket_path("/h"));
	/* relative homes stay relative (the callers make them absolute
	 * where it matters) */
	EXPECT_PATH("var/slipway.db", home_store_path("var"));
}

TEST(lib_home__repository_paths)
{
	EXPECT_PATH("/h/git", home_repos_dir("/h"));
	EXPECT_PATH("/h/git/shop.git", home_repo_path("/h", "shop"));
	EXPECT_PATH("/h/git/shop.lock", home_repo_lock_path("/h", "shop"));
}

TEST(lib_home__build_paths_are_keyed_by_uid)
{
	const char *uid = "0123456789abcdef0123456789abcdef";

	EXPECT_PATH("/h/cache/0123456789abcdef0123456789abcdef",
	    home_cache_path("/h", uid));
	EXPECT_PATH("/h/builds/0123456789abcdef0123456789abcdef",
	    home_builds_dir("/h", uid));
	EXPECT_PATH("/h/builds/0123456789abcdef0123456789abcdef/12.log",
	    home_build_log_path("/h", uid, 12, false));
	EXPECT_PATH("/h/builds/0123456789abcdef0123456789abcdef/12.log.part",
	    home_build_log_path("/h", uid, 12, true));
	EXPECT_PATH("/h/builds/u/9223372036854775807.log",
	    home_build_log_path("/h", "u", INT64_MAX, false));
}

TEST(lib_home__stack_paths)
{
	EXPECT_PATH("/h/stacks", home_stacks_dir("/h"));
	EXPECT_PATH("/h/stacks/default", home_stack_path("/h", "default"));
}

TEST(lib_home__paths_a_backup_takes)
{
	EXPECT_PATH("/h/buildpacks", home_buildpacks_dir("/h"));
	EXPECT_PATH("/h/certs", home_certs_dir("/h"));
	EXPECT_PATH("/h/ssh", home_ssh_dir("/h"));
	EXPECT_PATH("/h/up", home_up_dir("/h"));
	EXPECT_PATH("/h/proxy-routes.json", home_proxy_routes_path("/h"));
	EXPECT_PATH("/h/slipway.conf", home_config_path("/h"));
	EXPECT_PATH("/h/.backup.XXXXXX", home_backup_stage_template("/h/"));
}

TEST(lib_home__one_slash_after_a_home_that_ends_in_one)
{
	EXPECT_PATH("/h/slipway.db", home_store_path("/h/"));
	EXPECT_PATH("/h/git/shop.git", home_repo_path("/h/", "shop"));
	EXPECT_PATH("/h/cache/u", home_cache_path("/h/", "u"));
	EXPECT_PATH("/h/builds/u/1.log", home_build_log_path("/h/", "u", 1,
	    false));
	EXPECT_PATH("/proxy.sock", home_proxy_socket_path("/"));
}
