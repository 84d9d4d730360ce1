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

#include "client_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"

#define CMD_KEY_MAX 16384

/* ---- keys ---- */

int
client_cmd_keys(int argc, char **argv)
{
	static const struct client_column cols[] = {
		{ "FINGERPRINT", "fingerprint" }, { "USER", "user" },
		{ "TYPE", "type" }, { "COMMENT", "comment" },
	};
	static const struct client_view v = {
		.path = "/v1/keys", .user = true, .cols = cols, .ncols = 4,
	};

	return client_show(argc, argv, &v);
}

/* Read the key from stdin into b, up to CMD_KEY_MAX bytes.  The cap holds
 * however much the peer sends: over SSH stdin is the channel. */
static int
keys_read_stdin(struct buf *b)
{
	char chunk[4096];
	ssize_t n;

	while ((n = read(0, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys("cannot read the key from stdin");
		if (buf_put(b, chunk, (size_t)n) < 0)
			return err_set(ERR_TOOBIG, "a public key is at most %d "
			    "bytes", CMD_KEY_MAX);
	}
	return 0;
}

/*
 * keys:add, with the key from stdin, or (files) from the file its one
 * argument names.  Without files no path is ever opened: the command then
 * runs for a remote user (over SSH) and a path would be read with the
 * server's authority, so a path argument is refused, the same way whether
 * it exists or not.
 */
static int
keys_add(int argc, char **argv, bool files)
{
	struct apiclient *c = NULL;
	const char *user, *file = "-";
	struct buf b;
	json_t *body = NULL, *k = NULL;
	bool json;
	int rc;

	buf_init(&b, CMD_KEY_MAX);
	if ((rc = client_opts_user(&json, &user, argc, argv)))
		return rc;
	if (files) {
		if ((rc = client_nargs(argc, argv, 1, "FILE (or - for stdin)")))
			return rc;
		file = argv[optind];
	} else if (argc - optind > 1 ||
	    (argc - optind == 1 && strcmp(argv[optind], "-") != 0)) {
		fprintf(stderr, "slipway %s: the key is read from stdin, never "
		    "from a file on the server: ssh git@HOST keys:add < "
		    "key.pub\n", argv[0]);
		return 2;
	}
	rc = strcmp(file, "-") == 0 ? keys_read_stdin(&b) :
	    fs_read_file(&b, file, CMD_KEY_MAX);
	if (rc < 0) {
		buf_free(&b);
		return cmdline_fail(argv[0]);
	}
	if (!client_open(&c, argv[0])) {
		buf_free(&b);
		return 1;
	}
	body = json_pack("{ss#}", "public_key", b.ptr ? b.ptr : "", b.len);
	if (body == NULL) {
		err_set(ERR_INVALID, "the key is not text (UTF-8)");
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	if (user)
		json_object_set_new(body, "user", json_string(user));
	rc = 1;
	if (client_call(&k, c, argv[0], "POST", body, "/v1/keys")) {
		if (json)
			client_print_json(k);
		else
			printf("Added %s key %s for %s\n", client_str(k, "type"),
			    client_str(k, "fingerprint"), client_str(k, "user"));
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
client_cmd_keys_add(int argc, char **argv)
{
	return keys_add(argc, argv, true);
}

int
client_cmd_keys_add_stdin(int argc, char **argv)
{
	return keys_add(argc, argv, false);
}

int
client_cmd_keys_remove(int argc, char **argv)
{
	struct apiclient *c = NULL;
	struct buf path;
	char *e, *p;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, 1, "FINGERPRINT")))
		return rc;
	if (strncmp(argv[optind], "SHA256:", 7) != 0)
		return cmdline_usage_error(argv[0], "'%.80s' is not a fingerprint "
		    "(SHA256:..., as 'slipway keys' shows)", argv[optind]);
	if (!client_open(&c, argv[0]))
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
	if (client_call(NULL, c, argv[0], "DELETE", NULL, "%r", path.ptr)) {
		printf("Removed key %s\n", argv[optind]);
		rc = 0;
	}
	buf_free(&path);
	free(e);
	apiclient_free(c);
	return rc;
}

/* ---- users ---- */

int
client_cmd_users(int argc, char **argv)
{
	static const struct client_column cols[] = {
		{ "NAME", "name" }, { "ROLE", "role" }, { "GROUPS", "groups" },
	};
	static const struct client_view v = {
		.path = "/v1/users", .cols = cols, .ncols = 3,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_users_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "admin", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	const char *role = "member";
	json_t *body;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'a')
			return cmdline_usage_error(argv[0], "unknown option");
		role = "admin";
	}
	if ((rc = client_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	body = json_pack("{ssss}", "name", argv[optind], "role", role);
	rc = 1;
	if (client_call(NULL, c, argv[0], "POST", body, "/v1/users")) {
		printf("Added %s %s; give them a token with 'slipway "
		    "tokens:create --user %s'\n", role, argv[optind],
		    argv[optind]);
		rc = 0;
	}
	json_decref(body);
	apiclient_free(c);
	return rc;
}

int
client_cmd_users_remove(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/users/%s", .nargs = 1,
		.what = "NAME", .done = "Removed user %s",
	};

	return client_change_run(argc, argv, &ch);
}

/* ---- tokens ---- */

int
client_cmd_tokens(int argc, char **argv)
{
	static const struct client_column cols[] = {
		{ "ID", "id" }, { "USER", "user" }, { "LABEL", "label" },
		{ "CREATED", "created_at" }, { "LAST USED", "last_used_at" },
	};
	static const struct client_view v = {
		.path = "/v1/tokens", .user = true, .cols = cols, .ncols = 5,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_tokens_create(int argc, char **argv)
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
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if ((rc = client_nargs(argc, argv, 0, "")) || !client_open(&c, argv[0])) {
		json_decref(body);
		return rc ? rc : 1;
	}
	rc = 1;
	if (client_call(&t, c, argv[0], "POST", body, "/v1/tokens")) {
		if (json)
			client_print_json(t);
		else
			printf("%s\n", client_str(t, "token"));
		fprintf(stderr, "Token %s for %s: save it now, it is not shown "
		    "again\n", client_str(t, "id"), client_str(t, "user"));
		rc = 0;
	}
	json_decref(t);
	json_decref(body);
	apiclient_free(c);
	return rc;
}

int
client_cmd_tokens_revoke(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/tokens/%s", .nargs = 1,
		.what = "ID", .done = "Revoked token %s",
	};

	return client_change_run(argc, argv, &ch);
}

/* ---- groups ---- */

int
client_cmd_groups(int argc, char **argv)
{
	static const struct client_column cols[] = {
		{ "NAME", "name" }, { "APPS", "apps" }, { "USERS", "users" },
		{ "RUNNERS", "runners" },
	};
	static const struct client_view v = {
		.path = "/v1/groups", .cols = cols, .ncols = 4,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_groups_create(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "POST", .path = "/v1/groups", .nargs = 1,
		.what = "NAME", .key = "name", .done = "Created group %s",
	};

	return client_change_run(argc, argv, &ch);
}

int
client_cmd_groups_add_app(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "POST", .path = "/v1/groups/%s/apps", .nargs = 2,
		.what = "GROUP and APP", .key = "app",
		.done = "Added %s to group %s",
	};

	return client_change_run(argc, argv, &ch);
}

int
client_cmd_groups_remove_app(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/groups/%s/apps/%s",
		.nargs = 2, .what = "GROUP and APP",
		.done = "Removed %s from group %s",
	};

	return client_change_run(argc, argv, &ch);
}

int
client_cmd_groups_add_user(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "POST", .path = "/v1/groups/%s/users", .nargs = 2,
		.what = "GROUP and USER", .key = "user",
		.done = "Added %s to group %s",
	};

	return client_change_run(argc, argv, &ch);
}

