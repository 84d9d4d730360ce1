/*
 * Rollouts as the controller sees them: how far the runners assigned to
 * an app got with a release (GET .../releases/vN/rollout, long-polled by
 * the git hook and the CLI), rolling restarts (POST .../ps/restart), and
 * what the desired state adds to the stored schedule (restart tokens and
 * one-offs).
 *
 * A rollout in progress is read from the runners' last reports, which say
 * per app which release they run, whether it is live or failed, and why;
 * its end is stored as the release's state (ctl_releases_settle), so a
 * failed release stays failed once its runners have gone back to the
 * release before it.  A restart request is a token kept in memory
 * and handed to the runners in their desired state; a controller restart
 * forgets it (a restart in progress then stops where it is, nothing is
 * restarted twice).  docs/rollout.md has the contract.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/clock.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/name.h"
#include "slipway/parse.h"

#define RESTART_TOKEN_MAX 64

/* ---- "something a waiter may care about changed" -------------------- */

/*
 * One process runs one controller, so the signal is process-wide: a
 * generation counter that grows with every runner report, one-off update
 * and shipped log batch, and a condition variable the long-polls wait on.
 * Waits are sliced to a second so a stopping controller ends them soon.
 */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cv = PTHREAD_COND_INITIALIZER;
static uint64_t live_gen;

/* Restart requests: at most one per app, the latest. */
struct ctl_restart {
	char app[STORE_NAME_MAX + 1];
	char token[33];
	char type[STORE_NAME_MAX + 1];  /* "" for every type */
};
static pthread_mutex_t restart_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_restart *restarts;
static size_t nrestarts;

void
ctl_live_notify(void)
{
	pthread_mutex_lock(&live_mu);
	live_gen++;
	pthread_cond_broadcast(&live_cv);
	pthread_mutex_unlock(&live_mu);
}

uint64_t
ctl_live_gen(void)
{
	uint64_t g;

	pthread_mutex_lock(&live_mu);
	g = live_gen;
	pthread_mutex_unlock(&live_mu);
	return g;
}

static bool
ctl_stopping(struct ctl *ctl)
{
	bool s;

	pthread_mutex_lock(&ctl->sched_mu);
	s = ctl->stopping;
	pthread_mutex_unlock(&ctl->sched_mu);
	return s;
}

bool
ctl_live_wait(struct ctl *ctl, uint64_t gen, double deadline)
{
	struct timespec at;
	double left = deadline - clock_mono();

	if (left <= 0 || ctl_stopping(ctl))
		return false;
	if (left > 1)
		left = 1;
	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_sec += (time_t)left;
	at.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&live_mu);
	while (live_gen == gen &&
	    pthread_cond_timedwait(&live_cv, &live_mu, &at) == 0)
		;
	pthread_mutex_unlock(&live_mu);
	return !ctl_stopping(ctl) && clock_mono() < deadline;
}

void
ctl_desired_changed(struct ctl *ctl)
{
	pthread_mutex_lock(&ctl->sched_mu);
	ctl->sched_gen++;
	pthread_cond_broadcast(&ctl->sched_cv);
	pthread_mutex_unlock(&ctl->sched_mu);
}

bool
ctl_wait_param(struct ctl_call *c, long *out)
{
	const char *w = httpd_req_query(c->req, "wait");
	unsigned long long v;

	*out = 0;
	if (w == NULL)
		return true;
	if (parse_uint(&v, w, 0, CTL_WAIT_MAX) < 0) {
		ctl_error(c, 422, "invalid", "wait is 0 to %d seconds",
		    CTL_WAIT_MAX);
		return false;
	}
	*out = (long)v;
	return true;
}

/* ---- desired state --------------------------------------------------- */

