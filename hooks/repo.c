/*
 * The apps' bare repositories and their lock; see include/slipway/hooks.h.
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

#define REPO_UID_KEY "slipway.uid"
#define REPO_LOCK_NOTE_MAX 256

static int
repo_git_err(int code, const char *what)
{
	const git_error *ge = git_error_last();

	return err_set(code, "%s: %s", what, ge && ge->message ? ge->message :
	    "libgit2 failed");
}

int
hooks_app_lock(int *out, const char *home, const char *app, const char *who)
{
	char *dir = home_repos_dir(home);
	char *path = home_repo_lock_path(home, app);
	char note[REPO_LOCK_NOTE_MAX], when[32];
	struct buf held;
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1, rc;

	if (!name_app_is_valid(app)) {
		rc = err_set(ERR_INVALID, "invalid app name '%.64s'", app);
		goto done;
	}
	if ((rc = fs_mkdir_p(dir, 0700)) < 0)
		goto done;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0) {
		rc = err_sys("cannot open lock '%s'", path);
		goto done;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			rc = err_sys("cannot lock '%s'", path);
			goto done;
		}
		/* What the holder wrote: who and since when. */
		held.ptr = NULL;
		if (fs_read_file(&held, path, REPO_LOCK_NOTE_MAX) == 0 &&
		    held.ptr && held.len) {
			char *nl = strchr(held.ptr, '\n');
			if (nl)
				*nl = '\0';
			rc = err_set(ERR_CONFLICT, "app '%s' is busy: %s; try "
			    "again when it is done", app, held.ptr);
		} else {
			rc = err_set(ERR_CONFLICT, "app '%s' is busy: another "
			    "push or build is running; try again when it is "
			    "done", app);
		}
		buf_free(&held);
		goto done;
	}
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(note, sizeof(note), "a push or build by %s is running "
	    "(since %s, pid %d)\n", who ? who : "someone", when, (int)getpid());
	/* Best effort: the note only explains the refusal. */
	if (ftruncate(fd, 0) == 0 && pwrite(fd, note, strlen(note), 0) < 0)
		(void)0;
	*out = fd;
	fd = -1;
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	free(dir);
	return rc;
}

/* The uid recorded in the repository at path, or NULL. */
static char *
repo_uid(const char *path)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	git_buf b = { 0 };
	char *uid = NULL;

	git_libgit2_init();
	if (git_repository_open_ext(&repo, path,
	    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
	    NULL) == 0 &&
	    git_repository_config_snapshot(&cfg, repo) == 0 &&
	    git_config_get_string_buf(&b, cfg, REPO_UID_KEY) == 0)
		uid = xstrdup(b.ptr);
	git_buf_dispose(&b);
	git_config_free(cfg);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return uid;
}

static char *
repo_hook_text(const char *exe)
{
	return xasprintf("#!/bin/sh\n"
	    "# Installed by slipway: every push to this repository is built "
	    "here.\nexec '%s' hook pre-receive\n", exe);
}

/* Write hooks/pre-receive unless it already says the same. */
static int
repo_hook_install(const char *path, const char *exe)
{
	char *hooks = fs_join(path, "hooks");
	char *hook = fs_join(hooks, "pre-receive");
	char *text = repo_hook_text(exe);
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

/* Make a fresh bare repository at path (which must not exist). */
static int
repo_create(const char *path, const char *uid, const char *branch,
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
		rc = repo_git_err(ERR_IO, "cannot make a repository");
		goto done;
	}
	/* Objects are checked as they come in: a malformed tree or commit
	 * (hostile names, bad modes) is refused before any hook runs. */
	if (git_repository_config(&cfg, repo) < 0 ||
	    git_config_set_string(cfg, REPO_UID_KEY, uid) < 0 ||
	    git_config_set_bool(cfg, "receive.fsckObjects", 1) < 0) {
		rc = repo_git_err(ERR_IO, "cannot configure the repository");
		goto done;
	}
	if ((rc = repo_hook_install(tmp, exe)) < 0)
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
			rc = repo_hook_install(path, exe);
			goto done;
		}
		/* Not this app's: a destroyed one's (or not ours at all). */
		if ((rc = fs_remove_tree(path)) < 0)
			goto done;
	}
	rc = repo_create(path, uid, branch, exe);
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

int
hooks_repo_find(char **out, const char *home, const char *app,
    const char *uid)
{
	char *path = home_repo_path(home, app), *have;
	bool ok;

	have = fs_exists(path) ? repo_uid(path) : NULL;
	ok = have && strcmp(have, uid) == 0;
	free(have);
	if (!ok) {
		free(path);
		return err_set(ERR_NOTFOUND, "app '%s' has no code yet: push "
		    "to it first", app);
	}
	*out = path;
	return 0;
}

int
hooks_repo_remove(const char *home, const char *app)
{
	char *path = home_repo_path(home, app);
	int rc = fs_remove_tree(path);

	free(path);
	return rc;
}
