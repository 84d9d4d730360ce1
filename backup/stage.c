/*
 * The snapshot a backup archives, taken into HOME/.backup.XXXXXX while
 * the services run (docs/backup.md has the why of each step):
 *
 *   1. the store, through SQLite's online backup API: one read
 *      transaction, so one consistent state, and writers are not held;
 *   2. the registry, with gc held off (registry_gc_hold): the
 *      repositories' tags, revisions and links first, then the blobs, so
 *      every blob a revision taken names is there (a push writes blobs
 *      before the manifest naming them), each blob checked against its
 *      digest;
 *   3. the apps' repositories (stage_git.c), refs before objects;
 *   4. the small files and trees: secret, slipway.conf, ssh/, up/, stacks,
 *      buildpacks, certs, and the proxy's routes without their backends.
 *
 * The store comes first because everything it names (images, commits)
 * was written before the store named it, so whatever was taken after it
 * holds at least that.  Files written once and never changed (blobs,
 * git objects) are hard-linked, so the snapshot costs no copy and a
 * later gc or repack cannot take them from under the archive; every
 * other file is copied.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/registry.h"
#include "backup_int.h"

#define STAGE_IO_BUF (256 * 1024)
#define STAGE_STORE_BUSY_MS 10000
#define STAGE_ROUTES_MAX ((size_t)64 << 20)

int
backup_hash_file(char out[65], uint64_t *size, const char *path)
{
	char *buf = xmalloc(STAGE_IO_BUF), d[DIGEST_STR_MAX];
	struct digest_ctx ctx;
	uint64_t n = 0;
	ssize_t r;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		free(buf);
		return errno == ENOENT ? err_set(ERR_NOTFOUND, "'%s' is gone",
		    path) : err_sys("cannot open '%s'", path);
	}
	digest_init(&ctx, DIGEST_SHA256);
	while ((r = read(fd, buf, STAGE_IO_BUF)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_sys("cannot read '%s'", path);
			break;
		}
		digest_update(&ctx, buf, (size_t)r);
		n += (uint64_t)r;
	}
	close(fd);
	free(buf);
	if (rc < 0) {
		digest_abort(&ctx);
		return rc;
	}
	digest_final(&ctx, d);
	memcpy(out, d + strlen("sha256:"), 65);
	*size = n;
	return 0;
}

/* Copy src to dst (made, 0600 until the end: the mode goes in the
 * manifest).  ERR_NOTFOUND when src is gone. */
static int
stage_copy(const char *src, const char *dst)
{
	char *buf = xmalloc(STAGE_IO_BUF);
	int in = -1, out = -1, rc = 0;
	ssize_t r;

	if ((in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? ERR_NOTFOUND :
		    err_sys("cannot open '%s'", src);
		goto done;
	}
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) < 0) {
		rc = err_sys("cannot create '%s'", dst);
		goto done;
	}
	while ((r = read(in, buf, STAGE_IO_BUF)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = err_sys("cannot read '%s'", src);
			goto done;
		}
		for (ssize_t off = 0; off < r; ) {
			ssize_t w = write(out, buf + off, (size_t)(r - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = err_sys("cannot write '%s'", dst);
				goto done;
			}
			off += w;
		}
	}
done:
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	if (rc < 0 && out >= 0)
		unlink(dst);
	free(buf);
	return rc;
}

/* Record the staged file rel (hashing what is in the snapshot), with
 * the mode of the original. */
static int
stage_record_file(struct backup_stage *st, const char *rel, unsigned mode,
    bool digest_named)
{
	char *path = fs_join(st->dir, rel);
	struct backup_entry *e;
	char hex[65];
	uint64_t size;
	int rc;

	if ((rc = backup_hash_file(hex, &size, path)) < 0)
		goto done;
	if (digest_named) {
		const char *base = strrchr(rel, '/');

		base = base ? base + 1 : rel;
		if (strcmp(base, hex) != 0) {
			rc = err_set(ERR_INVALID, "'%s' does not match its "
			    "digest (sha256:%s): the file is damaged; remove "
			    "it or restore it from an older backup", rel, hex);
			goto done;
		}
	}
	e = backup_list_add(&st->list, BACKUP_FILE, rel, mode);
	e->size = size;
	memcpy(e->sha256, hex, 65);
	backup_progress_tick(st->progress, size, true);
done:
	free(path);
	return rc;
}

