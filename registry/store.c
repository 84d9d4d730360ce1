/*
 * The registry's blob store and repository metadata on disk; the layout is
 * drawn in registry_int.h.  Every file appears by rename, so a reader sees
 * a whole blob, link, tag or revision, or none.  Temp files live in tmp/,
 * never beside what they become, so listing a tags or blobs directory never
 * shows a half-written name.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "registry_int.h"

static bool
name_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool
registry_name_valid(const char *name)
{
	const char *p = name;

	if (name == NULL || *name == '\0' || strlen(name) > REGISTRY_NAME_MAX)
		return false;
	for (;;) {
		/* each component, and each part after a separator, starts
		 * with [a-z0-9]+ */
		if (!name_alnum(*p))
			return false;
		while (name_alnum(*p))
			p++;
		if (*p == '\0')
			return true;
		if (*p == '.' || *p == '/') {
			p++;
		} else if (*p == '_') {
			p++;
			if (*p == '_')
				p++;
		} else if (*p == '-') {
			while (*p == '-')
				p++;
		} else {
			return false;
		}
	}
}

bool
registry_tag_valid(const char *tag)
{
	size_t n;

	if (tag == NULL || (n = strlen(tag)) == 0 || n > REGISTRY_TAG_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = tag[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' ||
		    (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return false;
	}
	return true;
}

bool
registry_uuid_valid(const char *uuid)
{
	if (uuid == NULL || strlen(uuid) != REGISTRY_UUID_LEN)
		return false;
	for (const char *p = uuid; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int
registry_store_open(struct registry_store **out, const char *root)
{
	struct registry_store *s = xcalloc(1, sizeof(*s));
	const char *dirs[4];
	int rc;

	s->root = xstrdup(root);
	s->blobs = fs_join(root, "blobs");
	s->repos = fs_join(root, "repositories");
	s->uploads = fs_join(root, "uploads");
	s->tmp = fs_join(root, "tmp");
	s->lock = fs_join(root, "gc.lock");
	dirs[0] = s->blobs;
	dirs[1] = s->repos;
	dirs[2] = s->uploads;
	dirs[3] = s->tmp;
	for (int i = 0; i < 4; i++) {
		if ((rc = fs_mkdir_p(dirs[i], 0755)) < 0) {
			registry_store_free(s);
			return err_wrap(rc, "cannot open the registry in '%s'",
			    root);
		}
	}
	*out = s;
	return 0;
}

void
registry_store_free(struct registry_store *s)
{
	if (s == NULL)
		return;
	free(s->root);
	free(s->blobs);
	free(s->repos);
	free(s->uploads);
	free(s->tmp);
	free(s->lock);
	free(s);
}

/* mkdir -p of the directory holding path. */
static int
registry_store_mkparent(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash && slash != dir) {
		*slash = '\0';
		rc = fs_mkdir_p(dir, 0755);
	}
	free(dir);
	return rc;
}

int
registry_store_write(const struct registry_store *s, const char *path,
    const void *data, size_t len)
{
	char *tmp = fs_join(s->tmp, "w.XXXXXX");
	const char *p = data;
	int fd, rc;

	if ((rc = registry_store_mkparent(path)) < 0)
		goto done;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		rc = err_sys("cannot create a temp file in '%s'", s->tmp);
		goto done;
	}
	fchmod(fd, 0644);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys("cannot write '%s'", tmp);
			fs_tmp_abort(fd, tmp);
			goto done;
		}
		p += n;
		len -= (size_t)n;
	}
	rc = fs_tmp_commit(fd, tmp, path);
done:
	free(tmp);
	return rc;
}

int
registry_store_lock(const struct registry_store *s, bool exclusive)
{
	int fd = open(s->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return err_sys("cannot open '%s'", s->lock);
	while (flock(fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
		if (errno != EINTR) {
			int rc = err_sys("cannot lock '%s'", s->lock);
			close(fd);
			return rc;
		}
	}
	return fd;
}

void
registry_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);      /* drops the flock */
}

/* "<base>/<algo>/<hex>" (with fan-out "<2>/" for blobs). */
static char *
registry_store_digest_path(const char *base, const char *digest, bool fanout)
{
	enum digest_algo algo;
	const char *hex;

	if (digest_parse(digest, &algo, &hex) < 0)
		return NULL;
	if (fanout)
		return xasprintf("%s/%s/%.2s/%s", base, digest_algo_name(algo),
		    hex, hex);
	return xasprintf("%s/%s/%s", base, digest_algo_name(algo), hex);
}

