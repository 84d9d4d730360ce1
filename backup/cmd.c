/* `slipway backup FILE` and `slipway restore FILE` (cli/commands.c has
 * their help). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "slipway/backup.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/home.h"

typedef int (*backup_run_fn)(struct backup_summary *out, const char *file,
    const char *home, const struct backup_opts *opts);

static int
backup_run_create(struct backup_summary *out, const char *file,
    const char *home, const struct backup_opts *opts)
{
	return backup_create(out, home, file, opts);
}

/* The options and summary both commands share. */
static int
backup_cmd(int argc, char **argv, backup_run_fn run, const char *done)
{
	static const struct option longopts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct backup_summary sum;
	struct backup_opts opts = { 0 };
	const char *home = NULL, *file;
	bool json = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'j': json = true; break;
		default: return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmdline_usage_error(argv[0], optind == argc ?
		    "FILE is missing" : "one FILE only");
	file = argv[optind];
	home = home_dir_option(home);
	opts.progress = !json && isatty(STDERR_FILENO);
	if (run(&sum, file, home, &opts) < 0)
		return cmdline_fail(argv[0]);
	if (json) {
		json_t *j = json_pack("{sssssIsIss}", "file", file, "home",
		    home, "entries", (json_int_t)sum.entries, "bytes",
		    (json_int_t)sum.bytes, "compression", sum.compression);

		json_dumpf(j, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(j);
	} else {
		printf("%s '%s' %s '%s': %llu entries, %.1f MiB (%s)\n", done,
		    home, run == backup_run_create ? "to" : "from", file,
		    (unsigned long long)sum.entries,
		    (double)sum.bytes / (1024.0 * 1024.0), sum.compression);
	}
	return 0;
}

int
backup_cmd_backup(int argc, char **argv)
{
	return backup_cmd(argc, argv, backup_run_create, "backed up");
}

int
backup_cmd_restore(int argc, char **argv)
{
	return backup_cmd(argc, argv, backup_restore, "restored");
}
