/*
 * The steps a rollout is made of (runner/rollout.c puts them in order):
 * starting a container of a slot, waiting until it is healthy (and the
 * one listening on its port), routing the web slots in one proxy swap,
 * draining backends, stopping containers in parallel, and recording the
 * app's outcome for the status reports.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/log.h"
#include "slipway/proxy.h"

/* ---- helpers --------------------------------------------------- */

bool
runner_cut(struct runner_plan *p)
{
	return p->rd->stopping || p->a->abort;
}

bool
runner_verified_has(struct runner_daemon *rd, const char *id)
{
	bool has = false;

	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < rd->nverified && !has; i++)
		has = strcmp(rd->verified[i], id) == 0;
	pthread_mutex_unlock(&rd->mu);
	return has;
}

void
runner_verified_set(struct runner_daemon *rd, const char *id, bool on)
{
	pthread_mutex_lock(&rd->mu);
	for (size_t i = 0; i < rd->nverified; i++) {
		if (strcmp(rd->verified[i], id) == 0) {
			if (!on) {
				free(rd->verified[i]);
				rd->verified[i] = rd->verified[--rd->nverified];
			}
			pthread_mutex_unlock(&rd->mu);
			return;
		}
	}
	if (on) {
		rd->verified = xrealloc(rd->verified, (rd->nverified + 1) *
		    sizeof(*rd->verified));
		rd->verified[rd->nverified++] = xstrdup(id);
	}
	pthread_mutex_unlock(&rd->mu);
}

static char *
runner_backend(unsigned port)
{
	return xasprintf("127.0.0.1:%u", port);
}

/* The proxy's domain, asked once. */
static char *
runner_domain(struct runner_daemon *rd)
{
	char *text = NULL, *d = NULL;
	json_t *j;

	pthread_mutex_lock(&rd->mu);
	if (rd->domain)
		d = xstrdup(rd->domain);
	pthread_mutex_unlock(&rd->mu);
	if (d || proxy_ctl_routes(&text, rd->o.proxy_ctl) < 0)
		return d;
	if ((j = json_loads(text, 0, NULL)) != NULL &&
	    json_is_string(json_object_get(j, "domain")))
		d = xstrdup(runner_json_str(j, "domain"));
	json_decref(j);
	free(text);
	if (d) {
		pthread_mutex_lock(&rd->mu);
		if (rd->domain == NULL)
			rd->domain = xstrdup(d);
		pthread_mutex_unlock(&rd->mu);
	}
	return d;
}

char *
runner_app_url(struct runner_daemon *rd, const char *app)
{
	char *d = runner_domain(rd), *u;

	if (d == NULL)
		return NULL;
	u = rd->o.proxy_port == 80 ? xasprintf("http://%s.%s/", app, d) :
	    xasprintf("http://%s.%s:%u/", app, d, rd->o.proxy_port);
	free(d);
	return u;
}

void
runner_outcome(struct runner_daemon *rd, struct runner_app *a, int64_t release,
    const char *restart, const char *state, const char *reason,
    const char *url)
{
	bool changed;

	pthread_mutex_lock(&rd->rmu);
	changed = a->release != release || a->state == NULL ||
	    strcmp(a->state, state) != 0 || strcmp(a->restart, restart);
	a->release = release;
	free(a->restart);
	a->restart = xstrdup(restart ? restart : "");
	a->state = state;
	free(a->reason);
	a->reason = reason ? xstrdup(reason) : NULL;
	free(a->url);
	a->url = url ? xstrdup(url) : NULL;
	a->at = (double)time(NULL);
	rd->dirty = true;
	pthread_cond_broadcast(&rd->rcv);
	pthread_mutex_unlock(&rd->rmu);
	if (!changed || release == 0)
		return;
	if (strcmp(state, "live") == 0)
		runner_say(rd, a->name, "v%" PRId64 " is live%s%s", release,
		    url ? " at " : "", url ? url : "");
	else if (strcmp(state, "failed") == 0)
		runner_say(rd, a->name, "v%" PRId64 " failed: %s", release,
		    reason ? reason : "");
}

