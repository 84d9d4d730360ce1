/*
 * Private to the runner daemon (runner/daemon*.c, runner/rollout.c): the
 * joining layer between the controller, the runner's core, the registry
 * and the proxy.  Never included from outside runner/.
 *
 * Threads:
 *   main      waits for a signal, then stops the others in order
 *   leaser    registers, then renews the lease every second
 *             (runner/daemon_lease.c)
 *   poller    long-polls the desired state, hands each app its part
 *             (runner_dispatch)
 *   workers   one per app while it has work: reconcile and roll out
 *             (runner/rollout.c); they come and go
 *   retirers  one per batch of containers on their way out: drain, stop,
 *             destroy in the background (runner/rollout_retire.c), so
 *             that the app's worker can take the next target at once
 *   runs      one per one-off while it runs (runner/daemon_run.c)
 *   reporter  heartbeats and status reports (runner/daemon_report.c)
 *   shipper   sends app log lines to the controller in batches
 *
 * Lock order: rd->mu, then the runner's own locks (through runner_*
 * calls).  rd->rmu, rd->logmu and rd->runmu are leaves: the runner's
 * callbacks (on_event, on_log) take them with the runner's locks held,
 * so nothing may call into the runner, or take rd->mu, while holding
 * one of them.
 */
#ifndef SLIPWAY_RUNNER_DAEMON_INT_H
#define SLIPWAY_RUNNER_DAEMON_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "slipway/buf.h"
#include "slipway/runner.h"
#include "runner_int.h"     /* runner_now_wall */

struct apiclient;
struct image_config;

/* What `slipway runner` was started with.  Times in seconds. */
struct runner_daemon_opts {
	const char *controller;   /* URL */
	const char *key;          /* server key */
	const char *group;        /* must match the controller's */
	const char *name;         /* NULL: whatever the key names */
	enum runner_driver driver;
	const char *proxy_ctl;    /* proxy control socket */
	unsigned proxy_port;      /* public port of the proxy, for URLs */
	const char *registry;     /* URL to pull from instead of the image's
	                           * registry; NULL */
	unsigned keep_releases;   /* images kept per app */
	double health_interval, health_timeout, health_deadline;
	double drain;             /* wait for in-flight requests */
	double grace;             /* SIGTERM to SIGKILL */
	unsigned port_base;
	bool publish_ports;       /* no firewall on the container ports */
	bool registry_insecure;
	double orphan_delay;      /* an app gone from the desired state is
	                           * stopped after this long */
};

/* One release an app ran here, for image collection. */
struct runner_hist {
	int64_t release;
	char *digest;
};

/*
 * One app this runner has to do with.  want is the latest desired state
 * of the app on this runner (an array of the controller's container
 * entries, maybe empty), replaced whole, never changed in place.
 * want_gen grows with each new want; a worker runs while done_gen lags.
 * The outcome fields are what the status report says about the app.
 * Guarded by rd->mu; the outcome by rd->rmu too (the reporter reads it).
 */
struct runner_app {
	char *name;
	json_t *want;
	uint64_t want_gen, done_gen;
	bool worker;                  /* a worker thread runs for it */
	double gone_since;            /* monotonic time it left the desired
	                               * state, 0 while it is in it */
	atomic_int abort;             /* the target changed: cut waits */

	/* outcome (rd->rmu) */
	int64_t release;              /* 0: nothing reported */
	char *restart;                /* token it is done with, or "" */
	const char *state;            /* "deploying", "live", "failed" */
	char *reason;
	char *url;
	double at;                    /* wall clock of the last change */
	char *health_path;            /* for the reporter's checks */

	int64_t seen_seq;             /* newest release_seq of the app the
	                               * controller gave: an older target is
	                               * never taken (a stale answer) */

	/* a release that failed here is not retried until the target
	 * changes (a new release or restart token) */
	char *failed_key;

