/*
 * Slugs from a git commit: the tree is walked through libgit2 and every
 * blob goes from the object database straight into the tar, with no
 * checkout.  Blob, executable, symlink and tree entries map to 0644, 0755,
 * symlink and 0755 directory entries; a gitlink (submodule) is refused.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/slug.h"
#include "slug_int.h"

/* Longest revision string we hand to libgit2. */
#define SLUG_REV_MAX 1024

struct slug_tree_walk {
	git_repository *repo;
	git_odb *odb;
	struct slug_out *out;
	struct slug_ignore *ig;
	struct buf path;        /* relative path of the current entry */
	uint64_t ignored;
};

/* err_set with libgit2's own message appended. */
static int
slug_git_err(int code, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ge && ge->message && ge->message[0])
		return err_set(code, "%s: %s", msg, ge->message);
	return err_set(code, "%s", msg);
}

int
slug_repo_open(git_repository **out, const char *path,
    const char *const *alt_odb_dirs)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;
	int rc = 0, gr;

	git_libgit2_init();
	gr = git_repository_open_ext(&repo, path,
	    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (gr == GIT_ENOTFOUND) {
		rc = err_set(ERR_NOTFOUND, "'%s' is not a git repository",
		    path);
		goto done;
	}
	if (gr < 0) {
		rc = slug_git_err(ERR_IO, "cannot open repository '%s'", path);
		goto done;
	}
	for (size_t i = 0; alt_odb_dirs && alt_odb_dirs[i]; i++) {
		if (!fs_is_dir(alt_odb_dirs[i])) {
			rc = err_set(ERR_NOTFOUND, "object directory '%s' does "
			    "not exist", alt_odb_dirs[i]);
			goto done;
		}
		if (odb == NULL && git_repository_odb(&odb, repo) < 0) {
			rc = slug_git_err(ERR_IO, "cannot open the objects of "
			    "'%s'", path);
			goto done;
		}
		if (git_odb_add_disk_alternate(odb, alt_odb_dirs[i]) < 0) {
			rc = slug_git_err(ERR_IO, "cannot add object directory "
			    "'%s'", alt_odb_dirs[i]);
			goto done;
		}
	}
	*out = repo;
	repo = NULL;
done:
	git_odb_free(odb);
	if (repo || rc < 0) {
		git_repository_free(repo);
		git_libgit2_shutdown();
	}
	return rc;
}

void
slug_repo_free(git_repository *repo)
{
	if (repo == NULL)
		return;
	git_repository_free(repo);
	git_libgit2_shutdown();
}

int
slug_rev_resolve(git_oid *out, git_repository *repo, const char *rev)
{
	git_object *obj = NULL, *target = NULL;
	git_object_t type;
	int rc = 0, gr;

	if (rev[0] == '\0' || strlen(rev) > SLUG_REV_MAX)
		return err_set(ERR_INVALID, "'%.64s' is not a valid revision",
		    rev);
	gr = git_revparse_single(&obj, repo, rev);
	switch (gr) {
	case 0:
		break;
	case GIT_ENOTFOUND:
		if (git_repository_head_unborn(repo) == 1)
			return err_set(ERR_NOTFOUND, "unknown revision '%s': "
			    "the repository has no commits yet", rev);
		return err_set(ERR_NOTFOUND, "unknown revision '%s'", rev);
	case GIT_EUNBORNBRANCH:
		return err_set(ERR_NOTFOUND, "unknown revision '%s': the "
		    "repository has no commits yet", rev);
	case GIT_EAMBIGUOUS:
		return err_set(ERR_INVALID, "revision '%s' is ambiguous", rev);
	case GIT_EINVALIDSPEC:
		return err_set(ERR_INVALID, "'%s' is not a valid revision", rev);
	default:
		return slug_git_err(ERR_IO, "cannot resolve '%s'", rev);
	}
	type = git_object_type(obj);
	if (type == GIT_OBJECT_TAG) {
		if (git_tag_peel(&target, (git_tag *)obj) < 0) {
			rc = slug_git_err(ERR_NOTFOUND, "cannot peel tag '%s'",
			    rev);
			goto done;
		}
		type = git_object_type(target);
	}
	if (type != GIT_OBJECT_COMMIT) {
		rc = err_set(ERR_INVALID, "'%s' is a %s, not a commit", rev,
		    git_object_type2string(type));
		goto done;
	}
	git_oid_cpy(out, git_object_id(target ? target : obj));
done:
	git_object_free(target);
	git_object_free(obj);
	return rc;
}

