/*
 * Images on disk: layers unpacked once per manifest digest into
 * <home>/runner/images/<hex>/rootfs, and their collection.
 *
 * An unpack builds the tree in images/.tmp-<hex>-XXXXXX, syncs it and
 * renames it to images/<hex>: a reader sees the whole image or none.  One
 * lock file per digest (images/.<hex>.lock, flock) serialises the unpacks
 * and the collection of one digest.  A lock file is only removed by the
 * collector while it holds the lock; whoever takes a lock checks that the
 * file it locked is still the one at the path, and tries again if not.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"

#define UNPACK_ENTRY_MAX (4ULL << 30)
#define UNPACK_TOTAL_MAX (16ULL << 30)
#define UNPACK_ENTRIES_MAX 1000000ULL

/* ---- a string set ---------------------------------------------------- */

static size_t
strset_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void
runner_strset_init(struct runner_strset *s)
{
	s->slots = NULL;
	s->cap = s->count = 0;
}

void
runner_strset_free(struct runner_strset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	runner_strset_init(s);
}

bool
runner_strset_has(const struct runner_strset *s, const char *key)
{
	if (s->cap == 0)
		return false;
	for (size_t i = strset_hash(key) & (s->cap - 1); s->slots[i];
	    i = (i + 1) & (s->cap - 1))
		if (strcmp(s->slots[i], key) == 0)
			return true;
	return false;
}

static void
strset_put(char **slots, size_t cap, char *key)
{
	size_t i = strset_hash(key) & (cap - 1);

	while (slots[i])
		i = (i + 1) & (cap - 1);
	slots[i] = key;
}

void
runner_strset_add(struct runner_strset *s, const char *key)
{
	if (runner_strset_has(s, key))
		return;
	if ((s->count + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **slots = xcalloc(cap, sizeof(*slots));
		for (size_t i = 0; i < s->cap; i++)
			if (s->slots[i])
				strset_put(slots, cap, s->slots[i]);
		free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	strset_put(s->slots, s->cap, xstrdup(key));
	s->count++;
}

void
runner_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* ---- unpacking ------------------------------------------------------- */

static int
unpack_layer(struct runner_unpack *u, const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r, rc = 0;

	/* Only tar, only gzip or nothing around it: no filter that would run
	 * an external program. */
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = err_set(ERR_INVALID, "layer %u: cannot read '%s': %s",
		    u->layer_no, path, archive_error_string(a));
		goto done;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	    r == ARCHIVE_WARN) {
		if ((rc = runner_unpack_entry(u, a, e)) < 0)
			goto done;
	}
	if (r != ARCHIVE_EOF)
		rc = err_set(ERR_INVALID, "layer %u: '%s' is not a valid tar "
		    "archive: %s", u->layer_no, path, archive_error_string(a));
done:
	archive_read_free(a);
	return rc;
}

int
runner_layers_unpack(const char *dir, const char *const *layers,
    size_t nlayers, const struct runner_unpack_opts *opts)
{
	struct runner_unpack u = { 0 };
	int rc = 0;

	u.rootpath = dir;
	u.root = geteuid() == 0;
	if (opts) {
		u.lim = opts->limits;
		u.warn = opts->warn;
		u.ctx = opts->ctx;
	}
	if (u.lim.entry_max == 0)
		u.lim.entry_max = UNPACK_ENTRY_MAX;
	if (u.lim.total_max == 0)
		u.lim.total_max = UNPACK_TOTAL_MAX;
	if (u.lim.entries_max == 0)
		u.lim.entries_max = UNPACK_ENTRIES_MAX;
	u.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (u.rootfd < 0)
		return err_sys("cannot open rootfs '%s'", dir);
	for (size_t i = 0; i < nlayers && rc == 0; i++) {
		u.layer = layers[i];
		u.layer_no = (unsigned)i + 1;
		u.xattr_warned = false;
		runner_strset_init(&u.seen);
		rc = unpack_layer(&u, layers[i]);
		runner_strset_free(&u.seen);
	}
	close(u.rootfd);
	return rc;
}

static int
runner_image_hex(const char **hex, const char *digest)
{
	enum digest_algo algo;

	if (digest == NULL || digest_parse(digest, &algo, hex) < 0)
		return err_set(ERR_INVALID, "'%s' is not an image digest",
		    digest ? digest : "");
	return 0;
}

/* Take the lock of one digest.  nonblock: ERR_CONFLICT when busy.
 * Returns the locked fd. */
static int
runner_image_lock(const char *images, const char *hex, bool nonblock)
{
	char *path = xasprintf("%s/.%s.lock", images, hex);
	int fd = -1, rc;

	for (;;) {
		struct stat a, b;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			rc = err_sys("cannot open lock '%s'", path);
			goto done;
		}
		while ((rc = flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0))) < 0
		    && errno == EINTR)
			;
		if (rc < 0) {
			rc = errno == EWOULDBLOCK ?
			    err_set(ERR_CONFLICT, "image '%s' is busy", hex) :
			    err_sys("cannot lock '%s'", path);
			close(fd);
			fd = -1;
			goto done;
		}
		/* The collector may have removed the file we locked. */
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			break;
		close(fd);
	}
	rc = fd;