	struct runner_hist *hist;
	size_t nhist;
};

/* One one-off (runner/daemon_run.c).  Guarded by rd->runmu. */
struct runner_run {
	struct runner_daemon *rd;
	char *id;
	char *app;
	unsigned index;
	char source[32];              /* "run.N": its lines in the app log */
	json_t *spec;
	struct buf out;               /* output not sent yet */
	size_t dropped;               /* output over the buffer's cap */
	bool done;                    /* ended and reported */
	bool thread;
};

struct runner_daemon {
	struct runner_daemon_opts o;
	char *home;
	struct runner *r;
	atomic_int stopping;          /* set once, by the signal waiter */
	atomic_int poll_cancel;       /* cut the desired-state long-poll
	                               * short (stopping, lease back) */
	int exit_rc;                  /* the daemon's exit status */

	pthread_mutex_t maintmu;
	json_t *maint_want;           /* app names in maintenance (the
	                               * controller's last word), or NULL */

	pthread_mutex_t mu;
	pthread_cond_t cv;            /* workers ending, want changes */
	struct runner_app **apps;
	size_t napps;
	size_t workers;               /* worker and run threads alive */
	char **verified;              /* ids seen healthy since we started */
	size_t nverified;
	char **retiring;              /* ids a retirer owns: no plan sees
	                               * them (rollout_retire.c) */
	size_t nretiring;
	char *runner_name;            /* from register (rd->rmu) */
	char *domain;                 /* the proxy's, once asked */

	pthread_mutex_t rmu;          /* report state (leaf) */
	pthread_cond_t rcv;
	bool dirty;                   /* something to report */
	unsigned heartbeat;           /* seconds, from register */
	char *session;                /* the key's session, from register */
	int64_t epoch;                /* the session's epoch: answers of an
	                               * older one are refused */
	double lease, renew_every;    /* seconds, from register */
	double lease_ok_at;           /* monotonic: last renewal */
	bool lapsed;                  /* the lease may have lapsed since the
	                               * last desired state (and at start):
	                               * the next one is taken as it is, no
	                               * orphan delay */
	json_t *health;               /* id -> true/false, reporter's checks */

	pthread_mutex_t logmu;        /* log queue (leaf) */
	pthread_cond_t logcv;
	struct runner_logline *logq;  /* FIFO, a ring of caplog */
	size_t nlog, caplog, headlog;
	size_t logbytes;
	size_t logdropped;            /* lost to the cap, not said yet */
	uint64_t logseq;              /* seq of the last line queued */

	pthread_mutex_t runmu;        /* one-offs (leaf) */
	struct runner_run **runs;
	size_t nruns;

	pthread_mutex_t imgmu;        /* one pull at a time */
};

struct runner_logline {
	char *app;
	char *line;                   /* without '\n', valid UTF-8 */
	uint64_t seq;
};

/* ---- daemon.c -------------------------------------------------------- */

/* A client for the controller with the server key, cancelled on stop. */
int runner_api_open(struct apiclient **out, struct runner_daemon *rd);
/* A line from the runner about app, in its log (and shipped), source
 * "slipway". */
