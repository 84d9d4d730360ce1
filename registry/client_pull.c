/*
 * Pull (distribution-spec v1.1 "Pull"): the manifest (capped at 4 MiB,
 * its digest checked against the reference or the registry's
 * Docker-Content-Digest), through an index to one platform, then the
 * config and layers, each streamed into the layout and kept only when its
 * digest and size match the manifest.  Blobs the layout has are not
 * fetched again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/registry.h"

#include "registry_int.h"

#define PULL_ACCEPT \
	IMAGE_MT_OCI_MANIFEST ", " IMAGE_MT_OCI_INDEX ", " \
	IMAGE_MT_DOCKER_MANIFEST ", " IMAGE_MT_DOCKER_LIST

struct pull_ctx {
	struct registry_client *c;
	struct image_layout *l;
	const char *repo;
	struct registry_xfer_stats *st;
};

/* The media type of a Content-Type header, when it is one we read. */
static char *
pull_content_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return NULL;
	n = strcspn(ct, "; \t");
	if (n == 0 || n > 128)
		return NULL;
	{
		char *mt = xstrndup(ct, n);
		if (image_media_type_is_manifest(mt) ||
		    image_media_type_is_index(mt))
			return mt;
		free(mt);
	}
	return NULL;
}

/* GET a manifest by tag or digest and check it: by digest, the bytes
 * must hash to it; by tag, to the registry's Docker-Content-Digest when
 * it sends one.  want_type is the type an index promised, or NULL. */
static int
pull_manifest(struct image_manifest **out, struct pull_ctx *p,
    const char *ref, const char *want_type)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	char *url = registry_client_url(p->c, "/v2/%s/manifests/%s", p->repo,
	    ref);
	char got[DIGEST_STR_MAX], *ct = NULL;
	enum digest_algo algo;
	const char *hex;
	int rc;

	registry_client_req_init(&r, "GET", url);
	r.accept = PULL_ACCEPT;
	r.max_body = IMAGE_MANIFEST_MAX;
	r.retry = true;
	rc = registry_client_do(&resp, p->c, &r);
	if (rc == ERR_TOOBIG) {
		rc = err_set(ERR_TOOBIG, "manifest %s is over the %zu byte cap",
		    ref, IMAGE_MANIFEST_MAX);
		goto done;
	}
	if (rc < 0)
		goto done;
	if (resp.status == 404) {
		rc = registry_client_error(&resp, "no manifest '%s' in '%s'",
		    ref, p->repo);
		goto done;
	}
	if (resp.status != 200) {
		rc = registry_client_error(&resp, "cannot get manifest '%s'",
		    ref);
		goto done;
	}
	if (digest_parse(ref, &algo, &hex) == 0) {
		digest_buf(got, algo, resp.body.ptr, resp.body.len);
		if (strcmp(got, ref) != 0) {
			rc = err_set(ERR_INVALID, "manifest %s from the registry "
			    "hashes to %s", ref, got);
			goto done;
		}
	} else if (resp.digest && digest_parse(resp.digest, &algo, &hex) == 0) {
		digest_buf(got, algo, resp.body.ptr, resp.body.len);
		if (strcmp(got, resp.digest) != 0) {
			rc = err_set(ERR_INVALID, "manifest '%s' hashes to %s, "
			    "the registry said %.80s", ref, got, resp.digest);
			goto done;
		}
	}
	ct = pull_content_type(resp.content_type);
	rc = image_manifest_parse(out, want_type ? want_type : ct,
	    resp.body.ptr, resp.body.len);
	if (rc < 0)
		rc = err_wrap(rc, "manifest '%s'", ref);
done:
	registry_client_resp_clear(&resp);
	free(url);
	free(ct);
	return rc;
}

static int
pull_blob(struct pull_ctx *p, const struct image_desc *d)
{
	struct registry_client_resp resp = { 0 };
	struct image_blob_writer *w = NULL;
	struct registry_client_req r;
	char *url = NULL, label[32];
	int rc;

	if (image_layout_blob_verify(p->l, d) == 0) {
		p->st->existed++;
		return 0;
	}
	if ((rc = image_blob_writer_open(&w, p->l)) < 0)
		return rc;
	image_blob_writer_set_limit(w, d->size);
	url = registry_client_url(p->c, "/v2/%s/blobs/%s", p->repo, d->digest);
	snprintf(label, sizeof(label), "%.19s", d->digest);
	registry_client_req_init(&r, "GET", url);
	r.sink = w;
	r.retry = true;
	r.label = label;
	r.progress_total = d->size;
	rc = registry_client_do(&resp, p->c, &r);
	if (rc == ERR_TOOBIG) {
		rc = err_set(ERR_INVALID, "blob %s is larger than the %lld "
		    "bytes its descriptor says", d->digest, (long long)d->size);
		goto done;
	}
	if (rc < 0)
		goto done;
	if (resp.status != 200) {
		rc = registry_client_error(&resp, "cannot get blob %s",
		    d->digest);
		goto done;
	}
	if ((rc = image_blob_writer_commit(w, d->digest, d->size, NULL)) < 0) {
		rc = err_wrap(rc, "blob %s from the registry", d->digest);
		goto done;
	}
	p->st->sent++;
	p->st->bytes += d->size;
	if (p->c->verbose)
		fprintf(stderr, "  %.19s pulled (%lld bytes)\n", d->digest,
		    (long long)d->size);
done:
	image_blob_writer_free(w);
	registry_client_resp_clear(&resp);
	free(url);
	return rc;
}

