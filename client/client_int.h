/*
 * Private to the client commands (controller/cmd*.c): opening the API
 * client, building escaped paths, and printing tables and JSON.
 */
#ifndef SLIPWAY_CLIENT_INT_H
#define SLIPWAY_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "slipway/apiclient.h"

/* Open the client and check there is a token.  On failure prints the
 * reason as "slipway NAME: ..." and returns false. */
bool cmd_open(struct apiclient **out, const char *name);

/* method + path built from fmt, where each %s is one path component or
 * query value, percent-escaped, %r a string put as it is, and %d an
 * int.  On failure prints the
 * reason and returns false. */
bool cmd_call(json_t **out, struct apiclient *c, const char *name,
    const char *method, json_t *body, const char *fmt, ...);

/* Parse the options every listing takes (--json) plus none other; on
 * success optind is at the first argument.  Returns 0, or 2 after a
 * usage message. */
int cmd_opts_json(bool *json, int argc, char **argv);
/* The same, with --user U too (*user NULL when absent). */
int cmd_opts_user(bool *json, const char **user, int argc, char **argv);
/* Exactly want positional arguments after options, or a usage error. */
int cmd_nargs(int argc, char **argv, int want, const char *what);

/* An app name as the controller will take it, or a usage error (2). */
int cmd_check_app(const char *name, const char *app);

/* A column of a listing: its title, and the member of each row it shows
 * (cmd_str, or cmd_join for a list). */
struct cmd_column {
	const char *title;
	const char *key;
};
/* Print a list of objects as a table, one row each. */
void cmd_print_columns(json_t *list, const struct cmd_column *cols,
    size_t ncols);

/* A line of a record: "label:" padded to the record's width, then the
 * member key (cmd_str, or cmd_join for a list). */
struct cmd_field {
	const char *label;
	const char *key;
};
void cmd_print_record(json_t *obj, int width, const struct cmd_field *f,
    size_t n);

/*
 * A command that shows what one GET answers: with --json the answer as it
 * is, else what print makes of it (args are the positional arguments)
 * or, without print, the table of cols.  It takes nargs arguments, the
 * first an app name when there are any; path is a cmd_call format whose
 * %s take them.  With user it takes --user U too and asks for
 * path?user=U.
 */
struct cmd_view {
	const char *path;
	int nargs;
	const char *what;       /* the arguments, for usage errors */
	bool user;
	void (*print)(json_t *answer, char **args);
	const struct cmd_column *cols;
	size_t ncols;
};
int cmd_show(int argc, char **argv, const struct cmd_view *v);

/*
 * A command that makes one change and says so: method on path (a
 * cmd_call format whose %s take the arguments in order), with the body
 * {key: last argument} when key is set.  It takes --json (and prints the
 * same) and nargs arguments, the first an app name when app is set.  On
 * success it prints done, a printf format given the last argument and
 * then the first.
 */
struct cmd_change {
	const char *method;
	const char *path;
	int nargs;              /* 1 or 2 */
	const char *what;       /* the arguments, for usage errors */
	bool app;
	const char *key;        /* NULL: no body */
	const char *done;
};
int cmd_change_run(int argc, char **argv, const struct cmd_change *ch);

/* Print build number of app's log to stdout as it is written, until the
 * build ends (follow) or what there is now is printed; 0 when the build
 * succeeded (or, without follow, is still running), 1 otherwise
 * (controller/cmd_builds.c). */
int cmd_build_follow(struct apiclient *c, const char *name, const char *app,
    long long number, bool follow);

/* Print j indented, with a final newline. */
void cmd_print_json(json_t *j);

/* A plain-text table: a header row and aligned columns, two spaces
 * apart, the last column unpadded. */
struct cmd_table {
	size_t ncols, nrows;
	char **cells;   /* nrows * ncols, row 0 the header */
};
void cmd_table_init(struct cmd_table *t, size_t ncols, ...);
void cmd_table_row(struct cmd_table *t, ...);
void cmd_table_print(struct cmd_table *t);

/* Helpers for cells: a member as text ("-" when missing or null), and a
 * list of strings joined by ", ". */
const char *cmd_str(json_t *obj, const char *key);
char *cmd_join(json_t *arr);

#endif
