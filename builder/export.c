/*
 * A commit's tree written out as a directory for buildpacks to compile:
 * what `git archive | tar x` would give, minus what the root's .slugignore
 * names (Heroku removes those before the build) and every ".git".
 *
 * The tree is pushed by someone we do not fully trust, so every name is
 * checked (no "", ".", "..", "/"), every file is created with O_EXCL and
 * O_NOFOLLOW relative to its directory's descriptor, and no path is ever
 * resolved through a symlink the tree made.  Submodules are refused, as
 * the slug writer refuses them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/proc.h"
#include "slipway/slug.h"

#define EXPORT_DEPTH_MAX 256
#define EXPORT_LINK_MAX 4096

struct export {
	git_repository *repo;
	git_odb *odb;
	struct slug_ignore *ig;
	struct buf path;        /* relative path of the entry at hand */
	uint64_t bytes, max;
	uint64_t files;
	int depth;
};

static int
export_git_err(int code, const char *what, const char *path)
{
	const git_error *ge = git_error_last();

	return err_set(code, "cannot %s '%s': %s", what, path,
	    ge && ge->message ? ge->message : "libgit2 failed");
}

static bool
export_name_is_safe(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	    strcmp(name, "..") != 0 && strchr(name, '/') == NULL;
}

/* Where one exported file's content goes. */
struct export_file {
	int fd;
	const char *rel;
	uint64_t off;
};

/* A piece of zeros becomes a hole: a sparse file pushed stays sparse in
 * the build directory instead of taking its full size on disk. */
static int
export_file_write(void *payload, const void *data, size_t len)
{
	static const unsigned char zero[4096];
	struct export_file *f = payload;
	const unsigned char *p = data;
	size_t i;
	int rc;

	for (i = 0; i < len; i += sizeof(zero)) {
		size_t n = len - i < sizeof(zero) ? len - i : sizeof(zero);
		if (memcmp(p + i, zero, n) != 0)
			break;
	}
	if (i >= len) {
		if (lseek(f->fd, (off_t)len, SEEK_CUR) < 0)
			return err_sys("cannot write '%s'", f->rel);
	} else if ((rc = proc_write_all(f->fd, data, len)) < 0) {
		return err_wrap(rc, "'%s'", f->rel);
	}
	f->off += len;
	return 0;
}

static int
export_symlink(struct export *x, int dirfd, const char *name,
    const git_oid *id, uint64_t size)
{
	const char *rel = x->path.ptr;
	git_blob *blob = NULL;
	const char *t;
	char *target;
	int rc = 0;

	/* the size from the header first: a huge "link" is never loaded */
	if (size == 0 || size > EXPORT_LINK_MAX)
		return err_set(ERR_INVALID, "symlink '%s' has a bad target", rel);
	if (git_blob_lookup(&blob, x->repo, id) < 0)
		return export_git_err(ERR_NOTFOUND, "read", rel);
	t = git_blob_rawcontent(blob);
	if ((uint64_t)git_blob_rawsize(blob) != size ||
	    memchr(t, '\0', size)) {
		rc = err_set(ERR_INVALID, "symlink '%s' has a bad target", rel);
		goto done;
	}
	target = xstrndup(t, size);
	if (symlinkat(target, dirfd, name) < 0)
		rc = err_sys("cannot make symlink '%s'", rel);
	free(target);
done:
	git_blob_free(blob);
	return rc;
}

static int
export_blob(struct export *x, int dirfd, const char *name,
    const git_tree_entry *e, git_filemode_t mode)
{
	const git_oid *id = git_tree_entry_id(e);
	struct export_file f = { .fd = -1, .rel = x->path.ptr };
	uint64_t size;
	int rc;

	if ((rc = slug_blob_size(&size, x->odb, id, f.rel)) < 0)
		return rc;
	if (mode == GIT_FILEMODE_LINK)
		return export_symlink(x, dirfd, name, id, size);
	if (size > x->max - x->bytes)
		return err_set(ERR_TOOBIG, "the tree is over %llu bytes (at "
		    "'%s')", (unsigned long long)x->max, f.rel);
	x->bytes += size;
	f.fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
	if (f.fd < 0)
		return err_sys("cannot create '%s'", f.rel);
	rc = slug_blob_stream(x->repo, x->odb, id, size, f.rel,
	    export_file_write, &f);
	/* a file ending in a hole gets its length */
	if (rc == 0 && ftruncate(f.fd, (off_t)f.off) < 0)
		rc = err_sys("cannot write '%s'", f.rel);
	if (close(f.fd) < 0 && rc == 0)
		rc = err_sys("cannot write '%s'", f.rel);
	if (rc == 0)
		x->files++;
	return rc;
}

