/*
 * Client commands for people, keys and places: keys*, users*, tokens*,
 * groups*, runners*.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cli.h"
#include "slipway/controller.h"
#include "slipway/err.h"
#include "slipway/fs.h"

#define CMD_KEY_MAX 16384

/* Parse --json and --user U (either may be absent). */
static int
cmd_opts_user(bool *json, const char **user, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	*json = false;
	*user = NULL;
	while ((o = getopt_long(argc, argv, "u:", opts, NULL)) != -1) {
		if (o == 'j')
			*json = true;
		else if (o == 'u')
			*user = optarg;
		else
			return cli_usage_error(argv[0], "unknown option");
	}
	return 0;
}

/* A listing: GET path (with an optional ?user=), then print. */
static int
cmd_list(int argc, char **argv, bool with_user, const char *path,
    void (*print)(json_t *))
{
	struct apiclient *c = NULL;
	const char *user = NULL;
	json_t *j = NULL;
	bool json;
	int rc;

	if ((rc = with_user ? cmd_opts_user(&json, &user, argc, argv) :
	    cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 0, "")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	rc = 1;
	if (user ? cmd_call(&j, c, argv[0], "GET", NULL, "%r?user=%s", path,
	    user) : cmd_call(&j, c, argv[0], "GET", NULL, path)) {
		if (json)
			cmd_print_json(j);
		else
			print(j);
		rc = 0;
	}
	json_decref(j);
	apiclient_free(c);
	return rc;
}

/* A one-call change: method path with body; prints done on success. */
static int
cmd_change(struct apiclient *c, const char *name, const char *method,
    json_t *body, const char *path, const char *done)
{
	int rc = 1;

	if (cmd_call(NULL, c, name, method, body, "%r", path)) {
		printf("%s\n", done);
		rc = 0;
	}
	json_decref(body);
	return rc;
}

/* ---- keys ---- */

static void
cmd_print_keys(json_t *list)
{
	struct cmd_table t;
	size_t i;
	json_t *k;

	cmd_table_init(&t, 4, "FINGERPRINT", "USER", "TYPE", "COMMENT");
	json_array_foreach(list, i, k)
		cmd_table_row(&t, cmd_str(k, "fingerprint"), cmd_str(k, "user"),
		    cmd_str(k, "type"), cmd_str(k, "comment"));
	cmd_table_print(&t);
}

int
controller_cmd_keys(int argc, char **argv)
{
	return cmd_list(argc, argv, true, "/v1/keys", cmd_print_keys);
}

int
controller_cmd_keys_add(int argc, char **argv)
{
	struct apiclient *c = NULL;
	const char *user, *file;
	struct buf b;
	json_t *body = NULL, *k = NULL;
	bool json;
	int rc;

	buf_init(&b, CMD_KEY_MAX);
	if ((rc = cmd_opts_user(&json, &user, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 1, "FILE (or - for stdin)")))
		return rc;
	file = argv[optind];
	if (strcmp(file, "-") == 0) {
		char chunk[4096];
		ssize_t n;
		while ((n = read(0, chunk, sizeof(chunk))) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				err_sys("cannot read the key from stdin");
				return cli_fail(argv[0]);
			}
			if (buf_put(&b, chunk, (size_t)n) < 0) {
				buf_free(&b);
				err_set(ERR_TOOBIG, "a public key is at most "
				    "%d bytes", CMD_KEY_MAX);
				return cli_fail(argv[0]);
			}
		}
	} else if (fs_read_file(&b, file, CMD_KEY_MAX) < 0) {
		return cli_fail(argv[0]);
	}
	if (!cmd_open(&c, argv[0])) {
		buf_free(&b);
		return 1;
	}
	body = json_pack("{ss#}", "public_key", b.ptr ? b.ptr : "", b.len);
	if (body == NULL) {
		err_set(ERR_INVALID, "the key is not text (UTF-8)");
		rc = cli_fail(argv[0]);
		goto done;
	}
	if (user)
		json_object_set_new(body, "user", json_string(user));
	rc = 1;
	if (cmd_call(&k, c, argv[0], "POST", body, "/v1/keys")) {
		if (json)
			cmd_print_json(k);
		else
			printf("Added %s key %s for %s\n", cmd_str(k, "type"),
			    cmd_str(k, "fingerprint"), cmd_str(k, "user"));
		rc = 0;
	}
done:
	json_decref(k);
	json_decref(body);
	buf_free(&b);
	apiclient_free(c);
	return rc;
}

