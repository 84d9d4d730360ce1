/*
 * One-off containers (`slipway run APP -- CMD`).
 *
 * A one-off lives in the controller's memory only: POST .../runs picks a
 * live runner of the app's groups (one that runs the app already has its
 * image) and queues the run in that runner's desired state.  The runner
 * starts a container of the current release with the command, posts its
 * output in chunks as it comes and, at the end, its exit code (POST
 * /v1/runner/runs/ID).  The client reads the output by offset with a
 * long-poll (GET .../runs/ID?offset=N&wait=S) until the run has ended, so
 * a dropped connection loses nothing and nothing needs a streaming HTTP
 * response.  A run the runner never starts, or stops reporting on, fails
 * with that reason; a controller restart forgets runs (their clients get
 * 404 and say so).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "ctl_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/parse.h"
#include "slipway/utf8.h"

#define RUNS_MAX 256                 /* kept at once, ended ones too */
#define RUNS_ACTIVE_MAX 64           /* pending or running */
#define RUN_OUTPUT_KEEP (1u << 20)   /* kept per run; older is dropped */
#define RUN_ANSWER_MAX (256u << 10)  /* output in one answer */
#define RUN_COMMAND_MAX 8192
#define RUN_START_SECS 180.0         /* for the runner to start it */
#define RUN_SILENCE_SECS 60.0        /* between updates of a running one */
#define RUN_KEEP_SECS 600.0          /* an ended run stays readable */

enum run_state { RUN_PENDING, RUN_RUNNING, RUN_EXITED, RUN_FAILED };

static const char *const run_state_names[] = {
	"pending", "running", "exited", "failed",
};

/*
 * One run.  Invariants: out holds the output bytes [base, base + outlen),
 * valid UTF-8 cut at character boundaries; exit_code is set (>= 0 or the
 * runner's -1 for unknown) only in RUN_EXITED; error only in RUN_FAILED.
 */
struct ctl_run {
	char id[33];
	unsigned index;                 /* the container's run.N */
	char app[STORE_NAME_MAX + 1];
	char runner[STORE_NAME_MAX + 1];
	char *by;
	json_t *spec;                   /* what the runner is given */
	enum run_state state;
	int exit_code;
	char *error;
	char *out;
	size_t outlen;
	uint64_t base;
	double created, updated, ended;
};

static pthread_mutex_t runs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ctl_run **runs;
static size_t nruns;
static unsigned run_seq;

static void
run_free(struct ctl_run *r)
{
	if (r == NULL)
		return;
	json_decref(r->spec);
	free(r->by);
	free(r->error);
	free(r->out);
	free(r);
}

static bool
run_active(const struct ctl_run *r)
{
	return r->state == RUN_PENDING || r->state == RUN_RUNNING;
}

static void
run_end(struct ctl_run *r, enum run_state st, int code, const char *error)
{
	size_t n = error ? strlen(error) : 0;

	r->state = st;
	r->exit_code = code;
	free(r->error);
	r->error = NULL;
	if (error) {
		/* a runner's message, capped on a character boundary */
		if (n > 1024) {
			n = 1024;
			while (n > 0 &&
			    ((unsigned char)error[n] & 0xc0) == 0x80)
				n--;
		}
		r->error = xstrndup(error, n);
	}
	r->ended = clock_mono();
	log_info("one-off %s of '%s' on runner '%s': %s%s%s", r->id, r->app,
	    r->runner, run_state_names[st], error ? ": " : "",
	    error ? error : "");
}

/* With runs_mu held: fail runs their runner forgot, drop old ended ones.
 * True when the set of active runs changed. */
