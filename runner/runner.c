/*
 * struct runner: the table of containers and the supervisor thread.
 *
 * The thread wakes on a container's pidfd (its process ended), on the
 * eventfd (the table changed), and every 200 ms to copy new output into
 * the app logs.  A process that ends while its container should be up is
 * a crash: the container goes down with its exit code, and is started
 * again after a backoff (1 s, 2 s, 4 s ... up to backoff_max; the streak
 * resets after a minute up).
 *
 * Locking: r->mu guards the table and every container's state fields.
 * An operation that runs programs (runc) or waits marks its container
 * busy, drops r->mu while it works, and broadcasts r->cv when done; the
 * supervisor skips busy containers, other operations wait for them.  Lock
 * order: r->mu, then r->logmu.  The container operations of the public
 * API (create, start, stop, retire, destroy, get, list) are in
 * lifecycle.c.
 */
#include <errno.h>
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/supervise.h"

#define RUNNER_TICK_MS 200

static const char *const state_names[] = {
	"initialized", "created", "up", "down", "destroyed",
};

const char *
runner_state_name(enum runner_state s)
{
	return (unsigned)s <= RUNNER_STATE_DESTROYED ? state_names[s] : "?";
}

const char *
runner_driver_name(enum runner_driver d)
{
	return d == RUNNER_DRIVER_RUNC ? "runc" :
	    d == RUNNER_DRIVER_PROCESS ? "process" : "auto";
}

int
runner_driver_parse(enum runner_driver *out, const char *s)
{
	if (strcmp(s, "runc") == 0)
		*out = RUNNER_DRIVER_RUNC;
	else if (strcmp(s, "process") == 0)
		*out = RUNNER_DRIVER_PROCESS;
	else if (strcmp(s, "auto") == 0)
		*out = RUNNER_DRIVER_AUTO;
	else
		return err_set(ERR_INVALID, "'%s' is not a driver (runc, "
		    "process, auto)", s);
	return 0;
}

void
runner_container_info_free(struct runner_container_info *i)
{
	if (i == NULL)
		return;
	free(i->id);
	free(i->app);
	free(i->release);
	free(i->process);
	free(i->image);
	free(i->label);
	memset(i, 0, sizeof(*i));
}

json_t *
runner_container_info_json(const struct runner_container_info *i)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:I, "
	    "s:i, s:i, s:f, s:s, s:b, s:b, s:b}",
	    "id", i->id, "app", i->app, "release", i->release,
	    "process", i->process, "image", i->image,
	    "driver", runner_driver_name(i->driver),
	    "state", runner_state_name(i->state), "port", (int)i->port,
	    "pid", (json_int_t)i->pid, "exit_code", i->exit_code,
	    "restarts", (int)i->restarts, "started_at", i->started_at,
	    "label", i->label ? i->label : "", "want_up", i->want_up,
	    "retiring", i->retiring, "crashed", i->crashed);
}

