/*
 * Private to the controller daemon (controller/controller.c, api*.c): the
 * running controller, one API call as the handlers see it, and the helpers
 * they share.
 */
#ifndef SLIPWAY_CTL_INT_H
#define SLIPWAY_CTL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "slipway/httpd.h"
#include "slipway/store.h"

#define CTL_POOL_MAX 32         /* idle store connections kept */
#define CTL_BODY_MAX (1u << 20) /* request bodies */
#define CTL_WAIT_MAX 55         /* longest desired-state long-poll, s */
#define CTL_REGISTRY_TOKEN_TTL 300
#define CTL_RUNNER_LEASE_DEFAULT 5  /* seconds (--runner-lease) */
#define CTL_RUNNER_RENEW_EVERY 1    /* runners renew this often, s */
#define API_SEGS_MAX 8
#define CTL_PAGES_MAX 64        /* cached release-list pages */

/* A serialized answer shared by the requests that send it; freed when
 * the last reference goes (ctl_page_put). */
struct ctl_page {
	int refs;
	int fd;                 /* a memfd holding data (big pages), or -1 */
	size_t len;
	char data[];
};

/* One cached page of an app's release list.  Releases never change once
 * made, so the page for (app incarnation, newest version, limit) is the
 * same bytes forever; a new release changes the key, not the page. */
struct ctl_page_slot {
	char uid[33];
	int64_t release;
	int64_t limit;
	struct ctl_page *page;  /* NULL: empty slot */
	uint64_t used;          /* for evicting the least recently used */
};

/*
 * The running controller.  Invariants: pool holds npool idle connections,
 * all opened on db_path with wlock as their shared write lock; sched_gen
 * grows by one each time the stored schedule changes, under sched_mu, and
 * sched_cv is broadcast with it (the long-polls wait on it).
 */
struct ctl {
	char *home;
	char *db_path;
	unsigned char *key;     /* registry token signing key */
	size_t keylen;
	int runner_timeout;     /* the runners' lease: seconds without a
	                         * renewal => dead for the schedule */

	pthread_mutex_t pool_mu;
	struct store *pool[CTL_POOL_MAX];
	int npool;
	pthread_mutex_t wlock;

	pthread_mutex_t sched_mu;
	pthread_cond_t sched_cv;
	uint64_t sched_gen;
	bool stopping;
	pthread_t ticker;
	bool ticker_started;

	pthread_mutex_t pages_mu;
	struct ctl_page_slot pages[CTL_PAGES_MAX];
	uint64_t pages_clock;

	struct httpd *httpd;
	/* How the builds it runs reach it back: --url, else http:// and the
	 * host it listens on (0.0.0.0: loopback), set once listening. */
	char self_url[256];
	const char *url;          /* --url, or NULL */
	/* Where builds push and destroyed apps' images are deleted: --registry,
	 * else SLIPWAY_REGISTRY, else http://127.0.0.1:5000 (a URL as
	 * url_service_parse takes it). */
	const char *registry_url;
	/* Retention (retain.c): the releases whose images each app keeps
	 * (--keep-releases; 0: all), and its thread, woken through
	 * retain_cv (under sched_mu) when retain_kicked is set. */
	unsigned keep_releases;
	pthread_t retainer;
	bool retainer_started;
	bool retain_kicked;
	pthread_cond_t retain_cv;
	/* Where people push, ssh://git@HOST:PORT (--git-url), or NULL: apps'
	 * answers carry git_url = this/APP.git (`git:remote`, and the CLI
	 * finding the app from a repository's remote). */
	const char *git_url;
};

/* The cached page for the key with a reference taken, or NULL. */
struct ctl_page *ctl_page_get(struct ctl *ctl, const char *uid,
    int64_t release, int64_t limit);
/* Cache a copy of data under the key and return it referenced. */
struct ctl_page *ctl_page_add(struct ctl *ctl, const char *uid,
    int64_t release, int64_t limit, const char *data, size_t len);
void ctl_page_put(struct ctl *ctl, struct ctl_page *page);

/* A store connection for this thread's request; give it back after. */
int ctl_store_get(struct store **out, struct ctl *ctl);
void ctl_store_put(struct ctl *ctl, struct store *s);

/* Recompute the schedule now (after a release, a scale, a group, domain
 * or runner change) and wake the desired-state long-polls: what a runner
 * is given may change without the schedule moving (a new release keeps
 * its slots).  Failures are logged: the ticker will try again. */
void ctl_schedule_kick(struct ctl *ctl, struct store *s);
/* Recompute the schedule; wake the long-polls only if it moved (a
 * runner's lease that came back). */
void ctl_schedule_check(struct ctl *ctl, struct store *s);

