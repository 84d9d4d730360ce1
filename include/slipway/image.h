/*
 * OCI images on disk: the image layout (oci-layout, index.json,
 * blobs/<alg>/<hex>) as OCI image-spec v1.1 defines it, the documents in it
 * (descriptors, manifests, indexes, configs), and the two ways slipway makes
 * images: `image build` (a stack plus one slug layer) and `stack import`.
 *
 * One reader serves everyone: the builder, the registry client and the
 * runner all open layouts with image_layout_open() and read blobs with the
 * image_layout_blob_* calls, which check sizes and digests, so a corrupt or
 * hostile layout is an error, never a wrong image.  Every blob is written
 * to a temp file, hashed while written, fsync'd and renamed into place.
 */
#ifndef SLIPWAY_IMAGE_H
#define SLIPWAY_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>

#include <jansson.h>

#include "slipway/digest.h"

struct buf;

/* Media types (image-spec media-types.md and Docker's v2 schema 2). */
#define IMAGE_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMAGE_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define IMAGE_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define IMAGE_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define IMAGE_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define IMAGE_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define IMAGE_MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define IMAGE_MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define IMAGE_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define IMAGE_MT_DOCKER_LAYER_GZIP \
	"application/vnd.docker.image.rootfs.diff.tar.gzip"

/* The annotation that names a tag in index.json. */
#define IMAGE_ANNOT_REF_NAME "org.opencontainers.image.ref.name"
/* The label that carries the process types as a JSON object. */
#define IMAGE_LABEL_PROCESS_TYPES "io.slipway.process-types"
/* The app's web health check (slipway.yml): a path ("/health") or a JSON
 * object {"path","interval","timeout","deadline"} (seconds); runners read
 * it (docs/rollout.md). */
#define IMAGE_LABEL_HEALTHCHECK "io.slipway.healthcheck"

/* Caps on documents read into memory (manifests as distribution-spec
 * suggests; a config may carry a long history). */
#define IMAGE_MANIFEST_MAX ((size_t)4 << 20)
#define IMAGE_INDEX_JSON_MAX ((size_t)4 << 20)
#define IMAGE_CONFIG_MAX ((size_t)8 << 20)
/* Largest blob size a descriptor may claim (1 TiB): sizes come from
 * documents we did not write. */
#define IMAGE_BLOB_SIZE_MAX ((int64_t)1 << 40)
/* Longest tag (distribution-spec: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}). */
#define IMAGE_TAG_MAX 128

/* The creation time used when the caller gives none and SOURCE_DATE_EPOCH
 * is not set: a fixed value, so builds are reproducible. */
#define IMAGE_CREATED_DEFAULT "1970-01-01T00:00:00Z"

bool image_media_type_is_manifest(const char *mt);  /* OCI or Docker */
bool image_media_type_is_index(const char *mt);     /* OCI or Docker list */
bool image_media_type_is_layer(const char *mt);     /* tar, gzip, zstd */

/* A content descriptor.  Invariant once parsed: digest is a valid
 * "alg:hex" (so blobs/<alg>/<hex> is a safe path), 0 <= size <=
 * IMAGE_BLOB_SIZE_MAX, media_type is set.  Optional fields are NULL when
 * absent. */
struct image_desc {
	char *media_type;
	char digest[DIGEST_STR_MAX];
	int64_t size;
	char *ref_name;         /* org.opencontainers.image.ref.name */
	char *os;               /* platform, for index entries */
	char *arch;
	char *variant;
};

/* Free the strings of d and zero it (d itself is the caller's). */
void image_desc_clear(struct image_desc *d);
/* Deep copy; dst must be cleared or zeroed. */
void image_desc_copy(struct image_desc *dst, const struct image_desc *src);

/* A parsed image manifest or image index.  raw holds the exact bytes the
 * digest was computed over (never re-serialized).  For a manifest,
 * config and layers are set; for an index, manifests is. */
struct image_manifest {
	char *media_type;
	char digest[DIGEST_STR_MAX];
	char *raw;
	size_t raw_len;
	bool is_index;
	struct image_desc config;
	struct image_desc *layers;
	size_t nlayers;
	struct image_desc *manifests;
	size_t nmanifests;
};

