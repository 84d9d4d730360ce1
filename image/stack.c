/*
 * `stack import`: make a stack (a base image) from a directory tree, or a
 * tiny real one from the host's busybox-static.  One reproducible layer:
 * entries sorted by name, owners 0:0, modes kept, every time set to the
 * created time, pax_restricted tar, gzip with no name and no time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"

#include "image_int.h"

#define STACK_CHUNK (128 << 10)
#define STACK_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* What every entry shares.  uid and gid are the current entry's owner:
 * 0:0 unless the tree's owners are kept (a Debian tree has files of
 * other users and groups, /etc/shadow's group shadow among them). */
struct stack_ctx {
	struct archive *a;
	int64_t mtime;
	bool keep_owners;
	bool skip_kernel_dirs;  /* dev/, proc/, sys/ as empty directories */
	uid_t uid;
	gid_t gid;
};

static int
stack_header(struct stack_ctx *s, struct archive_entry *e)
{
	archive_entry_set_uid(e, s->uid);
	archive_entry_set_gid(e, s->gid);
	archive_entry_set_mtime(e, (time_t)s->mtime, 0);
	if (archive_write_header(s->a, e) != ARCHIVE_OK)
		return err_set(ERR_IO, "cannot write tar header for '%s': %s",
		    archive_entry_pathname(e), archive_error_string(s->a));
	return 0;
}

static int
stack_add_dir(struct stack_ctx *s, const char *name, mode_t mode)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, mode);
	rc = stack_header(s, e);
	archive_entry_free(e);
	return rc;
}

static int
stack_add_symlink(struct stack_ctx *s, const char *name, const char *target)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFLNK);
	archive_entry_set_perm(e, 0777);
	archive_entry_set_symlink(e, target);
	rc = stack_header(s, e);
	archive_entry_free(e);
	return rc;
}

static int
stack_add_bytes(struct stack_ctx *s, const char *name, mode_t mode,
    const char *data)
{
	struct archive_entry *e = archive_entry_new();
	size_t n = strlen(data);
	int rc;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)n);
	if ((rc = stack_header(s, e)) == 0 &&
	    archive_write_data(s->a, data, n) != (la_ssize_t)n)
		rc = err_set(ERR_IO, "cannot write '%s': %s", name,
		    archive_error_string(s->a));
	archive_entry_free(e);
	return rc;
}

/* A regular file from disk, read through an fd we opened without
 * following symlinks, its size checked against what was written. */
static int
stack_add_file(struct stack_ctx *s, const char *name, const char *path,
    mode_t mode)
{
	struct archive_entry *e = NULL;
	struct stat st;
	char *chunk = NULL;
	int64_t left;
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return err_sys("cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		rc = err_sys("cannot stat '%s'", path);
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(ERR_INVALID, "'%s' is not a regular file", path);
		goto done;
	}
	e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, st.st_size);
	if ((rc = stack_header(s, e)) < 0)
		goto done;
	chunk = xmalloc(STACK_CHUNK);
	left = st.st_size;
	while (left > 0) {
		n = read(fd, chunk, left < STACK_CHUNK ? (size_t)left :
		    STACK_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys("cannot read '%s'", path);
			goto done;
		}
		if (n == 0) {
			rc = err_set(ERR_CONFLICT, "'%s' shrank while read",
			    path);
			goto done;
		}
		if (archive_write_data(s->a, chunk, (size_t)n) != n) {
			rc = err_set(ERR_IO, "cannot write '%s': %s", name,
			    archive_error_string(s->a));
			goto done;
		}
		left -= n;
	}
done:
	free(chunk);
	archive_entry_free(e);
	close(fd);
	return rc;
}

