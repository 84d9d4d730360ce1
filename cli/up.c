/*
 * `slipway up`: the all-in-one supervisor (issue 7).  Until the services it
 * supervises exist, it says which parts of slipway work today and fails, so
 * nobody mistakes it for a running platform.
 */
#include <stdio.h>

#include "slipway/cli.h"

int
cli_cmd_up(int argc, char **argv)
{
	fprintf(stderr,
	    "slipway up: the all-in-one supervisor is not built yet.\n"
	    "Working today (see 'slipway help'):\n");
	for (const struct cli_command *c = cli_commands; c->name; c++)
		if (c->run != cli_cmd_up)
			fprintf(stderr, "  slipway %-20s %s\n", c->name,
			    c->summary);
	return 1;
}
