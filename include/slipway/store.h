/*
 * The controller's store: one SQLite file ($SLIPWAY_HOME/slipway.db) in WAL
 * mode holding users, API tokens, SSH keys, apps, builds, config versions,
 * releases, formations, deployment groups, runners and the schedule.
 *
 * Every statement is prepared with bound parameters.  Writes that allocate a
 * number (release vN, config version, build number) run inside BEGIN
 * IMMEDIATE, so two writers, in one process or several, never take the same
 * number and never skip one.  The schema carries its version in
 * PRAGMA user_version; store_open upgrades an older file in place.
 *
 * Read functions return jansson objects already in the HTTP API's shape
 * (docs/controller.md), so the representation is defined in one place.
 * What a json_t **out returns belongs to the caller (json_decref).
 *
 * A struct store is one SQLite connection: use it from one thread at a time.
 * The controller keeps one per request thread. *
 * The release rules (store/release.c) and the scheduler (store/scheduler.c)
 * are pure functions (no I/O, no clock), declared here because the store
 * applies them inside its transactions.
 */
#ifndef SLIPWAY_STORE_H
#define SLIPWAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "slipway/name.h"

struct store;

#define STORE_SCHEMA_VERSION 10

/* Caps on what the store accepts (the API checks them first). */
#define STORE_NAME_MAX 64
#define STORE_ENV_KEY_MAX NAME_ENV_KEY_MAX  /* names: lib/name */
#define STORE_ENV_VALUE_MAX (32 * 1024)
#define STORE_ENV_MAX 512               /* variables per app */
#define STORE_SCALE_MAX NAME_SCALE_MAX
#define STORE_PROC_TYPES_MAX NAME_PROC_TYPES_MAX
#define STORE_DOMAIN_MAX 253

/* Token prefixes: users' API tokens and runners' server keys. */
#define STORE_TOKEN_PREFIX NAME_TOKEN_PREFIX
#define STORE_RUNNER_KEY_PREFIX NAME_RUNNER_KEY_PREFIX
/* prefix + 64 hex + NUL */
#define STORE_TOKEN_LEN 69

/*
 * Who is calling: a user (runner_id == 0) or a runner (user_id == 0).
 * Filled by store_auth; plain data, nothing to free.
 */
struct store_actor {
	int64_t user_id;
	int64_t runner_id;
	bool admin;
	char name[STORE_NAME_MAX + 1];   /* user or runner name */
	char group[STORE_NAME_MAX + 1];  /* runner's group; "" for users */
};

/* What an actor may do on one app (store_app_access). */
struct store_access {
	int64_t app_id;
	char uid[33];   /* the app's incarnation (changes if re-created) */
	int64_t release; /* its target release (store_app_target_release) */
	int64_t release_seq; /* grows with every release made or settled */
	bool read;      /* admin, owner or collaborator */
	bool deploy;    /* read, and granted in every group the app is in */
	char denied_group[STORE_NAME_MAX + 1]; /* why deploy is false */
};

/* ---- opening ---- */

/* Open (creating if missing) the store at path, set WAL mode and a busy
 * timeout, and migrate the schema to STORE_SCHEMA_VERSION.  A file from a
 * newer slipway fails with ERR_UNSUPPORTED.  Caller frees with
 * store_close. */
int store_open(struct store **out, const char *path);
void store_close(struct store *s);
/* The schema version of the open file. */
int store_schema_version(struct store *s);

/* Share one in-process mutex among connections of one controller, taken
 * around write transactions, so in-process writers queue on it instead of
 * sleeping in SQLite's busy handler.  The mutex is not copied. */
void store_set_write_lock(struct store *s, void *pthread_mutex);

/* Read several things from one snapshot, taking the file's read lock
 * once rather than once per statement (the controller wraps each GET in
 * one).  Store reads nest inside; store writes inside are refused. */
int store_snapshot_begin(struct store *s);
void store_snapshot_end(struct store *s);

/* ---- users and tokens ---- */

/* Create a user; ERR_EXISTS if taken, ERR_INVALID for a bad name.  New
 * users are members of the `default` group. */
