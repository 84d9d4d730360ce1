/*
 * How an app builds, Heroku's names (controller/api_appbuild.c):
 *
 *   buildpacks APP                      the app's list, in order
 *   buildpacks:add APP URL [--index N]  insert at N (1-based), else append
 *   buildpacks:set APP URL [--index N]  replace N, else make URL the only
 *   buildpacks:remove APP URL|--index N
 *   buildpacks:clear APP
 *   stack:set APP NAME|--default        the stack it builds and runs on
 *   repo:purge-cache APP                drop the build cache
 *
 * The list is used when the pushed tree has no .buildpacks and no
 * slipway.yml `buildpacks:`.  Each takes --json (the answer as it is).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"

static void
bps_print(json_t *ans, bool json)
{
	size_t i;
	json_t *v;

	if (json) {
		client_print_json(ans);
		return;
	}
	if (json_array_size(json_object_get(ans, "buildpacks")) == 0) {
		printf("%s has no buildpacks of its own (its tree's "
		    ".buildpacks or slipway.yml, else detection, decides)\n",
		    client_str(ans, "app"));
		return;
	}
	json_array_foreach(json_object_get(ans, "buildpacks"), i, v)
		printf("%zu. %s\n", i + 1, json_string_value(v));
}

/* One command of the family: op NULL lists; need_url says whether URL is
 * a positional argument (remove takes it or --index). */
static int
bps_run(int argc, char **argv, const char *op, int need_url)
{
	static const struct option opts[] = {
		{ "index", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body = NULL, *ans = NULL;
	unsigned long long index = 0;
	const char *url = NULL;
	bool json = false, ok;
	int ch, want;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'i' && op && strcmp(op, "clear") != 0) {
			if (parse_uint(&index, optarg, 1, NAME_BUILDPACKS_MAX) < 0)
				return cmdline_usage_error(argv[0], "--index is "
				    "1 to %d", NAME_BUILDPACKS_MAX);
		} else
			return cmdline_usage_error(argv[0], "unknown option");
	}
	/* remove: URL or --index, not both */
	want = need_url == 2 ? (index ? 1 : 2) : 1 + need_url;
	if (argc - optind != want)
		return cmdline_usage_error(argv[0], want == 1 ? "give APP" :
		    "give APP and a buildpack (an installed name, a git URL or "
		    "an http(s) tarball URL)");
	if (client_check_app(argv[0], argv[optind]))
		return 2;
	if (want == 2) {
		url = argv[optind + 1];
		/* said here too, before the controller says it */
		if (name_buildpack_check(url) < 0)
			return cmdline_usage_error(argv[0], "%s", err_last());
	}
	if (!client_open(&c, argv[0]))
		return 1;
	if (op) {
		body = json_pack("{s:s}", "op", op);
		if (url)
			json_object_set_new(body, "url", json_string(url));
		if (index)
			json_object_set_new(body, "index",
			    json_integer((json_int_t)index));
		ok = client_call(&ans, c, argv[0], "PATCH", body,
		    "/v1/apps/%s/buildpacks", argv[optind]);
	} else {
		ok = client_call(&ans, c, argv[0], "GET", NULL,
		    "/v1/apps/%s/buildpacks", argv[optind]);
	}
	if (ok)
		bps_print(ans, json);
	json_decref(body);
	json_decref(ans);
	apiclient_free(c);
	return ok ? 0 : 1;
}

int
client_cmd_buildpacks(int argc, char **argv)
{
	return bps_run(argc, argv, NULL, 0);
}

int
client_cmd_buildpacks_add(int argc, char **argv)
{
	return bps_run(argc, argv, "add", 1);
}

int
client_cmd_buildpacks_set(int argc, char **argv)
{
	return bps_run(argc, argv, "set", 1);
}

int
client_cmd_buildpacks_remove(int argc, char **argv)
{
	return bps_run(argc, argv, "remove", 2);
}

int
client_cmd_buildpacks_clear(int argc, char **argv)
{
	return bps_run(argc, argv, "clear", 0);
}

int
client_cmd_stack_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "default", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	json_t *body, *ans = NULL;
	bool json = false, dflt = false, ok;
	const char *name = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'd')
			dflt = true;
		else
			return cmdline_usage_error(argv[0], "unknown option");
	}
	if (argc - optind != (dflt ? 1 : 2))
		return cmdline_usage_error(argv[0], "give APP and a stack's "
		    "name (`slipway stacks`), or APP --default");
	if (client_check_app(argv[0], argv[optind]))
		return 2;
	if (!dflt) {
		name = argv[optind + 1];
		if (!name_app_is_valid(name))
			return cmdline_usage_error(argv[0], "'%.64s' is not a "
			    "stack name", name);
	}
	if (!client_open(&c, argv[0]))
		return 1;
	body = json_pack("{s:s?}", "stack", name);
	ok = client_call(&ans, c, argv[0], "PUT", body, "/v1/apps/%s/stack",
	    argv[optind]);
	if (ok && json)
		client_print_json(ans);
	else if (ok)
		printf("%s builds and runs on %s from its next build\n",
		    argv[optind], name ? name : "the default stack");
	json_decref(body);
	json_decref(ans);
	apiclient_free(c);
	return ok ? 0 : 1;
}

int
client_cmd_repo_purge_cache(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *ans = NULL;
	bool json, ok;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, 1, "APP")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	ok = client_call(&ans, c, argv[0], "DELETE", NULL, "/v1/apps/%s/cache",
	    argv[optind]);
	if (ok && json)
		client_print_json(ans);
	else if (ok)
		printf("Build cache of %s purged: the next build starts "
		    "afresh\n", argv[optind]);
	json_decref(ans);
	apiclient_free(c);
	return ok ? 0 : 1;
}
