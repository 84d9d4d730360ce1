/*
 * The `slipway` command table.  Every command, daemon or client, is one row
 * of cli_commands[] (cli/commands.c); names may have several words
 * ("slug create") and the longest match wins, as git's and libgit2's CLI do.
 * A command's function gets argc/argv with argv[0] its full name, parses
 * its own options (getopt_long, with optind reset by the dispatcher) and
 * returns the process exit status: 0 ok, 1 failed, 2 usage error.
 */
#ifndef SLIPWAY_CLI_H
#define SLIPWAY_CLI_H

#include <stdbool.h>

typedef int (*cli_run_fn)(int argc, char **argv);

struct cli_command {
	const char *name;     /* "slug create" */
	cli_run_fn run;
	const char *args;     /* synopsis of the arguments, "" when none */
	const char *summary;  /* one line for `slipway help` */
	const char *help;     /* more lines for `--help`, or NULL */
};

extern const struct cli_command cli_commands[];

/* Print the usage of one command to stdout. */
void cli_print_usage(const struct cli_command *cmd);
const struct cli_command *cli_command_find(const char *name);

/* The args of command NAME, or NULL: the lookup cli/main.c gives to
 * cmdline_set_synopsis, so that lib/cmdline prints usage lines. */
const char *cli_synopsis(const char *name);

/* Commands defined in cli/. */
int cli_cmd_help(int argc, char **argv);
int cli_cmd_version(int argc, char **argv);
int cli_cmd_up(int argc, char **argv);

#endif
