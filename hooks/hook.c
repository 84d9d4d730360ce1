/*
 * The hooks' commands:
 *
 *   slipway hook pre-receive   git runs it (hooks/pre-receive) inside
 *                              git-receive-pack, which ssh-exec runs:
 *                              stdin has one "OLD NEW REF" line per ref.
 *                              Only the app's deploy branch builds;
 *                              deleting it, or pushing another branch,
 *                              is refused (hooks/branch.c); tags pass
 *                              untouched.  Exiting non-zero rejects the
 *                              whole push: no ref moves.  A build that
 *                              succeeds is released here and its
 *                              rollout followed: one that fails rejects
 *                              the push, as Heroku does.
 *   slipway hook post-receive  git runs it once the refs have moved:
 *                              it tells the controller the push's
 *                              release landed (else the controller
 *                              takes it back).  Its exit status
 *                              changes nothing (the push is done).
 *   slipway hook build APP     the same build of a commit already in the
 *                              app's repository (the controller runs it
 *                              for `builds:create`), under the app's lock.
 *
 * Both run as the pushing user: SLIPWAY_TOKEN is their session token.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hooks_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/buf.h"
#include "slipway/builder.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/home.h"
#include "slipway/hooks.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/repo.h"

#define HOOK_LINE_MAX 1024
#define HOOK_REFS_MAX 10000
#define HOOK_ZERO "0000000000000000000000000000000000000000"

static volatile sig_atomic_t hook_stop;

static void
hook_on_signal(int sig)
{
	(void)sig;
	hook_stop = 1;
}

static void
hook_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = hook_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Where images go: SLIPWAY_REGISTRY, else the all-in-one default. */
static const char *
hook_registry(void)
{
	const char *r = getenv("SLIPWAY_REGISTRY");

	return r && r[0] ? r : "127.0.0.1:5000";
}

/* The compile time limit: SLIPWAY_BUILD_TIMEOUT seconds, else the
 * builder's default. */
static unsigned
hook_timeout(void)
{
	const char *t = getenv("SLIPWAY_BUILD_TIMEOUT");
	unsigned long long v;

	if (t == NULL || parse_uint(&v, t, 1, 86400) < 0)
		return 0;
	return (unsigned)v;
}

/* One "OLD NEW REF" line: ids of 40 hex, a ref without blanks. */
static bool
hook_line_parse(char **old, char **new, char **ref, char *line)
{
	char *sp1 = strchr(line, ' '), *sp2;

	if (sp1 == NULL || (sp2 = strchr(sp1 + 1, ' ')) == NULL)
		return false;
	*sp1 = *sp2 = '\0';
	*old = line;
	*new = sp1 + 1;
	*ref = sp2 + 1;
	return strlen(*old) == 40 && strlen(*new) == 40 &&
	    strspn(*old, "0123456789abcdef") == 40 &&
	    strspn(*new, "0123456789abcdef") == 40 && (*ref)[0] &&
	    strpbrk(*ref, " \t") == NULL;
}

/* The objects git received are still in its quarantine: reading the new
 * commit needs them. */
static void
hook_alt_odb(const char *alt[3])
{
	const char *q = getenv("GIT_QUARANTINE_PATH");
	const char *o = getenv("GIT_OBJECT_DIRECTORY");
	int n = 0;

	if (q && q[0] == '/')
		alt[n++] = q;
	else if (o && o[0] == '/')
		alt[n++] = o;
	alt[n] = NULL;
}

