/* Private to hooks/: shared by ssh-exec, its admin commands and the
 * hook. */
#ifndef SLIPWAY_HOOKS_INT_H
#define SLIPWAY_HOOKS_INT_H

#include <stddef.h>

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

#endif
