/* Private to lib/supervise*.c: writing one line of the merged log. */
#ifndef SLIPWAY_SUPERVISE_INT_H
#define SLIPWAY_SUPERVISE_INT_H

#include <stddef.h>

struct supervise_log;

/* Write line[0..n), which ends with its newline, to every destination of
 * lg (NULL: stdout).  Never fails: a log that cannot be written is said
 * once on stderr by lib/logfile.c, and the services go on. */
void supervise_log_put(struct supervise_log *lg, const char *line, size_t n);

#endif
