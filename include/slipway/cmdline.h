/*
 * What every command says when it fails, the same way whichever module
 * holds it: "slipway NAME: <message>" on stderr, and for a usage error the
 * command's usage line after it.  lib/ knows no command table, so the
 * program that has one (cli/main.c) hands over a lookup for the usage
 * line with cmdline_set_synopsis; without one, no usage line is printed.
 *
 * It knows the row of a table, so that the modules that hold commands
 * (client/, cli/) and those that run them (cli/main.c, hooks/ssh_admin.c)
 * share one shape without calling each other.
 */
#ifndef SLIPWAY_CMDLINE_H
#define SLIPWAY_CMDLINE_H

/* A command's function gets argc/argv with argv[0] its full name, parses
 * its own options (getopt_long, with optind reset by the caller) and
 * returns the process exit status: 0 ok, 1 failed, 2 usage error. */
typedef int (*cmdline_run_fn)(int argc, char **argv);

/* One row of a command table; a table ends with a row whose name is
 * NULL. */
struct cmdline_command {
	const char *name;     /* "slug create" */
	cmdline_run_fn run;
	const char *args;     /* synopsis of the arguments, "" when none */
	const char *summary;  /* one line for `slipway help` */
	const char *help;     /* more lines for `--help`, or NULL */
};

/* Print the usage of one command to stdout: its usage line, summary and
 * help. */
void cmdline_print_usage(const struct cmdline_command *cmd);

/* The argument synopsis of command NAME ("" when it takes none), or NULL
 * when NAME is no command.  The string must outlive the program. */
typedef const char *(*cmdline_synopsis_fn)(const char *name);

/* Use fn for the usage lines from now on (NULL: none).  Call it once at
 * start, before any thread: the pointer is read without a lock. */
void cmdline_set_synopsis(cmdline_synopsis_fn fn);

/* Print "slipway NAME: <message>" and "usage: slipway NAME ARGS" on
 * stderr; returns 2, the exit status of a usage error. */
int cmdline_usage_error(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Print "slipway NAME: <err_last()>" (or "failed" when there is no
 * message) on stderr; returns 1, the exit status of a failure. */
int cmdline_fail(const char *name);

#endif
