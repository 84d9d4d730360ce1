/*
 * The builder: what turns one pushed commit into a release.
 *
 *   record     POST the build to the controller (status running)
 *   read       slipway.yml (builder_manifest_parse) and the Procfile from
 *              the commit's tree, the app's config from the controller
 *   buildpacks BUILDPACK_URL, else slipway.yml `buildpacks:`, else
 *              detection in order over $SLIPWAY_HOME/buildpacks; none and
 *              a Procfile: the slug streams from git with no checkout
 *   compile    the tree (minus .slugignore) exported to a build dir;
 *              bin/detect, bin/compile BUILD CACHE ENV, bin/release (YAML,
 *              builder_release_parse) inside a runc container of the stack
 *              (on the host, with a warning, where runc cannot run)
 *   slug       a reproducible tar.gz (slug/)
 *   image      the slug on the stack as an OCI image (image/)
 *   push       to the registry as the user, only the blobs it lacks
 *   release    PATCH the build succeeded: the controller makes vN
 *
 * Everything after the push hook's first call to the controller is done as
 * the pushing user (a session token), so the controller's permission
 * checks decide.  Output is made for a person (`-----> ` stage lines,
 * the buildpack's lines indented, timings) and kept as the build's log.
 */
#ifndef SLIPWAY_BUILDER_H
#define SLIPWAY_BUILDER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "slipway/digest.h"
#include "slipway/name.h"

struct apiclient;
struct slug_procfile;

/* Cap on slipway.yml and on what bin/release prints. */
#define BUILDER_YAML_MAX (64 << 10)
/* Compile time limit unless told otherwise (Heroku's). */
#define BUILDER_TIMEOUT_DEFAULT (15 * 60)
/* Buildpacks one app may name. */
#define BUILDER_BUILDPACKS_MAX NAME_BUILDPACKS_MAX

/* ---- slipway.yml ---- */

/*
 * The app manifest, all of it optional:
 *
 *   deploy_branch: main          the branch whose pushes build
 *   buildpacks:                  in order; each a git URL (#ref
 *     - https://host/bp.git#v3   optional), an http(s) tarball URL or the
 *     - shell                    name of an installed buildpack; never a
 *                                path
 *   stack: bookworm              the stack to build and run on (wins
 *                                over stack:set; `slipway stacks`)
 *   healthcheck:
 *     path: /health              GET this on web before it takes traffic
 *     interval: 1                seconds between tries
 *     timeout: 5                 seconds per try
 *     deadline: 60               seconds in all
 *   processes:                   process types, as Procfile lines
 *     web: ./server
 *
 * Unknown keys, wrong kinds and bad values are ERR_INVALID with
 * "slipway.yml line N: ..." naming the line.
 */
struct builder_manifest {
	char *deploy_branch;            /* NULL: not given */
	char **buildpacks;              /* nbuildpacks entries */
	size_t nbuildpacks;
	char *stack;                    /* NULL: not given */
	char *health_path;              /* NULL: not given */
	unsigned health_interval;       /* seconds; 0: not given */
	unsigned health_timeout;
	unsigned health_deadline;
	struct slug_procfile *processes; /* NULL: not given */
};

/* Parse len bytes of text (at most BUILDER_YAML_MAX).  An empty file is
 * an empty manifest.  *out is the caller's. */
int builder_manifest_parse(struct builder_manifest **out, const char *text,
    size_t len);
void builder_manifest_free(struct builder_manifest *m);
/* The health check as the image label io.slipway.healthcheck carries it
 * (compact JSON), or NULL when the manifest has none.  Caller frees. */
char *builder_manifest_health_json(const struct builder_manifest *m);

/* ---- bin/release ---- */

/*
 * What a buildpack's bin/release prints (Heroku's buildpack API):
 *
 *   ---
 *   addons: []
 *   config_vars: {}
 *   default_process_types:
 *     web: ./bin/server
 *
 * Only default_process_types is used (it fills in what the Procfile
 * lacks); addons and config_vars are read and counted so the build can
 * say they were ignored; other top-level keys are ignored, as Heroku does.
 * Malformed YAML, a top level that is not a mapping, or process types
 * that are not a mapping of type to one-line command: ERR_INVALID with
 * "bin/release line N: ...".
 */
struct builder_release {
	struct slug_procfile *default_process_types;  /* never NULL */
	size_t addons;
	size_t config_vars;
};

int builder_release_parse(struct builder_release **out, const char *text,
    size_t len);
void builder_release_free(struct builder_release *r);

/* ---- the pipeline ---- */

struct builder_opts {
	const char *home;          /* SLIPWAY_HOME */
	const char *app;
	const char *repo;          /* the app's bare repository */
	const char *const *alt_odb; /* git's quarantine object dirs, or NULL */
	const char *rev;           /* what to build: a commit id or a ref */
	int64_t build;             /* a recorded build to run; 0: record one */
	const char *registry;      /* its URL (url_service_parse) */
	struct apiclient *api;     /* the controller, as the user */
	const char *user;          /* the user (registry auth) */
	const char *token;         /* their session token (registry auth) */
	unsigned timeout_sec;      /* compile limit; 0: the default */
	FILE *out;                 /* what the person sees (stderr) */
	bool log_file;             /* also write the build's log file */
	volatile sig_atomic_t *stop; /* set (by a signal) to cancel */
	const char *land;          /* a push: the branch git moves when the
	                            * hook ends; the build is released and
	                            * followed before that, and a failed
	                            * rollout fails the build run (the push
	                            * is rejected).  NULL: a build that is
	                            * not a push, released at once. */
};

struct builder_result {
	int64_t build;             /* its number */
	int64_t release;           /* vN made, 0 when none */
	char digest[DIGEST_STR_MAX];  /* the image's manifest digest */
	double seconds;            /* the whole build */
};

/*
 * Build o->rev of o->app and release it.  Every failure ends the build as
 * failed in the controller with the reason (which is also the error
 * returned and the last line the person sees).  ERR_CONFLICT when the
 * controller refuses, ERR_TIMEOUT when the compile ran out of time,
 * ERR_INVALID for what is wrong with the app (Procfile, slipway.yml,
 * no buildpack and no Procfile), ERR_IO for what failed around it.
 */
int builder_run(struct builder_result *out, const struct builder_opts *o);

/* When the last error (err_last) is a write refused for want of space
 * (ENOSPC or EDQUOT, from us, libgit2 or git, or a registry answering
 * 507), replace its message with the one line a person can act on:
 * "the server's disk is full (WHAT at PATH); free space and push again",
 * path being where the write went unless the message names it (NULL:
 * none).  The code becomes ERR_IO.  Returns whether it did. */
bool builder_disk_full(const char *path);

#endif