/* The size of a blob from its header, checked against max and the room
 * left, before any of it is read. */
static int
slug_tree_blob_size(uint64_t *size, struct slug_tree_walk *w,
    const git_oid *id, uint64_t max)
{
	int rc;

	if ((rc = slug_blob_size(size, w->odb, id, w->path.ptr)) < 0)
		return rc;
	if (*size > max)
		return err_set(ERR_INVALID, "'%s' is too large for what it is "
		    "(%" PRIu64 " bytes)", w->path.ptr, *size);
	return slug_out_room(w->out, w->path.ptr, *size);
}

static int
slug_tree_data(void *payload, const void *data, size_t len)
{
	return slug_out_data(payload, data, len);
}

/* The blob streams into the tar in pieces: never held whole. */
static int
slug_tree_blob(struct slug_tree_walk *w, const git_tree_entry *e, bool exec)
{
	const git_oid *id = git_tree_entry_id(e);
	uint64_t size;
	int rc;

	if ((rc = slug_tree_blob_size(&size, w, id, UINT64_MAX)) < 0 ||
	    (rc = slug_out_file(w->out, w->path.ptr, size, exec)) < 0)
		return rc;
	return slug_blob_stream(w->repo, w->odb, id, size, w->path.ptr,
	    slug_tree_data, w->out);
}

static int
slug_tree_symlink(struct slug_tree_walk *w, const git_tree_entry *e)
{
	git_odb_object *obj = NULL;
	char *target = NULL;
	uint64_t size;
	int rc;

	if ((rc = slug_tree_blob_size(&size, w, git_tree_entry_id(e),
	    PATH_MAX - 1)) < 0)
		return rc;
	if (git_odb_read(&obj, w->odb, git_tree_entry_id(e)) < 0)
		return slug_git_err(ERR_NOTFOUND, "cannot read '%s'",
		    w->path.ptr);
	if (git_odb_object_size(obj) != size) {
		rc = err_set(ERR_INVALID, "symlink '%s' changed while it was "
		    "read", w->path.ptr);
		goto done;
	}
	if (memchr(git_odb_object_data(obj), '\0', size) != NULL) {
		rc = err_set(ERR_INVALID, "symlink '%s' has a NUL byte in its "
		    "target", w->path.ptr);
		goto done;
	}
	target = xstrndup(git_odb_object_data(obj), size);
	rc = slug_out_symlink(w->out, w->path.ptr, target);
done:
	free(target);
	git_odb_object_free(obj);
	return rc;
}

static int
slug_tree_walk_dir(struct slug_tree_walk *w, const git_tree *tree)
{
	size_t n = git_tree_entrycount(tree), base = w->path.len;
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		git_tree *sub = NULL;

		if (!slug_name_is_valid(name))
			return err_set(ERR_INVALID, "the tree has an unsafe "
			    "entry '%s' in '%s'", name,
			    base ? w->path.ptr : "/");
		if (slug_name_is_excluded(name))
			continue;
		if ((base > 0 && buf_putc(&w->path, '/') < 0) ||
		    buf_puts(&w->path, name) < 0)
			return err_set(ERR_INVALID, "a path in the tree is "
			    "longer than %zu bytes", w->path.max);
		if (w->ig && slug_ignore_match_leaf(w->ig, w->path.ptr,
		    mode == GIT_FILEMODE_TREE)) {
			w->ignored++;
			goto next;
		}
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if ((rc = slug_out_dir(w->out, w->path.ptr)) < 0)
				break;
			if (git_tree_lookup(&sub, w->repo,
			    git_tree_entry_id(e)) < 0) {
				rc = slug_git_err(ERR_NOTFOUND, "cannot read "
				    "directory '%s'", w->path.ptr);
				break;
			}
			rc = slug_tree_walk_dir(w, sub);
			git_tree_free(sub);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
			rc = slug_tree_blob(w, e,
			    mode == GIT_FILEMODE_BLOB_EXECUTABLE);
			break;
		case GIT_FILEMODE_LINK:
			rc = slug_tree_symlink(w, e);
			break;
		case GIT_FILEMODE_COMMIT:
			rc = err_set(ERR_UNSUPPORTED, "'%s' is a git submodule; "
			    "submodules are not supported in slugs (commit "
			    "the files themselves instead)", w->path.ptr);
			break;
		default:
			rc = err_set(ERR_INVALID, "'%s' has an unknown git file "
			    "mode %o", w->path.ptr, (unsigned)mode);
			break;
		}
