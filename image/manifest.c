/*
 * The documents of an OCI image: descriptors, manifests, indexes and
 * configs (image-spec descriptor.md, manifest.md, image-index.md,
 * config.md), plus Docker's v2 schema 2 equivalents, which share the shape.
 * Everything here parses input we did not write: each field is checked for
 * type and range, duplicate keys are refused, sizes are capped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/image.h"

#include "image_int.h"

bool
image_media_type_is_manifest(const char *mt)
{
	return mt && (strcmp(mt, IMAGE_MT_OCI_MANIFEST) == 0 ||
	    strcmp(mt, IMAGE_MT_DOCKER_MANIFEST) == 0);
}

bool
image_media_type_is_index(const char *mt)
{
	return mt && (strcmp(mt, IMAGE_MT_OCI_INDEX) == 0 ||
	    strcmp(mt, IMAGE_MT_DOCKER_LIST) == 0);
}

bool
image_media_type_is_layer(const char *mt)
{
	return mt && (strcmp(mt, IMAGE_MT_OCI_LAYER) == 0 ||
	    strcmp(mt, IMAGE_MT_OCI_LAYER_GZIP) == 0 ||
	    strcmp(mt, IMAGE_MT_OCI_LAYER_ZSTD) == 0 ||
	    strcmp(mt, IMAGE_MT_DOCKER_LAYER_GZIP) == 0);
}

const char *
image_layer_type_to_oci(const char *mt)
{
	if (strcmp(mt, IMAGE_MT_DOCKER_LAYER_GZIP) == 0)
		return IMAGE_MT_OCI_LAYER_GZIP;
	if (strcmp(mt, IMAGE_MT_OCI_LAYER) == 0 ||
	    strcmp(mt, IMAGE_MT_OCI_LAYER_GZIP) == 0 ||
	    strcmp(mt, IMAGE_MT_OCI_LAYER_ZSTD) == 0)
		return mt;
	return NULL;
}

/* RFC 6838 names as the image-spec schema checks them:
 * [A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126} "/" the same again. */
static bool
image_media_type_is_valid(const char *s)
{
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9')))
			return false;
		for (; *s && *s != '/'; s++, n++) {
			if (n >= 127)
				return false;
			if (!((*s >= 'A' && *s <= 'Z') ||
			    (*s >= 'a' && *s <= 'z') ||
			    (*s >= '0' && *s <= '9') || strchr("!#$&^_.+-", *s)))
				return false;
		}
		if (part == 0) {
			if (*s != '/')
				return false;
			s++;
		}
	}
	return *s == '\0';
}

void
image_desc_clear(struct image_desc *d)
{
	if (d == NULL)
		return;
	free(d->media_type);
	free(d->ref_name);
	free(d->os);
	free(d->arch);
	free(d->variant);
	memset(d, 0, sizeof(*d));
}

static char *
image_strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void
image_desc_copy(struct image_desc *dst, const struct image_desc *src)
{
	memcpy(dst->digest, src->digest, sizeof(dst->digest));
	dst->size = src->size;
	dst->media_type = image_strdup_or_null(src->media_type);
	dst->ref_name = image_strdup_or_null(src->ref_name);
	dst->os = image_strdup_or_null(src->os);
	dst->arch = image_strdup_or_null(src->arch);
	dst->variant = image_strdup_or_null(src->variant);
}

int
image_json_load(json_t **out, const void *data, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL)
		return err_set(ERR_INVALID, "%s is not valid JSON: %s (line %d)",
		    what, jerr.text, jerr.line);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(ERR_INVALID, "%s is not a JSON object", what);
	}
	*out = j;
	return 0;
}

char *
image_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (s == NULL)
		abort();        /* only on allocation failure */
	if (len)
		*len = strlen(s);
	return s;
}

/* An optional string field: NULL when absent, ERR_INVALID when not a
 * string. */
static int
image_json_opt_str(const char **out, const json_t *obj, const char *key,
    const char *what)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return err_set(ERR_INVALID, "%s: '%s' is not a string", what,
		    key);
	*out = json_string_value(v);
	return 0;
}