/* Byte order, not the locale's: the same tree sorts the same anywhere. */
static int
stack_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
stack_skip_dots(const struct dirent *d)
{
	return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* One entry of a tree at path, named name in the layer, as lstat saw it
 * (a directory's children are the caller's). */
static int
stack_add_entry(struct stack_ctx *s, const char *name, const char *path,
    const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t len;
	int rc;

	s->uid = s->keep_owners ? st->st_uid : 0;
	s->gid = s->keep_owners ? st->st_gid : 0;
	if (S_ISDIR(st->st_mode)) {
		rc = stack_add_dir(s, name, st->st_mode & 07777);
	} else if (S_ISREG(st->st_mode)) {
		rc = stack_add_file(s, name, path, st->st_mode & 07777);
	} else if (S_ISLNK(st->st_mode)) {
		len = readlink(path, target, sizeof(target) - 1);
		if (len < 0) {
			rc = err_sys("cannot read link '%s'", path);
		} else {
			target[len] = '\0';
			rc = stack_add_symlink(s, name, target);
		}
	} else {
		rc = err_set(ERR_UNSUPPORTED, "'%s' is a device, fifo or "
		    "socket; a stack holds files, directories and "
		    "symlinks only", path);
	}
	s->uid = 0;
	s->gid = 0;
	return rc;
}

/* dev/, proc/ and sys/ of a system tree: the runtime mounts them, and
 * what a bootstrap left there (device nodes) is not the stack's. */
static bool
stack_is_kernel_dir(const struct stack_ctx *s, const char *name)
{
	return s->skip_kernel_dirs && (strcmp(name, "dev") == 0 ||
	    strcmp(name, "proc") == 0 || strcmp(name, "sys") == 0);
}

/* Add dir/rel's children, sorted, depth first. */
static int
stack_walk(struct stack_ctx *s, const char *root, const char *rel)
{
	char *dir = rel ? fs_join(root, rel) : xstrdup(root);
	struct dirent **names = NULL;
	int n, rc = 0;

	n = scandir(dir, &names, stack_skip_dots, stack_name_cmp);
	if (n < 0) {
		rc = err_sys("cannot read directory '%s'", dir);
		free(dir);
		return rc;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		char *name = rel ? fs_join(rel, names[i]->d_name) :
		    xstrdup(names[i]->d_name);
		char *path = fs_join(root, name);
		struct stat st;

		if (lstat(path, &st) < 0) {
			rc = err_sys("cannot stat '%s'", path);
		} else {
			rc = stack_add_entry(s, name, path, &st);
			if (rc == 0 && S_ISDIR(st.st_mode) &&
			    !stack_is_kernel_dir(s, name))
				rc = stack_walk(s, root, name);
		}
		free(name);
		free(path);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	return rc;
}

/* Do the regular files a and b hold the same bytes?  Sizes are equal. */
static int
stack_same_bytes(bool *same, const char *a, const char *b)
{
	char *ba = xmalloc(STACK_CHUNK), *bb = xmalloc(STACK_CHUNK);
	int fa, fb = -1, rc = 0;
	ssize_t na, nb;

	*same = false;
	if ((fa = open(a, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
	    (fb = open(b, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		rc = err_sys("cannot open '%s'", fa < 0 ? a : b);
		goto done;
	}
	for (;;) {
		na = read(fa, ba, STACK_CHUNK);
		nb = na > 0 ? read(fb, bb, (size_t)na) : 0;
		if (na < 0 || nb < 0) {
			rc = err_sys("cannot read '%s'", na < 0 ? a : b);
			goto done;
		}
		if (na != nb || memcmp(ba, bb, (size_t)na) != 0)
			goto done;
		if (na == 0)
			break;
	}
	*same = true;
done:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(ba);
	free(bb);
	return rc;
}

/* Is upper's entry (u at up) what lower has (l at lp)?  Owners, mode,
 * type, and a file's bytes or a link's target; times never count (every
 * entry gets the created time). */
static int
stack_entry_same(bool *same, const struct stat *u, const char *up,
    const struct stat *l, const char *lp)
{
	char tu[PATH_MAX], tl[PATH_MAX];
	ssize_t nu, nl;

	*same = false;
	if (u->st_mode != l->st_mode || u->st_uid != l->st_uid ||
	    u->st_gid != l->st_gid)
		return 0;
	if (S_ISDIR(u->st_mode)) {
		*same = true;
		return 0;
	}
	if (S_ISREG(u->st_mode))
		return u->st_size == l->st_size ? stack_same_bytes(same, up, lp) :
		    0;
	if (S_ISLNK(u->st_mode)) {
		nu = readlink(up, tu, sizeof(tu));
		nl = readlink(lp, tl, sizeof(tl));
		if (nu < 0 || nl < 0)
			return err_sys("cannot read link '%s'", nu < 0 ? up : lp);
		*same = nu == nl && memcmp(tu, tl, (size_t)nu) == 0;
	}
	return 0;
}

/* An OCI whiteout for name (".wh.<base>" beside it): hides what a lower
 * layer has there. */
static int
stack_add_whiteout(struct stack_ctx *s, const char *rel, const char *base)
{
	char *wh = xasprintf("%s%s.wh.%s", rel ? rel : "", rel ? "/" : "",
	    base);
	int rc = stack_add_bytes(s, wh, 0644, "");

	free(wh);
	return rc;
}

/*
 * What root/rel has that lower/rel has not, or has otherwise: entries
 * sorted, each new or changed one written (a directory whose own
 * metadata is unchanged is only walked into), a whiteout first for each
 * name lower has and root has not, or has as another kind of thing
 * (a directory become a file, or the other way).
 */
static int
stack_walk_diff(struct stack_ctx *s, const char *root, const char *lower,
    const char *rel)
{
	char *udir = rel ? fs_join(root, rel) : xstrdup(root);
	char *ldir = rel ? fs_join(lower, rel) : xstrdup(lower);
	struct dirent **un = NULL, **ln = NULL;
	int nu, nl, rc = 0;

	nu = scandir(udir, &un, stack_skip_dots, stack_name_cmp);
	nl = scandir(ldir, &ln, stack_skip_dots, stack_name_cmp);
	if (nu < 0 || nl < 0) {
		rc = err_sys("cannot read directory '%s'", nu < 0 ? udir : ldir);
		goto done;
	}
	/* the whiteouts: names gone (both lists sorted alike) */
	for (int i = 0, j = 0; j < nl && rc == 0; j++) {
		while (i < nu && strcmp(un[i]->d_name, ln[j]->d_name) < 0)
			i++;
		if (i >= nu || strcmp(un[i]->d_name, ln[j]->d_name) != 0)
			rc = stack_add_whiteout(s, rel, ln[j]->d_name);
	}
	for (int i = 0; i < nu && rc == 0; i++) {
		char *name = rel ? fs_join(rel, un[i]->d_name) :
		    xstrdup(un[i]->d_name);
		char *up = fs_join(root, name), *lp = fs_join(lower, name);
		struct stat us, ls;
		bool in_lower, same = false;

		if (lstat(up, &us) < 0) {
			rc = err_sys("cannot stat '%s'", up);
			goto next;
		}
		in_lower = lstat(lp, &ls) == 0;
		if (in_lower && (rc = stack_entry_same(&same, &us, up, &ls,
		    lp)) < 0)
			goto next;
		if (in_lower && S_ISDIR(us.st_mode) != S_ISDIR(ls.st_mode) &&
		    (rc = stack_add_whiteout(s, rel, un[i]->d_name)) < 0)
			goto next;
		if (!same && (rc = stack_add_entry(s, name, up, &us)) < 0)
			goto next;
		if (S_ISDIR(us.st_mode) && !stack_is_kernel_dir(s, name)) {
			if (in_lower && S_ISDIR(ls.st_mode))
				rc = stack_walk_diff(s, root, lower, name);
			else
				rc = stack_walk(s, root, name);
		}
next:
		free(lp);
		free(up);
		free(name);
	}
done:
	for (int i = 0; i < nu; i++)
		free(un[i]);
	for (int j = 0; j < nl; j++)
		free(ln[j]);
	free(un);
	free(ln);
	free(udir);
	free(ldir);
	return rc;
}

int
image_stack_layer_tree(struct image_desc *out, char diff_id[DIGEST_STR_MAX],
    struct image_layout *l, const char *root, const char *lower,
    int64_t mtime)
{
	struct image_layer_writer *lw = NULL;
	struct stack_ctx s = { .mtime = mtime, .keep_owners = true,
	    .skip_kernel_dirs = true };
	int rc;

	if ((rc = image_layer_writer_open(&lw, l)) < 0)
		return rc;
	s.a = image_layer_writer_archive(lw);
	rc = lower ? stack_walk_diff(&s, root, lower, NULL) :
	    stack_walk(&s, root, NULL);
	if (rc == 0)
		rc = image_layer_writer_commit(lw, out, diff_id);
	image_layer_writer_free(lw);
	return rc;
}

/* The stack's config: os, architecture, one diff_id, Env PATH, Cmd sh. */
static json_t *
stack_config(const char *diff_id, const char *created, const char *how,
    bool as_app_user)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:{s:s, s:[s]},"
	    " s:{s:[s], s:[s]}, s:[{s:s, s:s}]}",
	    "architecture", image_host_arch(), "os", "linux",
	    "created", created,
	    "rootfs", "type", "layers", "diff_ids", diff_id,
	    "config", "Env", "PATH=" STACK_DEFAULT_PATH, "Cmd", "/bin/sh",
	    "history", "created", created, "created_by", how);

	if (c == NULL)
		abort();
	if (as_app_user)
		json_object_set_new(json_object_get(c, "config"), "User",
		    json_string("1000:1000"));
	return c;
}

typedef int (*stack_fill_fn)(struct stack_ctx *s, const void *payload);

/* One layer filled by fill, its config, the manifest, the tag. */
static int
stack_import(struct image_desc *out, const char *layout, const char *tag,
    const char *created_in, const char *how, bool as_app_user,
    stack_fill_fn fill, const void *payload)
{
	struct image_layout *l = NULL;
	struct image_layer_writer *lw = NULL;
	struct image_desc layer = { 0 };
	struct stack_ctx s = { 0 };
	char diff_id[DIGEST_STR_MAX], *created = NULL;
	int64_t t;
	int rc;

	if (tag && !image_tag_is_valid(tag))
		return err_set(ERR_INVALID, "'%.200s' is not a valid tag", tag);
	if ((rc = image_created_pick(&created, created_in)) < 0 ||
	    (rc = image_time_parse(&t, created)) < 0 ||
	    (rc = image_layout_init(&l, layout)) < 0 ||
	    (rc = image_layer_writer_open(&lw, l)) < 0)
		goto done;
	s.a = image_layer_writer_archive(lw);
	s.mtime = t;
	if ((rc = fill(&s, payload)) < 0 ||
	    (rc = image_layer_writer_commit(lw, &layer, diff_id)) < 0)
		goto done;
	rc = image_write_image(out, l, stack_config(diff_id, created, how,
	    as_app_user), &layer, 1, tag);
done:
	image_desc_clear(&layer);
	image_layer_writer_free(lw);
	image_layout_free(l);
	free(created);
	return rc;
}

static int
stack_fill_dir(struct stack_ctx *s, const void *payload)
{
	return stack_walk(s, payload, NULL);
}

int
image_stack_import_dir(struct image_desc *out, const char *dir,
    const char *layout, const char *tag, const char *created)
{
	if (!fs_is_dir(dir))
		return err_set(ERR_NOTFOUND, "'%s' is not a directory", dir);
	return stack_import(out, layout, tag, created, "slipway stack import "
	    "--dir", false, stack_fill_dir, dir);
}

/* Applets linked in bin/: enough for shells, scripts and an httpd. */
static const char *const stack_applets[] = {
	"ash", "awk", "basename", "cat", "chmod", "cp", "cut", "date", "dirname",
	"echo", "env", "expr", "false", "find", "grep", "gunzip", "gzip",
	"head", "hostname", "httpd", "id", "kill", "ln", "ls", "mkdir", "mv",
	"nc", "printf", "ps", "pwd", "rm", "rmdir", "sed", "seq", "sh",
	"sleep", "sort", "tail", "tar", "tee", "test", "touch", "tr", "true",
	"uname", "wc", "wget", "which", "xargs", NULL,
};

static int
stack_fill_busybox(struct stack_ctx *s, const void *payload)
{
	int rc;

	/* No app/: the slug layer brings it. */
	if ((rc = stack_add_dir(s, "bin", 0755)) < 0)
		return rc;
	for (const char *const *a = stack_applets; *a; a++) {
		char name[64];
		snprintf(name, sizeof(name), "bin/%s", *a);
		if ((rc = stack_add_symlink(s, name, "busybox")) < 0)
			return rc;
	}
	if ((rc = stack_add_file(s, "bin/busybox", payload, 0755)) < 0 ||
	    (rc = stack_add_dir(s, "dev", 0755)) < 0 ||
	    (rc = stack_add_dir(s, "etc", 0755)) < 0 ||
	    (rc = stack_add_bytes(s, "etc/group", 0644,
	    "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")) < 0 ||
	    (rc = stack_add_bytes(s, "etc/passwd", 0644,
	    "root:x:0:0:root:/root:/bin/sh\n"
	    "app:x:1000:1000:app:/app:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")) < 0 ||
	    (rc = stack_add_dir(s, "proc", 0755)) < 0 ||
	    (rc = stack_add_dir(s, "root", 0700)) < 0 ||
	    (rc = stack_add_dir(s, "sys", 0755)) < 0 ||
	    (rc = stack_add_dir(s, "tmp", 01777)) < 0 ||
	    (rc = stack_add_dir(s, "usr", 0755)) < 0 ||
	    (rc = stack_add_dir(s, "usr/bin", 0755)) < 0 ||
	    (rc = stack_add_symlink(s, "usr/bin/env", "../../bin/busybox")) < 0)
		return rc;
	return 0;
}

int
image_stack_import_busybox(struct image_desc *out, const char *busybox,
    const char *layout, const char *tag, const char *created)
{
	if (busybox == NULL)
		busybox = "/bin/busybox";
	if (access(busybox, X_OK) < 0)
		return err_sys("cannot use '%s' (install busybox-static)",
		    busybox);
	return stack_import(out, layout, tag, created, "slipway stack import "
	    "--busybox", true, stack_fill_busybox, busybox);
}