void runner_say(struct runner_daemon *rd, const char *app, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Sleep up to sec, less when stopping. */
void runner_sleep(struct runner_daemon *rd, double sec);
/* Wake the reporter: something changed. */
void runner_dirty(struct runner_daemon *rd);
/* Start a detached thread counted in rd->workers (rd->mu held). */
int runner_thread_start(struct runner_daemon *rd, void *(*fn)(void *),
    void *arg);
/* A counted thread ends (call last, with nothing of rd held). */
void runner_thread_done(struct runner_daemon *rd);

/* ---- rollout.c, rollout_step.c: one reconcile ---------------------- */

#define REASON_MAX 900

/* One slot of the desired state and what fills it. */
struct runner_slot {
	json_t *e;              /* the controller's entry (borrowed) */
	const char *type;
	unsigned index;
	bool rolls;             /* the restart applies to its type */
	char *cur;              /* container filling it, or NULL */
	unsigned cur_port;
	bool stale;             /* cur must be replaced (restart) */
	char *nid;              /* the new container made for it */
	unsigned nport;
	bool fresh;             /* cur was started by this reconcile */
};

/* A container of the app that fills no slot. */
struct runner_old {
	char *id;
	char *type;
	unsigned port;
	int64_t release;
};

/* A deploy watches its new processes this long (SLIPWAY_SETTLE). */
#define RUNNER_SETTLE_SEC 5.0

/* Everything one reconcile works with. */
struct runner_plan {
	struct runner_daemon *rd;
	struct runner_app *a;
	int64_t release;
	const char *digest, *image, *restart, *restart_type;
	struct image_config *cfg;
	char **env;
	json_t *domains;
	struct runner_health_opts health;
	char *health_path;
	struct runner_slot *slots;
	size_t nslots;
	struct runner_old *old; /* other releases, extras, unhealthy */
	size_t nold;
	bool deploy;            /* another release runs: all at once */
	double settle_sec;      /* a deploy's watch of its new processes */
	char reason[REASON_MAX];
};

/* Should the reconcile stop where it is (stopping, or a newer target)? */
bool runner_cut(struct runner_plan *p);
/* Containers seen healthy by this daemon (rd->mu taken). */
bool runner_verified_has(struct runner_daemon *rd, const char *id);
void runner_verified_set(struct runner_daemon *rd, const char *id, bool on);
/* http://APP.<the proxy's domain>[:--proxy-port]/, or NULL. */
char *runner_app_url(struct runner_daemon *rd, const char *app);
/* Create and start the new container of slot s (s->nid, s->nport). */
int runner_slot_start(struct runner_plan *p, struct runner_slot *s);
/* Stop (SIGTERM, --grace, SIGKILL) and destroy containers, in parallel;
 * a stop cut short by the runner stopping destroys nothing. */
void runner_stop_many(struct runner_daemon *rd, char **ids, size_t n);
/* Stop the new containers of a failed attempt, or retire those of a cut
 * one (runner_retire_async). */
void runner_drop_new(struct runner_plan *p);
/* Wait until the backends (127.0.0.1:port) have nothing in flight, at
 * most --drain seconds, not past the runner stopping; a port 0 is
 * skipped. */
void runner_drain(struct runner_daemon *rd, const unsigned *ports, size_t n);
/* Wait until container id answers its health check on port and owns the
 * listener; p->reason says why not. */
int runner_healthy(struct runner_plan *p, const char *id, unsigned port,
    const char *proc);
/* One proxy swap: the app's web slots (new container where there is one)
 * and its domains; p->reason says why not. */
int runner_route(struct runner_plan *p);
/* The swap back, after a deploy failed once routed: the old release's web
 * containers (p->old) and the app's domains; p->reason is left alone. */
int runner_route_old(struct runner_plan *p);
/* A deploy's settle window: watch the containers this reconcile started
 * for p->settle_sec; one that exits twice in it (a crash loop right after
 * the deploy; the process has no health check to say so) fails the
 * deploy: ERR_INVALID with p->reason naming it.  ERR_CONFLICT when cut. */
int runner_settle(struct runner_plan *p);

/* ---- rollout_retire.c ------------------------------------------------ */

/* Is id owned by a retirer (rd->mu taken)? */
bool runner_retiring_has(struct runner_daemon *rd, const char *id);
/* Containers ids of app (ports[i]: the port of a web one still to be
 * drained, or 0) go away: marked retiring at once (not restarted, never
 * planned, routed or adopted into a slot again, here or by a runner
 * after a restart), then drained, stopped and destroyed by a retirer
 * thread, after which images are collected.  Ports and images stay
 * held until each is destroyed.  Nothing of ids is kept. */
void runner_retire_async(struct runner_daemon *rd, const char *app,
    char *const *ids, const unsigned *ports, size_t n);

/* ---- rollout.c ------------------------------------------------------- */

/* Reconcile app with want: pull, start, health-check, swap, and hand
 * what it replaced to a retirer.  Called by the app's worker without
 * rd->mu. */
void runner_reconcile(struct runner_daemon *rd, struct runner_app *a,
    json_t *want);
/* The worker of one app (arg: struct runner_app *, rd in the thread arg). */
void runner_app_kick(struct runner_daemon *rd, struct runner_app *a);
/* Record the app's outcome for reports (and log it). */
void runner_outcome(struct runner_daemon *rd, struct runner_app *a,
    int64_t release, const char *restart, const char *state, const char *reason,
    const char *url);

/* ---- daemon_image.c -------------------------------------------------- */

/* Make sure the image digest (from image, "HOST/REPO:TAG") is unpacked,
 * pulling it with the runner's credentials if not, and give its config.
 * *out is the caller's (image_config_free). */
int runner_image_ensure(struct image_config **out, struct runner_daemon *rd,
    const char *image, const char *digest);
/* Remove images no app needs: keep the last keep_releases of each app's
 * history and every image a container uses. */
void runner_daemon_images_gc(struct runner_daemon *rd);

/* ---- daemon_lease.c -------------------------------------------------- */

/* Register (retrying while the controller cannot be reached); -1, said,
 * when the controller refuses or the key is not of our group / name. */
int runner_lease_register(struct runner_daemon *rd, struct apiclient *api);
/* The lease renewer thread: registers first, then renews. */
void *runner_leaser(void *arg);
/* Send the session on api's calls, each giving up after timeout s. */
void runner_api_session(struct runner_daemon *rd, struct apiclient *api,
    long timeout);
/* Was the lease renewed within a lease? */
bool runner_lease_live(struct runner_daemon *rd);
/* Make the poller ask for the desired state again at once. */
void runner_poll_kick(struct runner_daemon *rd);

/* ---- daemon_report.c ------------------------------------------------- */

void *runner_reporter(void *arg);
void *runner_shipper(void *arg);
/* Queue whole lines of text (each ending in '\n') of app for shipping. */
void runner_log_queue(struct runner_daemon *rd, const char *app,
    const char *text, size_t len);
/* ---- daemon_router.c ------------------------------------------------ */

/* The thread that writes the proxy's router lines to the apps' logs, and
 * keeps the proxy's maintenance flags as the controller wants them. */
void *runner_router(void *arg);

/* ---- daemon_maint.c -------------------------------------------------- */

/* Take the desired state's "maintenance" list as what is wanted. */
void runner_maint_want(struct runner_daemon *rd, json_t *doc);
/* Turn the proxy's maintenance on or off where it differs from what is
 * wanted, for the apps it routes (router thread). */
void runner_maint_apply(struct runner_daemon *rd);

/* Runner callbacks. */
void runner_on_event(const struct runner_container_info *info, void *ctx);
void runner_on_log(const char *app, const char *text, size_t len, void *ctx);

/* ---- daemon_run.c ---------------------------------------------------- */

/* The desired one-offs: start the new ones, forget the ended. */
void runner_runs_dispatch(struct runner_daemon *rd, json_t *runs);
/* Output lines of one-offs, from the log hook (rd->runmu taken). */
void runner_runs_capture(struct runner_daemon *rd, const char *app,
    const char *text, size_t len);

/* ---- helpers shared by the files above ------------------------------- */

/* Integer member as int64, or def. */
int64_t runner_json_int(json_t *o, const char *key, int64_t def);
const char *runner_json_str(json_t *o, const char *key);
/* "K=V" list from a JSON object of strings (NULL-terminated; free with
 * runner_strv_free). */
char **runner_env_from_json(json_t *obj);

#endif
