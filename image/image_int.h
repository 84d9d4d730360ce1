/*
 * Private to image/: the JSON side of descriptors and the layout
 * struct.  Never included from outside image/.
 */
#ifndef SLIPWAY_IMAGE_INT_H
#define SLIPWAY_IMAGE_INT_H

#include <jansson.h>

#include "slipway/image.h"

/* Invariant: path is the layout's directory without a trailing slash;
 * index is the JSON object of index.json as read or last written, and
 * entries[] its manifests, parsed (same order). */
struct image_layout {
	char *path;
	json_t *index;
	struct image_desc *entries;
	size_t nentries;
};

/* Parse a descriptor object.  what names it in messages ("layer 2").
 * Unknown fields are ignored, as the spec asks. */
int image_desc_parse(struct image_desc *out, const json_t *j,
    const char *what);
/* A new JSON object for d: mediaType, digest, size, and annotations with
 * the ref name, and platform, when d has them. */
json_t *image_desc_to_json(const struct image_desc *d);

/* Load JSON with duplicate keys rejected; what names the document. */
int image_json_load(json_t **out, const void *data, size_t len,
    const char *what);
/* Serialize compactly with sorted keys: the same object always gives the
 * same bytes.  Caller frees. */
char *image_json_dump(const json_t *j, size_t *len);

/* The media types a layer may have in an OCI manifest we write: the
 * Docker gzip type is the same bytes and maps to the OCI one.  NULL for
 * layers we cannot carry (foreign, non-distributable). */
const char *image_layer_type_to_oci(const char *mt);

/* A tar layer being written: tar bytes are hashed (diff_id), gzip'd and
 * streamed into a blob writer.  Reproducible: the gzip header carries no
 * name and no time. */
struct image_layer_writer;

int image_layer_writer_open(struct image_layer_writer **out,
    struct image_layout *l);
/* The libarchive writer to add entries to (struct archive *). */
void *image_layer_writer_archive(struct image_layer_writer *w);
/* Close the tar, flush gzip, commit the blob.  out gets the layer
 * descriptor (gzip media type), out_diff_id the tar's sha256. */
int image_layer_writer_commit(struct image_layer_writer *w,
    struct image_desc *out, char out_diff_id[DIGEST_STR_MAX]);
void image_layer_writer_free(struct image_layer_writer *w);

/* Write config and manifest for layers + diff_ids into l and tag them.
 * config is consumed.  Shared by build and stack import. */
int image_write_image(struct image_desc *out, struct image_layout *l,
    json_t *config, const struct image_desc *layers, size_t nlayers,
    const char *tag);

/* Write one tar+gzip layer of the system tree root into l, owners kept,
 * dev/, proc/ and sys/ as empty directories, every time mtime: all of it
 * when lower is NULL, else only what differs from the tree lower (the
 * layer below), with OCI whiteouts for what lower has and root has not.
 * out gets the layer, diff_id its tar's sha256 (stack.c). */
int image_stack_layer_tree(struct image_desc *out, char diff_id[DIGEST_STR_MAX],
    struct image_layout *l, const char *root, const char *lower,
    int64_t mtime);

/* The OCI architecture name of this machine ("amd64", "arm64"). */
const char *image_host_arch(void);

#endif
