/*
 * The command table: one row per command, in the order `slipway help`
 * lists them.  Keep rows grouped by area.
 */
#include <stddef.h>

#include "slipway/cli.h"
#include "slipway/proxy.h"

const struct cli_command cli_commands[] = {
	{ "help", cli_cmd_help, "[COMMAND]",
	  "show the commands, or one command's usage", NULL },
	{ "version", cli_cmd_version, "",
	  "print slipway's version", NULL },
	{ "up", cli_cmd_up, "",
	  "run every service on this machine (all-in-one supervisor)", NULL },
	{ "proxy", proxy_cmd_serve,
	  "[--listen IP:PORT] [--control PATH] [--domain D] [--routes FILE] "
	  "[options]",
	  "run the HTTP reverse proxy (routes APP.<domain> to app backends)",
	  "options:\n"
	  "  --listen IP:PORT          where to serve (127.0.0.1:8080)\n"
	  "  --control PATH            control socket ($SLIPWAY_HOME/proxy.sock)\n"
	  "  --domain D                apps answer at APP.D (localhost)\n"
	  "  --routes FILE             load routes at start, save on change\n"
	  "  --access-log PATH|-|off   access log (- is stderr, the default)\n"
	  "  --max-conns N             client connections at once (10000)\n"
	  "  --pool N                  idle connections kept per backend (64)\n"
	  "  --max-body SIZE           request body cap, 413 past it (none)\n"
	  "  --header-timeout SECS     request head must arrive in it (10)\n"
	  "  --idle-timeout SECS       idle keep-alive connections (60)\n"
	  "  --connect-timeout SECS    backend connect, 504 past it (5)\n"
	  "  --upstream-timeout SECS   backend answer / stall, 504 (60)\n"
	  "  --tunnel-timeout SECS     silent WebSocket tunnel (3600)\n" },
	{ "proxy route set", proxy_cmd_route_set,
	  "APP [IP:PORT...] [--domain D...] [--control PATH]",
	  "install an app's whole backend list (atomic swap)", NULL },
	{ "proxy route rm", proxy_cmd_route_rm, "APP [--control PATH]",
	  "remove an app's route", NULL },
	{ "proxy routes", proxy_cmd_routes, "[--json] [--control PATH]",
	  "list the proxy's routes with requests in flight", NULL },
	{ "proxy drain", proxy_cmd_drain,
	  "IP:PORT [--wait SECS] [--control PATH]",
	  "show requests in flight on a backend; --wait until none",
	  "Exits 1 when --wait passes with requests still in flight.\n" },
	{ "proxy maintenance", proxy_cmd_maintenance,
	  "APP on|off [--control PATH]",
	  "answer every request for APP with 503 maintenance", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};
