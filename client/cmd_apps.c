/*
 * Client commands for apps: apps, apps:create, apps:destroy, apps:info,
 * apps:share, apps:unshare, domains*, config*, releases*, rollback, ps,
 * ps:scale, builds*.  Each is one or two API calls; listings print a table
 * or, with --json, what the controller answered.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"

#define CMD_GROUPS_MAX 16

/* Open the client for a command whose first argument is APP. */
static int
cmd_app_open(struct apiclient **c, int argc, char **argv, int nargs,
    const char *what)
{
	int rc;

	if ((rc = client_nargs(argc, argv, nargs, what)) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	return client_open(c, argv[0]) ? 0 : 1;
}

/* The arguments of a command that takes APP and one or more items
 * (config vars, process counts), and --json for nothing: each item is put
 * into obj by add, which prints a usage error and returns 2 for a bad
 * one.  what names the items.  0, or 2 after a usage message. */
static int
cmd_app_items(json_t *obj, int argc, char **argv, const char *what,
    int (*add)(json_t *obj, const char *name, const char *item))
{
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)))
		return rc;
	if (argc - optind < 2)
		return cmdline_usage_error(argv[0], "missing APP and %s", what);
	if ((rc = client_check_app(argv[0], argv[optind])))
		return rc;
	for (int i = optind + 1; i < argc && rc == 0; i++)
		rc = add(obj, argv[0], argv[i]);
	return rc;
}

/* ---- apps ---- */

static void
cmd_print_apps(json_t *list, char **args)
{
	struct client_table t;
	size_t i;
	json_t *a;

	client_table_init(&t, 4, "NAME", "OWNER", "GROUPS", "RELEASE");
	json_array_foreach(list, i, a) {
		char *groups = client_join(json_object_get(a, "groups"));
		char rel[32] = "-";
		if (json_is_integer(json_object_get(a, "release")))
			snprintf(rel, sizeof(rel), "v%s",
			    client_str(a, "release"));
		client_table_row(&t, client_str(a, "name"), client_str(a, "owner"),
		    groups, rel);
		free(groups);
	}
	client_table_print(&t);
}

int
client_cmd_apps(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps", .print = cmd_print_apps,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_apps_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "branch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = json_object(), *groups = json_array(), *app = NULL;
	int o, rc;

	while ((o = getopt_long(argc, argv, "g:b:", opts, NULL)) != -1) {
		if (o == 'g' && json_array_size(groups) < CMD_GROUPS_MAX)
			json_array_append_new(groups, json_string(optarg));
		else if (o == 'b')
			json_object_set_new(body, "deploy_branch",
			    json_string(optarg));
		else {
			rc = cmdline_usage_error(argv[0], "unknown option or too "
			    "many groups");
			goto done;
		}
	}
	if ((rc = cmd_app_open(&c, argc, argv, 1, "NAME")))
		goto done;
	json_object_set_new(body, "name", json_string(argv[optind]));
	if (json_array_size(groups))
		json_object_set(body, "groups", groups);
	rc = 1;
	if (client_call(&app, c, argv[0], "POST", body, "/v1/apps")) {
		char *g = client_join(json_object_get(app, "groups"));
		printf("Created app %s (deploy branch %s) in group(s) %s\n",
		    client_str(app, "name"), client_str(app, "deploy_branch"), g);
		free(g);
		rc = 0;
	}
done:
	json_decref(app);
	json_decref(groups);
	json_decref(body);
	apiclient_free(c);
	return rc;
}