/* Parse and validate a manifest or index (OCI or Docker v2 schema 2).
 * media_type is what the transport said (Content-Type, a descriptor), or
 * NULL to use the document's own mediaType field; when both are given they
 * must agree.  Data is copied.  Fails ERR_INVALID with the reason,
 * ERR_TOOBIG past IMAGE_MANIFEST_MAX, ERR_UNSUPPORTED for schema 1. */
int image_manifest_parse(struct image_manifest **out, const char *media_type,
    const void *data, size_t len);
void image_manifest_free(struct image_manifest *m);

/* From an index, the entry for os/arch (NULL: linux/amd64), or the only
 * entry when there is exactly one.  The pointer is into idx. */
int image_index_pick(const struct image_desc **out,
    const struct image_manifest *idx, const char *os, const char *arch);

/* The parts of an image config slipway reads.  Arrays end with NULL. */
struct image_config {
	char *os;
	char *arch;
	char *created;
	char *user;
	char *workdir;
	char **env;
	char **cmd;
	char **entrypoint;
	char **label_keys;      /* sorted */
	char **label_values;
	char **diff_ids;
	size_t ndiff_ids;
};

/* Parse and validate an image config (rootfs.type "layers", diff_ids all
 * valid digests).  Fails ERR_INVALID, ERR_TOOBIG past IMAGE_CONFIG_MAX. */
int image_config_parse(struct image_config **out, const void *data,
    size_t len);
void image_config_free(struct image_config *c);
/* The value of a label, or NULL. */
const char *image_config_label(const struct image_config *c, const char *key);

/*
 * Layouts.  struct image_layout is opaque; it holds the layout's path and
 * its index.json as read (or as last written).
 */
struct image_layout;

/* Open an existing layout: oci-layout must say imageLayoutVersion 1.0.0,
 * index.json must be a valid image index, blobs/ must exist.  Fails
 * ERR_NOTFOUND when dir is no layout, ERR_INVALID with the reason. */
int image_layout_open(struct image_layout **out, const char *dir);
/* Open dir as a layout, creating an empty one when dir is missing or an
 * empty directory. */
int image_layout_init(struct image_layout **out, const char *dir);
void image_layout_free(struct image_layout *l);
const char *image_layout_path(const struct image_layout *l);

/* Number of entries in index.json, and entry i (into l). */
size_t image_layout_count(const struct image_layout *l);
const struct image_desc *image_layout_entry(const struct image_layout *l,
    size_t i);

/* The index.json entry named tag, or with tag NULL the only entry.
 * ERR_NOTFOUND when no entry has that name, ERR_INVALID when tag is NULL
 * and there is not exactly one entry.  Copies into out (clear it after). */
int image_layout_resolve(struct image_desc *out, const struct image_layout *l,
    const char *tag);

/* Point tag at desc in index.json (replacing an entry of that name, or
 * with tag NULL an untagged entry of the same digest) and write index.json
 * atomically.  The blob must be in the layout already. */
int image_layout_tag(struct image_layout *l, const struct image_desc *desc,
    const char *tag);

/* Load the image a tag names: resolve, follow an index to linux/amd64 (or
 * its only entry), read and verify the manifest and the config.  Either
 * out may be NULL.  The runner and the client start here. */
int image_layout_load(struct image_manifest **out_manifest,
    struct image_config **out_config, const struct image_layout *l,
    const char *tag);

/* blobs/<alg>/<hex> under the layout.  Caller frees. */
char *image_layout_blob_path(const struct image_layout *l, const char *digest);
/* 0 when the blob is there with d->size bytes, ERR_NOTFOUND when missing,
 * ERR_INVALID when its size differs. */
int image_layout_blob_stat(const struct image_layout *l,
    const struct image_desc *d);
/* Hash the blob and compare with d (digest and size). */
int image_layout_blob_verify(const struct image_layout *l,
    const struct image_desc *d);
/* Read a blob of at most max bytes into out, checking size and digest. */
int image_layout_blob_read(struct buf *out, const struct image_layout *l,
    const struct image_desc *d, size_t max);
/* Open a blob for reading after checking its size (not its digest: use
 * image_layout_blob_verify first when the bytes matter).  Returns the fd. */
int image_layout_blob_open(const struct image_layout *l,
    const struct image_desc *d);
/* Store bytes as a blob; fills out->digest and out->size (sha256) and sets
 * out->media_type to a copy of media_type. */
