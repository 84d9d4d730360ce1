/*
 * What a push may expand to.  git compresses a sparse or repetitive file
 * to almost nothing (a 1 GB sparse file is a 1 MB push), and one blob or
 * tree may be named any number of times, so the caps on the compressed
 * slug say nothing about what the export and the slug will write.  Before
 * any of it is written, the tree is walked once reading object headers
 * only, and every file counts its full size each time it is named.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "builder_int.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/parse.h"
#include "slipway/slug.h"

#define LIMITS_DEPTH_MAX 256

struct limits_walk {
	const struct builder_limits *l;
	git_repository *repo;
	git_odb *odb;
	struct buf path;
	uint64_t bytes, entries;
	int depth;
};

/* "64 MiB", or bytes when it is not a whole number of MiB. */
static void
limits_fmt(char *out, size_t len, uint64_t n)
{
	if (n % (1 << 20) == 0)
		snprintf(out, len, "%" PRIu64 " MiB", n >> 20);
	else
		snprintf(out, len, "%" PRIu64 " bytes", n);
}

/* ", set by VAR" or ", the default (VAR changes it)". */
static void
limits_source(char *out, size_t len, const char *var, bool set)
{
	if (set)
		snprintf(out, len, "set by %s", var);
	else
		snprintf(out, len, "the default (%s in the server's "
		    "environment changes it)", var);
}

static int
limits_env(uint64_t *out, bool *set, const char *var, uint64_t def)
{
	const char *v = getenv(var);
	unsigned long long n;

	*out = def;
	*set = false;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (parse_size(&n, v) < 0 || n == 0)
		return err_set(ERR_INVALID, "%s='%.40s' is not a size (say "
		    "2G, 512M or 4096K)", var, v);
	*out = n;
	*set = true;
	return 0;
}

int
builder_limits_get(struct builder_limits *out)
{
	int rc;

	if ((rc = limits_env(&out->max_size, &out->size_set,
	    "SLIPWAY_PUSH_MAX_SIZE", BUILDER_PUSH_MAX_SIZE_DEFAULT)) < 0 ||
	    (rc = limits_env(&out->max_file, &out->file_set,
	    "SLIPWAY_PUSH_MAX_FILE", BUILDER_PUSH_MAX_FILE_DEFAULT)) < 0)
		return rc;
	return 0;
}

static int
limits_file(struct limits_walk *w, const git_tree_entry *e)
{
	char have[32], max[32], src[96];
	uint64_t size;
	int rc;

	if ((rc = slug_blob_size(&size, w->odb, git_tree_entry_id(e),
	    w->path.ptr)) < 0)
		return rc;
	if (size > w->l->max_file) {
		/* rounded up: a file just past the cap never reads as equal */
		limits_fmt(have, sizeof(have), size % (1 << 20) ? ((size >> 20)
		    + 1) << 20 : size);
		limits_fmt(max, sizeof(max), w->l->max_file);
		limits_source(src, sizeof(src), "SLIPWAY_PUSH_MAX_FILE",
		    w->l->file_set);
		return err_set(ERR_TOOBIG, "'%.200s' is %s; one file may be at "
		    "most %s, %s", w->path.ptr, have, max, src);
	}
	if (size > w->l->max_size - w->bytes) {
		limits_fmt(max, sizeof(max), w->l->max_size);
		limits_source(src, sizeof(src), "SLIPWAY_PUSH_MAX_SIZE",
		    w->l->size_set);
		return err_set(ERR_TOOBIG, "the pushed tree expands to more "
		    "than %s; the limit is %s, %s", max, max, src);
	}
	w->bytes += size;
	return 0;
}

static int
limits_tree(struct limits_walk *w, const git_tree *tree)
{
	size_t n = git_tree_entrycount(tree), base = w->path.len;
	int rc = 0;

	if (++w->depth > LIMITS_DEPTH_MAX)
		return err_set(ERR_INVALID, "the tree is nested deeper than %d",
		    LIMITS_DEPTH_MAX);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		git_tree *sub = NULL;

		if (++w->entries > BUILDER_PUSH_MAX_ENTRIES)
			return err_set(ERR_TOOBIG, "the pushed tree has more "
			    "than %d files and directories",
			    BUILDER_PUSH_MAX_ENTRIES);
		if ((base && buf_putc(&w->path, '/') < 0) ||
		    buf_puts(&w->path, git_tree_entry_name(e)) < 0)
			return err_set(ERR_INVALID, "a path in the tree is "
			    "longer than %zu bytes", w->path.max);
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE:
			if (git_tree_lookup(&sub, w->repo,
			    git_tree_entry_id(e)) < 0)
				rc = err_set(ERR_NOTFOUND, "cannot read "
				    "directory '%.200s'", w->path.ptr);
			else
				rc = limits_tree(w, sub);
			git_tree_free(sub);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK:
			rc = limits_file(w, e);
			break;
		default:
			/* gitlinks and odd modes: the export and the slug
			 * refuse them, naming the path */
			break;
		}
		w->path.len = base;
		w->path.ptr[base] = '\0';
	}
	w->depth--;
	return rc;
}

int
builder_tree_check(const struct builder_limits *l, git_repository *repo,
    const git_oid *commit)
{
	struct limits_walk w = { .l = l, .repo = repo };
	git_commit *c = NULL;
	git_tree *tree = NULL;
	int rc;

	buf_init(&w.path, 4096);
	if (git_commit_lookup(&c, repo, commit) < 0 ||
	    git_commit_tree(&tree, c) < 0) {
		rc = err_set(ERR_NOTFOUND, "cannot read the pushed commit's "
		    "tree");
		goto done;
	}
	if (git_repository_odb(&w.odb, repo) < 0) {
		rc = err_set(ERR_IO, "cannot open the object database");
		goto done;
	}
	rc = limits_tree(&w, tree);
done:
	git_odb_free(w.odb);
	git_tree_free(tree);
	git_commit_free(c);
	buf_free(&w.path);
	return rc;
}
