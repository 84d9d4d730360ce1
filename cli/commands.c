/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"
#include "slipway/registry.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ "registry", registry_cmd_serve,
	  "[--listen HOST:PORT] [--root DIR] [--anonymous-pull] [--realm URL] "
	  "[--service NAME] [--htpasswd FILE] [--max-blob SIZE] "
	  "[--upload-age SECS]",
	  "serve the OCI registry (Distribution API v1.1, token auth)",
	  "Serves /v2/ on --listen (default 127.0.0.1:5000) from --root\n"
	  "(default $SLIPWAY_HOME/registry).  Requests need a Bearer token\n"
	  "signed with $SLIPWAY_HOME/secret (see 'slipway registry token');\n"
	  "--anonymous-pull lets pulls in without one.  401 answers point\n"
	  "clients at --realm (default: this server's own /token, which\n"
	  "checks HTTP Basic against --htpasswd, a file of lines\n"
	  "'user:<sha256 hex of the password>').  --max-blob caps one blob\n"
	  "(default 10G); sessions idle for --upload-age seconds (default\n"
	  "3600) are stale and removed.  See docs/registry.md.\n" },
	{ "registry token", registry_cmd_token,
	  "--repo NAME [--repo NAME...] [--actions pull,push,delete] "
	  "[--ttl SECS] [--user U] [--service NAME] [--catalog]",
	  "mint a registry token (Docker token spec claims) on stdout",
	  "Signs with $SLIPWAY_HOME/secret.  --actions defaults to pull,\n"
	  "--ttl to 300 seconds (at most 86400); --catalog adds\n"
	  "registry:catalog:*.  Use it as 'Authorization: Bearer TOKEN' or\n"
	  "skopeo's --registry-token.\n" },
	{ "registry gc", registry_cmd_gc,
	  "[--root DIR] [--dry-run] [--upload-age SECS] [--json]",
	  "remove blobs no manifest references, and stale uploads",
	  "Blobs younger than --upload-age seconds (default 3600) are kept,\n"
	  "so pushes in progress keep theirs.  Safe while the registry\n"
	  "runs.\n" },
	{ NULL, NULL, NULL, NULL, NULL },
};
