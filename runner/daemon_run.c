/*
 * One-off containers on the runner's side (`slipway run APP -- CMD`).
 *
 * The controller lists the one-offs a runner should run in its desired
 * state ("runs").  For each new one a thread makes sure the image is
 * there, starts a container of the release with the command (process
 * run.N, no restart, labelled with the run's id), and posts its output as
 * it comes and, once the process has ended, its exit code.  Output is
 * taken from the runner core's log hook: the lines of process run.N, in
 * order, without their time stamps.  The core copies a container's last
 * output into the log before it reports the container down, so the exit
 * code is posted after the last line.
 *
 * A daemon that restarts finds a one-off still running by its label and
 * carries on reporting it (output written while no daemon ran is shipped
 * from the log ring's copy only; the exit code of a process the daemon
 * did not start is unknown, -1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/log.h"
#include "slipway/utf8.h"

#define RUN_OUT_MAX (1u << 20)  /* output held while the controller lags */
#define RUN_TICK 0.25
#define RUN_KEEPALIVE 10.0      /* seconds between two "running" posts */

static void
runner_run_free(struct runner_run *run)
{
	json_decref(run->spec);
	free(run->id);
	free(run->app);
	buf_free(&run->out);
	free(run);
}

void
runner_runs_capture(struct runner_daemon *rd, const char *app,
    const char *text, size_t len)
{
	pthread_mutex_lock(&rd->runmu);
	for (size_t k = 0; k < rd->nruns; k++) {
		struct runner_run *run = rd->runs[k];
		size_t sl = strlen(run->source);

		if (run->done || strcmp(run->app, app) != 0)
			continue;
		/* lines "TS run.N: text" */
		for (size_t i = 0; i < len;) {
			const char *line = text + i;
			const char *nl = memchr(line, '\n', len - i);
			size_t n = nl ? (size_t)(nl - line) : len - i;
			const char *sp = memchr(line, ' ', n);

			if (sp && (size_t)(line + n - sp) > sl + 2 &&
			    memcmp(sp + 1, run->source, sl) == 0 &&
			    sp[1 + sl] == ':' && sp[2 + sl] == ' ') {
				const char *t = sp + 3 + sl;
				size_t tn = (size_t)(line + n - t);
				if (run->out.len + tn + 1 > RUN_OUT_MAX)
					run->dropped += tn + 1;
				else {
					buf_put(&run->out, t, tn);
					buf_putc(&run->out, '\n');
				}
			}
			i += n + 1;
		}
	}
	pthread_mutex_unlock(&rd->runmu);
}

/* Post an update; the output is taken from run->out and put back when
 * the post fails.  ERR_CONFLICT: the controller has ended it. */
static int
runner_run_post(struct runner_run *run, struct apiclient *api,
    const char *state, int exit_code, const char *error)
{
	struct runner_daemon *rd = run->rd;
	char *out, *path;
	size_t n, dropped;
	json_t *body;
	int rc;

	pthread_mutex_lock(&rd->runmu);
	out = buf_detach(&run->out, &n);
	dropped = run->dropped;
	run->dropped = 0;
	pthread_mutex_unlock(&rd->runmu);
	if (dropped) {
		char note[96];
		int k = snprintf(note, sizeof(note), "[slipway: %zu bytes of "
		    "output dropped]\n", dropped);
		out = xrealloc(out, n + (size_t)k + 1);
		memcpy(out + n, note, (size_t)k + 1);
		n += (size_t)k;
	}
	utf8_sanitize(out, n);
	body = json_pack("{ss}", "state", state);
	json_object_set_new(body, "output", json_stringn(out, n));
	if (strcmp(state, "exited") == 0)
		json_object_set_new(body, "exit_code", json_integer(exit_code));
	if (error)
		json_object_set_new(body, "error", json_string(error));
	path = xasprintf("/v1/runner/runs/%s", run->id);
	rc = apiclient_call(NULL, api, "POST", path, body);
	if (rc < 0 && rc != ERR_CONFLICT && rc != ERR_NOTFOUND) {
		/* keep the output for the next try, before what came since */
		pthread_mutex_lock(&rd->runmu);
		struct buf b;
		buf_init(&b, 0);
		buf_put(&b, out, n);
		buf_put(&b, run->out.ptr ? run->out.ptr : "", run->out.len);
		buf_free(&run->out);
		run->out = b;
		pthread_mutex_unlock(&rd->runmu);
	}
	json_decref(body);
	free(path);
	free(out);
	return rc;
}

/* The container of this run a previous daemon started, if any. */
static char *
runner_run_find(struct runner_run *run)
{
	struct runner_container_info *v = NULL;
	size_t n = 0;
	char *id = NULL;

	runner_container_list(&v, &n, run->rd->r);
	for (size_t i = 0; i < n; i++) {
		if (!id && v[i].no_restart && strcmp(v[i].label, run->id) == 0)
			id = xstrdup(v[i].id);
		runner_container_info_free(&v[i]);
	}
	free(v);
	return id;
}

