/*
 * 3. The apps' repositories, by git's own consistency rules rather than
 * the per-app lock (lib/repo.c): a push holds that lock through its whole
 * build, so a backup waiting for it could wait minutes, and one holding
 * it would refuse pushes.  Git needs neither:
 *   - objects are written before any ref names them (a push's objects
 *     are moved out of quarantine before receive-pack moves a ref), and
 *     never change: they are hard-linked;
 *   - refs, packed-refs, HEAD and config are replaced by rename, never
 *     written in place: a copy is one version or the next;
 *   - a repack deletes loose objects and old packs only once their
 *     objects are in a new pack.
 * So the refs are taken first and the objects second: every object a
 * ref taken names was there before the objects were listed.  A file
 * that vanished while they were listed (a repack ran) is in a pack that
 * a second listing finds; then the snapshot is checked: every ref names
 * a commit whose tree is in it.  Quarantine directories, temp files and
 * lock files are pushes in progress, left out.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/name.h"
#include "slipway/repo.h"
#include "backup_int.h"

#define STAGE_GIT_PASSES 5

/* The path inside the repository: after "<app>.git/" (app names have no
 * dot, so the first ".git/" is the repository's). */
static const char *
stage_git_inner(const char *rel)
{
	const char *p = strstr(rel, ".git/");

	return p ? p + strlen(".git/") : rel;
}

static bool
stage_git_ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const char *
stage_git_base(const char *rel)
{
	const char *b = strrchr(rel, '/');

	return b ? b + 1 : rel;
}

/* Everything but objects/: copied, without git's lock files. */
static enum backup_take
stage_take_git_meta(const char *rel, bool is_dir)
{
	const char *in = stage_git_inner(rel);

	if (strcmp(in, "objects") == 0 || strcmp(in, "gc.pid") == 0 ||
	    stage_git_ends(rel, ".lock"))
		return BACKUP_SKIP;
	return BACKUP_COPY;
}

/* objects/: linked; quarantines (incoming-*, tmp_objdir-*), temp files
 * (tmp_obj_*, tmp_pack_*, tmp_idx_*) and locks left out. */
static enum backup_take
stage_take_git_objects(const char *rel, bool is_dir)
{
	const char *base = stage_git_base(rel);

	if (strncmp(base, "incoming-", 9) == 0 ||
	    strncmp(base, "tmp_", 4) == 0 || stage_git_ends(base, ".lock"))
		return BACKUP_SKIP;
	return is_dir ? BACKUP_COPY : BACKUP_LINK;
}

struct stage_git_check {
	git_repository *repo;
	git_odb *odb;
	char *missing;           /* the first ref whose objects are not in */
};

static int
stage_git_check_ref(git_reference *ref, void *payload)
{
	struct stage_git_check *c = payload;
	git_reference *res = NULL;
	git_commit *commit = NULL;
	const git_oid *oid;
	bool ok = true;

	if (git_reference_resolve(&res, ref) < 0) {
		git_reference_free(ref);
		return 0;       /* a symbolic ref to an unborn branch */
	}
	oid = git_reference_target(res);
	if (!git_odb_exists(c->odb, oid))
		ok = false;
	else if (git_commit_lookup(&commit, c->repo, oid) == 0 &&
	    !git_odb_exists(c->odb, git_commit_tree_id(commit)))
		ok = false;
	if (!ok && c->missing == NULL)
		c->missing = xstrdup(git_reference_name(ref));
	git_commit_free(commit);
	git_reference_free(res);
	git_reference_free(ref);
	return 0;
}

/* ERR_NOTFOUND when a ref names an object not in the snapshot. */
static int
stage_git_check(const char *path, const char *app)
{
	struct stage_git_check c = { 0 };
	int rc = 0;

	git_libgit2_init();
	if (git_repository_open_bare(&c.repo, path) < 0 ||
	    git_repository_odb(&c.odb, c.repo) < 0 ||
	    git_reference_foreach(c.repo, stage_git_check_ref, &c) < 0)
		rc = repo_git_error(ERR_IO, "cannot read the snapshot of "
		    "the repository");
	else if (c.missing)
		rc = err_set(ERR_NOTFOUND, "app '%s': %s names an object the "
		    "snapshot lacks", app, c.missing);
	free(c.missing);
	git_odb_free(c.odb);
	git_repository_free(c.repo);
	git_libgit2_shutdown();
	return rc;
}

static int
stage_git_repo(struct backup_stage *st, const char *rel, const char *app)
{
	char *objects = fs_join(rel, "objects"), *path = fs_join(st->dir, rel);
	char *src = fs_join(st->home, objects);
	int rc, pass;

	if ((rc = backup_stage_tree(st, rel, stage_take_git_meta)) < 0)
		goto done;
	if (!fs_is_dir(src)) {
		rc = err_set(ERR_INVALID, "app '%s': '%s' has no objects: it is "
		    "not a git repository", app, rel);
		goto done;
	}
	for (pass = 0; pass < STAGE_GIT_PASSES; pass++) {
		st->vanished = false;
		if ((rc = backup_stage_tree(st, objects,
		    stage_take_git_objects)) < 0)
			goto done;
		if (st->vanished)
			continue;       /* a repack ran: list again */
		if ((rc = stage_git_check(path, app)) != ERR_NOTFOUND)
			goto done;
	}
	if (rc == 0)
		rc = err_set(ERR_CONFLICT, "app '%s': its repository kept "
		    "changing under %d passes (a repack running?); try the "
		    "backup again", app, STAGE_GIT_PASSES);
	else
		err_wrap(rc, "cannot back up the repository");
done:
	free(src);
	free(path);
	free(objects);
	return rc;
}

int
backup_stage_repos(struct backup_stage *st)
{
	char *dir = home_repos_dir(st->home);
	char *rel = backup_stage_rel(st, home_repos_dir(st->home));
	struct dirent **ents = NULL;
	int n, rc = 0;

	if ((n = scandir(dir, &ents, NULL, alphasort)) < 0)
		goto done;      /* no repositories yet */
	if ((rc = backup_stage_dir(st, rel)) < 0)
		goto done;
	for (int i = 0; i < n && rc == 0; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);
		char *app, *path, *arel;

		/* <app>.git only: <app>.lock is a push's, not state. */
		if (!stage_git_ends(name, ".git"))
			continue;
		app = xstrndup(name, len - 4);
		path = home_repo_path(st->home, app);
		arel = fs_join(rel, name);
		if (name_app_is_valid(app) && fs_is_dir(path))
			rc = stage_git_repo(st, arel, app);
		free(arel);
		free(path);
		free(app);
	}
done:
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	free(rel);
	free(dir);
	return rc;
}
