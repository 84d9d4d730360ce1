/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"
#include "slipway/image.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ "image build", image_cmd_build,
	  "--slug SLUG [--base LAYOUT[:TAG]] -o LAYOUT --tag TAG "
	  "[--process TYPE=CMD ...] [--revision REV] [--source URL] "
	  "[--created RFC3339] [--port N] [--json]",
	  "pack a slug onto a stack as an OCI image in an image layout",
	  "The stack's layers are reused by digest; the slug becomes one more\n"
	  "gzip layer.  Same inputs give the same manifest digest: --created\n"
	  "defaults to SOURCE_DATE_EPOCH, else 1970-01-01T00:00:00Z.\n" },
	{ "image inspect", image_cmd_inspect, "LAYOUT[:TAG] [--json] [--verify]",
	  "show an image of an image layout: digest, config, layers",
	  "--verify hashes every layer blob against its digest.\n" },
	{ "stack import", image_cmd_stack_import,
	  "(--dir DIR | --busybox [--busybox-path PATH]) -o LAYOUT "
	  "[--tag TAG] [--created RFC3339] [--json]",
	  "make a stack (base image) layout from a directory or busybox-static",
	  "One reproducible layer: entries sorted, owners 0:0, times set to\n"
	  "--created.  --busybox builds a tiny rootfs from /bin/busybox with\n"
	  "its applet links, /tmp and user app (uid 1000).  TAG: latest.\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};
