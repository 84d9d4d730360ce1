/*
 * An append-only log file rotated by size, as newsyslog does it but in
 * the writing process, so that no outside job is needed and no line is
 * lost between a rename and a reopen:
 *
 *   DIR/NAME takes whole lines until the next one would pass max_bytes;
 *   then NAME.(keep-1) -> NAME.keep, ..., NAME -> NAME.1 (renames: the
 *   oldest is dropped, replaced by the one before it) and a fresh NAME.
 *
 * So there are at most keep + 1 files, each at most max_bytes, except a
 * file that holds one line longer than max_bytes alone.  A line is never
 * split across two files.  The directory is made 0750, the files 0640
 * (less what the umask takes away).
 *
 * The file is opened relative to the directory, never through a symlink
 * and only if it is a regular file; a file moved or removed from outside
 * (an operator, logrotate) is noticed within a second and made again.
 * Writing never stops the writer: when a write, a rotation or a reopen
 * fails, one line says so on stderr, lines are dropped (and counted)
 * while it lasts, a reopen is tried once a second, and one more line
 * says when it works again.
 */
#ifndef SLIPWAY_LOGFILE_H
#define SLIPWAY_LOGFILE_H

#include <stddef.h>

struct logfile;

/* Make dir if missing and open dir/name for appending.  max_bytes > 0;
 * keep may be 0 (a full file is then dropped, not kept).  Fails with a
 * message naming what is wrong (a file where the directory should be, a
 * symlink or a non-file at name, no permission); *out is the caller's,
 * for logfile_free.  dir and name are copied. */
int logfile_open(struct logfile **out, const char *dir, const char *name,
    unsigned long long max_bytes, unsigned keep);

/* Append line[0..n), which should end with its newline: the writer
 * decides where lines break.  Returns 0, or a negative code while lines
 * are being dropped (reported on stderr once, see above). */
int logfile_write(struct logfile *lf, const char *line, size_t n);

/* dir/name, for messages.  Owned by lf. */
const char *logfile_path(const struct logfile *lf);

void logfile_free(struct logfile *lf);

#endif
