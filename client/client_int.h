/*
 * Private to the client commands (client/): the commands of the table
 * (client/commands.c), and what they share: opening the API client,
 * building escaped paths, and printing tables and JSON.
 */
#ifndef SLIPWAY_CLIENT_INT_H
#define SLIPWAY_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "slipway/apiclient.h"

/* Open the client and check there is a token.  On failure prints the
 * reason as "slipway NAME: ..." and returns false. */
bool client_open(struct apiclient **out, const char *name);

/* method + path built from fmt, where each %s is one path component or
 * query value, percent-escaped, %r a string put as it is, and %d an
 * int.  On failure prints the
 * reason and returns false. */
bool client_call(json_t **out, struct apiclient *c, const char *name,
    const char *method, json_t *body, const char *fmt, ...);

/* Parse the options every listing takes (--json) plus none other; on
 * success optind is at the first argument.  Returns 0, or 2 after a
 * usage message. */
int client_opts_json(bool *json, int argc, char **argv);
/* The same, with --user U too (*user NULL when absent). */
int client_opts_user(bool *json, const char **user, int argc, char **argv);
/* Exactly want positional arguments after options, or a usage error. */
int client_nargs(int argc, char **argv, int want, const char *what);

/* --timeout SECS (1 to 86400) into *out, or a usage error (2). */
int client_parse_timeout(unsigned *out, const char *name, const char *s);

/* An app name as the controller will take it, or a usage error (2). */
int client_check_app(const char *name, const char *app);

/* A column of a listing: its title, and the member of each row it shows
 * (client_str, or client_join for a list). */
struct client_column {
	const char *title;
	const char *key;
};
/* Print a list of objects as a table, one row each. */
void client_print_columns(json_t *list, const struct client_column *cols,
    size_t ncols);

/* A line of a record: "label:" padded to the record's width, then the
 * member key (client_str, or client_join for a list). */
struct client_field {
	const char *label;
	const char *key;
};
void client_print_record(json_t *obj, int width, const struct client_field *f,
    size_t n);

/*
 * A command that shows what one GET answers: with --json the answer as it
 * is, else what print makes of it (args are the positional arguments)
 * or, without print, the table of cols.  It takes nargs arguments, the
 * first an app name when there are any; path is a client_call format whose
 * %s take them.  With user it takes --user U too and asks for
 * path?user=U.
 */
struct client_view {
	const char *path;
	int nargs;
	const char *what;       /* the arguments, for usage errors */
	bool user;
	void (*print)(json_t *answer, char **args);
	const struct client_column *cols;
	size_t ncols;
};
int client_show(int argc, char **argv, const struct client_view *v);

/*
 * A command that makes one change and says so: method on path (a
 * client_call format whose %s take the arguments in order), with the body
 * {key: last argument} when key is set.  It takes --json (and prints the
 * same) and nargs arguments, the first an app name when app is set.  On
 * success it prints done, a printf format given the last argument and
 * then the first.
 */
struct client_change {
	const char *method;
	const char *path;
	int nargs;              /* 1 or 2 */
	const char *what;       /* the arguments, for usage errors */
	bool app;
	const char *key;        /* NULL: no body */
	const char *done;
};
int client_change_run(int argc, char **argv, const struct client_change *ch);

/* Print build number of app's log to stdout as it is written, until the
 * build ends (follow) or what there is now is printed; 0 when the build
 * succeeded (or, without follow, is still running), 1 otherwise
 * (client/cmd_builds.c). */
int client_build_follow(struct apiclient *c, const char *name, const char *app,
    long long number, bool follow);

/* Print j indented, with a final newline. */
void client_print_json(json_t *j);

/* A plain-text table: a header row and aligned columns, two spaces
 * apart, the last column unpadded. */
struct client_table {
	size_t ncols, nrows;
	char **cells;   /* nrows * ncols, row 0 the header */
};
void client_table_init(struct client_table *t, size_t ncols, ...);
void client_table_row(struct client_table *t, ...);
void client_table_print(struct client_table *t);

