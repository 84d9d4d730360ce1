/*
 * Reconciling one app on this runner with what the controller wants, and
 * the zero-downtime rollout that takes it there.
 *
 * The desired state lists slots (type, index) of one release R, each
 * with a restart token.  A container fills a slot when it runs release R
 * as that process; it is stale when the restart applies to its type and
 * it does not carry the token as its label.  Everything else of the app
 * is old.  Then, in this order:
 *
 *   1. web, a new release (old containers of another release exist, or
 *      none run): start a new container for every slot at once, beside
 *      the old ones; wait until each is healthy (HTTP GET on its PORT);
 *      swap the proxy's route to the new set in one step; the old ones
 *      are retired (below).  If one never becomes healthy: stop the new
 *      ones, leave the route and the old ones alone, report the release
 *      failed with the health check's last answer.
 *   2. web, same release: fill missing slots as above (a scale up), and
 *      roll stale ones one at a time (a restart): new one healthy, route
 *      with it instead of the old one, retire the old one.
 *   3. the other types, once web is live: start what is missing, replace
 *      what is stale (new one first, the old one retired), no health
 *      check.
 *   4. report the release live, then retire the old ones and take the
 *      next target.  Retiring (runner/rollout_retire.c) happens in the
 *      background: drain the old web backends (the proxy says when no
 *      request is in flight, up to --drain seconds), then SIGTERM,
 *      --grace seconds, SIGKILL, destroy.  A retiring container is
 *      never planned again.
 *
 * A release that failed here is not retried until the target changes (a
 * new release, or a restart token: `ps:restart` retries it).
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
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/log.h"
#include "slipway/proxy.h"

/* "web.1" -> type and index. */
static bool
runner_process_split(char *type, size_t tlen, unsigned *index, const char *proc)
{
	const char *dot = strrchr(proc, '.');
	char *end;
	unsigned long v;

	if (dot == NULL || (size_t)(dot - proc) >= tlen)
		return false;
	errno = 0;
	v = strtoul(dot + 1, &end, 10);
	if (errno || *end || v == 0 || v > 100000)
		return false;
	memcpy(type, proc, (size_t)(dot - proc));
	type[dot - proc] = '\0';
	*index = (unsigned)v;
	return true;
}

/* ---- the plan -------------------------------------------------------- */

static void
runner_plan_free(struct runner_plan *p)
{
	for (size_t i = 0; i < p->nslots; i++) {
		free(p->slots[i].cur);
		free(p->slots[i].nid);
	}
	free(p->slots);
	for (size_t i = 0; i < p->nold; i++) {
		free(p->old[i].id);
		free(p->old[i].type);
	}
	free(p->old);
	runner_strv_free(p->env);
	image_config_free(p->cfg);
	free(p->health_path);
}

static void
runner_old_add(struct runner_plan *p, const char *id, const char *type,
    unsigned port, int64_t release)
{
	p->old = xrealloc(p->old, (p->nold + 1) * sizeof(*p->old));
	p->old[p->nold++] = (struct runner_old){ xstrdup(id), xstrdup(type),
	    port, release };
}

/* Health check settings: the release's config (SLIPWAY_HEALTHCHECK_PATH,
 * _DEADLINE) wins over the image's label (slipway.yml's healthcheck as
 * the builder wrote it: a path, or {"path","interval","timeout",
 * "deadline"}), which wins over the runner's options. */
