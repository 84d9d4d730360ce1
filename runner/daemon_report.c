/*
 * What the runner daemon tells the controller: status reports (which also
 * count as heartbeats) and the lines of its apps' logs.
 *
 * Reports go out every heartbeat interval and soon after anything changes
 * (a container's state, an app's rollout outcome), at most every 100 ms.
 * A report holds every container (state, exit code, restarts, port, the
 * last health check of web ones) and, per app, the release this runner
 * is at with the rollout's outcome: the controller's rollout endpoint
 * reads that.
 *
 * Log lines come from the runner core's log hook (container output and
 * its own lines) and from runner_say, into a queue capped at LOGQ_BYTES; the
 * shipper sends them in batches of up to LOG_BATCH lines.  While the
 * controller cannot be reached the queue keeps the newest lines; what
 * falls off is counted and said in the runner's own log.  The runner's
 * ring on disk keeps every line regardless.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/utf8.h"

#define LOGQ_BYTES (4u << 20)
#define LOGQ_LINES 100000u
#define LOG_BATCH 2000u
#define REPORT_GAP 0.1          /* seconds between two reports, at least */
#define HEALTH_TIMEOUT 2.0

/* ---- callbacks from the runner core ---------------------------------- */

void
runner_on_event(const struct runner_container_info *info, void *ctx)
{
	(void)info;
	runner_dirty(ctx);
}

void
runner_on_log(const char *app, const char *text, size_t len, void *ctx)
{
	struct runner_daemon *rd = ctx;

	runner_log_queue(rd, app, text, len);
	runner_runs_capture(rd, app, text, len);
}

/* ---- the log queue --------------------------------------------------- */

/* With rd->logmu held. */
static void
runner_logq_drop_head(struct runner_daemon *rd)
{
	struct runner_logline *l = &rd->logq[rd->headlog];

	rd->logbytes -= strlen(l->line) + strlen(l->app);
	free(l->app);
	free(l->line);
	rd->headlog = (rd->headlog + 1) % rd->caplog;
	rd->nlog--;
}

/* With rd->logmu held. */
static void
runner_logq_push(struct runner_daemon *rd, const char *app, char *line)
{
	size_t bytes = strlen(line) + strlen(app);

	while (rd->nlog > 0 && (rd->logbytes + bytes > LOGQ_BYTES ||
	    rd->nlog >= LOGQ_LINES)) {
		runner_logq_drop_head(rd);
		rd->logdropped++;
	}
	if (rd->nlog == rd->caplog) {
		size_t cap = rd->caplog ? rd->caplog * 2 : 256;
		struct runner_logline *q = xcalloc(cap, sizeof(*q));
		for (size_t i = 0; i < rd->nlog; i++)
			q[i] = rd->logq[(rd->headlog + i) % rd->caplog];
		free(rd->logq);
		rd->logq = q;
		rd->caplog = cap;
		rd->headlog = 0;
	}
	rd->logq[(rd->headlog + rd->nlog) % rd->caplog] = (struct runner_logline){
	    xstrdup(app), line, ++rd->logseq };
	rd->nlog++;
	rd->logbytes += bytes;
}

void
runner_log_queue(struct runner_daemon *rd, const char *app, const char *text,
    size_t len)
{
	pthread_mutex_lock(&rd->logmu);
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		char *line = xstrndup(text + i, n);

		/* JSON wants UTF-8; the app may print anything */
		utf8_sanitize(line, n);
		runner_logq_push(rd, app, line);
		i += n + 1;
	}
	pthread_cond_broadcast(&rd->logcv);
	pthread_mutex_unlock(&rd->logmu);
}