/* Store the manifest's exact bytes under its digest. */
static int
pull_store_manifest(struct pull_ctx *p, const struct image_manifest *m,
    const char *digest)
{
	struct image_blob_writer *w;
	int rc;

	if ((rc = image_blob_writer_open(&w, p->l)) < 0)
		return rc;
	if ((rc = image_blob_writer_write(w, m->raw, m->raw_len)) == 0)
		rc = image_blob_writer_commit(w, digest, (int64_t)m->raw_len,
		    NULL);
	image_blob_writer_free(w);
	return rc;
}

int
registry_client_pull(struct registry_xfer_stats *out,
    struct registry_client *c, const struct registry_ref *src,
    struct image_layout *l, const char *tag, const char *os,
    const char *arch)
{
	struct pull_ctx p = { .c = c, .l = l, .repo = src->repo, .st = out };
	struct image_manifest *m = NULL, *idx = NULL;
	struct image_config *cfg = NULL;
	struct image_desc d = { 0 };
	const struct image_desc *pick;
	const char *ref = src->digest ? src->digest : src->tag ? src->tag :
	    "latest";
	char *scope, digest[DIGEST_STR_MAX];
	struct buf b = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (tag && !image_tag_is_valid(tag))
		return err_set(ERR_INVALID, "'%.200s' is not a valid tag", tag);
	if (tag == NULL && src->digest == NULL)
		tag = ref;
	scope = xasprintf("repository:%s:pull", src->repo);
	registry_client_auth_add_scope(c, scope);
	free(scope);
	if ((rc = pull_manifest(&m, &p, ref, NULL)) < 0)
		goto done;
	snprintf(digest, sizeof(digest), "%s", src->digest ? src->digest :
	    m->digest);
	if (m->is_index) {
		idx = m;
		m = NULL;
		if ((rc = image_index_pick(&pick, idx, os, arch)) < 0 ||
		    (rc = pull_manifest(&m, &p, pick->digest,
		    pick->media_type)) < 0)
			goto done;
		snprintf(digest, sizeof(digest), "%s", pick->digest);
	}
	if ((rc = pull_blob(&p, &m->config)) < 0)
		goto done;
	/* The config is small and tells whether the image is sound: one
	 * diff_id per layer, os and architecture set. */
	if ((rc = image_layout_blob_read(&b, l, &m->config,
	    IMAGE_CONFIG_MAX)) < 0 ||
	    (rc = image_config_parse(&cfg, b.ptr, b.len)) < 0)
		goto done;
	if (cfg->ndiff_ids != m->nlayers) {
		rc = err_set(ERR_INVALID, "config lists %zu diff_ids for %zu "
		    "layers", cfg->ndiff_ids, m->nlayers);
		goto done;
	}
	for (size_t i = 0; i < m->nlayers; i++)
		if ((rc = pull_blob(&p, &m->layers[i])) < 0)
			goto done;
	if ((rc = pull_store_manifest(&p, m, digest)) < 0)
		goto done;
	d.media_type = xstrdup(m->media_type);
	snprintf(d.digest, sizeof(d.digest), "%s", digest);
	d.size = (int64_t)m->raw_len;
	d.os = xstrdup(cfg->os);
	d.arch = xstrdup(cfg->arch);
	if ((rc = image_layout_tag(l, &d, tag)) < 0)
		goto done;
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	out->media_type = xstrdup(m->media_type);
	out->size = d.size;
done:
	if (rc < 0)
		err_wrap(rc, "cannot pull %s/%s%s%s", c->registry, src->repo,
		    src->digest ? "@" : ":", ref);
	buf_free(&b);
	image_desc_clear(&d);
	image_config_free(cfg);
	image_manifest_free(m);
	image_manifest_free(idx);
	return rc;
}