static int
stage_take_file(struct backup_stage *st, const char *rel, const char *src,
    const struct stat *sb, enum backup_take how)
{
	char *dst = fs_join(st->dir, rel);
	int rc = 0;

	if (how != BACKUP_COPY && link(src, dst) == 0)
		goto record;
	if (how != BACKUP_COPY && errno == ENOENT) {
		st->vanished = true;
		goto done;
	}
	/* Another filesystem, or links not allowed: a copy. */
	if ((rc = stage_copy(src, dst)) == ERR_NOTFOUND) {
		st->vanished = true;
		rc = 0;
		goto done;
	}
	if (rc < 0)
		goto done;
record:
	rc = stage_record_file(st, rel, sb->st_mode,
	    how == BACKUP_LINK_DIGEST);
done:
	free(dst);
	return rc;
}

int
backup_stage_dir(struct backup_stage *st, const char *rel)
{
	char *src = fs_join(st->home, rel), *dst = fs_join(st->dir, rel);
	struct stat sb;
	int rc = 0;

	if (lstat(src, &sb) < 0 || !S_ISDIR(sb.st_mode))
		goto done;
	if (mkdir(dst, 0700) < 0) {
		if (errno != EEXIST)
			rc = err_sys("cannot make '%s'", dst);
		goto done;      /* already taken */
	}
	backup_list_add(&st->list, BACKUP_DIR, rel, sb.st_mode);
	backup_progress_tick(st->progress, 0, true);
done:
	free(dst);
	free(src);
	return rc;
}

int
backup_stage_file(struct backup_stage *st, const char *rel)
{
	char *src = fs_join(st->home, rel);
	struct stat sb;
	int rc = 0;

	if (lstat(src, &sb) == 0 && S_ISREG(sb.st_mode))
		rc = stage_take_file(st, rel, src, &sb, BACKUP_COPY);
	free(src);
	return rc;
}

static int
stage_symlink(struct backup_stage *st, const char *rel, const char *src)
{
	char target[4096], *dst;
	ssize_t n = readlink(src, target, sizeof(target) - 1);
	int rc = 0;

	if (n < 0) {
		if (errno == ENOENT) {
			st->vanished = true;
			return 0;
		}
		return err_sys("cannot read the symlink '%s'", src);
	}
	target[n] = '\0';
	if (!backup_symlink_is_safe(rel, target)) {
		/* Not ours to follow, and restore would refuse it. */
		fprintf(stderr, "backup: leaving out '%s': a symlink out of "
		    "the home\n", rel);
		return 0;
	}
	dst = fs_join(st->dir, rel);
	if (symlink(target, dst) < 0)
		rc = err_sys("cannot make '%s'", dst);
	else
		backup_list_add(&st->list, BACKUP_SYMLINK, rel, 0777)->target =
		    xstrdup(target);
	free(dst);
	return rc;
}

