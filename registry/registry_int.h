/*
 * Private to the registry server: the blob store, upload sessions, manifest
 * parsing, token checks and the HTTP handlers.  Never included from outside
 * registry/ (the unit tests excepted).
 *
 * On disk, under the registry root:
 *
 *   blobs/<algo>/<2 hex>/<hex>            content, shared by all repositories
 *   repositories/<name>/_layers/<algo>/<hex>          the repo may read it
 *   repositories/<name>/_manifests/revisions/<algo>/<hex>  its media type
 *   repositories/<name>/_manifests/tags/<tag>         "<digest>"
 *   repositories/<name>/_referrers/<algo>/<hex>/<algo>-<hex>  descriptor
 *   uploads/<uuid>/{data,repo}            sessions in progress
 *   tmp/                                  temp files, renamed into place
 *   gc.lock                               flock: gc exclusive, writers shared
 *
 * Repository name components never start with '_' (the spec's grammar), so
 * the "_layers" style directories cannot clash with a nested repository.
 */
#ifndef SLIPWAY_REGISTRY_INT_H
#define SLIPWAY_REGISTRY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/registry.h"

struct httpd_req;

#define REGISTRY_NAME_MAX 255           /* spec: fewer than 256 chars */
#define REGISTRY_TAG_MAX 128
/* ?tag= on one manifest PUT: the spec asks for at least 10; more is 414 */
#define REGISTRY_PUT_TAGS_MAX 64
#define REGISTRY_UUID_LEN 32            /* 16 random bytes as hex */
#define REGISTRY_MANIFEST_MAX ((size_t)4 << 20)
#define REGISTRY_UPLOADS_MAX 1024       /* sessions in memory at once */
#define REGISTRY_HEADER_MAX (64 << 10)  /* request line and headers */

/* Media types the registry accepts as manifests. */
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"

/* ---- names (store.c) ---- */

/* The spec's grammar: path components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
 * joined by '/', fewer than 256 characters in all. */
bool registry_name_valid(const char *name);
/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
bool registry_tag_valid(const char *tag);
bool registry_uuid_valid(const char *uuid);

/* ---- the store (store.c) ---- */

/* Paths are made once; the struct is read-only after registry_store_open,
 * so threads share it without a lock. */
struct registry_store {
	char *root;
	char *blobs;            /* root/blobs */
	char *repos;            /* root/repositories */
	char *uploads;          /* root/uploads */
	char *tmp;              /* root/tmp */
	char *lock;             /* root/gc.lock */
};

/* Make the directories under root (created when missing). */
int registry_store_open(struct registry_store **out, const char *root);
void registry_store_free(struct registry_store *s);

/* Write data to path atomically through a temp file in tmp/ (so no temp
 * name ever shows in a listed directory); parents are made. */
int registry_store_write(const struct registry_store *s, const char *path,
    const void *data, size_t len);

/* The gc lock: shared for writers that make a blob referenced (manifest
 * PUT, mount, HEAD), exclusive for gc.  Returns an fd for unlock. */
int registry_store_lock(const struct registry_store *s, bool exclusive);
void registry_store_unlock(int fd);

/* blobs/<algo>/<2>/<hex> for a valid digest; caller frees. */
char *registry_blob_path(const struct registry_store *s, const char *digest);
/* ERR_NOTFOUND when missing. */
int registry_blob_stat(const struct registry_store *s, const char *digest,
    uint64_t *size);
/* Open for reading; *fd belongs to the caller. */
int registry_blob_open(const struct registry_store *s, const char *digest,
    int *fd, uint64_t *size);
/* Read a small blob (manifests) whole, capped at max. */
int registry_blob_read(struct buf *out, const struct registry_store *s,
    const char *digest, size_t max);
/* Store bytes already known to have this digest (manifests). */
int registry_blob_write(const struct registry_store *s, const char *digest,
    const void *data, size_t len);
/* Rename a verified file into place (fsync'd by the caller).  The same
 * content pushed twice at once is safe: rename is atomic and both files
 * hold the same bytes. */
int registry_blob_commit(const struct registry_store *s, const char *digest,
    const char *from);
/* Set the blob's mtime to now: gc spares blobs younger than its grace. */
void registry_blob_touch(const struct registry_store *s, const char *digest);