static bool
run_expire(void)
{
	double now = clock_mono();
	bool changed = false;
	char why[128];

	for (size_t i = 0; i < nruns;) {
		struct ctl_run *r = runs[i];
		if (r->state == RUN_PENDING &&
		    now - r->created > RUN_START_SECS) {
			snprintf(why, sizeof(why), "runner %s did not start it "
			    "in %.0fs", r->runner, RUN_START_SECS);
			run_end(r, RUN_FAILED, -1, why);
			changed = true;
		} else if (r->state == RUN_RUNNING &&
		    now - r->updated > RUN_SILENCE_SECS) {
			snprintf(why, sizeof(why), "runner %s stopped "
			    "reporting on it for %.0fs", r->runner,
			    RUN_SILENCE_SECS);
			run_end(r, RUN_FAILED, -1, why);
			changed = true;
		}
		if (!run_active(r) && now - r->ended > RUN_KEEP_SECS) {
			run_free(r);
			runs[i] = runs[--nruns];
			continue;
		}
		i++;
	}
	return changed;
}

/* With runs_mu held. */
static struct ctl_run *
run_find(const char *app, const char *id)
{
	for (size_t i = 0; i < nruns; i++)
		if (strcmp(runs[i]->id, id) == 0 &&
		    (app == NULL || strcmp(runs[i]->app, app) == 0))
			return runs[i];
	return NULL;
}

/* Append output (valid UTF-8) keeping the last RUN_OUTPUT_KEEP bytes,
 * dropping whole characters only. */
static void
run_output_add(struct ctl_run *r, const char *data, size_t n)
{
	size_t drop;

	r->out = xrealloc(r->out, r->outlen + n + 1);
	memcpy(r->out + r->outlen, data, n);
	r->outlen += n;
	if (r->outlen <= RUN_OUTPUT_KEEP)
		return;
	drop = r->outlen - RUN_OUTPUT_KEEP;
	while (drop < r->outlen && ((unsigned char)r->out[drop] & 0xc0) == 0x80)
		drop++;
	memmove(r->out, r->out + drop, r->outlen - drop);
	r->outlen -= drop;
	r->base += drop;
}

json_t *
ctl_runs_for_runner(const char *runner)
{
	json_t *a = json_array();

	pthread_mutex_lock(&runs_mu);
	run_expire();
	for (size_t i = 0; i < nruns; i++)
		if (run_active(runs[i]) && strcmp(runs[i]->runner, runner) == 0)
			json_array_append(a, runs[i]->spec);
	pthread_mutex_unlock(&runs_mu);
	return a;
}

/*
 * Queue a one-off of release rel ({version, image, digest}) of app on
 * runner, as who, with command and env: id and *index are the run's.
 * ERR_CONFLICT when too many run at once.
 */
int
ctl_run_start(char id[33], unsigned *index, const char *app,
    const char *runner, const char *who, json_t *rel, const char *command,
    json_t *env)
{
	unsigned char rnd[16];
	struct ctl_run *r;
	size_t active = 0;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return err_set(ERR_IO, "no random bytes");
	r = xcalloc(1, sizeof(*r));
	digest_hex(r->id, rnd, sizeof(rnd));
	snprintf(r->app, sizeof(r->app), "%s", app);
	snprintf(r->runner, sizeof(r->runner), "%s", runner ? runner : "");
	r->by = xstrdup(who);
	r->exit_code = -1;
	r->created = r->updated = clock_mono();

	pthread_mutex_lock(&runs_mu);
	run_expire();
	for (size_t i = 0; i < nruns; i++)
		active += run_active(runs[i]);
	if (active >= RUNS_ACTIVE_MAX || nruns >= RUNS_MAX) {
		pthread_mutex_unlock(&runs_mu);
		run_free(r);
		return err_set(ERR_CONFLICT, "too many one-offs at once (%zu "
		    "running); try again when some have ended", active);
	}
	/* Numbers are not reused within a controller's life; seeded from
	 * the clock so a restarted controller does not reuse recent ones. */
	if (run_seq == 0)
		run_seq = (unsigned)(time(NULL) % 100000) * 10;
	r->index = ++run_seq;
	r->spec = json_pack("{sssssIsIsOsOsssO}", "id", r->id, "app", r->app,
	    "index", (json_int_t)r->index, "release",
	    json_integer_value(json_object_get(rel, "version")),
	    "image", json_object_get(rel, "image"),
	    "digest", json_object_get(rel, "digest"),
	    "command", command, "env", env ? env : json_object());
	runs = xrealloc(runs, (nruns + 1) * sizeof(*runs));
	runs[nruns++] = r;
	memcpy(id, r->id, 33);
	*index = r->index;
	pthread_mutex_unlock(&runs_mu);
	return 0;
}