static int
stage_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
backup_stage_tree(struct backup_stage *st, const char *rel,
    backup_take_fn take)
{
	char *src = fs_join(st->home, rel), **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	if ((rc = backup_stage_dir(st, rel)) < 0)
		goto done;
	if ((d = opendir(src)) == NULL) {
		/* Gone since its parent was listed, or never there (a tree
		 * that is optional: only the git passes read vanished). */
		if (errno == ENOENT)
			st->vanished = true;
		else if (errno != ENOTDIR)
			rc = err_sys("cannot list '%s'", src);
		goto done;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	/* One order for one tree: the same home gives the same archive. */
	if (n > 1)
		qsort(names, n, sizeof(*names), stage_name_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *crel = fs_join(rel, names[i]);
		char *csrc = fs_join(st->home, crel);
		char *cdst = fs_join(st->dir, crel);
		struct stat sb, db;
		enum backup_take how;

		if (lstat(csrc, &sb) < 0) {
			if (errno == ENOENT)
				st->vanished = true;
			else
				rc = err_sys("cannot stat '%s'", csrc);
		} else if ((how = take(crel, S_ISDIR(sb.st_mode))) ==
		    BACKUP_SKIP) {
			;
		} else if (S_ISDIR(sb.st_mode)) {
			rc = backup_stage_tree(st, crel, take);
		} else if (lstat(cdst, &db) == 0) {
			;       /* taken by an earlier pass */
		} else if (S_ISREG(sb.st_mode)) {
			rc = stage_take_file(st, crel, csrc, &sb, how);
		} else if (S_ISLNK(sb.st_mode)) {
			rc = stage_symlink(st, crel, csrc);
		}
		/* Sockets, fifos, devices: runtime, never state. */
		free(cdst);
		free(csrc);
		free(crel);
	}
done:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(src);
	return rc;
}

/* 1. The store: sqlite3_backup_* from a read-only connection. */
static int
stage_store(struct backup_stage *st)
{
	char *src = home_store_path(st->home), *rel = "slipway.db";
	char *dst = fs_join(st->dir, rel);
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	struct stat sb;
	int rc = 0, s;

	if (stat(src, &sb) < 0) {
		rc = err_set(ERR_NOTFOUND, "'%s' is not a slipway home: it "
		    "has no store (slipway.db)", st->home);
		goto done;
	}
	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK ||
	    sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot open the store for a backup: %s",
		    sqlite3_errmsg(from ? (to ? to : from) : from));
		goto done;
	}
	sqlite3_busy_timeout(from, STAGE_STORE_BUSY_MS);
	if ((b = sqlite3_backup_init(to, "main", from, "main")) == NULL) {
		rc = err_set(ERR_IO, "cannot back up the store: %s",
		    sqlite3_errmsg(to));
		goto done;
	}
	/* All pages in one step: one read transaction, one state.  Busy
	 * means a writer is checkpointing; wait and go on. */
	while ((s = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	    s == SQLITE_LOCKED)
		sqlite3_sleep(50);
	sqlite3_backup_finish(b);
	if (s != SQLITE_DONE) {
		rc = err_set(ERR_IO, "cannot back up the store: %s",
		    sqlite3_errstr(s));
		goto done;
	}
	if (sqlite3_close(to) != SQLITE_OK) {
		rc = err_set(ERR_IO, "cannot write the store's copy: %s",
		    sqlite3_errmsg(to));
		goto done;
	}
	to = NULL;
	rc = stage_record_file(st, rel, sb.st_mode, false);
done:
	sqlite3_close(to);
	sqlite3_close(from);
	free(dst);
	free(src);
	return rc;
}

/* registry/: repositories/ (copied: tags change), blobs/ (linked). */
static enum backup_take
stage_take_registry_meta(const char *rel, bool is_dir)
{
	return BACKUP_COPY;
}

static enum backup_take
stage_take_registry_blob(const char *rel, bool is_dir)
{
	return is_dir ? BACKUP_COPY : BACKUP_LINK_DIGEST;
}

/* Every revision taken has its manifest blob in the snapshot. */
static int
stage_registry_check(struct backup_stage *st, const char *blobs)
{
	static const char mark[] = "/_manifests/revisions/sha256/";
	int rc = 0;

	for (size_t i = 0; i < st->list.n && rc == 0; i++) {
		const char *p = strstr(st->list.v[i].path, mark), *hex;
		char *blob;
		struct stat sb;

		if (p == NULL || st->list.v[i].type != BACKUP_FILE)
			continue;
		hex = p + strlen(mark);
		blob = xasprintf("%s/%s/sha256/%.2s/%s", st->dir, blobs, hex,
		    hex);
		if (lstat(blob, &sb) < 0)
			rc = err_set(ERR_IO, "the registry names the manifest "
			    "sha256:%.64s but has no blob of it: run 'slipway "
			    "registry gc --dry-run' to see what is damaged",
			    hex);
		free(blob);
	}
	return rc;
}

/* 2. The registry, gc held off. */
static int
stage_registry(struct backup_stage *st)
{
	char *root = home_registry_dir(st->home);
	const char *rel = "registry";
	char *repos = fs_join(rel, "repositories");
	char *blobs = fs_join(rel, "blobs");
	int hold = -1, rc;

	if ((rc = registry_gc_hold(&hold, root)) == ERR_NOTFOUND) {
		rc = 0;
		goto done;
	}
	if (rc < 0 ||
	    (rc = backup_stage_dir(st, rel)) < 0 ||
	    (rc = backup_stage_tree(st, repos, stage_take_registry_meta)) < 0 ||
	    (rc = backup_stage_tree(st, blobs, stage_take_registry_blob)) < 0)
		goto done;
	rc = stage_registry_check(st, blobs);
done:
	if (hold >= 0)
		close(hold);
	free(blobs);
	free(repos);
	free(root);
	return rc;
}

static enum backup_take
stage_take_copy(const char *rel, bool is_dir)
{
	return BACKUP_COPY;
}

/* A stack layout: blobs/sha256/<hex> are content-addressed. */
static enum backup_take
stage_take_stack(const char *rel, bool is_dir)
{
	const char *p = strstr(rel, "/blobs/sha256/");

	if (is_dir || p == NULL || strchr(p + strlen("/blobs/sha256/"), '/'))
		return BACKUP_COPY;
	return BACKUP_LINK_DIGEST;
}