int
hooks_cmd_pre_receive(int argc, char **argv)
{
	const char *home = getenv("SLIPWAY_HOME"), *app = getenv("SLIPWAY_APP");
	const char *user = getenv("SLIPWAY_SSH_USER");
	const char *token = getenv("SLIPWAY_TOKEN"), *alt[3];
	char line[HOOK_LINE_MAX + 2], *deploy_ref = NULL, *target = NULL;
	char *repo = NULL, path[128];
	struct apiclient *api = NULL;
	struct builder_result res;
	struct hooks_ref_update *ups = NULL;
	json_t *a = NULL;
	unsigned nrefs = 0;
	int rc = 1;

	if (argc != 1 || home == NULL || app == NULL || user == NULL ||
	    token == NULL || !name_app_is_valid(app)) {
		fprintf(stderr, "slipway hook pre-receive: git runs this in a "
		    "push through 'slipway sshd' (SLIPWAY_HOME, SLIPWAY_APP, "
		    "SLIPWAY_SSH_USER and SLIPWAY_TOKEN are set there)\n");
		return 2;
	}
	hook_signals();
	if (apiclient_open(&api) < 0)
		goto fail;
	snprintf(path, sizeof(path), "/v1/apps/%s", app);
	if (apiclient_call(&a, api, "GET", path, NULL) < 0)
		goto fail;
	repo = home_repo_path(home, app);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *old, *new, *ref;
		size_t n = strlen(line);

		if (n == 0 || line[n - 1] != '\n' || nrefs >= HOOK_REFS_MAX) {
			err_set(ERR_INVALID, "git gave a malformed ref update");
			goto fail;
		}
		line[n - 1] = '\0';
		if (!hook_line_parse(&old, &new, &ref, line)) {
			err_set(ERR_INVALID, "git gave a malformed ref update "
			    "'%.100s'", line);
			goto fail;
		}
		ups = xrealloc(ups, (nrefs + 1) * sizeof(*ups));
		memcpy(ups[nrefs].old, old, 41);
		memcpy(ups[nrefs].new, new, 41);
		ups[nrefs].ref = xstrdup(ref);
		ups[nrefs++].deletes = strcmp(new, HOOK_ZERO) == 0;
	}
	if (hooks_deploy_ref(&deploy_ref, api, app, repo, json_string_value(
	    json_object_get(a, "deploy_branch")), ups, nrefs) < 0)
		goto fail;
	for (unsigned i = 0; i < nrefs; i++) {
		if (strcmp(ups[i].ref, deploy_ref) != 0)
			continue;
		if (ups[i].deletes) {
			err_set(ERR_INVALID, "deleting the deploy branch '%s' "
			    "is not allowed", deploy_ref + 11);
			goto fail;
		}
		free(target);
		target = xstrdup(ups[i].new);
	}
	if (target == NULL) {
		rc = 0;
		goto done;
	}
	hook_alt_odb(alt);
	{
		struct builder_opts o = {
			.home = home, .app = app, .repo = repo, .alt_odb = alt,
			.rev = target, .registry = hook_registry(),
			.api = api, .user = user, .token = token,
			.out = stderr, .log_file = true, .stop = &hook_stop,
			.timeout_sec = hook_timeout(), .land = deploy_ref,
		};
		rc = builder_run(&res, &o) < 0 ? 1 : 0;
	}
	goto done;
fail:
	builder_disk_full(home);
	hooks_say_error("%s", err_last());
	rc = 1;
done:
	json_decref(a);
	apiclient_free(api);
	for (unsigned i = 0; i < nrefs; i++)
		free(ups[i].ref);
	free(ups);
	free(deploy_ref);
	free(target);
	free(repo);
	return rc;
}

/*
 * The push's build is the app's newest (the app's lock keeps any other
 * from starting during a push); it waits to land when it succeeded with
 * the commit git has just moved a ref to.  Tell the controller that ref
 * moved: the release pre-receive made and followed stays.  Killed
 * anywhere here, the controller's repair finds the ref moved and says so
 * itself (docs/push.md, "Crash consistency").
 */
int
hooks_cmd_post_receive(int argc, char **argv)
{
	const char *app = getenv("SLIPWAY_APP");
	char line[HOOK_LINE_MAX + 2], path[160];
	struct apiclient *api = NULL;
	json_t *builds = NULL, *b, *ans = NULL, *u;
	const char *rev, *status;
	int64_t number;
	unsigned nrefs = 0;
	int rc = 0;

	if (argc != 1 || app == NULL || getenv("SLIPWAY_TOKEN") == NULL ||
	    !name_app_is_valid(app)) {
		fprintf(stderr, "slipway hook post-receive: git runs this in a "
		    "push through 'slipway sshd' (SLIPWAY_APP and SLIPWAY_TOKEN "
		    "are set there)\n");
		return 2;
	}
	hook_signals();
	if ((rc = apiclient_open(&api)) < 0)
		goto fail;
	snprintf(path, sizeof(path), "/v1/apps/%s/builds", app);
	if ((rc = apiclient_call(&builds, api, "GET", path, NULL)) < 0)
		goto fail;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *old, *new, *ref;
		size_t n = strlen(line), i;

		if (n == 0 || line[n - 1] != '\n' || ++nrefs > HOOK_REFS_MAX)
			break;
		line[n - 1] = '\0';
		if (!hook_line_parse(&old, &new, &ref, line))
			continue;
		/* The newest build of the commit that succeeded (builds come
		 * newest first; ones that failed meanwhile, as a CI build
		 * turned away by our lock, are passed over). */
		number = 0;
		json_array_foreach(builds, i, b) {
			rev = json_string_value(json_object_get(b, "rev"));
			status = json_string_value(json_object_get(b,
			    "status"));
			if (rev && status && strcmp(rev, new) == 0 &&
			    strcmp(status, "succeeded") == 0) {
				number = json_integer_value(json_object_get(b,
				    "number"));
				break;
			}
		}
		if (number <= 0)
			continue;
		u = json_pack("{s:s}", "landed", ref);
		snprintf(path, sizeof(path), "/v1/apps/%s/builds/%lld", app,
		    (long long)number);
		rc = apiclient_call(&ans, api, "PATCH", path, u);
		json_decref(u);
		if (rc == ERR_NOTFOUND) {
			/* Not the branch the build waits for. */
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto fail;
		rc = 0;
		goto done;
	}
	goto done;
fail:
	hooks_say_error("%s", err_last());
	if (rc != ERR_CONFLICT)
		hooks_say_error("The push is in; the controller sees it "
		    "landed when it answers again ('slipway releases %s' "
		    "shows it)", app);
	rc = 1;
done:
	json_decref(ans);
	json_decref(builds);
	apiclient_free(api);
	return rc;
}