/* Does repo have the blob (a link under _layers)? */
bool registry_link_has(const struct registry_store *s, const char *repo,
    const char *digest);
int registry_link_add(const struct registry_store *s, const char *repo,
    const char *digest);
/* ERR_NOTFOUND when there was no link. */
int registry_link_remove(const struct registry_store *s, const char *repo,
    const char *digest);

/* Manifest revisions: *media_type (caller frees) as pushed. */
int registry_revision_get(char **media_type, const struct registry_store *s,
    const char *repo, const char *digest);
int registry_revision_put(const struct registry_store *s, const char *repo,
    const char *digest, const char *media_type);
int registry_revision_remove(const struct registry_store *s,
    const char *repo, const char *digest);

/* Tags: out gets "algo:hex". */
int registry_tag_get(char out[DIGEST_STR_MAX], const struct registry_store *s,
    const char *repo, const char *tag);
int registry_tag_set(const struct registry_store *s, const char *repo,
    const char *tag, const char *digest);
int registry_tag_remove(const struct registry_store *s, const char *repo,
    const char *tag);

/* Sorted (strcmp) names in a list the caller frees with
 * registry_strv_free. */
struct registry_strv {
	char **v;
	size_t n, cap;
};
void registry_strv_push(struct registry_strv *l, const char *s);
void registry_strv_sort(struct registry_strv *l);
void registry_strv_free(struct registry_strv *l);

/* Tags of repo; ERR_NOTFOUND when the repository does not exist. */
int registry_tag_list(struct registry_strv *out,
    const struct registry_store *s, const char *repo);
/* Every repository (a directory with _manifests or _layers). */
int registry_repo_list(struct registry_strv *out,
    const struct registry_store *s);
bool registry_repo_exists(const struct registry_store *s, const char *repo);

/* Referrers: desc is the referrer's descriptor as JSON text. */
int registry_referrer_put(const struct registry_store *s, const char *repo,
    const char *subject, const char *digest, const char *desc);
int registry_referrer_remove(const struct registry_store *s,
    const char *repo, const char *subject, const char *digest);
/* A JSON array of descriptors (new reference), sorted by digest, those
 * whose artifactType equals filter when filter is not NULL. */
int registry_referrer_list(json_t **out, const struct registry_store *s,
    const char *repo, const char *subject, const char *filter);

/* ---- upload sessions on disk (store_upload.c) ---- */

/* Make uploads/<uuid>/ with an empty data file; uuid is filled in. */
int registry_upload_create(char uuid[REGISTRY_UUID_LEN + 1],
    const struct registry_store *s, const char *repo);
/* ERR_NOTFOUND when there is no such session for this repo. */
int registry_upload_check(const struct registry_store *s, const char *uuid,
    const char *repo);
/* uploads/<uuid>/data; caller frees. */
char *registry_upload_data(const struct registry_store *s, const char *uuid);
int registry_upload_remove(const struct registry_store *s, const char *uuid);
/* Move the session out of uploads/ into tmp/ (one rename, so no request
 * can reach it any more) for the caller to remove later with
 * fs_remove_tree(*out); a crash before that leaves a temp entry the sweep
 * removes.  *out is the caller's. */
int registry_upload_retire(char **out, const struct registry_store *s,
    const char *uuid);
/* Remove sessions idle for more than age seconds and not in use (a
 * request holds a shared flock on data while it writes), and temp files
 * as old.  Counts what went (or would go, with dry_run). */
int registry_upload_sweep(unsigned *removed, const struct registry_store *s,
    unsigned age, bool dry_run);

/* ---- manifests (store_manifest.c) ---- */

enum registry_manifest_ref_kind {
	REF_BLOB,               /* config or layer */
	REF_MANIFEST,           /* an index's child */
};

struct registry_manifest_ref {
	char digest[DIGEST_STR_MAX];
	enum registry_manifest_ref_kind kind;
	int64_t size;
	bool foreign;           /* has "urls": need not be in the registry */
};

/* A parsed, validated manifest.  Invariant: media_type is one of the four
 * MT_* types; refs lists every descriptor but the subject. */
struct registry_manifest {
	const char *media_type;     /* static string */
	json_t *json;
	struct registry_manifest_ref *refs;
	size_t nrefs;
	char subject[DIGEST_STR_MAX];   /* "" when none */
	const char *artifact_type;      /* into json; NULL when none */
};

