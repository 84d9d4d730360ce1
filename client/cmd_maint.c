/*
 * Maintenance mode, Heroku's names: `maintenance APP` says whether it is
 * on; `maintenance:on` / `maintenance:off` turn it (controller/api_maint.c:
 * the app's proxies answer 503 with a maintenance page meanwhile).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "slipway/cmdline.h"

static int
maint_run(int argc, char **argv, int set)
{
	struct apiclient *c = NULL;
	json_t *body = NULL, *ans = NULL;
	bool json, ok;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, 1, "APP")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	if (set >= 0) {
		body = json_pack("{s:b}", "maintenance", set);
		ok = client_call(&ans, c, argv[0], "PUT", body,
		    "/v1/apps/%s/maintenance", argv[optind]);
	} else {
		ok = client_call(&ans, c, argv[0], "GET", NULL,
		    "/v1/apps/%s/maintenance", argv[optind]);
	}
	if (ok && json)
		client_print_json(ans);
	else if (ok && set >= 0)
		printf("Maintenance mode %s for %s\n", set ? "on" : "off",
		    argv[optind]);
	else if (ok)
		printf("%s\n", json_is_true(json_object_get(ans,
		    "maintenance")) ? "on" : "off");
	json_decref(body);
	json_decref(ans);
	apiclient_free(c);
	return ok ? 0 : 1;
}

int
client_cmd_maintenance(int argc, char **argv)
{
	return maint_run(argc, argv, -1);
}

int
client_cmd_maintenance_on(int argc, char **argv)
{
	return maint_run(argc, argv, 1);
}

int
client_cmd_maintenance_off(int argc, char **argv)
{
	return maint_run(argc, argv, 0);
}