int
hooks_cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "build", required_argument, NULL, 'b' },
		{ "rev", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home, *rev = NULL, *app;
	struct apiclient *api = NULL;
	struct builder_result res;
	json_t *me = NULL, *b = NULL;
	char *repo = NULL, *user = NULL, *rev_buf = NULL, path[160];
	unsigned long long number = 0;
	int c, lock = -1, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_uint(&number, optarg, 1, INT64_MAX) < 0)
				return cmdline_usage_error(argv[0], "--build is a "
				    "build number");
			break;
		case 'r':
			rev = optarg;
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (argc - optind != 1)
		return cmdline_usage_error(argv[0], "one APP is needed");
	app = argv[optind];
	if (!name_app_is_valid(app))
		return cmdline_usage_error(argv[0], "invalid app name '%.64s'", app);
	home = home_dir();
	hook_signals();
	if ((rc = apiclient_open(&api)) < 0 ||
	    (rc = apiclient_need_token(api)) < 0 ||
	    (rc = apiclient_call(&me, api, "GET", "/v1/me", NULL)) < 0)
		goto fail;
	user = xstrdup(json_string_value(json_object_get(me, "name")) ?
	    json_string_value(json_object_get(me, "name")) : "");
	if (number && rev == NULL) {
		/* What the build was asked for: a branch, tag or commit. */
		snprintf(path, sizeof(path), "/v1/apps/%s/builds/%llu", app,
		    number);
		if ((rc = apiclient_call(&b, api, "GET", path, NULL)) < 0)
			goto fail;
		rev_buf = xstrdup(json_string_value(json_object_get(b, "rev")) ?
		    json_string_value(json_object_get(b, "rev")) : "HEAD");
		rev = rev_buf;
	}
	if ((rc = repo_lock(&lock, home, app, user)) < 0)
		goto fail;
	{
		/* The repository must be this app's (not a destroyed one's of
		 * the same name); the deploy branch is the default rev. */
		json_t *a = NULL;
		const char *uid;
		snprintf(path, sizeof(path), "/v1/apps/%s", app);
		if ((rc = apiclient_call(&a, api, "GET", path, NULL)) < 0)
			goto fail;
		uid = json_string_value(json_object_get(a, "uid"));
		rc = repo_find(&repo, home, app, uid ? uid : "");
		if (rc == 0 && rev == NULL) {
			rev_buf = xasprintf("refs/heads/%s", json_string_value(
			    json_object_get(a, "deploy_branch")));
			rev = rev_buf;
		}
		json_decref(a);
		if (rc < 0)
			goto fail;
	}
	{
		struct builder_opts o = {
			.home = home, .app = app, .repo = repo, .rev = rev,
			.build = number, .registry = hook_registry(),
			.api = api, .user = user, .token = getenv("SLIPWAY_TOKEN"),
			.out = stderr, .log_file = number == 0,
			.stop = &hook_stop, .timeout_sec = hook_timeout(),
		};
		rc = builder_run(&res, &o);
	}
	rc = rc < 0 ? 1 : 0;
	goto done;
fail:
	builder_disk_full(home);
	hooks_say_error("%s", err_last());
	/* A build the controller recorded for us must not stay pending. */
	if (number && api) {
		json_t *u = json_pack("{s:s, s:s}", "status", "failed",
		    "error", err_last());
		snprintf(path, sizeof(path), "/v1/apps/%s/builds/%llu", app,
		    number);
		apiclient_call(NULL, api, "PATCH", path, u);
		json_decref(u);
	}
	rc = 1;
done:
	if (lock >= 0)
		close(lock);
	json_decref(me);
	json_decref(b);
	apiclient_free(api);
	free(repo);
	free(user);
	free(rev_buf);
	return rc;
}