int
ctl_run_status(const char *id, int *exit_code, char *error, size_t len)
{
	const struct ctl_run *r;
	int st = -1;

	*exit_code = -1;
	if (len)
		error[0] = '\0';
	pthread_mutex_lock(&runs_mu);
	run_expire();
	if ((r = run_find(NULL, id)) != NULL) {
		st = (int)r->state;
		*exit_code = r->exit_code;
		if (r->error && len)
			snprintf(error, len, "%s", r->error);
	}
	pthread_mutex_unlock(&runs_mu);
	return st;
}

void
ctl_runs_create(struct ctl_call *c)
{
	json_t *target = NULL, *rel, *runner, *cmdv;
	const char *rname;
	char id[33];
	unsigned index;
	int rc;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_need_body(c))
		return;
	cmdv = json_object_get(c->body, "command");
	if (!json_is_string(cmdv) || json_string_length(cmdv) == 0 ||
	    json_string_length(cmdv) > RUN_COMMAND_MAX ||
	    strlen(json_string_value(cmdv)) != json_string_length(cmdv)) {
		ctl_error(c, 422, "invalid", "'command' is a shell command "
		    "line of 1 to %d bytes without NUL", RUN_COMMAND_MAX);
		return;
	}
	if (!ctl_check(c, store_run_target(&target, c->st, c->seg[1],
	    ctl_live_after(c->ctl))))
		return;
	rel = json_object_get(target, "release");
	runner = json_object_get(target, "runner");
	rname = json_string_value(json_object_get(runner, "name"));
	rc = ctl_run_start(id, &index, c->seg[1], rname, c->actor.name, rel,
	    json_string_value(cmdv), json_object_get(rel, "config"));
	if (rc < 0) {
		json_decref(target);
		ctl_fail(c, rc);
		return;
	}
	log_info("%s starts a one-off of '%s' on runner '%s' (%s)",
	    c->actor.name, c->seg[1], rname, id);
	ctl_desired_changed(c->ctl);
	ctl_reply(c, 201, json_pack("{sssssOsssIss}", "id", id,
	    "app", c->seg[1], "release", json_object_get(rel, "version"),
	    "runner", rname, "index", (json_int_t)index,
	    "state", "pending"));
	json_decref(target);
}

/* The answer for r from offset on (runs_mu held). */
static json_t *
run_answer(const struct ctl_run *r, uint64_t offset)
{
	uint64_t from = offset < r->base ? r->base : offset;
	uint64_t end = r->base + r->outlen;
	size_t n, at;
	json_t *a;

	if (from > end)
		from = end;
	at = (size_t)(from - r->base);
	n = (size_t)(end - from);
	if (n > RUN_ANSWER_MAX) {
		n = RUN_ANSWER_MAX;
		/* end on a character boundary */
		while (n > 0 && ((unsigned char)r->out[at + n] & 0xc0) == 0x80)
			n--;
	}
	a = json_pack("{sssssssIsssIsIss?}", "id", r->id, "app", r->app,
	    "runner", r->runner, "index", (json_int_t)r->index,
	    "state", run_state_names[r->state],
	    "offset", (json_int_t)(from + n),
	    "skipped", (json_int_t)(from - (offset < from ? offset : from)),
	    "error", r->error);
	json_object_set_new(a, "release", json_deep_copy(json_object_get(
	    r->spec, "release")));
	json_object_set_new(a, "output", json_stringn(n ? r->out + at : "",
	    n));
	json_object_set_new(a, "exit_code", r->state == RUN_EXITED ?
	    json_integer(r->exit_code) : json_null());
	return a;
}