/* Helpers for cells: a member as text ("-" when missing or null), and a
 * list of strings joined by ", ". */
const char *client_str(json_t *obj, const char *key);
char *client_join(json_t *arr);

/* ---- the commands (client/cmd_*.c), rows of client_commands ---- */

int client_cmd_login(int argc, char **argv);
int client_cmd_apps(int argc, char **argv);
int client_cmd_apps_create(int argc, char **argv);
int client_cmd_apps_destroy(int argc, char **argv);
int client_cmd_apps_info(int argc, char **argv);
int client_cmd_apps_share(int argc, char **argv);
int client_cmd_apps_unshare(int argc, char **argv);
int client_cmd_domains(int argc, char **argv);
int client_cmd_domains_add(int argc, char **argv);
int client_cmd_domains_remove(int argc, char **argv);
int client_cmd_config(int argc, char **argv);
int client_cmd_config_set(int argc, char **argv);
int client_cmd_config_unset(int argc, char **argv);
int client_cmd_config_get(int argc, char **argv);
int client_cmd_releases(int argc, char **argv);
int client_cmd_releases_info(int argc, char **argv);
int client_cmd_rollback(int argc, char **argv);
int client_cmd_ps(int argc, char **argv);
int client_cmd_ps_scale(int argc, char **argv);
int client_cmd_ps_stop(int argc, char **argv);
int client_cmd_ps_start(int argc, char **argv);
int client_cmd_buildpacks(int argc, char **argv);
int client_cmd_buildpacks_add(int argc, char **argv);
int client_cmd_buildpacks_set(int argc, char **argv);
int client_cmd_buildpacks_remove(int argc, char **argv);
int client_cmd_buildpacks_clear(int argc, char **argv);
int client_cmd_stack_set(int argc, char **argv);
int client_cmd_repo_purge_cache(int argc, char **argv);
int client_cmd_builds(int argc, char **argv);
int client_cmd_builds_info(int argc, char **argv);
int client_cmd_builds_create(int argc, char **argv);
int client_cmd_builds_log(int argc, char **argv);
int client_cmd_keys(int argc, char **argv);
int client_cmd_keys_add(int argc, char **argv);
/* keys:add for a remote user (over SSH): the key only from stdin, a path
 * argument refused unopened. */
int client_cmd_keys_add_stdin(int argc, char **argv);
int client_cmd_keys_remove(int argc, char **argv);
int client_cmd_users(int argc, char **argv);
int client_cmd_users_add(int argc, char **argv);
int client_cmd_users_remove(int argc, char **argv);
int client_cmd_tokens(int argc, char **argv);
int client_cmd_tokens_create(int argc, char **argv);
int client_cmd_tokens_revoke(int argc, char **argv);
int client_cmd_groups(int argc, char **argv);
int client_cmd_groups_create(int argc, char **argv);
int client_cmd_groups_add_app(int argc, char **argv);
int client_cmd_groups_remove_app(int argc, char **argv);
int client_cmd_groups_add_user(int argc, char **argv);
int client_cmd_groups_remove_user(int argc, char **argv);
int client_cmd_runners(int argc, char **argv);
int client_cmd_runners_add(int argc, char **argv);
int client_cmd_runners_remove(int argc, char **argv);
/* In client/cmd_maint.c. */
int client_cmd_maintenance(int argc, char **argv);
int client_cmd_maintenance_on(int argc, char **argv);
int client_cmd_maintenance_off(int argc, char **argv);
/* In client/cmd_git.c. */
int client_cmd_git_set(int argc, char **argv);
int client_cmd_git_remote(int argc, char **argv);
int client_cmd_apps_rename(int argc, char **argv);
/* In client/cmd_rollout.c. */
int client_cmd_releases_wait(int argc, char **argv);
int client_cmd_ps_restart(int argc, char **argv);
int client_cmd_logs(int argc, char **argv);
/* In client/cmd_run.c. */
int client_cmd_run(int argc, char **argv);
int client_cmd_run_output(int argc, char **argv);

#endif