static void
runner_plan_health(struct runner_plan *p, json_t *env)
{
	const char *label = p->cfg ? image_config_label(p->cfg,
	    IMAGE_LABEL_HEALTHCHECK) : NULL;
	const char *path = NULL, *dl;
	json_t *lj = NULL;

	p->health.interval_sec = p->rd->o.health_interval;
	p->health.timeout_sec = p->rd->o.health_timeout;
	p->health.deadline_sec = p->rd->o.health_deadline;
	if (label && label[0] == '/') {
		path = label;
	} else if (label && (lj = json_loads(label, 0, NULL)) != NULL) {
		json_t *v;
		path = runner_json_str(lj, "path");
		if (json_is_number(v = json_object_get(lj, "interval")) &&
		    json_number_value(v) > 0)
			p->health.interval_sec = json_number_value(v);
		if (json_is_number(v = json_object_get(lj, "timeout")) &&
		    json_number_value(v) > 0)
			p->health.timeout_sec = json_number_value(v);
		if (json_is_number(v = json_object_get(lj, "deadline")) &&
		    json_number_value(v) > 0)
			p->health.deadline_sec = json_number_value(v);
	}
	if (runner_json_str(env, "SLIPWAY_HEALTHCHECK_PATH"))
		path = runner_json_str(env, "SLIPWAY_HEALTHCHECK_PATH");
	if ((dl = runner_json_str(env, "SLIPWAY_HEALTHCHECK_DEADLINE")) != NULL &&
	    atof(dl) > 0 && atof(dl) <= 3600)
		p->health.deadline_sec = atof(dl);
	/* SLIPWAY_SETTLE: seconds a deploy watches its new processes for a
	 * crash loop (0 to 600; 0: not at all). */
	p->settle_sec = RUNNER_SETTLE_SEC;
	if ((dl = runner_json_str(env, "SLIPWAY_SETTLE")) != NULL &&
	    strspn(dl, "0123456789.") == strlen(dl) && dl[0] &&
	    atof(dl) >= 0 && atof(dl) <= 600)
		p->settle_sec = atof(dl);
	p->health_path = xstrdup(path && path[0] == '/' ? path : "/");
	p->health.path = p->health_path;
	json_decref(lj);
}

/* Match the app's containers to the slots. */
static int
runner_plan_make(struct runner_plan *p, json_t *want)
{
	struct runner_container_info *v = NULL;
	json_t *e0 = json_array_get(want, 0), *x;
	char **gone = NULL;
	size_t n = 0, ngone = 0, i;

	p->release = runner_json_int(e0, "release", 0);
	p->digest = runner_json_str(e0, "digest");
	p->image = runner_json_str(e0, "image");
	p->restart = runner_json_str(e0, "restart") ? runner_json_str(e0, "restart") :
	    "";
	p->restart_type = runner_json_str(e0, "restart_type");
	p->domains = json_object_get(e0, "domains");
	p->slots = xcalloc(json_array_size(want) + 1, sizeof(*p->slots));
	json_array_foreach(want, i, x) {
		struct runner_slot *s = &p->slots[p->nslots];
		const char *type = runner_json_str(x, "type");
		int64_t idx = runner_json_int(x, "index", 0);

		if (type == NULL || idx < 1 || idx > 100000 ||
		    runner_json_int(x, "release", 0) != p->release)
			return err_set(ERR_INVALID, "malformed desired entry "
			    "%zu", i);
		s->e = x;
		s->type = type;
		s->index = (unsigned)idx;
		s->rolls = p->restart[0] && (p->restart_type == NULL ||
		    strcmp(p->restart_type, type) == 0);
		p->nslots++;
	}
	runner_container_list(&v, &n, p->rd->r);
	/* Two passes: a slot prefers a container that is not stale. */
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			char type[64];
			unsigned idx;
			int64_t rel;

			/* a retiring one is never used again (!want_up) */
			if (v[i].id == NULL || strcmp(v[i].app, p->a->name) ||
			    v[i].no_restart || !v[i].want_up ||
			    v[i].retiring)
				continue;
			rel = v[i].release[0] == 'v' ?
			    strtoll(v[i].release + 1, NULL, 10) : 0;
			if (!runner_process_split(type, sizeof(type), &idx,
			    v[i].process) || rel != p->release)
				continue;
			for (size_t k = 0; k < p->nslots; k++) {
				struct runner_slot *s = &p->slots[k];
				bool stale = s->rolls &&
				    strcmp(v[i].label, p->restart) != 0;
				if (s->cur || s->index != idx ||
				    strcmp(s->type, type) != 0 ||
				    (pass == 0 && stale))
					continue;
				s->cur = xstrdup(v[i].id);
				s->cur_port = v[i].port;
				s->stale = stale;
				runner_container_info_free(&v[i]);
				break;
			}
		}
	}
	/* What is left is old; what a retirer has is not ours to plan;
	 * stopped leftovers are cleaned now, and running ones not wanted (a
	 * runner stopped while they were retiring or stopping) retired. */
	for (i = 0; i < n; i++) {
		char type[64];
		unsigned idx;

		if (v[i].id == NULL)
			continue;
		if (strcmp(v[i].app, p->a->name) == 0 && !v[i].no_restart &&
		    !runner_retiring_has(p->rd, v[i].id)) {
			if (!v[i].want_up && v[i].pid > 0) {
				gone = xrealloc(gone, (ngone + 1) *
				    sizeof(*gone));
				gone[ngone++] = xstrdup(v[i].id);
			} else if (!v[i].want_up) {
				runner_container_destroy(p->rd->r, v[i].id);
			} else if (runner_process_split(type, sizeof(type), &idx,
			    v[i].process)) {
				int64_t rel = strtoll(v[i].release + 1, NULL,
				    10);
				runner_old_add(p, v[i].id, type, v[i].port, rel);
				if (rel != p->release)
					p->deploy = true;
			}
		}
		runner_container_info_free(&v[i]);
	}
	free(v);
	/* routed out before they were marked: nothing to drain */
	runner_retire_async(p->rd, p->a->name, gone, NULL, ngone);
	for (i = 0; i < ngone; i++)
		free(gone[i]);
	free(gone);
	return 0;
}