int store_user_create(struct store *s, const char *name, bool admin);
/* ERR_CONFLICT when the user still owns apps. */
int store_user_delete(struct store *s, const char *name);
int store_user_get(json_t **out, struct store *s, const char *name);
int store_user_list(json_t **out, struct store *s);
int store_user_count(int64_t *out, struct store *s);

/* Make a token for user: 32 random bytes (RAND_bytes) shown once as
 * "slw_<64 hex>" in out (STORE_TOKEN_LEN bytes); only its sha256 is kept.
 * *out_id (may be NULL) is the token's id for revoking.  Returns the
 * token's JSON (without the secret) in *out_json when not NULL. */
int store_token_create(char out[STORE_TOKEN_LEN], json_t **out_json,
    struct store *s, const char *user, const char *label);
/* As store_token_create, for a token that stops working ttl_sec seconds
 * from now (1 to STORE_TOKEN_TTL_MAX; 0: never).  Expired tokens fail
 * store_auth like revoked ones and are left out of store_token_list;
 * ephemeral tokens expired or revoked for a day are deleted. */
#define STORE_TOKEN_TTL_MAX 86400
int store_token_create_ttl(char out[STORE_TOKEN_LEN], json_t **out_json,
    struct store *s, const char *user, const char *label, int64_t ttl_sec);
/* Tokens of user (NULL: all). */
int store_token_list(json_t **out, struct store *s, const char *user);
/* Revoke token id; when user is not NULL the token must be theirs
 * (ERR_NOTFOUND otherwise).  Revoking twice is ERR_NOTFOUND. */
int store_token_revoke(struct store *s, int64_t id, const char *user);

/* Who holds this bearer secret: a live user token or a runner's server
 * key.  ERR_AUTH (one message for every reason) otherwise. */
int store_auth(struct store_actor *out, struct store *s, const char *secret);

/* ---- SSH keys ---- */

/* Parse an OpenSSH public key line ("TYPE BASE64 [COMMENT]") with libssh
 * and add it to user.  The reason a key is refused is in the message:
 * ERR_INVALID (malformed, truncated, unknown type), ERR_EXISTS (already
 * registered, to whom is not said to members).  Returns the key's JSON. */
int store_key_add(json_t **out, struct store *s, const char *user,
    const char *line);
/* ERR_NOTFOUND unless the key exists (and is user's when user != NULL). */
int store_key_remove(struct store *s, const char *fingerprint,
    const char *user);
int store_key_list(json_t **out, struct store *s, const char *user);
/* The key and its owner, by "SHA256:..." fingerprint (for the SSH server). */
int store_key_get(json_t **out, struct store *s, const char *fingerprint);

/* ---- apps ---- */

/* Create app name owned by owner in the given groups (at least one; each
 * must exist).  ERR_EXISTS, ERR_INVALID, ERR_NOTFOUND (group). */
int store_app_create(struct store *s, const char *name, const char *owner,
    const char *const *groups, size_t ngroups);
/* Delete the app and everything that hangs off it. */
int store_app_destroy(struct store *s, const char *name);
int store_app_get(json_t **out, struct store *s, const char *name);
/* Apps the actor may read (all for admins). */
int store_app_list(json_t **out, struct store *s,
    const struct store_actor *actor);
int store_app_set_branch(struct store *s, const char *app,
    const char *branch);
/* store_rename.c.  store_app_rename_check: whether app can be renamed name now (valid,
 * free: else ERR_EXISTS; no build pending or running: else ERR_CONFLICT
 * saying what to do), changing nothing; the controller
 * asks before it copies the images.  store_app_rename: the name and the
 * builds' image references (store/store_rename.c). */
int store_app_rename_check(struct store *s, const char *app,
    const char *name);
int store_app_rename(struct store *s, const char *app, const char *name);
/* store_appbuild.c: how an app builds.  The buildpacks list (at most
 * NAME_BUILDPACKS_MAX, each name_buildpack_check'd): edit with op "add"
 * (at 1-based index, 0: the end), "set" (the one at index, 0: the list
 * becomes url alone), "remove" (url, or the one at index when url is
 * NULL) or "clear"; *out is the list after.  ERR_INVALID for a bad name
 * or index, ERR_EXISTS when add finds it there, ERR_NOTFOUND when remove
 * does not.  The stack: a name (image_stack_name_is_valid) or NULL for
 * the home's default. */
