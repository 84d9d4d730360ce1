/*
 * OCI image layouts (image-spec image-layout.md): the oci-layout marker,
 * index.json (an image index whose entries are named by the
 * org.opencontainers.image.ref.name annotation), and blobs/<alg>/<hex>.
 * Blob storage is in layout_blob.c.
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
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"

#include "image_int.h"

#define LAYOUT_MARKER "{\"imageLayoutVersion\":\"1.0.0\"}"

static void
layout_entries_clear(struct image_layout *l)
{
	for (size_t i = 0; i < l->nentries; i++)
		image_desc_clear(&l->entries[i]);
	free(l->entries);
	l->entries = NULL;
	l->nentries = 0;
}

void
image_layout_free(struct image_layout *l)
{
	if (l == NULL)
		return;
	layout_entries_clear(l);
	json_decref(l->index);
	free(l->path);
	free(l);
}

const char *
image_layout_path(const struct image_layout *l)
{
	return l->path;
}

size_t
image_layout_count(const struct image_layout *l)
{
	return l->nentries;
}

const struct image_desc *
image_layout_entry(const struct image_layout *l, size_t i)
{
	return i < l->nentries ? &l->entries[i] : NULL;
}

/* Read a small regular file of the layout (not through a symlink: a
 * layout must not make us read what lies outside it). */
static int
layout_read(struct buf *out, const struct image_layout *l, const char *name,
    size_t max)
{
	char *path = fs_join(l->path, name);
	struct stat st;
	int rc;

	if (lstat(path, &st) < 0)
		rc = err_sys("cannot read '%s'", path);
	else if (!S_ISREG(st.st_mode))
		rc = err_set(ERR_INVALID, "'%s' is not a regular file", path);
	else
		rc = fs_read_file(out, path, max);
	free(path);
	return rc;
}

/* Parse index.json's JSON into l->index and l->entries. */
static int
layout_parse_index(struct image_layout *l, const char *data, size_t len)
{
	json_t *j = NULL, *sv, *arr, *mt;
	struct image_desc *entries = NULL;
	size_t n = 0, count;
	int rc;

	if ((rc = image_json_load(&j, data, len, "index.json")) < 0)
		return rc;
	sv = json_object_get(j, "schemaVersion");
	if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
		rc = err_set(ERR_INVALID, "index.json: schemaVersion must be 2");
		goto done;
	}
	mt = json_object_get(j, "mediaType");
	if (mt && (!json_is_string(mt) ||
	    strcmp(json_string_value(mt), IMAGE_MT_OCI_INDEX) != 0)) {
		rc = err_set(ERR_INVALID, "index.json: mediaType must be '%s'",
		    IMAGE_MT_OCI_INDEX);
		goto done;
	}
	arr = json_object_get(j, "manifests");
	if (!json_is_array(arr)) {
		rc = err_set(ERR_INVALID, "index.json: 'manifests' is not an "
		    "array");
		goto done;
	}
	count = json_array_size(arr);
	entries = xcalloc(count ? count : 1, sizeof(*entries));
	for (; n < count; n++) {
		char what[64];
		snprintf(what, sizeof(what), "index.json entry %zu", n);
		if ((rc = image_desc_parse(&entries[n], json_array_get(arr, n),
		    what)) < 0)
			goto done;
	}
	layout_entries_clear(l);
	json_decref(l->index);
	l->index = j;
	l->entries = entries;
	l->nentries = n;
	return 0;
done:
	for (size_t i = 0; i < n; i++)
		image_desc_clear(&entries[i]);
	free(entries);
	json_decref(j);
	return rc;
}

static int
layout_load_index(struct image_layout *l)
{
	struct buf b;
	int rc;

	if ((rc = layout_read(&b, l, "index.json", IMAGE_INDEX_JSON_MAX)) < 0)
		return rc;
	rc = layout_parse_index(l, b.ptr, b.len);
	buf_free(&b);
	return rc;
}