void *
runner_shipper(void *arg)
{
	struct runner_daemon *rd = arg;
	struct apiclient *api = NULL;
	double backoff = 1;

	if (runner_api_open(&api, rd) < 0) {
		log_warnx("log shipper: %s", err_last());
		return NULL;
	}
	while (!rd->stopping) {
		json_t *lines = json_array(), *body;
		uint64_t upto = 0;
		size_t dropped;

		pthread_mutex_lock(&rd->logmu);
		while (rd->nlog == 0 && !rd->stopping) {
			struct timespec at;
			clock_gettime(CLOCK_REALTIME, &at);
			at.tv_sec += 1;
			pthread_cond_timedwait(&rd->logcv, &rd->logmu, &at);
		}
		pthread_mutex_unlock(&rd->logmu);
		/* let a burst gather into one batch */
		runner_sleep(rd, 0.2);
		pthread_mutex_lock(&rd->logmu);
		for (size_t i = 0; i < rd->nlog && i < LOG_BATCH; i++) {
			struct runner_logline *l = &rd->logq[(rd->headlog + i) %
			    rd->caplog];
			json_array_append_new(lines, json_pack("{ssss}", "app",
			    l->app, "line", l->line));
			upto = l->seq;
		}
		dropped = rd->logdropped;
		rd->logdropped = 0;
		pthread_mutex_unlock(&rd->logmu);
		if (dropped)
			log_warnx("dropped %zu app log lines the controller "
			    "could not take in time", dropped);
		if (json_array_size(lines) == 0) {
			json_decref(lines);
			continue;
		}
		body = json_pack("{so}", "lines", lines);
		if (apiclient_call(NULL, api, "POST", "/v1/runner/logs",
		    body) < 0) {
			if (!rd->stopping)
				log_debug("shipping logs: %s", err_last());
			json_decref(body);
			runner_sleep(rd, backoff);
			backoff = backoff * 2 > 10 ? 10 : backoff * 2;
			continue;
		}
		json_decref(body);
		backoff = 1;
		/* The head may have been dropped meanwhile: remove by
		 * sequence, not by count. */
		pthread_mutex_lock(&rd->logmu);
		while (rd->nlog > 0 && rd->logq[rd->headlog].seq <= upto)
			runner_logq_drop_head(rd);
		pthread_mutex_unlock(&rd->logmu);
	}
	apiclient_free(api);
	return NULL;
}

/* ---- status reports -------------------------------------------------- */

static void
runner_time(char *out, size_t n, double t)
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Check the web containers that run (the reporter's own view of health,
 * shown in ps). */
static void
runner_health_refresh(struct runner_daemon *rd,
    struct runner_container_info *v, size_t n)
{
	json_t *h = json_object();

	for (size_t i = 0; i < n; i++) {
		char type[64], answer[256], *path = NULL;
		const char *dot = strrchr(v[i].process, '.');
		size_t tl = dot ? (size_t)(dot - v[i].process) : 0;

		if (dot == NULL || tl >= sizeof(type))
			continue;
		memcpy(type, v[i].process, tl);
		type[tl] = '\0';
		if (strcmp(type, "web") != 0 || v[i].no_restart)
			continue;
		if (v[i].state != RUNNER_STATE_UP) {
			json_object_set_new(h, v[i].id, json_false());
			continue;
		}
		pthread_mutex_lock(&rd->mu);
		for (size_t k = 0; k < rd->napps && !path; k++)
			if (strcmp(rd->apps[k]->name, v[i].app) == 0) {
				pthread_mutex_lock(&rd->rmu);
				const char *hp = rd->apps[k]->health_path;
				if (hp)
					path = xstrdup(hp);
				pthread_mutex_unlock(&rd->rmu);
			}
		pthread_mutex_unlock(&rd->mu);
		struct runner_health_opts o = { .port = v[i].port,
		    .path = path, .timeout_sec = HEALTH_TIMEOUT };
		json_object_set_new(h, v[i].id, json_boolean(
		    runner_health_check(&o, answer, sizeof(answer)) == 0));
		free(path);
	}
	pthread_mutex_lock(&rd->rmu);
	json_decref(rd->health);
	rd->health = h;
	pthread_mutex_unlock(&rd->rmu);
}