char *
backup_stage_rel(const struct backup_stage *st, char *abs)
{
	size_t n = strlen(st->home);
	char *rel;

	while (abs[n] == '/')
		n++;
	rel = xstrdup(abs + n);
	free(abs);
	return rel;
}

/*
 * The proxy's routes, with every backend list emptied: the apps, their
 * domains and maintenance flags travel, the addresses of this machine's
 * containers do not.  Restored as they were, they would send an app's
 * requests to whatever listens on those ports on the new machine until
 * the runner's first rollout replaced them; empty, the app answers 502
 * until then.  A file that is not a routes file is left out, with a line.
 */
static int
stage_proxy_routes(struct backup_stage *st)
{
	char *src = home_proxy_routes_path(st->home);
	char *rel = backup_stage_rel(st, home_proxy_routes_path(st->home));
	char *dst = fs_join(st->dir, rel), *text = NULL;
	json_t *root = NULL, *routes, *o;
	struct stat sb;
	struct buf b;
	size_t i;
	int rc;

	if (lstat(src, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = 0;
		goto done;
	}
	if ((rc = fs_read_file(&b, src, STAGE_ROUTES_MAX)) < 0)
		goto done;
	root = json_loadb(b.ptr, b.len, 0, NULL);
	buf_free(&b);
	routes = json_object_get(root, "routes");
	if (!json_is_array(routes)) {
		fprintf(stderr, "backup: leaving out '%s': not a routes file\n",
		    rel);
		goto done;
	}
	json_array_foreach(routes, i, o)
		if (json_is_object(o))
			json_object_set_new(o, "backends", json_array());
	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL)
		abort();        /* only on allocation failure */
	if ((rc = fs_write_atomic(dst, text, strlen(text), 0600)) == 0)
		rc = stage_record_file(st, rel, sb.st_mode, false);
done:
	json_decref(root);
	free(text);
	free(dst);
	free(rel);
	free(src);
	return rc;
}

/* 4. Small files and trees.  Runtime state is not among them: the
 * runner's images, containers and runc state, sockets, locks, logs,
 * build logs and caches (docs/backup.md). */
static int
stage_rest(struct backup_stage *st)
{
	char *files[] = { backup_stage_rel(st, home_secret_path(st->home)),
	    backup_stage_rel(st, home_config_path(st->home)) };
	char *trees[] = { backup_stage_rel(st, home_ssh_dir(st->home)),
	    backup_stage_rel(st, home_up_dir(st->home)),
	    backup_stage_rel(st, home_buildpacks_dir(st->home)),
	    backup_stage_rel(st, home_certs_dir(st->home)) };
	char *stacks = backup_stage_rel(st, home_stacks_dir(st->home));
	int rc = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(*files) && rc == 0; i++)
		rc = backup_stage_file(st, files[i]);
	for (size_t i = 0; i < sizeof(trees) / sizeof(*trees) && rc == 0; i++)
		rc = backup_stage_tree(st, trees[i], stage_take_copy);
	if (rc == 0)
		rc = backup_stage_tree(st, stacks, stage_take_stack);
	if (rc == 0)
		rc = stage_proxy_routes(st);
	for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++)
		free(files[i]);
	for (size_t i = 0; i < sizeof(trees) / sizeof(*trees); i++)
		free(trees[i]);
	free(stacks);
	return rc;
}

int
backup_stage_make(struct backup_stage *st, const char *home,
    struct backup_progress *progress)
{
	char *tmpl = home_backup_stage_template(home);
	int rc;

	memset(st, 0, sizeof(*st));
	st->home = home;
	st->progress = progress;
	if (mkdtemp(tmpl) == NULL) {
		rc = err_sys("cannot make a snapshot directory in '%s'", home);
		free(tmpl);
		return rc;
	}
	st->dir = tmpl;
	if ((rc = stage_store(st)) < 0 ||
	    (rc = stage_registry(st)) < 0 ||
	    (rc = backup_stage_repos(st)) < 0 ||
	    (rc = stage_rest(st)) < 0)
		return rc;
	return 0;
}

void
backup_stage_free(struct backup_stage *st)
{
	if (st == NULL)
		return;
	if (st->dir) {
		fs_remove_tree(st->dir);
		free(st->dir);
	}
	backup_list_free(&st->list);
	memset(st, 0, sizeof(*st));
}
