/* HS256 JSON Web Tokens; see include/slipway/jwt.h. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "slipway/alloc.h"
#include "slipway/base64.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/jwt.h"
#include "slipway/proc.h"

#define JWT_MAX 8192
#define JWT_LEEWAY 30
#define JWT_KEY_BYTES 32

static const char jwt_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static void
jwt_sign(unsigned char mac[32], const void *key, size_t keylen,
    const char *data, size_t n)
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, n,
	    mac, &len);
}

int
jwt_mint(char **out, const json_t *claims, const void *key, size_t keylen)
{
	unsigned char mac[32];
	struct buf b;
	char *body;
	int rc;

	body = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (body == NULL)
		return err_set(ERR_INVALID, "cannot encode token claims");
	buf_init(&b, JWT_MAX);
	if ((rc = base64_encode(&b, jwt_header, strlen(jwt_header), true)) <
	    0 || (rc = buf_putc(&b, '.')) < 0 ||
	    (rc = base64_encode(&b, body, strlen(body), true)) < 0)
		goto done;
	jwt_sign(mac, key, keylen, b.ptr, b.len);
	if ((rc = buf_putc(&b, '.')) < 0 ||
	    (rc = base64_encode(&b, mac, sizeof(mac), true)) < 0)
		goto done;
	*out = buf_detach(&b, NULL);
done:
	free(body);
	buf_free(&b);
	return rc;
}

/* Decode one base64url part as a JSON object. */
static int
jwt_part_json(json_t **out, const char *s, size_t n)
{
	struct buf b;
	json_t *j;

	buf_init(&b, JWT_MAX);
	if (base64_decode(&b, s, n, true) < 0 || b.ptr == NULL) {
		buf_free(&b);
		return err_set(ERR_AUTH, "malformed token");
	}
	j = json_loadb(b.ptr, b.len, JSON_REJECT_DUPLICATES, NULL);
	buf_free(&b);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(ERR_AUTH, "malformed token");
	}
	*out = j;
	return 0;
}

int
jwt_verify(json_t **out, const char *token, const void *key, size_t keylen,
    time_t now)
{
	const char *dot1, *dot2;
	unsigned char mac[32];
	struct buf sig;
	json_t *hdr = NULL, *claims = NULL, *v;
	int rc;

	if (strlen(token) > JWT_MAX || (dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL || strchr(dot2 + 1, '.'))
		return err_set(ERR_AUTH, "malformed token");
	if ((rc = jwt_part_json(&hdr, token, (size_t)(dot1 - token))) < 0)
		return rc;
	v = json_object_get(hdr, "alg");
	if (!json_is_string(v) || strcmp(json_string_value(v), "HS256")) {
		json_decref(hdr);
		return err_set(ERR_AUTH, "token algorithm is not HS256");
	}
	json_decref(hdr);
	buf_init(&sig, 64);
	if (base64_decode(&sig, dot2 + 1, strlen(dot2 + 1), true) < 0 ||
	    sig.len != sizeof(mac)) {
		buf_free(&sig);
		return err_set(ERR_AUTH, "malformed token signature");
	}
	jwt_sign(mac, key, keylen, token, (size_t)(dot2 - token));
	rc = CRYPTO_memcmp(mac, sig.ptr, sizeof(mac));
	buf_free(&sig);
	if (rc != 0)
		return err_set(ERR_AUTH, "token signature does not match");
	if ((rc = jwt_part_json(&claims, dot1 + 1,
	    (size_t)(dot2 - dot1 - 1))) < 0)
		return rc;
	v = json_object_get(claims, "exp");
	if (!json_is_integer(v) || json_integer_value(v) + JWT_LEEWAY < now) {
		json_decref(claims);
		return err_set(ERR_AUTH, v ? "token expired" :
		    "token has no expiry");
	}
	v = json_object_get(claims, "nbf");
	if (v && (!json_is_integer(v) ||
	    json_integer_value(v) - JWT_LEEWAY > now)) {
		json_decref(claims);
		return err_set(ERR_AUTH, "token not valid yet");
	}
	*out = claims;
	return 0;
}

/* Make a new key at path unless one appears there first: the key is
 * written to a temp file and link()ed into place, which fails when path
 * exists, so two services starting at once end up with the same key. */
static int
jwt_key_create(const char *path)
{
	unsigned char key[JWT_KEY_BYTES];
	char *tmp = NULL;
	int fd, rc;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return err_set(ERR_IO, "cannot make random bytes");
	if ((fd = fs_tmp_open(&tmp, path, 0600)) < 0)
		return fd;
	rc = proc_write_all(fd, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == 0 && fsync(fd) < 0)
		rc = err_sys("cannot sync '%s'", tmp);
	close(fd);
	if (rc == 0 && link(tmp, path) < 0 && errno != EEXIST)
		rc = err_sys("cannot create '%s'", path);
	unlink(tmp);
	free(tmp);
	return rc < 0 ? rc : fs_fsync_parent(path);
}

int
jwt_key_load(unsigned char **out, size_t *outlen, const char *path)
{
	struct buf b;
	int rc;

	rc = fs_read_file(&b, path, 4096);
	if (rc == ERR_NOTFOUND) {
		if ((rc = jwt_key_create(path)) < 0)
			return rc;
		rc = fs_read_file(&b, path, 4096);
	}
	if (rc < 0)
		return rc;
	if (b.len < 16) {
		buf_free(&b);
		return err_set(ERR_INVALID, "secret '%s' is shorter than 16 "
		    "bytes; remove it to make a new one", path);
	}
	*outlen = b.len;
	*out = (unsigned char *)buf_detach(&b, NULL);
	return 0;
}
