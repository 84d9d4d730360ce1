/* Paths under $SLIPWAY_HOME; see include/slipway/home.h. */
#include <stdlib.h>

#include "slipway/alloc.h"
#include "slipway/fs.h"
#include "slipway/home.h"

/* The one place the default is written (cli/commands.c's help says it
 * to people). */
#define HOME_DIR_DEFAULT "/var/lib/slipway"

const char *
home_dir(void)
{
	const char *h = getenv("SLIPWAY_HOME");

	return h && h[0] ? h : HOME_DIR_DEFAULT;
}

const char *
home_dir_option(const char *given)
{
	if (given == NULL)
		return home_dir();
	return given[0] ? given : HOME_DIR_DEFAULT;
}

char *
home_store_path(const char *home)
{
	return fs_join(home, "slipway.db");
}

char *
home_secret_path(const char *home)
{
	return fs_join(home, "secret");
}

char *
home_registry_dir(const char *home)
{
	return fs_join(home, "registry");
}

char *
home_proxy_socket_path(const char *home)
{
	return fs_join(home, "proxy.sock");
}

char *
home_repos_dir(const char *home)
{
	return fs_join(home, "git");
}

/* git/<app><suffix> */
static char *
home_repo_file(const char *home, const char *app, const char *suffix)
{
	char *dir = home_repos_dir(home);
	char *path = xasprintf("%s/%s%s", dir, app, suffix);

	free(dir);
	return path;
}

char *
home_repo_path(const char *home, const char *app)
{
	return home_repo_file(home, app, ".git");
}

char *
home_repo_lock_path(const char *home, const char *app)
{
	return home_repo_file(home, app, ".lock");
}

char *
home_cache_path(const char *home, const char *uid)
{
	char *dir = fs_join(home, "cache");
	char *path = fs_join(dir, uid);

	free(dir);
	return path;
}

char *
home_builds_dir(const char *home, const char *uid)
{
	char *dir = fs_join(home, "builds");
	char *path = fs_join(dir, uid);

	free(dir);
	return path;
}

char *
home_build_log_path(const char *home, const char *uid, int64_t number,
    bool partial)
{
	char *dir = home_builds_dir(home, uid);
	char *path = xasprintf("%s/%lld.log%s", dir, (long long)number,
	    partial ? ".part" : "");

	free(dir);
	return path;
}

char *
home_stacks_dir(const char *home)
{
	return fs_join(home, "stacks");
}

char *
home_stack_path(const char *home, const char *name)
{
	char *dir = home_stacks_dir(home);
	char *path = fs_join(dir, name);

	free(dir);
	return path;
}

char *
home_buildpacks_dir(const char *home)
{
	return fs_join(home, "buildpacks");
}

char *
home_certs_dir(const char *home)
{
	return fs_join(home, "certs");
}

char *
home_ssh_dir(const char *home)
{
	return fs_join(home, "ssh");
}

char *
home_up_dir(const char *home)
{
	return fs_join(home, "up");
}

char *
home_proxy_routes_path(const char *home)
{
	return fs_join(home, "proxy-routes.json");
}

char *
home_config_path(const char *home)
{
	return fs_join(home, "slipway.conf");
}

char *
home_backup_stage_template(const char *home)
{
	return fs_join(home, ".backup.XXXXXX");
}
