/*
 * `slipway up`'s merged log: the --log-* options and opening it as
 * lib/supervise_log.c decides (a file under HOME/logs rotated by size,
 * or stdout for the journal or `--log-dir -`).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/parse.h"
#include "slipway/supervise.h"
#include "up_int.h"

/* More rotated files than anyone reads; a typo of 50000 is refused. */
#define UP_LOG_KEEP_MAX 1000

int
up_log_size(unsigned long long *out, const char *s, const char *cmd)
{
	unsigned long long v;

	if (parse_size(&v, s) < 0)
		return cmdline_usage_error(cmd, "%s", err_last());
	if (v == 0)
		return cmdline_usage_error(cmd, "--log-max-size must be more "
		    "than 0");
	*out = v;
	return 0;
}

int
up_log_keep(unsigned *out, const char *s, const char *cmd)
{
	unsigned long long v;

	if (parse_uint(&v, s, 0, UP_LOG_KEEP_MAX) < 0)
		return cmdline_usage_error(cmd, "%s", err_last());
	*out = (unsigned)v;
	return 0;
}

/* 10485760 -> "10M", 1536 -> "1536" (the largest unit that divides). */
static void
up_log_size_text(char *out, size_t outsz, unsigned long long n)
{
	static const char units[] = "KMG";
	int u = -1;

	while (u < 2 && n >= 1024 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, outsz, "%llu bytes", n);
	else
		snprintf(out, outsz, "%llu%c", n, units[u]);
}

int
up_log_open(struct supervise_log **out, const struct up_config *c)
{
	char *dir = c->log_dir ? NULL : fs_join(c->home, "logs");
	int rc;

	rc = supervise_log_open(out, c->log_dir ? c->log_dir : dir,
	    c->log_max_size, c->log_keep);
	free(dir);
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
	up_log_size_text(size, sizeof(size), c->log_max_size);
	fprintf(stderr, "up: the log is %s (a new file every %s, %u kept)\n",
	    where, size, c->log_keep);
}