int store_app_buildpacks_get(json_t **out, struct store *s, const char *app);
int store_app_buildpacks_edit(json_t **out, struct store *s, const char *app,
    const char *op, const char *url, int64_t index);
int store_app_stack_set(struct store *s, const char *app, const char *stack);
/* *out: has app a build pending or running (whose cache is in use)? */
int store_app_building(bool *out, struct store *s, const char *app);

/* store_phase.c: the release phase.  A config var of this name set to 1
 * skips it.  list: [{app, release, phase, run, command, image, digest,
 * config}] of pending releases waiting for or running their phase.
 * start: the phase runs as one-off run (NULL: it waits again).  end: the
 * phase succeeded (the release becomes the target) or failed with
 * reason (the release fails); *changed when it did anything. */
#define STORE_RELEASE_PHASE_SKIP "SLIPWAY_SKIP_RELEASE_PHASE"
int store_release_phase_list(json_t **out, struct store *s);
int store_release_phase_start(struct store *s, const char *app,
    int64_t version, const char *run);
int store_release_phase_end(bool *changed, struct store *s, const char *app,
    int64_t version, bool ok, const char *reason);

/* store_maint.c: the maintenance flag.  get: *on; ERR_NOTFOUND for no
 * such app.  for_runner: the names (a JSON array) of the apps in
 * maintenance that have a slot on the runner. */
int store_app_maintenance_get(bool *on, struct store *s, const char *app);
int store_app_maintenance_set(struct store *s, const char *app, bool on);
int store_maintenance_for_runner(json_t **out, struct store *s,
    int64_t runner_id);
/* store_ps.c: ps:stop scales every type to 0 and keeps the counts it
 * ended (*out: those); ERR_CONFLICT when stopped already, ERR_INVALID
 * when nothing runs.  ps:start gives each type still at 0 its kept count
 * (*out: the formation now); ERR_CONFLICT when the app is not stopped. */
int store_ps_stop(json_t **out, struct store *s, const char *app);
int store_ps_start(json_t **out, struct store *s, const char *app);
int store_app_collaborator_add(struct store *s, const char *app,
    const char *user);
int store_app_collaborator_remove(struct store *s, const char *app,
    const char *user);
int store_app_domain_add(struct store *s, const char *app,
    const char *domain);
int store_app_domain_remove(struct store *s, const char *app,
    const char *domain);
/* ERR_NOTFOUND for an app that does not exist. */
int store_app_access(struct store_access *out, struct store *s,
    const struct store_actor *actor, const char *app);

/* ---- deployment groups ---- */

int store_group_create(struct store *s, const char *name);
/* `default` cannot go; nor a group with runners, or that is the last
 * group of some app (ERR_CONFLICT). */
int store_group_delete(struct store *s, const char *name);
int store_group_list(json_t **out, struct store *s);
int store_group_add_app(struct store *s, const char *group, const char *app);
/* ERR_CONFLICT when it is the app's last group. */
int store_group_remove_app(struct store *s, const char *group,
    const char *app);
int store_group_add_user(struct store *s, const char *group,
    const char *user);
int store_group_remove_user(struct store *s, const char *group,
    const char *user);
/* Is user (by id) granted in group?  Admins are not special here. */
int store_group_has_user(bool *out, struct store *s, const char *group,
    int64_t user_id);

/* ---- config, builds and releases ---- */

/* Current config of app: {"version":N,"values":{...}} (version 0 and no
 * values before the first change). */
int store_config_get(json_t **out, struct store *s, const char *app);

/* Apply changes (an object of KEY -> string to set, or null to unset) as
 * one new config version and one new release, numbered inside one BEGIN
 * IMMEDIATE transaction.  *out is the release made, or NULL when nothing
 * changed (the values were already so).  Bad keys or values: ERR_INVALID
 * and nothing written. */
int store_config_change(json_t **out, struct store *s, const char *app,
    json_t *changes, const char *who);

/* Record a build request (status "pending") for rev (NULL: the app's
 * deploy branch). */