char *
registry_blob_path(const struct registry_store *s, const char *digest)
{
	return registry_store_digest_path(s->blobs, digest, true);
}

int
registry_blob_stat(const struct registry_store *s, const char *digest,
    uint64_t *size)
{
	char *path = registry_blob_path(s, digest);
	struct stat st;
	int rc = 0;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	if (stat(path, &st) < 0)
		rc = errno == ENOENT ? err_set(ERR_NOTFOUND, "blob '%s' is "
		    "not in the registry", digest) :
		    err_sys("cannot stat '%s'", path);
	else if (size)
		*size = (uint64_t)st.st_size;
	free(path);
	return rc;
}

int
registry_blob_open(const struct registry_store *s, const char *digest,
    int *fd, uint64_t *size)
{
	char *path = registry_blob_path(s, digest);
	struct stat st;
	int rc = 0;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		rc = errno == ENOENT ? err_set(ERR_NOTFOUND, "blob '%s' is "
		    "not in the registry", digest) :
		    err_sys("cannot open '%s'", path);
	} else if (fstat(*fd, &st) < 0) {
		rc = err_sys("cannot stat '%s'", path);
		close(*fd);
		*fd = -1;
	} else {
		*size = (uint64_t)st.st_size;
	}
	free(path);
	return rc;
}

int
registry_blob_read(struct buf *out, const struct registry_store *s,
    const char *digest, size_t max)
{
	char *path = registry_blob_path(s, digest);
	int rc;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	rc = fs_read_file(out, path, max);
	free(path);
	return rc;
}

int
registry_blob_write(const struct registry_store *s, const char *digest,
    const void *data, size_t len)
{
	char *path = registry_blob_path(s, digest);
	int rc;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	rc = registry_store_write(s, path, data, len);
	free(path);
	return rc;
}

int
registry_blob_commit(const struct registry_store *s, const char *digest,
    const char *from)
{
	char *path = registry_blob_path(s, digest);
	int rc = 0;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	if ((rc = registry_store_mkparent(path)) < 0)
		goto done;
	if (rename(from, path) < 0) {
		rc = err_sys("cannot rename '%s' to '%s'", from, path);
		goto done;
	}
	rc = fs_fsync_parent(path);
done:
	free(path);
	return rc;
}

void
registry_blob_touch(const struct registry_store *s, const char *digest)
{
	char *path = registry_blob_path(s, digest);

	if (path && utimensat(AT_FDCWD, path, NULL, 0) < 0 && errno != ENOENT)
		log_warn("cannot touch '%s'", path);
	free(path);
}

static char *
registry_store_link_path(const struct registry_store *s, const char *repo,
    const char *digest)
{
	char *base = xasprintf("%s/%s/_layers", s->repos, repo);
	char *p = registry_store_digest_path(base, digest, false);

	free(base);
	return p;
}

bool
registry_link_has(const struct registry_store *s, const char *repo,
    const char *digest)
{
	char *path = registry_store_link_path(s, repo, digest);
	bool ok = path && access(path, F_OK) == 0;

	free(path);
	return ok;
}

/* Create an empty file (idempotent), its directories made on demand. */
static int
registry_store_touch_new(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 && errno == ENOENT) {
		int rc = registry_store_mkparent(path);
		if (rc < 0)
			return rc;
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return err_sys("cannot create '%s'", path);
	close(fd);
	return fs_fsync_parent(path);
}

int
registry_link_add(const struct registry_store *s, const char *repo,
    const char *digest)
{
	char *path = registry_store_link_path(s, repo, digest);
	int rc;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	rc = registry_store_touch_new(path);
	free(path);
	return rc;
}

static int
registry_store_unlink(const char *path, const char *what)
{
	if (path == NULL)
		return err_set(ERR_INVALID, "not a digest");
	if (unlink(path) < 0)
		return errno == ENOENT ? err_set(ERR_NOTFOUND, "%s not found",
		    what) : err_sys("cannot remove '%s'", path);
	return fs_fsync_parent(path);
}

int
registry_link_remove(const struct registry_store *s, const char *repo,
    const char *digest)
{
	char *path = registry_store_link_path(s, repo, digest);
	int rc = registry_store_unlink(path, "blob");

	free(path);
	return rc;
}

static char *
registry_store_revision_path(const struct registry_store *s, const char *repo,
    const char *digest)
{
	char *base = xasprintf("%s/%s/_manifests/revisions", s->repos, repo);
	char *p = registry_store_digest_path(base, digest, false);

	free(base);
	return p;
}

