/*
 * The registry module, both sides of the OCI Distribution API v1.1.
 *
 * The server: a content-addressed store on disk, with Docker registry
 * token auth, and its garbage collector.  `slipway registry` runs it;
 * docs/registry.md is the manual.
 *
 * The client: push an image from an image layout to any registry that
 * speaks the OCI distribution-spec v1.1 (slipway's, the CNCF Distribution
 * registry, ...), and pull one into a layout.  libcurl underneath, one
 * connection reused.  Push sends only what the registry lacks (HEAD first;
 * a cross-repository mount when the source repository is known), small
 * blobs in one PUT and large ones as PATCH chunks.  Pull verifies every
 * manifest and blob against its digest and caps sizes before reading.
 * Auth follows what the registry asks on 401: Basic, or the Bearer token
 * flow (realm, service, scope).  Transient failures (connection errors,
 * 429, 5xx) are retried with backoff.
 *
 * Layouts themselves are the image module's (image.h).  Declarations are
 * grouped by the file that defines them.
 */
#ifndef SLIPWAY_REGISTRY_H
#define SLIPWAY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "slipway/digest.h"

struct image_layout;

/* server.c */

#define REGISTRY_SERVICE_DEFAULT "slipway-registry"
#define REGISTRY_TOKEN_ISSUER "slipway"
#define REGISTRY_BLOB_MAX_DEFAULT ((uint64_t)10 << 30)
#define REGISTRY_UPLOAD_AGE_DEFAULT 3600
/* `slipway registry` collects garbage this often (seconds) by default */
#define REGISTRY_GC_INTERVAL_DEFAULT 3600

struct registry;

struct registry_opts {
	const char *listen;         /* "127.0.0.1:5000" */
	const char *root;           /* the store's directory */
	const char *realm;          /* token realm; NULL: our own /token */
	const char *service;        /* token audience; NULL: the default */
	const char *htpasswd;       /* users of /token; NULL: none */
	const unsigned char *key;   /* token signing key (not copied) */
	size_t keylen;
	bool anonymous_pull;        /* pulls need no token */
	uint64_t blob_max;          /* 0: REGISTRY_BLOB_MAX_DEFAULT */
	unsigned upload_age;        /* stale upload, seconds; 0: default */
	unsigned gc_interval;       /* gc every this many seconds; 0: never */
	bool access_log;
	bool sendfile;              /* blobs with sendfile, not a 1 MiB copy */
	unsigned conn_max;          /* connections at once; 0: 512 */
	unsigned conn_per_ip;       /* of those from one address; 0: 64 */
};

/* Open the store (made when missing), drop stale uploads, and serve in
 * background threads.  The key must outlive the server. */
int registry_start(struct registry **out, const struct registry_opts *opts);
/* Stop serving and free; accepts NULL. */
void registry_stop(struct registry *reg);
uint16_t registry_port(const struct registry *reg);

/* auth.c */

/* One entry of a token's "access" claim. */
struct registry_token_access {
	const char *type;           /* "repository" or "registry" */
	const char *name;           /* "app" or "catalog" */
	const char *actions;        /* "pull,push" (also "delete", "*") */
};

/* Mint a registry token: an HS256 JWT with iss "slipway", sub, aud
 * service, iat/nbf/exp (now + ttl), a random jti and the access list, the
 * claim shape of the Docker token spec.  Fails with ERR_INVALID on a bad
 * repository name or action.  *out is the caller's. */
int registry_token_mint(char **out, const unsigned char *key, size_t keylen,
    const char *service, const char *sub,
    const struct registry_token_access *access, size_t naccess,
    unsigned ttl, time_t now);

/* gc.c */

struct registry_gc_opts {
	bool dry_run;
	unsigned upload_age;        /* also the grace for fresh blobs */
};

struct registry_gc_report {
	unsigned manifests;         /* revisions read (marked from) */
	unsigned blobs_kept;
	unsigned blobs_removed;
	uint64_t bytes_removed;
	unsigned links_removed;     /* repo links to removed blobs */
	unsigned uploads_removed;
};