done:
	free(path);
	return rc;
}

int
runner_image_path(char **out, const char *home, const char *digest)
{
	const char *hex;
	char *p;
	int rc;

	if ((rc = runner_image_hex(&hex, digest)) < 0)
		return rc;
	p = xasprintf("%s/runner/images/%s/rootfs", home, hex);
	if (!fs_is_dir(p)) {
		free(p);
		return err_set(ERR_NOTFOUND, "image '%s' is not unpacked",
		    digest);
	}
	*out = p;
	return 0;
}

int
runner_image_unpack(char **out_rootfs, const char *home, const char *digest,
    const char *const *layers, size_t nlayers,
    const struct runner_unpack_opts *opts)
{
	char *images = NULL, *final = NULL, *rootfs = NULL, *tmp = NULL;
	char *tmproot = NULL;
	const char *hex;
	int lock = -1, rc;

	if ((rc = runner_image_hex(&hex, digest)) < 0)
		return rc;
	images = xasprintf("%s/runner/images", home);
	final = xasprintf("%s/%s", images, hex);
	rootfs = xasprintf("%s/rootfs", final);
	if ((rc = fs_mkdir_p(images, 0755)) < 0)
		goto done;
	if ((rc = lock = runner_image_lock(images, hex, false)) < 0)
		goto done;
	if (fs_is_dir(rootfs))
		goto done;	/* unpacked before, or by whom we waited for */
	if (fs_exists(final) && (rc = fs_remove_tree(final)) < 0)
		goto done;
	tmp = xasprintf("%s/.tmp-%s-XXXXXX", images, hex);
	if (mkdtemp(tmp) == NULL) {
		rc = err_sys("cannot make a directory in '%s'", images);
		free(tmp);
		tmp = NULL;
		goto done;
	}
	chmod(tmp, 0755);
	tmproot = xasprintf("%s/rootfs", tmp);
	if (mkdir(tmproot, 0755) < 0) {
		rc = err_sys("cannot make '%s'", tmproot);
		goto done;
	}
	if ((rc = runner_layers_unpack(tmproot, layers, nlayers, opts)) < 0) {
		err_wrap(rc, "cannot unpack image '%s'", digest);
		goto done;
	}
	{
		json_t *meta = json_pack("{s:s, s:i, s:I}", "digest", digest,
		    "layers", (int)nlayers, "unpacked_at", (json_int_t)time(NULL));
		char *text = json_dumps(meta, JSON_SORT_KEYS);
		char *mp = xasprintf("%s/image.json", tmp);
		rc = fs_write_atomic(mp, text, strlen(text), 0644);
		free(mp);
		free(text);
		json_decref(meta);
		if (rc < 0)
			goto done;
	}
	{
		/* One syncfs for the whole tree before it becomes visible. */
		int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			syncfs(dfd);
			close(dfd);
		}
	}
	if (rename(tmp, final) < 0) {
		rc = err_sys("cannot rename '%s' to '%s'", tmp, final);
		goto done;
	}
	free(tmp);
	tmp = NULL;
	rc = fs_fsync_parent(final);
done:
	if (tmp)
		fs_remove_tree(tmp);
	if (lock >= 0)
		close(lock);
	if (rc >= 0 && out_rootfs) {
		*out_rootfs = rootfs;
		rootfs = NULL;
	}
	free(tmproot);
	free(tmp);
	free(rootfs);
	free(final);
	free(images);
	return rc < 0 ? rc : 0;
}

/* ---- collection ------------------------------------------------------ */

