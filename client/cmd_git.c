/*
 * Client commands for an app's repository and name: git:set (Dokku's
 * name: Heroku has no deploy branch to set), git:remote and apps:rename
 * (Heroku's).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/proc.h"

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

/* Run git with argv (no shell); its words on failure in the message. */
static int
git_run(char **argv)
{
	struct buf out;
	int rc;

	buf_init(&out, 64 * 1024);
	rc = proc_run(&out, argv, PROC_ERR_TO_OUT, 64 * 1024);
	buf_free(&out);
	if (rc < 0 || rc > 0) {
		if (rc > 0)
			err_set(ERR_IO, "'git %s %s' failed (exit %d)", argv[1],
			    argv[2], rc);
		return -1;
	}
	return 0;
}

int
client_cmd_git_remote(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "remote", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct apiclient *c = NULL;
	const char *remote = "deploy", *url;
	json_t *app = NULL;
	int o, rc;

	while ((o = getopt_long(argc, argv, "r:", opts, NULL)) != -1) {
		if (o != 'r')
			return cmdline_usage_error(argv[0], "unknown option");
		remote = optarg;
	}
	if ((rc = client_nargs(argc, argv, 1, "APP")) ||
	    (rc = client_check_app(argv[0], argv[optind])))
		return rc;
	/* a remote name git takes, and no option of git's */
	if (remote[0] == '-' || remote[0] == '\0' || strlen(remote) > 64 ||
	    strcspn(remote, " \t\n/\\:*?[~^") != strlen(remote))
		return cmdline_usage_error(argv[0], "invalid remote name "
		    "'%.64s'", remote);
	if (!client_open(&c, argv[0]))
		return 1;
	rc = 1;
	if (!client_call(&app, c, argv[0], "GET", NULL, "/v1/apps/%s",
	    argv[optind]))
		goto done;
	if ((url = json_string_value(json_object_get(app, "git_url"))) ==
	    NULL) {
		err_set(ERR_NOTFOUND, "the controller does not say where "
		    "people push (it runs without --git-url; 'slipway up' "
		    "gives it)");
		cmdline_fail(argv[0]);
		goto done;
	}
	{
		char *get[] = { "git", "remote", "get-url", (char *)remote,
		    NULL };
		char *add[] = { "git", "remote", "add", (char *)remote,
		    (char *)url, NULL };
		char *set[] = { "git", "remote", "set-url", (char *)remote,
		    (char *)url, NULL };
		bool have = git_run(get) == 0;

		if (git_run(have ? set : add) < 0) {
			err_wrap(ERR_IO, "cannot set git remote '%s' (is this a "
			    "git repository?)", remote);
			cmdline_fail(argv[0]);
			goto done;
		}
	}
	printf("set git remote %s to %s\n", remote, url);
	rc = 0;
done:
	json_decref(app);
	apiclient_free(c);
	return rc;
}

/* apps:rename (Heroku's): APP NEWNAME, images and repository with it
 * (controller/api_apps.c, ctl_apps_rename). */
int
client_cmd_apps_rename(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *body;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, 2, "APP and NEWNAME")) ||
	    (rc = client_check_app(argv[0], argv[optind])) ||
	    (rc = client_check_app(argv[0], argv[optind + 1])))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	body = json_pack("{s:s}", "name", argv[optind + 1]);
	rc = 1;
	if (client_call(NULL, c, argv[0], "POST", body, "/v1/apps/%s/rename",
	    argv[optind])) {
		printf("Renamed %s to %s\n", argv[optind], argv[optind + 1]);
		rc = 0;
	}
	json_decref(body);
	apiclient_free(c);
	return rc;
}