int
client_cmd_groups_remove_user(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/groups/%s/users/%s",
		.nargs = 2, .what = "GROUP and USER",
		.done = "Removed %s from group %s",
	};

	return client_change_run(argc, argv, &ch);
}

/* ---- runners ---- */

int
client_cmd_runners(int argc, char **argv)
{
	static const struct client_column cols[] = {
		{ "NAME", "name" }, { "GROUP", "group" }, { "STATE", "state" },
		{ "ADDRESS", "address" }, { "SINCE", "session_since" },
		{ "LAST RENEWAL", "last_heartbeat" },
		{ "CONTAINERS", "assigned" },
	};
	static const struct client_view v = {
		.path = "/v1/runners", .cols = cols, .ncols = 7,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_runners_add(int argc, char **argv)
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
			return cmdline_usage_error(argv[0], "unknown option");
	}
	if ((rc = client_nargs(argc, argv, 1, "NAME")))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	body = json_pack("{ssss}", "name", argv[optind], "group", group);
	rc = 1;
	if (client_call(&r, c, argv[0], "POST", body, "/v1/runners")) {
		if (json)
			client_print_json(r);
		else
			printf("%s\n", client_str(r, "server_key"));
		fprintf(stderr, "Runner %s in group %s: its server key is "
		    "shown only now; give it to 'slipway runner'\n",
		    client_str(r, "name"), client_str(r, "group"));
		rc = 0;
	}
	json_decref(r);
	json_decref(body);
	apiclient_free(c);
	return rc;
}

int
client_cmd_runners_remove(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/runners/%s", .nargs = 1,
		.what = "NAME", .done = "Removed runner %s",
	};

	return client_change_run(argc, argv, &ch);
}
