/*
 * The apps' bare repositories and their lock, for every module that reads
 * them (see include/slipway/repo.h); making them, with their hooks, is
 * the git side's (hooks/repo.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/name.h"
#include "slipway/repo.h"

#define REPO_LOCK_NOTE_MAX 256

int
repo_git_error(int code, const char *what)
{
	const git_error *ge = git_error_last();

	return err_set(code, "%s: %s", what, ge && ge->message ? ge->message :
	    "libgit2 failed");
}

int
repo_lock(int *out, const char *home, const char *app, const char *who)
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

char *
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

int
repo_find(char **out, const char *home, const char *app,
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
repo_ref(char out[41], const char *home, const char *app,
    const char *uid, const char *ref)
{
	git_repository *repo = NULL;
	git_oid oid;
	char *path = NULL;
	int rc;

	if ((rc = repo_find(&path, home, app, uid)) < 0)
		return rc;
	git_libgit2_init();
	if (git_repository_open_ext(&repo, path,
	    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE,
	    NULL) < 0)
		rc = repo_git_error(ERR_IO, "cannot open the repository");
	else if (git_reference_name_to_id(&oid, repo, ref) < 0)
		rc = err_set(ERR_NOTFOUND, "app '%s' has no %s", app, ref);
	else
		git_oid_tostr(out, 41, &oid);
	git_repository_free(repo);
	git_libgit2_shutdown();
	free(path);
	return rc;
}

int
repo_remove(const char *home, const char *app)
{
	char *path = home_repo_path(home, app);
	int rc = fs_remove_tree(path);

	free(path);
	return rc;
}
