/*
 * The registry server: the OCI Distribution API v1.1 over a content-
 * addressed store on disk, with Docker registry token auth, and its garbage
 * collector.  `slipway registry` runs it; docs/registry.md is the manual.
 * (The image layout code and the registry client have their own headers,
 * image.h and registry_client.h.)
 */
#ifndef SLIPWAY_REGISTRY_H
#define SLIPWAY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define REGISTRY_SERVICE_DEFAULT "slipway-registry"
#define REGISTRY_TOKEN_ISSUER "slipway"
#define REGISTRY_BLOB_MAX_DEFAULT ((uint64_t)10 << 30)
#define REGISTRY_UPLOAD_AGE_DEFAULT 3600

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

/* Commands (cli/commands.c). */
int registry_cmd_serve(int argc, char **argv);
int registry_cmd_token(int argc, char **argv);
int registry_cmd_gc(int argc, char **argv);

#endif
