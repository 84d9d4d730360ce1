/*
 * Retiring containers in the background.
 *
 * Once a release is live, its predecessors only have to drain (up to
 * --drain) and stop (SIGTERM, up to --grace, SIGKILL).  That is up to
 * 40 s by default in which the app's worker would otherwise take no new
 * target: a second push right after a first would wait it out.  So the
 * worker hands them to a retirer thread and goes on.
 *
 * What keeps that correct:
 *   - The containers are marked retiring in the runner's core first
 *     (runner_container_retire: not restarted when they exit, and the
 *     state file says so), and their ids go into rd->retiring.  A plan
 *     (runner_plan_make) skips every id in rd->retiring: it is not old (not
 *     retired twice), fills no slot and so is never routed.  A retiring
 *     container a previous runner left (not in rd->retiring) is handed to
 *     a retirer again, never adopted into a slot.
 *   - They stay in the core's table until destroyed, so their ports are
 *     not given to new containers, and their state files name their image,
 *     so image gc keeps it; the retirer collects images once they are gone.
 *   - The runner stopping: a retirer that has not started stopping its
 *     containers leaves them; one waiting out a grace gives up (the core's
 *     cancel).  Either way they are marked retiring, still running or not,
 *     and the next runner finishes the job.  Nothing waits a grace to let
 *     the runner stop.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/log.h"

struct runner_retire {
	struct runner_daemon *rd;
	char *app;
	char **ids;
	unsigned *ports;
	size_t n;
};

bool
runner_retiring_has(struct runner_daemon *rd, const char *id)
{
	bool has = false;

	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < rd->nretiring && !has; i++)
		has = strcmp(rd->retiring[i], id) == 0;
	pthread_mutex_unlock(&rd->mu);
	return has;
}

/* With rd->mu held. */
static void
runner_retiring_drop(struct runner_daemon *rd, const char *id)
{
	for (size_t i = 0; i < rd->nretiring; i++) {
		if (strcmp(rd->retiring[i], id) == 0) {
			free(rd->retiring[i]);
			rd->retiring[i] = rd->retiring[--rd->nretiring];
			return;
		}
	}
}

static void
runner_retire_free(struct runner_retire *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->ids[i]);
	free(x->ids);
	free(x->ports);
	free(x->app);
	free(x);
}

/* Drain, stop, destroy; then the ids are free and images collected. */
static void
runner_retire_run(struct runner_retire *x)
{
	struct runner_daemon *rd = x->rd;
	double t0 = clock_mono();

	if (!rd->stopping)
		runner_drain(rd, x->ports, x->n);
	if (!rd->stopping)
		runner_stop_many(rd, x->ids, x->n);
	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < x->n; i++)
		runner_retiring_drop(rd, x->ids[i]);
	pthread_mutex_unlock(&rd->mu);
	if (rd->stopping) {
		log_info("%s: the runner stops; %zu retiring container%s left "
		    "for the next one", x->app, x->n, x->n == 1 ? "" : "s");
	} else {
		log_info("%s: retired %zu container%s in %.1fs", x->app, x->n,
		    x->n == 1 ? "" : "s", clock_mono() - t0);
		runner_daemon_images_gc(rd);
	}
	runner_dirty(rd);
}

static void *
runner_retirer(void *arg)
{
	struct runner_retire *x = arg;
	struct runner_daemon *rd = x->rd;

	runner_retire_run(x);
	runner_retire_free(x);
	runner_thread_done(rd);
	return NULL;
}

void
runner_retire_async(struct runner_daemon *rd, const char *app, char *const *ids,
    const unsigned *ports, size_t n)
{
	struct runner_retire *x;
	int rc;

	if (n == 0)
		return;
	x = xcalloc(1, sizeof(*x));
	x->rd = rd;
	x->app = xstrdup(app);
	x->ids = xcalloc(n, sizeof(*x->ids));
	x->ports = xcalloc(n, sizeof(*x->ports));
	x->n = n;
	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < n; i++) {
		x->ids[i] = xstrdup(ids[i]);
		x->ports[i] = ports ? ports[i] : 0;
		rd->retiring = xrealloc(rd->retiring, (rd->nretiring + 1) *
		    sizeof(*rd->retiring));
		rd->retiring[rd->nretiring++] = xstrdup(ids[i]);
	}
	pthread_mutex_unlock(&rd->mu);
	for (size_t i = 0; i < n; i++) {
		if (runner_container_retire(rd->r, ids[i]) < 0)
			log_warnx("%s: %s", app, err_last());
		runner_say(rd, app, "retiring %s", ids[i]);
	}
	/* The caller is a counted thread itself: the daemon cannot have
	 * stopped waiting for threads yet. */
	pthread_mutex_lock(&rd->mu);
	rc = rd->stopping ? ERR_CONFLICT : runner_thread_start(rd, runner_retirer, x);
	pthread_mutex_unlock(&rd->mu);
	if (rc < 0) {
		if (!rd->stopping)
			log_warnx("%s: %s; retiring in the worker", app,
			    err_last());
		/* stopping: left marked, as a retirer would leave them */
		runner_retire_run(x);
		runner_retire_free(x);
	}
	runner_dirty(rd);
}
