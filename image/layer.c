/*
 * Layers as bytes: the digests of a gzip'd tar (compressed digest and
 * diff_id, by streaming gunzip with zlib), and a writer that turns tar
 * entries (libarchive) into a gzip layer blob while hashing both sides.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/image.h"

#include "image_int.h"

#define LAYER_CHUNK (128 << 10)

int
image_gzip_digests(char out_digest[DIGEST_STR_MAX],
    char out_diff_id[DIGEST_STR_MAX], int64_t *out_size, int fd)
{
	struct digest_ctx zctx = { 0 }, tctx = { 0 };
	unsigned char *in = NULL, *outb = NULL;
	z_stream z;
	int64_t size = 0;
	bool inited = false, at_end = false;
	ssize_t n;
	int rc, zrc;

	memset(&z, 0, sizeof(z));
	if ((rc = digest_init(&zctx, DIGEST_SHA256)) < 0 ||
	    (rc = digest_init(&tctx, DIGEST_SHA256)) < 0)
		goto done;
	/* 16 + MAX_WBITS: gzip framing only, not zlib or raw deflate. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		rc = err_set(ERR_IO, "cannot start gunzip");
		goto done;
	}
	inited = true;
	in = xmalloc(LAYER_CHUNK);
	outb = xmalloc(LAYER_CHUNK);
	for (;;) {
		n = read(fd, in, LAYER_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_sys("cannot read layer");
			goto done;
		}
		if (n == 0)
			break;
		digest_update(&zctx, in, (size_t)n);
		size += n;
		z.next_in = in;
		z.avail_in = (uInt)n;
		/* Run until this input is used up and zlib holds no more
		 * output (a full output buffer may mean more is pending). */
		do {
			if (at_end) {
				if (z.avail_in == 0)
					break;
				/* Another gzip member follows (RFC 1952
				 * allows several; gunzip reads them all). */
				inflateReset(&z);
				at_end = false;
			}
			z.next_out = outb;
			z.avail_out = LAYER_CHUNK;
			zrc = inflate(&z, Z_NO_FLUSH);
			if (zrc != Z_OK && zrc != Z_STREAM_END &&
			    zrc != Z_BUF_ERROR) {
				rc = err_set(ERR_INVALID, "layer is not valid "
				    "gzip data (%s)", z.msg ? z.msg :
				    "corrupt stream");
				goto done;
			}
			digest_update(&tctx, outb, LAYER_CHUNK - z.avail_out);
			if (zrc == Z_STREAM_END)
				at_end = true;
		} while (z.avail_in > 0 || z.avail_out == 0);
	}
	if (!at_end) {
		rc = err_set(ERR_INVALID, size == 0 ? "layer is empty, not gzip "
		    "data" : "layer is truncated gzip data");
		goto done;
	}
	digest_final(&zctx, out_digest);
	digest_final(&tctx, out_diff_id);
	*out_size = size;
	rc = 0;
done:
	digest_abort(&zctx);
	digest_abort(&tctx);
	if (inited)
		inflateEnd(&z);
	free(in);
	free(outb);
	return rc;
}

/* Invariant: until commit, a is open and its writes land in write_cb,
 * which hashes them (tar) and deflates them into w (gzip). */
struct image_layer_writer {
	struct archive *a;
	struct image_blob_writer *w;
	struct digest_ctx tar;
	z_stream z;
	bool z_inited;
	unsigned char *zbuf;
	int err;        /* first error in a callback, with err_set done */
};

/* Deflate in with flush, sending the output to the blob writer. */
static int
layer_deflate(struct image_layer_writer *lw, const void *in, size_t n,
    int flush)
{
	int zrc, rc;

	lw->z.next_in = (Bytef *)(uintptr_t)in;
	lw->z.avail_in = (uInt)n;
	do {
		lw->z.next_out = lw->zbuf;
		lw->z.avail_out = LAYER_CHUNK;
		zrc = deflate(&lw->z, flush);
		if (zrc == Z_STREAM_ERROR)
			return err_set(ERR_IO, "gzip failed");
		if ((rc = image_blob_writer_write(lw->w, lw->zbuf,
		    LAYER_CHUNK - lw->z.avail_out)) < 0)
			return rc;
	} while (lw->z.avail_out == 0 || (flush == Z_FINISH &&
	    zrc != Z_STREAM_END));
	return 0;
}

