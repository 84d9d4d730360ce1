/*
 * The registry client: push an image from an image layout to any registry
 * that speaks the OCI distribution-spec v1.1 (slipway's, the CNCF
 * Distribution registry, ...), and pull one into a layout.  libcurl
 * underneath, one connection reused.
 *
 * Push sends only what the registry lacks (HEAD first; a cross-repository
 * mount when the source repository is known), small blobs in one PUT and
 * large ones as PATCH chunks.  Pull verifies every manifest and blob
 * against its digest and caps sizes before reading.  Auth follows what the
 * registry asks on 401: Basic, or the Bearer token flow (realm, service,
 * scope).  Transient failures (connection errors, 429, 5xx) are retried
 * with backoff.
 */
#ifndef SLIPWAY_REGISTRY_CLIENT_H
#define SLIPWAY_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slipway/digest.h"

struct image_layout;

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
	bool insecure;          /* plain http (loopback registries always) */
	size_t chunk_size;      /* 0: REGISTRY_CHUNK_DEFAULT */
	int retries;            /* < 0: REGISTRY_RETRIES_DEFAULT */
	bool progress;          /* draw progress on stderr */
	bool verbose;           /* one line per blob on stderr */
};

struct registry_client;

/* A client for one registry (host[:port]).  opts may be NULL.  Strings
 * are copied. */
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

/* Push the image tag names in l (NULL: its only image; an index with
 * its manifests) to dst (dst->tag or dst->digest names the manifest;
 * with neither, the layout tag or "latest").  from_repo (may be NULL) is
 * a repository of the same registry to mount blobs from. */
int registry_client_push(struct registry_xfer_stats *out,
    struct registry_client *c, const struct image_layout *l,
    const char *tag, const struct registry_ref *dst, const char *from_repo);

/* Pull src into l and tag it tag (NULL: src's tag; untagged for a pull
 * by digest).  An index is resolved to os/arch (NULL: linux/amd64) or its
 * only entry, and that manifest is what gets tagged. */
int registry_client_pull(struct registry_xfer_stats *out,
    struct registry_client *c, const struct registry_ref *src,
    struct image_layout *l, const char *tag, const char *os,
    const char *arch);

void registry_xfer_stats_clear(struct registry_xfer_stats *s);

/* Commands (cli/commands.c). */
int registry_client_cmd_push(int argc, char **argv);
int registry_client_cmd_pull(int argc, char **argv);

#endif
