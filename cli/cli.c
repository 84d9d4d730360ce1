/* Shared pieces of the command line: usage, errors, help, version. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/cli.h"
#include "slipway/err.h"

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

int
cli_usage_error(const char *name, const char *fmt, ...)
{
	const struct cli_command *cmd = cli_command_find(name);
	va_list ap;

	fprintf(stderr, "slipway %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (cmd)
		fprintf(stderr, "usage: slipway %s%s%s\n", cmd->name,
		    cmd->args[0] ? " " : "", cmd->args);
	return 2;
}

int
cli_fail(const char *name)
{
	const char *msg = err_last();

	fprintf(stderr, "slipway %s: %s\n", name, msg[0] ? msg : "failed");
	return 1;
}

int
cli_parse_size(unsigned long long *out, const char *s)
{
	unsigned long long v, mul = 1;
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)s[0]))
		return err_set(ERR_INVALID, "'%s' is not a size", s);
	v = strtoull(s, &end, 10);
	if (errno)
		return err_set(ERR_INVALID, "'%s' is not a size", s);
	switch (*end) {
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end != '\0' || v > ~0ULL / mul)
		return err_set(ERR_INVALID, "'%s' is not a size", s);
	*out = v * mul;
	return 0;
}

int
cli_cmd_help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc > 1) {
		if ((cmd = cli_command_find(argv[1])) == NULL)
			return cli_usage_error("help", "'%s' is not a command",
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