/* ---- containers ------------------------------------------------------ */

int
runner_slot_start(struct runner_plan *p, struct runner_slot *s)
{
	struct runner_container_info info;
	char rel[24];
	int rc;

	snprintf(rel, sizeof(rel), "v%" PRId64, p->release);
	struct runner_container_spec spec = {
		.app = p->a->name, .release = rel, .process_type = s->type,
		.index = s->index,
		.command = runner_json_str(s->e, "command"),
		.image = p->digest,
		.image_env = p->cfg ? p->cfg->env : NULL,
		.env = p->env,
		.user = p->cfg && p->cfg->user && p->cfg->user[0] ?
		    p->cfg->user : NULL,
		.label = s->rolls ? p->restart : "",
	};
	if ((rc = runner_container_create(&s->nid, p->rd->r, &spec)) < 0)
		return err_wrap(rc, "%s.%u", s->type, s->index);
	if ((rc = runner_container_start(p->rd->r, s->nid)) < 0) {
		err_wrap(rc, "%s.%u", s->type, s->index);
		runner_container_destroy(p->rd->r, s->nid);
		free(s->nid);
		s->nid = NULL;
		return rc;
	}
	if (runner_container_get(&info, p->rd->r, s->nid) == 0) {
		s->nport = info.port;
		runner_container_info_free(&info);
	}
	return 0;
}

/* Stop and destroy containers, all at once (each waits its grace). */
struct runner_stop_arg {
	struct runner_daemon *rd;
	char *id;
	pthread_t t;
	bool started;
};

static void *
runner_stop_one(void *arg)
{
	struct runner_stop_arg *s = arg;

	/* cut short when the runner stops: left for the next one */
	if (runner_container_stop(s->rd->r, s->id, s->rd->o.grace) < 0)
		return NULL;
	if (runner_container_destroy(s->rd->r, s->id) < 0)
		log_warnx("cannot destroy %s: %s", s->id, err_last());
	runner_verified_set(s->rd, s->id, false);
	return NULL;
}

void
runner_stop_many(struct runner_daemon *rd, char **ids, size_t n)
{
	struct runner_stop_arg *v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		v[i].rd = rd;
		v[i].id = ids[i];
		v[i].started = pthread_create(&v[i].t, NULL, runner_stop_one,
		    &v[i]) == 0;
		if (!v[i].started)
			runner_stop_one(&v[i]);
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].started)
			pthread_join(v[i].t, NULL);
	free(v);
}

/* Stop the new containers of a failed or cut attempt.  Failed: before
 * the failure is reported, so it reports a clean state.  Cut (a newer
 * target, or the runner stopping): in the background, so the newer
 * target does not wait for them; they were never routed. */
void
runner_drop_new(struct runner_plan *p)
{
	char **ids = xcalloc(p->nslots + 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; i < p->nslots; i++)
		if (p->slots[i].nid)
			ids[n++] = p->slots[i].nid;
	if (runner_cut(p))
		runner_retire_async(p->rd, p->a->name, ids, NULL, n);
	else
		runner_stop_many(p->rd, ids, n);
	for (size_t i = 0; i < p->nslots; i++) {
		free(p->slots[i].nid);
		p->slots[i].nid = NULL;
	}
	free(ids);
}

/* Wait until backends have no request in flight, or --drain passes, or
 * the runner stops.  A proxy that cannot say is not waited for. */
