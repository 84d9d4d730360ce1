/*
 * The runner's core: what a host agent needs to run releases as
 * containers.  Five parts, each usable alone:
 *
 *   images      unpack an image's layers once per manifest digest into a
 *               read-only rootfs ($SLIPWAY_HOME/runner/images/<hex>/rootfs),
 *               refusing or neutralising hostile entries; collect the
 *               images no release needs any more.
 *   containers  struct runner: an OCI bundle per container under
 *               $SLIPWAY_HOME/runner/containers/<id>/, run by runc (or as
 *               a plain process), supervised by a background thread that
 *               restarts crashes with backoff and copies output into the
 *               app's log.
 *   logs        per-app log rings at $SLIPWAY_HOME/logs/apps/<app>.log and
 *               a reader (last N lines, follow, filter by process).
 *   health      HTTP GET on 127.0.0.1:PORT until 2xx/3xx or a deadline,
 *               keeping the last answer for the failure message.
 *   sandbox     one-shot containers for builds (runner/sandbox.c).
 *
 * The joining layer (the runner daemon talking to the controller, the
 * rollout with the proxy) is built on these calls; docs/runner.md says
 * which it makes in which order.
 */
#ifndef SLIPWAY_RUNNER_H
#define SLIPWAY_RUNNER_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "slipway/logring.h"
#include "slipway/proc.h"

/* ---- images ---------------------------------------------------------- */

/* Caps on what one image may hold; 0 in a field takes the default. */
struct runner_unpack_limits {
	uint64_t entry_max;      /* one file's size; default 4 GiB */
	uint64_t total_max;      /* all files of all layers; default 16 GiB */
	uint64_t entries_max;    /* entries of all layers; default 1,000,000 */
};

/* Called with each warning (a skipped device node, fifo, socket, or
 * extended header); NULL logs them with log_warnx. */
typedef void (*runner_warn_fn)(const char *msg, void *ctx);

struct runner_unpack_opts {
	struct runner_unpack_limits limits;
	runner_warn_fn warn;
	void *ctx;
};

/* Unpack the layers (paths of tar or gzip'd tar files, lowest first) of
 * the image whose manifest digest is digest ("sha256:<hex>") into
 * <home>/runner/images/<hex>/rootfs, unless it is there already.  The
 * tree is built in a temp dir beside it and renamed into place whole, so
 * a reader sees all of it or nothing; concurrent calls for one digest
 * wait for each other (flock) and the second does nothing.
 *
 * Hostile entries fail the whole unpack with ERR_INVALID and a message
 * naming the layer and the entry: absolute paths, "..", a path through a
 * symlink, a hard link to something outside or not unpacked yet, a
 * malformed whiteout.  Over a limit: ERR_TOOBIG.  Device nodes, fifos and
 * sockets are skipped with a warning; setuid, setgid bits and extended
 * attributes are dropped.  Nothing is ever written outside the rootfs.
 * *out_rootfs (may be NULL) is the rootfs path; caller frees. */
int runner_image_unpack(char **out_rootfs, const char *home,
    const char *digest, const char *const *layers, size_t nlayers,
    const struct runner_unpack_opts *opts);

/* Unpack layers into an existing empty directory dir (no temp dir, no
 * rename, no lock): the engine behind runner_image_unpack, for tests and
 * tools. */
int runner_layers_unpack(const char *dir, const char *const *layers,
    size_t nlayers, const struct runner_unpack_opts *opts);

/* The rootfs path of an unpacked image, or ERR_NOTFOUND. */
int runner_image_path(char **out, const char *home, const char *digest);

/* One release the controller knows, for choosing what to keep. */
struct runner_release_ref {
	const char *app;
	unsigned number;         /* N of vN */
	const char *digest;      /* manifest digest of its build's image */
};

/* The digests of the last keep_per_app releases of each app (by number),
 * without duplicates.  *out is a NULL-terminated array the caller frees
 * with runner_strv_free. */
int runner_images_keep_select(char ***out,
    const struct runner_release_ref *releases, size_t n,
    unsigned keep_per_app);