int
controller_cmd_keys_remove(int argc, char **argv)
{
	struct apiclient *c = NULL;
	struct buf path;
	char *e, *p;
	bool json;
	int rc;

	if ((rc = cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 1, "FINGERPRINT")))
		return rc;
	if (strncmp(argv[optind], "SHA256:", 7) != 0)
		return cli_usage_error(argv[0], "'%.80s' is not a fingerprint "
		    "(SHA256:..., as 'slipway keys' shows)", argv[optind]);
	if (!cmd_open(&c, argv[0]))
		return 1;
	/* Escaped, but with its '/' kept: the route takes the rest of the
	 * path as the fingerprint. */
	e = apiclient_escape(argv[optind]);
	buf_init(&path, 0);
	buf_puts(&path, "/v1/keys/");
	for (p = e; *p; p++) {
		if (strncmp(p, "%2F", 3) == 0) {
			buf_putc(&path, '/');
			p += 2;
		} else {
			buf_putc(&path, *p);
		}
	}
	rc = 1;
	if (cmd_call(NULL, c, argv[0], "DELETE", NULL, "%r", path.ptr)) {
		printf("Removed key %s\n", argv[optind]);
		rc = 0;
	}
	buf_free(&path);
	free(e);
	apiclient_free(c);
	return rc;
}

/* ---- users ---- */

static void
cmd_print_users(json_t *list)
{
	struct cmd_table t;
	size_t i;
	json_t *u;

	cmd_table_init(&t, 3, "NAME", "ROLE", "GROUPS");
	json_array_foreach(list, i, u) {
		char *g = cmd_join(json_object_get(u, "groups"));
		cmd_table_row(&t, cmd_str(u, "name"), cmd_str(u, "role"), g);
		free(g);
	}
	cmd_table_print(&t);
}

int
controller_cmd_users(int argc, char **argv)
{
	return cmd_list(argc, argv, false, "/v1/users", cmd_print_users);
}