/* Parse and check body (len bytes) as a manifest of content_type (the
 * request's Content-Type without parameters; may be NULL).  ERR_INVALID
 * with a message saying what is wrong. */
int registry_manifest_parse(struct registry_manifest **out, const char *body,
    size_t len, const char *content_type);
void registry_manifest_free(struct registry_manifest *m);
/* The descriptor the referrers API lists for this manifest (new ref). */
json_t *registry_manifest_descriptor(const struct registry_manifest *m,
    const char *digest, size_t len);

/* ---- tokens (auth.c) ---- */

enum registry_action {
	ACT_PULL = 1,
	ACT_PUSH = 2,
	ACT_DELETE = 4,
	ACT_ALL = 7,            /* "*" */
};

struct registry_grant {
	char *type;             /* "repository", "registry" */
	char *name;
	unsigned actions;       /* ACT_* bits */
};

/* What a verified token allows.  sub may be NULL. */
struct registry_grants {
	char *sub;
	struct registry_grant *v;
	size_t n;
};

void registry_grants_free(struct registry_grants *g);
/* Exact match on type and name; every bit of want must be granted. */
bool registry_grants_allow(const struct registry_grants *g, const char *type,
    const char *name, unsigned want);
/* "pull,push" -> bits; ERR_INVALID on an unknown action. */
int registry_actions_parse(unsigned *out, const char *s);
/* bits -> "pull,push,delete" into buf (at least 32 bytes). */
void registry_actions_format(char *buf, size_t len, unsigned bits);

/* Verify a bearer token: signature, expiry, iss "slipway", aud service.
 * ERR_AUTH naming why. */
int registry_token_verify(struct registry_grants **out, const char *token,
    const unsigned char *key, size_t keylen, const char *service,
    time_t now);

/* Parse a token request scope "repository:NAME:pull,push" (or
 * "registry:catalog:*"). */
int registry_scope_parse(struct registry_grant *out, const char *scope);

/* ---- the server (server*.c) ---- */

struct registry_htpasswd;

/* In-memory state of one upload session: its running digest, so a chunked
 * upload is hashed once, while it is written.  Invariant: when hashing,
 * ctx has seen exactly bytes [0, hashed) of the data file; busy is set
 * while a request writes, and no second request may. */
struct registry_upload {
	char uuid[REGISTRY_UUID_LEN + 1];
	char repo[REGISTRY_NAME_MAX + 1];
	struct digest_ctx ctx;
	bool hashing;
	uint64_t hashed;
	bool busy;
	time_t used;                    /* last request, for pruning */
	struct registry_upload *next;
};

struct registry {
	struct registry_opts o;
	struct registry_store *store;
	struct httpd *httpd;
	struct registry_htpasswd *users;
	char *realm;
	pthread_mutex_t lock;           /* guards uploads and nuploads */
	struct registry_upload *uploads;
	size_t nuploads;
	time_t swept;                   /* last sweep of stale uploads */
	/* the scheduled gc (server_gc.c); gc_mu guards gc_stopping */
	pthread_mutex_t gc_mu;
	pthread_cond_t gc_cv;
	bool gc_stopping;
	bool gc_started;
	pthread_t gc_thread;
};

enum registry_route {
	ROUTE_NONE,
	ROUTE_BASE,             /* /v2/ */
	ROUTE_CATALOG,          /* /v2/_catalog */
	ROUTE_TAGS,             /* /v2/<name>/tags/list */
	ROUTE_MANIFEST,         /* /v2/<name>/manifests/<ref> */
	ROUTE_BLOB,             /* /v2/<name>/blobs/<digest> */
	ROUTE_UPLOADS,          /* /v2/<name>/blobs/uploads/ */
	ROUTE_UPLOAD,           /* /v2/<name>/blobs/uploads/<uuid> */
	ROUTE_REFERRERS,        /* /v2/<name>/referrers/<digest> */
	ROUTE_TOKEN,            /* /token */
};