int
client_cmd_apps_destroy(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "confirm", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	const char *confirm = NULL;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'c')
			return cmdline_usage_error(argv[0], "unknown option");
		confirm = optarg;
	}
	if ((rc = client_nargs(argc, argv, 1, "NAME")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (confirm == NULL || strcmp(confirm, argv[optind]) != 0)
		return cmdline_usage_error(argv[0], "destroying '%s' deletes its "
		    "config, builds and releases for good; run again with "
		    "--confirm %s", argv[optind], argv[optind]);
	if (!client_open(&c, argv[0]))
		return 1;
	rc = 1;
	if (client_call(NULL, c, argv[0], "DELETE", NULL,
	    "/v1/apps/%s?confirm=%s", argv[optind], confirm)) {
		printf("Destroyed app %s\n", argv[optind]);
		rc = 0;
	}
	apiclient_free(c);
	return rc;
}

/* "12.3 MB" for bytes, "?" when the controller could not measure it. */
static void
cmd_disk_size(char *out, size_t len, json_t *v)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	double x = (double)json_integer_value(v);
	size_t u = 0;

	if (!json_is_integer(v)) {
		snprintf(out, len, "?");
		return;
	}
	while (x >= 1000 && u < 4) {
		x /= 1000;
		u++;
	}
	snprintf(out, len, u ? "%.1f %s" : "%.0f %s", x, unit[u]);
}

/* disk: images 12.3 MB, repository 40.0 kB, cache 0 B */
static void
cmd_print_disk(json_t *disk)
{
	char img[32], repo[32], cache[32];

	if (!json_is_object(disk))
		return;
	cmd_disk_size(img, sizeof(img), json_object_get(disk, "images"));
	cmd_disk_size(repo, sizeof(repo), json_object_get(disk, "repository"));
	cmd_disk_size(cache, sizeof(cache), json_object_get(disk, "cache"));
	printf("disk:           images %s, repository %s, cache %s\n", img,
	    repo, cache);
}

static void
cmd_print_app(json_t *a, char **args)
{
	static const struct client_field head[] = {
		{ "owner", "owner" }, { "groups", "groups" },
		{ "collaborators", "collaborators" },
		{ "deploy branch", "deploy_branch" },
	}, tail[] = {
		{ "domains", "domains" }, { "created", "created_at" },
	};
	const char *type;
	json_t *q;
	int n = 0;

	printf("=== %s\n", client_str(a, "name"));
	client_print_record(a, 16, head, 4);
	if (json_is_integer(json_object_get(a, "release")))
		printf("release:        v%s\n", client_str(a, "release"));
	else
		printf("release:        none yet\n");
	printf("formation:     ");
	json_object_foreach(json_object_get(a, "formation"), type, q) {
		printf(" %s=%" JSON_INTEGER_FORMAT, type,
		    json_integer_value(q));
		n++;
	}
	printf("%s\n", n ? "" : " -");
	client_print_record(a, 16, tail, 2);
	cmd_print_disk(json_object_get(a, "disk"));
}

int
client_cmd_apps_info(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s?disk=1", .nargs = 1, .what = "APP",
		.print = cmd_print_app,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_apps_share(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "POST", .path = "/v1/apps/%s/collaborators",
		.nargs = 2, .what = "APP and USER", .app = true, .key = "user",
		.done = "Shared with %s app %s",
	};

	return client_change_run(argc, argv, &ch);
}

int
client_cmd_apps_unshare(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/apps/%s/collaborators/%s",
		.nargs = 2, .what = "APP and USER", .app = true,
		.done = "Unshared from %s app %s",
	};

	return client_change_run(argc, argv, &ch);
}

/* ---- domains ---- */

static void
cmd_print_lines(json_t *list, char **args)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		printf("%s\n", json_string_value(v));
}

int
client_cmd_domains(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s/domains", .nargs = 1, .what = "APP",
		.print = cmd_print_lines,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_domains_add(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "POST", .path = "/v1/apps/%s/domains", .nargs = 2,
		.what = "APP and DOMAIN", .app = true, .key = "domain",
		.done = "Added %s to %s",
	};

	return client_change_run(argc, argv, &ch);
}

int
client_cmd_domains_remove(int argc, char **argv)
{
	static const struct client_change ch = {
		.method = "DELETE", .path = "/v1/apps/%s/domains/%s",
		.nargs = 2, .what = "APP and DOMAIN", .app = true,
		.done = "Removed %s from %s",
	};

	return client_change_run(argc, argv, &ch);
}