/* Remove every unpacked image whose digest is not in keep (NULL-terminated)
 * and that no container under <home>/runner/containers uses, and the temp
 * dirs of unpacks that died.  An image being unpacked is left alone.
 * *removed (may be NULL) counts the images removed. */
int runner_images_gc(const char *home, char *const *keep,
    unsigned *removed);

void runner_strv_free(char **v);

/* ---- containers ------------------------------------------------------ */

enum runner_driver {
	RUNNER_DRIVER_AUTO = 0,  /* runc when there and root, else process */
	RUNNER_DRIVER_RUNC,
	RUNNER_DRIVER_PROCESS,
};

enum runner_state {
	RUNNER_STATE_INITIALIZED = 0, /* bundle made, nothing running */
	RUNNER_STATE_CREATED,         /* runc create done, not started */
	RUNNER_STATE_UP,              /* the process runs */
	RUNNER_STATE_DOWN,            /* it exited (crash or stop) */
	RUNNER_STATE_DESTROYED,       /* bundle and ephemeral fs removed */
};

const char *runner_state_name(enum runner_state s);
const char *runner_driver_name(enum runner_driver d);
int runner_driver_parse(enum runner_driver *out, const char *s);

/* What to run.  Nothing here is kept: runner_container_create copies. */
struct runner_container_spec {
	const char *app;          /* valid app name */
	const char *release;      /* "v3" */
	const char *process_type; /* "web" */
	unsigned index;           /* 1 for web.1; 0 means 1 */
	const char *command;      /* run as /bin/sh -c COMMAND */
	const char *image;        /* manifest digest, already unpacked */
	char *const *image_env;   /* "K=V" from the image config, or NULL */
	char *const *env;         /* "K=V" of the release's config, or NULL */
	const char *user;         /* "uid[:gid]" or a name in the image's
	                           * /etc/passwd; NULL: first user with
	                           * 1000 <= uid < 65534 there, else root */
	unsigned port;            /* 0: the runner picks one */
	uint64_t memory_bytes;    /* 0: 512 MiB */
	unsigned pids_max;        /* 0: 256 */
	bool no_restart;          /* one-off: do not restart when it exits */
	const char *label;        /* opaque text kept with the container and
	                           * shown in its snapshot (the daemon's
	                           * restart token); NULL: "" */
};

/* A snapshot of one container, as `ps` shows it.  Strings are owned by
 * the snapshot (runner_container_info_free). */
struct runner_container_info {
	char *id;
	char *app, *release, *process;  /* process: "web.1" */
	char *image;
	enum runner_driver driver;
	enum runner_state state;
	unsigned port;
	pid_t pid;                /* 0 when not running */
	int exit_code;            /* last exit: status, 128+signal, -1 none
	                           * or unknown */
	unsigned restarts;
	double started_at;        /* wall clock of the last start, 0 none */
	char *label;              /* spec.label, "" when none */
	bool want_up;             /* started and not stopped: it runs, or it
	                           * crashed and will be restarted */
	bool retiring;            /* runner_container_retire'd: on its way
	                           * out, not to be used again */
	bool no_restart;          /* a one-off */
	bool crashed;             /* crash-looping: RUNNER_CRASH_STREAK exits
	                           * in a row, and not up for a minute since */
};

void runner_container_info_free(struct runner_container_info *info);
/* JSON object of the snapshot (for `ps --json` and the controller). */
json_t *runner_container_info_json(const struct runner_container_info *i);

/* Called (from the supervisor thread or the caller's) after each state
 * change of a container.  Must not call back into the runner. */
typedef void (*runner_event_fn)(const struct runner_container_info *info,
    void *ctx);

/* Called with each piece of text appended to an app's log ring by the
 * runner (container output and the runner's own lines about a
 * container): whole lines, each ending in '\n'.  Called with the log
 * lock held: copy what you need, do not call back into the runner. */
typedef void (*runner_log_hook_fn)(const char *app, const char *text,
    size_t len, void *ctx);

