/*
 * The state file of a container (containers/<id>/state.json): what it
 * holds, how it is written (atomically: temp file, fsync, rename) and
 * read back, the adoption of a container a previous runner left, and the
 * snapshots made from it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"

#define STATE_MAX (1 << 20)

json_t *
runner_ctr_json(const struct runner_ctr *c)
{
	json_t *env = json_array();

	for (char **p = c->env; p && *p; p++)
		json_array_append_new(env, json_string(*p));
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:o, "
	    "s:I, s:I, s:I, s:i, s:b, s:s, s:i, s:s, s:b, s:I, s:I, s:i, "
	    "s:i, s:I, s:f, s:s, s:b, s:b}",
	    "id", c->id, "app", c->app, "release", c->release,
	    "process_type", c->ptype, "index", (int)c->index,
	    "command", c->command, "image", c->image,
	    "rootfs_lower", c->rootfs_lower, "env", env,
	    "uid", (json_int_t)c->uid, "gid", (json_int_t)c->gid,
	    "memory_bytes", (json_int_t)c->memory_bytes,
	    "pids_max", (int)c->pids_max, "no_restart", c->no_restart,
	    "driver", runner_driver_name(c->driver), "port", (int)c->port,
	    "state", runner_state_name(c->state), "want_up", c->want_up,
	    "pid", (json_int_t)c->pid,
	    "pid_start", (json_int_t)c->pid_start,
	    "exit_code", c->exit_code, "restarts", (int)c->restarts,
	    "output_offset", (json_int_t)c->out_off,
	    "started_at", c->started_at, "label", c->label ? c->label : "",
	    "init", c->init, "retiring", c->retiring);
}

static int
ctr_write_state(struct runner_ctr *c, const char *text)
{
	char *path = xasprintf("%s/state.json", c->dir);
	int rc = fs_write_atomic(path, text, strlen(text), 0600);

	free(path);
	return rc;
}

int
runner_ctr_save(struct runner *r, struct runner_ctr *c)
{
	json_t *j = runner_ctr_json(c);
	char *text = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(1));
	int rc = ctr_write_state(c, text);

	json_decref(j);
	free(text);
	return rc;
}

void
runner_ctr_flush(struct runner *r, struct runner_ctr *c)
{
	if (c->save_text == NULL)
		return;
	if (ctr_write_state(c, c->save_text) < 0)
		log_warnx("runner: %s", err_last());
	free(c->save_text);
	c->save_text = NULL;
}

static char *
ctr_json_strdup(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? xstrdup(s) : NULL;
}

static int
ctr_from_json(struct runner_ctr *c, json_t *j)
{
	json_t *env = json_object_get(j, "env"), *v;
	const char *state = json_string_value(json_object_get(j, "state"));
	const char *driver = json_string_value(json_object_get(j, "driver"));
	size_t i;

	c->id = ctr_json_strdup(j, "id");
	c->app = ctr_json_strdup(j, "app");
	c->release = ctr_json_strdup(j, "release");
	c->ptype = ctr_json_strdup(j, "process_type");
	c->command = ctr_json_strdup(j, "command");
	c->image = ctr_json_strdup(j, "image");
	c->rootfs_lower = ctr_json_strdup(j, "rootfs_lower");
	/* state files from before labels have none */
	c->label = ctr_json_strdup(j, "label");
	if (c->label == NULL)
		c->label = xstrdup("");
	if (!c->id || !c->app || !c->release || !c->ptype || !c->command ||
	    !c->image || !c->rootfs_lower || !state || !driver ||
	    !json_is_array(env))
		return err_set(ERR_INVALID, "state file misses fields");
	c->index = (unsigned)json_integer_value(json_object_get(j, "index"));
	c->process = xasprintf("%s.%u", c->ptype, c->index);
	c->env = xcalloc(json_array_size(env) + 1, sizeof(*c->env));
	json_array_foreach(env, i, v)
		c->env[i] = xstrdup(json_string_value(v) ?
		    json_string_value(v) : "");
	c->uid = (uid_t)json_integer_value(json_object_get(j, "uid"));
	c->gid = (gid_t)json_integer_value(json_object_get(j, "gid"));
	c->memory_bytes = (uint64_t)json_integer_value(json_object_get(j,
	    "memory_bytes"));
	c->pids_max = (unsigned)json_integer_value(json_object_get(j,
	    "pids_max"));
	c->no_restart = json_is_true(json_object_get(j, "no_restart"));
	c->want_up = json_is_true(json_object_get(j, "want_up"));
	/* absent from state files of before: false */
	c->retiring = json_is_true(json_object_get(j, "retiring"));
	c->init = json_is_true(json_object_get(j, "init"));
	c->port = (unsigned)json_integer_value(json_object_get(j, "port"));
	c->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	c->pid_start = (unsigned long long)json_integer_value(
	    json_object_get(j, "pid_start"));
	c->exit_code = (int)json_integer_value(json_object_get(j,
	    "exit_code"));
	c->restarts = (unsigned)json_integer_value(json_object_get(j,
	    "restarts"));
	c->out_off = (uint64_t)json_integer_value(json_object_get(j,
	    "output_offset"));
	c->started_at = json_real_value(json_object_get(j, "started_at"));
	if (runner_driver_parse(&c->driver, driver) < 0)
		return ERR_INVALID;
	for (int s = RUNNER_STATE_INITIALIZED; s <= RUNNER_STATE_DESTROYED;
	    s++)
		if (strcmp(state, runner_state_name((enum runner_state)s)) == 0)
			c->state = (enum runner_state)s;
	return 0;
}

