/*
 * Compressor micro-benchmark for bench/slug.sh: the same tar (read into
 * memory first, so no I/O is timed) compressed to gzip four ways at one
 * level, output counted and dropped:
 *   libarchive  libarchive's own gzip filter (format "raw": the bytes as
 *               they are), written through archive_write_open callbacks
 *   zlib        zlib deflate straight, one member, 256 KiB output pieces
 *   libdeflate  one member per CHUNK bytes, as slug/gzip.c does
 * usage: slug_gzip FILE LEVEL ROUNDS [CHUNK_KIB...]
 * (with CHUNK_KIB given, only libdeflate at those member sizes).
 * Prints one line per way: "way level chunk median_seconds bytes"; the
 * seconds are this process's CPU time, so busy neighbours on a shared
 * machine move them little.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <libdeflate.h>
#include <zlib.h>

static unsigned char *data;
static size_t data_len;
static unsigned long long out_bytes;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static la_ssize_t
count_cb(struct archive *a, void *c, const void *buf, size_t n)
{
	(void)a; (void)c; (void)buf;
	out_bytes += n;
	return (la_ssize_t)n;
}

static void
run_libarchive(int level)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char opt[64];

	archive_write_set_format_raw(a);
	archive_write_add_filter_gzip(a);
	snprintf(opt, sizeof(opt), "gzip:compression-level=%d", level);
	if (archive_write_set_options(a, opt) != ARCHIVE_OK) {
		fprintf(stderr, "libarchive: %s\n", archive_error_string(a));
		exit(1);
	}
	archive_write_open(a, NULL, NULL, count_cb, NULL);
	archive_entry_set_pathname(e, "slug.tar");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_size(e, (la_int64_t)data_len);
	archive_write_header(a, e);
	for (size_t off = 0; off < data_len; off += 65536) {
		size_t n = data_len - off < 65536 ? data_len - off : 65536;
		archive_write_data(a, data + off, n);
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
}

static void
run_zlib(int level)
{
	static unsigned char out[256 << 10];
	z_stream z;

	memset(&z, 0, sizeof(z));
	deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
	z.next_in = data;
	z.avail_in = (uInt)data_len;
	do {
		z.next_out = out;
		z.avail_out = sizeof(out);
		deflate(&z, Z_FINISH);
		out_bytes += sizeof(out) - z.avail_out;
	} while (z.avail_out == 0);
	deflateEnd(&z);
}

static void
run_libdeflate(int level, size_t chunk)
{
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	size_t cap = libdeflate_deflate_compress_bound(c, chunk);
	unsigned char *out = malloc(cap);

	for (size_t off = 0; off < data_len; off += chunk) {
		size_t n = data_len - off < chunk ? data_len - off : chunk;
		out_bytes += 18 + libdeflate_deflate_compress(c, data + off, n,
		    out, cap);
		(void)libdeflate_crc32(0, data + off, n);
	}
	free(out);
	libdeflate_free_compressor(c);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
measure(const char *way, int level, size_t chunk, int rounds)
{
	double t[64];
	unsigned long long bytes = 0;

	for (int i = 0; i < rounds; i++) {
		double t0 = now();
		out_bytes = 0;
		if (strcmp(way, "libarchive") == 0)
			run_libarchive(level);
		else if (strcmp(way, "zlib") == 0)
			run_zlib(level);
		else
			run_libdeflate(level, chunk);
		t[i] = now() - t0;
		bytes = out_bytes;
	}
	qsort(t, (size_t)rounds, sizeof(t[0]), cmp_double);
	printf("%-10s %2d %6zu %8.3f %llu\n", way, level, chunk >> 10,
	    t[rounds / 2], bytes);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	FILE *f;
	int level, rounds;

	if (argc < 4) {
		fprintf(stderr, "usage: slug_gzip FILE LEVEL ROUNDS "
		    "[CHUNK_KIB...]\n");
		return 2;
	}
	level = atoi(argv[2]);
	rounds = atoi(argv[3]);
	if (rounds < 1 || rounds > 64)
		rounds = 3;
	if ((f = fopen(argv[1], "rb")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	data_len = (size_t)ftell(f);
	rewind(f);
	data = malloc(data_len);
	if (fread(data, 1, data_len, f) != data_len) {
		perror("read");
		return 1;
	}
	fclose(f);
	if (argc == 4) {
		measure("libarchive", level, 0, rounds);
		measure("zlib", level, 0, rounds);
		measure("libdeflate", level, 1 << 20, rounds);
	}
	for (int i = 4; i < argc; i++)
		measure("libdeflate", level, (size_t)atoi(argv[i]) << 10,
		    rounds);
	free(data);
	return 0;
}