/* Remove the blobs no manifest of any repository references (config,
 * layers, index children, subjects, the manifests themselves) and older
 * than upload_age, the links to them, and stale uploads.  Holds the
 * store's gc lock exclusively while it marks and sweeps, so a manifest
 * being pushed waits for it rather than losing a blob.  Fails without
 * removing anything when a stored manifest cannot be read. */
int registry_gc(struct registry_gc_report *out, const char *root,
    const struct registry_gc_opts *opts);

/* Hold gc off the store at root until *fd is closed (the gc lock, shared:
 * pushes go on): for a reader that must find every blob the manifests it
 * has read name (a backup).  ERR_NOTFOUND when root is no registry. */
int registry_gc_hold(int *fd, const char *root);

/* client.c */

/* Longest repository name with its registry (as clients commonly cap). */
#define REGISTRY_NAME_MAX 255
/* Blobs up to this many bytes go in one PUT; larger ones in PATCH chunks
 * of this size (unless the caller picks another). */
#define REGISTRY_CHUNK_DEFAULT ((size_t)16 << 20)
#define REGISTRY_RETRIES_DEFAULT 4

/* "REGISTRY/REPO[:TAG|@DIGEST]", parsed.  registry is host[:port]; tag
 * and digest are NULL when absent (never both set). */
struct registry_ref {
	char *registry;
	char *repo;
	char *tag;
	char *digest;
};

/* Parse and validate: the registry part is the first path component and
 * must be a host name or address with an optional port; the repository
 * must match the distribution-spec grammar; tag and digest theirs. */
int registry_ref_parse(struct registry_ref *out, const char *s);
void registry_ref_clear(struct registry_ref *r);
/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
bool registry_repo_is_valid(const char *name);

struct registry_client_opts {
	const char *user;       /* basic credentials; NULL: anonymous */
	const char *password;
	bool insecure;          /* plain http whatever the URL says */
	size_t chunk_size;      /* 0: REGISTRY_CHUNK_DEFAULT */
	int retries;            /* < 0: REGISTRY_RETRIES_DEFAULT */
	bool progress;          /* draw progress on stderr */
	bool verbose;           /* one line per blob on stderr */
};

struct registry_client;

/* A client for one registry, named as url_service_parse takes it.  opts
 * may be NULL; opts->insecure also makes it plain http.  Strings are
 * copied. */
int registry_client_new(struct registry_client **out, const char *registry,
    const struct registry_client_opts *opts);
void registry_client_free(struct registry_client *c);

/* What a push or pull did. */
struct registry_xfer_stats {
	char digest[DIGEST_STR_MAX];    /* the manifest's */
	char *media_type;               /* the manifest's; caller frees */
	int64_t size;                   /* the manifest's */
	int sent;                       /* blobs uploaded or downloaded */
	int existed;                    /* blobs the other side had */
	int mounted;                    /* blobs mounted from from_repo */
	int64_t bytes;                  /* blob bytes moved */
};

void registry_xfer_stats_clear(struct registry_xfer_stats *s);

/* client_push.c */

/* Push the image tag names in l (NULL: its only image; an index with
 * its manifests) to dst (dst->tag or dst->digest names the manifest;
 * with neither, the layout tag or "latest").  from_repo (may be NULL) is
 * a repository of the same registry to mount blobs from. */
int registry_client_push(struct registry_xfer_stats *out,
    struct registry_client *c, const struct image_layout *l,
    const char *tag, const struct registry_ref *dst, const char *from_repo);

/* client_pull.c */

/* Pull src into l and tag it tag (NULL: src's tag; untagged for a pull
 * by digest).  An index is resolved to os/arch (NULL: linux/amd64) or its
 * only entry, and that manifest is what gets tagged. */
int registry_client_pull(struct registry_xfer_stats *out,
    struct registry_client *c, const struct registry_ref *src,
    struct image_layout *l, const char *tag, const char *os,
    const char *arch);

/* registry_cmd.c, client_cmd.c: the commands (cli/commands.c) */

int registry_cmd_serve(int argc, char **argv);
int registry_cmd_token(int argc, char **argv);
int registry_cmd_gc(int argc, char **argv);
int registry_client_cmd_push(int argc, char **argv);
int registry_client_cmd_pull(int argc, char **argv);

#endif
