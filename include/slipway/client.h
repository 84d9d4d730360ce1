/*
 * The client commands: the ones that talk to the controller's HTTP API
 * (lib/apiclient.c) for a person, from the CLI (cli/commands.c lists them
 * among its own) or over SSH (hooks/ssh_admin.c runs the ones a key may
 * run).  The rows are lib/cmdline.h's; the commands live in client/.
 */
#ifndef SLIPWAY_CLIENT_H
#define SLIPWAY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/cmdline.h"

/* Every client command, in the order `slipway help` lists them. */
extern const struct cmdline_command client_commands[];

/* The row of client command name, or NULL. */
const struct cmdline_command *client_command_find(const char *name);

/*
 * The commands a key may run over SSH, as they run there: every client
 * command but login and git:remote (they work on the caller's
 * files), in the same order.  A command
 * there runs as the server's user for a remote one, so it reads only the
 * channel's stdin and never opens a path the client names: where the
 * CLI's command may open a file given as an argument, its SSH row is a
 * form that does not, with its own usage.  client_ssh_find gives the row
 * of name (NULL when it is not offered over SSH); client_ssh_at the i-th
 * in help order (NULL past the last).
 */
const struct cmdline_command *client_ssh_find(const char *name);
const struct cmdline_command *client_ssh_at(size_t i);

/*
 * The arguments of cmd with its app where the command takes it: `-a APP`,
 * `-aAPP`, `--app APP` or `--app=APP` (before any "--") moved to where
 * its first argument goes; without one, when from_remote and the
 * arguments lack an app (too few, or the first is no app name, or a vN
 * where the app goes first), the app that the current directory's git
 * remote named deploy names, or its only remote that points at this
 * server (base URL from GET /v1/health).  A command that takes no APP
 * refuses -a.  Returns 0, or the exit status after a message (2 usage,
 * 1 failure).  argv's strings are borrowed, not copied: *out lives no
 * longer than they do.
 */
struct client_app_args {
	int argc;
	char **argv;
	char *app;              /* the app found from a remote, or NULL */
};
int client_app_args(struct client_app_args *out, int argc, char **argv,
    const struct cmdline_command *cmd, bool from_remote);
void client_app_args_free(struct client_app_args *a);

#endif