static struct runner_ctr *
ctr_alloc(void)
{
	struct runner_ctr *c = xcalloc(1, sizeof(*c));

	c->pidfd = -1;
	c->out_fd = -1;
	c->exit_code = -1;
	buf_init(&c->partial, 16384);
	return c;
}

static int
ctr_read(struct runner_ctr **out, const char *dir)
{
	char *path = xasprintf("%s/state.json", dir);
	struct runner_ctr *c;
	json_error_t je;
	struct buf b;
	json_t *j;
	int rc;

	rc = fs_read_file(&b, path, STATE_MAX);
	free(path);
	if (rc < 0)
		return rc;
	j = json_loadb(b.ptr, b.len, 0, &je);
	buf_free(&b);
	if (j == NULL)
		return err_set(ERR_INVALID, "'%s/state.json': %s", dir, je.text);
	c = ctr_alloc();
	rc = ctr_from_json(c, j);
	json_decref(j);
	if (rc < 0) {
		runner_ctr_free(c);
		return err_wrap(rc, "'%s'", dir);
	}
	c->dir = xstrdup(dir);
	*out = c;
	return 0;
}

int
runner_ctr_load(struct runner_ctr **out, struct runner *r, const char *id)
{
	char *dir = xasprintf("%s/%s", r->ctrs_dir, id);
	int rc = ctr_read(out, dir);

	free(dir);
	return rc;
}

bool
runner_ctr_adopt(struct runner *r, struct runner_ctr *c)
{
	char *root = xasprintf("%s/rootfs", c->dir);
	struct stat a, b;
	int wfd;

	/* A mount point has another device than its parent. */
	c->mounted = stat(root, &a) == 0 && stat(c->dir, &b) == 0 &&
	    a.st_dev != b.st_dev;
	free(root);
	if (c->pid > 1 && c->pid_start && runner_ctr_pid_start(c->pid) == c->pid_start
	    && (c->pidfd = pidfd_open(c->pid, 0)) >= 0) {
		c->child = false;	/* someone else's now: no exit code */
		if (runner_ctr_output_open(c, &wfd) == 0)
			close(wfd);
		c->started_mono = clock_mono();
		return true;
	}
	c->pid = 0;
	return false;
}

void
runner_ctr_free(struct runner_ctr *c)
{
	if (c == NULL)
		return;
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	buf_free(&c->partial);
	free(c->save_text);
	runner_strv_free(c->env);
	free(c->id);
	free(c->dir);
	free(c->app);
	free(c->release);
	free(c->ptype);
	free(c->process);
	free(c->command);
	free(c->image);
	free(c->rootfs_lower);
	free(c->label);
	free(c);
}

void
runner_ctr_info(struct runner_container_info *out, const struct runner_ctr *c)
{
	out->id = xstrdup(c->id);
	out->app = xstrdup(c->app);
	out->release = xstrdup(c->release);
	out->process = xstrdup(c->process);
	out->image = xstrdup(c->image);
	out->driver = c->driver;
	out->state = c->state;
	out->port = c->port;
	out->pid = c->pid;
	out->exit_code = c->exit_code;
	out->restarts = c->restarts;
	out->started_at = c->started_at;
	out->label = xstrdup(c->label ? c->label : "");
	out->want_up = c->want_up;
	out->retiring = c->retiring;
	out->no_restart = c->no_restart;
	/* up again after the crashes, but not for long: still looping */
	out->crashed = c->want_up && !c->no_restart &&
	    c->streak >= RUNNER_CRASH_STREAK &&
	    (c->state != RUNNER_STATE_UP ||
	    clock_mono() - c->started_mono < RUNNER_STABLE_SEC);
}

int
runner_container_list_home(struct runner_container_info **out, size_t *n,
    const char *home)
{
	char *dir = xasprintf("%s/runner/containers", home);
	struct runner_container_info *v = NULL;
	size_t k = 0;
	struct dirent *d;
	DIR *dp;

	*out = NULL;
	*n = 0;
	if ((dp = opendir(dir)) == NULL) {
		int rc = errno == ENOENT ? 0 : err_sys("cannot read '%s'", dir);
		free(dir);
		return rc;
	}
	while ((d = readdir(dp)) != NULL) {
		struct runner_ctr *c;
		char *sub;
		if (d->d_name[0] == '.')
			continue;
		sub = xasprintf("%s/%s", dir, d->d_name);
		if (ctr_read(&c, sub) == 0) {
			v = xrealloc(v, (k + 1) * sizeof(*v));
			runner_ctr_info(&v[k++], c);
			/* A pid in a file says nothing once it has died. */
			if (c->pid > 0 && runner_ctr_pid_start(c->pid) != c->pid_start)
				v[k - 1].pid = 0;
			runner_ctr_free(c);
		}
		err_clear();
		free(sub);
	}
	closedir(dp);
	free(dir);
	*out = v;
	*n = k;
	return 0;
}

char **
runner_home_images_in_use(const char *home)
{
	struct runner_container_info *v;
	char **imgs;
	size_t n;

	if (runner_container_list_home(&v, &n, home) < 0)
		return NULL;
	imgs = xcalloc(n + 1, sizeof(*imgs));
	for (size_t i = 0; i < n; i++) {
		imgs[i] = xstrdup(v[i].image);
		runner_container_info_free(&v[i]);
	}
	free(v);
	return imgs;
}