static int
release_cmp(const void *a, const void *b)
{
	const struct runner_release_ref *x = *(const struct runner_release_ref
	    *const *)a, *y = *(const struct runner_release_ref *const *)b;
	int c = strcmp(x->app, y->app);

	if (c)
		return c;
	return x->number < y->number ? 1 : x->number > y->number ? -1 : 0;
}

int
runner_images_keep_select(char ***out,
    const struct runner_release_ref *releases, size_t n,
    unsigned keep_per_app)
{
	const struct runner_release_ref **v = xcalloc(n + 1, sizeof(*v));
	struct runner_strset seen;
	char **keep = xcalloc(n + 1, sizeof(*keep));
	size_t k = 0, run = 0;

	for (size_t i = 0; i < n; i++) {
		if (releases[i].app == NULL ||
		    !digest_is_valid(releases[i].digest)) {
			free(v);
			free(keep);
			return err_set(ERR_INVALID, "release %zu has no valid "
			    "app or digest", i);
		}
		v[i] = &releases[i];
	}
	qsort(v, n, sizeof(*v), release_cmp);
	runner_strset_init(&seen);
	for (size_t i = 0; i < n; i++) {
		run = (i > 0 && strcmp(v[i]->app, v[i - 1]->app) == 0) ?
		    run + 1 : 0;
		if (run >= keep_per_app || runner_strset_has(&seen, v[i]->digest))
			continue;
		runner_strset_add(&seen, v[i]->digest);
		keep[k++] = xstrdup(v[i]->digest);
	}
	runner_strset_free(&seen);
	free(v);
	*out = keep;
	return 0;
}

static bool
hex_is_valid(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return s[n] == '\0' && (n == 64 || n == 128);
}

int
runner_images_gc(const char *home, char *const *keep, unsigned *removed)
{
	char *images = xasprintf("%s/runner/images", home);
	char **inuse = runner_home_images_in_use(home);
	struct runner_strset hold;
	struct dirent *d;
	unsigned count = 0;
	DIR *dir;
	int rc = 0;

	runner_strset_init(&hold);
	for (char *const *p = keep; p && *p; p++) {
		const char *hex;
		if (runner_image_hex(&hex, *p) == 0)
			runner_strset_add(&hold, hex);
	}
	for (char **p = inuse; p && *p; p++) {
		const char *hex;
		if (runner_image_hex(&hex, *p) == 0)
			runner_strset_add(&hold, hex);
	}
	if ((dir = opendir(images)) == NULL) {
		rc = errno == ENOENT ? 0 : err_sys("cannot read '%s'", images);
		goto done;
	}
	while ((d = readdir(dir)) != NULL) {
		char hex[129], *path, *gone;
		const char *name = d->d_name;
		bool tmp = strncmp(name, ".tmp-", 5) == 0;
		int lock;

		/* A collection that died half-way left this. */
		if (strncmp(name, ".gc-", 4) == 0) {
			char *p = xasprintf("%s/%s", images, name);
			fs_remove_tree(p);
			free(p);
			continue;
		}

		if (tmp) {
			const char *dash = strchr(name + 5, '-');
			size_t n = dash ? (size_t)(dash - name - 5) : 0;
			if (n == 0 || n >= sizeof(hex))
				continue;
			memcpy(hex, name + 5, n);
			hex[n] = '\0';
		} else {
			if (strlen(name) >= sizeof(hex))
				continue;
			memcpy(hex, name, strlen(name) + 1);
		}
		if (!hex_is_valid(hex) || (!tmp && runner_strset_has(&hold, hex)))
			continue;
		/* An unpack in progress holds the lock: leave it alone. */
		if ((lock = runner_image_lock(images, hex, true)) < 0)
			continue;
		path = xasprintf("%s/%s", images, name);
		gone = xasprintf("%s/.gc-%s", images, name);
		if (rename(path, gone) == 0) {
			if (fs_remove_tree(gone) < 0)
				log_warnx("runner: %s", err_last());
			if (!tmp) {
				count++;
				log_info("runner: removed image sha256:%s", hex);
			}
		}
		if (!tmp) {
			char *lp = xasprintf("%s/.%s.lock", images, hex);
			/* while we hold it; see runner_image_lock */
			unlink(lp);
			free(lp);
		}
		close(lock);
		free(path);
		free(gone);
	}
	closedir(dir);
done:
	runner_strset_free(&hold);
	runner_strv_free(inuse);
	free(images);
	if (removed)
		*removed = count;
	return rc;
}