int store_build_create(json_t **out, struct store *s, const char *app,
    const char *rev, const char *who);
int store_build_get(json_t **out, struct store *s, const char *app,
    int64_t number);
int store_build_list(json_t **out, struct store *s, const char *app);
/* Move a build along pending -> running -> succeeded|failed (fields in
 * update: status, rev, image, digest, slug_digest, process_types, error).
 * Reaching "succeeded" makes release vN+1 ("deploy <rev7>") with the
 * build and the current config, in the same transaction; *out is
 * {"build":...,"release":...|null}.  A finished build is ERR_CONFLICT. */
int store_build_update(json_t **out, struct store *s, const char *app,
    int64_t number, json_t *update, const char *who);
/*
 * Pushes landing (docs/push.md, "Crash consistency").  A build updated to
 * succeeded with "land": "refs/heads/B" is not released: it waits for git
 * to move B (*out then has "landing": {"ref", "state": "waiting"}).  The
 * update {"landed": "refs/heads/B"} (the post-receive hook), or the
 * controller's repair, ends the wait:
 *   store_landing_end(landed = true): release vN+1 of the build with the
 *     current config, *out {"build", "release"}; told again, the same.
 *   store_landing_end(landed = false): the build becomes failed with why,
 *     no release, *out {"build", "release": null}.
 * The update {"release": "refs/heads/B"} (the pre-receive hook, which
 * then follows the rollout and rejects the push when it fails) releases
 * the build before git moves B: store_landing_release, *out {"build",
 * "release"}; told again, the same.  Such a landing ends as above, but
 * landed keeps that release, and not landed takes it back: the release
 * becomes failed with why (unless its rollout failed it) and the newest
 * live release before it is current again; the build is left alone.
 * A build that is not a push waiting for ref (NULL: any) is ERR_NOTFOUND;
 * one whose landing failed is ERR_CONFLICT with the build's error.
 * store_landing_list: the waiting ones, [{"app", "uid", "number", "rev",
 * "ref", "age"}] (age in seconds).
 */
int store_landing_end(json_t **out, struct store *s, const char *app,
    int64_t number, const char *ref, bool landed, const char *why);
int store_landing_list(json_t **out, struct store *s);
int store_landing_release(json_t **out, struct store *s, const char *app,
    int64_t number, const char *ref);

/* Why a build whose builder stopped renewing its lease failed. */
#define STORE_BUILD_LEASE_EXPIRED \
	"the builder stopped reporting (lease expired)"
/* Fail every pending or running build of any app not updated (each
 * update renews a build's lease) for more than lease seconds before now,
 * with the error STORE_BUILD_LEASE_EXPIRED (store/store_builds.c).
 * *out (may be NULL) is what was failed, [{"app":..,"number":..}], []
 * when nothing was overdue. */
int store_build_expire(json_t **out, struct store *s, time_t now,
    int64_t lease);

int store_release_list(json_t **out, struct store *s, const char *app,
    int64_t limit);
/* Every build of app with whether its image is kept
 * (store/store_retain.c): [{"number": N, "digest": "sha256:..." or null,
 * "kept": true|false}] by number.  Kept are those the last keep releases
 * point at and those newer than any release points at (still building,
 * or waiting to land).  ERR_INVALID when keep < 1. */
int store_app_builds_kept(json_t **out, struct store *s, const char *app,
    int64_t keep);
int store_release_get(json_t **out, struct store *s, const char *app,
    int64_t version);
/* Make vN+1 with vK's build and config ("rollback to vK").  target 0 means
 * the newest release before the app's target release (the current one, or
 * the one rolling out) that did not fail its own rollout.  ERR_NOTFOUND
 * for a vK that never existed or is above the target, ERR_INVALID for the
 * target, a release that failed its rollout, or when there is nothing to
 * roll back to. */
int store_release_rollback(json_t **out, struct store *s, const char *app,
    int64_t target, const char *who);

/* How a release's rollout ended. */
enum store_release_end {
	STORE_RELEASE_LIVE,     /* every runner has it live */
	STORE_RELEASE_IDLE,     /* nothing runs it: live, if nothing is to */
	STORE_RELEASE_FAILED,
};
/* A release's rollout ended: version of app becomes live (the app's
 * current release) or failed with reason (the app's runners go back to
 * its current release).  IDLE makes it live only when its build, the
 * formation and the app's groups run nothing (the schedule may lag a
 * release just made).  Only a pending release changes; *changed says
 * whether it did.  Its own transaction. */