int
image_desc_parse(struct image_desc *out, const json_t *j, const char *what)
{
	const char *mt, *digest, *ref = NULL, *os = NULL, *arch = NULL,
	    *variant = NULL;
	json_t *size, *annot, *plat;
	json_int_t n;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(j))
		return err_set(ERR_INVALID, "%s is not an object", what);
	if ((rc = image_json_opt_str(&mt, j, "mediaType", what)) < 0 ||
	    (rc = image_json_opt_str(&digest, j, "digest", what)) < 0)
		return rc;
	if (mt == NULL)
		return err_set(ERR_INVALID, "%s has no mediaType", what);
	if (!image_media_type_is_valid(mt))
		return err_set(ERR_INVALID, "%s: '%.80s' is not a media type",
		    what, mt);
	if (digest == NULL)
		return err_set(ERR_INVALID, "%s has no digest", what);
	if ((rc = digest_parse(digest, &(enum digest_algo){0},
	    &(const char *){0})) < 0)
		return err_wrap(rc, "%s", what);
	size = json_object_get(j, "size");
	if (!json_is_integer(size))
		return err_set(ERR_INVALID, "%s has no integer size", what);
	n = json_integer_value(size);
	if (n < 0 || n > IMAGE_BLOB_SIZE_MAX)
		return err_set(ERR_INVALID, "%s: size %lld is out of range",
		    what, (long long)n);
	annot = json_object_get(j, "annotations");
	if (annot) {
		const char *k;
		json_t *v;
		if (!json_is_object(annot))
			return err_set(ERR_INVALID,
			    "%s: annotations is not an object", what);
		json_object_foreach(annot, k, v)
			if (!json_is_string(v))
				return err_set(ERR_INVALID,
				    "%s: annotation '%.80s' is not a string",
				    what, k);
		ref = json_string_value(json_object_get(annot,
		    IMAGE_ANNOT_REF_NAME));
	}
	plat = json_object_get(j, "platform");
	if (plat) {
		if (!json_is_object(plat))
			return err_set(ERR_INVALID,
			    "%s: platform is not an object", what);
		if ((rc = image_json_opt_str(&os, plat, "os", what)) < 0 ||
		    (rc = image_json_opt_str(&arch, plat, "architecture",
		    what)) < 0 ||
		    (rc = image_json_opt_str(&variant, plat, "variant",
		    what)) < 0)
			return rc;
		if (os == NULL || arch == NULL)
			return err_set(ERR_INVALID,
			    "%s: platform needs os and architecture", what);
	}
	out->media_type = xstrdup(mt);
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	out->size = (int64_t)n;
	out->ref_name = image_strdup_or_null(ref);
	out->os = image_strdup_or_null(os);
	out->arch = image_strdup_or_null(arch);
	out->variant = image_strdup_or_null(variant);
	return 0;
}

json_t *
image_desc_to_json(const struct image_desc *d)
{
	json_t *j = json_object();

	json_object_set_new(j, "mediaType", json_string(d->media_type));
	json_object_set_new(j, "digest", json_string(d->digest));
	json_object_set_new(j, "size", json_integer(d->size));
	if (d->ref_name) {
		json_t *a = json_object();
		json_object_set_new(a, IMAGE_ANNOT_REF_NAME,
		    json_string(d->ref_name));
		json_object_set_new(j, "annotations", a);
	}
	if (d->os && d->arch) {
		json_t *p = json_object();
		json_object_set_new(p, "os", json_string(d->os));
		json_object_set_new(p, "architecture", json_string(d->arch));
		if (d->variant)
			json_object_set_new(p, "variant",
			    json_string(d->variant));
		json_object_set_new(j, "platform", p);
	}
	return j;
}

void
image_manifest_free(struct image_manifest *m)
{
	if (m == NULL)
		return;
	free(m->media_type);
	free(m->raw);
	image_desc_clear(&m->config);
	for (size_t i = 0; i < m->nlayers; i++)
		image_desc_clear(&m->layers[i]);
	free(m->layers);
	for (size_t i = 0; i < m->nmanifests; i++)
		image_desc_clear(&m->manifests[i]);
	free(m->manifests);
	free(m);
}

/* Parse a JSON array of descriptors into *out. */
static int
image_desc_array(struct image_desc **out, size_t *n, const json_t *arr,
    const char *what)
{
	size_t count = json_array_size(arr);
	int rc;

	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	*out = xcalloc(count, sizeof(**out));
	for (size_t i = 0; i < count; i++) {
		char name[64];
		snprintf(name, sizeof(name), "%s %zu", what, i);
		if ((rc = image_desc_parse(&(*out)[i], json_array_get(arr, i),
		    name)) < 0)
			return rc;
		(*n)++;
	}
	return 0;
}

/* Decide which document this is.  The transport's type and the
 * document's mediaType must agree when both are there (image-spec asks
 * the mediaType field to match the descriptor's). */