next:
		w->path.len = base;
		w->path.ptr[base] = '\0';
	}
	return rc;
}

/* The root's .slugignore, when it is a regular blob. */
static int
slug_tree_ignore(struct slug_ignore **out, git_repository *repo,
    const git_tree *tree)
{
	const git_tree_entry *e = git_tree_entry_byname(tree, ".slugignore");
	git_blob *blob = NULL;
	git_odb *odb = NULL;
	uint64_t size = 0;
	int rc;

	*out = NULL;
	if (e == NULL || (git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB &&
	    git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB_EXECUTABLE))
		return 0;
	/* the size from the header: a huge .slugignore is never loaded */
	if (git_repository_odb(&odb, repo) < 0)
		return slug_git_err(ERR_IO, "cannot open the object database");
	rc = slug_blob_size(&size, odb, git_tree_entry_id(e), ".slugignore");
	git_odb_free(odb);
	if (rc < 0)
		return rc;
	if (size > SLUG_SMALL_FILE_MAX)
		return err_set(ERR_TOOBIG, ".slugignore is larger than %d bytes",
		    SLUG_SMALL_FILE_MAX);
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0)
		return slug_git_err(ERR_NOTFOUND, "cannot read .slugignore");
	if (git_blob_rawsize(blob) > SLUG_SMALL_FILE_MAX)
		rc = err_set(ERR_TOOBIG, ".slugignore is larger than %d bytes",
		    SLUG_SMALL_FILE_MAX);
	else if ((rc = slug_ignore_parse(out, git_blob_rawcontent(blob),
	    (size_t)git_blob_rawsize(blob))) < 0)
		err_wrap(rc, ".slugignore");
	git_blob_free(blob);
	return rc;
}

int
slug_write_tree(struct slug_info *out, git_repository *repo,
    const git_oid *commit_id, const struct slug_opts *opts,
    slug_sink_fn sink, void *payload)
{
	struct slug_opts defaults = SLUG_OPTS_INIT;
	struct slug_tree_walk w;
	struct slug_out o;
	struct slug_info info;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	memset(&w, 0, sizeof(w));
	memset(&o, 0, sizeof(o));
	memset(&info, 0, sizeof(info));
	buf_init(&w.path, PATH_MAX);
	if (opts == NULL)
		opts = &defaults;
	git_oid_tostr(hex, sizeof(hex), commit_id);
	if (git_commit_lookup(&commit, repo, commit_id) < 0) {
		rc = slug_git_err(ERR_NOTFOUND, "cannot read commit %s", hex);
		goto done;
	}
	if (git_commit_tree(&tree, commit) < 0) {
		rc = slug_git_err(ERR_NOTFOUND, "cannot read the tree of "
		    "commit %s", hex);
		goto done;
	}
	if (!opts->no_slugignore &&
	    (rc = slug_tree_ignore(&w.ig, repo, tree)) < 0)
		goto done;
	if (git_repository_odb(&w.odb, repo) < 0) {
		rc = slug_git_err(ERR_IO, "cannot open the object database");
		goto done;
	}
	w.repo = repo;
	w.out = &o;
	if ((rc = slug_out_open(&o, opts, (int64_t)git_commit_time(commit),
	    sink, payload)) < 0)
		goto done;
	if ((rc = slug_out_dir(&o, "")) < 0 ||
	    (rc = slug_tree_walk_dir(&w, tree)) < 0 ||
	    (rc = slug_out_finish(&o, &info)) < 0)
		goto done;
	info.ignored = w.ignored;
	memcpy(info.commit, hex, sizeof(hex));
	if (out)
		*out = info;
done:
	slug_out_abort(&o);
	git_odb_free(w.odb);
	slug_ignore_free(w.ig);
	buf_free(&w.path);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int
slug_create_tree_file(struct slug_info *out, git_repository *repo,
    const git_oid *commit, const char *path, const struct slug_opts *opts)
{
	char *tmp = NULL;
	int fd, rc;

	if ((fd = fs_tmp_open(&tmp, path, 0644)) < 0)
		return fd;
	rc = slug_write_tree(out, repo, commit, opts, slug_sink_fd, &fd);
	if (rc < 0)
		fs_tmp_abort(fd, tmp);
	else
		rc = fs_tmp_commit(fd, tmp, path);
	free(tmp);
	return rc;
}
