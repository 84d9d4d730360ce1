/* Shared pieces of the command line: usage, errors, help, version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cli.h"
#include "slipway/cmdline.h"

const struct cmdline_command *
cli_command_at(size_t i)
{
	for (size_t t = 0; cli_tables[t]; t++) {
		size_t n = 0;

		while (cli_tables[t][n].name)
			n++;
		if (i < n)
			return &cli_tables[t][i];
		i -= n;
	}
	return NULL;
}

const struct cmdline_command *
cli_command_find(const char *name)
{
	const struct cmdline_command *c;

	for (size_t i = 0; (c = cli_command_at(i)) != NULL; i++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const char *
cli_synopsis(const char *name)
{
	const struct cmdline_command *cmd = cli_command_find(name);

	return cmd ? cmd->args : NULL;
}

int
cli_cmd_help(int argc, char **argv)
{
	const struct cmdline_command *cmd;

	if (argc > 1) {
		if ((cmd = cli_command_find(argv[1])) == NULL)
			return cmdline_usage_error("help", "'%s' is not a command",
			    argv[1]);
		cmdline_print_usage(cmd);
		return 0;
	}
	printf("usage: slipway <command> [args]\n\n"
	    "slipway builds git pushes into releases and runs them.\n\n"
	    "commands:\n");
	for (size_t i = 0; (cmd = cli_command_at(i)) != NULL; i++)
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
