/*
 * Garbage collection of the blob store: mark every digest any manifest
 * revision of any repository names (the manifest itself, config, layers,
 * index children, subject), then sweep the blobs nobody marked.
 *
 * Racing pushes.  A push uploads blobs first and names them in a manifest
 * last, so at any moment the store holds blobs no manifest references yet.
 * Two rules keep gc from taking them:
 *   1. Grace: a blob whose mtime is younger than upload_age before gc
 *      started is kept.  An upload's commit sets the mtime to now, and so
 *      do a HEAD that answers "exists" (the client may now skip the upload
 *      and name the blob) and a mount.  A client that waits longer than
 *      upload_age between those and its manifest PUT gets
 *      MANIFEST_BLOB_UNKNOWN and must push the blob again: an error, never
 *      a manifest naming a missing blob.
 *   2. Lock: gc holds the store's gc.lock exclusively from the start of
 *      the mark to the end of the sweep; a manifest PUT holds it shared
 *      from checking its blobs to writing its revision (and a mount or a
 *      HEAD while touching).  So a manifest is either written before the
 *      mark (and marked) or checks its blobs after the sweep (and sees
 *      what is really there).
 * Uploads in progress are not blobs yet; their sessions go only when idle
 * past upload_age and not locked by a writing request (store_upload.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "registry_int.h"

/* Names in dir (files or dirs, not "." or ".."); ERR_NOTFOUND is an empty
 * list. */
static int
gc_list(struct registry_strv *out, const char *dir)
{
	struct dirent *e;
	DIR *d;

	memset(out, 0, sizeof(*out));
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : err_sys("cannot list '%s'", dir);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			registry_strv_push(out, e->d_name);
	closedir(d);
	registry_strv_sort(out);
	return 0;
}