void
runner_drain(struct runner_daemon *rd, const unsigned *ports, size_t n)
{
	double end = clock_mono() + rd->o.drain;
	bool *done = xcalloc(n + 1, sizeof(*done));

	for (;;) {
		bool all = true;
		for (size_t i = 0; i < n; i++) {
			unsigned inflight = 0;
			char *b;
			if (done[i] || ports[i] == 0) {
				done[i] = true;
				continue;
			}
			b = runner_backend(ports[i]);
			if (proxy_ctl_drain(&inflight, NULL, rd->o.proxy_ctl,
			    b) < 0 || inflight == 0)
				done[i] = true;
			else
				all = false;
			free(b);
		}
		if (all || rd->stopping)
			break;
		if (clock_mono() >= end) {
			log_warnx("backends still busy after %gs of draining; "
			    "stopping them anyway", rd->o.drain);
			break;
		}
		usleep(50000);
	}
	free(done);
}

struct runner_alive_ctx {
	struct runner_plan *p;
	const char *id;
};

static bool
runner_alive(void *ctx, char *why, size_t len)
{
	struct runner_alive_ctx *a = ctx;
	struct runner_container_info i;
	bool ok = true;

	if (a->p->rd->stopping) {
		snprintf(why, len, "the runner is stopping");
		return false;
	}
	if (a->p->a->abort) {
		snprintf(why, len, "a newer target arrived");
		return false;
	}
	if (runner_container_get(&i, a->p->rd->r, a->id) < 0) {
		snprintf(why, len, "the container is gone");
		return false;
	}
	/* down between restarts is alive; a crash loop is not */
	if (!i.want_up || i.restarts >= RUNNER_CRASH_STREAK) {
		char last[300] = "";
		runner_container_last_line(last, sizeof(last), a->p->rd->r,
		    a->id);
		snprintf(why, len, "the process keeps exiting (last status "
		    "%d, %u restarts)%s%s", i.exit_code, i.restarts,
		    last[0] ? "; its last output: " : "", last);
		ok = false;
	}
	runner_container_info_free(&i);
	return ok;
}

/* Wait until container id (port) answers its health check.  An answer
 * counts only when the container itself listens on the port: a port found
 * free can be taken by another program before the app binds it, and its
 * answers must not make a broken release live. */
int
runner_healthy(struct runner_plan *p, const char *id, unsigned port,
    const char *proc)
{
	struct runner_alive_ctx ac = { p, id };
	struct runner_health_opts ho = p->health;
	double end = clock_mono() + p->health.deadline_sec;
	bool other = false;
	double gap = 0.05;
	enum runner_port_owner own;
	char answer[512];
	int rc;

	ho.port = port;
	ho.alive = runner_alive;
	ho.ctx = &ac;
	for (;;) {
		ho.deadline_sec = end - clock_mono();
		rc = ho.deadline_sec <= 0 ? ERR_TIMEOUT :
		    runner_health_wait(&ho, answer, sizeof(answer));
		if (rc < 0 && other && rc == ERR_TIMEOUT) {
			snprintf(p->reason, sizeof(p->reason), "%s never "
			    "became healthy in %gs: port %u answers, but "
			    "another process listens on it", proc,
			    p->health.deadline_sec, port);
			return rc;
		}
		if (rc < 0) {
			snprintf(p->reason, sizeof(p->reason), "%s %s", proc,
			    ho.deadline_sec <= 0 ? "never became healthy" :
			    err_last());
			return rc;
		}
		if (runner_container_port_owner(&own, p->rd->r, id,
		    port) < 0) {
			snprintf(p->reason, sizeof(p->reason), "%s never "
			    "became healthy: the container is gone", proc);
			return ERR_NOTFOUND;
		}
		if (own == RUNNER_PORT_OURS)
			break;
		other = other || own == RUNNER_PORT_OTHER;
		/* not ours (yet): wait, as between two tries (50 ms doubling
		 * up to the interval, as runner_health_wait does) */
		for (double t = 0; t < gap && !runner_cut(p); t += 0.05)
			usleep(50000);
		gap = gap * 2 < ho.interval_sec ? gap * 2 : ho.interval_sec;
	}
	runner_verified_set(p->rd, id, true);
	return 0;
}

/* Route the app to the backends on ports[0..n) (0s skipped) and its
 * domains. */
