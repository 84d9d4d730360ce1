/*
 * The gzip stage of a slug write: tar bytes in, gzip bytes out to the sink,
 * with the sha256 and the size cap on what goes out.
 *
 * We write the gzip framing ourselves (RFC 1952) around raw deflate, so the
 * header is the same everywhere: no name, no time, XFL 0, OS 3 (Unix).
 * libdeflate compresses whole buffers only, so with it the tar is cut into
 * SLUG_GZ_CHUNK pieces at fixed offsets and each becomes one gzip member; a
 * gzip file of several members is one stream to every reader (RFC 1952
 * 2.2, gzip -d, libarchive, Go's compress/gzip, Python).  zlib streams
 * one member for the whole tar.
 */
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <zlib.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slug_int.h"

/* ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=3 */
static const unsigned char slug_gz_header[10] = {
	0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03,
};

/* zlib output is handed to the sink in pieces of this size. */
#define SLUG_GZ_ZOUT ((size_t)256 << 10)

int
slug_gz_check_level(enum slug_gzip engine, int *level)
{
	int max;

	switch (engine) {
	case SLUG_GZIP_LIBDEFLATE:
		max = 12;
		break;
	case SLUG_GZIP_ZLIB:
		max = 9;
		break;
	default:
		return err_set(ERR_INVALID, "unknown gzip engine %d",
		    (int)engine);
	}
	if (*level < 0)
		*level = engine == SLUG_GZIP_DEFAULT ? SLUG_LEVEL_DEFAULT : 6;
	if (*level > max)
		return err_set(ERR_INVALID,
		    "compression level %d is out of range (0-%d for %s)",
		    *level, max,
		    engine == SLUG_GZIP_ZLIB ? "zlib" : "libdeflate");
	return 0;
}

/* Every byte to the sink goes through here: cap, digest, count. */
static int
slug_gz_emit(struct slug_gz *g, const void *data, size_t len)
{
	int rc;

	if (len == 0)
		return 0;
	if (len > g->max - g->size)
		return err_set(ERR_TOOBIG,
		    "slug is larger than the cap of %llu bytes "
		    "(set a larger one with --max-size)",
		    (unsigned long long)g->max);
	digest_update(&g->sha, data, len);
	g->size += len;
	if ((rc = g->sink(g->payload, data, len)) < 0)
		return rc;
	return 0;
}

static void
slug_put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

int
slug_gz_init(struct slug_gz *g, enum slug_gzip engine, int level,
    uint64_t max, slug_sink_fn sink, void *payload)
{
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = slug_gz_check_level(engine, &level)) < 0)
		return rc;
	g->engine = engine;
	g->level = level;
	g->max = max;
	g->sink = sink;
	g->payload = payload;
	if ((rc = digest_init(&g->sha, DIGEST_SHA256)) < 0)
		return rc;
	if (engine == SLUG_GZIP_LIBDEFLATE) {
		g->ldc = libdeflate_alloc_compressor(level);
		if (g->ldc == NULL) {
			digest_abort(&g->sha);
			return err_set(ERR_IO, "cannot start libdeflate at "
			    "level %d", level);
		}
		g->in = xmalloc(SLUG_GZ_CHUNK);
		/* room for header, deflate's worst case and trailer */
		g->out_cap = sizeof(slug_gz_header) +
		    libdeflate_deflate_compress_bound(g->ldc, SLUG_GZ_CHUNK) +
		    8;
		g->out = xmalloc(g->out_cap);
		return 0;
	}
	/* raw deflate (negative window bits): we frame it ourselves */
	if (deflateInit2(&g->z, level, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		digest_abort(&g->sha);
		return err_set(ERR_IO, "cannot start zlib at level %d", level);
	}
	g->z_live = true;
	g->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	g->out_cap = SLUG_GZ_ZOUT;
	g->out = xmalloc(g->out_cap);
	return slug_gz_emit(g, slug_gz_header, sizeof(slug_gz_header));
}