static la_ssize_t
layer_write_cb(struct archive *a, void *payload, const void *data,
    size_t n)
{
	struct image_layer_writer *lw = payload;
	const char *p = data;
	size_t left = n;
	int rc;

	digest_update(&lw->tar, data, n);
	while (left > 0) {
		/* avail_in is a uInt: feed at most LAYER_CHUNK at a time. */
		size_t part = left > LAYER_CHUNK ? LAYER_CHUNK : left;
		if ((rc = layer_deflate(lw, p, part, Z_NO_FLUSH)) < 0) {
			lw->err = rc;
			archive_set_error(a, EIO, "%s", err_last());
			return -1;
		}
		p += part;
		left -= part;
	}
	return (la_ssize_t)n;
}

int
image_layer_writer_open(struct image_layer_writer **out,
    struct image_layout *l)
{
	struct image_layer_writer *lw = xcalloc(1, sizeof(*lw));
	int rc;

	if ((rc = image_blob_writer_open(&lw->w, l)) < 0)
		goto fail;
	if ((rc = digest_init(&lw->tar, DIGEST_SHA256)) < 0)
		goto fail;
	/* windowBits 16+15: gzip framing; zlib writes mtime 0 and no name,
	 * so the same tar always gives the same bytes. */
	if (deflateInit2(&lw->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
	    16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = err_set(ERR_IO, "cannot start gzip");
		goto fail;
	}
	lw->z_inited = true;
	lw->zbuf = xmalloc(LAYER_CHUNK);
	lw->a = archive_write_new();
	if (lw->a == NULL)
		abort();
	/* pax_restricted: plain ustar headers, with a pax header only for
	 * what ustar cannot say (long names, large ids).  Names are written
	 * as the bytes they are (hdrcharset=BINARY): a tree's names are
	 * UTF-8 already (Debian's ca-certificates has some), and turning
	 * them into UTF-8 from our "C" locale fails. */
	if (archive_write_set_format_pax_restricted(lw->a) != ARCHIVE_OK ||
	    archive_write_set_format_option(lw->a, "pax", "hdrcharset",
	    "BINARY") != ARCHIVE_OK ||
	    archive_write_open(lw->a, lw, NULL, layer_write_cb, NULL) !=
	    ARCHIVE_OK) {
		rc = err_set(ERR_IO, "cannot start tar: %s",
		    archive_error_string(lw->a));
		goto fail;
	}
	*out = lw;
	return 0;
fail:
	image_layer_writer_free(lw);
	return rc;
}

void *
image_layer_writer_archive(struct image_layer_writer *w)
{
	return w->a;
}

int
image_layer_writer_commit(struct image_layer_writer *lw,
    struct image_desc *out, char out_diff_id[DIGEST_STR_MAX])
{
	char digest[DIGEST_STR_MAX];
	int rc;

	if (archive_write_close(lw->a) != ARCHIVE_OK) {
		if (lw->err < 0)
			return lw->err;
		return err_set(ERR_IO, "cannot finish tar: %s",
		    archive_error_string(lw->a));
	}
	if ((rc = layer_deflate(lw, NULL, 0, Z_FINISH)) < 0)
		return rc;
	if ((rc = image_blob_writer_commit(lw->w, NULL, -1, digest)) < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	out->size = image_blob_writer_size(lw->w);
	out->media_type = xstrdup(IMAGE_MT_OCI_LAYER_GZIP);
	digest_final(&lw->tar, out_diff_id);
	return 0;
}

void
image_layer_writer_free(struct image_layer_writer *lw)
{
	if (lw == NULL)
		return;
	if (lw->a)
		archive_write_free(lw->a);
	if (lw->z_inited)
		deflateEnd(&lw->z);
	digest_abort(&lw->tar);
	image_blob_writer_free(lw->w);
	free(lw->zbuf);
	free(lw);
}
