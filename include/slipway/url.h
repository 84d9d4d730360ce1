/*
 * Where a service is: the URL slipway's daemons are given for the
 * controller and the registry, and the HOST[:PORT] text image references
 * and listeners use.  Parsed in one place so that a scheme is always a
 * deliberate setting.
 */
#ifndef SLIPWAY_URL_H
#define SLIPWAY_URL_H

#include <stdbool.h>

/* host[:port]: a name, an IPv4 address or [IPv6], and an optional port.
 * No userinfo, no path, nothing a URL parser could read another way. */
bool url_hostport_is_valid(const char *s);

/* "http://HOST[:PORT]" (plain http, a deliberate choice),
 * "https://HOST[:PORT]", or a bare "HOST[:PORT]" (https, except on
 * loopback, which is plain http as docker does).  *hostport is the
 * address without the scheme (caller frees); *plain whether it is spoken
 * to in plain http.  A path, userinfo or query is refused (ERR_INVALID,
 * *hostport NULL). */
int url_service_parse(char **hostport, bool *plain, const char *url);

#endif
