/*
 * The container operations of the runner's public API (runner.h):
 * create, start, stop, retire, destroy, get, list.  Each takes its
 * container from the table (runner.c) marked busy, works with r->mu
 * dropped where it runs programs or waits, and gives it back.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/name.h"

enum runner_driver
runner_driver(const struct runner *r)
{
	return r->driver;
}

static bool
release_ok(const char *s)
{
	size_t n;

	if (s == NULL || s[0] != 'v')
		return false;
	n = strspn(s + 1, "0123456789");
	return n > 0 && n <= 9 && s[1 + n] == '\0';
}

/* Replace the image's PATH by <rootfs>/app/bin and the host's PATH: the
 * process driver runs on the host, where image paths mean nothing. */
static char **
runner_process_image_env(char *const *image_env, const char *lower)
{
	const char *host = getenv("PATH");
	size_t n = 0;
	char **v;

	for (char *const *p = image_env; p && *p; p++)
		n++;
	v = xcalloc(n + 2, sizeof(*v));
	n = 0;
	for (char *const *p = image_env; p && *p; p++)
		if (strncmp(*p, "PATH=", 5) != 0)
			v[n++] = xstrdup(*p);
	v[n] = xasprintf("PATH=%s/app/bin:%s", lower,
	    host ? host : "/usr/local/bin:/usr/bin:/bin");
	return v;
}

int
runner_container_create(char **out_id, struct runner *r,
    const struct runner_container_spec *spec)
{
	struct runner_ctr *c = NULL;
	unsigned char rnd[4];
	char hex[9], *lower = NULL;
	unsigned *taken = NULL;
	int rc;

	if (!name_app_is_valid(spec->app))
		return err_set(ERR_INVALID, "'%s' is not an app name",
		    spec->app ? spec->app : "");
	if (!name_proc_type_is_valid(spec->process_type))
		return err_set(ERR_INVALID, "'%s' is not a process type",
		    spec->process_type ? spec->process_type : "");
	if (!release_ok(spec->release))
		return err_set(ERR_INVALID, "'%s' is not a release (vN)",
		    spec->release ? spec->release : "");
	if (spec->command == NULL || spec->command[0] == '\0')
		return err_set(ERR_INVALID, "process type '%s' has no command",
		    spec->process_type);
	if (spec->port > 65535)
		return err_set(ERR_INVALID, "port %u is out of range",
		    spec->port);
	if (spec->label && (strlen(spec->label) > 64 ||
	    strspn(spec->label, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") !=
	    strlen(spec->label)))
		return err_set(ERR_INVALID, "container label '%.80s' is not "
		    "up to 64 of [A-Za-z0-9-_.:]", spec->label);
	if ((rc = runner_image_path(&lower, r->home, spec->image)) < 0)
		return rc;

	c = xcalloc(1, sizeof(*c));
	c->pidfd = c->out_fd = -1;
	c->exit_code = -1;
	buf_init(&c->partial, 16384);
	c->app = xstrdup(spec->app);
	c->release = xstrdup(spec->release);
	c->ptype = xstrdup(spec->process_type);
	c->index = spec->index ? spec->index : 1;
	c->process = xasprintf("%s.%u", c->ptype, c->index);
	c->command = xstrdup(spec->command);
	c->image = xstrdup(spec->image);
	c->rootfs_lower = lower;
	c->memory_bytes = spec->memory_bytes ? spec->memory_bytes : 512ULL << 20;
	c->pids_max = spec->pids_max ? spec->pids_max : 256;
	c->no_restart = spec->no_restart;
	c->label = xstrdup(spec->label ? spec->label : "");
	c->driver = r->driver;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		rc = err_sys("cannot get random bytes");
		goto done;
	}
	digest_hex(hex, rnd, sizeof(rnd));
	c->id = xasprintf("%s.%s.%u.%s", c->app, c->ptype, c->index, hex);
	c->dir = xasprintf("%s/%s", r->ctrs_dir, c->id);
	if (c->driver == RUNNER_DRIVER_RUNC &&
	    (rc = runner_user_resolve(&c->uid, &c->gid, lower, spec->user)) < 0)
		goto done;

	pthread_mutex_lock(&r->mu);
	c->port = spec->port;
	if (c->port == 0) {
		taken = xcalloc(r->nctrs + 1, sizeof(*taken));
		for (size_t i = 0; i < r->nctrs; i++)
			taken[i] = r->ctrs[i]->port;
		rc = runner_port_find(&c->port, r->port_base, taken, r->nctrs);
	}
	if (rc == 0) {
		if (c->driver == RUNNER_DRIVER_RUNC) {
			c->env = runner_env_build(spec->image_env, spec->env,
			    c->port, c->app, c->release, c->process, "/app");
		} else {
			char **ie = runner_process_image_env(spec->image_env,
			    lower);
			char *app_dir = fs_join(lower, "app");
			c->env = runner_env_build(ie, spec->env, c->port,
			    c->app, c->release, c->process, app_dir);
			free(app_dir);
			runner_strv_free(ie);
		}
		if (mkdir(c->dir, 0700) < 0)
			rc = err_sys("cannot make '%s'", c->dir);
	}
	if (rc == 0) {
		c->state = RUNNER_STATE_INITIALIZED;
		c->busy = true;	/* ours until its state file is written */
		r->ctrs = xrealloc(r->ctrs, (r->nctrs + 1) * sizeof(*r->ctrs));
		r->ctrs[r->nctrs++] = c;
		runner_event_release(r, c);
		*out_id = xstrdup(c->id);
		c = NULL;
	}
	pthread_mutex_unlock(&r->mu);
done:
	free(taken);
	runner_ctr_free(c);
	return rc;
}