/* ---- config ---- */

static void
cmd_print_config(json_t *cfg, char **args)
{
	const char *key;
	json_t *v;

	if (json_object_size(json_object_get(cfg, "values")) == 0)
		fprintf(stderr, "%s has no config vars\n", args[0]);
	/* The controller keeps keys sorted. */
	json_object_foreach(json_object_get(cfg, "values"), key, v)
		printf("%s=%s\n", key, json_string_value(v));
}

int
client_cmd_config(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s/config", .nargs = 1, .what = "APP",
		.print = cmd_print_config,
	};

	return client_show(argc, argv, &v);
}

/* One config var's value alone, for scripts ($(slipway config:get APP
 * KEY)); unset: nothing printed, exit 1 (as Dokku's). */
int
client_cmd_config_get(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *cfg = NULL, *v;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = cmd_app_open(&c, argc, argv, 2, "APP and KEY")))
		return rc;
	rc = 1;
	if (client_call(&cfg, c, argv[0], "GET", NULL, "/v1/apps/%s/config",
	    argv[optind])) {
		v = json_object_get(json_object_get(cfg, "values"),
		    argv[optind + 1]);
		if (json)
			client_print_json(v ? v : json_null());
		else if (v)
			printf("%s\n", json_string_value(v));
		rc = v ? 0 : 1;
	}
	json_decref(cfg);
	apiclient_free(c);
	return rc;
}

/* A config var to set, KEY=VALUE, into changes; 2 after a usage error. */
static int
cmd_config_var(json_t *changes, const char *name, const char *item)
{
	const char *eq = strchr(item, '=');
	json_t *value;
	char *key;
	int rc = 0;

	if (eq == NULL)
		return cmdline_usage_error(name, "'%.64s' is not KEY=VALUE", item);
	key = xstrndup(item, (size_t)(eq - item));
	if (!name_env_key_is_valid(key))
		rc = cmdline_usage_error(name, "invalid config key '%.64s': use a "
		    "letter or _, then letters, digits or _", key);
	else if ((value = json_string(eq + 1)) == NULL)
		rc = cmdline_usage_error(name, "the value of %s is not text "
		    "(UTF-8)", key);
	else
		json_object_set_new(changes, key, value);
	free(key);
	return rc;
}

/* A config var to unset, KEY, into changes; 2 after a usage error. */
static int
cmd_config_unvar(json_t *changes, const char *name, const char *item)
{
	if (!name_env_key_is_valid(item))
		return cmdline_usage_error(name, "invalid config key '%.64s'",
		    item);
	json_object_set_new(changes, item, json_null());
	return 0;
}

/* config:set and config:unset: APP and the vars (each put into the
 * changes by add), one PATCH, and what release it made. */
static int
cmd_config_change(int argc, char **argv, const char *what,
    int (*add)(json_t *, const char *, const char *))
{
	struct apiclient *c = NULL;
	json_t *changes = json_object(), *out = NULL, *rel;
	int rc;

	if ((rc = cmd_app_items(changes, argc, argv, what, add)))
		goto done;
	rc = 1;
	if (!client_open(&c, argv[0]) || !client_call(&out, c, argv[0], "PATCH",
	    changes, "/v1/apps/%s/config", argv[optind]))
		goto done;
	rel = json_object_get(out, "release");
	if (json_is_object(rel))
		printf("%s: v%s %s\n", argv[optind], client_str(rel, "version"),
		    client_str(rel, "summary"));
	else
		printf("%s: no change (config version %s stays)\n",
		    argv[optind], client_str(out, "version"));
	rc = 0;
done:
	json_decref(out);
	json_decref(changes);
	apiclient_free(c);
	return rc;
}

int
client_cmd_config_set(int argc, char **argv)
{
	return cmd_config_change(argc, argv, "KEY=VALUE", cmd_config_var);
}