int
image_layout_open(struct image_layout **out, const char *dir)
{
	struct image_layout *l = xcalloc(1, sizeof(*l));
	json_t *marker = NULL, *v;
	char *blobs = NULL;
	struct buf b = { 0 };
	size_t n = strlen(dir);
	int rc;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	l->path = xstrndup(dir, n);
	if (!fs_is_dir(l->path)) {
		rc = err_set(ERR_NOTFOUND, "'%s' is not an image layout "
		    "(no such directory)", l->path);
		goto done;
	}
	if ((rc = layout_read(&b, l, "oci-layout", 64 << 10)) < 0) {
		rc = err_wrap(rc == ERR_NOTFOUND ? ERR_NOTFOUND : ERR_INVALID,
		    "'%s' is not an image layout", l->path);
		goto done;
	}
	if ((rc = image_json_load(&marker, b.ptr, b.len, "oci-layout")) < 0)
		goto done;
	v = json_object_get(marker, "imageLayoutVersion");
	if (!json_is_string(v) || strcmp(json_string_value(v), "1.0.0") != 0) {
		rc = err_set(ERR_UNSUPPORTED, "'%s': imageLayoutVersion is not "
		    "1.0.0", l->path);
		goto done;
	}
	blobs = fs_join(l->path, "blobs");
	if (!fs_is_dir(blobs)) {
		rc = err_set(ERR_INVALID, "'%s' has no blobs directory",
		    l->path);
		goto done;
	}
	if ((rc = layout_load_index(l)) < 0) {
		rc = err_wrap(rc, "'%s'", l->path);
		goto done;
	}
	*out = l;
	l = NULL;
done:
	free(blobs);
	json_decref(marker);
	buf_free(&b);
	image_layout_free(l);
	return rc;
}

static bool
layout_dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool empty = true;

	if (d == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	closedir(d);
	return empty;
}

int
image_layout_init(struct image_layout **out, const char *dir)
{
	char *marker = fs_join(dir, "oci-layout");
	char *index = fs_join(dir, "index.json");
	char *blobs = fs_join(dir, "blobs/sha256");
	static const char empty[] = "{\"schemaVersion\":2,\"mediaType\":\""
	    IMAGE_MT_OCI_INDEX "\",\"manifests\":[]}";
	int rc = 0;

	if (!fs_exists(marker)) {
		/* Only make a layout where nothing else lives, so a typo in
		 * -o cannot scatter blobs through someone's directory. */
		if (fs_exists(dir) && !layout_dir_is_empty(dir)) {
			rc = err_set(ERR_EXISTS, "'%s' exists and is not an "
			    "image layout", dir);
			goto done;
		}
		if ((rc = fs_mkdir_p(blobs, 0755)) < 0 ||
		    (!fs_exists(index) && (rc = fs_write_atomic(index, empty,
		    sizeof(empty) - 1, 0644)) < 0) ||
		    (rc = fs_write_atomic(marker, LAYOUT_MARKER,
		    sizeof(LAYOUT_MARKER) - 1, 0644)) < 0)
			goto done;
	} else if (!fs_is_dir(blobs) && (rc = fs_mkdir_p(blobs, 0755)) < 0) {
		goto done;
	}
	rc = image_layout_open(out, dir);
done:
	free(marker);
	free(index);
	free(blobs);
	return rc;
}

int
image_layout_resolve(struct image_desc *out, const struct image_layout *l,
    const char *tag)
{
	const struct image_desc *found = NULL;

	memset(out, 0, sizeof(*out));
	if (tag == NULL) {
		if (l->nentries != 1)
			return err_set(ERR_INVALID, "'%s' has %zu images; name "
			    "one with LAYOUT:TAG", l->path, l->nentries);
		found = &l->entries[0];
	} else {
		for (size_t i = 0; i < l->nentries; i++)
			if (l->entries[i].ref_name &&
			    strcmp(l->entries[i].ref_name, tag) == 0)
				found = &l->entries[i];
		if (found == NULL)
			return err_set(ERR_NOTFOUND, "'%s' has no image tagged "
			    "'%s'", l->path, tag);
	}
	image_desc_copy(out, found);
	return 0;
}