/* ---- the phases ------------------------------------------------------ */

/* Retire the containers ids (routed out already; ports of the web ones
 * in ports, to drain) in the background. */
static void
runner_retire(struct runner_plan *p, char **ids, const unsigned *ports,
    size_t n)
{
	runner_retire_async(p->rd, p->a->name, ids, ports, n);
}

/* Web slots that a new container fills in one step; 0 or negative with
 * p->reason set. */
static int
runner_web_batch(struct runner_plan *p, bool *routed)
{
	bool any = false;
	int rc;

	*routed = false;
	/* Containers found running but not seen healthy by this daemon
	 * (it restarted) are checked before they are routed again. */
	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		char proc[64];
		if (strcmp(s->type, "web") || !s->cur ||
		    runner_verified_has(p->rd, s->cur))
			continue;
		snprintf(proc, sizeof(proc), "web.%u", s->index);
		if (runner_healthy(p, s->cur, s->cur_port, proc) < 0) {
			if (runner_cut(p))
				return ERR_CONFLICT;
			log_warnx("%s: %s; replacing it", p->a->name,
			    p->reason);
			runner_old_add(p, s->cur, "web", s->cur_port, p->release);
			free(s->cur);
			s->cur = NULL;
			s->stale = false;
		}
	}
	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		if (strcmp(s->type, "web") || (s->cur && !(s->stale &&
		    p->deploy)))
			continue;
		if (!any)
			runner_outcome(p->rd, p->a, p->release, p->restart,
			    "deploying", NULL, NULL);
		any = true;
		if ((rc = runner_slot_start(p, s)) < 0) {
			snprintf(p->reason, sizeof(p->reason), "%s",
			    err_last());
			goto fail;
		}
		runner_say(p->rd, p->a->name, "v%" PRId64 ": started web.%u on "
		    "port %u", p->release, s->index, s->nport);
	}
	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		char proc[64];
		if (s->nid == NULL)
			continue;
		snprintf(proc, sizeof(proc), "web.%u", s->index);
		if ((rc = runner_healthy(p, s->nid, s->nport, proc)) < 0)
			goto fail;
	}
	if (runner_cut(p)) {
		rc = ERR_CONFLICT;
		goto fail;
	}
	/* the swap: one atomic step in the proxy */
	if ((rc = runner_route(p)) < 0)
		goto fail;
	*routed = true;
	return 0;