static int
export_tree(struct export *x, const git_tree *tree, int dirfd)
{
	size_t n = git_tree_entrycount(tree), base = x->path.len;
	int rc = 0;

	if (++x->depth > EXPORT_DEPTH_MAX)
		return err_set(ERR_INVALID, "the tree is nested deeper than %d",
		    EXPORT_DEPTH_MAX);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		bool is_dir = mode == GIT_FILEMODE_TREE;

		x->path.len = base;
		if (x->path.ptr)
			x->path.ptr[base] = '\0';
		if (base)
			buf_putc(&x->path, '/');
		buf_puts(&x->path, name);
		if (!export_name_is_safe(name)) {
			rc = err_set(ERR_INVALID, "the tree has an unsafe name "
			    "'%.200s'", x->path.ptr);
			break;
		}
		if (strcmp(name, ".git") == 0 ||
		    (x->ig && slug_ignore_match(x->ig, x->path.ptr, is_dir)))
			continue;
		switch (mode) {
		case GIT_FILEMODE_TREE: {
			git_tree *sub = NULL;
			int fd;

			if (mkdirat(dirfd, name, 0755) < 0) {
				rc = err_sys("cannot make '%s'", x->path.ptr);
				break;
			}
			fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0) {
				rc = err_sys("cannot open '%s'", x->path.ptr);
				break;
			}
			if (git_tree_lookup(&sub, x->repo,
			    git_tree_entry_id(e)) < 0)
				rc = export_git_err(ERR_NOTFOUND, "read",
				    x->path.ptr);
			else
				rc = export_tree(x, sub, fd);
			git_tree_free(sub);
			close(fd);
			break;
		}
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK:
			rc = export_blob(x, dirfd, name, e, mode);
			break;
		case GIT_FILEMODE_COMMIT:
			rc = err_set(ERR_UNSUPPORTED, "'%s' is a submodule, which "
			    "slipway does not build; vendor its files instead",
			    x->path.ptr);
			break;
		default:
			rc = err_set(ERR_INVALID, "'%s' has an unknown mode %o",
			    x->path.ptr, (unsigned)mode);
			break;
		}
	}
	x->path.len = base;
	if (x->path.ptr)
		x->path.ptr[base] = '\0';
	x->depth--;
	return rc;
}

static int
export_commit_tree(git_tree **out, git_repository *repo,
    const git_oid *commit)
{
	git_commit *c = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	int rc = 0;

	git_oid_tostr(hex, sizeof(hex), commit);
	if (git_commit_lookup(&c, repo, commit) < 0 ||
	    git_commit_tree(out, c) < 0)
		rc = export_git_err(ERR_NOTFOUND, "read commit", hex);
	git_commit_free(c);
	return rc;
}

int
builder_tree_file(struct buf *out, git_repository *repo,
    const git_oid *commit, const char *name, size_t max)
{
	git_tree *tree = NULL;
	git_blob *blob = NULL;
	git_odb *odb = NULL;
	const git_tree_entry *e;
	uint64_t size;
	int rc;

	buf_init(out, max + 1);
	if ((rc = export_commit_tree(&tree, repo, commit)) < 0)
		return rc;
	e = git_tree_entry_byname(tree, name);
	if (e == NULL || (git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB &&
	    git_tree_entry_filemode(e) != GIT_FILEMODE_BLOB_EXECUTABLE)) {
		rc = err_set(ERR_NOTFOUND, "no '%s' in the tree", name);
		goto done;
	}
	/* the size from the header: a huge file is never loaded */
	if (git_repository_odb(&odb, repo) < 0) {
		rc = export_git_err(ERR_IO, "read", name);
		goto done;
	}
	if ((rc = slug_blob_size(&size, odb, git_tree_entry_id(e),
	    name)) < 0)
		goto done;
	if (size > max) {
		rc = err_set(ERR_TOOBIG, "'%s' is over %zu bytes", name, max);
		goto done;
	}
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0) {
		rc = export_git_err(ERR_NOTFOUND, "read", name);
		goto done;
	}
	if ((uint64_t)git_blob_rawsize(blob) > max) {
		rc = err_set(ERR_TOOBIG, "'%s' is over %zu bytes", name, max);
		goto done;
	}
	rc = buf_put(out, git_blob_rawcontent(blob),
	    (size_t)git_blob_rawsize(blob));
	if (rc == 0 && out->ptr == NULL)
		buf_puts(out, "");
done:
	git_blob_free(blob);
	git_odb_free(odb);
	git_tree_free(tree);
	return rc;
}

int
builder_export_tree(uint64_t *files, git_repository *repo,
    const git_oid *commit, const char *dir, uint64_t max_bytes)
{
	struct export x = { .repo = repo, .max = max_bytes };
	git_tree *tree = NULL;
	struct buf ig;
	int fd = -1, rc;

	buf_init(&x.path, 1 << 20);
	rc = builder_tree_file(&ig, repo, commit, ".slugignore",
	    SLUG_SMALL_FILE_MAX);
	if (rc == 0)
		rc = slug_ignore_parse(&x.ig, ig.ptr, ig.len);
	else if (rc == ERR_NOTFOUND)
		rc = 0;
	buf_free(&ig);
	if (rc < 0) {
		rc = err_wrap(rc, ".slugignore");
		goto done;
	}
	if ((rc = export_commit_tree(&tree, repo, commit)) < 0)
		goto done;
	if (git_repository_odb(&x.odb, repo) < 0) {
		rc = export_git_err(ERR_IO, "open the objects of", dir);
		goto done;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0) {
		rc = err_sys("cannot open build directory '%s'", dir);
		goto done;
	}
	rc = export_tree(&x, tree, fd);
	*files = x.files;
done:
	if (fd >= 0)
		close(fd);
	git_odb_free(x.odb);
	git_tree_free(tree);
	slug_ignore_free(x.ig);
	buf_free(&x.path);
	return rc;
}
