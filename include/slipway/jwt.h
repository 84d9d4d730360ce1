/*
 * Compact JSON Web Tokens signed with HMAC-SHA256 (JWS "HS256"), the
 * format of slipway's registry tokens (Docker token flow) and of nothing
 * else so far.  The key is the bytes of $SLIPWAY_HOME/secret.
 */
#ifndef SLIPWAY_JWT_H
#define SLIPWAY_JWT_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

/* Sign claims (not modified, not kept) into a token; caller frees *out. */
int jwt_mint(char **out, const json_t *claims, const void *key,
    size_t keylen);

/* Check token's signature and expiry ("exp", and "nbf" if present, with
 * 30 s of leeway) against now.  On success *out holds the claims (caller
 * json_decref's).  Fails with ERR_AUTH naming why: malformed, bad
 * signature, wrong algorithm, expired. */
int jwt_verify(json_t **out, const char *token, const void *key,
    size_t keylen, time_t now);

/* Read the key from path, or make 32 random bytes there (0600) when it is
 * missing.  *out is malloc'd. */
int jwt_key_load(unsigned char **out, size_t *outlen, const char *path);

#endif
