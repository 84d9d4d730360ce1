/* Service URLs and host:port text; see include/slipway/url.h. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/parse.h"
#include "slipway/url.h"

/* host[:port], a name or an IPv4 address, or [IPv6][:port].  No userinfo,
 * no path, nothing a URL parser could read another way. */
bool
url_hostport_is_valid(const char *s)
{
	const char *p = s;

	if (*p == '\0' || strlen(s) > 253)
		return false;
	if (*p == '[') {
		for (p++; *p && *p != ']'; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
				return false;
		if (*p++ != ']')
			return false;
	} else {
		for (; *p && *p != ':'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return false;
		if (p == s)
			return false;
	}
	if (*p == ':') {
		unsigned port;
		return parse_port(&port, p + 1) == 0;
	}
	return *p == '\0';
}

/* Loopback registries are spoken to in plain http (as docker does):
 * there is nobody on the wire to protect against. */
static bool
url_is_loopback(const char *hostport)
{
	return strncmp(hostport, "127.", 4) == 0 ||
	    strcmp(hostport, "localhost") == 0 ||
	    strncmp(hostport, "localhost:", 10) == 0 ||
	    strncmp(hostport, "[::1]", 5) == 0;
}

int
url_service_parse(char **hostport, bool *plain, const char *url)
{
	const char *rest = url;
	int scheme = -1;        /* -1: none given, 0: https, 1: http */

	*hostport = NULL;
	if (strncmp(url, "http://", 7) == 0) {
		scheme = 1;
		rest = url + 7;
	} else if (strncmp(url, "https://", 8) == 0) {
		scheme = 0;
		rest = url + 8;
	}
	if (!url_hostport_is_valid(rest))
		return err_set(ERR_INVALID, "'%.200s' is not a service URL "
		    "(http://HOST:PORT, https://HOST:PORT or HOST:PORT)", url);
	*plain = scheme < 0 ? url_is_loopback(rest) : scheme == 1;
	*hostport = xstrdup(rest);
	return 0;
}