int image_layout_blob_put(struct image_desc *out, struct image_layout *l,
    const char *media_type, const void *data, size_t len);
/* Copy blob d from src into dst (a hard link when they share a file
 * system), verifying its digest.  A blob dst has already is kept. */
int image_layout_blob_copy(struct image_layout *dst,
    const struct image_layout *src, const struct image_desc *d);

/*
 * Streaming blob writer: bytes go to a temp file in the layout while being
 * hashed; commit checks the digest (and size) and renames the file into
 * blobs/.  Freeing an uncommitted writer removes the temp file.
 */
struct image_blob_writer;

int image_blob_writer_open(struct image_blob_writer **out,
    struct image_layout *l);
/* ERR_TOOBIG once more than the limit given by _set_limit is written. */
int image_blob_writer_write(struct image_blob_writer *w, const void *data,
    size_t n);
void image_blob_writer_set_limit(struct image_blob_writer *w, int64_t max);
int64_t image_blob_writer_size(const struct image_blob_writer *w);
/* Finish: want_digest (NULL: any; its algorithm picks the hash, else
 * sha256) and want_size (-1: any) must match what was written, else
 * ERR_INVALID and nothing is stored.  out_digest may be NULL. */
int image_blob_writer_commit(struct image_blob_writer *w,
    const char *want_digest, int64_t want_size,
    char out_digest[DIGEST_STR_MAX]);
/* Start over with an empty temp file (a failed download's retry). */
int image_blob_writer_reset(struct image_blob_writer *w);
void image_blob_writer_free(struct image_blob_writer *w);

/*
 * Layers.
 */

/* Read a gzip'd tar from fd to its end: the digest of the compressed
 * bytes, its size, and the diff_id (sha256 of the uncompressed tar),
 * computed by streaming gunzip.  Fails ERR_INVALID on bad gzip data. */
int image_gzip_digests(char out_digest[DIGEST_STR_MAX],
    char out_diff_id[DIGEST_STR_MAX], int64_t *out_size, int fd);

/* Parse an RFC 3339 time ("2026-01-02T03:04:05Z", optional fraction and
 * offset) into seconds since the epoch. */
int image_time_parse(int64_t *out, const char *s);
/* The created time to use: s when given (validated), else
 * SOURCE_DATE_EPOCH when set, else IMAGE_CREATED_DEFAULT.  Caller frees. */
int image_created_pick(char **out, const char *s);

/* True when tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}. */
bool image_tag_is_valid(const char *tag);

/* Split "LAYOUT[:TAG]": the tag is what follows the last ':' when that
 * part has no '/'.  *out_path and *out_tag (NULL when none) are the
 * caller's. */
int image_ref_split(char **out_path, char **out_tag, const char *arg);

/*
 * Building.
 */

struct image_process {
	const char *type;       /* "web" */
	const char *command;    /* a shell command line, run by /bin/sh -c */
};

/* What `image build` needs.  Strings are borrowed. */
struct image_build_opts {
	const char *slug;        /* a .tar.gz of the app tree under app/ */
	const char *base;        /* layout of the stack, or NULL for none */
	const char *base_tag;    /* NULL: the base's only entry */
	const char *out;         /* layout to write (created when missing) */
	const char *tag;         /* tag in out */
	const struct image_process *procs;
	size_t nprocs;
	const char *revision;    /* labels; NULL leaves them out */
	const char *source;
	const char *created;     /* NULL: image_created_pick */
	const char *port;        /* PORT in Env; NULL: "5000" */
	/* The slug's digest and diff_id when the caller has them (the slug
	 * writer computes both): the slug is then not read again but linked
	 * into the layout as its layer blob (copied and hashed across file
	 * systems).  NULL: computed here. */
	const char *slug_digest;
	const char *slug_diff_id;
	const char *healthcheck; /* IMAGE_LABEL_HEALTHCHECK; NULL: none */
};

/* Build the image and tag it; out gets the manifest descriptor.  Same
 * inputs, same manifest digest. */
int image_build(struct image_desc *out, const struct image_build_opts *o);

/* Make a stack layout tagged tag from a directory tree, or from the host's
 * busybox-static (a rootfs with bin/busybox, its applet links, /tmp and
 * /etc/passwd with user app, uid 1000).  Reproducible: modes kept, owners
 * 0:0, times set to created. */
