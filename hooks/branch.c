/*
 * Which branch of a push deploys (docs/push.md, "The deploy branch").
 *
 * An app deploys one branch.  A push that brings any other branch is
 * refused whole (git shows it as rejected), with the command that changes
 * the deploy branch: a push that builds nothing yet says "ok" deploys
 * nothing, which is what surprised people.  Tags and other refs, and the
 * deletion of a branch that is not the deploy branch, pass untouched.
 *
 * An app with no code yet (its repository has no branch) whose deploy
 * branch is one of the two defaults, main and master, takes the one its
 * first push brings, as Dokku does: `git push deploy master` on a fresh
 * app deploys master, and says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <jansson.h>

#include "hooks_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/err.h"
#include "slipway/repo.h"

#define BRANCH_PREFIX "refs/heads/"

static bool
branch_is_default(const char *b)
{
	return strcmp(b, "main") == 0 || strcmp(b, "master") == 0;
}

/* Does the repository at path have any branch?  A repository that cannot
 * be read counts as having code: nothing is adopted on a guess. */
static bool
branch_repo_has_code(const char *path)
{
	git_repository *repo = NULL;
	git_reference_iterator *it = NULL;
	git_reference *ref = NULL;
	bool has = true;

	git_libgit2_init();
	if (git_repository_open_bare(&repo, path) < 0 ||
	    git_reference_iterator_glob_new(&it, repo, BRANCH_PREFIX "*") < 0)
		goto done;
	has = git_reference_next(&ref, it) == 0;
	git_reference_free(ref);
done:
	git_reference_iterator_free(it);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return has;
}

/* Point the repository's HEAD at branch, so that a clone checks it out. */
static int
branch_repo_set_head(const char *path, const char *ref)
{
	git_repository *repo = NULL;
	int rc = 0;

	git_libgit2_init();
	if (git_repository_open_bare(&repo, path) < 0 ||
	    git_repository_set_head(repo, ref) < 0)
		rc = repo_git_error(ERR_IO, "cannot set the repository's HEAD");
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}

/* The one default branch the push brings (main or master), or NULL. */
static const char *
branch_pushed_default(const struct hooks_ref_update *u, size_t n)
{
	const char *found = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *b = u[i].ref + strlen(BRANCH_PREFIX);
		if (strncmp(u[i].ref, BRANCH_PREFIX, strlen(BRANCH_PREFIX)) ||
		    !branch_is_default(b) || u[i].deletes)
			continue;
		if (found && strcmp(found, b) != 0)
			return NULL;    /* both: keep the app's */
		found = b;
	}
	return found;
}

/* A new app takes the default branch its first push brings. */
static int
branch_adopt(char **branch, struct apiclient *api, const char *app,
    const char *repo, const struct hooks_ref_update *u, size_t n)
{
	const char *pushed;
	char path[128], *ref;
	json_t *body;
	int rc;

	if (!branch_is_default(*branch) ||
	    (pushed = branch_pushed_default(u, n)) == NULL ||
	    strcmp(pushed, *branch) == 0 || branch_repo_has_code(repo))
		return 0;
	snprintf(path, sizeof(path), "/v1/apps/%s", app);
	body = json_pack("{s:s}", "deploy_branch", pushed);
	rc = apiclient_call(NULL, api, "PATCH", path, body);
	json_decref(body);
	if (rc < 0)
		return err_wrap(rc, "cannot make '%s' the deploy branch of "
		    "'%s'", pushed, app);
	ref = xasprintf(BRANCH_PREFIX "%s", pushed);
	rc = branch_repo_set_head(repo, ref);
	free(ref);
	if (rc < 0)
		return rc;
	fprintf(stderr, "-----> App '%s' has no code yet: its deploy branch is "
	    "now '%s' (was '%s')\n", app, pushed, *branch);
	fflush(stderr);
	free(*branch);
	*branch = xstrdup(pushed);
	return 0;
}

int
hooks_deploy_ref(char **out, struct apiclient *api, const char *app,
    const char *repo, const char *app_branch,
    const struct hooks_ref_update *u, size_t n)
{
	char *branch = xstrdup(app_branch ? app_branch : "main");
	int rc;

	*out = NULL;
	if ((rc = branch_adopt(&branch, api, app, repo, u, n)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		const char *b = u[i].ref + strlen(BRANCH_PREFIX);
		if (strncmp(u[i].ref, BRANCH_PREFIX, strlen(BRANCH_PREFIX)) ||
		    strcmp(b, branch) == 0 || u[i].deletes)
			continue;
		rc = err_set(ERR_INVALID, "'%s' is not the deploy branch of "
		    "'%s', '%s' is: push it with 'git push REMOTE %s:%s', or "
		    "deploy '%s' with 'slipway git:set %s deploy-branch %s'", b,
		    app, branch, b, branch, b, app, b);
		goto done;
	}
	*out = xasprintf(BRANCH_PREFIX "%s", branch);
done:
	free(branch);
	return rc;
}