int
registry_revision_get(char **media_type, const struct registry_store *s,
    const char *repo, const char *digest)
{
	char *path = registry_store_revision_path(s, repo, digest);
	struct buf b;
	int rc;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	rc = fs_read_file(&b, path, 256);
	free(path);
	if (rc == ERR_NOTFOUND)
		return err_set(ERR_NOTFOUND, "manifest '%s' is not in '%s'",
		    digest, repo);
	if (rc < 0)
		return rc;
	if (media_type)
		*media_type = buf_detach(&b, NULL);
	else
		buf_free(&b);
	return 0;
}

int
registry_revision_put(const struct registry_store *s, const char *repo,
    const char *digest, const char *media_type)
{
	char *path = registry_store_revision_path(s, repo, digest);
	int rc;

	if (path == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", digest);
	rc = registry_store_write(s, path, media_type, strlen(media_type));
	free(path);
	return rc;
}

int
registry_revision_remove(const struct registry_store *s, const char *repo,
    const char *digest)
{
	char *path = registry_store_revision_path(s, repo, digest);
	int rc = registry_store_unlink(path, "manifest");

	free(path);
	return rc;
}

static char *
registry_store_tag_path(const struct registry_store *s, const char *repo,
    const char *tag)
{
	return xasprintf("%s/%s/_manifests/tags/%s", s->repos, repo, tag);
}

int
registry_tag_get(char out[DIGEST_STR_MAX], const struct registry_store *s,
    const char *repo, const char *tag)
{
	char *path = registry_store_tag_path(s, repo, tag);
	ssize_t n;
	int fd, rc = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = errno == ENOENT ? err_set(ERR_NOTFOUND, "tag '%s' is "
		    "not in '%s'", tag, repo) : err_sys("cannot open '%s'",
		    path);
		goto done;
	}
	n = read(fd, out, DIGEST_STR_MAX - 1);
	close(fd);
	if (n < 0) {
		rc = err_sys("cannot read '%s'", path);
		goto done;
	}
	out[n] = '\0';
	if (!digest_is_valid(out))
		rc = err_set(ERR_IO, "tag file '%s' holds no digest", path);
done:
	free(path);
	return rc;
}

int
registry_tag_set(const struct registry_store *s, const char *repo,
    const char *tag, const char *digest)
{
	char *path = registry_store_tag_path(s, repo, tag);
	int rc = registry_store_write(s, path, digest, strlen(digest));

	free(path);
	return rc;
}

int
registry_tag_remove(const struct registry_store *s, const char *repo,
    const char *tag)
{
	char *path = registry_store_tag_path(s, repo, tag);
	int rc = registry_store_unlink(path, "tag");

	free(path);
	return rc;
}

void
registry_strv_push(struct registry_strv *l, const char *s)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(s);
}

static int
strv_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
registry_strv_sort(struct registry_strv *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), strv_cmp);
}

void
registry_strv_free(struct registry_strv *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

bool
registry_repo_exists(const struct registry_store *s, const char *repo)
{
	char *a = xasprintf("%s/%s/_manifests", s->repos, repo);
	char *b = xasprintf("%s/%s/_layers", s->repos, repo);
	bool ok = fs_is_dir(a) || fs_is_dir(b);

	free(a);
	free(b);
	return ok;
}

int
registry_tag_list(struct registry_strv *out, const struct registry_store *s,
    const char *repo)
{
	char *path;
	DIR *d;
	struct dirent *e;

	memset(out, 0, sizeof(*out));
	if (!registry_repo_exists(s, repo))
		return err_set(ERR_NOTFOUND, "repository '%s' is not known",
		    repo);
	path = xasprintf("%s/%s/_manifests/tags", s->repos, repo);
	if ((d = opendir(path)) == NULL) {
		int rc = errno == ENOENT ? 0 : err_sys("cannot list '%s'",
		    path);
		free(path);
		return rc;
	}
	while ((e = readdir(d)) != NULL)
		if (registry_tag_valid(e->d_name))
			registry_strv_push(out, e->d_name);
	closedir(d);
	free(path);
	registry_strv_sort(out);
	return 0;
}

static bool
registry_store_entry_is_dir(DIR *d, const struct dirent *e)
{
	struct stat st;

	if (e->d_type == DT_DIR)
		return true;
	if (e->d_type != DT_UNKNOWN)
		return false;
	return fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode);
}