struct runner_opts {
	const char *home;          /* SLIPWAY_HOME */
	enum runner_driver driver; /* AUTO picks */
	const char *runc;          /* runc program; NULL: "runc" in PATH */
	unsigned port_base;        /* 0: 20000 */
	double backoff_max_sec;    /* 0: 30 */
	double stop_grace_sec;     /* SIGTERM to SIGKILL; 0: 10 */
	uint64_t log_max;          /* per-app log size before rotation;
	                            * 0: 8 MiB */
	atomic_int *cancel;        /* may be NULL; once it is set, a stop
	                            * waiting out its grace gives up (the
	                            * process has had SIGTERM and is left
	                            * marked not wanted, for the next runner:
	                            * the daemon stopping) */
	runner_event_fn on_event;
	runner_log_hook_fn on_log; /* may be NULL; gets ctx too */
	void *ctx;
	bool hold_dead;            /* containers found dead at open are not
	                            * restarted until runner_held_resume
	                            * (the daemon asks the controller first:
	                            * their slots may have moved meanwhile) */
};

struct runner;

/* Open the runner over opts->home: pick the driver, make the directories,
 * adopt the containers a previous runner left (running ones keep running
 * and are watched again; dead ones are restarted unless stopped), and
 * start the supervisor thread.  The process becomes a child subreaper, so
 * that container processes are its children and their exit codes known.
 * One runner per home: a second runner_open fails with ERR_CONFLICT
 * naming the first one's pid (flock on <home>/runner/lock). */
int runner_open(struct runner **out, const struct runner_opts *opts);

/* The containers runner_open held (opts.hold_dead): each that keep(info,
 * arg) answers true for is restarted now; the others are marked not
 * wanted (never restarted, left down for their app's reconcile to
 * destroy).  keep runs with the runner's lock held: it must not call the
 * runner.  After this no container is held. */
void runner_held_resume(struct runner *r,
    bool (*keep)(const struct runner_container_info *info, void *arg),
    void *arg);

/* Stop the supervisor thread and free.  Containers keep running (a new
 * runner_open adopts them); call runner_container_destroy first to end
 * them.  Accepts NULL. */
void runner_close(struct runner *r);

enum runner_driver runner_driver(const struct runner *r);

/* Make the bundle of a new container (state initialized): port, config,
 * overlay mount for runc.  *out_id is its id (caller frees). */
int runner_container_create(char **out_id, struct runner *r,
    const struct runner_container_spec *spec);

/* Start it (initialized or down -> created -> up).  From then on a crash
 * restarts it with backoff until runner_container_stop. */
int runner_container_start(struct runner *r, const char *id);

/* Mark it as going away (retiring): it keeps running, so that requests
 * in flight can end, but is not restarted when it exits, and its state
 * (snapshots, the state file a runner adopting it after a restart reads)
 * says so.  Then stop or destroy it.  ERR_NOTFOUND for an unknown id. */
int runner_container_retire(struct runner *r, const char *id);

/* SIGTERM, up to grace_sec (<0: the runner's default), then SIGKILL;
 * state down.  Not restarted after; the state file says so before the
 * signal goes.  ERR_CONFLICT when opts.cancel cut the grace short: the
 * process may still run, not wanted (destroy it later, or the next
 * runner will).  runc: the container's init passes SIGTERM to the
 * command's process group (a container started before the init existed
 * gets it on every process); SIGKILL goes to every process.  process
 * driver: the command's whole process group (its session). */
int runner_container_stop(struct runner *r, const char *id,
    double grace_sec);

/* Stop if needed, then remove its runc state, mount, ephemeral upper dir
 * and bundle: state destroyed, and the id is forgotten.  A stop cut short
 * by opts.cancel fails as runner_container_stop does, destroying
 * nothing. */
int runner_container_destroy(struct runner *r, const char *id);

/* Snapshot of one container; ERR_NOTFOUND for an unknown id. */
int runner_container_get(struct runner_container_info *out,
    struct runner *r, const char *id);

/* Snapshots of all containers; *out is an array of *n (free each, then
 * the array). */
int runner_container_list(struct runner_container_info **out, size_t *n,
    struct runner *r);

/* Read the state files under <home>/runner/containers without opening a
 * runner (for `slipway runner ps` in another process). */
int runner_container_list_home(struct runner_container_info **out,
    size_t *n, const char *home);

/* ---- ports ----------------------------------------------------------- */