void
ctl_runs_get(struct ctl_call *c)
{
	const char *o = httpd_req_query(c->req, "offset");
	unsigned long long offset = 0;
	json_t *ans = NULL;
	double deadline;
	long wait;

	if (!ctl_app_read(c, c->seg[1]) || !ctl_wait_param(c, &wait))
		return;
	if (o) {
		if (parse_uint(&offset, o, 0, ~0ULL) < 0) {
			ctl_error(c, 422, "invalid", "offset is a byte count");
			return;
		}
	}
	deadline = clock_mono() + (double)wait;
	for (;;) {
		uint64_t gen = ctl_live_gen();
		struct ctl_run *r;
		bool more;

		pthread_mutex_lock(&runs_mu);
		if (run_expire())
			ctl_desired_changed(c->ctl);
		if ((r = run_find(c->seg[1], c->seg[3])) == NULL) {
			pthread_mutex_unlock(&runs_mu);
			ctl_error(c, 404, "not_found", "no one-off '%.40s' of "
			    "app '%s' (ended over %.0f minutes ago, or the "
			    "controller restarted)", c->seg[3], c->seg[1],
			    RUN_KEEP_SECS / 60);
			return;
		}
		more = r->base + r->outlen > offset || !run_active(r);
		json_decref(ans);
		ans = run_answer(r, offset);
		pthread_mutex_unlock(&runs_mu);
		if (more || !ctl_live_wait(c->ctl, gen, deadline))
			break;
	}
	ctl_reply(c, 200, ans);
}

void
ctl_runner_run_update(struct ctl_call *c)
{
	const char *state, *error;
	json_t *out, *code;
	struct ctl_run *r;
	bool bad = false, ended = false;

	if (!ctl_need_runner(c) || !ctl_need_body(c))
		return;
	state = ctl_body_str(c, "state", &bad);
	error = bad ? NULL : ctl_body_str(c, "error", &bad);
	if (bad)
		return;
	out = json_object_get(c->body, "output");
	code = json_object_get(c->body, "exit_code");
	if ((out && !json_is_string(out) && !json_is_null(out)) ||
	    (code && !json_is_integer(code) && !json_is_null(code))) {
		ctl_error(c, 422, "invalid", "'output' is a string and "
		    "'exit_code' an integer");
		return;
	}
	if (state == NULL || (strcmp(state, "running") &&
	    strcmp(state, "exited") && strcmp(state, "failed"))) {
		ctl_error(c, 422, "invalid", "'state' is running, exited or "
		    "failed");
		return;
	}
	if (strcmp(state, "exited") == 0 && !json_is_integer(code)) {
		ctl_error(c, 422, "invalid", "an exited one-off needs its "
		    "'exit_code'");
		return;
	}
	pthread_mutex_lock(&runs_mu);
	r = run_find(NULL, c->seg[2]);
	if (r == NULL || strcmp(r->runner, c->actor.name) != 0) {
		pthread_mutex_unlock(&runs_mu);
		ctl_error(c, 404, "not_found", "no one-off '%.40s' for this "
		    "runner", c->seg[2]);
		return;
	}
	if (!run_active(r)) {
		pthread_mutex_unlock(&runs_mu);
		ctl_error(c, 409, "conflict", "one-off '%s' has ended (%s)",
		    r->id, run_state_names[r->state]);
		return;
	}
	if (json_is_string(out) && json_string_length(out) > 0) {
		size_t n = json_string_length(out);
		char *copy = xmalloc(n);
		/* JSON strings are UTF-8 already; "\u0000" is not text */
		memcpy(copy, json_string_value(out), n);
		utf8_sanitize(copy, n);
		run_output_add(r, copy, n);
		free(copy);
	}
	r->updated = clock_mono();
	if (strcmp(state, "running") == 0) {
		r->state = RUN_RUNNING;
	} else if (strcmp(state, "exited") == 0) {
		json_int_t v = json_integer_value(code);
		run_end(r, RUN_EXITED, v < -1 || v > 255 ? -1 : (int)v, NULL);
		ended = true;
	} else {
		run_end(r, RUN_FAILED, -1, error ? error : "the runner could "
		    "not run it");
		ended = true;
	}
	pthread_mutex_unlock(&runs_mu);
	ctl_live_notify();
	if (ended)
		ctl_desired_changed(c->ctl);
	ctl_reply(c, 200, json_pack("{ss}", "status", "ok"));
}
