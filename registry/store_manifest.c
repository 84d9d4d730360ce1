/*
 * Manifest parsing and validation, shared by the server (on PUT) and gc
 * (to mark what manifests reference).  Four media types are accepted: the
 * OCI image manifest and index, and Docker's schema 2 manifest and
 * manifest list.  A manifest is kept byte for byte as pushed; this only
 * reads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "registry_int.h"

static const char *const manifest_types[] = {
	MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST,
};

/* The static string for a supported media type, or NULL. */
static const char *
manifest_type_known(const char *mt)
{
	for (size_t i = 0; i < sizeof(manifest_types) /
	    sizeof(manifest_types[0]); i++)
		if (mt && strcmp(mt, manifest_types[i]) == 0)
			return manifest_types[i];
	return NULL;
}

static bool
manifest_is_index(const char *mt)
{
	return strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

static bool
manifest_is_oci(const char *mt)
{
	return strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_OCI_INDEX) == 0;
}

/* Check one descriptor at where ("layers[2]") and fill ref. */
static int
manifest_descriptor(struct registry_manifest_ref *ref, json_t *d,
    const char *where)
{
	json_t *mt = json_object_get(d, "mediaType");
	json_t *dg = json_object_get(d, "digest");
	json_t *sz = json_object_get(d, "size");
	json_t *urls = json_object_get(d, "urls");
	enum digest_algo algo;
	const char *hex;
	int rc;

	if (!json_is_object(d))
		return err_set(ERR_INVALID, "%s is not a descriptor", where);
	if (!json_is_string(mt) || json_string_length(mt) == 0)
		return err_set(ERR_INVALID, "%s has no mediaType", where);
	if (!json_is_string(dg))
		return err_set(ERR_INVALID, "%s has no digest", where);
	if ((rc = digest_parse(json_string_value(dg), &algo, &hex)) < 0)
		return err_set(ERR_INVALID, "%s: %s", where, err_last());
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return err_set(ERR_INVALID, "%s has no valid size", where);
	if (urls && !json_is_array(urls))
		return err_set(ERR_INVALID, "%s: urls is not an array", where);
	snprintf(ref->digest, sizeof(ref->digest), "%s",
	    json_string_value(dg));
	ref->size = json_integer_value(sz);
	ref->foreign = urls && json_array_size(urls) > 0;
	return 0;
}

static void
manifest_ref_add(struct registry_manifest *m,
    const struct registry_manifest_ref *r)
{
	m->refs = xrealloc(m->refs, (m->nrefs + 1) * sizeof(*m->refs));
	m->refs[m->nrefs++] = *r;
}

static int
manifest_check_list(struct registry_manifest *m, const char *key,
    enum registry_manifest_ref_kind kind)
{
	json_t *arr = json_object_get(m->json, key);
	char where[64];
	size_t i;
	json_t *d;
	int rc;

	if (!json_is_array(arr))
		return err_set(ERR_INVALID, "manifest has no '%s' array", key);
	json_array_foreach(arr, i, d) {
		struct registry_manifest_ref r = { .kind = kind };

		snprintf(where, sizeof(where), "%s[%zu]", key, i);
		if ((rc = manifest_descriptor(&r, d, where)) < 0)
			return rc;
		manifest_ref_add(m, &r);
	}
	return 0;
}

