/*
 * The git side of a push (hooks/): making the apps' bare repositories
 * (their layout and lock: repo.h) with the hooks that run this binary,
 * and the programs the SSH server (sshd.h) and git run: `slipway
 * ssh-exec`, `slipway hook pre-receive`, `post-receive` and `build`.
 * Declarations are grouped by the file that defines them.
 */
#ifndef SLIPWAY_HOOKS_H
#define SLIPWAY_HOOKS_H

#include <stdbool.h>

/* repo.c */

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

/* gitcmd.c */

/* Parse a git exec command: "git-receive-pack 'app.git'" (also with a
 * leading '/', without '.git', or "git receive-pack").  *service is
 * "git-receive-pack" or "git-upload-pack" (static), *app the validated app
 * name (malloc'd).  ERR_NOTFOUND when the command is not a git command at
 * all; ERR_INVALID (with a message naming it) for a bad app name or a
 * malformed argument. */
int hooks_git_command_parse(const char **service, char **app,
    const char *command);

/* hook.c, ssh_exec.c: the commands (cli/commands.c): the hooks, and the
 * program the SSH server runs for each command */

int hooks_cmd_pre_receive(int argc, char **argv);
int hooks_cmd_post_receive(int argc, char **argv);
int hooks_cmd_build(int argc, char **argv);
int hooks_cmd_ssh_exec(int argc, char **argv);

#endif
