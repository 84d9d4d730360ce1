/*
 * Content digests as OCI writes them: "sha256:<64 hex>" (sha512 accepted
 * where the spec allows it).  Streaming, so large blobs are hashed while
 * they are written and never held in memory.
 */
#ifndef SLIPWAY_DIGEST_H
#define SLIPWAY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

enum digest_algo {
	DIGEST_SHA256 = 0,
	DIGEST_SHA512 = 1,
};

/* "sha512:" + 128 hex + NUL */
#define DIGEST_STR_MAX 136

struct digest_ctx {
	void *md;               /* EVP_MD_CTX *, opaque to callers */
	enum digest_algo algo;
};

int digest_init(struct digest_ctx *ctx, enum digest_algo algo);
void digest_update(struct digest_ctx *ctx, const void *data, size_t n);
/* Writes "algo:hex" into out and frees the context. */
void digest_final(struct digest_ctx *ctx, char out[DIGEST_STR_MAX]);
/* Free without a result (on error paths); accepts a zeroed ctx. */
void digest_abort(struct digest_ctx *ctx);

/* One-shot helpers. */
void digest_buf(char out[DIGEST_STR_MAX], enum digest_algo algo,
    const void *data, size_t n);
int digest_file(char out[DIGEST_STR_MAX], enum digest_algo algo,
    const char *path);

/* Parse "sha256:<64 lower hex>" or "sha512:<128 lower hex>".  On success
 * *algo is set and *hex points into s.  Anything else is ERR_INVALID
 * (unknown algorithm: ERR_UNSUPPORTED). */
int digest_parse(const char *s, enum digest_algo *algo, const char **hex);
bool digest_is_valid(const char *s);

const char *digest_algo_name(enum digest_algo algo);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void digest_hex(char *out, const unsigned char *bytes, size_t n);

#endif