static int
image_manifest_kind(const char **out, const char *hint, const json_t *j)
{
	const char *field = json_string_value(json_object_get(j, "mediaType"));
	json_t *v = json_object_get(j, "mediaType");

	if (v && !json_is_string(v))
		return err_set(ERR_INVALID, "manifest: 'mediaType' is not a "
		    "string");
	if (hint && field && strcmp(hint, field) != 0)
		return err_set(ERR_INVALID, "manifest says it is '%.80s' but "
		    "was given as '%.80s'", field, hint);
	*out = field ? field : hint;
	if (*out == NULL) {
		/* An OCI document may leave mediaType out. */
		*out = json_object_get(j, "manifests") ? IMAGE_MT_OCI_INDEX :
		    IMAGE_MT_OCI_MANIFEST;
	}
	if (!image_media_type_is_manifest(*out) &&
	    !image_media_type_is_index(*out))
		return err_set(ERR_UNSUPPORTED, "'%.80s' is not a manifest type "
		    "slipway reads", *out);
	return 0;
}

int
image_manifest_parse(struct image_manifest **out, const char *media_type,
    const void *data, size_t len)
{
	struct image_manifest *m = NULL;
	const char *kind = NULL;
	json_t *j = NULL, *sv, *v;
	int rc;

	if (len > IMAGE_MANIFEST_MAX)
		return err_set(ERR_TOOBIG, "manifest of %zu bytes is over the "
		    "%zu byte cap", len, IMAGE_MANIFEST_MAX);
	if ((rc = image_json_load(&j, data, len, "manifest")) < 0)
		return rc;
	sv = json_object_get(j, "schemaVersion");
	if (json_is_integer(sv) && json_integer_value(sv) == 1) {
		rc = err_set(ERR_UNSUPPORTED, "manifest schema 1 is not "
		    "supported");
		goto done;
	}
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		rc = err_set(ERR_INVALID, "manifest: schemaVersion must be 2");
		goto done;
	}
	if ((rc = image_manifest_kind(&kind, media_type, j)) < 0)
		goto done;
	m = xcalloc(1, sizeof(*m));
	m->media_type = xstrdup(kind);
	m->is_index = image_media_type_is_index(kind);
	if (m->is_index) {
		v = json_object_get(j, "manifests");
		if (!json_is_array(v)) {
			rc = err_set(ERR_INVALID, "index: 'manifests' is not an "
			    "array");
			goto done;
		}
		if ((rc = image_desc_array(&m->manifests, &m->nmanifests, v,
		    "index entry")) < 0)
			goto done;
	} else {
		if ((rc = image_desc_parse(&m->config,
		    json_object_get(j, "config"), "manifest config")) < 0)
			goto done;
		v = json_object_get(j, "layers");
		if (!json_is_array(v)) {
			rc = err_set(ERR_INVALID, "manifest: 'layers' is not an "
			    "array");
			goto done;
		}
		if ((rc = image_desc_array(&m->layers, &m->nlayers, v,
		    "layer")) < 0)
			goto done;
	}
	m->raw = xmalloc(len + 1);
	memcpy(m->raw, data, len);
	m->raw[len] = '\0';
	m->raw_len = len;
	digest_buf(m->digest, DIGEST_SHA256, data, len);
	*out = m;
	m = NULL;
done:
	image_manifest_free(m);
	json_decref(j);
	return rc;
}

int
image_index_pick(const struct image_desc **out,
    const struct image_manifest *idx, const char *os, const char *arch)
{
	const struct image_desc *found = NULL;

	if (os == NULL)
		os = "linux";
	if (arch == NULL)
		arch = "amd64";
	for (size_t i = 0; i < idx->nmanifests; i++) {
		const struct image_desc *d = &idx->manifests[i];
		if (d->os && d->arch && strcmp(d->os, os) == 0 &&
		    strcmp(d->arch, arch) == 0 &&
		    image_media_type_is_manifest(d->media_type)) {
			found = d;
			break;
		}
	}
	if (found == NULL && idx->nmanifests == 1 &&
	    image_media_type_is_manifest(idx->manifests[0].media_type))
		found = &idx->manifests[0];
	if (found == NULL)
		return err_set(ERR_NOTFOUND, "index has no image for %s/%s",
		    os, arch);
	*out = found;
	return 0;
}

void
image_config_free(struct image_config *c)
{
	char **lists[5];

	if (c == NULL)
		return;
	lists[0] = c->env;
	lists[1] = c->cmd;
	lists[2] = c->entrypoint;
	lists[3] = c->label_keys;
	lists[4] = c->label_values;
	for (size_t i = 0; i < 5; i++) {
		for (char **p = lists[i]; p && *p; p++)
			free(*p);
		free(lists[i]);
	}
	for (size_t i = 0; i < c->ndiff_ids; i++)
		free(c->diff_ids[i]);
	free(c->diff_ids);
	free(c->os);
	free(c->arch);
	free(c->created);
	free(c->user);
	free(c->workdir);
	free(c);
}