/* A runner hands out container ports base .. runner_port_last(base):
 * RUNNER_PORT_SPAN of them, fewer where 65535 cuts the range.  The
 * firewall (firewall.c) covers exactly that range. */
#define RUNNER_PORT_BASE 20000
#define RUNNER_PORT_SPAN 1000

/* The last port of the range from base (0: RUNNER_PORT_BASE). */
unsigned runner_port_last(unsigned base);

/* The first port from base (0: RUNNER_PORT_BASE) to runner_port_last
 * that is not in taken[n] and that nothing listens on (a bind test on
 * 0.0.0.0 and [::]); ERR_CONFLICT when every one is used. */
int runner_port_find(unsigned *out, unsigned base, const unsigned *taken,
    size_t n);

/* ---- the firewall (firewall.c) --------------------------------------- */

/* "slipway_" and 12 hex digits, and the NUL. */
#define RUNNER_FIREWALL_NAME_MAX 21

/* The name of the nftables table (family inet) of the runner over home
 * (an absolute path, as the runner opens it): "slipway_" and the first
 * 12 hex digits of sha256(home).  One runner per home (runner/lock), so
 * two runners on one host never share a table. */
void runner_firewall_name(char out[RUNNER_FIREWALL_NAME_MAX],
    const char *home);

/* The nft script that replaces the table of home with one dropping new
 * TCP connections to ports first..last that do not arrive on lo, in one
 * transaction (caller frees).  remove: the script that deletes it, a
 * no-op when it is not there. */
char *runner_firewall_script(const char *home, unsigned first,
    unsigned last);
char *runner_firewall_remove_script(const char *home);

/* Run the script through `nft -f -` (atomically).  ERR_NOTFOUND when nft
 * is not installed, ERR_IO with nft's first line of output when it
 * refuses. */
int runner_firewall_install(const char *home, unsigned base);
int runner_firewall_remove(const char *home);

/* What the runner daemon does at start: as root, install the table for
 * its port range (base, 0: RUNNER_PORT_BASE) and log one line saying
 * so; with publish, remove any table a previous start left and say the
 * ports are public as asked; otherwise (not root, no nft, nft refused)
 * one warning line saying the ports are reachable from every interface
 * and what to do.  Never fails: the runner runs either way. */
void runner_firewall_start(const char *home, unsigned base, bool publish);

/* ---- logs ------------------------------------------------------------ */

/* Append one line "<UTC time with ms> <source>: <text>" to the app's log
 * ring under home, rotating it to <app>.log.1 past max bytes (0: 8 MiB). */
int runner_log_append(const char *home, const char *app, const char *source,
    const char *text, size_t len, uint64_t max);

/* The same line, formatted into *out (caller frees; ends in '\n'), for
 * callers that also send it elsewhere.  *len gets its length. */
char *runner_log_format(size_t *len, const char *source, const char *text,
    size_t textlen);

/* logring_read of the app's ring under home (<home>/logs/apps). */
int runner_logs_read(const char *home, const struct logring_query *q,
    logring_fn fn, void *ctx);

/* The last line container id wrote (stdout or stderr, control characters
 * as '?', at most len - 1 bytes), "" when none: what a failure report
 * quotes ("sh: ./server: not found").  Only this container's, unlike the
 * app log, where a new web.1 and an old one share a name. */
int runner_container_last_line(char *out, size_t len, struct runner *r,
    const char *id);

/* ---- health ---------------------------------------------------------- */

struct runner_health_opts {
	unsigned port;
	const char *path;         /* NULL: "/" */
	double interval_sec;      /* 0: 1 */
	double timeout_sec;       /* per try; 0: 5 */
	double deadline_sec;      /* all tries; 0: 60 */
	/* Asked before each try; false ends the wait at once (the container
	 * died).  May be NULL. */
	bool (*alive)(void *ctx, char *why, size_t whylen);
	void *ctx;
	atomic_int *stop;         /* may be NULL */
};

/* One GET http://127.0.0.1:PORT/PATH.  0 for 2xx/3xx; otherwise negative,
 * and answer holds the status line or the connect/read error. */
int runner_health_check(const struct runner_health_opts *o, char *answer,
    size_t len);