int
client_cmd_config_unset(int argc, char **argv)
{
	return cmd_config_change(argc, argv, "KEY", cmd_config_unvar);
}

/* ---- releases ---- */

static void
cmd_print_releases(json_t *list, char **args)
{
	struct client_table t;
	size_t i;
	json_t *r;

	client_table_init(&t, 5, "VERSION", "SUMMARY", "BY", "WHEN", "STATE");
	json_array_foreach(list, i, r) {
		char v[32], *st;
		snprintf(v, sizeof(v), "v%s", client_str(r, "version"));
		/* last, since a failure's reason is long */
		st = json_is_true(json_object_get(r, "current")) ?
		    xstrdup("live (current)") :
		    json_is_string(json_object_get(r, "reason")) ?
		    xasprintf("%s: %s", client_str(r, "state"),
		    client_str(r, "reason")) : xstrdup(client_str(r, "state"));
		client_table_row(&t, v, client_str(r, "summary"),
		    client_str(r, "created_by"), client_str(r, "created_at"),
		    st);
		free(st);
	}
	client_table_print(&t);
}

int
client_cmd_releases(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	const char *limit = "100";
	json_t *list = NULL;
	bool json = false;
	int o, rc;

	while ((o = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (o == 'j')
			json = true;
		else if (o == 'n')
			limit = optarg;
		else
			return cmdline_usage_error(argv[0], "unknown option");
	}
	if ((rc = cmd_app_open(&c, argc, argv, 1, "APP")))
		return rc;
	rc = 1;
	if (client_call(&list, c, argv[0], "GET", NULL,
	    "/v1/apps/%s/releases?limit=%s", argv[optind], limit)) {
		if (json)
			client_print_json(list);
		else
			cmd_print_releases(list, argv + optind);
		rc = 0;
	}
	json_decref(list);
	apiclient_free(c);
	return rc;
}

static void
cmd_print_release(json_t *r, char **args)
{
	static const struct client_field fields[] = {
		{ "summary", "summary" }, { "kind", "kind" },
		{ "build", "build" }, { "rev", "rev" }, { "image", "image" },
		{ "digest", "digest" }, { "state", "state" },
		{ "reason", "reason" },
	}, who[] = {
		{ "by", "created_by" }, { "when", "created_at" },
	};
	const char *key;
	json_t *v;

	printf("=== %s v%s\n", args[0], client_str(r, "version"));
	client_print_record(r, 10, fields, 8);
	printf("config:   version %s\n", client_str(r, "config_version"));
	client_print_record(r, 10, who, 2);
	json_object_foreach(json_object_get(r, "config"), key, v)
		printf("  %s=%s\n", key, json_string_value(v));
}

int
client_cmd_releases_info(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s/releases/%s", .nargs = 2,
		.what = "APP and VERSION", .print = cmd_print_release,
	};
	int64_t version;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)))
		return rc;
	if (argc - optind == 2 &&
	    name_release_parse(&version, argv[optind + 1]) < 0)
		return cmdline_usage_error(argv[0], "%s", err_last());
	optind = 0;
	return client_show(argc, argv, &v);
}

int
client_cmd_rollback(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *body = json_object(), *rel = NULL;
	int64_t v;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)))
		goto done;
	if (argc - optind == 2) {
		if (name_release_parse(&v, argv[optind + 1]) < 0) {
			rc = cmdline_usage_error(argv[0], "%s", err_last());
			goto done;
		}
		json_object_set_new(body, "version", json_integer(v));
		argc--;
	}
	if ((rc = cmd_app_open(&c, argc, argv, 1, "APP")))
		goto done;
	rc = 1;
	if (client_call(&rel, c, argv[0], "POST", body, "/v1/apps/%s/rollback",
	    argv[optind])) {
		printf("%s: v%s %s\n", argv[optind], client_str(rel, "version"),
		    client_str(rel, "summary"));
		rc = 0;
	}
done:
	json_decref(rel);
	json_decref(body);
	apiclient_free(c);
	return rc;
}