void
ctl_desired_extend(struct ctl *ctl, json_t *doc, const char *runner)
{
	json_t *x;
	size_t i;

	(void)ctl;
	pthread_mutex_lock(&restart_mu);
	json_array_foreach(json_object_get(doc, "containers"), i, x) {
		const char *app = json_string_value(json_object_get(x, "app"));
		const struct ctl_restart *r = NULL;

		for (size_t k = 0; app && k < nrestarts && !r; k++)
			if (strcmp(restarts[k].app, app) == 0)
				r = &restarts[k];
		json_object_set_new(x, "restart", json_string(r ? r->token :
		    ""));
		json_object_set_new(x, "restart_type", r && r->type[0] ?
		    json_string(r->type) : json_null());
	}
	pthread_mutex_unlock(&restart_mu);
	json_object_set_new(doc, "runs", ctl_runs_for_runner(runner));
}

/* ---- rollout status -------------------------------------------------- */

/* How one runner stands with release version (and restart token, when
 * asked): "live", "failed", "superseded" or "pending", with why. */
static const char *
rollout_runner_state(const char **why, json_t *rep, int64_t version,
    const char *restart, bool live)
{
	json_int_t rel = json_integer_value(json_object_get(rep, "release"));
	const char *st = json_string_value(json_object_get(rep, "state"));
	const char *tok = json_string_value(json_object_get(rep, "restart"));

	*why = json_string_value(json_object_get(rep, "reason"));
	if (!json_is_object(rep) || rel < version) {
		*why = live ? "the runner has not started this release yet" :
		    "the runner is not live (no heartbeat)";
		return "pending";
	}
	if (rel > version)
		return "superseded";
	if (st == NULL)
		st = "pending";
	if (restart && (tok == NULL || strcmp(tok, restart) != 0)) {
		*why = "the runner has not done this restart yet";
		return "pending";
	}
	if (strcmp(st, "live") == 0 || strcmp(st, "failed") == 0)
		return st;
	if (*why == NULL)
		*why = "deploying";
	return "pending";
}