fail:
	runner_drop_new(p);
	return rc;
}

/* After the swap: the new containers are the slots' own; the ones they
 * replace are retired later.  Moves replaced ones into p->old. */
static void
runner_slots_commit(struct runner_plan *p)
{
	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		if (s->nid == NULL)
			continue;
		if (s->cur)
			runner_old_add(p, s->cur, s->type, s->cur_port, p->release);
		free(s->cur);
		s->cur = s->nid;
		s->cur_port = s->nport;
		s->nid = NULL;
		s->stale = false;
		s->fresh = true;
	}
}

/* Roll the stale web slots one by one. */
static int
runner_web_roll(struct runner_plan *p)
{
	int rc;

	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		char proc[64], *old;
		unsigned oport;

		if (strcmp(s->type, "web") || !s->stale || runner_cut(p))
			continue;
		snprintf(proc, sizeof(proc), "web.%u", s->index);
		runner_outcome(p->rd, p->a, p->release, p->restart, "deploying",
		    NULL, NULL);
		if ((rc = runner_slot_start(p, s)) < 0) {
			snprintf(p->reason, sizeof(p->reason), "%s",
			    err_last());
			return rc;
		}
		if ((rc = runner_healthy(p, s->nid, s->nport, proc)) < 0 ||
		    (rc = runner_route(p)) < 0) {
			runner_drop_new(p);
			return rc;
		}
		runner_say(p->rd, p->a->name, "restarted %s (port %u)", proc,
		    s->nport);
		old = s->cur;
		oport = s->cur_port;
		s->cur = s->nid;
		s->cur_port = s->nport;
		s->nid = NULL;
		s->stale = false;
		runner_retire(p, &old, &oport, 1);
		free(old);
	}
	return 0;
}

/* The other types: start the missing, replace the stale. */
static int
runner_others(struct runner_plan *p)
{
	int rc;

	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		char *old;
		unsigned zero = 0;

		if (strcmp(s->type, "web") == 0 || (s->cur && !s->stale))
			continue;
		if ((rc = runner_slot_start(p, s)) < 0) {
			snprintf(p->reason, sizeof(p->reason), "%s",
			    err_last());
			return rc;
		}
		runner_say(p->rd, p->a->name, "v%" PRId64 ": started %s.%u",
		    p->release, s->type, s->index);
		old = s->cur;
		s->cur = s->nid;
		s->nid = NULL;
		s->fresh = true;
		/* a restart replaces them one at a time; a deploy stops the
		 * old release's all together after web is live */
		if (old && !p->deploy) {
			runner_retire(p, &old, &zero, 1);
			free(old);
		} else if (old) {
			runner_old_add(p, old, s->type, zero, p->release);
			free(old);
		}
		s->stale = false;
	}
	return 0;
}

/* A deploy failed in its settle window: the old release's web back in
 * the proxy (when the new one was routed), and the containers this
 * reconcile started stopped; the old ones were never retired. */
