/* Failure and usage messages of commands; see include/slipway/cmdline.h. */
#include <stdarg.h>
#include <stdio.h>

#include "slipway/cmdline.h"
#include "slipway/err.h"

static cmdline_synopsis_fn cmdline_synopsis;

void
cmdline_set_synopsis(cmdline_synopsis_fn fn)
{
	cmdline_synopsis = fn;
}

int
cmdline_usage_error(const char *name, const char *fmt, ...)
{
	const char *args = cmdline_synopsis ? cmdline_synopsis(name) : NULL;
	va_list ap;

	fprintf(stderr, "slipway %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (args)
		fprintf(stderr, "usage: slipway %s%s%s\n", name,
		    args[0] ? " " : "", args);
	return 2;
}

int
cmdline_fail(const char *name)
{
	const char *msg = err_last();

	fprintf(stderr, "slipway %s: %s\n", name, msg[0] ? msg : "failed");
	return 1;
}
