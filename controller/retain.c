/*
 * Image retention: the registry keeps the images of each app's last N
 * releases (--keep-releases, default 10) and deletes the rest, so disk
 * use is bounded by N images per app rather than growing with every
 * deploy.  A rollback or a config change points at an older build, and
 * whatever a kept release points at is kept however old; so is every
 * build newer than any release (still building, or pushed and waiting
 * to land): its image is in the registry before its release is in the
 * store.
 *
 * One pass over an app, ordered so that a build racing it is never
 * deleted:
 *   1. list the registry's tags of the app's repository;
 *   2. read the kept builds from the store (a build's row is made before
 *      its image is pushed, so every listed tag's build is in the store
 *      by now, and a build made after 1 is not listed);
 *   3. the kept digests: the kept builds' recorded digests, and what
 *      their tags ("v<number>", as builds tag) name now;
 *   4. delete by digest every listed tag's manifest not kept.
 * An app with no build at all is left alone (what its repository holds
 * was pushed by hand).  A failure anywhere stops the pass for that app
 * with nothing more deleted; the next pass starts over.  The blobs go at the registry's
 * gc, which spares those of a just-deleted manifest for its grace, so a
 * pull that read the manifest a moment before still gets its layers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/log.h"

/* Is digest in the array of strings? */
static bool
retain_has(json_t *list, const char *digest)
{
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
		if (strcmp(json_string_value(x), digest) == 0)
			return true;
	return false;
}

/* The digests the kept builds mean (step 3), into a new array. */
static int
retain_digests(json_t **out, struct ctl_reg *r, json_t *builds)
{
	char digest[CTL_DIGEST_MAX], tag[32];
	json_t *keep = json_array(), *b;
	size_t i;
	int rc;

	json_array_foreach(builds, i, b) {
		const char *d = json_string_value(json_object_get(b, "digest"));

		if (d && !retain_has(keep, d))
			json_array_append_new(keep, json_string(d));
		snprintf(tag, sizeof(tag), "v%" JSON_INTEGER_FORMAT,
		    json_integer_value(json_object_get(b, "number")));
		rc = ctl_reg_tag_digest(digest, r, tag);
		if (rc == ERR_NOTFOUND)
			continue;
		if (rc < 0) {
			json_decref(keep);
			return rc;
		}
		if (!retain_has(keep, digest))
			json_array_append_new(keep, json_string(digest));
	}
	*out = keep;
	return 0;
}

