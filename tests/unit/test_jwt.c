/* Unit tests for lib/jwt.c and lib/base64.c. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/base64.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/jwt.h"

static const char key[] = "0123456789abcdef0123456789abcdef";

static char *
t_mint(long long exp)
{
	json_t *c = json_pack("{s:s, s:I}", "sub", "alice", "exp", exp);
	char *tok = NULL;

	EXPECT_OK(jwt_mint(&tok, c, key, 32));
	json_decref(c);
	return tok;
}

TEST(jwt__roundtrip)
{
	char *tok = t_mint(2000);
	json_t *claims = NULL;

	EXPECT_OK(jwt_verify(&claims, tok, key, 32, 1000));
	EXPECT_STR("alice", json_string_value(json_object_get(claims, "sub")));
	json_decref(claims);
	free(tok);
}

TEST(jwt__expired_and_tampered)
{
	char *tok = t_mint(1000);
	json_t *claims = NULL;

	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, tok, key, 32, 2000));
	EXPECT_ERR_HAS("expired");
	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, tok, "another key 0123456",
	    19, 900));
	EXPECT_ERR_HAS("signature");
	tok[strlen(tok) - 2] ^= 1;
	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, tok, key, 32, 900));
	free(tok);
}

TEST(jwt__malformed)
{
	json_t *claims = NULL;

	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, "", key, 32, 0));
	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, "a.b", key, 32, 0));
	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, "a.b.c.d", key, 32, 0));
	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, "!!.??.**", key, 32, 0));
	/* alg none must never pass */
	EXPECT_INT(ERR_AUTH, jwt_verify(&claims, "eyJhbGciOiJub25lIn0."
	    "eyJleHAiOjk5OTk5OTk5OTl9.", key, 32, 0));
	EXPECT_ERR_HAS("HS256");
}

TEST(jwt__key_load_creates_0600)
{
	unsigned char *k1, *k2;
	size_t n1, n2;
	struct stat st;

	EXPECT_OK(jwt_key_load(&k1, &n1, "secret"));
	EXPECT_INT(0, stat("secret", &st));
	EXPECT_INT(0600, st.st_mode & 0777);
	EXPECT_OK(jwt_key_load(&k2, &n2, "secret"));
	EXPECT_INT(n1, n2);
	EXPECT_TRUE(memcmp(k1, k2, n1) == 0);
	free(k1);
	free(k2);
	SH("printf short > bad");
	EXPECT_INT(ERR_INVALID, jwt_key_load(&k1, &n1, "bad"));
}

TEST(base64__vectors)
{
	static const char *const in[] = { "", "f", "fo", "foo", "foob",
	    "fooba", "foobar" };
	static const char *const std[] = { "", "Zg==", "Zm8=", "Zm9v",
	    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	struct buf b;

	for (int i = 0; i < 7; i++) {
		buf_init(&b, 0);
		EXPECT_OK(base64_encode(&b, in[i], strlen(in[i]), false));
		EXPECT_STR(std[i], b.ptr ? b.ptr : "");
		buf_free(&b);
		buf_init(&b, 0);
		EXPECT_OK(base64_decode(&b, std[i], strlen(std[i]), false));
		EXPECT_STR(in[i], b.ptr ? b.ptr : "");
		buf_free(&b);
	}
	buf_init(&b, 0);
	EXPECT_OK(base64_encode(&b, "\xfb\xff", 2, true));
	EXPECT_STR("-_8", b.ptr);
	buf_free(&b);
	buf_init(&b, 0);
	EXPECT_INT(ERR_INVALID, base64_decode(&b, "a$bc", 4, false));
	EXPECT_INT(ERR_INVALID, base64_decode(&b, "abcde", 5, false));
	buf_free(&b);
}

TEST(jwt__key_load_racers_agree)
{
	/* Eight processes create the key at once: all must read one key. */
	SH("rm -f secret");
	for (int i = 0; i < 8; i++) {
		if (fork() == 0) {
			unsigned char *k;
			size_t n;
			char name[16];
			if (jwt_key_load(&k, &n, "secret") < 0)
				_exit(1);
			snprintf(name, sizeof(name), "k%d", i);
			fs_write_atomic(name, k, n, 0600);
			free(k);
			_exit(0);
		}
	}
	while (wait(NULL) > 0)
		;
	SH("for i in 1 2 3 4 5 6 7; do cmp -s k0 k$i || exit 1; done");
	SH("cmp -s k0 secret && test $(ls -A | wc -l) -eq 9");
}
