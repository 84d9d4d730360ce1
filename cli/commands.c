/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"
#include "slipway/slug.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ "slug create", slug_cmd_create,
	  "--repo PATH [--rev REV] | --dir DIR  [-o FILE] [--max-size SIZE] "
	  "[--level N] [--json]",
	  "make a reproducible slug (tar.gz under app/) of a commit or a "
	  "directory",
	  "  --repo PATH        a git repository (bare or not); no checkout "
	  "is made\n"
	  "  --rev REV          the commit to slug (default HEAD; tags are "
	  "peeled)\n"
	  "  --objects DIR      also read objects from DIR (git's quarantine "
	  "directory);\n"
	  "                     may be repeated\n"
	  "  --dir DIR          a directory instead; symlinks are stored, "
	  "never followed\n"
	  "  --mtime SECONDS    with --dir: the time of every entry (default "
	  "1980-01-01)\n"
	  "  -o, --output FILE  where to write it (default slug.tgz; - for "
	  "stdout)\n"
	  "  --max-size SIZE    refuse a slug larger than SIZE (default "
	  "500M)\n"
	  "  --gzip ENGINE      libdeflate (default) or zlib (one gzip "
	  "member)\n"
	  "  --level N          compression level (default 6; libdeflate "
	  "0-12, zlib 0-9)\n"
	  "  --no-slugignore    do not apply the root's .slugignore\n"
	  "  --json             print the result as JSON\n"
	  "Prints the slug's digest (sha256 of the file), size, diff_id "
	  "(sha256 of the tar)\nand entry count.\n" },
	{ "slug inspect", slug_cmd_inspect, "FILE [--max-size SIZE] [--json]",
	  "show a slug's digest, size, process types and entries",
	  "Checks that every entry is a file, directory or symlink under "
	  "app/ with a safe\npath, and parses app/Procfile. Fails (after "
	  "printing) if the Procfile is malformed.\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};