int store_release_settle(bool *changed, struct store *s, const char *app,
    int64_t version, enum store_release_end end, const char *reason);
/* The apps whose target release is pending: [{"app", "release"}]. */
int store_release_pending(json_t **out, struct store *s);

/* {"web":2,...} */
int store_formation_get(json_t **out, struct store *s, const char *app);
/* Set quantities (an object TYPE -> integer 0..STORE_SCALE_MAX); types
 * not named keep theirs. */
int store_formation_scale(json_t **out, struct store *s, const char *app,
    json_t *quantities);

/* ---- release rules (store/release.c: pure, no I/O) ---- */

/* Longest summary kept; longer ones end in "... (+N more)". */
#define STORE_RELEASE_SUMMARY_MAX 200

/* Apply changes (object KEY -> string sets, KEY -> null unsets) to values
 * (object KEY -> string, not modified).  *out is the new object (caller
 * owns); *changed says whether it differs from values.  A key that is not
 * ^[A-Za-z_][A-Za-z0-9_]*$, a value that is not a string or null, a value
 * over STORE_ENV_VALUE_MAX or with a NUL, or more than STORE_ENV_MAX keys
 * in the result: ERR_INVALID naming the key, *out untouched. */
int store_release_config_apply(json_t **out, bool *changed, json_t *values,
    json_t *changes);

/* One-line summary of a config change as it will read in `releases`:
 * "set FOO, BAR", "unset FOO", "set FOO; unset BAR".  Only keys whose
 * value differs from values (the config before) are named, in the order
 * given.  Caller frees. */
char *store_release_summary_config(json_t *values, json_t *changes);
/* "deploy 3f2a9c1" (the first 7 characters of rev; "deploy" alone when
 * rev is empty).  Caller frees. */
char *store_release_summary_deploy(const char *rev);
/* "rollback to v4".  Caller frees. */
char *store_release_summary_rollback(int64_t target);

/* Which release a rollback copies: requested (0: the one before current)
 * must be a release that exists, below current.  ERR_INVALID when there is
 * nothing to roll back to or requested is current, ERR_NOTFOUND when it is
 * above current. */
int store_release_rollback_target(int64_t *out, int64_t current,
    int64_t requested);

/* ---- runners ---- */

/* Add runner name in group; its server key "slr_<64 hex>" is written to
 * key once, only its sha256 is kept. */
int store_runner_create(char key[STORE_TOKEN_LEN], json_t **out,
    struct store *s, const char *name, const char *group);
int store_runner_delete(struct store *s, const char *name);
/* live_after: runners whose last heartbeat is at or after it are "live". */
int store_runner_list(json_t **out, struct store *s, time_t live_after);
int store_runner_heartbeat(struct store *s, int64_t runner_id, time_t now);
/* A runner registers from addr: a session of its key.  presented (may be
 * NULL) is the session it held before (a restart of the same runner takes
 * it back).  ERR_CONFLICT, "runner key already in use by a live runner at
 * ADDR since T", while another session's lease is live (its last renewal
 * at or after live_after).  Otherwise the session is the runner's (new
 * unless presented is the current one), the epoch grows by one and the
 * lease is renewed.  *out: {"session","epoch","since"}. */
int store_runner_session_open(json_t **out, struct store *s,
    int64_t runner_id, const char *presented, const char *addr, time_t now,
    time_t live_after);
/* Renew the lease of session: ERR_CONFLICT when the key's session is
 * another (registered again elsewhere, or never registered).  *was_live
 * (may be NULL): whether the lease was live before.  *epoch (may be
 * NULL): the session's epoch. */
int store_runner_renew(bool *was_live, int64_t *epoch, struct store *s,
    int64_t runner_id, const char *session, time_t now, time_t live_after);
/* Every runner's lease a whole lease from now (a controller that was down
 * gives each runner one lease to renew before its slots move). */