/* Walk dir (repository name so far: name, "" at the top). */
static int
registry_store_repo_walk(struct registry_strv *out, const char *dir,
    const char *name, int depth)
{
	struct dirent *e;
	bool is_repo = false;
	DIR *d;
	int rc = 0;

	if (depth > REGISTRY_NAME_MAX / 2)
		return 0;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : err_sys("cannot list '%s'", dir);
	while ((e = readdir(d)) != NULL && rc == 0) {
		if (e->d_name[0] == '.')
			continue;
		if (strcmp(e->d_name, "_manifests") == 0 ||
		    strcmp(e->d_name, "_layers") == 0) {
			is_repo = true;
			continue;
		}
		if (e->d_name[0] == '_' || !registry_store_entry_is_dir(d, e))
			continue;
		char *sub = fs_join(dir, e->d_name);
		char *subname = name[0] ? xasprintf("%s/%s", name, e->d_name) :
		    xstrdup(e->d_name);
		if (registry_name_valid(subname))
			rc = registry_store_repo_walk(out, sub, subname,
			    depth + 1);
		free(sub);
		free(subname);
	}
	closedir(d);
	if (is_repo && name[0])
		registry_strv_push(out, name);
	return rc;
}

int
registry_repo_list(struct registry_strv *out, const struct registry_store *s)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = registry_store_repo_walk(out, s->repos, "", 0)) < 0) {
		registry_strv_free(out);
		return rc;
	}
	registry_strv_sort(out);
	return 0;
}

/* _referrers/<algo>/<hex> of subject, or with file the entry of digest. */
static char *
registry_store_referrer_path(const struct registry_store *s, const char *repo,
    const char *subject, const char *digest)
{
	char *base = xasprintf("%s/%s/_referrers", s->repos, repo);
	char *dir = registry_store_digest_path(base, subject, false);
	char *p = dir;

	free(base);
	if (dir && digest) {
		enum digest_algo algo;
		const char *hex;

		if (digest_parse(digest, &algo, &hex) < 0) {
			free(dir);
			return NULL;
		}
		p = xasprintf("%s/%s-%s", dir, digest_algo_name(algo), hex);
		free(dir);
	}
	return p;
}

int
registry_referrer_put(const struct registry_store *s, const char *repo,
    const char *subject, const char *digest, const char *desc)
{
	char *path = registry_store_referrer_path(s, repo, subject, digest);
	int rc;

	if (path == NULL)
		return err_set(ERR_INVALID, "bad subject or digest");
	rc = registry_store_write(s, path, desc, strlen(desc));
	free(path);
	return rc;
}

int
registry_referrer_remove(const struct registry_store *s, const char *repo,
    const char *subject, const char *digest)
{
	char *path = registry_store_referrer_path(s, repo, subject, digest);
	int rc = registry_store_unlink(path, "referrer");

	free(path);
	return rc;
}

static int
referrer_cmp(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *dx = json_string_value(json_object_get(x, "digest"));
	const char *dy = json_string_value(json_object_get(y, "digest"));

	return strcmp(dx ? dx : "", dy ? dy : "");
}

int
registry_referrer_list(json_t **out, const struct registry_store *s,
    const char *repo, const char *subject, const char *filter)
{
	char *dir = registry_store_referrer_path(s, repo, subject, NULL);
	json_t **v = NULL, *arr;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	if (dir == NULL)
		return err_set(ERR_INVALID, "'%.80s' is not a digest", subject);
	arr = json_array();
	if ((d = opendir(dir)) == NULL) {
		free(dir);
		if (errno == ENOENT) {
			*out = arr;
			return 0;
		}
		json_decref(arr);
		return err_sys("cannot list the referrers of '%s'", subject);
	}
	while ((e = readdir(d)) != NULL) {
		char *path;
		struct buf b;
		json_t *j, *at;

		if (e->d_name[0] == '.')
			continue;
		path = fs_join(dir, e->d_name);
		if (fs_read_file(&b, path, REGISTRY_MANIFEST_MAX) < 0) {
			log_warnx("registry: skipping referrer '%s': %s", path,
			    err_last());
			free(path);
			continue;
		}
		free(path);
		j = json_loadb(b.ptr, b.len, 0, NULL);
		buf_free(&b);
		if (!json_is_object(j)) {
			json_decref(j);
			continue;
		}
		at = json_object_get(j, "artifactType");
		if (filter && (!json_is_string(at) ||
		    strcmp(json_string_value(at), filter) != 0)) {
			json_decref(j);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = j;
	}
	closedir(d);
	free(dir);
	if (n > 1)
		qsort(v, n, sizeof(*v), referrer_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
	*out = arr;
	return 0;
}
