/* Private to hooks/: shared by ssh-exec, its admin commands and the
 * hook. */
#ifndef SLIPWAY_HOOKS_INT_H
#define SLIPWAY_HOOKS_INT_H

#include <stdbool.h>
#include <stddef.h>

struct apiclient;

/* " !     message" on stderr (what a git or ssh user reads). */
void hooks_say_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* Split an SSH command line into words, as a shell would split it but
 * with nothing expanded: blanks separate, '...' is literal, "..." is
 * literal but for \" and \\, a backslash outside quotes escapes the next
 * character.  Control characters, unbalanced quotes, more than max
 * words: ERR_INVALID.  *out (NULL-terminated) and its strings are the
 * caller's (hooks_words_free). */
int hooks_words_split(char ***out, size_t *n, const char *line, size_t max);
void hooks_words_free(char **words);

/* Run an admin command line (apps:create NAME, config:set ...) from the
 * fixed table as the session's user.  Returns the exit status. */
int hooks_admin_run(const char *line, const char *user, const char *home);

/* One ref a push updates (a pre-receive line). */
struct hooks_ref_update {
	char old[41], new[41];
	char *ref;              /* refs/heads/main, refs/tags/v1, ... */
	bool deletes;           /* new is all zeros */
};

/* The ref that deploys for a push of the n updates u (hooks/branch.c):
 * "refs/heads/" and the app's deploy branch (app_branch), or, for an app
 * with no code yet in repo whose deploy branch is main or master, the
 * other of the two when the push brings it (then made the app's, said on
 * stderr).  ERR_INVALID, with the commands that fix it, when the push
 * brings a branch that does not deploy.  *out is the caller's. */
int hooks_deploy_ref(char **out, struct apiclient *api, const char *app,
    const char *repo, const char *app_branch,
    const struct hooks_ref_update *u, size_t n);

#endif