/* One complete gzip member of len bytes at data (libdeflate). */
static int
slug_gz_member(struct slug_gz *g, const unsigned char *data, size_t len)
{
	size_t h = sizeof(slug_gz_header), n;
	unsigned char *p = g->out;

	memcpy(p, slug_gz_header, h);
	n = libdeflate_deflate_compress(g->ldc, data, len, p + h,
	    g->out_cap - h - 8);
	if (n == 0)     /* cannot happen: the buffer has the bound */
		return err_set(ERR_IO, "libdeflate could not compress a "
		    "chunk of %zu bytes", len);
	slug_put_le32(p + h + n, (uint32_t)libdeflate_crc32(0, data, len));
	slug_put_le32(p + h + n + 4, (uint32_t)len);
	return slug_gz_emit(g, p, h + n + 8);
}

static int
slug_gz_deflate(struct slug_gz *g, int flush)
{
	int zr, rc;

	do {
		g->z.next_out = g->out;
		g->z.avail_out = (uInt)g->out_cap;
		zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_ERROR)
			return err_set(ERR_IO, "zlib deflate failed");
		if ((rc = slug_gz_emit(g, g->out,
		    g->out_cap - g->z.avail_out)) < 0)
			return rc;
	} while (g->z.avail_out == 0 || (flush == Z_FINISH &&
	    zr != Z_STREAM_END));
	return 0;
}

int
slug_gz_write(struct slug_gz *g, const void *data, size_t len)
{
	const unsigned char *p = data;
	int rc;

	if (g->engine == SLUG_GZIP_ZLIB) {
		g->crc = (uint32_t)libdeflate_crc32(g->crc, p, len);
		g->isize += len;
		while (len > 0) {
			/* avail_in is a uInt: feed at most 1 GiB a time */
			size_t n = len < ((size_t)1 << 30) ? len :
			    (size_t)1 << 30;
			g->z.next_in = (unsigned char *)(uintptr_t)p;
			g->z.avail_in = (uInt)n;
			if ((rc = slug_gz_deflate(g, Z_NO_FLUSH)) < 0)
				return rc;
			p += n;
			len -= n;
		}
		return 0;
	}
	while (len > 0) {
		size_t n;

		/* A whole chunk straight from the caller: no copy. */
		if (g->in_len == 0 && len >= SLUG_GZ_CHUNK) {
			if ((rc = slug_gz_member(g, p, SLUG_GZ_CHUNK)) < 0)
				return rc;
			p += SLUG_GZ_CHUNK;
			len -= SLUG_GZ_CHUNK;
			continue;
		}
		n = SLUG_GZ_CHUNK - g->in_len;
		if (n > len)
			n = len;
		memcpy(g->in + g->in_len, p, n);
		g->in_len += n;
		p += n;
		len -= n;
		if (g->in_len == SLUG_GZ_CHUNK) {
			if ((rc = slug_gz_member(g, g->in, g->in_len)) < 0)
				return rc;
			g->in_len = 0;
		}
	}
	return 0;
}

int
slug_gz_finish(struct slug_gz *g, char digest[DIGEST_STR_MAX])
{
	unsigned char trailer[8];
	int rc;

	if (g->engine == SLUG_GZIP_ZLIB) {
		g->z.next_in = NULL;
		g->z.avail_in = 0;
		if ((rc = slug_gz_deflate(g, Z_FINISH)) < 0)
			return rc;
		slug_put_le32(trailer, g->crc);
		slug_put_le32(trailer + 4, (uint32_t)g->isize);
		if ((rc = slug_gz_emit(g, trailer, sizeof(trailer))) < 0)
			return rc;
	} else if (g->in_len > 0 || g->size == 0) {
		/* the last, short member (or the only one of an empty tar) */
		if ((rc = slug_gz_member(g, g->in, g->in_len)) < 0)
			return rc;
		g->in_len = 0;
	}
	digest_final(&g->sha, digest);
	return 0;
}

void
slug_gz_free(struct slug_gz *g)
{
	if (g == NULL)
		return;
	if (g->z_live)
		deflateEnd(&g->z);
	g->z_live = false;
	libdeflate_free_compressor(g->ldc);
	g->ldc = NULL;
	digest_abort(&g->sha);
	free(g->in);
	free(g->out);
	g->in = g->out = NULL;
}