/* ---- ps ---- */

static void
cmd_print_ps(json_t *ps, char **args)
{
	struct client_table t;
	const char *type;
	json_t *q, *x;
	size_t i;

	printf("formation:");
	json_object_foreach(json_object_get(ps, "formation"), type, q)
		printf(" %s=%" JSON_INTEGER_FORMAT, type,
		    json_integer_value(q));
	printf("\n");
	client_table_init(&t, 5, "PROCESS", "GROUP", "RUNNER", "RELEASE",
	    "STATE");
	json_array_foreach(json_object_get(ps, "containers"), i, x) {
		char proc[64], rel[64], state[96];
		json_t *rep = json_object_get(x, "reported");
		json_t *rr = json_object_get(rep, "release");
		snprintf(proc, sizeof(proc), "%s.%s", client_str(x, "type"),
		    client_str(x, "index"));
		/* what runs, as the runner reported it, when it is not (yet,
		 * or because it failed) the release the slot wants */
		if (json_is_integer(rr) && json_integer_value(rr) !=
		    json_integer_value(json_object_get(x, "release")))
			snprintf(rel, sizeof(rel), "v%" JSON_INTEGER_FORMAT
			    " (wants v%s)", json_integer_value(rr),
			    client_str(x, "release"));
		else
			snprintf(rel, sizeof(rel), "v%s", client_str(x, "release"));
		/* a runner whose lease lapsed: nobody knows what runs there */
		if (json_is_true(json_object_get(x, "lost")) ||
		    (json_is_string(json_object_get(x, "runner")) &&
		    !json_is_true(json_object_get(x, "runner_live"))))
			snprintf(state, sizeof(state), "lost (runner silent "
			    "%" JSON_INTEGER_FORMAT "s)", json_integer_value(
			    json_object_get(x, "silent_for")));
		/* a crash loop, with what a person needs to look into it */
		else if (json_is_true(json_object_get(rep, "crashed")))
			snprintf(state, sizeof(state), "crashed (%"
			    JSON_INTEGER_FORMAT " restarts, last exit %"
			    JSON_INTEGER_FORMAT ")", json_integer_value(
			    json_object_get(rep, "restarts")),
			    json_integer_value(json_object_get(rep,
			    "exit_code")));
		else
			snprintf(state, sizeof(state), "%s", json_is_object(rep)
			    ? client_str(rep, "state") : "-");
		client_table_row(&t, proc, client_str(x, "group"),
		    json_is_string(json_object_get(x, "runner")) ?
		    client_str(x, "runner") : "(no live runner)", rel, state);
	}
	client_table_print(&t);
}

int
client_cmd_ps(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s/ps", .nargs = 1, .what = "APP",
		.print = cmd_print_ps,
	};

	return client_show(argc, argv, &v);
}

/* A process count, TYPE=N, into q; 2 after a usage error. */
static int
cmd_scale_item(json_t *q, const char *name, const char *item)
{
	const char *eq = strchr(item, '=');
	unsigned long long n;
	char *t;

	t = eq ? xstrndup(item, (size_t)(eq - item)) : NULL;
	if (!eq || parse_uint(&n, eq + 1, 0, NAME_SCALE_MAX) < 0 ||
	    !name_proc_type_is_valid(t)) {
		free(t);
		return cmdline_usage_error(name, "'%.64s' is not TYPE=N (N from 0 "
		    "to %d)", item, NAME_SCALE_MAX);
	}
	json_object_set_new(q, t, json_integer(n));
	free(t);
	return 0;
}

/* "Scaled shop: web=2 worker=1" */
static void
cmd_print_formation(const char *done, const char *app, json_t *f)
{
	const char *type;
	json_t *v;

	printf("%s %s:", done, app);
	json_object_foreach(f, type, v)
		printf(" %s=%" JSON_INTEGER_FORMAT, type, json_integer_value(v));
	printf("\n");
}

