/*
 * The `slipway` command table.  Every command, daemon or client, is one row
 * (lib/cmdline.h's struct cmdline_command) of one of the tables in
 * cli_tables[] (cli/commands.c; the client commands are client/'s table);
 * names may have several words ("slug create") and the longest match
 * wins, as git's and libgit2's CLI do.
 */
#ifndef SLIPWAY_CLI_H
#define SLIPWAY_CLI_H

#include <stddef.h>

#include "slipway/cmdline.h"

/* The tables, in the order `slipway help` lists them, NULL-terminated. */
extern const struct cmdline_command *const cli_tables[];

/* The i-th row over all the tables (from 0), NULL past the last. */
const struct cmdline_command *cli_command_at(size_t i);
/* The row named name, or NULL. */
const struct cmdline_command *cli_command_find(const char *name);

/* The args of command NAME, or NULL: the lookup cli/main.c gives to
 * cmdline_set_synopsis, so that lib/cmdline prints usage lines. */
const char *cli_synopsis(const char *name);

/* Commands defined in cli/. */
int cli_cmd_help(int argc, char **argv);
int cli_cmd_version(int argc, char **argv);
int cli_cmd_up(int argc, char **argv);
int cli_cmd_install(int argc, char **argv);
int cli_cmd_uninstall(int argc, char **argv);

#endif