int
registry_manifest_parse(struct registry_manifest **out, const char *body,
    size_t len, const char *content_type)
{
	struct registry_manifest *m = xcalloc(1, sizeof(*m));
	json_t *v, *sub, *at;
	json_error_t jerr;
	const char *body_mt = NULL;
	int rc = 0;

	m->json = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (m->json == NULL) {
		rc = err_set(ERR_INVALID, "manifest is not valid JSON: %s "
		    "(line %d)", jerr.text, jerr.line);
		goto done;
	}
	if (!json_is_object(m->json)) {
		rc = err_set(ERR_INVALID, "manifest is not a JSON object");
		goto done;
	}
	v = json_object_get(m->json, "schemaVersion");
	if (!json_is_integer(v) || json_integer_value(v) != 2) {
		rc = err_set(ERR_INVALID, "manifest schemaVersion is not 2");
		goto done;
	}
	v = json_object_get(m->json, "mediaType");
	if (v && !json_is_string(v)) {
		rc = err_set(ERR_INVALID, "manifest mediaType is not a string");
		goto done;
	}
	body_mt = json_string_value(v);
	if (content_type && *content_type == '\0')
		content_type = NULL;
	if (body_mt) {
		/* the spec: Content-Type must be the manifest's mediaType */
		if (content_type && strcmp(content_type, body_mt) != 0) {
			rc = err_set(ERR_INVALID, "Content-Type '%.100s' is not "
			    "the manifest's mediaType '%.100s'", content_type,
			    body_mt);
			goto done;
		}
		m->media_type = manifest_type_known(body_mt);
	} else {
		m->media_type = manifest_type_known(content_type);
		/* Docker's schema 2 always carries its mediaType; only an
		 * OCI manifest may leave it out (image-spec 1.0) */
		if (m->media_type && !manifest_is_oci(m->media_type)) {
			rc = err_set(ERR_INVALID, "a Docker manifest must name "
			    "its mediaType");
			goto done;
		}
	}
	if (m->media_type == NULL) {
		rc = err_set(ERR_INVALID, "manifest media type '%.100s' is not "
		    "supported", body_mt ? body_mt : content_type ?
		    content_type : "(none)");
		goto done;
	}
	if (manifest_is_index(m->media_type)) {
		rc = manifest_check_list(m, "manifests", REF_MANIFEST);
	} else {
		struct registry_manifest_ref r = { .kind = REF_BLOB };

		v = json_object_get(m->json, "config");
		if (v == NULL) {
			rc = err_set(ERR_INVALID, "manifest has no config");
			goto done;
		}
		if ((rc = manifest_descriptor(&r, v, "config")) < 0)
			goto done;
		manifest_ref_add(m, &r);
		rc = manifest_check_list(m, "layers", REF_BLOB);
	}
	if (rc < 0)
		goto done;
	if ((sub = json_object_get(m->json, "subject")) != NULL) {
		struct registry_manifest_ref r;

		if ((rc = manifest_descriptor(&r, sub, "subject")) < 0)
			goto done;
		snprintf(m->subject, sizeof(m->subject), "%s", r.digest);
	}
	at = json_object_get(m->json, "artifactType");
	if (at && (!json_is_string(at) || json_string_length(at) == 0)) {
		rc = err_set(ERR_INVALID, "artifactType is not a media type");
		goto done;
	}
	m->artifact_type = json_string_value(at);
done:
	if (rc < 0) {
		registry_manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void
registry_manifest_free(struct registry_manifest *m)
{
	if (m == NULL)
		return;
	json_decref(m->json);
	free(m->refs);
	free(m);
}

json_t *
registry_manifest_descriptor(const struct registry_manifest *m,
    const char *digest, size_t len)
{
	json_t *d = json_object(), *ann;
	const char *at = m->artifact_type;

	json_object_set_new(d, "mediaType", json_string(m->media_type));
	json_object_set_new(d, "digest", json_string(digest));
	json_object_set_new(d, "size", json_integer((json_int_t)len));
	/* the spec: an image manifest without artifactType is listed by
	 * its config's media type; an index without one has none */
	if (at == NULL && !manifest_is_index(m->media_type))
		at = json_string_value(json_object_get(json_object_get(m->json,
		    "config"), "mediaType"));
	if (at)
		json_object_set_new(d, "artifactType", json_string(at));
	ann = json_object_get(m->json, "annotations");
	if (json_is_object(ann))
		json_object_set(d, "annotations", ann);
	return d;
}
