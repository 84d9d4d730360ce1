/*
 * `slipway up`'s merged log: the --log-* options and opening it as
 * lib/supervise_log.c decides (a file under HOME/logs rotated by size,
 * or stdout for the journal or `--log-dir -`).
 */
#include <stdio.h>
#include <string.h>

#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/supervise.h"
#include "up_int.h"

int
up_log_open(struct supervise_log **out, const struct up_config *c)
{
	int rc = supervise_log_open(out, c->log_dir, c->log_max_size,
	    c->log_keep);

	if (rc < 0)
		return err_wrap(rc, "cannot open the log");
	return 0;
}

void
up_log_say_where(const struct supervise_log *lg, const struct up_config *c)
{
	const char *where = supervise_log_where(lg);
	char size[32];

	if (strcmp(where, "stdout") == 0) {
		fprintf(stderr, "up: the log goes to stdout\n");
		return;
	}
	up_size_text(size, sizeof(size), c->log_max_size);
	fprintf(stderr, "up: the log is %s (a new file every %s, %u kept)\n",
	    where, size, c->log_keep);
}
