/*
 * A small client for the controller's JSON API (libcurl + jansson), shared
 * by every command that talks to the controller.
 *
 * Where and who: SLIPWAY_URL and SLIPWAY_TOKEN when set, else the config
 * file `slipway login` writes ($SLIPWAY_CONFIG, or
 * ~/.config/slipway/config: {"url": "...", "token": "..."}, mode 0600),
 * else http://127.0.0.1:7070 and no token.
 *
 * A call answers 0 and the parsed body for 2xx.  Anything else is a
 * negative code with the controller's own message as err_last():
 * 401 ERR_AUTH, 403 ERR_AUTH, 404 ERR_NOTFOUND, 409 ERR_EXISTS or
 * ERR_CONFLICT, 400/422 ERR_INVALID, 413 ERR_TOOBIG, others ERR_IO; a
 * controller that cannot be reached is ERR_IO naming the URL, one that
 * does not answer in time ERR_TIMEOUT.
 */
#ifndef SLIPWAY_APICLIENT_H
#define SLIPWAY_APICLIENT_H

#include <stdatomic.h>

#include <jansson.h>

struct apiclient;

/* Bodies the client accepts. */
#define APICLIENT_BODY_MAX ((size_t)32 << 20)

/* Resolve URL and token as above.  Fails only on an unreadable or
 * malformed config file.  Caller frees with apiclient_free. */
int apiclient_open(struct apiclient **out);
/* As apiclient_open with both given (for `slipway login`). */
int apiclient_open_with(struct apiclient **out, const char *url,
    const char *token);
void apiclient_free(struct apiclient *c);

const char *apiclient_url(const struct apiclient *c);

/* Make calls give up (ERR_CONFLICT, "cancelled") within about a second
 * of *flag becoming non-zero, for daemons that long-poll and must stop
 * on a signal.  The flag is not copied; NULL turns it off. */
void apiclient_set_cancel(struct apiclient *c, atomic_int *flag);
/* Calls give up after secs (ERR_TIMEOUT) instead of the default 120:
 * daemons that must notice a controller gone within seconds.  Each call
 * uses the value set last; <= 0 goes back to the default. */
void apiclient_set_timeout(struct apiclient *c, long secs);
/* One more header "name: value" on every call from now on (a runner's
 * session); NULL or "" value: none.  Both are copied; a value with a
 * line break is not sent. */
void apiclient_set_header(struct apiclient *c, const char *name,
    const char *value);
/* Is there a token to send?  Commands say how to get one when not. */
int apiclient_need_token(const struct apiclient *c);

/*
 * method path (starting "/v1/", query included, components escaped with
 * apiclient_escape) with body (may be NULL; not kept).  *out (may be NULL
 * to ignore) gets the answer's JSON, or NULL for an empty one.
 */
int apiclient_call(json_t **out, struct apiclient *c, const char *method,
    const char *path, json_t *body);
/* The HTTP status of the last call (0 when none was made). */
long apiclient_status(const struct apiclient *c);

/* Percent-escape s for one path component or query value.  Caller
 * frees. */
char *apiclient_escape(const char *s);

/* Write url and token to the config file (atomically, 0600, parent
 * directory made 0700).  *path_out (may be NULL) gets its path. */
int apiclient_config_write(char **path_out, const char *url,
    const char *token);

#endif
