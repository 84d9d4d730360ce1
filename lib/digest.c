/* sha256/sha512 through OpenSSL EVP; see include/slipway/digest.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "slipway/digest.h"
#include "slipway/err.h"

static const EVP_MD *
digest_md(enum digest_algo algo)
{
	return algo == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

const char *
digest_algo_name(enum digest_algo algo)
{
	return algo == DIGEST_SHA512 ? "sha512" : "sha256";
}

int
digest_init(struct digest_ctx *ctx, enum digest_algo algo)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, digest_md(algo), NULL) != 1) {
		EVP_MD_CTX_free(md);
		ctx->md = NULL;
		return err_set(ERR_IO, "cannot start a %s digest",
		    digest_algo_name(algo));
	}
	ctx->md = md;
	ctx->algo = algo;
	return 0;
}

void
digest_update(struct digest_ctx *ctx, const void *data, size_t n)
{
	if (n)
		EVP_DigestUpdate(ctx->md, data, n);
}

void
digest_hex(char *out, const unsigned char *bytes, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[bytes[i] >> 4];
		out[2 * i + 1] = hex[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

void
digest_final(struct digest_ctx *ctx, char out[DIGEST_STR_MAX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t p;

	EVP_DigestFinal_ex(ctx->md, md, &n);
	EVP_MD_CTX_free(ctx->md);
	ctx->md = NULL;
	p = strlen(digest_algo_name(ctx->algo));
	memcpy(out, digest_algo_name(ctx->algo), p);
	out[p++] = ':';
	digest_hex(out + p, md, n);
}

void
digest_abort(struct digest_ctx *ctx)
{
	if (ctx && ctx->md) {
		EVP_MD_CTX_free(ctx->md);
		ctx->md = NULL;
	}
}

void
digest_buf(char out[DIGEST_STR_MAX], enum digest_algo algo, const void *data,
    size_t n)
{
	struct digest_ctx ctx;

	if (digest_init(&ctx, algo) < 0) {
		out[0] = '\0';
		return;
	}
	digest_update(&ctx, data, n);
	digest_final(&ctx, out);
}

int
digest_file(char out[DIGEST_STR_MAX], enum digest_algo algo, const char *path)
{
	struct digest_ctx ctx;
	char chunk[65536];
	ssize_t n;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys("cannot open '%s'", path);
	if ((rc = digest_init(&ctx, algo)) < 0) {
		close(fd);
		return rc;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_sys("cannot read '%s'", path);
			digest_abort(&ctx);
			close(fd);
			return rc;
		}
		digest_update(&ctx, chunk, (size_t)n);
	}
	close(fd);
	digest_final(&ctx, out);
	return 0;
}

int
digest_parse(const char *s, enum digest_algo *algo, const char **hex)
{
	size_t want;
	const char *h;

	if (strncmp(s, "sha256:", 7) == 0) {
		*algo = DIGEST_SHA256;
		h = s + 7;
		want = 64;
	} else if (strncmp(s, "sha512:", 7) == 0) {
		*algo = DIGEST_SHA512;
		h = s + 7;
		want = 128;
	} else if (strchr(s, ':') != NULL) {
		return err_set(ERR_UNSUPPORTED,
		    "digest algorithm of '%.80s' is not supported", s);
	} else {
		return err_set(ERR_INVALID, "'%.80s' is not a digest", s);
	}
	for (size_t i = 0; i < want; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return err_set(ERR_INVALID,
			    "'%.80s' is not a valid digest", s);
	}
	if (h[want] != '\0')
		return err_set(ERR_INVALID, "'%.80s' is not a valid digest", s);
	*hex = h;
	return 0;
}

bool
digest_is_valid(const char *s)
{
	enum digest_algo a;
	const char *h;

	return digest_parse(s, &a, &h) == 0;
}
