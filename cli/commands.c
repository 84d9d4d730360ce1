/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};
