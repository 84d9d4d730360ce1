/*
 * Garbage collection on a schedule: the server runs registry_gc (gc.c)
 * on its own store every --gc-interval seconds, in a thread of its own,
 * so the blobs of deleted manifests (retention, an app destroyed) go
 * without anyone running `slipway registry gc`.  gc is safe beside the
 * requests (its lock and its grace, gc.c); a pull in progress keeps its
 * open blob however gc goes, and the blobs of a manifest deleted a
 * moment ago are spared for the grace (the delete touches them), so a
 * pull that read the manifest before the delete still gets its layers.
 */
#include <string.h>
#include <time.h>

#include "slipway/err.h"
#include "slipway/log.h"
#include "registry_int.h"

static void
gc_once(struct registry *reg)
{
	struct registry_gc_opts o = { .upload_age = reg->o.upload_age };
	struct registry_gc_report r;

	if (registry_gc(&r, reg->o.root, &o) < 0) {
		log_warnx("registry: scheduled gc failed, nothing removed: %s",
		    err_last());
		return;
	}
	if (r.blobs_removed || r.uploads_removed)
		log_info("registry: gc removed %u blob(s) (%llu bytes), %u "
		    "link(s), %u stale upload(s); %u manifest(s) kept",
		    r.blobs_removed, (unsigned long long)r.bytes_removed,
		    r.links_removed, r.uploads_removed, r.manifests);
}

static void *
gc_thread(void *arg)
{
	struct registry *reg = arg;
	struct timespec at;

	pthread_mutex_lock(&reg->gc_mu);
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += reg->o.gc_interval;
		while (!reg->gc_stopping && pthread_cond_timedwait(&reg->gc_cv,
		    &reg->gc_mu, &at) == 0)
			;
		if (reg->gc_stopping)
			break;
		pthread_mutex_unlock(&reg->gc_mu);
		gc_once(reg);
		pthread_mutex_lock(&reg->gc_mu);
	}
	pthread_mutex_unlock(&reg->gc_mu);
	return NULL;
}

int
registry_gc_start(struct registry *reg)
{
	if (reg->o.gc_interval == 0)
		return 0;
	if (pthread_create(&reg->gc_thread, NULL, gc_thread, reg) != 0)
		return err_set(ERR_IO, "cannot start the gc thread");
	reg->gc_started = true;
	return 0;
}

void
registry_gc_stop(struct registry *reg)
{
	if (!reg->gc_started)
		return;
	pthread_mutex_lock(&reg->gc_mu);
	reg->gc_stopping = true;
	pthread_cond_broadcast(&reg->gc_cv);
	pthread_mutex_unlock(&reg->gc_mu);
	pthread_join(reg->gc_thread, NULL);
	reg->gc_started = false;
}
