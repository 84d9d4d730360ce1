/*
 * `slipway ssh-exec`: what `slipway sshd` runs for every SSH command, as
 * the authenticated user (SLIPWAY_SSH_USER) with that user's session token
 * (SLIPWAY_TOKEN) as its only credential.  SSH_ORIGINAL_COMMAND is never
 * given to a shell: it is either one of git's two commands, parsed
 * strictly (hooks_git_command_parse), or an admin command from a fixed
 * table (hooks/ssh_admin.c).
 *
 * git-upload-pack (clone, fetch) needs read access to the app.
 * git-receive-pack (push) needs deploy access; pushing to an app that does
 * not exist creates it when the controller lets the user (as Dokku does).
 * A push holds the app's lock for its whole life, so a second push (or a
 * CI build) of the same app is turned away with a clear message; the
 * repository is made on the first push.  Then git's own program runs on
 * the repository with the channel as its stdio; when the client goes away,
 * git and the build under it are stopped.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "hooks_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/builder.h"
#include "slipway/err.h"
#include "slipway/hooks.h"
#include "slipway/log.h"
#include "slipway/proc.h"
#include "slipway/repo.h"

extern char **environ;

/* How long the hook may take to wind down after git went away. */
#define EXEC_GROUP_WAIT_MS 30000

static volatile pid_t exec_child;

static void
exec_on_signal(int sig)
{
	(void)sig;
	/* git and the hook under it are one process group. */
	if (exec_child > 0)
		kill(-exec_child, SIGTERM);
}

void
hooks_say_error(const char *fmt, ...)
{
	va_list ap;

	/* escaped: the message may carry the command's words */
	fputs(" !     ", stderr);
	va_start(ap, fmt);
	log_vprint_line(stderr, fmt, ap);
	va_end(ap);
}

/* What the controller says about the caller on app (GET .../access). */
static int
exec_access(json_t **out, struct apiclient *api, const char *app)
{
	char path[128];

	snprintf(path, sizeof(path), "/v1/apps/%s/access", app);
	return apiclient_call(out, api, "GET", path, NULL);
}

/* The access answer for a push: the app made first when it is missing
 * and the user may make it. */
static int
exec_access_push(json_t **out, struct apiclient *api, const char *app)
{
	json_t *body;
	int rc;

	rc = exec_access(out, api, app);
	if (rc != ERR_NOTFOUND)
		return rc;
	body = json_pack("{s:s}", "name", app);
	rc = apiclient_call(NULL, api, "POST", "/v1/apps", body);
	json_decref(body);
	if (rc == ERR_EXISTS)   /* made by a push racing this one */
		return exec_access(out, api, app);
	if (rc < 0)
		return err_wrap(rc, "app '%s' does not exist and cannot be "
		    "created", app);
	fprintf(stderr, "-----> Created app '%s'\n", app);
	fflush(stderr);
	return exec_access(out, api, app);
}

/* Run git's program on the repository, stdio as ours, in its own process
 * group; returns its exit status. */