int
controller_cmd_users_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	bool admin = false;
	char *done;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'a')
			return cli_usage_error(argv[0], "unknown option");
		admin = true;
	}
	if ((rc = cmd_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	done = xasprintf("Added %s %s; give them a token with 'slipway "
	    "tokens:create --user %s'", admin ? "admin" : "member",
	    argv[optind], argv[optind]);
	rc = cmd_change(c, argv[0], "POST", json_pack("{ssss}", "name",
	    argv[optind], "role", admin ? "admin" : "member"), "/v1/users",
	    done);
	free(done);
	apiclient_free(c);
	return rc;
}

int
controller_cmd_users_remove(int argc, char **argv)
{
	struct apiclient *c = NULL;
	char *path, *e, *done;
	bool json;
	int rc;

	if ((rc = cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	e = apiclient_escape(argv[optind]);
	path = xasprintf("/v1/users/%s", e);
	done = xasprintf("Removed user %s", argv[optind]);
	rc = cmd_change(c, argv[0], "DELETE", NULL, path, done);
	free(done);
	free(path);
	free(e);
	apiclient_free(c);
	return rc;
}

/* ---- tokens ---- */

static void
cmd_print_tokens(json_t *list)
{
	struct cmd_table t;
	size_t i;
	json_t *k;

	cmd_table_init(&t, 5, "ID", "USER", "LABEL", "CREATED", "LAST USED");
	json_array_foreach(list, i, k)
		cmd_table_row(&t, cmd_str(k, "id"), cmd_str(k, "user"),
		    cmd_str(k, "label"), cmd_str(k, "created_at"),
		    cmd_str(k, "last_used_at"));
	cmd_table_print(&t);
}

int
controller_cmd_tokens(int argc, char **argv)
{
	return cmd_list(argc, argv, true, "/v1/tokens", cmd_print_tokens);
}

int
controller_cmd_tokens_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "label", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = json_object(), *t = NULL;
	bool json = false;
	int o, rc;

	while ((o = getopt_long(argc, argv, "u:l:", opts, NULL)) != -1) {
		if (o == 'u')
			json_object_set_new(body, "user", json_string(optarg));
		else if (o == 'l')
			json_object_set_new(body, "label", json_string(optarg));
		else if (o == 'j')
			json = true;
		else {
			json_decref(body);
			return cli_usage_error(argv[0], "unknown option");
		}
	}
	if ((rc = cmd_nargs(argc, argv, 0, "")) || !cmd_open(&c, argv[0])) {
		json_decref(body);
		return rc ? rc : 1;
	}
	rc = 1;
	if (cmd_call(&t, c, argv[0], "POST", body, "/v1/tokens")) {
		if (json)
			cmd_print_json(t);
		else
			printf("%s\n", cmd_str(t, "token"));
		fprintf(stderr, "Token %s for %s: save it now, it is not shown "
		    "again\n", cmd_str(t, "id"), cmd_str(t, "user"));
		rc = 0;
	}
	json_decref(t);
	json_decref(body);
	apiclient_free(c);
	return rc;
}

int
controller_cmd_tokens_revoke(int argc, char **argv)
{
	struct apiclient *c = NULL;
	char *path, *e, *done;
	bool json;
	int rc;

	if ((rc = cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 1, "ID")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	e = apiclient_escape(argv[optind]);
	path = xasprintf("/v1/tokens/%s", e);
	done = xasprintf("Revoked token %s", argv[optind]);
	rc = cmd_change(c, argv[0], "DELETE", NULL, path, done);
	free(done);
	free(path);
	free(e);
	apiclient_free(c);
	return rc;
}

/* ---- groups ---- */

static void
cmd_print_groups(json_t *list)
{
	struct cmd_table t;
	size_t i;
	json_t *g;

	cmd_table_init(&t, 4, "NAME", "APPS", "USERS", "RUNNERS");
	json_array_foreach(list, i, g) {
		char *a = cmd_join(json_object_get(g, "apps"));
		char *u = cmd_join(json_object_get(g, "users"));
		char *r = cmd_join(json_object_get(g, "runners"));
		cmd_table_row(&t, cmd_str(g, "name"), a, u, r);
		free(a);
		free(u);
		free(r);
	}
	cmd_table_print(&t);
}

int
controller_cmd_groups(int argc, char **argv)
{
	return cmd_list(argc, argv, false, "/v1/groups", cmd_print_groups);
}

int
controller_cmd_groups_create(int argc, char **argv)
{
	struct apiclient *c = NULL;
	char *done;
	bool json;
	int rc;

	if ((rc = cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	done = xasprintf("Created group %s", argv[optind]);
	rc = cmd_change(c, argv[0], "POST", json_pack("{ss}", "name",
	    argv[optind]), "/v1/groups", done);
	free(done);
	apiclient_free(c);
	return rc;
}

/* groups:add-app / remove-app / add-user / remove-user GROUP NAME */
static int
cmd_group_member(int argc, char **argv, const char *kind, bool add)
{
	struct apiclient *c = NULL;
	char *g, *m, *path, *done;
	bool json;
	int rc;

	if ((rc = cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 2, strcmp(kind, "apps") ? "GROUP and "
	    "USER" : "GROUP and APP")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	g = apiclient_escape(argv[optind]);
	m = apiclient_escape(argv[optind + 1]);
	if (add)
		path = xasprintf("/v1/groups/%s/%s", g, kind);
	else
		path = xasprintf("/v1/groups/%s/%s/%s", g, kind, m);
	done = xasprintf("%s %s %s group %s", add ? "Added" : "Removed",
	    argv[optind + 1], add ? "to" : "from", argv[optind]);
	rc = cmd_change(c, argv[0], add ? "POST" : "DELETE", add ?
	    json_pack("{ss}", strcmp(kind, "apps") ? "user" : "app",
	    argv[optind + 1]) : NULL, path, done);
	free(done);
	free(path);
	free(m);
	free(g);
	apiclient_free(c);
	return rc;
}

int
controller_cmd_groups_add_app(int argc, char **argv)
{
	return cmd_group_member(argc, argv, "apps", true);
}

int
controller_cmd_groups_remove_app(int argc, char **argv)
{
	return cmd_group_member(argc, argv, "apps", false);
}

int
controller_cmd_groups_add_user(int argc, char **argv)
{
	return cmd_group_member(argc, argv, "users", true);
}

int
controller_cmd_groups_remove_user(int argc, char **argv)
{
	return cmd_group_member(argc, argv, "users", false);
}

/* ---- runners ---- */

static void
cmd_print_runners(json_t *list)
{
	struct cmd_table t;
	size_t i;
	json_t *r;

	cmd_table_init(&t, 5, "NAME", "GROUP", "LIVE", "LAST HEARTBEAT",
	    "CONTAINERS");
	json_array_foreach(list, i, r)
		cmd_table_row(&t, cmd_str(r, "name"), cmd_str(r, "group"),
		    cmd_str(r, "live"), cmd_str(r, "last_heartbeat"),
		    cmd_str(r, "assigned"));
	cmd_table_print(&t);
}

int
controller_cmd_runners(int argc, char **argv)
{
	return cmd_list(argc, argv, false, "/v1/runners", cmd_print_runners);
}

int
controller_cmd_runners_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = NULL, *r = NULL;
	const char *group = "default";
	bool json = false;
	int o, rc;

	while ((o = getopt_long(argc, argv, "g:", opts, NULL)) != -1) {
		if (o == 'g')
			group = optarg;
		else if (o == 'j')
			json = true;
		else
			return cli_usage_error(argv[0], "unknown option");
	}
	if ((rc = cmd_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	body = json_pack("{ssss}", "name", argv[optind], "group", group);
	rc = 1;
	if (cmd_call(&r, c, argv[0], "POST", body, "/v1/runners")) {
		if (json)
			cmd_print_json(r);
		else
			printf("%s\n", cmd_str(r, "server_key"));
		fprintf(stderr, "Runner %s in group %s: its server key is "
		    "shown only now; give it to 'slipway runner'\n",
		    cmd_str(r, "name"), cmd_str(r, "group"));
		rc = 0;
	}
	json_decref(r);
	json_decref(body);
	apiclient_free(c);
	return rc;
}

int
controller_cmd_runners_remove(int argc, char **argv)
{
	struct apiclient *c = NULL;
	char *path, *e, *done;
	bool json;
	int rc;

	if ((rc = cmd_opts_json(&json, argc, argv)) ||
	    (rc = cmd_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!cmd_open(&c, argv[0]))
		return 1;
	e = apiclient_escape(argv[optind]);
	path = xasprintf("/v1/runners/%s", e);
	done = xasprintf("Removed runner %s", argv[optind]);
	rc = cmd_change(c, argv[0], "DELETE", NULL, path, done);
	free(done);
	free(path);
	free(e);
	apiclient_free(c);
	return rc;
}