/* api_builds.c: fail the builds whose builder stopped renewing its lease
 * (store_build_expire, lease_build_secs), each logged with the reason.
 * The controller runs it at start and on every tick.  Failures are
 * logged: the next tick tries again. */
void ctl_builds_expire(struct store *s);

/* registry_purge.c: the controller's registry client for deletes.
 * ctl_reg_open lists repository name's tags at registry (a URL as
 * url_service_parse takes it) into *tags (a new reference; NULL when the
 * registry does not know the repository), with a pull,delete token it
 * mints itself when the registry asks for one; *out is then the session
 * for the calls below, closed with ctl_reg_close (also after a failure).
 * ctl_reg_tag_digest: the digest a tag names now (ERR_NOTFOUND: gone).
 * ctl_reg_delete: the manifest by digest, with every tag naming it (gone
 * already is fine).  An unreachable registry or a refusal is ERR_IO. */
#define CTL_DIGEST_MAX 72
struct ctl_reg {
	char *base;             /* http[s]://host:port */
	char *name;
	char *token;            /* NULL: the registry asked for none */
	char *service;          /* the token's service, when it asked */
};
int ctl_reg_open(struct ctl_reg *out, json_t **tags, struct ctl *ctl,
    const char *registry, const char *name);
void ctl_reg_close(struct ctl_reg *r);
/* A tag as the registry lists them (anything else is skipped). */
bool ctl_reg_tag_ok(const char *tag);
int ctl_reg_tag_digest(char out[CTL_DIGEST_MAX], struct ctl_reg *r,
    const char *tag);
int ctl_reg_delete(struct ctl_reg *r, const char *digest);
/* fn for each tag of tags (as ctl_reg_open listed them) that still names
 * a manifest, with its digest: tags that are not tags, and tags gone
 * meanwhile, are skipped.  Stops at fn's first failure and returns it. */
typedef int (*ctl_reg_tag_fn)(struct ctl_reg *r, const char *tag,
    const char *digest, void *ctx);
int ctl_reg_each_tag(struct ctl_reg *r, json_t *tags, ctl_reg_tag_fn fn,
    void *ctx);
/* The bytes of the distinct blobs (manifests included) the tagged
 * manifests of repository name take in the registry (0 when it does not
 * know the repository). */
int ctl_registry_bytes(uint64_t *out, struct ctl *ctl, const char *registry,
    const char *name);
/* app_disk.c: {"images": N, "repository": N, "cache": N} for app of
 * incarnation uid (may be NULL), each in bytes or null when it could not
 * be measured (new reference). */
json_t *ctl_app_disk(struct ctl *ctl, const char *app, const char *uid);
/* Delete every tag and manifest of repository name (the blobs go at the
 * registry's next gc).  A repository the registry does not know is
 * fine. */
int ctl_registry_purge(struct ctl *ctl, const char *registry,
    const char *name);
/* Tag in repository to every manifest repository from has, by the same
 * tags (its blobs mounted from from, so nothing is uploaded): what an
 * app's rename does to its images before the store names them anew.
 * from stays as it was; a repository the registry does not know copies
 * nothing.  A blob the registry will not mount, or any refusal, is
 * ERR_IO, with the tags copied so far left in to (the caller purges). */
int ctl_registry_copy(struct ctl *ctl, const char *registry,
    const char *from, const char *to);

/* retain.c: the retention job.  A thread (started by ctl_retain_start,
 * joined by ctl_retain_stop) that, every CTL_RETAIN_SECS and when kicked
 * (after a release), deletes from the registry the images of each app
 * that its last keep_releases releases do not point at
 * (store_app_builds_kept); the registry's gc then frees their blobs.
 * keep_releases 0: keep everything, no thread. */
#define CTL_RETAIN_SECS 600
#define CTL_KEEP_RELEASES_DEFAULT 10
int ctl_retain_start(struct ctl *ctl);
void ctl_retain_kick(struct ctl *ctl);
void ctl_retain_stop(struct ctl *ctl);
struct ctl_call;
/* May app roll back to release to (> 0)?  Its image must still be kept;
 * when not, answers 409 with one line saying so and returns false.  A
 * release that does not exist is left to the rollback to refuse. */
bool ctl_retain_rollback_ok(struct ctl_call *c, const char *app, int64_t to);
/* Heartbeats at or after this time are live. */
time_t ctl_live_after(const struct ctl *ctl);

/* One API call.  seg[] are the path's segments after "/v1/" (pointing
 * into a copy owned by the call); body is the parsed JSON body or NULL. */
struct ctl_call {
	struct ctl *ctl;
	struct httpd_req *req;
	struct store *st;
	struct store_actor actor;
	json_t *body;
	char *path;
	const char *seg[API_SEGS_MAX];
	int nseg;
	const char *rest;       /* the path from a '*' pattern segment on */
};

