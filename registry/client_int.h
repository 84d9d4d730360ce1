/*
 * Private to the registry client (registry/client*.c): the client struct,
 * one HTTP exchange, auth state.
 */
#ifndef SLIPWAY_REGISTRY_CLIENT_INT_H
#define SLIPWAY_REGISTRY_CLIENT_INT_H

#include <curl/curl.h>

#include "slipway/buf.h"
#include "slipway/registry.h"

struct image_blob_writer;

/* Bodies we read into memory: manifests (4 MiB) and, from anything else,
 * error documents and tokens. */
#define REGISTRY_CLIENT_ERROR_BODY_MAX ((size_t)64 << 10)
#define REGISTRY_CLIENT_TOKEN_BODY_MAX ((size_t)1 << 20)
#define REGISTRY_CLIENT_MAX_CHALLENGES 4
#define REGISTRY_CLIENT_MAX_SCOPES 8

enum registry_client_auth_mode {
	REGISTRY_CLIENT_AUTH_NONE = 0,
	REGISTRY_CLIENT_AUTH_BASIC,
	REGISTRY_CLIENT_AUTH_BEARER,
};

/* Invariant: base is "http[s]://registry" without a trailing slash; token
 * is set only in REGISTRY_CLIENT_AUTH_BEARER mode, and was granted for
 * scopes[]. */
struct registry_client {
	CURL *curl;
	char *registry;
	char *base;
	char *user;
	char *pass;
	bool insecure;
	bool progress;
	bool verbose;
	int retries;
	size_t chunk_size;
	enum registry_client_auth_mode auth;
	char *token;
	char *scopes[REGISTRY_CLIENT_MAX_SCOPES];
	size_t nscopes;
};

/* One request.  A body comes from memory (data, len) or from a region of
 * a file (fd >= 0, off, len); has_body says there is one (PUT and PATCH
 * always send one, maybe empty). */
struct registry_client_req {
	const char *method;
	const char *url;
	const char *content_type;       /* of the body */
	const char *accept;             /* Accept header value, or NULL */
	const char *extra_header;       /* "Name: value", or NULL */
	const char *auth_line;          /* Authorization line to send
					 * instead of the client's ("" for
					 * none), or NULL */
	bool has_body;
	const void *data;
	int fd;
	int64_t off;
	int64_t len;
	struct image_blob_writer *sink; /* a 2xx body goes here */
	size_t max_body;                /* else into resp.body, capped */
	bool retry;                     /* safe to repeat when transient */
	const char *label;              /* progress line, or NULL */
	int64_t progress_base;          /* bytes done before this request */
	int64_t progress_total;
};

/* The last response (after redirects).  Header values are copies. */
struct registry_client_resp {
	long status;
	struct buf body;
	char *location;
	char *content_type;
	char *digest;           /* Docker-Content-Digest */
	char *range;
	char *chunk_min;        /* OCI-Chunk-Min-Length */
	char *retry_after;
	char *challenges[REGISTRY_CLIENT_MAX_CHALLENGES]; /* WWW-Authenticate */
	size_t nchallenges;
	int64_t content_length; /* -1 when not given */
};

void registry_client_req_init(struct registry_client_req *r, const char *method,
    const char *url);
void registry_client_resp_clear(struct registry_client_resp *r);

/* Run one request: retried with backoff on transient failures when
 * r->retry, re-authenticated once on 401.  Returns 0 with out->status set
 * for any HTTP answer (the caller judges the status), or a negative code
 * when no answer came (ERR_IO), a cap was passed (ERR_TOOBIG), or auth
 * failed (ERR_AUTH). */
int registry_client_do(struct registry_client_resp *out,
    struct registry_client *c, struct registry_client_req *r);

/* One exchange, no retries and no re-authentication (the token fetch
 * uses it).  *transient says whether a failure is worth another try. */
int registry_client_exchange(struct registry_client_resp *out,
    struct registry_client *c, struct registry_client_req *r, bool *transient);
/* Sleep before retry number attempt (0, 1, ...), honouring Retry-After. */
void registry_client_backoff(int attempt, const char *retry_after);

/* Turn an unexpected answer into an error: the status, and the
 * registry's error code and message when the body has them. */
int registry_client_error(const struct registry_client_resp *resp,
    const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* URLs.  Caller frees. */
char *registry_client_url(const struct registry_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Resolve a Location header against the registry (absolute or relative,
 * as RFC 7231 allows); NULL (with err_set) when unusable. */
char *registry_client_url_resolve(const struct registry_client *c,
    const char *location);
/* Append "name=value" to url's query, escaping value. */
char *registry_client_url_add_query(const char *url, const char *name,
    const char *value);

/* Auth (client_auth.c).  Add the Authorization header for the current
 * mode to headers. */
struct curl_slist *registry_client_auth_header(struct registry_client *c,
    struct curl_slist *headers);
/* React to a 401: pick Basic or Bearer from the challenges and, for
 * Bearer, fetch a token for the challenge's scope and ours. */
int registry_client_auth_challenge(struct registry_client *c,
    const struct registry_client_resp *resp);
/* Scopes to ask tokens for ("repository:NAME:pull,push"). */
void registry_client_auth_add_scope(struct registry_client *c,
    const char *scope);

/* Parse one WWW-Authenticate value: the scheme ("Bearer"), and the
 * realm, service and scope parameters (NULL when absent).  Exposed for
 * the unit tests. */
struct registry_client_challenge {
	char *scheme;
	char *realm;
	char *service;
	char *scope;
};
int registry_client_challenge_parse(struct registry_client_challenge *out,
    const char *value);
void registry_client_challenge_clear(struct registry_client_challenge *ch);

#endif