int
image_layout_tag(struct image_layout *l, const struct image_desc *desc,
    const char *tag)
{
	struct image_desc d;
	json_t *arr, *newarr = NULL;
	char *index = NULL, *text = NULL;
	size_t len;
	int lockfd, rc;

	if (tag && !image_tag_is_valid(tag))
		return err_set(ERR_INVALID, "'%.200s' is not a valid tag", tag);
	if ((rc = image_layout_blob_stat(l, desc)) < 0)
		return err_wrap(rc, "cannot tag '%s'", desc->digest);
	/* Two writers of one layout must not lose each other's tags: hold a
	 * lock on the directory and re-read index.json under it. */
	lockfd = open(l->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lockfd < 0)
		return err_sys("cannot open '%s'", l->path);
	if (flock(lockfd, LOCK_EX) < 0) {
		rc = err_sys("cannot lock '%s'", l->path);
		goto done;
	}
	if ((rc = layout_load_index(l)) < 0)
		goto done;
	arr = json_object_get(l->index, "manifests");
	newarr = json_array();
	for (size_t i = 0; i < l->nentries; i++) {
		const struct image_desc *e = &l->entries[i];
		bool same = tag ? (e->ref_name && strcmp(e->ref_name, tag) == 0)
		    : (e->ref_name == NULL &&
		    strcmp(e->digest, desc->digest) == 0);
		if (!same)
			json_array_append(newarr, json_array_get(arr, i));
	}
	image_desc_copy(&d, desc);
	free(d.ref_name);
	d.ref_name = tag ? xstrdup(tag) : NULL;
	json_array_append_new(newarr, image_desc_to_json(&d));
	image_desc_clear(&d);
	json_object_set_new(l->index, "manifests", newarr);
	json_object_set_new(l->index, "mediaType",
	    json_string(IMAGE_MT_OCI_INDEX));
	text = image_json_dump(l->index, &len);
	index = fs_join(l->path, "index.json");
	if ((rc = fs_write_atomic(index, text, len, 0644)) < 0)
		goto done;
	rc = layout_parse_index(l, text, len);
done:
	close(lockfd);
	free(index);
	free(text);
	return rc;
}

int
image_layout_load(struct image_manifest **out_manifest,
    struct image_config **out_config, const struct image_layout *l,
    const char *tag)
{
	struct image_manifest *m = NULL, *idx = NULL;
	struct image_config *c = NULL;
	struct image_desc d;
	const struct image_desc *pick;
	struct buf b = { 0 };
	int rc;

	if ((rc = image_layout_resolve(&d, l, tag)) < 0)
		return rc;
	if (image_media_type_is_index(d.media_type)) {
		if ((rc = image_layout_blob_read(&b, l, &d,
		    IMAGE_MANIFEST_MAX)) < 0 ||
		    (rc = image_manifest_parse(&idx, d.media_type, b.ptr,
		    b.len)) < 0 ||
		    (rc = image_index_pick(&pick, idx, NULL, NULL)) < 0)
			goto done;
		buf_free(&b);
		image_desc_clear(&d);
		image_desc_copy(&d, pick);
	}
	if (!image_media_type_is_manifest(d.media_type)) {
		rc = err_set(ERR_UNSUPPORTED, "'%.80s' is not an image manifest",
		    d.media_type);
		goto done;
	}
	if ((rc = image_layout_blob_read(&b, l, &d, IMAGE_MANIFEST_MAX)) < 0 ||
	    (rc = image_manifest_parse(&m, d.media_type, b.ptr, b.len)) < 0)
		goto done;
	buf_free(&b);
	if (out_config) {
		if ((rc = image_layout_blob_read(&b, l, &m->config,
		    IMAGE_CONFIG_MAX)) < 0 ||
		    (rc = image_config_parse(&c, b.ptr, b.len)) < 0)
			goto done;
		if (c->ndiff_ids != m->nlayers) {
			rc = err_set(ERR_INVALID, "config lists %zu diff_ids for "
			    "%zu layers", c->ndiff_ids, m->nlayers);
			goto done;
		}
	}
	if (out_manifest) {
		*out_manifest = m;
		m = NULL;
	}
	if (out_config) {
		*out_config = c;
		c = NULL;
	}
done:
	if (rc < 0)
		err_wrap(rc, "cannot load '%s%s%s'", l->path, tag ? ":" : "",
		    tag ? tag : "");
	buf_free(&b);
	image_desc_clear(&d);
	image_manifest_free(idx);
	image_manifest_free(m);
	image_config_free(c);
	return rc;
}