int store_runner_lease_grace(struct store *s, time_t now);
/* Keep what a runner reports (containers, health): a JSON object, stored
 * as it came (capped by the API), and count it as a heartbeat. */
int store_runner_report(struct store *s, int64_t runner_id, json_t *report,
    time_t now);

/* ---- the schedule ---- */

/* Recompute the schedule (store/scheduler.c) from formations, app
 * groups, current releases and live runners, and store it if it changed.
 * *changed (may be NULL) says whether it did. */
int store_schedule_refresh(bool *changed, struct store *s, time_t live_after);
/* What runner_id should run: {"runner":..,"group":..,"containers":[...]}
 * with each container's app, type, index, release, build image/digest,
 * process types and config values.  Only apps of the runner's group. */
int store_schedule_for_runner(json_t **out, struct store *s,
    int64_t runner_id);
/* The assignments of one app, with each runner's last report of them and
 * whether its lease is live ("runner_live", "silent_for" seconds); then
 * the containers of the app that runners whose lease lapsed last
 * reported and that are assigned elsewhere now, as "lost". */
int store_schedule_for_app(json_t **out, struct store *s, const char *app,
    time_t live_after);

/* ---- the scheduler (store/scheduler.c: pure, no I/O) ---- */

struct store_sched_proc {
	const char *type;
	int quantity;
};

/* An app as the scheduler sees it: its groups and its formation.  An app
 * without a release to run has nprocs == 0. */
struct store_sched_app {
	const char *name;
	const char *const *groups;
	size_t ngroups;
	const struct store_sched_proc *procs;
	size_t nprocs;
};

struct store_sched_runner {
	const char *name;
	const char *group;
	bool live;      /* heartbeat within the deadline */
};

/* One container to run: app's process type, instance index (1-based), in
 * group, on runner (NULL: no live runner in the group can take it). */
struct store_sched_slot {
	char *app;
	char *type;
	int index;
	char *group;
	char *runner;
};

/*
 * Decide where every container runs.  Each group an app is in runs the
 * app's whole formation on that group's live runners, never elsewhere.
 * Containers are spread: first by how many of the same app a runner has,
 * then by its total load, then by name.  A slot keeps the runner it had in
 * prev while that runner is live, in the group and not over its fair
 * share, so a healthy schedule does not churn; a runner that is not live
 * loses its slots to the others in its group.
 *
 * *out (caller frees with store_sched_slots_free) is sorted by group, app,
 * type, index.  Pure: the same input gives the same output.
 */
void store_sched_plan(struct store_sched_slot **out, size_t *nout,
    const struct store_sched_app *apps, size_t napps,
    const struct store_sched_runner *runners, size_t nrunners,
    const struct store_sched_slot *prev, size_t nprev);
void store_sched_slots_free(struct store_sched_slot *slots, size_t n);

/* ---- rollouts, one-offs, logs (store/store_rollout.c) ---- */

/* The current releases that a live runner (heartbeat at or after
 * live_after) reports failed: [{"app", "release", "runner", "reason",
 * "restart" (the restart token it has done)}]. */
int store_rollout_failed(json_t **out, struct store *s, time_t live_after);
/* How an app's rollout stands: {"release": its target release, "serving":
 * its current (live) release when that has a build, else 0, "slots":
 * [{"group","type","index","runner" (null: unplaced),"live","report"
 * (the runner's report of this app, or null),"container" (the one it
 * reports in this slot, or null),"reported_at"}]}. */
int store_rollout_view(json_t **out, struct store *s, const char *app,
    time_t live_after);
/* Where a one-off of app runs: {"release": the current release with its
 * config and image, "runner": {"id","name","group"}}, a live runner of
 * the app's groups (one that runs the app first).  ERR_CONFLICT when the
 * app has no build to run or no live runner. */
/* The live runner of app's groups a one-off goes to: {id, name, group};
 * ERR_CONFLICT when none. */
int store_run_runner(json_t **out, struct store *s, const char *app,
    time_t live_after);
int store_run_target(json_t **out, struct store *s, const char *app,
    time_t live_after);
/* Is app deployed to group? */
int store_app_in_group(bool *out, struct store *s, const char *app,
    const char *group);

#endif
