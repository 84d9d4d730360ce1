/*
 * Client commands for an app's repository: git:set, Dokku's name (Heroku
 * has no deploy branch to set).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "slipway/cmdline.h"

int
client_cmd_git_set(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *body, *app = NULL;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, 3, "APP, deploy-branch and BRANCH")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	if (strcmp(argv[optind + 1], "deploy-branch") != 0)
		return cmdline_usage_error(argv[0], "'%.64s' is not a setting; "
		    "the one there is: deploy-branch", argv[optind + 1]);
	if (!client_open(&c, argv[0]))
		return 1;
	body = json_pack("{s:s}", "deploy_branch", argv[optind + 2]);
	rc = 1;
	if (client_call(&app, c, argv[0], "PATCH", body, "/v1/apps/%s",
	    argv[optind])) {
		if (json)
			client_print_json(app);
		else
			printf("Deploy branch of %s is now %s\n", argv[optind],
			    client_str(app, "deploy_branch"));
		rc = 0;
	}
	json_decref(app);
	json_decref(body);
	apiclient_free(c);
	return rc;
}
