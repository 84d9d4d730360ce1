/*
 * The build's lease: while the pipeline works, a thread of its own tells
 * the controller every third of the lease that the build is alive; see
 * struct builder_lease in builder_int.h.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "builder_int.h"
#include "slipway/apiclient.h"
#include "slipway/err.h"
#include "slipway/lease.h"

static void *
lease_run(void *arg)
{
	struct builder_lease *l = arg;
	json_t *body = json_pack("{s:s}", "status", "running");
	struct timespec at;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += l->every_ms / 1000;
		at.tv_nsec += (long)(l->every_ms % 1000) * 1000000L;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		while (!l->stop && pthread_cond_timedwait(&l->cv, &l->mu,
		    &at) == 0)
			;
		if (l->stop)
			break;
		pthread_mutex_unlock(&l->mu);
		int rc = apiclient_call(NULL, l->api, "PATCH", l->path, body);
		pthread_mutex_lock(&l->mu);
		if (rc == ERR_CONFLICT)
			break;
	}
	pthread_mutex_unlock(&l->mu);
	json_decref(body);
	return NULL;
}

/* Start renewing the lease of build number; a lease that cannot be kept
 * (no thread) costs the build nothing but its protection. */
void
builder_lease_start(struct builder_lease *l, const struct builder_opts *o,
    int64_t number)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	memset(l, 0, sizeof(*l));
	snprintf(l->path, sizeof(l->path), "/v1/apps/%s/builds/%lld", o->app,
	    (long long)number);
	l->every_ms = lease_build_secs() * 1000 / 3;
	if (apiclient_open_with(&l->api, apiclient_url(o->api), o->token) < 0)
		return;
	apiclient_set_cancel(l->api, &l->cancel);
	pthread_mutex_init(&l->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals (the hook's SIGTERM that cancels the build) stay the
	 * pipeline's: the thread starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	l->started = pthread_create(&l->th, NULL, lease_run, l) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!l->started) {
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		apiclient_free(l->api);
		l->api = NULL;
	}
}

/* Stop renewing (before the build's last update, and on every way out);
 * twice is once. */
void
builder_lease_stop(struct builder_lease *l)
{
	if (!l->started)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	l->cancel = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->th, NULL);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	apiclient_free(l->api);
	l->api = NULL;
	l->started = false;
}
