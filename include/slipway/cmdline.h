/*
 * What every command says when it fails, the same way whichever module
 * holds it: "slipway NAME: <message>" on stderr, and for a usage error the
 * command's usage line after it.  lib/ knows no command table, so the
 * program that has one (cli/main.c) hands over a lookup for the usage
 * line with cmdline_set_synopsis; without one, no usage line is printed.
 */
#ifndef SLIPWAY_CMDLINE_H
#define SLIPWAY_CMDLINE_H

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
