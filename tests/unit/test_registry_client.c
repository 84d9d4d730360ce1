/* Unit tests for the registry client's parsers: references, repository
 * names, WWW-Authenticate challenges, Location resolution. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/registry.h"

#include "../../registry/registry_int.h"

TEST(registry_client__ref_parse)
{
	struct registry_ref r;

	EXPECT_OK(registry_ref_parse(&r, "127.0.0.1:5000/app:v1"));
	EXPECT_STR("127.0.0.1:5000", r.registry);
	EXPECT_STR("app", r.repo);
	EXPECT_STR("v1", r.tag);
	EXPECT_TRUE(r.digest == NULL);
	registry_ref_clear(&r);
	EXPECT_OK(registry_ref_parse(&r, "reg.example.com/team/app"));
	EXPECT_STR("team/app", r.repo);
	EXPECT_TRUE(r.tag == NULL);
	registry_ref_clear(&r);
	EXPECT_OK(registry_ref_parse(&r, "[::1]:5000/a/b@sha256:e3b0c44298fc"
	    "1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	EXPECT_STR("a/b", r.repo);
	EXPECT_TRUE(strncmp(r.digest, "sha256:e3b0", 11) == 0);
	registry_ref_clear(&r);
}

TEST(registry_client__ref_parse_hostile)
{
	static const char *const bad[] = {
		"app:v1",                       /* no registry */
		"/app:v1",
		"reg/App:v1",                   /* upper case */
		"reg/a/../b:v1",
		"reg/a//b:v1",
		"reg/a/:v1",
		"reg/-a:v1",
		"reg/a--:v1",
		"reg/a___b:v1",
		"reg/app:../x",
		"reg/app:v1:v2/x",
		"reg/app@sha256:abc",
		"reg/app@md5:00",
		"user@reg/app:v1",              /* userinfo in the host */
		"reg:99999/app:v1",
		"reg:/app:v1",
		"reg?x/app:v1",
		"reg/ap p:v1",
	};
	struct registry_ref r;
	char *long_name;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (registry_ref_parse(&r, bad[i]) >= 0)
			harness_fail(__FILE__, __LINE__, "'%s' was accepted",
			    bad[i]);
	}
	/* 300 characters: over the 255 cap */
	long_name = xcalloc(320, 1);
	memcpy(long_name, "reg/", 4);
	memset(long_name + 4, 'a', 300);
	EXPECT_INT(ERR_INVALID, registry_ref_parse(&r, long_name));
	free(long_name);
}

TEST(registry_client__repo_grammar)
{
	EXPECT_TRUE(registry_repo_is_valid("a"));
	EXPECT_TRUE(registry_repo_is_valid("a.b_c__d-e---f/g0"));
	EXPECT_TRUE(!registry_repo_is_valid(""));
	EXPECT_TRUE(!registry_repo_is_valid("a."));
	EXPECT_TRUE(!registry_repo_is_valid("a..b"));
	EXPECT_TRUE(!registry_repo_is_valid("a/"));
	EXPECT_TRUE(!registry_repo_is_valid("a/.b"));
	EXPECT_TRUE(!registry_repo_is_valid("A"));
}

TEST(registry_client__challenge_parse)
{
	struct registry_client_challenge ch;

	EXPECT_OK(registry_client_challenge_parse(&ch,
	    "Bearer realm=\"https://auth."
	    "example.com/token\",service=\"registry.example.com\",scope="
	    "\"repository:app:pull,push\""));
	EXPECT_STR("Bearer", ch.scheme);
	EXPECT_STR("https://auth.example.com/token", ch.realm);
	EXPECT_STR("registry.example.com", ch.service);
	EXPECT_STR("repository:app:pull,push", ch.scope);
	registry_client_challenge_clear(&ch);
	/* unquoted values, spaces, escapes, unknown parameters */
	EXPECT_OK(registry_client_challenge_parse(&ch,
	    "Basic  realm = \"a \\\"b\\\"\" ," " charset=UTF-8"));
	EXPECT_STR("Basic", ch.scheme);
	EXPECT_STR("a \"b\"", ch.realm);
	EXPECT_TRUE(ch.scope == NULL);
	registry_client_challenge_clear(&ch);
	EXPECT_OK(registry_client_challenge_parse(&ch,
	    "Bearer realm=http://x/t"));
	EXPECT_STR("http://x/t", ch.realm);
	registry_client_challenge_clear(&ch);
	/* malformed */
	EXPECT_INT(ERR_INVALID, registry_client_challenge_parse(&ch, ""));
	EXPECT_INT(ERR_INVALID, registry_client_challenge_parse(&ch,
	    "Bearer realm=\"unterminated"));
	EXPECT_INT(ERR_INVALID, registry_client_challenge_parse(&ch,
	    "Bearer realm=\"a\x01b\""));
}

TEST(registry_client__location_resolve)
{
	struct registry_client *c;
	char *u;

	EXPECT_OK(registry_client_new(&c, "127.0.0.1:5000", NULL));
	u = registry_client_url_resolve(c,
	    "/v2/app/blobs/uploads/abc?_state=x");
	EXPECT_STR("http://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=x",
	    u);
	free(u);
	u = registry_client_url_resolve(c, "https://storage.example.com/up/1");
	EXPECT_STR("https://storage.example.com/up/1", u);
	free(u);
	EXPECT_TRUE(registry_client_url_resolve(c,
	    "file:///etc/passwd") == NULL);
	EXPECT_TRUE(registry_client_url_resolve(c, "") == NULL);
	u = registry_client_url_add_query("http://h/p?a=1", "digest",
	    "sha256:ab");
	EXPECT_STR("http://h/p?a=1&digest=sha256%3Aab", u);
	free(u);
	registry_client_free(c);
	/* https unless loopback or --insecure */
	EXPECT_OK(registry_client_new(&c, "registry.example.com", NULL));
	u = registry_client_url(c, "/v2/");
	EXPECT_STR("https://registry.example.com/v2/", u);
	free(u);
	registry_client_free(c);
	EXPECT_INT(ERR_INVALID, registry_client_new(&c, "a@b", NULL));
}