static int
exec_git(const char *service, const char *repo, const char *app)
{
	char *argv[4] = { (char *)service, (char *)repo, NULL, NULL };
	struct proc_opts po = { .flags = PROC_NEW_SESSION };
	struct sigaction sa;
	struct proc p;
	int rc;

	if (strcmp(service, "git-upload-pack") == 0) {
		argv[1] = "--strict";
		argv[2] = (char *)repo;
	}
	/* Nothing from our environment may point git elsewhere (GIT_DIR,
	 * GIT_CONFIG_*, ...); the hook learns the app from us. */
	for (size_t i = 0; environ[i];) {
		if (strncmp(environ[i], "GIT_", 4) == 0) {
			char *name = xstrndup(environ[i],
			    strcspn(environ[i], "="));
			unsetenv(name);
			free(name);
			continue;
		}
		i++;
	}
	setenv("SLIPWAY_APP", app, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = exec_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* git may die at once on a signal while its hook is still failing
	 * the build through the API with the session token, which goes when
	 * we exit.  As a subreaper we inherit the hook when git dies, and
	 * wait for it (a while) as for git. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if ((rc = proc_spawn(&p, argv, &po)) < 0)
		return rc;
	exec_child = p.pid;
	rc = proc_wait(&p);
	for (int i = 0; i < EXEC_GROUP_WAIT_MS / 50; i++) {
		pid_t w = waitpid(-1, NULL, WNOHANG);
		if (w > 0)
			continue;
		if (w < 0 && errno != EINTR)
			break;          /* ECHILD: all gone */
		usleep(50 * 1000);
	}
	kill(-exec_child, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	exec_child = 0;
	return rc;
}

static int
exec_git_command(const char *service, const char *app, const char *user,
    const char *home)
{
	bool push = strcmp(service, "git-receive-pack") == 0;
	struct apiclient *api = NULL;
	json_t *acc = NULL;
	char exe[PATH_MAX], *repo = NULL;
	const char *uid, *branch;
	int lock = -1, rc;
	ssize_t len;

	if ((rc = apiclient_open(&api)) < 0)
		goto fail;
	rc = push ? exec_access_push(&acc, api, app) :
	    exec_access(&acc, api, app);
	if (rc == ERR_NOTFOUND) {
		rc = err_set(rc, "no such app '%s'", app);
		goto fail;
	}
	if (rc < 0)
		goto fail;
	uid = json_string_value(json_object_get(acc, "uid"));
	branch = json_string_value(json_object_get(acc, "deploy_branch"));
	if (!json_is_true(json_object_get(acc, "read")) || uid == NULL) {
		rc = err_set(ERR_AUTH, "you (%s) may not use app '%s': you are "
		    "neither its owner nor a collaborator", user, app);
		goto fail;
	}
	if (push && !json_is_true(json_object_get(acc, "deploy"))) {
		rc = err_set(ERR_AUTH, "you (%s) may not push to app '%s': it "
		    "is deployed to group '%s', which you are not granted", user,
		    app, json_string_value(json_object_get(acc,
		    "denied_group")) ? json_string_value(json_object_get(acc,
		    "denied_group")) : "?");
		goto fail;
	}
	if (push) {
		if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <
		    0) {
			rc = err_sys("cannot find the slipway binary");
			goto fail;
		}
		exe[len] = '\0';
		if ((rc = repo_lock(&lock, home, app, user)) < 0 ||
		    (rc = hooks_repo_ensure(&repo, home, app, uid,
		    branch ? branch : "main", exe)) < 0)
			goto fail;
	} else if ((rc = repo_find(&repo, home, app, uid)) < 0) {
		goto fail;
	}
	apiclient_free(api);
	api = NULL;
	rc = exec_git(service, repo, app);
	if (rc < 0) {
		hooks_say_error("cannot run %s: %s", service, err_last());
		rc = 1;
	}
	goto done;
fail:
	builder_disk_full(home);
	hooks_say_error("%s", err_last());
	rc = 1;
done:
	if (lock >= 0)
		close(lock);
	json_decref(acc);
	apiclient_free(api);
	free(repo);
	return rc;
}

int
hooks_cmd_ssh_exec(int argc, char **argv)
{
	const char *cmd = getenv("SSH_ORIGINAL_COMMAND");
	const char *user = getenv("SLIPWAY_SSH_USER");
	const char *home = getenv("SLIPWAY_HOME");
	const char *token = getenv("SLIPWAY_TOKEN");
	const char *service = NULL;
	char *app = NULL;
	int rc;

	(void)argv;
	if (argc != 1 || cmd == NULL || user == NULL || home == NULL ||
	    token == NULL || token[0] == '\0') {
		fprintf(stderr, "slipway ssh-exec: this runs under 'slipway "
		    "sshd', which sets SSH_ORIGINAL_COMMAND, SLIPWAY_SSH_USER, "
		    "SLIPWAY_HOME and a session SLIPWAY_TOKEN\n");
		return 2;
	}
	rc = hooks_git_command_parse(&service, &app, cmd);
	if (rc == 0) {
		rc = exec_git_command(service, app, user, home);
		free(app);
		return rc;
	}
	if (rc != ERR_NOTFOUND) {
		hooks_say_error("%s", err_last());
		return 1;
	}
	return hooks_admin_run(cmd, user, home);
}