int
client_cmd_ps_scale(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *q = json_object(), *f = NULL;
	int rc;

	if ((rc = cmd_app_items(q, argc, argv, "TYPE=N", cmd_scale_item)))
		goto done;
	if (!client_open(&c, argv[0])) {
		rc = 1;
		goto done;
	}
	rc = 1;
	if (client_call(&f, c, argv[0], "PATCH", q, "/v1/apps/%s/formation",
	    argv[optind])) {
		cmd_print_formation("Scaled", argv[optind], f);
		rc = 0;
	}
done:
	json_decref(f);
	json_decref(q);
	apiclient_free(c);
	return rc;
}

/* ps:stop and ps:start: POST .../ps/stop or start, and the counts. */
static int
cmd_ps_stop_start(int argc, char **argv, const char *what, const char *done)
{
	struct apiclient *c = NULL;
	json_t *f = NULL;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = cmd_app_open(&c, argc, argv, 1, "APP")))
		return rc;
	rc = 1;
	if (client_call(&f, c, argv[0], "POST", NULL, "/v1/apps/%s/ps/%r",
	    argv[optind], what)) {
		if (json)
			client_print_json(f);
		else
			cmd_print_formation(done, argv[optind], f);
		rc = 0;
	}
	json_decref(f);
	apiclient_free(c);
	return rc;
}

int
client_cmd_ps_stop(int argc, char **argv)
{
	return cmd_ps_stop_start(argc, argv, "stop", "Stopped");
}

int
client_cmd_ps_start(int argc, char **argv)
{
	return cmd_ps_stop_start(argc, argv, "start", "Started");
}

/* ---- builds ---- */

static void
cmd_print_build(json_t *b, char **args)
{
	static const struct client_field fields[] = {
		{ "rev", "rev" }, { "status", "status" }, { "image", "image" },
		{ "digest", "digest" }, { "slug digest", "slug_digest" },
		{ "error", "error" }, { "by", "created_by" },
		{ "created", "created_at" }, { "updated", "updated_at" },
	};
	const char *type;
	json_t *cmd;

	printf("=== %s build %s\n", args[0], client_str(b, "number"));
	client_print_record(b, 14, fields, 9);
	json_object_foreach(json_object_get(b, "process_types"), type, cmd)
		printf("  %s: %s\n", type, json_string_value(cmd));
}

int
client_cmd_builds_info(int argc, char **argv)
{
	static const struct client_view v = {
		.path = "/v1/apps/%s/builds/%s", .nargs = 2,
		.what = "APP and BUILD", .print = cmd_print_build,
	};

	return client_show(argc, argv, &v);
}

int
client_cmd_builds_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rev", required_argument, NULL, 'r' },
		{ "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = json_pack("{s:b}", "run", 1), *b = NULL;
	bool json = false, detach = false;
	int o, rc;

	while ((o = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		if (o == 'r')
			json_object_set_new(body, "rev", json_string(optarg));
		else if (o == 'j')
			json = detach = true;
		else if (o == 'd')
			detach = true;
		else {
			rc = cmdline_usage_error(argv[0], "unknown option");
			goto done;
		}
	}
	if ((rc = cmd_app_open(&c, argc, argv, 1, "APP")))
		goto done;
	rc = 1;
	/* The controller runs the build (the same pipeline as a push);
	 * then its log is followed here and the exit status is its end. */
	if (!client_call(&b, c, argv[0], "POST", body, "/v1/apps/%s/builds",
	    argv[optind]))
		goto done;
	if (json) {
		client_print_json(b);
	} else {
		fprintf(stderr, "Build %s of %s (%s) started\n",
		    client_str(b, "number"), argv[optind], client_str(b, "rev"));
		if (detach)
			printf("%s\n", client_str(b, "number"));
	}
	rc = detach ? 0 : client_build_follow(c, argv[0], argv[optind],
	    (long long)json_integer_value(json_object_get(b, "number")), true);
done:
	json_decref(b);
	json_decref(body);
	apiclient_free(c);
	return rc;
}