/* Find runc: an explicit path, or "runc" in PATH. */
static char *
runner_find_runc(const char *given)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL, *found = NULL;

	if (given)
		return access(given, X_OK) == 0 ? xstrdup(given) : NULL;
	copy = xstrdup(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (dir = strtok_r(copy, ":", &save); dir && !found;
	    dir = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/runc", dir);
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	if (!found && access("/usr/sbin/runc", X_OK) == 0)
		found = xstrdup("/usr/sbin/runc");
	return found;
}

static void
runner_wake(struct runner *r)
{
	uint64_t one = 1;

	(void)!write(r->wake_fd, &one, sizeof(one));
}

/* With r->mu held and c busy. */
void
runner_event(struct runner *r, struct runner_ctr *c)
{
	struct runner_container_info info;
	json_t *j = runner_ctr_json(c);

	free(c->save_text);
	c->save_text = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(j);
	if (r->on_event == NULL)
		return;
	runner_ctr_info(&info, c);
	r->on_event(&info, r->ctx);
	runner_container_info_free(&info);
}

struct runner_ctr *
runner_find(struct runner *r, const char *id)
{
	for (size_t i = 0; i < r->nctrs; i++)
		if (strcmp(r->ctrs[i]->id, id) == 0)
			return r->ctrs[i];
	return NULL;
}

/* With r->mu held: wait until id is not busy, then make it ours. */
int
runner_acquire(struct runner_ctr **out, struct runner *r, const char *id)
{
	struct runner_ctr *c;

	for (;;) {
		if ((c = runner_find(r, id)) == NULL)
			return err_set(ERR_NOTFOUND, "no container '%s'", id);
		if (!c->busy)
			break;
		pthread_cond_wait(&r->cv, &r->mu);
	}
	c->busy = true;
	*out = c;
	return 0;
}

void
runner_release(struct runner *r, struct runner_ctr *c)
{
	c->busy = false;
	pthread_cond_broadcast(&r->cv);
	runner_wake(r);
}

void
runner_event_release(struct runner *r, struct runner_ctr *c)
{
	runner_event(r, c);
	pthread_mutex_unlock(&r->mu);
	runner_ctr_flush(r, c);
	pthread_mutex_lock(&r->mu);
	runner_release(r, c);
}

void
runner_table_remove(struct runner *r, struct runner_ctr *c)
{
	for (size_t i = 0; i < r->nctrs; i++) {
		if (r->ctrs[i] == c) {
			r->ctrs[i] = r->ctrs[--r->nctrs];
			return;
		}
	}
}

/* The pidfd of c woke the supervisor (c busy, r->mu not held): if its
 * process ended, down, and a restart scheduled when it should be up.  A
 * process still running (a wake that was not its end) is left alone. */
static void
runner_on_exit(struct runner *r, struct runner_ctr *c)
{
	double up_for = clock_mono() - c->started_mono;
	bool again;

	if (runner_ctr_reap(r, c, false, 0) == 0)
		return;
	runner_ctr_tail(r, c, true);
	runner_ctr_cleanup(r, c, false);
	pthread_mutex_lock(&r->mu);
	c->state = RUNNER_STATE_DOWN;
	again = c->want_up && !c->no_restart;
	if (again) {
		c->streak = up_for > RUNNER_STABLE_SEC ? 1 : c->streak + 1;
		c->restarts++;
		c->restart_at = clock_mono() +
		    supervise_backoff(c->streak, r->backoff_max);
	}
	runner_event(r, c);
	pthread_mutex_unlock(&r->mu);
	runner_ctr_flush(r, c);
	if (c->exit_code >= 0)
		runner_ctr_say(r, c, "process exited with status %d%s",
		    c->exit_code, again ? "; restarting" : "");
	else
		runner_ctr_say(r, c, "process exited (status unknown)%s",
		    again ? "; restarting" : "");
	log_info("runner: %s (%s) exited with status %d", c->id, c->process,
	    c->exit_code);
}

/* Start c (busy, r->mu not held). */
int
runner_launch(struct runner *r, struct runner_ctr *c)
{
	int rc;

	if ((rc = runner_ctr_prepare(r, c)) < 0 ||
	    (rc = runner_ctr_launch(r, c)) < 0) {
		runner_ctr_cleanup(r, c, false);
		return rc;
	}
	return 0;
}

static void
runner_restart(struct runner *r, struct runner_ctr *c)
{
	int rc = runner_launch(r, c);

	pthread_mutex_lock(&r->mu);
	c->restart_at = 0;
	if (rc < 0) {
		c->state = RUNNER_STATE_DOWN;
		c->streak++;
		c->restart_at = clock_mono() +
		    supervise_backoff(c->streak, r->backoff_max);
		log_warnx("runner: %s", err_last());
	}
	runner_event(r, c);
	pthread_mutex_unlock(&r->mu);
	runner_ctr_flush(r, c);
	if (rc < 0)
		runner_ctr_say(r, c, "restart failed: %s", err_last());
	else
		runner_ctr_say(r, c, "restarted (restart %u)", c->restarts);
}

/* A process the supervisor polls, as it was when the poll set was made:
 * the container, and the process's pid and start time.  An fd number
 * names no process for long (closed, it is reused by the next pidfd);
 * the pid and its start time tell a process from its successor. */
struct runner_watch {
	struct runner_ctr *c;
	pid_t pid;
	unsigned long long pid_start;
};

/* With r->mu held: is w still the process of c, in the table and not
 * busy, under the same pidfd? */
static bool
runner_watch_current(struct runner *r, const struct runner_watch *w, int fd)
{
	struct runner_ctr *c = w->c;
	bool present = false;

	for (size_t i = 0; i < r->nctrs && !present; i++)
		present = r->ctrs[i] == c;
	return present && !c->busy && c->pidfd == fd && c->pid == w->pid &&
	    c->pid_start == w->pid_start;
}

static void *
runner_thread(void *arg)
{
	struct runner *r = arg;
	struct pollfd *pfds = NULL;
	struct runner_watch *who = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		size_t k = 1;
		double now = clock_mono();
		int timeout = RUNNER_TICK_MS;
		uint64_t junk;

		if (cap < r->nctrs + 1) {
			cap = r->nctrs + 16;
			pfds = xrealloc(pfds, cap * sizeof(*pfds));
			who = xrealloc(who, cap * sizeof(*who));
		}
		pfds[0] = (struct pollfd){ .fd = r->wake_fd, .events = POLLIN };
		for (size_t i = 0; i < r->nctrs; i++) {
			struct runner_ctr *c = r->ctrs[i];
			if (c->busy)
				continue;
			if (c->pidfd >= 0) {
				who[k] = (struct runner_watch){ c, c->pid,
				    c->pid_start };
				pfds[k++] = (struct pollfd){ .fd = c->pidfd,
				    .events = POLLIN };
			}
			if (c->restart_at > 0) {
				int ms = (int)((c->restart_at - now) * 1000);
				if (ms < timeout)
					timeout = ms < 0 ? 0 : ms;
			}
		}
		pthread_mutex_unlock(&r->mu);
		poll(pfds, k, timeout);
		if (pfds[0].revents)
			(void)!read(r->wake_fd, &junk, sizeof(junk));
		pthread_mutex_lock(&r->mu);
		for (size_t i = 0; i < r->nctrs; i++)
			runner_ctr_tail(r, r->ctrs[i], false);
		/* The table may have changed while we slept: act only on
		 * processes that are still their container's. */
		for (size_t j = 1; j < k && !r->stopping; j++) {
			struct runner_ctr *c = who[j].c;
			if (!pfds[j].revents ||
			    !runner_watch_current(r, &who[j], pfds[j].fd))
				continue;
			c->busy = true;
			pthread_mutex_unlock(&r->mu);
			runner_on_exit(r, c);
			pthread_mutex_lock(&r->mu);
			c->busy = false;
			pthread_cond_broadcast(&r->cv);
		}
		now = clock_mono();
		for (size_t i = 0; i < r->nctrs && !r->stopping; i++) {
			struct runner_ctr *c = r->ctrs[i];
			if (c->busy || c->restart_at == 0 || now < c->restart_at)
				continue;
			if (!c->want_up) {
				c->restart_at = 0;
				continue;
			}
			c->busy = true;
			pthread_mutex_unlock(&r->mu);
			runner_restart(r, c);
			pthread_mutex_lock(&r->mu);
			c->busy = false;
			pthread_cond_broadcast(&r->cv);
			/* the table may have changed: start over next turn */
			break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	free(pfds);
	free(who);
	return NULL;
}

/* Containers a previous runner left: watch the living, restart the dead
 * that should be up, forget the destroyed. */
static void
runner_adopt_all(struct runner *r)
{
	struct dirent *d;
	DIR *dp = opendir(r->ctrs_dir);

	if (dp == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		struct runner_ctr *c;
		if (d->d_name[0] == '.')
			continue;
		if (runner_ctr_load(&c, r, d->d_name) < 0) {
			log_warnx("runner: skipping container: %s", err_last());
			continue;
		}
		if ((c->state == RUNNER_STATE_UP ||
		    c->state == RUNNER_STATE_CREATED) && runner_ctr_adopt(r, c)) {
			c->state = RUNNER_STATE_UP;
			log_info("runner: adopted %s (%s, pid %d)", c->id,
			    c->process, (int)c->pid);
		} else if (c->state == RUNNER_STATE_UP ||
		    c->state == RUNNER_STATE_CREATED) {
			runner_ctr_adopt(r, c);	/* output, mount state */
			c->state = RUNNER_STATE_DOWN;
			c->exit_code = -1;
			if (c->want_up && !c->no_restart && r->hold_dead) {
				c->held = true;
			} else if (c->want_up && !c->no_restart) {
				c->restarts++;
				c->restart_at = clock_mono();
			}
			log_info("runner: %s (%s) died while no runner watched; "
			    "%s", c->id, c->process, c->held ? "left down until "
			    "the controller says it is still wanted here" :
			    c->restart_at ? "restarting" : "left down");
		}
		r->ctrs = xrealloc(r->ctrs, (r->nctrs + 1) * sizeof(*r->ctrs));
		r->ctrs[r->nctrs++] = c;
		runner_ctr_save(r, c);
	}
	closedir(dp);
}

void
runner_held_resume(struct runner *r,
    bool (*keep)(const struct runner_container_info *info, void *arg),
    void *arg)
{
	bool any = false;

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->nctrs; i++) {
		struct runner_ctr *c = r->ctrs[i];
		struct runner_container_info info;
		bool k;

		if (!c->held || c->busy)
			continue;
		c->held = false;
		runner_ctr_info(&info, c);
		k = keep(&info, arg);
		runner_container_info_free(&info);
		if (k) {
			c->restarts++;
			c->restart_at = clock_mono();
			any = true;
			log_info("runner: %s (%s) is still wanted here; "
			    "restarting", c->id, c->process);
		} else {
			c->want_up = false;
			log_info("runner: %s (%s) is not wanted here any more; "
			    "left down", c->id, c->process);
		}
		runner_ctr_save(r, c);
	}
	pthread_mutex_unlock(&r->mu);
	if (any)
		runner_wake(r);
}

int
runner_open(struct runner **out, const struct runner_opts *opts)
{
	struct runner *r;
	int rc = 0;

	if (opts == NULL || opts->home == NULL || opts->home[0] != '/')
		return err_set(ERR_INVALID, "the runner needs an absolute "
		    "SLIPWAY_HOME");
	r = xcalloc(1, sizeof(*r));
	r->home = xstrdup(opts->home);
	r->images_dir = xasprintf("%s/runner/images", r->home);
	r->ctrs_dir = xasprintf("%s/runner/containers", r->home);
	r->runc_root = xasprintf("%s/runner/runc", r->home);
	r->port_base = opts->port_base ? opts->port_base :
	    RUNNER_PORT_BASE;
	r->backoff_max = opts->backoff_max_sec > 0 ? opts->backoff_max_sec : 30;
	r->grace = opts->stop_grace_sec > 0 ? opts->stop_grace_sec : 10;
	r->log_max = opts->log_max;
	r->cancel = opts->cancel;
	r->on_event = opts->on_event;
	r->on_log = opts->on_log;
	r->ctx = opts->ctx;
	r->hold_dead = opts->hold_dead;
	r->wake_fd = -1;
	r->lock_fd = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->logmu, NULL);
	pthread_cond_init(&r->cv, NULL);

	r->driver = opts->driver;
	r->runc = runner_find_runc(opts->runc);
	/* Without runc, root would run members' apps on the host as root:
	 * only when the operator asks for it (--driver process). */
	if (r->driver == RUNNER_DRIVER_AUTO && r->runc == NULL &&
	    geteuid() == 0) {
		rc = err_set(ERR_UNSUPPORTED, "runc is not installed, and "
		    "without it apps would run on the host as root: install "
		    "runc, or pass --driver process to run them so, with no "
		    "isolation");
		goto done;
	}
	if (r->driver == RUNNER_DRIVER_AUTO)
		r->driver = r->runc && geteuid() == 0 ? RUNNER_DRIVER_RUNC :
		    RUNNER_DRIVER_PROCESS;
	if (r->driver == RUNNER_DRIVER_RUNC && (r->runc == NULL ||
	    geteuid() != 0)) {
		rc = err_set(ERR_UNSUPPORTED, "the runc driver needs root and "
		    "runc (%s); use --driver process", r->runc ? "not root" :
		    "runc not found");
		goto done;
	}
	if ((rc = fs_mkdir_p(r->images_dir, 0755)) < 0 ||
	    (rc = fs_mkdir_p(r->ctrs_dir, 0700)) < 0 ||
	    (rc = fs_mkdir_p(r->runc_root, 0700)) < 0)
		goto done;
	/* Two runners over one home would both restart every crash. */
	{
		char *lp = xasprintf("%s/runner/lock", r->home), pid[32];
		r->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (r->lock_fd < 0)
			rc = err_sys("cannot open '%s'", lp);
		else if (flock(r->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			ssize_t n = pread(r->lock_fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			rc = err_set(ERR_CONFLICT, "another runner (pid %s) uses "
			    "'%s'", pid[0] ? pid : "?", r->home);
		} else {
			int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			(void)!ftruncate(r->lock_fd, 0);
			(void)!pwrite(r->lock_fd, pid, (size_t)n, 0);
		}
		free(lp);
		if (rc < 0)
			goto done;
	}
	/* The init every runc container runs its command under; written
	 * here so that the file always matches this binary. */
	if (r->driver == RUNNER_DRIVER_RUNC &&
	    (rc = runner_init_install(&r->init, r->home)) < 0)
		goto done;
	/* Container processes outlive runc create; as a subreaper we get
	 * them as children, and with them their exit codes. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		rc = err_sys("cannot become a child subreaper");
		goto done;
	}
	if ((r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = err_sys("cannot make an eventfd");
		goto done;
	}
	runner_adopt_all(r);
	if (pthread_create(&r->thread, NULL, runner_thread, r) != 0) {
		rc = err_set(ERR_IO, "cannot start the supervisor thread");
		goto done;
	}
	r->thread_started = true;
done:
	if (rc < 0) {
		runner_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void
runner_close(struct runner *r)
{
	if (r == NULL)
		return;
	if (r->thread_started) {
		pthread_mutex_lock(&r->mu);
		r->stopping = true;
		pthread_mutex_unlock(&r->mu);
		runner_wake(r);
		pthread_join(r->thread, NULL);
	}
	for (size_t i = 0; i < r->nctrs; i++) {
		runner_ctr_tail(r, r->ctrs[i], false);
		runner_ctr_save(r, r->ctrs[i]);
		runner_ctr_free(r->ctrs[i]);
	}
	free(r->ctrs);
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	if (r->lock_fd >= 0)
		close(r->lock_fd);	/* drops the flock */
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->logmu);
	pthread_cond_destroy(&r->cv);
	free(r->runc);
	free(r->init);
	free(r->runc_root);
	free(r->ctrs_dir);
	free(r->images_dir);
	free(r->home);
	free(r);
}