static json_t *
runner_report(struct runner_daemon *rd, bool check_health)
{
	struct runner_container_info *v = NULL;
	json_t *ctrs = json_array(), *apps = json_object();
	char at[32];
	size_t n = 0;

	runner_container_list(&v, &n, rd->r);
	if (check_health)
		runner_health_refresh(rd, v, n);
	pthread_mutex_lock(&rd->rmu);
	for (size_t i = 0; i < n; i++) {
		const char *dot = strrchr(v[i].process, '.');
		json_t *c = runner_container_info_json(&v[i]), *hv;

		json_object_set_new(c, "type", dot ? json_stringn(v[i].process,
		    (size_t)(dot - v[i].process)) : json_string(v[i].process));
		json_object_set_new(c, "index", json_integer(dot ?
		    atoi(dot + 1) : 0));
		json_object_set_new(c, "release", json_integer(
		    v[i].release[0] == 'v' ? atoll(v[i].release + 1) : 0));
		json_object_set_new(c, "one_off", json_boolean(
		    v[i].no_restart));
		hv = json_object_get(rd->health, v[i].id);
		json_object_set_new(c, "healthy", hv ? json_incref(hv) :
		    json_null());
		/* the current containers first: ps shows the first match */
		json_array_insert_new(ctrs, v[i].want_up ? 0 :
		    json_array_size(ctrs), c);
		runner_container_info_free(&v[i]);
	}
	free(v);
	pthread_mutex_unlock(&rd->rmu);
	pthread_mutex_lock(&rd->mu);
	pthread_mutex_lock(&rd->rmu);
	for (size_t i = 0; i < rd->napps; i++) {
		struct runner_app *a = rd->apps[i];
		if (a->release == 0 || a->state == NULL)
			continue;
		runner_time(at, sizeof(at), a->at);
		json_object_set_new(apps, a->name, json_pack("{sIssssssss?ss?}",
		    "release", (json_int_t)a->release, "restart", a->restart,
		    "state", a->state, "at", at, "reason", a->reason,
		    "url", a->url));
	}
	pthread_mutex_unlock(&rd->rmu);
	pthread_mutex_unlock(&rd->mu);
	return json_pack("{sssoso}", "driver", runner_driver_name(
	    runner_driver(rd->r)), "containers", ctrs, "apps", apps);
}

void *
runner_reporter(void *arg)
{
	struct runner_daemon *rd = arg;
	struct apiclient *api = NULL;
	double next_beat = 0, last_sent = 0, next_health = 0;
	bool failing = false;

	if (runner_api_open(&api, rd) < 0) {
		log_warnx("reporter: %s", err_last());
		return NULL;
	}
	while (!rd->stopping) {
		double now = clock_mono();
		unsigned beat;
		bool due, registered;
		json_t *rep;

		pthread_mutex_lock(&rd->rmu);
		beat = rd->heartbeat;
		while (!rd->dirty && !rd->stopping &&
		    clock_mono() < next_beat) {
			struct timespec at;
			double left = next_beat - clock_mono();
			clock_gettime(CLOCK_REALTIME, &at);
			at.tv_nsec += (long)((left > 1 ? 1 : left) * 1e9);
			at.tv_sec += at.tv_nsec / 1000000000L;
			at.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&rd->rcv, &rd->rmu, &at);
		}
		due = rd->dirty || clock_mono() >= next_beat;
		rd->dirty = false;
		registered = rd->runner_name != NULL;
		pthread_mutex_unlock(&rd->rmu);
		if (rd->stopping)
			break;
		if (!due || !registered) {
			runner_sleep(rd, 0.2);
			continue;
		}
		/* bursts of changes make one report */
		if (clock_mono() - last_sent < REPORT_GAP)
			runner_sleep(rd, REPORT_GAP);
		now = clock_mono();
		rep = runner_report(rd, now >= next_health);
		if (now >= next_health)
			next_health = now + beat;
		runner_api_session(rd, api, 10);
		if (apiclient_call(NULL, api, "POST", "/v1/runner/status",
		    rep) < 0) {
			if (!failing && !rd->stopping)
				log_warnx("status report: %s; retrying",
				    err_last());
			failing = true;
			runner_dirty(rd);
			runner_sleep(rd, 1);
		} else {
			if (failing)
				log_info("status reports go through again");
			failing = false;
			next_beat = clock_mono() + beat;
		}
		last_sent = clock_mono();
		json_decref(rep);
	}
	apiclient_free(api);
	return NULL;
}
