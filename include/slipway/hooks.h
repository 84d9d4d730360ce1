/*
 * The git side of a push (hooks/): making the apps' bare repositories
 * (their layout and lock: repo.h) with the hooks that run this binary,
 * and the programs the SSH server and git run: `slipway ssh-exec`
 * (sshd.h), `slipway hook pre-receive`, `post-receive` and `build`.
 */
#ifndef SLIPWAY_HOOKS_H
#define SLIPWAY_HOOKS_H

#include <stdbool.h>

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

/* Commands (cli/commands.c). */
int hooks_cmd_pre_receive(int argc, char **argv);
int hooks_cmd_post_receive(int argc, char **argv);
int hooks_cmd_build(int argc, char **argv);

#endif
