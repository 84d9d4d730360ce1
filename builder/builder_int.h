/* Private to builder/: the YAML tree, output, export, buildpacks. */
#ifndef SLIPWAY_BUILDER_INT_H
#define SLIPWAY_BUILDER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sys/types.h>

#include <git2/types.h>

#include "slipway/builder.h"
#include "slipway/slug.h"
#include "slipway/yml.h"

/* ---- out.c: what the person sees, and the log ---- */

/* Invariant: log_fd is -1 or the open .part log; t0 is when it began. */
struct builder_out {
	FILE *out;
	int log_fd;
	double t0;
	double stage_t0;
	char timings[512];      /* "export 0.01s, slug 0.20s, ..." */
};

/* "-----> text" */
void builder_say(struct builder_out *bo, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* " !     text" */
void builder_warn(struct builder_out *bo, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A line of the buildpack's own output: kept as it is when it already
 * has the arrow or the indent, indented otherwise. */
void builder_line(struct builder_out *bo, const char *line);
/* Start timing a stage; builder_stage_end adds "name 0.12s" to the
 * timings and returns the seconds. */
void builder_stage_begin(struct builder_out *bo);
double builder_stage_end(struct builder_out *bo, const char *name);
/* "14.2 MB" */
void builder_size_format(char *out, size_t len, uint64_t bytes);

/* ---- export.c ---- */

/* Write commit's tree into the empty directory dir, leaving out what the
 * root's .slugignore matches.  Never follows a symlink it wrote; a gitlink
 * is ERR_UNSUPPORTED; more than max_bytes of files is ERR_TOOBIG.
 * *files counts the files written. */
int builder_export_tree(uint64_t *files, git_repository *repo,
    const git_oid *commit, const char *dir, uint64_t max_bytes);

/* A blob at the root of commit's tree, at most max bytes: ERR_NOTFOUND
 * when there is none (or it is not a file). */
struct buf;
int builder_tree_file(struct buf *out, git_repository *repo,
    const git_oid *commit, const char *name, size_t max);

/* ---- limits.c: what a push may expand to ---- */

/* Defaults: the slug's own uncompressed cap (4 x its 500 MiB), 1 GiB a
 * file, and as many entries as a slug may hold. */
#define BUILDER_PUSH_MAX_SIZE_DEFAULT (SLUG_MAX_SIZE_DEFAULT * SLUG_TAR_FACTOR)
#define BUILDER_PUSH_MAX_FILE_DEFAULT ((uint64_t)1 << 30)
#define BUILDER_PUSH_MAX_ENTRIES SLUG_INSPECT_MAX_ENTRIES

/* Invariant: both caps are > 0; *_set says the environment gave it. */
struct builder_limits {
	uint64_t max_size;      /* all files of the tree, each time named */
	uint64_t max_file;      /* one file */
	bool size_set, file_set;
};

/* SLIPWAY_PUSH_MAX_SIZE and SLIPWAY_PUSH_MAX_FILE (parse_size: "2G",
 * "512M"), else the defaults.  ERR_INVALID naming a bad value. */
int builder_limits_get(struct builder_limits *out);

/* Walk commit's tree reading object headers only: ERR_TOOBIG with one
 * line naming the limit and where it is set when a file or the whole
 * tree is past it, or when the tree has more than
 * BUILDER_PUSH_MAX_ENTRIES entries (one tree named many times counts
 * each time). */
int builder_tree_check(const struct builder_limits *l, git_repository *repo,
    const git_oid *commit);

/* ---- buildpack.c ---- */

struct builder_bp {
	char *dir;              /* where bin/ is */
	char *name;             /* what bin/detect said, or the dir's name */
	char *source;           /* as configured, for messages */
};

/* What compiling needs: the sandbox or the host, the paths. */
struct builder_ctx {
	const struct builder_opts *o;
	struct builder_out *bo;
	const char *sha;
	char *work;             /* the build's scratch dir */
	char *build_dir;        /* the app tree, compiled in place */
	char *cache_dir;        /* home_cache_path: $home/cache/<uid> */
	char *env_dir;          /* config vars, one per file */
	char *out_dir;          /* what detect and release print */
	char *exports_dir;      /* export files kept, 00, 01, ... */
	unsigned nexports;
	char *rootfs;           /* the stack's build image, unpacked */
	const char *stack;      /* its name: STACK in every step */
	uid_t uid;              /* the stack's build user */
	gid_t gid;
	bool host;              /* runc cannot run: on the host */
	unsigned run_seq;       /* names the containers */
};

/* Find the buildpacks: the ncfg configured ones (build.c's order:
 * BUILDPACK_URL, the app's buildpacks:set list, slipway.yml,
 * .buildpacks) fetched, each of which must detect; else every installed
 * one is tried with bin/detect in order.  *out holds *n of them (free
 * with builder_bps_free). */
int builder_bps_select(struct builder_bp **out, size_t *n,
    struct builder_ctx *bc, const char *const *cfg, size_t ncfg);
void builder_bps_free(struct builder_bp *bps, size_t n);
/* Are there buildpacks to consider at all (configured or installed)? */
bool builder_bps_wanted(const char *home, size_t nconfigured);
/* Has dir an executable bin/<prog>? */
bool builder_bp_has(const char *dir, const char *prog);
/* Hand dir (recursively, never through a link) to the build user; a
 * host build has nothing to hand. */
int builder_bp_own(struct builder_ctx *bc, const char *dir);

/* ---- bp_fetch.c ---- */


/* Make buildpack src (an installed name, a URL of a git repository or an
 * http(s) tarball; name_buildpack_check) the build user's copy
 * <work>/buildpack-<index>: bp->dir and bp->source are set (the caller
 * frees them, also on failure).  ERR_INVALID for a name that is none of
 * these, ERR_NOTFOUND for one not installed, ERR_IO (with git's or the
 * server's word) when it cannot be fetched. */
int builder_bp_fetch(struct builder_bp *bp, struct builder_ctx *bc,
    const char *src, size_t index);
/* Hand the build, env and out dirs (and the cache, when it is not
 * already) to the stack's build user. */
int builder_bp_prepare_dirs(struct builder_ctx *bc);
/* bin/compile, then bin/release (parsed, merged into *defaults). */
int builder_bp_compile(struct builder_ctx *bc, const struct builder_bp *bp,
    struct slug_procfile **defaults);

/* ---- stack.c ---- */

/* The stack to build on: chosen (slipway.yml's or stack:set's, from
 * saying which, for messages), else the home's default, else the busybox
 * stack (imported from busybox-static when missing).  A chosen stack
 * that is missing is ERR_NOTFOUND; a missing default falls back to
 * busybox with a warning on bo.  *out is the caller's
 * (image_stack_ref_clear). */
struct image_stack_ref;
int builder_stack_pick(struct image_stack_ref *out, struct builder_out *bo,
    const char *home, const char *chosen, const char *from);
/* The stack's build image unpacked for builds (runner_image_unpack);
 * *rootfs is its path. */
int builder_stack_rootfs(char **rootfs, const char *home,
    const struct image_stack_ref *stack);

/* ---- phase.c ---- */

/* Follow one-off run (a release phase) of app to its end, saying its
 * lines on bo. */
struct apiclient;
void builder_phase_follow(struct builder_out *bo, struct apiclient *api,
    const char *app, const char *run);

/* ---- the build's lease (lease.c) ---- */

/*
 * While the pipeline works, a thread of its own tells the controller
 * every third of the lease that the build is alive ({"status":"running"}
 * renews it), so a long compile or upload keeps its build and a killed
 * builder loses it within a lease (store/store_builds.c).  The
 * thread has its own API client: the pipeline's is not shared across
 * threads.  A build already over (failed by the controller after a lost
 * lease) ends the renewals; other failures (a controller restarting) are
 * tried again next time.  Invariant: th runs while started is true; mu
 * guards stop.
 */
struct builder_lease {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started, stop;
	atomic_int cancel;      /* ends a renewal under way */
	struct apiclient *api;
	char path[256];
	unsigned every_ms;
};

/* Start renewing the lease of build number; a lease that cannot be kept
 * (no thread) costs the build nothing but its protection. */
void builder_lease_start(struct builder_lease *l, const struct builder_opts *o,
    int64_t number);
/* Stop renewing (before the build's last update, and on every way out);
 * twice is once. */
void builder_lease_stop(struct builder_lease *l);

#endif
