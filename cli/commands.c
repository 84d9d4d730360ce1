/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"
#include "slipway/controller.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ "controller", controller_cmd_run,
	  "[--listen HOST:PORT] [--home DIR] [--runner-timeout SECS]",
	  "run the controller: the store and the HTTP API (default "
	  "127.0.0.1:7070)",
	  "The store is DIR/slipway.db (DIR: --home, $SLIPWAY_HOME or\n"
	  "/var/lib/slipway).  On a fresh store the user 'admin' is made and\n"
	  "its API token printed once on stderr.  A runner that has not\n"
	  "heartbeat for SECS (default 30) loses its containers to the others\n"
	  "in its group.\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};