typedef void (*ctl_fn)(struct ctl_call *c);

/* The HTTP handler given to httpd (controller/api.c). */
void ctl_handle(struct httpd_req *req, void *payload);
int ctl_begin(struct httpd_req *req, void *payload);

/* Answers.  ctl_reply takes the reference to body; ctl_reply_raw sends
 * len bytes of JSON text as they are; ctl_reply_page a cached page. */
void ctl_reply(struct ctl_call *c, unsigned status, json_t *body);
void ctl_reply_raw(struct ctl_call *c, unsigned status, const char *text,
    size_t len);
void ctl_reply_page(struct ctl_call *c, const struct ctl_page *page);
void ctl_error(struct ctl_call *c, unsigned status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answer with the status for rc and err_last() as the message. */
void ctl_fail(struct ctl_call *c, int rc);

/* Checks that answer (403, 404, 422) and return false when they fail. */
bool ctl_need_user(struct ctl_call *c);
bool ctl_need_admin(struct ctl_call *c);
bool ctl_need_runner(struct ctl_call *c);
bool ctl_need_body(struct ctl_call *c);
/* May the caller read / deploy app (seg by name)?  Admins may do all;
 * members may read their apps (owner, collaborator) and deploy them only
 * when granted in every group the app is in. */
bool ctl_app_read(struct ctl_call *c, const char *app);
/* As ctl_app_read (level 0) or ctl_app_deploy (level 1), also giving
 * what the check learnt about the app. */
bool ctl_app_access(struct ctl_call *c, const char *app, int level,
    struct store_access *out);
bool ctl_app_deploy(struct ctl_call *c, const char *app);
/* Owner or admin (destroy, collaborators). */
bool ctl_app_owner(struct ctl_call *c, const char *app);

/* A string member of the body: NULL when absent; answers 422 and sets
 * *bad when present and not a string. */
const char *ctl_body_str(struct ctl_call *c, const char *key, bool *bad);
/* A string member the JSON object body must have, into *out: false after
 * answering 400 (no object body) or 422 (absent, or not a string). */
bool ctl_body_need(struct ctl_call *c, const char *key, const char **out);

/* One string member of a request body: where it goes (NULL when absent)
 * and, for a required one, the 422 message when it is absent. */
struct ctl_field {
	const char *key;
	const char **out;
	const char *missing;    /* NULL: optional */
};
/* Read n string members of the JSON object body, in order.  False after
 * answering 400 when there is no object body, 422 for the first present
 * and not a string or, failing that, the first required one absent. */
bool ctl_body_fields(struct ctl_call *c, const struct ctl_field *f,
    size_t n);

/* A token's "ttl" in the body (seconds, 1 to STORE_TOKEN_TTL_MAX) into
 * *out, left alone when absent or null; false after answering 422. */
bool ctl_body_ttl(struct ctl_call *c, json_int_t *out);

/* What handlers do with a store call's result: false, after answering
 * with rc's status and message (ctl_fail), when rc is an error. */
bool ctl_check(struct ctl_call *c, int rc);

/* Handlers, by resource (controller/api_*.c). */
void ctl_me(struct ctl_call *c);
void ctl_users_list(struct ctl_call *c);
void ctl_users_create(struct ctl_call *c);
void ctl_users_get(struct ctl_call *c);
void ctl_users_delete(struct ctl_call *c);
void ctl_tokens_list(struct ctl_call *c);
void ctl_tokens_create(struct ctl_call *c);
void ctl_tokens_revoke(struct ctl_call *c);
void ctl_keys_list(struct ctl_call *c);
void ctl_keys_add(struct ctl_call *c);
void ctl_keys_get(struct ctl_call *c);
void ctl_keys_remove(struct ctl_call *c);
void ctl_groups_list(struct ctl_call *c);
void ctl_groups_create(struct ctl_call *c);
void ctl_groups_delete(struct ctl_call *c);
void ctl_groups_add_app(struct ctl_call *c);
void ctl_groups_remove_app(struct ctl_call *c);
void ctl_groups_add_user(struct ctl_call *c);
void ctl_groups_remove_user(struct ctl_call *c);

void ctl_apps_list(struct ctl_call *c);
void ctl_apps_create(struct ctl_call *c);
void ctl_apps_get(struct ctl_call *c);
void ctl_apps_update(struct ctl_call *c);
void ctl_apps_destroy(struct ctl_call *c);
void ctl_collab_add(struct ctl_call *c);
void ctl_collab_remove(struct ctl_call *c);
void ctl_domains_list(struct ctl_call *c);
void ctl_domains_add(struct ctl_call *c);
void ctl_domains_remove(struct ctl_call *c);
void ctl_config_get(struct ctl_call *c);
void ctl_config_change(struct ctl_call *c);
void ctl_builds_list(struct ctl_call *c);
void ctl_builds_create(struct ctl_call *c);
void ctl_builds_get(struct ctl_call *c);
void ctl_builds_update(struct ctl_call *c);
void ctl_releases_list(struct ctl_call *c);
void ctl_releases_get(struct ctl_call *c);
void ctl_rollback(struct ctl_call *c);
void ctl_formation_get(struct ctl_call *c);
void ctl_formation_scale(struct ctl_call *c);
void ctl_ps(struct ctl_call *c);
void ctl_apps_rename(struct ctl_call *c);
void ctl_ps_stop(struct ctl_call *c);
void ctl_ps_start(struct ctl_call *c);

void ctl_rollout_get(struct ctl_call *c);
void ctl_ps_restart(struct ctl_call *c);
void ctl_runs_create(struct ctl_call *c);
void ctl_runs_get(struct ctl_call *c);
void ctl_logs_get(struct ctl_call *c);

void ctl_runners_list(struct ctl_call *c);
void ctl_runners_create(struct ctl_call *c);
void ctl_runners_delete(struct ctl_call *c);
void ctl_runner_register(struct ctl_call *c);
void ctl_runner_heartbeat(struct ctl_call *c);
void ctl_runner_desired(struct ctl_call *c);
void ctl_runner_status(struct ctl_call *c);
void ctl_registry_token(struct ctl_call *c);
void ctl_runner_logs(struct ctl_call *c);
void ctl_runner_run_update(struct ctl_call *c);

/* ---- rollouts, one-offs, logs (controller/api_rollout.c, api_runs.c) */

/* Something a long-poll may care about changed (a runner report, a
 * one-off update, shipped log lines): wake the waiters. */
void ctl_live_notify(void);
/* The current generation of those changes. */
uint64_t ctl_live_gen(void);
/* Wait up to a second, not past deadline (clock_mono() time), for the
 * generation to move past gen.  False once the deadline has passed or
 * the controller stops: answer with what there is. */
bool ctl_live_wait(struct ctl *ctl, uint64_t gen, double deadline);
/* The desired state of some runner changed outside the schedule (a
 * restart token, a one-off): wake the desired-state long-polls. */
void ctl_desired_changed(struct ctl *ctl);
/* Add what the store does not hold to a runner's desired state: each
 * container's "restart" token and "restart_type", and "runs", the
 * one-offs it should run. */
void ctl_desired_extend(struct ctl *ctl, json_t *doc, const char *runner);
/* api_maint.c */
void ctl_buildpacks_get(struct ctl_call *c);
void ctl_buildpacks_edit(struct ctl_call *c);
void ctl_stack_set(struct ctl_call *c);
void ctl_cache_purge(struct ctl_call *c);
void ctl_maintenance_get(struct ctl_call *c);
void ctl_maintenance_set(struct ctl_call *c);
/* Roll out again, with a restart token, an app's current release that a
 * runner failed for a reason not the app's (the proxy or the registry
 * was down), a few times with growing delays (the ticker calls it). */
void ctl_rollout_retry(struct ctl *ctl, struct store *s);
/* End the rollouts the runners' reports have decided: a pending target
 * release every runner has live becomes live (the app's current one), one
 * a runner failed becomes failed with the reason (the runners are woken
 * to go back to the current one), unless it failed for a reason not the
 * app's and ctl_rollout_retry still tries it (it settles those when its
 * tries are spent).  After every runner report and on the ticker. */
void ctl_releases_settle(struct ctl *ctl, struct store *s);
/* The one-offs runner should run now (specs, a new array). */
json_t *ctl_runs_for_runner(const char *runner);
/* api_runs.c: queue a one-off (ctl_runs_create's, and the release
 * phase's); and a run's state by id: -1 unknown (ended long ago, or
 * before a restart), else 0 pending, 1 running, 2 exited (*exit_code),
 * 3 failed (error). */
int ctl_run_start(char id[33], unsigned *index, const char *app,
    const char *runner, const char *who, json_t *rel, const char *command,
    json_t *env);
int ctl_run_status(const char *id, int *exit_code, char *error, size_t len);
/* release_phase.c: start and end release phases (the ticker's). */
void ctl_release_phases(struct ctl *ctl, struct store *s);
/* ?wait=S (0 to CTL_WAIT_MAX; 0 when absent); false after answering 422. */
bool ctl_wait_param(struct ctl_call *c, long *out);

/* controller/api_builds.c, api_ssh.c (the builder and the SSH server) */
void ctl_builds_log(struct ctl_call *c);
void ctl_apps_access(struct ctl_call *c);
void ctl_ssh_session_create(struct ctl_call *c);

#endif