int
ctl_retain_app(unsigned *deleted, struct ctl *ctl, struct store *s,
    const char *app)
{
	char digest[CTL_DIGEST_MAX];
	json_t *tags = NULL, *builds = NULL, *keep = NULL, *gone, *t;
	struct ctl_reg r;
	size_t i;
	int rc;

	*deleted = 0;
	if ((rc = ctl_reg_open(&r, &tags, ctl, ctl->registry_url, app)) < 0)
		return rc;
	gone = json_array();
	if (tags == NULL || json_array_size(tags) == 0)
		goto done;
	if ((rc = store_app_kept_builds(&builds, s, app,
	    ctl->keep_releases)) < 0)
		goto done;
	/* No build at all: what is there was pushed by hand, not ours to
	 * judge. */
	if (json_array_size(builds) == 0)
		goto done;
	if ((rc = retain_digests(&keep, &r, builds)) < 0)
		goto done;
	json_array_foreach(tags, i, t) {
		const char *tag = json_string_value(t);

		if (!ctl_reg_tag_ok(tag))
			continue;
		rc = ctl_reg_tag_digest(digest, &r, tag);
		if (rc == ERR_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto done;
		if (retain_has(keep, digest) || retain_has(gone, digest))
			continue;
		if ((rc = ctl_reg_delete(&r, digest)) < 0)
			goto done;
		json_array_append_new(gone, json_string(digest));
		(*deleted)++;
	}
done:
	json_decref(gone);
	json_decref(keep);
	json_decref(builds);
	json_decref(tags);
	ctl_reg_close(&r);
	return rc;
}

/* One pass over every app; each failure is logged, and the others go
 * on. */
static void
retain_all(struct ctl *ctl, struct store *s)
{
	struct store_actor all = { .admin = true };
	json_t *apps = NULL, *a;
	size_t i;

	if (store_app_list(&apps, s, &all) < 0) {
		log_warnx("retention: cannot list the apps: %s", err_last());
		return;
	}
	json_array_foreach(apps, i, a) {
		const char *app = json_string_value(json_object_get(a, "name"));
		unsigned n;

		if (app == NULL)
			continue;
		if (ctl_retain_app(&n, ctl, s, app) < 0)
			log_warnx("retention: the images of '%s' past its last "
			    "%u releases stay for now: %s", app,
			    ctl->keep_releases, err_last());
		else if (n > 0)
			log_info("retention: deleted %u image%s of '%s' (it "
			    "keeps those of its last %u releases)", n,
			    n == 1 ? "" : "s", app, ctl->keep_releases);
	}
	json_decref(apps);
}

static void *
retain_thread(void *arg)
{
	struct ctl *ctl = arg;
	struct store *s = NULL;
	struct timespec at;

	for (;;) {
		pthread_mutex_lock(&ctl->sched_mu);
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += CTL_RETAIN_SECS;
		while (!ctl->stopping && !ctl->retain_kicked &&
		    pthread_cond_timedwait(&ctl->retain_cv, &ctl->sched_mu,
		    &at) == 0)
			;
		ctl->retain_kicked = false;
		if (ctl->stopping) {
			pthread_mutex_unlock(&ctl->sched_mu);
			break;
		}
		pthread_mutex_unlock(&ctl->sched_mu);
		if (s == NULL && ctl_store_get(&s, ctl) < 0) {
			log_warnx("retention: %s", err_last());
			continue;
		}
		retain_all(ctl, s);
	}
	ctl_store_put(ctl, s);
	return NULL;
}

int
ctl_retain_start(struct ctl *ctl)
{
	if (ctl->keep_releases == 0)
		return 0;
	if (pthread_create(&ctl->retainer, NULL, retain_thread, ctl) != 0)
		return err_set(ERR_IO, "cannot start the retention thread");
	ctl->retainer_started = true;
	return 0;
}

void
ctl_retain_kick(struct ctl *ctl)
{
	pthread_mutex_lock(&ctl->sched_mu);
	ctl->retain_kicked = true;
	pthread_cond_broadcast(&ctl->retain_cv);
	pthread_mutex_unlock(&ctl->sched_mu);
}

/* Call with ctl->stopping set (under sched_mu). */
void
ctl_retain_stop(struct ctl *ctl)
{
	pthread_mutex_lock(&ctl->sched_mu);
	pthread_cond_broadcast(&ctl->retain_cv);
	pthread_mutex_unlock(&ctl->sched_mu);
	if (ctl->retainer_started)
		pthread_join(ctl->retainer, NULL);
	ctl->retainer_started = false;
}

bool
ctl_retain_rollback_ok(struct ctl_call *c, const char *app, int64_t to)
{
	json_t *rel = NULL, *kept = NULL, *build, *x;
	bool ok = false;
	size_t i;

	if (c->ctl->keep_releases == 0 || to <= 0 ||
	    store_release_get(&rel, c->st, app, to) < 0)
		return true;    /* the rollback itself says what is wrong */
	build = json_object_get(rel, "build");
	if (!json_is_integer(build)) {
		ok = true;      /* a config release before any build */
		goto done;
	}
	if (!ctl_check(c, store_app_kept_builds(&kept, c->st, app,
	    c->ctl->keep_releases)))
		goto done;      /* answered */
	json_array_foreach(kept, i, x)
		if (json_integer_value(json_object_get(x, "number")) ==
		    json_integer_value(build))
			ok = true;
	if (!ok)
		ctl_error(c, 409, "conflict", "cannot roll back '%s' to v%"
		    PRId64 ": its image (build %" JSON_INTEGER_FORMAT ") is "
		    "gone; the registry keeps the images of the last %u "
		    "releases", app, to, json_integer_value(build),
		    c->ctl->keep_releases);
done:
	json_decref(kept);
	json_decref(rel);
	return ok;
}