int image_stack_import_dir(struct image_desc *out, const char *dir,
    const char *layout, const char *tag, const char *created);
int image_stack_import_busybox(struct image_desc *out, const char *busybox,
    const char *layout, const char *tag, const char *created);

/*
 * Stacks in a home ($home/stacks/NAME, stacks.c) and Debian stacks
 * (debian.c, docs/stack.md).
 */
#define IMAGE_STACK_BUSYBOX "default"   /* the busybox stack's name */
#define IMAGE_STACK_TAG_RUN "run"
#define IMAGE_STACK_TAG_BUILD "build"
#define IMAGE_LABEL_STACK "io.slipway.stack"
#define IMAGE_LABEL_STACK_IMAGE "io.slipway.stack.image" /* run, build */
#define IMAGE_DEBIAN_SUITE_DEFAULT "bookworm"
#define IMAGE_DEBIAN_MIRROR_DEFAULT "http://deb.debian.org/debian"

/* A stack's name: the app rule, ^[a-z][a-z0-9-]{0,29}$. */
bool image_stack_name_is_valid(const char *s);

/* Where a stack's images are: layout:run_tag to run on, layout:build_tag
 * to build in (both NULL: the layout's only image serves as both). */
struct image_stack_ref {
	char *name;
	char *layout;
	const char *run_tag;
	const char *build_tag;
};

/* Find stack name in home: ERR_INVALID for a bad name, ERR_NOTFOUND with
 * a line saying how to list or make one.  *out is the caller's (clear
 * with image_stack_ref_clear). */
int image_stack_find(struct image_stack_ref *out, const char *home,
    const char *name);
void image_stack_ref_clear(struct image_stack_ref *r);

/* The stack apps with no choice use: stacks/.default, else
 * IMAGE_STACK_BUSYBOX.  Caller frees. */
int image_stack_default_get(char **out, const char *home);
/* Make name the default (atomically); it need not exist yet. */
int image_stack_default_set(const char *home, const char *name);

/* The stacks a home has, sorted by name: [{name, digest, build_digest,
 * size, created, suite, default}].  A layout that cannot be read is left
 * out.  Never fails but for a bad .default (then none is default). */

int image_stacks_list(json_t **out, const char *home);

bool image_debian_suite_is_valid(const char *s);
bool image_debian_mirror_is_valid(const char *s);

struct image_debian_opts {
	const char *home;
	const char *name;
	const char *suite;      /* NULL: IMAGE_DEBIAN_SUITE_DEFAULT */
	const char *mirror;     /* NULL: IMAGE_DEBIAN_MIRROR_DEFAULT */
	const char *cache;      /* .deb files kept between builds; NULL:
	                         * $home/stacks/.debs */
	const char *created;    /* RFC 3339; NULL: SOURCE_DATE_EPOCH, else
	                         * today 00:00 UTC */
	bool make_default;      /* write stacks/.default on success */
	volatile sig_atomic_t *stop; /* set: the bootstrap is killed */
	/* each line of progress (mmdebstrap's indented); may be NULL */
	void (*progress)(const char *line, void *payload);
	void *payload;
};

struct image_stack_built {
	char run_digest[DIGEST_STR_MAX];   /* manifests */
	char build_digest[DIGEST_STR_MAX];
	char run_layer[DIGEST_STR_MAX];    /* the two layers */
	char build_layer[DIGEST_STR_MAX];
	uint64_t run_size, build_size;     /* compressed layer bytes */
	bool unchanged;                    /* stacks/NAME had these already */
};

/* Bootstrap suite from mirror with mmdebstrap and put the pair at
 * $home/stacks/NAME (tags run and build).  Fails with one line (ERR_
 * INVALID for a bad name, suite or mirror before anything is written;
 * mmdebstrap's last error when it fails) and leaves the old stack, if
 * any, as it was and no temp tree behind.  Takes minutes. */
int image_stack_build_debian(struct image_stack_built *out,
    const struct image_debian_opts *o);

/* Commands (cli/commands.c). */
int image_cmd_build(int argc, char **argv);
int image_cmd_inspect(int argc, char **argv);
int image_cmd_stack_import(int argc, char **argv);
int image_cmd_stack_build(int argc, char **argv);
int image_cmd_stacks(int argc, char **argv);

#endif
