/*
 * The git side of a push (hooks/): the apps' bare repositories under
 * $SLIPWAY_HOME/git, the per-app lock, and the programs the SSH server and
 * git run: `slipway ssh-exec` (sshd.h), `slipway hook pre-receive` and
 * `slipway hook build`.
 *
 *   $SLIPWAY_HOME/git/<app>.git    bare repository; config slipway.uid
 *                                  names the app incarnation it belongs to;
 *                                  hooks/pre-receive runs this binary
 *   $SLIPWAY_HOME/git/<app>.lock   flock'd while a push or build runs
 */
#ifndef SLIPWAY_HOOKS_H
#define SLIPWAY_HOOKS_H

#include <stdbool.h>

/*
 * Take the app's lock without waiting: *fd holds it (close to release).
 * ERR_CONFLICT, saying who holds it and since when, when another push or
 * build of the app runs.  who is recorded for that message.
 */
int hooks_app_lock(int *fd, const char *home, const char *app,
    const char *who);

/*
 * Make sure the app's bare repository exists, belongs to incarnation uid
 * (a repository left by a destroyed app of the same name is removed
 * first: its code is not the new app's), has its default branch set to
 * branch, and has the hooks that run `exe hook pre-receive` and `exe hook
 * post-receive`.
 * Call with the app's lock held.  *out (may be NULL) is its path.
 */
int hooks_repo_ensure(char **out, const char *home, const char *app,
    const char *uid, const char *branch, const char *exe);

/* The repository of incarnation uid, for reading (clone): ERR_NOTFOUND
 * when there is none, or only a destroyed app's. */
int hooks_repo_find(char **out, const char *home, const char *app,
    const char *uid);

/* Where ref (refs/heads/NAME) of incarnation uid's repository points:
 * 40 hex and a NUL in out.  ERR_NOTFOUND when there is no such
 * repository or ref. */
int hooks_repo_ref(char out[41], const char *home, const char *app,
    const char *uid, const char *ref);

/* Remove the app's repository (apps:destroy).  A missing one is fine. */
int hooks_repo_remove(const char *home, const char *app);

/* Commands (cli/commands.c). */
int hooks_cmd_pre_receive(int argc, char **argv);
int hooks_cmd_post_receive(int argc, char **argv);
int hooks_cmd_build(int argc, char **argv);

#endif
