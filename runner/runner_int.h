/*
 * Private structures of the runner module.  Never included from outside
 * runner/ (and tests/unit/test_runner_*.c, which check the pure parts).
 */
#ifndef SLIPWAY_RUNNER_INT_H
#define SLIPWAY_RUNNER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "slipway/buf.h"
#include "slipway/runner.h"

/* ---- unpack ---------------------------------------------------------- */

/* A set of strings (the paths one layer has written), open addressing.
 * Invariant: count < cap / 2 when slots is set. */
struct runner_strset {
	char **slots;
	size_t cap;
	size_t count;
};

void runner_strset_init(struct runner_strset *s);
void runner_strset_free(struct runner_strset *s);
bool runner_strset_has(const struct runner_strset *s, const char *key);
void runner_strset_add(struct runner_strset *s, const char *key);

/* The state of one unpack: the rootfs held open, the layer being read,
 * what the limits have counted so far. */
struct runner_unpack {
	int rootfd;                  /* the rootfs directory, O_PATH-free */
	const char *rootpath;
	const char *layer;           /* path of the layer, for messages */
	unsigned layer_no;           /* 1-based */
	struct runner_unpack_limits lim;
	uint64_t total;              /* file bytes written, all layers */
	uint64_t entries;            /* entries seen, all layers */
	struct runner_strset seen;   /* paths this layer wrote */
	bool root;                   /* euid 0: keep owners */
	bool xattr_warned;           /* per layer */
	runner_warn_fn warn;
	void *ctx;
};

/* Clean an entry path: strip "./" and empty or "." components.  Absolute
 * paths and ".." are ERR_INVALID.  An empty result (the root itself) is
 * returned as "".  *out is malloc'd. */
int runner_unpack_path_clean(char **out, const char *raw);

/* Apply one archive entry (libarchive's struct archive_entry, data read
 * from a) to the rootfs.  Errors name the layer and the entry. */
struct archive;
struct archive_entry;
int runner_unpack_entry(struct runner_unpack *u, struct archive *a,
    struct archive_entry *e);