static bool
gc_marked(const struct registry_strv *marks, const char *digest)
{
	size_t lo = 0, hi = marks->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(marks->v[mid], digest);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Mark from one revision of repo. */
static int
gc_mark_manifest(struct registry_strv *marks, const struct registry_store *s,
    const char *repo, const char *digest)
{
	struct registry_manifest *m = NULL;
	char *mt = NULL;
	struct buf b;
	int rc;

	registry_strv_push(marks, digest);
	if ((rc = registry_revision_get(&mt, s, repo, digest)) < 0)
		return rc;
	rc = registry_blob_read(&b, s, digest, REGISTRY_MANIFEST_MAX);
	if (rc == ERR_NOTFOUND) {
		/* nothing left to keep alive through it */
		log_warnx("registry gc: manifest %s of '%s' has no content",
		    digest, repo);
		free(mt);
		return 0;
	}
	if (rc < 0)
		goto done;
	rc = registry_manifest_parse(&m, b.ptr, b.len, mt);
	buf_free(&b);
	if (rc < 0) {
		err_wrap(rc, "cannot read manifest %s of '%s'", digest, repo);
		goto done;
	}
	for (size_t i = 0; i < m->nrefs; i++)
		registry_strv_push(marks, m->refs[i].digest);
	if (m->subject[0])
		registry_strv_push(marks, m->subject);
done:
	registry_manifest_free(m);
	free(mt);
	return rc;
}

static int
gc_mark(struct registry_strv *marks, unsigned *nmanifests,
    const struct registry_store *s)
{
	struct registry_strv repos, algos, hexes;
	int rc;

	if ((rc = registry_repo_list(&repos, s)) < 0)
		return rc;
	for (size_t r = 0; r < repos.n && rc == 0; r++) {
		char *dir = xasprintf("%s/%s/_manifests/revisions", s->repos,
		    repos.v[r]);

		if ((rc = gc_list(&algos, dir)) < 0) {
			free(dir);
			break;
		}
		for (size_t a = 0; a < algos.n && rc == 0; a++) {
			char *adir = fs_join(dir, algos.v[a]);

			rc = gc_list(&hexes, adir);
			for (size_t h = 0; h < hexes.n && rc == 0; h++) {
				char *digest = xasprintf("%s:%s", algos.v[a],
				    hexes.v[h]);

				if (digest_is_valid(digest)) {
					rc = gc_mark_manifest(marks, s,
					    repos.v[r], digest);
					(*nmanifests)++;
				}
				free(digest);
			}
			registry_strv_free(&hexes);
			free(adir);
		}
		registry_strv_free(&algos);
		free(dir);
	}
	registry_strv_free(&repos);
	registry_strv_sort(marks);
	return rc;
}

/* Sweep blobs/<algo>/<2>/<hex>; what goes (or would) is added to gone. */
static int
gc_sweep(struct registry_gc_report *rep, struct registry_strv *gone,
    const struct registry_store *s, const struct registry_strv *marks,
    time_t cutoff, bool dry_run)
{
	struct registry_strv algos, fans, hexes;
	int rc;

	if ((rc = gc_list(&algos, s->blobs)) < 0)
		return rc;
	for (size_t a = 0; a < algos.n && rc == 0; a++) {
		char *adir = fs_join(s->blobs, algos.v[a]);

		rc = gc_list(&fans, adir);
		for (size_t f = 0; f < fans.n && rc == 0; f++) {
			char *fdir = fs_join(adir, fans.v[f]);

			rc = gc_list(&hexes, fdir);
			for (size_t h = 0; h < hexes.n && rc == 0; h++) {
				char *path = fs_join(fdir, hexes.v[h]);
				char *digest = xasprintf("%s:%s", algos.v[a],
				    hexes.v[h]);
				struct stat st;

				if (!digest_is_valid(digest) ||
				    lstat(path, &st) < 0 ||
				    !S_ISREG(st.st_mode)) {
					/* not ours: leave it */
				} else if (gc_marked(marks, digest) ||
				    st.st_mtime >= cutoff) {
					rep->blobs_kept++;
				} else if (!dry_run && unlink(path) < 0) {
					rc = err_sys("cannot remove '%s'",
					    path);
				} else {
					rep->blobs_removed++;
					rep->bytes_removed +=
					    (uint64_t)st.st_size;
					registry_strv_push(gone, digest);
				}
				free(digest);
				free(path);
			}
			/* empty fan-out dirs stay: removing one could race
			 * an upload's commit making it */
			registry_strv_free(&hexes);
			free(fdir);
		}
		registry_strv_free(&fans);
		free(adir);
	}
	registry_strv_free(&algos);
	registry_strv_sort(gone);
	return rc;
}

/* Drop repository links to blobs that are gone. */
static int
gc_links(struct registry_gc_report *rep, const struct registry_store *s,
    const struct registry_strv *gone, bool dry_run)
{
	struct registry_strv repos, algos, hexes;
	int rc;

	if ((rc = registry_repo_list(&repos, s)) < 0)
		return rc;
	for (size_t r = 0; r < repos.n && rc == 0; r++) {
		char *dir = xasprintf("%s/%s/_layers", s->repos, repos.v[r]);

		rc = gc_list(&algos, dir);
		for (size_t a = 0; a < algos.n && rc == 0; a++) {
			char *adir = fs_join(dir, algos.v[a]);

			rc = gc_list(&hexes, adir);
			for (size_t h = 0; h < hexes.n && rc == 0; h++) {
				char *digest = xasprintf("%s:%s", algos.v[a],
				    hexes.v[h]);

				if (gc_marked(gone, digest) ||
				    (digest_is_valid(digest) &&
				    registry_blob_stat(s, digest, NULL) ==
				    ERR_NOTFOUND)) {
					rep->links_removed++;
					if (!dry_run)
						registry_link_remove(s,
						    repos.v[r], digest);
				}
				free(digest);
			}
			registry_strv_free(&hexes);
			free(adir);
		}
		registry_strv_free(&algos);
		free(dir);
	}
	registry_strv_free(&repos);
	return rc;
}

int
registry_gc(struct registry_gc_report *out, const char *root,
    const struct registry_gc_opts *opts)
{
	struct registry_store *s = NULL;
	struct registry_strv marks = { 0 }, gone = { 0 };
	unsigned age = opts->upload_age ? opts->upload_age :
	    REGISTRY_UPLOAD_AGE_DEFAULT;
	time_t cutoff;
	int lk = -1, rc;

	memset(out, 0, sizeof(*out));
	if (!fs_is_dir(root))
		return err_set(ERR_NOTFOUND, "no registry in '%s'", root);
	if ((rc = registry_store_open(&s, root)) < 0)
		return rc;
	if ((lk = registry_store_lock(s, true)) < 0) {
		rc = lk;
		goto done;
	}
	cutoff = time(NULL) - (time_t)age;
	if ((rc = gc_mark(&marks, &out->manifests, s)) < 0) {
		err_wrap(rc, "nothing removed");
		goto done;
	}
	if ((rc = gc_sweep(out, &gone, s, &marks, cutoff, opts->dry_run)) < 0)
		goto done;
	if ((rc = gc_links(out, s, &gone, opts->dry_run)) < 0)
		goto done;
	registry_store_unlock(lk);
	lk = -1;
	rc = registry_upload_sweep(&out->uploads_removed, s, age,
	    opts->dry_run);
done:
	registry_store_unlock(lk);
	registry_strv_free(&marks);
	registry_strv_free(&gone);
	registry_store_free(s);
	return rc;
}

int
registry_gc_hold(int *out, const char *root)
{
	struct registry_store *s = NULL;
	int rc;

	if (!fs_is_dir(root))
		return err_set(ERR_NOTFOUND, "no registry in '%s'", root);
	if ((rc = registry_store_open(&s, root)) < 0)
		return rc;
	rc = registry_store_lock(s, false);
	registry_store_free(s);
	if (rc < 0)
		return rc;
	*out = rc;
	return 0;
}
