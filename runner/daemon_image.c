/*
 * Images for the runner daemon: pulled by manifest digest from the
 * registry with the runner's credentials (its name and server key; the
 * registry sends it to the controller's token endpoint, which grants pull
 * on the apps of the runner's group), unpacked once per digest by the
 * runner's core, and collected when no recent release needs them.
 *
 * A pull goes to a temporary image layout under runner/pull/ (the client
 * checks every digest); its layers are unpacked into
 * runner/images/<hex>/rootfs and the image config is kept beside it as
 * runner/images/<hex>/config.json (the environment, user and labels new
 * containers need), then the layout is removed: an unpacked image is all
 * the runner keeps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "daemon_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"
#include "slipway/log.h"
#include "slipway/registry.h"
#include "slipway/url.h"

/* runner/images/<hex>/config.json for digest. */
static char *
runner_config_path(struct runner_daemon *rd, const char *digest)
{
	const char *colon = strchr(digest, ':');

	return xasprintf("%s/runner/images/%s/config.json", rd->home,
	    colon ? colon + 1 : digest);
}

static int
runner_config_read(struct image_config **out, struct runner_daemon *rd,
    const char *digest)
{
	char *path = runner_config_path(rd, digest);
	struct buf b;
	int rc;

	rc = fs_read_file(&b, path, IMAGE_CONFIG_MAX);
	if (rc == 0) {
		rc = image_config_parse(out, b.ptr, b.len);
		buf_free(&b);
	}
	free(path);
	return rc;
}

/* Pull digest into a fresh layout, unpack it, keep its config. */
static int
runner_pull(struct runner_daemon *rd, const char *image, const char *digest)
{
	struct registry_client_opts co = { .retries = -1 };
	struct registry_ref ref = { 0 }, src = { 0 };
	struct registry_xfer_stats st = { 0 };
	struct registry_client *c = NULL;
	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;
	const char **layers = NULL;
	char **paths = NULL, *dir = NULL, *s = NULL, *cfgpath = NULL;
	char *hostport = NULL;
	bool plain = false;
	unsigned char rnd[4];
	char hex[9];
	struct buf cb = { 0 };
	int rc;

	if ((rc = registry_ref_parse(&ref, image)) < 0) {
		err_wrap(rc, "the release's image");
		goto done;
	}
	/* The registry we were told (its scheme a deliberate setting), else
	 * the one the image names. */
	if (rd->o.registry && (rc = url_service_parse(&hostport, &plain,
	    rd->o.registry)) < 0)
		goto done;
	s = xasprintf("%s/%s@%s", hostport ? hostport : ref.registry,
	    ref.repo, digest);
	if ((rc = registry_ref_parse(&src, s)) < 0)
		goto done;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		rc = err_sys("cannot get random bytes");
		goto done;
	}
	digest_hex(hex, rnd, sizeof(rnd));
	dir = xasprintf("%s/runner/pull/%s-%s", rd->home, strchr(digest, ':') +
	    1, hex);
	pthread_mutex_lock(&rd->rmu);
	co.user = rd->runner_name ? xstrdup(rd->runner_name) : NULL;
	pthread_mutex_unlock(&rd->rmu);
	co.password = rd->o.key;
	co.insecure = rd->o.registry_insecure || plain;
	rc = registry_client_new(&c, src.registry, &co);
	free((char *)co.user);
	if (rc < 0 || (rc = image_layout_init(&l, dir)) < 0)
		goto done;
	log_info("pulling %s", s);
	if ((rc = registry_client_pull(&st, c, &src, l, NULL, NULL,
	    NULL)) < 0 ||
	    (rc = image_layout_load(&m, NULL, l, NULL)) < 0)
		goto done;
	paths = xcalloc(m->nlayers + 1, sizeof(*paths));
	layers = xcalloc(m->nlayers + 1, sizeof(*layers));
	for (size_t i = 0; i < m->nlayers; i++) {
		paths[i] = image_layout_blob_path(l, m->layers[i].digest);
		layers[i] = paths[i];
	}
	if ((rc = runner_image_unpack(NULL, rd->home, digest, layers,
	    m->nlayers, NULL)) < 0)
		goto done;
	buf_init(&cb, IMAGE_CONFIG_MAX);
	if ((rc = image_layout_blob_read(&cb, l, &m->config,
	    IMAGE_CONFIG_MAX)) < 0)
		goto done;
	cfgpath = runner_config_path(rd, digest);
	rc = fs_write_atomic(cfgpath, cb.ptr ? cb.ptr : "", cb.len, 0644);
	if (rc == 0)
		log_info("image %s unpacked (%zu layer%s, %d blob%s fetched)",
		    digest, m->nlayers, m->nlayers == 1 ? "" : "s", st.sent,
		    st.sent == 1 ? "" : "s");
