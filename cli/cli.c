/* Shared pieces of the command line: usage, errors, help, version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cli.h"
#include "slipway/cmdline.h"

const struct cli_command *
cli_command_find(const char *name)
{
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

void
cli_print_usage(const struct cli_command *cmd)
{
	printf("usage: slipway %s%s%s\n\n%s\n", cmd->name,
	    cmd->args[0] ? " " : "", cmd->args, cmd->summary);
	if (cmd->help)
		printf("\n%s", cmd->help);
}

const char *
cli_synopsis(const char *name)
{
	const struct cli_command *cmd = cli_command_find(name);

	return cmd ? cmd->args : NULL;
}

int
cli_cmd_help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc > 1) {
		if ((cmd = cli_command_find(argv[1])) == NULL)
			return cmdline_usage_error("help", "'%s' is not a command",
			    argv[1]);
		cli_print_usage(cmd);
		return 0;
	}
	printf("usage: slipway <command> [args]\n\n"
	    "slipway builds git pushes into releases and runs them.\n\n"
	    "commands:\n");
	for (cmd = cli_commands; cmd->name; cmd++)
		printf("  %-22s %s\n", cmd->name, cmd->summary);
	printf("\n'slipway <command> --help' shows one command's usage.\n");
	return 0;
}

int
cli_cmd_version(int argc, char **argv)
{
	printf("slipway %s\n", SLIPWAY_VERSION);
	return 0;
}
