/* Unit tests for service URLs (lib/url.c). */
#include <stdbool.h>
#include <stdlib.h>

#include "harness.h"
#include "slipway/err.h"
#include "slipway/url.h"

/* A scheme says how to speak to a registry; only a bare loopback name is
 * plain http by default (and "localhost.example.com" is not loopback). */
TEST(url__service_parse)
{
	static const struct { const char *url, *hostport; bool plain; } ok[] = {
		{ "http://10.0.0.5:5000", "10.0.0.5:5000", true },
		{ "https://127.0.0.1:5000", "127.0.0.1:5000", false },
		{ "10.0.0.5:5000", "10.0.0.5:5000", false },
		{ "127.0.0.1:5000", "127.0.0.1:5000", true },
		{ "localhost:5000", "localhost:5000", true },
		{ "localhost.example.com:5000", "localhost.example.com:5000",
		    false },
		{ "http://[::1]:5000", "[::1]:5000", true },
	};
	static const char *const bad[] = {
		"", "http://", "ftp://reg:5000", "http://reg:5000/v2",
		"http://user@reg:5000", "https://reg:99999", "reg:5000?x",
		"http:/reg:5000", "HTTP://reg:5000",
	};
	char *hp;
	bool plain;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		EXPECT_OK(url_service_parse(&hp, &plain, ok[i].url));
		EXPECT_STR(ok[i].hostport, hp);
		EXPECT_TRUE(plain == ok[i].plain);
		free(hp);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_TRUE(url_service_parse(&hp, &plain, bad[i]) ==
		    ERR_INVALID);
		EXPECT_TRUE(hp == NULL);
	}
}
