/*
 * The controller: release rules and the scheduler (pure functions, no I/O)
 * and the HTTP API daemon.  The store it keeps its truth in is
 * include/slipway/store.h; the client commands that talk to it are
 * include/slipway/client.h.
 */
#ifndef SLIPWAY_CONTROLLER_H
#define SLIPWAY_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* ---- release rules (controller/release.c) ---- */

/* Longest summary kept; longer ones end in "... (+N more)". */
#define RELEASE_SUMMARY_MAX 200

/* Apply changes (object KEY -> string sets, KEY -> null unsets) to values
 * (object KEY -> string, not modified).  *out is the new object (caller
 * owns); *changed says whether it differs from values.  A key that is not
 * ^[A-Za-z_][A-Za-z0-9_]*$, a value that is not a string or null, a value
 * over STORE_ENV_VALUE_MAX or with a NUL, or more than STORE_ENV_MAX keys
 * in the result: ERR_INVALID naming the key, *out untouched. */
int release_config_apply(json_t **out, bool *changed, json_t *values,
    json_t *changes);

/* One-line summary of a config change as it will read in `releases`:
 * "set FOO, BAR", "unset FOO", "set FOO; unset BAR".  Only keys whose
 * value differs from values (the config before) are named, in the order
 * given.  Caller frees. */
char *release_summary_config(json_t *values, json_t *changes);
/* "deploy 3f2a9c1" (the first 7 characters of rev; "deploy" alone when
 * rev is empty).  Caller frees. */
char *release_summary_deploy(const char *rev);
/* "rollback to v4".  Caller frees. */
char *release_summary_rollback(int64_t target);

/* Which release a rollback copies: requested (0: the one before current)
 * must be a release that exists, below current.  ERR_INVALID when there is
 * nothing to roll back to or requested is current, ERR_NOTFOUND when it is
 * above current. */
int release_rollback_target(int64_t *out, int64_t current, int64_t requested);


/* ---- scheduler (controller/scheduler.c) ---- */

struct sched_proc {
	const char *type;
	int quantity;
};

/* An app as the scheduler sees it: its groups and its formation.  An app
 * without a release to run has nprocs == 0. */
struct sched_app {
	const char *name;
	const char *const *groups;
	size_t ngroups;
	const struct sched_proc *procs;
	size_t nprocs;
};

struct sched_runner {
	const char *name;
	const char *group;
	bool live;      /* heartbeat within the deadline */
};

/* One container to run: app's process type, instance index (1-based), in
 * group, on runner (NULL: no live runner in the group can take it). */
struct sched_slot {
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
 * *out (caller frees with sched_slots_free) is sorted by group, app, type,
 * index.  Pure: the same input gives the same output.
 */
void sched_plan(struct sched_slot **out, size_t *nout,
    const struct sched_app *apps, size_t napps,
    const struct sched_runner *runners, size_t nrunners,
    const struct sched_slot *prev, size_t nprev);
void sched_slots_free(struct sched_slot *slots, size_t n);

/* ---- the daemon (controller/controller.c) ---- */

#define CONTROLLER_ADMIN "admin"        /* the user a fresh store gets */

/* What controller_home_init made or found; controller_home_free frees. */
struct controller_home {
	unsigned char *key;     /* the registry token key (HOME/secret) */
	size_t keylen;
	char *admin_token;      /* made now, on a store without users; the
	                         * only time it exists in clear.  Else NULL */
};

/*
 * The controller's state in home, made when missing and read back when
 * not, each step idempotent so that an interrupted first start is
 * finished by the next: home (0700 when made), the registry token key,
 * the store (created or migrated), and last the user CONTROLLER_ADMIN
 * with one token labelled token_note when the store has no users (another
 * process making it first is not an error).  Both `slipway controller` and
 * `slipway up` start with it.  Fails with the step's error; *out is only
 * set on success.
 */
int controller_home_init(struct controller_home *out, const char *home,
    const char *token_note);
void controller_home_free(struct controller_home *h);

int controller_cmd_run(int argc, char **argv);

#endif