static void
runner_settle_undo(struct runner_plan *p, bool routed)
{
	char **ids = xcalloc(p->nslots + 1, sizeof(*ids));
	size_t n = 0;

	if (routed)
		runner_route_old(p);
	for (size_t i = 0; i < p->nslots; i++) {
		struct runner_slot *s = &p->slots[i];
		if (!s->fresh || s->cur == NULL)
			continue;
		ids[n++] = s->cur;
		s->cur = NULL;
		s->fresh = false;
	}
	runner_say(p->rd, p->a->name, "v%" PRId64 ": %s; stopping its %zu "
	    "new container%s", p->release, p->reason, n, n == 1 ? "" : "s");
	runner_stop_many(p->rd, ids, n);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* Retire everything in p->old (web ones routed out already). */
static void
runner_retire_old(struct runner_plan *p)
{
	char **ids = xcalloc(p->nold + 1, sizeof(*ids));
	unsigned *ports = xcalloc(p->nold + 1, sizeof(*ports));

	for (size_t i = 0; i < p->nold; i++) {
		ids[i] = p->old[i].id;
		ports[i] = strcmp(p->old[i].type, "web") == 0 ?
		    p->old[i].port : 0;
	}
	runner_retire(p, ids, ports, p->nold);
	free(ids);
	free(ports);
}

/* ---- reconcile ------------------------------------------------------- */

/* The app should not run here: route out, drain, stop. */
static void
runner_reconcile_none(struct runner_daemon *rd, struct runner_app *a)
{
	struct runner_plan p = { .rd = rd, .a = a };
	json_t *none = json_array();
	bool web = false;

	if (runner_plan_make(&p, none) == 0 && p.nold > 0) {
		for (size_t i = 0; i < p.nold; i++)
			web = web || strcmp(p.old[i].type, "web") == 0;
		runner_say(rd, a->name, "stopping %zu container%s: the app no "
		    "longer runs here", p.nold, p.nold == 1 ? "" : "s");
		if (web) {
			int rc = proxy_ctl_route_rm(rd->o.proxy_ctl, a->name);
			if (rc < 0 && rc != ERR_NOTFOUND)
				log_warnx("%s: %s", a->name, err_last());
		}
		runner_retire_old(&p);
	}
	runner_plan_free(&p);
	json_decref(none);
	pthread_mutex_lock(&rd->mu);
	free(a->failed_key);
	a->failed_key = NULL;
	pthread_mutex_unlock(&rd->mu);
	runner_outcome(rd, a, 0, "", "live", NULL, NULL);
}

static void
runner_hist_add(struct runner_daemon *rd, struct runner_app *a, int64_t release,
    const char *digest)
{
	pthread_mutex_lock(&rd->mu);
	if (a->nhist == 0 || a->hist[a->nhist - 1].release != release) {
		a->hist = xrealloc(a->hist, (a->nhist + 1) * sizeof(*a->hist));
		a->hist[a->nhist++] = (struct runner_hist){ release,
		    xstrdup(digest) };
	}
	pthread_mutex_unlock(&rd->mu);
}

void
runner_reconcile(struct runner_daemon *rd, struct runner_app *a, json_t *want)
{
	struct runner_plan p = { .rd = rd, .a = a };
	char *key = NULL, *url = NULL;
	bool has_web = false, routed = false, failed_before = false;
	int rc;

	if (json_array_size(want) == 0) {
		runner_reconcile_none(rd, a);
		return;
	}
	if ((rc = runner_plan_make(&p, want)) < 0) {
		log_warnx("%s: %s", a->name, err_last());
		goto done;
	}
	key = xasprintf("%" PRId64 "/%s/%s", p.release, p.digest ? p.digest :
	    "", p.restart);
	pthread_mutex_lock(&rd->mu);
	failed_before = a->failed_key && strcmp(a->failed_key, key) == 0;
	pthread_mutex_unlock(&rd->mu);
	if (failed_before)
		goto done;      /* the old release keeps serving */
	if (p.digest == NULL || p.image == NULL) {
		snprintf(p.reason, sizeof(p.reason), "the release has no "
		    "image");
		goto failed;
	}
	if ((rc = runner_image_ensure(&p.cfg, rd, p.image, p.digest)) < 0) {
		snprintf(p.reason, sizeof(p.reason), "cannot get image %s: %s",
		    p.image, err_last());
		if (runner_cut(&p))
			goto done;
		goto failed;
	}
	p.env = runner_env_from_json(json_object_get(p.slots[0].e, "env"));
	runner_plan_health(&p, json_object_get(p.slots[0].e, "env"));
	pthread_mutex_lock(&rd->rmu);
	free(a->health_path);
	a->health_path = xstrdup(p.health_path);
	pthread_mutex_unlock(&rd->rmu);
	for (size_t i = 0; i < p.nslots; i++)
		has_web = has_web || strcmp(p.slots[i].type, "web") == 0;

	/* 1, 2: web */
	if (has_web) {
		if ((rc = runner_web_batch(&p, &routed)) < 0) {
			if (runner_cut(&p))
				goto done;
			goto failed;
		}
		runner_slots_commit(&p);
		if (!p.deploy && (rc = runner_web_roll(&p)) < 0) {
			if (runner_cut(&p))
				goto done;
			goto failed;
		}
		url = runner_app_url(rd, a->name);
	} else {
		bool web_old = false;
		for (size_t i = 0; i < p.nold; i++)
			web_old = web_old || strcmp(p.old[i].type, "web") == 0;
		/* web scaled to 0: nothing to send requests to */
		if (web_old && proxy_ctl_route_set(rd->o.proxy_ctl, a->name,
		    NULL, 0, NULL, 0) < 0)
			log_warnx("%s: %s", a->name, err_last());
	}
	/* 3: the other types, once web is live */
	if ((rc = runner_others(&p)) < 0) {
		if (runner_cut(&p))
			goto done;
		goto failed;
	}
	/* 3b: a deploy's new processes settle: one crash-looping at once
	 * fails it (a worker has no health check to say so); the old
	 * release, not retired yet, is routed back and keeps running */
	if (p.deploy && (rc = runner_settle(&p)) < 0) {
		if (runner_cut(&p))
			goto done;
		runner_settle_undo(&p, routed);
		goto failed;
	}
	/* 4: live; then the old ones go */
	runner_outcome(rd, a, p.release, p.restart, "live", NULL, url);
	runner_hist_add(rd, a, p.release, p.digest);
	runner_retire_old(&p);
	if (!rd->stopping)
		runner_daemon_images_gc(rd);
	goto done;
failed:
	pthread_mutex_lock(&rd->mu);
	free(a->failed_key);
	a->failed_key = xstrdup(key ? key : "");
	pthread_mutex_unlock(&rd->mu);
	runner_outcome(rd, a, p.release, p.restart, "failed", p.reason, NULL);
done:
	free(url);
	free(key);
	runner_plan_free(&p);
}

/* ---- the worker ------------------------------------------------------ */

struct runner_worker_arg {
	struct runner_daemon *rd;
	struct runner_app *a;
};

static void *
runner_worker(void *arg)
{
	struct runner_worker_arg *w = arg;
	struct runner_daemon *rd = w->rd;
	struct runner_app *a = w->a;

	free(w);
	for (;;) {
		json_t *want;
		uint64_t gen;

		pthread_mutex_lock(&rd->mu);
		if (rd->stopping || a->done_gen == a->want_gen) {
			a->worker = false;
			pthread_mutex_unlock(&rd->mu);
			break;
		}
		want = json_incref(a->want);
		gen = a->want_gen;
		a->abort = 0;
		pthread_mutex_unlock(&rd->mu);
		runner_reconcile(rd, a, want);
		json_decref(want);
		pthread_mutex_lock(&rd->mu);
		a->done_gen = gen;
		pthread_mutex_unlock(&rd->mu);
	}
	runner_thread_done(rd);
	return NULL;
}

void
runner_app_kick(struct runner_daemon *rd, struct runner_app *a)
{
	struct runner_worker_arg *w;

	if (a->worker || rd->stopping)
		return;
	w = xmalloc(sizeof(*w));
	w->rd = rd;
	w->a = a;
	a->worker = true;
	if (runner_thread_start(rd, runner_worker, w) < 0) {
		a->worker = false;
		free(w);
		log_warnx("%s: %s", a->name, err_last());
	}
}