/* Is v the string s? */
static bool
rollout_is(json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* A runner that reports version live is not when a process of it there
 * crash-loops: "failed", *why (in *buf, freed by the caller) naming it;
 * else "live".  slots[from...] are the runner's (sorted by runner). */
static const char *
rollout_runner_crashed(const char **why, char **buf, json_t *slots,
    size_t from, const char *runner, int64_t version)
{
	for (size_t k = from; k < json_array_size(slots); k++) {
		json_t *x = json_array_get(slots, k);
		json_t *ctr = json_object_get(x, "container");

		if (!rollout_is(json_object_get(x, "runner"), runner))
			break;
		if (!json_is_true(json_object_get(ctr, "crashed")) ||
		    json_integer_value(json_object_get(ctr, "release")) !=
		    version)
			continue;
		free(*buf);
		*buf = xasprintf("%s.%" JSON_INTEGER_FORMAT " keeps crashing "
		    "(last exit %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
		    " restarts)", json_string_value(json_object_get(x, "type")),
		    json_integer_value(json_object_get(x, "index")),
		    json_integer_value(json_object_get(ctr, "exit_code")),
		    json_integer_value(json_object_get(ctr, "restarts")));
		*why = *buf;
		return "failed";
	}
	return "live";
}

/* The answer for version from a store_rollout_view. */
static json_t *
rollout_answer(const char *app, int64_t version, const char *restart,
    json_t *view, json_t *rel)
{
	json_int_t current = json_integer_value(json_object_get(view,
	    "release"));
	json_t *slots = json_object_get(view, "slots"), *runners = json_array();
	json_t *urls = json_array(), *x, *ans;
	const char *state = "live", *reason = NULL;
	char *why_buf = NULL, *crash_buf = NULL;
	json_t *phase = NULL;
	size_t i;

	if (rollout_is(json_object_get(rel, "state"), "failed")) {
		state = "failed";
		reason = json_string_value(json_object_get(rel, "reason"));
		goto out;
	}
	if (rollout_is(json_object_get(rel, "phase"), "waiting") ||
	    rollout_is(json_object_get(rel, "phase"), "running")) {
		/* nothing of it runs before its release phase succeeded */
		state = "pending";
		phase = json_pack("{sOsO}", "state", json_object_get(rel,
		    "phase"), "run", json_object_get(rel, "phase_run"));
		reason = rollout_is(json_object_get(rel, "phase"), "running") ?
		    "the release phase is running" : "the release phase waits "
		    "for a live runner";
		goto out;
	}
	if (version < current) {
		state = "superseded";
		why_buf = xasprintf("v%" JSON_INTEGER_FORMAT " was released "
		    "since", current);
		reason = why_buf;
		goto out;
	}
	if (json_array_size(slots) == 0) {
		state = "idle";
		reason = json_is_integer(json_object_get(rel, "build")) ?
		    "the formation runs no process of this release (see "
		    "ps:scale)" : "this release has no build to run";
		goto out;
	}
	json_array_foreach(slots, i, x) {
		const char *runner = json_string_value(json_object_get(x,
		    "runner"));
		const char *group = json_string_value(json_object_get(x,
		    "group"));
		const char *rs, *why = NULL;
		json_t *rep = json_object_get(x, "report"), *url;
		bool live = json_is_true(json_object_get(x, "live"));

		if (runner == NULL) {
			if (strcmp(state, "failed") != 0) {
				state = "pending";
				free(why_buf);
				why_buf = xasprintf("no live runner in group "
				    "'%s'", group ? group : "?");
				reason = why_buf;
			}
			continue;
		}
		/* slots are sorted by runner: one entry per runner */
		if (i > 0 && json_string_value(json_object_get(json_array_get(
		    slots, i - 1), "runner")) && strcmp(json_string_value(
		    json_object_get(json_array_get(slots, i - 1), "runner")),
		    runner) == 0)
			continue;
		rs = rollout_runner_state(&why, rep, version, restart, live);
		if (strcmp(rs, "live") == 0)
			rs = rollout_runner_crashed(&why, &crash_buf, slots, i,
			    runner, version);
		json_array_append_new(runners, json_pack("{sssssssbss?ss}",
		    "runner", runner, "group", group ? group : "",
		    "state", rs, "live", live, "reason", why,
		    "at", json_string_value(json_object_get(x,
		    "reported_at")) ? json_string_value(json_object_get(x,
		    "reported_at")) : ""));
		if (strcmp(rs, "failed") == 0) {
			state = "failed";
			free(why_buf);
			why_buf = xasprintf("runner %s: %s", runner,
			    why ? why : "failed");
			reason = why_buf;
		} else if (strcmp(rs, "superseded") == 0 &&
		    strcmp(state, "failed") != 0) {
			state = "superseded";
			reason = "a later release is running";
		} else if (strcmp(rs, "pending") == 0 &&
		    strcmp(state, "live") == 0) {
			state = "pending";
			free(why_buf);
			why_buf = xasprintf("runner %s: %s", runner,
			    why ? why : "pending");
			reason = why_buf;
		}
		url = json_object_get(rep, "url");
		if (strcmp(rs, "live") == 0 && json_is_string(url)) {
			bool dup = false;
			size_t k;
			json_t *u;
			json_array_foreach(urls, k, u)
				dup = dup || json_equal(u, url);
			if (!dup)
				json_array_append(urls, url);
		}
	}
out:
	ans = json_pack("{sssIsIssss?sososo}", "app", app,
	    "release", (json_int_t)version, "current", current,
	    "state", state, "reason", reason, "urls", urls,
	    "runners", runners, "serving", json_integer_value(json_object_get(
	    view, "serving")) ? json_incref(json_object_get(view, "serving")) :
	    json_null());
	if (restart)
		json_object_set_new(ans, "restart", json_string(restart));
	if (phase)
		json_object_set_new(ans, "release_phase", phase);
	free(why_buf);
	free(crash_buf);
	return ans;
}

void
ctl_rollout_get(struct ctl_call *c)
{
	const char *restart = httpd_req_query(c->req, "restart");
	json_t *view = NULL, *rel = NULL, *ans = NULL;
	int64_t version;
	double deadline;
	bool first = true;
	long wait;
	int rc;

	if (!ctl_app_read(c, c->seg[1]))
		return;
	if (name_release_parse(&version, c->seg[3]) < 0) {
		ctl_error(c, 404, "not_found", "%s", err_last());
		return;
	}
	if (!ctl_wait_param(c, &wait))
		return;
	if (restart && (restart[0] == '\0' ||
	    strlen(restart) > RESTART_TOKEN_MAX ||
	    strspn(restart, "0123456789abcdef") != strlen(restart))) {
		ctl_error(c, 422, "invalid", "restart is the token "
		    "ps/restart answered");
		return;
	}
	if (!ctl_check(c, store_release_get(&rel, c->st, c->seg[1], version)))
		return;
	deadline = clock_mono() + (double)wait;
	for (;;) {
		/* Read the generation first: a report arriving while we
		 * look is then either seen or wakes the wait. */
		uint64_t gen = ctl_live_gen();
		const char *st;

		json_decref(view);
		json_decref(ans);
		view = ans = NULL;
		/* The release again: its state may have been settled (a
		 * failed one's runners then report the release before). */
		rc = 0;
		if (!first) {
			json_decref(rel);
			rel = NULL;
			rc = store_release_get(&rel, c->st, c->seg[1], version);
		}
		first = false;
		if (rc < 0 || (rc = store_rollout_view(&view, c->st, c->seg[1],
		    ctl_live_after(c->ctl))) < 0) {
			json_decref(rel);
			ctl_fail(c, rc);
			return;
		}
		ans = rollout_answer(c->seg[1], version, restart, view, rel);
		st = json_string_value(json_object_get(ans, "state"));
		if (strcmp(st, "pending") != 0 ||
		    !ctl_live_wait(c->ctl, gen, deadline))
			break;
	}
	json_decref(view);
	json_decref(rel);
	ctl_reply(c, 200, ans);
}

/* ---- restarts -------------------------------------------------------- */

/* Make token (of type, NULL for all) the app's restart request; with
 * restart_mu held. */
static void
restart_set(const char *app, const char *token, const char *type)
{
	struct ctl_restart *r = NULL;

	for (size_t k = 0; k < nrestarts && !r; k++)
		if (strcmp(restarts[k].app, app) == 0)
			r = &restarts[k];
	if (r == NULL) {
		restarts = xrealloc(restarts, (nrestarts + 1) *
		    sizeof(*restarts));
		r = &restarts[nrestarts++];
		snprintf(r->app, sizeof(r->app), "%s", app);
	}
	snprintf(r->token, sizeof(r->token), "%s", token);
	snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
}

void
ctl_ps_restart(struct ctl_call *c)
{
	const char *type = NULL;
	unsigned char rnd[16];
	char token[33];
	struct store_access acc;
	bool bad = false;

	if (!ctl_app_access(c, c->seg[1], 1, &acc))
		return;
	if (json_is_object(c->body))
		type = ctl_body_str(c, "type", &bad);
	else if (c->body) {
		ctl_error(c, 400, "bad_request", "the body is a JSON object");
		return;
	}
	if (bad)
		return;
	if (type && !name_proc_type_is_valid(type)) {
		ctl_error(c, 422, "invalid", "'%.64s' is not a process type",
		    type);
		return;
	}
	if (acc.release == 0) {
		ctl_error(c, 409, "conflict", "app '%s' has no release to "
		    "restart", c->seg[1]);
		return;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		ctl_error(c, 500, "internal", "no random bytes");
		return;
	}
	digest_hex(token, rnd, sizeof(rnd));
	pthread_mutex_lock(&restart_mu);
	restart_set(c->seg[1], token, type);
	pthread_mutex_unlock(&restart_mu);
	log_info("%s restarts '%s'%s%s", c->actor.name, c->seg[1],
	    type ? " type " : "", type ? type : "");
	ctl_desired_changed(c->ctl);
	ctl_reply(c, 202, json_pack("{sssIss?ss}", "app", c->seg[1],
	    "release", (json_int_t)acc.release, "type", type,
	    "restart", token));
}

/* ---- ending a rollout: the release's state -------------------------- */

/* Store the end of version's rollout and say it in the log; true when
 * the release was still pending. */
static bool
release_settle(struct ctl *ctl, struct store *s, const char *app,
    int64_t version, enum store_release_end end, const char *reason)
{
	bool changed = false, live = end != STORE_RELEASE_FAILED;

	(void)ctl;
	if (store_release_settle(&changed, s, app, version, end,
	    reason) < 0) {
		log_warnx("%s: cannot record the end of v%lld's rollout: %s",
		    app, (long long)version, err_last());
		return false;
	}
	if (changed && live)
		log_info("%s: v%lld is live", app, (long long)version);
	else if (changed)
		log_info("%s: v%lld failed (%s); the runners go back to the "
		    "current release", app, (long long)version, reason);
	return changed;
}

/* ---- retrying a rollout the runner could not finish ----------------- */

/*
 * A runner does not retry a release that failed on it until its target
 * changes.  When the failure was not the app's (the proxy or the registry
 * was restarting: a kill -9 of either mid-rollout), the current release
 * would stay not live for good, the old one serving.  So the controller
 * changes the target for it: a restart token, as ps:restart does, after
 * 2, then 10, then 30 seconds, and then leaves it (docs/rollout.md,
 * "Failure").  A release that fails its health checks is the app's
 * failure and is not retried.  Kept in memory: a controller restart
 * starts the count again, which retries at most three times more.
 */
#define RETRY_MAX 3
static const double retry_delay[RETRY_MAX] = { 2, 10, 30 };
static const char *const retry_reasons[] = { "cannot route ",
    "cannot get image ", NULL };

struct ctl_retry {
	char app[STORE_NAME_MAX + 1];
	int64_t release;
	int attempts;
	double next_at;         /* clock_mono() */
	char token[33];         /* the last one we asked for */
};
static struct ctl_retry *retries;       /* restart_mu */
static size_t nretries;

static bool
retry_reason_is_transient(const char *why)
{
	for (int i = 0; why && retry_reasons[i]; i++)
		if (strncmp(why, retry_reasons[i], strlen(retry_reasons[i]))
		    == 0)
			return true;
	return false;
}

static struct ctl_retry *
retry_find(const char *app)
{
	for (size_t k = 0; k < nretries; k++)
		if (strcmp(retries[k].app, app) == 0)
			return &retries[k];
	retries = xrealloc(retries, (nretries + 1) * sizeof(*retries));
	memset(&retries[nretries], 0, sizeof(*retries));
	snprintf(retries[nretries].app, sizeof(retries->app), "%s", app);
	return &retries[nretries++];
}

void
ctl_rollout_retry(struct ctl *ctl, struct store *s)
{
	json_t *failed = NULL, *x;
	unsigned char rnd[16];
	bool changed = false;
	double now = clock_mono();
	size_t i;

	if (store_rollout_failed(&failed, s, ctl_live_after(ctl)) < 0) {
		log_warnx("cannot read the failed rollouts: %s", err_last());
		return;
	}
	pthread_mutex_lock(&restart_mu);
	json_array_foreach(failed, i, x) {
		const char *app = json_string_value(json_object_get(x, "app"));
		const char *why = json_string_value(json_object_get(x,
		    "reason"));
		const char *done = json_string_value(json_object_get(x,
		    "restart"));
		int64_t rel = json_integer_value(json_object_get(x,
		    "release"));
		struct ctl_retry *r;

		if (app == NULL || strlen(app) > STORE_NAME_MAX ||
		    !retry_reason_is_transient(why))
			continue;
		r = retry_find(app);
		if (r->release != rel) {
			r->release = rel;
			r->attempts = 0;
			r->token[0] = '\0';
			r->next_at = now + retry_delay[0];
		}
		/* The last try failed too: the release has failed. */
		if (r->attempts >= RETRY_MAX && done &&
		    strcmp(done, r->token) == 0) {
			char *reason = xasprintf("runner %s: %s",
			    json_string_value(json_object_get(x, "runner")),
			    why);
			pthread_mutex_unlock(&restart_mu);
			release_settle(ctl, s, app, rel, STORE_RELEASE_FAILED,
			    reason);
			pthread_mutex_lock(&restart_mu);
			free(reason);
			changed = true;
			continue;
		}
		/* Still failed from before our last try, or out of tries,
		 * or not yet. */
		if ((r->token[0] && (done == NULL || strcmp(done, r->token))) ||
		    r->attempts >= RETRY_MAX || now < r->next_at)
			continue;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			break;
		digest_hex(r->token, rnd, sizeof(rnd));
		restart_set(app, r->token, NULL);
		r->attempts++;
		if (r->attempts < RETRY_MAX)
			r->next_at = now + retry_delay[r->attempts];
		log_info("%s: v%lld failed on runner %s (%s): rolling it out "
		    "again (try %d of %d)", app, (long long)rel,
		    json_string_value(json_object_get(x, "runner")), why,
		    r->attempts, RETRY_MAX);
		changed = true;
	}
	pthread_mutex_unlock(&restart_mu);
	json_decref(failed);
	if (changed)
		ctl_desired_changed(ctl);
}

/* ---- settling rollouts ---------------------------------------------- */

/* Does a runner of ans report a failure that ctl_rollout_retry retries? */
static bool
rollout_failed_transient(json_t *ans)
{
	json_t *x;
	size_t i;

	json_array_foreach(json_object_get(ans, "runners"), i, x)
		if (rollout_is(json_object_get(x, "state"), "failed") &&
		    retry_reason_is_transient(
		    json_string_value(json_object_get(x, "reason"))))
			return true;
	return false;
}

void
ctl_releases_settle(struct ctl *ctl, struct store *s)
{
	json_t *pending = NULL, *x;
	bool wake = false;
	size_t i;

	if (store_release_pending(&pending, s) < 0) {
		log_warnx("cannot read the releases rolling out: %s",
		    err_last());
		return;
	}
	json_array_foreach(pending, i, x) {
		const char *app = json_string_value(json_object_get(x, "app"));
		int64_t v = json_integer_value(json_object_get(x, "release"));
		json_t *view = NULL, *rel = NULL, *ans;
		const char *st;

		if (store_release_get(&rel, s, app, v) < 0 ||
		    store_rollout_view(&view, s, app, ctl_live_after(ctl)) < 0) {
			log_warnx("%s: cannot read v%lld's rollout: %s", app,
			    (long long)v, err_last());
			json_decref(rel);
			continue;
		}
		ans = rollout_answer(app, v, NULL, view, rel);
		st = json_string_value(json_object_get(ans, "state"));
		/* idle: scaled to nothing meanwhile, nothing to wait for */
		if (strcmp(st, "live") == 0)
			wake |= release_settle(ctl, s, app, v,
			    STORE_RELEASE_LIVE, NULL);
		else if (strcmp(st, "idle") == 0)
			wake |= release_settle(ctl, s, app, v,
			    STORE_RELEASE_IDLE, NULL);
		else if (strcmp(st, "failed") == 0 &&
		    !rollout_failed_transient(ans))
			wake |= release_settle(ctl, s, app, v,
			    STORE_RELEASE_FAILED, json_string_value(
			    json_object_get(ans, "reason")));
		json_decref(ans);
		json_decref(view);
		json_decref(rel);
	}
	json_decref(pending);
	if (wake) {
		/* a failed release's runners go back to the current one */
		ctl_schedule_kick(ctl, s);
		ctl_live_notify();
	}
}
