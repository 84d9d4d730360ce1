/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"
#include "slipway/runner.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ "runner run-local", runner_cmd_run_local,
	  "--image-layers L1,L2 --digest sha256:HEX --app APP --command CMD "
	  "[--release vN] [--process web] [--driver runc|process|auto] "
	  "[--health PATH | --no-health] [--health-deadline S] [--env K=V]... "
	  "[--port N] [--user U] [--grace S]",
	  "unpack an image, run one container of it, health-check it, stop "
	  "it on Ctrl-C",
	  "Prints 'container ID driver=D port=P', then 'healthy: <status>' and\n"
	  "'PORT=N state=up', then one 'event:' line per state change.\n" },
	{ "runner unpack", runner_cmd_unpack,
	  "(--digest sha256:HEX | --into DIR) LAYER...",
	  "unpack image layers (tar or tar.gz, lowest first) safely", NULL },
	{ "runner ps", runner_cmd_ps, "[--json]",
	  "list this machine's containers from their state files", NULL },
	{ "runner logs", runner_cmd_logs, "APP [-n N] [-f] [--process TYPE]",
	  "print an app's log ring (last N lines, follow)", NULL },
	{ "runner supervise", runner_cmd_supervise, "[--driver D]",
	  "adopt this machine's containers and supervise them until a signal",
	  "Containers left by a runner that died are watched again (running)\n"
	  "or restarted (dead, unless stopped).  On SIGINT/SIGTERM it exits\n"
	  "and leaves them running, as the runner daemon will.\n" },
	{ "runner destroy", runner_cmd_destroy, "ID...",
	  "stop containers and remove their bundles and ephemeral files",
	  NULL },
	{ "runner gc", runner_cmd_gc, "[--keep DIGEST,...]",
	  "remove unpacked images not kept and not used by a container", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};
