/* Failure and usage messages of commands; see include/slipway/cmdline.h. */
#include <stdarg.h>
#include <stdio.h>

#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/log.h"

static cmdline_synopsis_fn cmdline_synopsis;

void
cmdline_set_synopsis(cmdline_synopsis_fn fn)
{
	cmdline_synopsis = fn;
}

void
cmdline_print_usage(const struct cmdline_command *cmd)
{
	printf("usage: slipway %s%s%s\n\n%s\n", cmd->name,
	    cmd->args[0] ? " " : "", cmd->args, cmd->summary);
	if (cmd->help)
		printf("\n%s", cmd->help);
}

int
cmdline_usage_error(const char *name, const char *fmt, ...)
{
	const char *args = cmdline_synopsis ? cmdline_synopsis(name) : NULL;
	va_list ap;

	/* escaped, as every error: it may quote what was typed */
	fprintf(stderr, "slipway %s: ", name);
	va_start(ap, fmt);
	log_vprint_line(stderr, fmt, ap);
	va_end(ap);
	if (args)
		fprintf(stderr, "usage: slipway %s%s%s\n", name,
		    args[0] ? " " : "", args);
	return 2;
}

int
cmdline_fail(const char *name)
{
	const char *msg = err_last();

	/* escaped: the message may quote input or a server's answer */
	log_print_line(stderr, "slipway %s: %s", name, msg[0] ? msg : "failed");
	return 1;
}
