/*
 * The apps' bare repositories under $SLIPWAY_HOME/git and the per-app
 * lock, for every module that reads them: the git side (hooks/) makes
 * them and pushes into them, the controller reads a branch and removes a
 * destroyed app's.
 *
 *   $SLIPWAY_HOME/git/<app>.git    bare repository; config slipway.uid
 *                                  names the app incarnation it belongs to
 *   $SLIPWAY_HOME/git/<app>.lock   flock'd while a push or build runs
 */
#ifndef SLIPWAY_REPO_H
#define SLIPWAY_REPO_H

/* The git config key that names a repository's app incarnation. */
#define REPO_UID_KEY "slipway.uid"

/*
 * Take the app's lock without waiting: *fd holds it (close to release).
 * ERR_CONFLICT, saying who holds it and since when, when another push or
 * build of the app runs.  who is recorded for that message.
 */
int repo_lock(int *fd, const char *home, const char *app, const char *who);

/* The uid recorded in the repository at path, or NULL.  Caller frees. */
char *repo_uid(const char *path);

/* The repository of incarnation uid, for reading (clone): ERR_NOTFOUND
 * when there is none, or only a destroyed app's. */
int repo_find(char **out, const char *home, const char *app,
    const char *uid);

/* Where ref (refs/heads/NAME) of incarnation uid's repository points:
 * 40 hex and a NUL in out.  ERR_NOTFOUND when there is no such
 * repository or ref. */
int repo_ref(char out[41], const char *home, const char *app,
    const char *uid, const char *ref);

/* Remove the app's repository (apps:destroy).  A missing one is fine. */
int repo_remove(const char *home, const char *app);

/* code, with what and libgit2's last error as the message. */
int repo_git_error(int code, const char *what);

#endif