int
runner_container_start(struct runner *r, const char *id)
{
	struct runner_ctr *c;
	int rc;

	pthread_mutex_lock(&r->mu);
	if ((rc = runner_acquire(&c, r, id)) < 0)
		goto out;
	if (c->state == RUNNER_STATE_UP) {
		c->want_up = true;
		runner_release(r, c);
		goto out;
	}
	c->want_up = true;
	c->retiring = false;
	c->restart_at = 0;
	c->streak = 0;
	pthread_mutex_unlock(&r->mu);
	rc = runner_launch(r, c);
	pthread_mutex_lock(&r->mu);
	if (rc < 0) {
		c->state = RUNNER_STATE_DOWN;
		c->want_up = false;
	}
	runner_event_release(r, c);
	pthread_mutex_unlock(&r->mu);
	if (rc == 0)
		runner_ctr_say(r, c, "starting: %s", c->command);
	else
		runner_ctr_say(r, c, "%s", err_last());
	return rc;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* c busy, r->mu not held: TERM, grace, KILL.  False when r->cancel cut
 * the grace short: the process has had SIGTERM and may still run. */
static bool
runner_stop_locked_out(struct runner *r, struct runner_ctr *c, double grace)
{
	if (c->pidfd >= 0) {
		double end = clock_mono() + grace;
		runner_ctr_signal(r, c, SIGTERM);
		for (;;) {
			double left = end - clock_mono();
			/* in slices, to see a cancel */
			if (runner_ctr_reap(r, c, true, left > 0.2 ? 0.2 :
			    left > 0 ? left : 0))
				break;
			if (r->cancel && *r->cancel)
				return false;
			if (left > 0)
				continue;
			runner_ctr_say(r, c, "did not stop in %gs; killing it",
			    grace);
			runner_ctr_signal(r, c, SIGKILL);
			if (runner_ctr_reap(r, c, true, 10) == 0)
				log_warnx("runner: %s survives SIGKILL", c->id);
			break;
		}
	}
	runner_ctr_tail(r, c, true);
	runner_ctr_cleanup(r, c, false);
	return true;
}

int
runner_container_retire(struct runner *r, const char *id)
{
	struct runner_ctr *c;
	int rc;

	pthread_mutex_lock(&r->mu);
	if ((rc = runner_acquire(&c, r, id)) == 0) {
		c->want_up = false;
		c->retiring = true;
		c->restart_at = 0;
		runner_event_release(r, c);
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int
runner_container_stop(struct runner *r, const char *id, double grace)
{
	struct runner_ctr *c;
	bool was_up;
	int rc;

	pthread_mutex_lock(&r->mu);
	if ((rc = runner_acquire(&c, r, id)) < 0) {
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	c->want_up = false;
	c->restart_at = 0;
	was_up = c->pidfd >= 0;
	/* A runner killed during the grace leaves a state file that says
	 * the container was on its way down: the next one does not start
	 * it again. */
	if (was_up)
		runner_event(r, c);
	pthread_mutex_unlock(&r->mu);
	runner_ctr_flush(r, c);
	if (!runner_stop_locked_out(r, c, grace < 0 ? r->grace : grace)) {
		pthread_mutex_lock(&r->mu);
		runner_release(r, c);
		pthread_mutex_unlock(&r->mu);
		return err_set(ERR_CONFLICT, "the stop of '%s' was cut short",
		    id);
	}
	pthread_mutex_lock(&r->mu);
	if (c->state != RUNNER_STATE_INITIALIZED)
		c->state = RUNNER_STATE_DOWN;
	runner_event_release(r, c);
	pthread_mutex_unlock(&r->mu);
	if (was_up)
		runner_ctr_say(r, c, "stopped (status %d)", c->exit_code);
	return 0;
}

int
runner_container_destroy(struct runner *r, const char *id)
{
	struct runner_ctr *c;
	int rc;

	pthread_mutex_lock(&r->mu);
	if ((rc = runner_acquire(&c, r, id)) < 0) {
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	c->want_up = false;
	c->restart_at = 0;
	if (c->pidfd >= 0)
		runner_event(r, c);	/* as in runner_container_stop */
	pthread_mutex_unlock(&r->mu);
	runner_ctr_flush(r, c);
	if (!runner_stop_locked_out(r, c, r->grace)) {
		pthread_mutex_lock(&r->mu);
		runner_release(r, c);
		pthread_mutex_unlock(&r->mu);
		return err_set(ERR_CONFLICT, "the stop of '%s' was cut short",
		    id);
	}
	runner_ctr_cleanup(r, c, true);
	pthread_mutex_lock(&r->mu);
	c->state = RUNNER_STATE_DESTROYED;
	if (r->on_event) {
		struct runner_container_info info;
		runner_ctr_info(&info, c);
		r->on_event(&info, r->ctx);
		runner_container_info_free(&info);
	}
	runner_table_remove(r, c);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	runner_ctr_free(c);
	return 0;
}

int
runner_container_get(struct runner_container_info *out, struct runner *r,
    const char *id)
{
	struct runner_ctr *c;
	int rc = 0;

	pthread_mutex_lock(&r->mu);
	if ((c = runner_find(r, id)) == NULL)
		rc = err_set(ERR_NOTFOUND, "no container '%s'", id);
	else
		runner_ctr_info(out, c);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

int
runner_container_list(struct runner_container_info **out, size_t *n,
    struct runner *r)
{
	pthread_mutex_lock(&r->mu);
	*out = xcalloc(r->nctrs + 1, sizeof(**out));
	*n = r->nctrs;
	for (size_t i = 0; i < r->nctrs; i++)
		runner_ctr_info(&(*out)[i], r->ctrs[i]);
	pthread_mutex_unlock(&r->mu);
	return 0;
}
