/*
 * Making the apps' bare repositories, with their hooks; see
 * include/slipway/hooks.h (reading them and their lock: lib/repo.c).
 *
 * A repository is made whole in a temp directory beside its final place
 * (libgit2 init, config, hook) and renamed into place, so nobody ever sees
 * one without its hook.  Each remembers the app incarnation (the
 * controller's app uid) it was made for: an app destroyed and made again
 * under the same name gets a new, empty repository, never the old code.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/hooks.h"
#include "slipway/name.h"
#include "slipway/repo.h"


/* The hooks git runs: pre-receive builds and releases (before any ref
 * moves, so a failed rollout rejects the push), post-receive says git
 * moved the branch (docs/push.md, "Crash consistency"). */
static const char *const hooks_names[] = { "pre-receive", "post-receive",
    NULL };

static char *
hook_text(const char *exe, const char *name)
{
	if (strcmp(name, "pre-receive") == 0)
		return xasprintf("#!/bin/sh\n"
		    "# Installed by slipway: every push to this repository is "
		    "built here.\nexec '%s' hook pre-receive\n", exe);
	return xasprintf("#!/bin/sh\n"
	    "# Installed by slipway: tells the controller git has moved "
	    "the branch.\nexec '%s' hook %s\n", exe, name);
}

/* Write hooks/NAME unless it already says the same. */
static int
hook_install_one(const char *path, const char *exe, const char *name)
{
	char *hooks = fs_join(path, "hooks");
	char *hook = fs_join(hooks, name);
	char *text = hook_text(exe, name);
	struct buf old;
	int rc = 0;

	if (fs_read_file(&old, hook, 4096) == 0 && old.ptr &&
	    strcmp(old.ptr, text) == 0) {
		buf_free(&old);
		goto done;
	}
	buf_free(&old);
	if ((rc = fs_mkdir_p(hooks, 0755)) < 0 ||
	    (rc = fs_write_atomic(hook, text, strlen(text), 0755)) < 0)
		goto done;
done:
	free(text);
	free(hook);
	free(hooks);
	return rc;
}

/* Write every hook that does not already say what it should. */
static int
hook_install(const char *path, const char *exe)
{
	int rc = 0;

	for (int i = 0; hooks_names[i] && rc == 0; i++)
		rc = hook_install_one(path, exe, hooks_names[i]);
	return rc;
}

/* Make a fresh bare repository at path (which must not exist). */
static int
hooks_repo_create(const char *path, const char *uid, const char *branch,
    const char *exe)
{
	git_repository_init_options io;
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	char *tmp = xasprintf("%s.tmp", path);
	int rc = 0;

	git_libgit2_init();
	git_repository_init_options_init(&io,
	    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	if ((rc = fs_remove_tree(tmp)) < 0)
		goto done;
	io.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
	    GIT_REPOSITORY_INIT_NO_REINIT;
	io.initial_head = branch;
	if (git_repository_init_ext(&repo, tmp, &io) < 0) {
		rc = repo_git_error(ERR_IO, "cannot make a repository");
		goto done;
	}
	/* Objects are checked as they come in: a malformed tree or commit
	 * (hostile names, bad modes) is refused before any hook runs. */
	if (git_repository_config(&cfg, repo) < 0 ||
	    git_config_set_string(cfg, REPO_UID_KEY, uid) < 0 ||
	    git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0) {
		rc = repo_git_error(ERR_IO, "cannot configure the repository");
		goto done;
	}
	if ((rc = hook_install(tmp, exe)) < 0)
		goto done;
	if (rename(tmp, path) < 0)
		rc = err_sys("cannot put repository '%s' in place", path);
done:
	git_config_free(cfg);
	git_repository_free(repo);
	git_libgit2_shutdown();
	if (rc < 0)
		fs_remove_tree(tmp);
	free(tmp);
	return rc;
}

int
hooks_repo_ensure(char **out, const char *home, const char *app,
    const char *uid, const char *branch, const char *exe)
{
	char *path = home_repo_path(home, app), *have = NULL, *dir;
	int rc = 0;

	if (strchr(exe, '\'') || strchr(exe, '\n'))
		return err_set(ERR_INVALID, "the slipway binary's path '%s' "
		    "cannot go in a hook script", exe);
	dir = home_repos_dir(home);
	if ((rc = fs_mkdir_p(dir, 0700)) < 0)
		goto done;
	if (fs_exists(path)) {
		have = repo_uid(path);
		if (have && strcmp(have, uid) == 0) {
			rc = hook_install(path, exe);
			goto done;
		}
		/* Not this app's: a destroyed one's (or not ours at all). */
		if ((rc = fs_remove_tree(path)) < 0)
			goto done;
	}
	rc = hooks_repo_create(path, uid, branch, exe);
done:
	if (rc == 0 && out) {
		*out = path;
		path = NULL;
	}
	free(have);
	free(dir);
	free(path);
	return rc;
}

