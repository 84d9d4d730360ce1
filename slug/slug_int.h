/*
 * Inside slug/: the gzip stage (gzip.c) and the tar writer that feeds it
 * (out.c).  Never included from outside slug/.
 *
 *   tree.c / dir.c --entries--> slug_out (libarchive pax writer)
 *        --tar bytes--> diff_id sha256 --> slug_gz (deflate, gzip framing)
 *        --gzip bytes--> digest sha256, size cap --> the caller's sink
 */
#ifndef SLIPWAY_SLUG_INT_H
#define SLIPWAY_SLUG_INT_H

#include <locale.h>
#include <stdbool.h>
#include <stdint.h>

#include <zlib.h>

#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/slug.h"

/* One gzip member per this much tar with libdeflate: large enough that the
 * lost window at each boundary costs nothing measurable, small enough to
 * keep two buffers of it in memory. */
#define SLUG_GZ_CHUNK ((size_t)1 << 20)

/*
 * The gzip stage.  Invariants: size counts every byte given to the sink and
 * never passes max; sha covers exactly those bytes; with libdeflate,
 * in_len < SLUG_GZ_CHUNK between calls (a full chunk is compressed at
 * once), so member boundaries fall at fixed offsets of the tar whatever
 * the write sizes were.
 */
struct slug_gz {
	enum slug_gzip engine;
	int level;
	struct libdeflate_compressor *ldc;
	z_stream z;
	bool z_live;
	uint32_t crc;           /* zlib: of the whole tar */
	uint64_t isize;         /* zlib: bytes of tar */
	unsigned char *in;      /* libdeflate: the pending chunk */
	size_t in_len;
	unsigned char *out;
	size_t out_cap;
	struct digest_ctx sha;
	uint64_t size, max;
	slug_sink_fn sink;
	void *payload;
};

int slug_gz_init(struct slug_gz *g, enum slug_gzip engine, int level,
    uint64_t max, slug_sink_fn sink, void *payload);
int slug_gz_write(struct slug_gz *g, const void *data, size_t len);
/* Flush the last member and its trailer; digest gets "sha256:<hex>". */
int slug_gz_finish(struct slug_gz *g, char digest[DIGEST_STR_MAX]);
void slug_gz_free(struct slug_gz *g);
/* Check engine and level; -1 becomes the default level. */
int slug_gz_check_level(enum slug_gzip engine, int *level);

/*
 * The tar writer.  Paths given to it are relative to the slug root,
 * without "app/" and without a trailing slash ("" is the root).  Every
 * libarchive call runs under the C.UTF-8 locale of this thread (set by
 * slug_out_open, restored by slug_out_finish/abort), so names are written
 * the same whatever the process locale: valid UTF-8 as pax "path", other
 * bytes as pax hdrcharset=BINARY.
 */
struct slug_out {
	struct archive *ar;
	struct archive_entry *entry;
	locale_t loc, old_loc;
	struct buf path;        /* "app/" + rel (+ "/") */
	struct digest_ctx tar_sha;
	uint64_t tar_size, max_tar;
	uint64_t file_left;     /* bytes of the open file still due */
	struct slug_gz gz;
	int64_t mtime;
	uint64_t entries;
	int err;                /* first error of the write callback */
	bool discard;           /* failed: drop what libarchive still writes */
};

int slug_out_open(struct slug_out *o, const struct slug_opts *opts,
    int64_t mtime, slug_sink_fn sink, void *payload);
int slug_out_dir(struct slug_out *o, const char *rel);
int slug_out_symlink(struct slug_out *o, const char *rel, const char *target);
/* Start a file of size bytes; exactly size bytes must follow through
 * slug_out_data.  Fails with ERR_TOOBIG first when size passes the cap. */
int slug_out_file(struct slug_out *o, const char *rel, uint64_t size,
    bool exec);
int slug_out_data(struct slug_out *o, const void *data, size_t len);
/* Check that size more bytes of file content still fit under the cap. */
int slug_out_room(struct slug_out *o, const char *rel, uint64_t size);
/* Close the tar and the gzip stream; fills in the digests and sizes. */
int slug_out_finish(struct slug_out *o, struct slug_info *info);
/* Give up (error paths); safe after finish and on a zeroed struct. */
void slug_out_abort(struct slug_out *o);

/* Does path itself match a pattern (its parent directories not checked:
 * the walks never enter a left-out directory)? */
bool slug_ignore_match_leaf(const struct slug_ignore *ig, const char *path,
    bool is_dir);

/* Is name one that never enters a slug (".git")? */
bool slug_name_is_excluded(const char *name);
/* Is name a valid single path component ("", ".", "..", '/' are not)? */
bool slug_name_is_valid(const char *name);

/* Compare two names in git tree order (a directory's name as if it ended
 * in '/'). */
int slug_name_cmp(const char *a, bool a_dir, const char *b, bool b_dir);

#endif