/* A JSON array of strings (or null) into a NULL-terminated list. */
static int
image_str_array(char ***out, const json_t *obj, const char *key)
{
	json_t *arr = json_object_get(obj, key);
	size_t n;

	*out = NULL;
	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(ERR_INVALID, "config: '%s' is not an array", key);
	n = json_array_size(arr);
	for (size_t i = 0; i < n; i++)
		if (!json_is_string(json_array_get(arr, i)))
			return err_set(ERR_INVALID,
			    "config: '%s' has a non-string item", key);
	*out = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = xstrdup(json_string_value(json_array_get(arr, i)));
	return 0;
}

static int
image_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
image_config_labels(struct image_config *c, const json_t *labels)
{
	const char *k;
	json_t *v;
	size_t n, i = 0;

	if (labels == NULL || json_is_null(labels))
		return 0;
	if (!json_is_object(labels))
		return err_set(ERR_INVALID, "config: 'Labels' is not an object");
	n = json_object_size(labels);
	c->label_keys = xcalloc(n + 1, sizeof(char *));
	c->label_values = xcalloc(n + 1, sizeof(char *));
	json_object_foreach((json_t *)labels, k, v) {
		if (!json_is_string(v))
			return err_set(ERR_INVALID, "config: label '%.80s' is "
			    "not a string", k);
		c->label_keys[i++] = xstrdup(k);
	}
	qsort(c->label_keys, n, sizeof(char *), image_cmp_str);
	for (i = 0; i < n; i++)
		c->label_values[i] = xstrdup(json_string_value(
		    json_object_get(labels, c->label_keys[i])));
	return 0;
}

int
image_config_parse(struct image_config **out, const void *data, size_t len)
{
	struct image_config *c = NULL;
	const char *os, *arch, *created, *s;
	json_t *j = NULL, *rootfs, *ids, *cfg;
	int rc;

	if (len > IMAGE_CONFIG_MAX)
		return err_set(ERR_TOOBIG, "config of %zu bytes is over the %zu "
		    "byte cap", len, IMAGE_CONFIG_MAX);
	if ((rc = image_json_load(&j, data, len, "config")) < 0)
		return rc;
	c = xcalloc(1, sizeof(*c));
	if ((rc = image_json_opt_str(&os, j, "os", "config")) < 0 ||
	    (rc = image_json_opt_str(&arch, j, "architecture", "config")) < 0 ||
	    (rc = image_json_opt_str(&created, j, "created", "config")) < 0)
		goto done;
	if (os == NULL || arch == NULL) {
		rc = err_set(ERR_INVALID, "config needs os and architecture");
		goto done;
	}
	c->os = xstrdup(os);
	c->arch = xstrdup(arch);
	c->created = image_strdup_or_null(created);
	rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs) || !json_is_string(json_object_get(rootfs,
	    "type")) || strcmp(json_string_value(json_object_get(rootfs,
	    "type")), "layers") != 0) {
		rc = err_set(ERR_INVALID, "config: rootfs.type must be "
		    "'layers'");
		goto done;
	}
	ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids)) {
		rc = err_set(ERR_INVALID, "config: rootfs.diff_ids is not an "
		    "array");
		goto done;
	}
	c->diff_ids = xcalloc(json_array_size(ids) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(ids); i++) {
		s = json_string_value(json_array_get(ids, i));
		if (s == NULL || !digest_is_valid(s)) {
			rc = err_set(ERR_INVALID, "config: diff_id %zu is not a "
			    "digest", i);
			goto done;
		}
		c->diff_ids[c->ndiff_ids++] = xstrdup(s);
	}
	cfg = json_object_get(j, "config");
	if (cfg && !json_is_null(cfg)) {
		if (!json_is_object(cfg)) {
			rc = err_set(ERR_INVALID, "config: 'config' is not an "
			    "object");
			goto done;
		}
		if ((rc = image_str_array(&c->env, cfg, "Env")) < 0 ||
		    (rc = image_str_array(&c->cmd, cfg, "Cmd")) < 0 ||
		    (rc = image_str_array(&c->entrypoint, cfg,
		    "Entrypoint")) < 0 ||
		    (rc = image_config_labels(c, json_object_get(cfg,
		    "Labels"))) < 0)
			goto done;
		if ((rc = image_json_opt_str(&s, cfg, "User", "config")) < 0)
			goto done;
		c->user = image_strdup_or_null(s);
		if ((rc = image_json_opt_str(&s, cfg, "WorkingDir",
		    "config")) < 0)
			goto done;
		c->workdir = image_strdup_or_null(s);
	}
	*out = c;
	c = NULL;
done:
	image_config_free(c);
	json_decref(j);
	return rc;
}

const char *
image_config_label(const struct image_config *c, const char *key)
{
	for (size_t i = 0; c->label_keys && c->label_keys[i]; i++)
		if (strcmp(c->label_keys[i], key) == 0)
			return c->label_values[i];
	return NULL;
}