void runner_unpack_warn(struct runner_unpack *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- bundle ---------------------------------------------------------- */

/* Everything config.json is made from. */
struct runner_bundle_params {
	const char *id;
	const char *rootfs;           /* absolute path of the mounted rootfs */
	const char *command;
	char **env;                   /* final "K=V" list, NULL-terminated */
	const char *cwd;              /* "/app" */
	uid_t uid;
	gid_t gid;
	const char *hostname;
	uint64_t memory_bytes;
	unsigned pids_max;
	uint64_t nofile;              /* RLIMIT_NOFILE, soft = hard */
	bool host_resolv;             /* bind /etc/resolv.conf and /etc/hosts */
	const char *init;             /* host path of the init (bind-mounted
	                               * at RUNNER_INIT_PATH, the command
	                               * run under it); NULL: none */
};

/* The OCI runtime-spec config for p (caller json_decref's). */
json_t *runner_bundle_config(const struct runner_bundle_params *p);

/* The environment of a container: image env, then the release's config,
 * then PORT and SLIPWAY_* (which win).  PATH defaults when neither gives
 * one.  NULL-terminated, caller frees with runner_strv_free. */
char **runner_env_build(char *const *image_env, char *const *config,
    unsigned port, const char *app, const char *release,
    const char *process, const char *home_dir);

/* Resolve spec->user against the image's /etc/passwd (read inside the
 * rootfs, never following a link out of it). */
int runner_user_resolve(uid_t *uid, gid_t *gid, const char *rootfs,
    const char *user);

/* Read a file inside rootfs (RESOLVE_IN_ROOT), capped at max. */
int runner_rootfs_read(struct buf *out, const char *rootfs, const char *rel,
    size_t max);

/* ---- the overlay rootfs (overlay.c) ---------------------------------- */

/* Mount at <dir>/rootfs an overlay of lower (an image's rootfs, read
 * only) with <dir>/upper and <dir>/work, emptied first, nodev.  Fails
 * with ERR_UNSUPPORTED when dir or lower has a ',' or ':' (which
 * overlayfs options cannot carry) or the kernel refuses the mount ("cannot
 * mount <what>: <why>"), otherwise with err_sys's codes. */
int runner_overlay_mount(const char *dir, const char *lower,
    const char *what);

/* ---- the container init (init_bin.c) ---------------------------------- */

/*
 * What every process of a release runs (web, worker, one-offs, the
 * release phase): the slug's .profile.d/<name>.sh files sourced in order (Heroku's
 * contract: buildpacks put PATH and the like there), then the command as
 * a shell line of its own.  The command comes as "$1", never as script
 * text; the cwd is the app's dir (/app in a container).
 */
#define RUNNER_PROFILE_SCRIPT \
	"for slipway_f in .profile.d/*.sh; do " \
	"if [ -f \"$slipway_f\" ]; then . \"./$slipway_f\"; fi; done; " \
	"unset slipway_f; exec /bin/sh -c \"$1\""

/* Where a runc container sees the init (runner/init/slipway-init.c). */
#define RUNNER_INIT_PATH "/dev/slipway-init"

/* The init's bytes, as built into this binary. */
const unsigned char *runner_init_image(size_t *len);

/* Write the init to <home>/runner/init (0755, atomically) unless the
 * same bytes are there; *out (may be NULL) gets its path, the caller's. */
int runner_init_install(char **out, const char *home);

/* ---- containers ------------------------------------------------------ */

/* One container.  Fields under "state" change only with r->mu held.
 * busy: an operation (start, stop, restart, destroy) owns the container's
 * processes; the supervisor leaves it alone and others wait on r->cv. */
struct runner_ctr {
	char *id;
	char *dir;                    /* containers/<id> */
	char *app, *release, *ptype, *process;  /* process = "web.1" */
	unsigned index;
	char *command;
	char *image;                  /* digest */
	char *rootfs_lower;           /* images/<hex>/rootfs */
	char **env;                   /* final environment */
	uid_t uid;
	gid_t gid;
	uint64_t memory_bytes;
	unsigned pids_max;
	bool no_restart;
	char *label;                  /* spec.label, never NULL */
	bool init;                    /* runc: its process is RUNNER_INIT_PATH
	                               * (state files from before have none:
	                               * the command is PID 1) */
	enum runner_driver driver;
	unsigned port;

	/* state */
	enum runner_state state;
	bool want_up;                 /* start asked, stop not yet */
	bool retiring;                /* runner_container_retire: going away,
	                               * kept running until stopped */
	bool busy;
	bool mounted;
	pid_t pid;
	unsigned long long pid_start; /* /proc/<pid>/stat starttime */
	int pidfd;                    /* -1 when not running */
	bool child;                   /* ours to wait for (exit code known) */
	int exit_code;
	unsigned restarts;            /* total */
	unsigned streak;              /* crashes since the last stable run */
	double started_mono;
	double started_at;            /* wall clock */
	double restart_at;            /* monotonic; 0: none scheduled */
	bool held;                    /* found dead at open with hold_dead:
	                               * not restarted until
	                               * runner_held_resume says */

	/* The state file's text runner_event took, for runner_ctr_flush
	 * to write; the busy holder's, NULL when written. */
	char *save_text;

	/* output: the file the process writes (O_APPEND), tailed */
	int out_fd;                   /* read side, -1 when closed */
	uint64_t out_off;
	struct buf partial;           /* a line without its newline yet */
};

/* A process up this long is stable: its crash streak starts again. */
#define RUNNER_STABLE_SEC 60.0
/* Crashes in a row (none of them after a stable run) that make a
 * container crashed: shown so in ps, and not live. */
#define RUNNER_CRASH_STREAK 3

struct runner {
	char *home;
	char *images_dir, *ctrs_dir, *runc_root;
	char *runc;
	char *init;                   /* <home>/runner/init (runc), or NULL */
	enum runner_driver driver;
	unsigned port_base;
	double backoff_max, grace;
	uint64_t log_max;
	atomic_int *cancel;           /* opts.cancel */
	runner_event_fn on_event;
	bool hold_dead;               /* opts.hold_dead */
	runner_log_hook_fn on_log;
	void *ctx;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t logmu;        /* output tailing and log writes */
	pthread_t thread;
	bool thread_started;
	bool stopping;
	int wake_fd;                  /* eventfd: wakes the supervisor */
	int lock_fd;                  /* flock of runner/lock: one runner */
	struct runner_ctr **ctrs;
	size_t nctrs;
};

/* runner.c: the table, for lifecycle.c (r->mu held unless said).
 *
 * State files: c changed state (c busy): runner_event takes the state
 * file's text and tells the on_event callback; the file is written by
 * runner_ctr_flush after r->mu is dropped, before c is released, so an
 * fsync never holds up the table, and the writes of one container are
 * one at a time, in the order of its state changes (busy is held by one
 * thread at a time, and each holder writes before it lets go). */
void runner_event(struct runner *r, struct runner_ctr *c);
/* runner_event, then drop r->mu, write the state file, take r->mu again
 * and release c. */
void runner_event_release(struct runner *r, struct runner_ctr *c);
struct runner_ctr *runner_find(struct runner *r, const char *id);
/* Find id and mark it busy, waiting out another operation; r->mu held
 * on entry and on return. */
int runner_acquire(struct runner_ctr **out, struct runner *r,
    const char *id);
/* Not busy any more: wake waiters and the supervisor. */
void runner_release(struct runner *r, struct runner_ctr *c);
void runner_table_remove(struct runner *r, struct runner_ctr *c);
int runner_launch(struct runner *r, struct runner_ctr *c);

/* container.c: the driver operations, and container_state.c: the state
 * files.  Called with c->busy set and r->mu NOT held. */
int runner_ctr_prepare(struct runner *r, struct runner_ctr *c);
int runner_ctr_launch(struct runner *r, struct runner_ctr *c);
int runner_ctr_signal(struct runner *r, struct runner_ctr *c, int sig);
int runner_ctr_reap(struct runner *r, struct runner_ctr *c, bool block,
    double wait_sec);
void runner_ctr_cleanup(struct runner *r, struct runner_ctr *c, bool all);
/* Write the state file of c now: temp file, fsync, rename (for the
 * runner alone: opening, closing). */
int runner_ctr_save(struct runner *r, struct runner_ctr *c);
/* Write what runner_event took, if anything; a failure is logged (the
 * next change writes it again).  c busy, r->mu not held. */
void runner_ctr_flush(struct runner *r, struct runner_ctr *c);
int runner_ctr_load(struct runner_ctr **out, struct runner *r,
    const char *id);
void runner_ctr_free(struct runner_ctr *c);
void runner_ctr_info(struct runner_container_info *out,
    const struct runner_ctr *c);
json_t *runner_ctr_json(const struct runner_ctr *c);
bool runner_ctr_adopt(struct runner *r, struct runner_ctr *c);
/* /proc/<pid>/stat field 22, to tell a pid from its reuse; 0 when gone. */
unsigned long long runner_ctr_pid_start(pid_t pid);
/* The output file: the process writes it (O_APPEND, *wfd, the
 * caller's), we read it (c->out_fd, opened once). */
int runner_ctr_output_open(struct runner_ctr *c, int *wfd);

/* logs.c: copy new output of c into the app log.  eof: flush a partial
 * line too.  Takes r->logmu. */
void runner_ctr_tail(struct runner *r, struct runner_ctr *c, bool eof);
/* A line from the runner itself about c ("state changed ..."). */
void runner_ctr_say(struct runner *r, struct runner_ctr *c,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The images named by the state files under home (in use). */
char **runner_home_images_in_use(const char *home);

double runner_now_wall(void);

#endif