/* A request's state, from begin to done (req->app). */
struct registry_req {
	struct registry *reg;
	enum registry_route route;
	char name[REGISTRY_NAME_MAX + 1];
	char *ref;                      /* tag, digest or uuid */
	struct registry_grants *grants; /* NULL: anonymous */
	struct buf body;                /* manifest PUT, capped */
	struct registry_strv tags;      /* its ?tag= values, checked */
	const char *mount_from;         /* POST ?mount=&from=: the source
	                                 * repository (a valid name, not this
	                                 * one), into req's query; or NULL */
	/* uploads being written by this request */
	struct registry_upload *up;
	int fd;
	uint64_t start;                 /* offset the body is written at */
	uint64_t written;
	uint64_t expect;                /* UINT64_MAX: any length */
	uint64_t synced;                /* writeback started up to here */
	bool temp;                      /* monolithic POST: gone if dropped */
	bool committed;
	char *trash;                    /* a retired session, removed once
	                                 * the answer is out */
	int werr;                       /* ERR_* that stopped the stream */
	bool wfull;                     /* ...because the disk is full */
};

/* Split a request path into route, repository name and reference.
 * *name_ok is false when the name is not valid (or too long). */
enum registry_route registry_route_parse(const char *path,
    char name[REGISTRY_NAME_MAX + 1], bool *name_ok, char **ref);

/* Answer with the spec's JSON error body; detail may be NULL (stolen). */
void registry_error(struct httpd_req *req, unsigned status, const char *code,
    const char *message, json_t *detail);
/* 507: the store had no room for what (a write failed with ENOSPC or
 * EDQUOT); registry_error answers so by itself for a 500 whose last
 * error on this thread says the disk is full. */
void registry_error_full(struct httpd_req *req, const char *what);
/* Answer with several errors: a JSON array of {code, message, detail}
 * (stolen). */
void registry_errors(struct httpd_req *req, unsigned status, json_t *errors);
/* One entry for registry_errors (new reference). */
json_t *registry_error_entry(const char *code, const char *message,
    json_t *detail);
/* The standard headers every answer gets. */
void registry_headers(struct httpd_req *req);

/* server_blob.c: blobs, and the way into uploads */
int registry_blob_begin(struct httpd_req *req, struct registry_req *rr);
void registry_blob_handle(struct httpd_req *req, struct registry_req *rr);
void registry_blob_done(struct registry_req *rr, bool completed);

/* server_upload.c */
int registry_upload_begin(struct httpd_req *req, struct registry_req *rr);
void registry_upload_handle(struct httpd_req *req, struct registry_req *rr);
/* End the request's hold on its session (idempotent). */
void registry_upload_end(struct registry_req *rr);
void registry_uploads_free(struct registry *reg);

/* server_gc.c: run registry_gc every o.gc_interval seconds (0: never)
 * in a thread; stop waits for a gc in progress to end. */
int registry_gc_start(struct registry *reg);
void registry_gc_stop(struct registry *reg);

/* server_manifest.c */

/* The n values of ?tag= on a manifest PUT into out, once each, in the
 * order given: every one must be a valid tag, and n at most
 * REGISTRY_PUT_TAGS_MAX (ERR_TOOBIG past it; ERR_INVALID naming the
 * first bad tag).  Nothing is added to out on failure. */
int registry_put_tags_parse(struct registry_strv *out,
    const char *const *vals, size_t n);
int registry_manifest_begin(struct httpd_req *req, struct registry_req *rr);
void registry_manifest_handle(struct httpd_req *req, struct registry_req *rr);
void registry_referrers_handle(struct httpd_req *req,
    struct registry_req *rr);

/* auth.c: may this request go on?  Answers 401/403 itself and returns
 * false when not. */
bool registry_auth_request(struct httpd_req *req, struct registry_req *rr,
    const char *type, const char *name, unsigned want);
/* The /token realm endpoint. */
void registry_token_handle(struct httpd_req *req, struct registry *reg);
int registry_htpasswd_load(struct registry_htpasswd **out, const char *path);
void registry_htpasswd_free(struct registry_htpasswd *h);

/* Range "bytes=a-b" against size: 0 whole (no header or ignored), 1 a
 * range in off and len, ERR_INVALID unsatisfiable (416). */
int registry_range_parse(const char *header, uint64_t size, uint64_t *off,
    uint64_t *len);
/* Content-Range of an upload chunk: "a-b" (also "bytes a-b/total"). */
int registry_content_range_parse(const char *header, uint64_t *start,
    uint64_t *end);

/* ---- the client (client*.c): the client struct, one HTTP exchange,
 * auth state ---- */

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