static void *
runner_run_thread(void *arg)
{
	struct runner_run *run = arg;
	struct runner_daemon *rd = run->rd;
	struct apiclient *api = NULL;
	struct image_config *cfg = NULL;
	char **env = NULL, *id = NULL, rel[24], err[600];
	double last_post = 0;
	int rc;

	if (runner_api_open(&api, rd) < 0) {
		log_warnx("one-off %s: %s", run->id, err_last());
		goto out;
	}
	if ((id = runner_run_find(run)) == NULL) {
		if (runner_image_ensure(&cfg, rd, runner_json_str(run->spec, "image"),
		    runner_json_str(run->spec, "digest")) < 0) {
			snprintf(err, sizeof(err), "cannot get the image: %s",
			    err_last());
			runner_run_post(run, api, "failed", -1, err);
			goto out;
		}
		snprintf(rel, sizeof(rel), "v%" PRId64, runner_json_int(run->spec,
		    "release", 0));
		env = runner_env_from_json(json_object_get(run->spec, "env"));
		struct runner_container_spec spec = {
			.app = run->app, .release = rel, .process_type = "run",
			.index = run->index,
			.command = runner_json_str(run->spec, "command"),
			.image = runner_json_str(run->spec, "digest"),
			.image_env = cfg->env, .env = env,
			.user = cfg->user && cfg->user[0] ? cfg->user : NULL,
			.no_restart = true, .label = run->id,
		};
		if ((rc = runner_container_create(&id, rd->r, &spec)) < 0 ||
		    (rc = runner_container_start(rd->r, id)) < 0) {
			snprintf(err, sizeof(err), "cannot start it: %s",
			    err_last());
			runner_run_post(run, api, "failed", -1, err);
			if (id)
				runner_container_destroy(rd->r, id);
			goto out;
		}
		runner_say(rd, run->app, "one-off run.%u started: %s", run->index,
		    runner_json_str(run->spec, "command"));
	}
	runner_run_post(run, api, "running", 0, NULL);
	last_post = clock_mono();
	for (;;) {
		struct runner_container_info info;
		bool ended, has_out;

		runner_sleep(rd, RUN_TICK);
		if (rd->stopping)
			goto out;       /* the next daemon takes it up */
		if (runner_container_get(&info, rd->r, id) < 0) {
			runner_run_post(run, api, "failed", -1, "its container "
			    "disappeared");
			goto out;
		}
		ended = info.state == RUNNER_STATE_DOWN ||
		    info.state == RUNNER_STATE_DESTROYED;
		pthread_mutex_lock(&rd->runmu);
		has_out = run->out.len > 0 || run->dropped > 0;
		pthread_mutex_unlock(&rd->runmu);
		if (ended || has_out ||
		    clock_mono() - last_post >= RUN_KEEPALIVE) {
			rc = runner_run_post(run, api, ended ? "exited" : "running",
			    info.exit_code, NULL);
			if (rc == 0)
				last_post = clock_mono();
			if (rc == ERR_CONFLICT || rc == ERR_NOTFOUND) {
				/* the controller gave up on it */
				runner_container_info_free(&info);
				break;
			}
			if (ended && rc == 0) {
				runner_say(rd, run->app, "one-off run.%u exited "
				    "with status %d", run->index,
				    info.exit_code);
				runner_container_info_free(&info);
				break;
			}
		}
		runner_container_info_free(&info);
	}
	runner_container_destroy(rd->r, id);
out:
	pthread_mutex_lock(&rd->runmu);
	run->done = true;
	run->thread = false;
	pthread_mutex_unlock(&rd->runmu);
	image_config_free(cfg);
	runner_strv_free(env);
	free(id);
	apiclient_free(api);
	runner_thread_done(rd);
	return NULL;
}

void
runner_runs_dispatch(struct runner_daemon *rd, json_t *runs)
{
	struct runner_run **start = xcalloc(json_array_size(runs) + 1,
	    sizeof(*start));
	size_t nstart = 0, i;
	json_t *x;

	pthread_mutex_lock(&rd->runmu);
	/* forget the ended ones the controller no longer lists */
	for (size_t k = 0; k < rd->nruns;) {
		struct runner_run *run = rd->runs[k];
		bool listed = false;
		json_array_foreach(runs, i, x)
			listed = listed || (runner_json_str(x, "id") &&
			    strcmp(runner_json_str(x, "id"), run->id) == 0);
		if (!listed && run->done && !run->thread) {
			runner_run_free(run);
			rd->runs[k] = rd->runs[--rd->nruns];
			continue;
		}
		k++;
	}
	json_array_foreach(runs, i, x) {
		const char *id = runner_json_str(x, "id");
		const char *app = runner_json_str(x, "app");
		int64_t index = runner_json_int(x, "index", 0);
		bool known = false;

		if (!id || !app || strlen(id) > 64 || index < 1 ||
		    index > 0x7fffffff || !runner_json_str(x, "command") ||
		    !runner_json_str(x, "digest") || !runner_json_str(x, "image"))
			continue;
		for (size_t k = 0; k < rd->nruns && !known; k++)
			known = strcmp(rd->runs[k]->id, id) == 0;
		if (known)
			continue;
		struct runner_run *run = xcalloc(1, sizeof(*run));
		run->rd = rd;
		run->id = xstrdup(id);
		run->app = xstrdup(app);
		run->index = (unsigned)index;
		snprintf(run->source, sizeof(run->source), "run.%u",
		    run->index);
		run->spec = json_incref(x);
		buf_init(&run->out, RUN_OUT_MAX * 2);
		run->thread = true;
		rd->runs = xrealloc(rd->runs, (rd->nruns + 1) *
		    sizeof(*rd->runs));
		rd->runs[rd->nruns++] = run;
		start[nstart++] = run;
	}
	pthread_mutex_unlock(&rd->runmu);
	pthread_mutex_lock(&rd->mu);
	for (i = 0; i < nstart; i++) {
		if (rd->stopping || runner_thread_start(rd, runner_run_thread,
		    start[i]) < 0) {
			pthread_mutex_lock(&rd->runmu);
			start[i]->thread = false;
			start[i]->done = true;
			pthread_mutex_unlock(&rd->runmu);
		}
	}
	pthread_mutex_unlock(&rd->mu);
	free(start);
}