/* Try every interval until healthy (0) or the deadline (ERR_TIMEOUT with
 * "never became healthy in Ns: <last answer>"), or until alive() says no
 * (ERR_IO with its reason). */
int runner_health_wait(const struct runner_health_opts *o, char *answer,
    size_t len);

/* Who listens on a port, as runner_container_port_owner tells it. */
enum runner_port_owner {
	RUNNER_PORT_NOBODY,       /* nothing listens there now, or it cannot
	                           * be told */
	RUNNER_PORT_OTHER,        /* another process: a health check that
	                           * answered was not the container's */
	RUNNER_PORT_OURS,         /* one of the container's processes */
};

/* Does container id own what listens on port?  *out says who does; 0, or
 * ERR_NOTFOUND for an unknown id.  Reads /proc/net/tcp{,6} and the
 * processes' descriptors: call it once a check passes, not for every
 * try. */
int runner_container_port_owner(enum runner_port_owner *out,
    struct runner *r, const char *id, unsigned port);

/* ---- sandbox --------------------------------------------------------- */

/*
 * One-shot containers for builds (runner/sandbox.c): run one program in a
 * container of an unpacked image with a few host directories bind-mounted,
 * its output handed over line by line, under a time limit, and gone when
 * it ends.  The same bundle as the runner's app containers (runtime-spec
 * config from runner/bundle.c: namespaces, capabilities, noNewPrivileges,
 * memory and pids limits, host network), on an overlay of the image so the
 * shared unpacked image is never written.
 */

struct runner_sandbox_mount {
	const char *source;      /* host path (a directory) */
	const char *dest;        /* absolute path in the container */
	bool readonly;
};

struct runner_sandbox {
	const char *home;        /* state and bundles under <home>/sandbox */
	const char *rootfs;      /* the unpacked image (never written) */
	const char *id;          /* [a-z0-9-]{1,60}, unique on the host */
	char *const *argv;       /* argv[0] an absolute path in the
	                          * container; run as it is, no shell */
	char *const *env;        /* "K=V", NULL-terminated */
	const char *cwd;         /* in the container; NULL: "/" */
	const struct runner_sandbox_mount *mounts;
	size_t nmounts;
	uid_t uid;               /* runner_sandbox_user */
	gid_t gid;
	unsigned timeout_sec;    /* 0: none */
	volatile sig_atomic_t *stop; /* set non-zero to stop it now */
	proc_line_fn on_line;    /* stdout and stderr, merged, by line */
	void *ctx;
	uint64_t memory_bytes;   /* 0: 2 GiB */
	unsigned pids_max;       /* 0: 1024 */
	const char *runc;        /* NULL: "runc" from PATH */
};

/* The uid and gid the container runs as: user ("uid[:gid]" or a name in
 * the image's /etc/passwd), or with NULL the first 1000 <= uid < 65534
 * there, else root. */
int runner_sandbox_user(uid_t *uid, gid_t *gid, const char *rootfs,
    const char *user);

/*
 * Run sb->argv to its end.  *status is its exit status (128+N when killed
 * by signal N).  Fails with ERR_TIMEOUT past the time limit, ERR_CONFLICT
 * when stopped through sb->stop (the container is killed either way), and
 * ERR_UNSUPPORTED when runc itself cannot make the container here (not
 * root, no runc, no overlay, no cgroups: the message is runc's), so the
 * caller may fall back to running elsewhere.
 */
int runner_sandbox_run(int *status, const struct runner_sandbox *sb);

/* ---- commands (cli/commands.c) --------------------------------------- */

int runner_cmd_run_local(int argc, char **argv);
int runner_cmd_unpack(int argc, char **argv);
int runner_cmd_ps(int argc, char **argv);
int runner_cmd_logs(int argc, char **argv);
int runner_cmd_gc(int argc, char **argv);
int runner_cmd_supervise(int argc, char **argv);
int runner_cmd_destroy(int argc, char **argv);
/* `slipway runner firewall --remove` (runner/firewall.c). */
int runner_cmd_firewall(int argc, char **argv);
/* The daemon: `slipway runner --controller URL --group G --key KEY`
 * (runner/daemon.c; docs/rollout.md). */
int runner_cmd_daemon(int argc, char **argv);

#endif
