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
 * What goes is only ever the image of a build that fell out: the digest
 * the store recorded for it, and what its own tag ("v<number>", as
 * builds tag) names; a tag no build of the app accounts for (an image
 * pushed by hand, or ahead of the build that will name it) is left
 * alone, and so is a digest a kept build names too.
 *
 * One pass over an app, ordered so that a build racing it is never
 * deleted:
 *   1. list the registry's tags of the app's repository;
 *   2. read the app's builds, kept or not, from the store (a build's row
 *      is made before its image is pushed, so every listed tag's build
 *      is in the store by now; one made after 1 is newer than any
 *      release, so kept);
 *   3. what each listed tag names now;
 *   4. delete by digest each dropped build's image that a listed tag
 *      still names and no kept build needs.
 * A failure anywhere stops the pass for that app with nothing more
 * deleted; the next pass starts over.  The blobs go at the registry's
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

static void
retain_add(json_t *list, const char *digest)
{
	if (digest && !retain_has(list, digest))
		json_array_append_new(list, json_string(digest));
}

/* The build tag names ("v<number>", as builds tag), or NULL for another
 * tag. */
static json_t *
retain_build_of(json_t *builds, const char *tag)
{
	json_t *b;
	size_t i;

	if (tag[0] != 'v' || tag[1] < '1' || tag[1] > '9' ||
	    strspn(tag + 1, "0123456789") != strlen(tag + 1) ||
	    strlen(tag) > 19)
		return NULL;
	json_array_foreach(builds, i, b)
		if (json_integer_value(json_object_get(b, "number")) ==
		    strtoll(tag + 1, NULL, 10))
			return b;
	return NULL;
}

/* ctl_retain_app's walk over the tags. */
struct retain_walk {
	json_t *named;          /* tag -> digest, of the listed tags */
	json_t *builds, *keep, *drop;
};

static int
retain_tag(struct ctl_reg *r, const char *tag, const char *digest,
    void *ctx)
{
	struct retain_walk *w = ctx;
	json_t *b;

	json_object_set_new(w->named, tag, json_string(digest));
	/* what a build's own tag names goes with the build */
	if ((b = retain_build_of(w->builds, tag)) != NULL)
		retain_add(json_is_true(json_object_get(b, "kept")) ? w->keep :
		    w->drop, digest);
	return 0;
}

/* One pass over app: how many manifests were deleted into *deleted. */
static int
ctl_retain_app(unsigned *deleted, struct ctl *ctl, struct store *s,
    const char *app)
{
	json_t *tags = NULL, *builds = NULL, *named, *keep, *drop, *b, *x;
	struct retain_walk w;
	struct ctl_reg r;
	size_t i;
	int rc;

	*deleted = 0;
	if ((rc = ctl_reg_open(&r, &tags, ctl, ctl->registry_url, app)) < 0)
		return rc;
	named = json_object();  /* tag -> digest, of the listed tags */
	keep = json_array();
	drop = json_array();
	if (tags == NULL || json_array_size(tags) == 0)
		goto done;
	if ((rc = store_app_builds_kept(&builds, s, app,
	    ctl->keep_releases)) < 0)
		goto done;
	json_array_foreach(builds, i, b)
		retain_add(json_is_true(json_object_get(b, "kept")) ? keep :
		    drop, json_string_value(json_object_get(b, "digest")));
	w = (struct retain_walk){ named, builds, keep, drop };
	if ((rc = ctl_reg_each_tag(&r, tags, retain_tag, &w)) < 0)
		goto done;
	json_array_foreach(drop, i, x) {
		const char *d = json_string_value(x);
		const char *tag;
		json_t *v;
		bool listed = false;

		json_object_foreach(named, tag, v)
			listed = listed || strcmp(json_string_value(v), d) == 0;
		if (!listed || retain_has(keep, d))
			continue;       /* gone already, or still needed */
		if ((rc = ctl_reg_delete(&r, d)) < 0)
			goto done;
		(*deleted)++;
	}
done:
	json_decref(drop);
	json_decref(keep);
	json_decref(named);
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
	/* a first pass at start: the setting may have come down */
	ctl->retain_kicked = true;
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
	if (!ctl_check(c, store_app_builds_kept(&kept, c->st, app,
	    c->ctl->keep_releases)))
		goto done;      /* answered */
	json_array_foreach(kept, i, x)
		if (json_integer_value(json_object_get(x, "number")) ==
		    json_integer_value(build) &&
		    json_is_true(json_object_get(x, "kept")))
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