done:
	if (dir)
		fs_remove_tree(dir);
	buf_free(&cb);
	runner_strv_free(paths);
	free(layers);
	image_manifest_free(m);
	image_layout_free(l);
	registry_client_free(c);
	registry_xfer_stats_clear(&st);
	registry_ref_clear(&src);
	registry_ref_clear(&ref);
	free(hostport);
	free(cfgpath);
	free(dir);
	free(s);
	return rc;
}

int
runner_image_ensure(struct image_config **out, struct runner_daemon *rd,
    const char *image, const char *digest)
{
	char *rootfs = NULL;
	int rc;

	*out = NULL;
	if (!digest_is_valid(digest))
		return err_set(ERR_INVALID, "'%.100s' is not a digest", digest);
	/* One pull at a time: two apps of one image wait for each other
	 * rather than fetch it twice. */
	pthread_mutex_lock(&rd->imgmu);
	if (runner_image_path(&rootfs, rd->home, digest) == 0 &&
	    runner_config_read(out, rd, digest) == 0) {
		rc = 0;
		goto done;
	}
	err_clear();
	if ((rc = runner_pull(rd, image, digest)) < 0)
		goto done;
	rc = runner_config_read(out, rd, digest);
done:
	pthread_mutex_unlock(&rd->imgmu);
	free(rootfs);
	return rc;
}

void
runner_daemon_images_gc(struct runner_daemon *rd)
{
	struct runner_release_ref *refs = NULL;
	size_t n = 0;
	char **keep = NULL;
	unsigned removed = 0;

	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < rd->napps; i++) {
		struct runner_app *a = rd->apps[i];
		json_t *e = json_array_get(a->want, 0);
		refs = xrealloc(refs, (n + a->nhist + 2) * sizeof(*refs));
		for (size_t k = 0; k < a->nhist; k++)
			refs[n++] = (struct runner_release_ref){
			    xstrdup(a->name), (unsigned)a->hist[k].release,
			    xstrdup(a->hist[k].digest) };
		/* what is wanted now, even if it is not live yet */
		if (e && digest_is_valid(runner_json_str(e, "digest")))
			refs[n++] = (struct runner_release_ref){
			    xstrdup(a->name), (unsigned)runner_json_int(e,
			    "release", 0), xstrdup(runner_json_str(e, "digest")) };
	}
	pthread_mutex_unlock(&rd->mu);
	/* Under imgmu: a pull in progress (its unpack done, its config not
	 * written yet) is never collected. */
	pthread_mutex_lock(&rd->imgmu);
	if (runner_images_keep_select(&keep, refs, n,
	    rd->o.keep_releases) == 0 &&
	    runner_images_gc(rd->home, keep, &removed) == 0 && removed)
		log_info("removed %u unused image%s", removed,
		    removed == 1 ? "" : "s");
	pthread_mutex_unlock(&rd->imgmu);
	for (size_t i = 0; i < n; i++) {
		free((char *)refs[i].app);
		free((char *)refs[i].digest);
	}
	free(refs);
	runner_strv_free(keep);
}
