/*
 * Where the supervisor's merged log goes; see supervise_log_open in
 * include/slipway/supervise.h.  The proxy alone writes a line per
 * request, so a stream that nobody rotates grows without end (9.6 MB in
 * 20 minutes of light load): the default is a file rotated by size, and
 * stdout only where something else keeps it bounded (the journal) or
 * when asked for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/logfile.h"
#include "slipway/supervise.h"
#include "supervise_int.h"

#define SUPERVISE_LOG_NAME "slipway.log"

/* file: the rotated file, or NULL for stdout alone.  echo: also to
 * stdout (a terminal), with a file. */
struct supervise_log {
	struct logfile *file;
	bool echo;
};

int
supervise_log_open(struct supervise_log **out, const char *dir,
    unsigned long long max_bytes, unsigned keep)
{
	struct supervise_log *lg = xcalloc(1, sizeof(*lg));
	int rc;

	/* systemd sets JOURNAL_STREAM when stdout is the journal, which
	 * stores and rotates the lines itself. */
	if (getenv("JOURNAL_STREAM") == NULL && dir != NULL &&
	    strcmp(dir, "-") != 0) {
		if ((rc = logfile_open(&lg->file, dir, SUPERVISE_LOG_NAME,
		    max_bytes, keep)) < 0) {
			free(lg);
			return rc;
		}
		lg->echo = isatty(STDOUT_FILENO);
	}
	*out = lg;
	return 0;
}

const char *
supervise_log_where(const struct supervise_log *lg)
{
	return lg->file ? logfile_path(lg->file) : "stdout";
}

void
supervise_log_free(struct supervise_log *lg)
{
	if (lg == NULL)
		return;
	logfile_free(lg->file);
	free(lg);
}

void
supervise_log_put(struct supervise_log *lg, const char *line, size_t n)
{
	if (lg && lg->file)
		logfile_write(lg->file, line, n);
	if (lg == NULL || lg->file == NULL || lg->echo) {
		fwrite(line, 1, n, stdout);
		fflush(stdout);
	}
}