static int
runner_route_ports(struct runner_plan *p, const unsigned *ports, size_t n)
{
	const char **b = xcalloc(n + 1, sizeof(*b));
	const char **d = xcalloc(json_array_size(p->domains) + 1, sizeof(*d));
	char **own = xcalloc(n + 1, sizeof(*own));
	size_t nb = 0, nd = 0, i;
	json_t *x;
	int rc;

	for (i = 0; i < n; i++) {
		if (ports[i] == 0)
			continue;
		own[nb] = runner_backend(ports[i]);
		b[nb] = own[nb];
		nb++;
	}
	json_array_foreach(p->domains, i, x)
		if (json_is_string(x))
			d[nd++] = json_string_value(x);
	rc = proxy_ctl_route_set(p->rd->o.proxy_ctl, p->a->name, b, nb, d, nd);
	if (rc < 0)
		snprintf(p->reason, sizeof(p->reason), "cannot route %s in the "
		    "proxy (%s): %s", p->a->name, p->rd->o.proxy_ctl,
		    err_last());
	for (i = 0; i < nb; i++)
		free(own[i]);
	free(own);
	free(b);
	free(d);
	return rc;
}

/* Route the web slots: the new container where there is one. */
int
runner_route(struct runner_plan *p)
{
	unsigned *ports = xcalloc(p->nslots + 1, sizeof(*ports));
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		if (strcmp(s->type, "web") == 0)
			ports[n++] = s->nid ? s->nport : s->cur ? s->cur_port : 0;
	}
	rc = runner_route_ports(p, ports, n);
	free(ports);
	return rc;
}

int
runner_route_old(struct runner_plan *p)
{
	unsigned *ports = xcalloc(p->nold + 1, sizeof(*ports));
	size_t n = 0;
	char keep[REASON_MAX];
	int rc;

	for (size_t i = 0; i < p->nold; i++)
		if (strcmp(p->old[i].type, "web") == 0 &&
		    p->old[i].release != p->release)
			ports[n++] = p->old[i].port;
	memcpy(keep, p->reason, sizeof(keep));
	if ((rc = runner_route_ports(p, ports, n)) < 0)
		log_warnx("%s: %s", p->a->name, p->reason);
	memcpy(p->reason, keep, sizeof(keep));
	free(ports);
	return rc;
}

/* Restarts a process may have in a deploy's settle window: one exit may be
 * bad luck, two are a crash loop. */
#define RUNNER_SETTLE_EXITS 2

int
runner_settle(struct runner_plan *p)
{
	double end = clock_mono() + p->settle_sec;
	bool any = false;

	for (size_t i = 0; i < p->nslots; i++)
		any = any || (p->slots[i].fresh && p->slots[i].cur);
	if (!any || p->settle_sec <= 0)
		return 0;
	for (;;) {
		for (size_t i = 0; i < p->nslots; i++) {
			struct runner_slot *s = &p->slots[i];
			struct runner_container_info ci;
			char last[300] = "";
			bool bad;

			if (!s->fresh || s->cur == NULL ||
			    runner_container_get(&ci, p->rd->r, s->cur) < 0)
				continue;
			bad = ci.restarts >= RUNNER_SETTLE_EXITS ||
			    (!ci.want_up && ci.state != RUNNER_STATE_UP);
			if (bad) {
				runner_container_last_line(last, sizeof(last),
				    p->rd->r, s->cur);
				snprintf(p->reason, sizeof(p->reason), "%s.%u "
				    "keeps crashing right after the deploy: it "
				    "exited %u times in %gs (last status %d)%s%s",
				    s->type, s->index, ci.restarts,
				    p->settle_sec, ci.exit_code, last[0] ?
				    "; its last output: " : "", last);
			}
			runner_container_info_free(&ci);
			if (bad)
				return ERR_INVALID;
		}
		if (runner_cut(p))
			return ERR_CONFLICT;
		if (clock_mono() >= end)
			return 0;
		usleep(100000);
	}
}

