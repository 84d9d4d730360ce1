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
	int runner_timeout;     /* seconds without heartbeat => not live */

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

/* api_builds.c: fail the builds whose builder stopped renewing its lease
 * (store_build_expire, lease_build_secs), each logged with the reason.
 * The controller runs it at start and on every tick.  Failures are
 * logged: the next tick tries again. */
void ctl_builds_expire(struct store *s);

/* registry_purge.c: delete every tag and manifest of repository name
 * from the registry at host:port (the blobs go at its next gc).  A
 * repository the registry does not know is fine; an unreachable registry
 * or a refusal is ERR_IO. */
int ctl_registry_purge(struct ctl *ctl, const char *registry,
    const char *name);
/* Heartbeats at or after this time are live. */
time_t ctl_live_after(const struct ctl *ctl);

/* One API call.  seg[] are the path's segments after "/v1/" (pointing
 * into a copy owned by the call); body is the parsed JSON body or NULL. */
struct api_call {
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

typedef void (*api_fn)(struct api_call *c);

/* The HTTP handler given to httpd (controller/api.c). */
void api_handle(struct httpd_req *req, void *payload);
int api_begin(struct httpd_req *req, void *payload);

/* Answers.  api_reply takes the reference to body; api_reply_raw sends
 * len bytes of JSON text as they are; api_reply_page a cached page. */
void api_reply(struct api_call *c, unsigned status, json_t *body);
void api_reply_raw(struct api_call *c, unsigned status, const char *text,
    size_t len);
void api_reply_page(struct api_call *c, const struct ctl_page *page);
void api_error(struct api_call *c, unsigned status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answer with the status for rc and err_last() as the message. */
void api_fail(struct api_call *c, int rc);

/* Checks that answer (403, 404, 422) and return false when they fail. */
bool api_need_user(struct api_call *c);
bool api_need_admin(struct api_call *c);
bool api_need_runner(struct api_call *c);
bool api_need_body(struct api_call *c);
/* May the caller read / deploy app (seg by name)?  Admins may do all;
 * members may read their apps (owner, collaborator) and deploy them only
 * when granted in every group the app is in. */
bool api_app_read(struct api_call *c, const char *app);
/* As api_app_read (level 0) or api_app_deploy (level 1), also giving
 * what the check learnt about the app. */
bool api_app_access(struct api_call *c, const char *app, int level,
    struct store_access *out);
bool api_app_deploy(struct api_call *c, const char *app);
/* Owner or admin (destroy, collaborators). */
bool api_app_owner(struct api_call *c, const char *app);

/* A string member of the body: NULL when absent; answers 422 and sets
 * *bad when present and not a string. */
const char *api_body_str(struct api_call *c, const char *key, bool *bad);
/* A string member the JSON object body must have, into *out: false after
 * answering 400 (no object body) or 422 (absent, or not a string). */
bool api_body_need(struct api_call *c, const char *key, const char **out);

/* One string member of a request body: where it goes (NULL when absent)
 * and, for a required one, the 422 message when it is absent. */
struct api_field {
	const char *key;
	const char **out;
	const char *missing;    /* NULL: optional */
};
/* Read n string members of the JSON object body, in order.  False after
 * answering 400 when there is no object body, 422 for the first present
 * and not a string or, failing that, the first required one absent. */
bool api_body_fields(struct api_call *c, const struct api_field *f,
    size_t n);

/* A token's "ttl" in the body (seconds, 1 to STORE_TOKEN_TTL_MAX) into
 * *out, left alone when absent or null; false after answering 422. */
bool api_body_ttl(struct api_call *c, json_int_t *out);

/* What handlers do with a store call's result: false, after answering
 * with rc's status and message (api_fail), when rc is an error. */
bool api_check(struct api_call *c, int rc);

/* Handlers, by resource (controller/api_*.c). */
void api_me(struct api_call *c);
void api_users_list(struct api_call *c);
void api_users_create(struct api_call *c);
void api_users_get(struct api_call *c);
void api_users_delete(struct api_call *c);
void api_tokens_list(struct api_call *c);
void api_tokens_create(struct api_call *c);
void api_tokens_revoke(struct api_call *c);
void api_keys_list(struct api_call *c);
void api_keys_add(struct api_call *c);
void api_keys_get(struct api_call *c);
void api_keys_remove(struct api_call *c);
void api_groups_list(struct api_call *c);
void api_groups_create(struct api_call *c);
void api_groups_delete(struct api_call *c);
void api_groups_add_app(struct api_call *c);
void api_groups_remove_app(struct api_call *c);
void api_groups_add_user(struct api_call *c);
void api_groups_remove_user(struct api_call *c);

void api_apps_list(struct api_call *c);
void api_apps_create(struct api_call *c);
void api_apps_get(struct api_call *c);
void api_apps_update(struct api_call *c);
void api_apps_destroy(struct api_call *c);
void api_collab_add(struct api_call *c);
void api_collab_remove(struct api_call *c);
void api_domains_list(struct api_call *c);
void api_domains_add(struct api_call *c);
void api_domains_remove(struct api_call *c);
void api_config_get(struct api_call *c);
void api_config_change(struct api_call *c);
void api_builds_list(struct api_call *c);
void api_builds_create(struct api_call *c);
void api_builds_get(struct api_call *c);
void api_builds_update(struct api_call *c);
void api_releases_list(struct api_call *c);
void api_releases_get(struct api_call *c);
void api_rollback(struct api_call *c);
void api_formation_get(struct api_call *c);
void api_formation_scale(struct api_call *c);
void api_ps(struct api_call *c);

void api_rollout_get(struct api_call *c);
void api_ps_restart(struct api_call *c);
void api_runs_create(struct api_call *c);
void api_runs_get(struct api_call *c);
void api_logs_get(struct api_call *c);

void api_runners_list(struct api_call *c);
void api_runners_create(struct api_call *c);
void api_runners_delete(struct api_call *c);
void api_runner_register(struct api_call *c);
void api_runner_heartbeat(struct api_call *c);
void api_runner_desired(struct api_call *c);
void api_runner_status(struct api_call *c);
void api_registry_token(struct api_call *c);
void api_runner_logs(struct api_call *c);
void api_runner_run_update(struct api_call *c);

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
/* Roll out again, with a restart token, an app's current release that a
 * runner failed for a reason not the app's (the proxy or the registry
 * was down), a few times with growing delays (the ticker calls it). */
void ctl_rollout_retry(struct ctl *ctl, struct store *s);
/* The one-offs runner should run now (specs, a new array). */
json_t *ctl_runs_for_runner(const char *runner);
/* ?wait=S (0 to CTL_WAIT_MAX; 0 when absent); false after answering 422. */
bool api_wait_param(struct api_call *c, long *out);

/* controller/api_builds.c, api_ssh.c (the builder and the SSH server) */
void api_builds_log(struct api_call *c);
void api_apps_access(struct api_call *c);
void api_ssh_session_create(struct api_call *c);

#endif
