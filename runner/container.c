/*
 * The drivers: how one container's process is started, signalled, waited
 * for and cleaned up, and how its state is kept on disk.
 *
 * runc: containers/<id>/ is the OCI bundle.  Its rootfs is an overlay
 * mount (lower: the image's shared rootfs; upper and work: fresh dirs in
 * the bundle, emptied at each start), config.json is made by bundle.c.
 * `runc create` runs with stdin /dev/null and stdout and stderr on the
 * container's output file; for a non-terminal container runc hands those
 * descriptors to the process.  runc create exits once the container
 * exists; its init is then re-parented to us (we are a child subreaper),
 * so its exit status is ours to collect.  Then `runc start`.
 *
 * The process is the runner's init (runner/init/slipway-init.c, mounted
 * read-only at RUNNER_INIT_PATH) with /bin/sh -c COMMAND under it: as
 * PID 1 of the container's pid namespace it takes the stop's SIGTERM
 * (which the kernel would keep from a PID 1 without a handler), passes
 * it to the command's process group, and reaps orphans.  The pid file,
 * and so c->pid, is the init's.
 *
 * process: /bin/sh -c COMMAND as a plain child in its own session, cwd the
 * image's /app, same environment.  No isolation, no ephemeral filesystem.
 *
 * Each container is watched through a pidfd, which works for children
 * (exit code known) and for processes adopted after a runner restart
 * (exit code unknown, -1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/proc.h"

#define STATE_MAX (1 << 20)

extern char **environ;

/* /proc/<pid>/stat field 22, to tell a pid from its reuse. */
static unsigned long long
ctr_pid_start(pid_t pid)
{
	char path[64], *p;
	struct buf b;
	unsigned long long v = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (fs_read_file(&b, path, 8192) < 0) {
		err_clear();
		return 0;
	}
	if ((p = strrchr(b.ptr, ')')) != NULL) {
		/* after ")": state is field 3; starttime is field 22 */
		p++;
		for (int f = 3; f <= 22 && p; f++) {
			p = strchr(p, ' ');
			if (p)
				p++;
			if (f == 22 && p)
				v = strtoull(p, NULL, 10);
		}
	}
	buf_free(&b);
	return v;
}

/* fork/exec with stdin /dev/null and stdout+stderr on outfd.  Exec
 * failures come back through a close-on-exec pipe. */
static int
ctr_spawn(pid_t *out, char *const argv[], char *const env[], const char *cwd,
    int outfd, bool session)
{
	int rep[2], e = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(rep, O_CLOEXEC) < 0)
		return err_sys("cannot make a pipe");
	if ((pid = fork()) < 0) {
		close(rep[0]);
		close(rep[1]);
		return err_sys("cannot fork");
	}
	if (pid == 0) {
		sigset_t none;
		int nul = open("/dev/null", O_RDONLY);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (session)
			setsid();
		if (nul >= 0)
			dup2(nul, 0);
		dup2(outfd, 1);
		dup2(outfd, 2);
		if (cwd && chdir(cwd) < 0)
			goto fail;
		execve(argv[0], argv, env ? env : environ);
		if (strchr(argv[0], '/') == NULL)
			execvpe(argv[0], argv, env ? env : environ);
fail:
		e = errno;
		(void)!write(rep[1], &e, sizeof(e));
		_exit(127);
	}
	close(rep[1]);
	while ((n = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(rep[0]);
	if (n == sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
		return err_sys("cannot run '%s'", argv[0]);
	}
	*out = pid;
	return 0;
}

/* runc's log lines look like `time="..." level=error msg="..."`: keep the
 * message.  Returns a malloc'd string. */
static char *
ctr_runc_msg(const char *line)
{
	const char *m = strstr(line, "msg=\"");
	struct buf b;

	if (m == NULL)
		return xstrdup(line);
	buf_init(&b, 4096);
	for (m += 5; *m && *m != '"'; m++) {
		if (*m == '\\' && m[1])
			m++;
		buf_putc(&b, *m);
	}
	buf_puts(&b, "");
	return buf_detach(&b, NULL);
}

/* Run `runc --root R ARGS...`; on failure the message is runc's last
 * words. */
static int
ctr_runc(struct runner *r, struct runner_ctr *c, const char *what,
    char *const *args)
{
	char *logp = xasprintf("%s/runc.log", c->dir);
	char *argv[16];
	struct buf out;
	int n = 0, rc;

	argv[n++] = r->runc;
	argv[n++] = "--root";
	argv[n++] = r->runc_root;
	argv[n++] = "--log";
	argv[n++] = logp;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	rc = proc_run(&out, argv, PROC_ERR_TO_OUT, 64 << 10);
	if (rc > 0) {
		char *msg = out.ptr ? out.ptr : "";
		size_t len = strlen(msg);
		while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
			msg[--len] = '\0';
		char *last = strrchr(msg, '\n');
		char *m = ctr_runc_msg(last ? last + 1 : len ? msg :
		    "no message");
		rc = err_set(ERR_IO, "runc %s '%s' failed: %s", what, c->id, m);
		free(m);
	} else if (rc < 0) {
		err_wrap(rc, "runc %s '%s'", what, c->id);
	}
	buf_free(&out);
	free(logp);
	return rc;
}

static int
ctr_mount(struct runner_ctr *c)
{
	char *upper = xasprintf("%s/upper", c->dir);
	char *work = xasprintf("%s/work", c->dir);
	char *root = xasprintf("%s/rootfs", c->dir);
	char *opts = NULL;
	int rc = 0;

	if (strpbrk(c->rootfs_lower, ",:") || strpbrk(c->dir, ",:")) {
		rc = err_set(ERR_INVALID, "'%s' has a ',' or ':', which an "
		    "overlay mount cannot take; choose another SLIPWAY_HOME",
		    c->dir);
		goto done;
	}
	/* The ephemeral filesystem: empty at every start. */
	if ((rc = fs_remove_tree(upper)) < 0 || (rc = fs_remove_tree(work)) < 0)
		goto done;
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 ||
	    (mkdir(root, 0755) < 0 && errno != EEXIST)) {
		rc = err_sys("cannot make the directories of '%s'", c->dir);
		goto done;
	}
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s",
	    c->rootfs_lower, upper, work);
	if (mount("overlay", root, "overlay", MS_NODEV, opts) < 0) {
		rc = err_sys("cannot mount the overlay rootfs of '%s'", c->id);
		goto done;
	}
	c->mounted = true;
done:
	free(opts);
	free(root);
	free(work);
	free(upper);
	return rc;
}

static void
ctr_umount(struct runner_ctr *c)
{
	char *root = xasprintf("%s/rootfs", c->dir);

	if (umount2(root, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		log_warn("runner: cannot unmount '%s'", root);
	c->mounted = false;
	free(root);
}

/* The output file: the process writes it (O_APPEND), we read it. */
static int
ctr_output_open(struct runner_ctr *c, int *wfd)
{
	char *path = xasprintf("%s/output", c->dir);
	int rc = 0;

	*wfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (*wfd < 0) {
		rc = err_sys("cannot open '%s'", path);
		goto done;
	}
	if (c->out_fd < 0) {
		struct stat st;
		c->out_fd = open(path, O_RDWR | O_CLOEXEC);
		if (c->out_fd < 0) {
			rc = err_sys("cannot open '%s'", path);
			close(*wfd);
			*wfd = -1;
			goto done;
		}
		/* Resume where the last reader stopped (or at the end). */
		if (fstat(c->out_fd, &st) == 0 &&
		    c->out_off > (uint64_t)st.st_size)
			c->out_off = (uint64_t)st.st_size;
	}
done:
	free(path);
	return rc;
}

int
runner_ctr_prepare(struct runner *r, struct runner_ctr *c)
{
	char *root = NULL, *cfg = NULL, *text = NULL, *host = NULL;
	json_t *j = NULL;
	int rc;

	if ((rc = fs_mkdir_p(c->dir, 0700)) < 0)
		return rc;
	if (c->driver != RUNNER_DRIVER_RUNC)
		return 0;
	if (c->mounted)
		ctr_umount(c);
	if ((rc = ctr_mount(c)) < 0)
		return rc;
	root = xasprintf("%s/rootfs", c->dir);
	host = xasprintf("%s-%s-%u", c->app, c->ptype, c->index);
	struct rlimit rl = { 65536, 65536 };
	/* Not above our own hard limit: runc could not raise it. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max > 65536)
		rl.rlim_max = 65536;
	struct runner_bundle_params p = {
		.nofile = rl.rlim_max,
		.id = c->id, .rootfs = root, .command = c->command,
		.env = c->env, .cwd = "/app", .uid = c->uid, .gid = c->gid,
		.hostname = host, .memory_bytes = c->memory_bytes,
		.pids_max = c->pids_max, .host_resolv = true,
		.init = r->init,
	};
	c->init = r->init != NULL;
	j = runner_bundle_config(&p);
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	cfg = xasprintf("%s/config.json", c->dir);
	rc = fs_write_atomic(cfg, text, strlen(text), 0600);
	json_decref(j);
	free(text);
	free(cfg);
	free(host);
	free(root);
	return rc;
}

static int
ctr_launch_runc(struct runner *r, struct runner_ctr *c, int wfd)
{
	char *pidp = xasprintf("%s/pid", c->dir);
	char *argv[16], *logp = xasprintf("%s/runc.log", c->dir);
	struct buf pb = { 0 };
	pid_t runc_pid;
	int n = 0, rc, st;

	unlink(pidp);
	/* A container of this id left by a crash of ours goes first. */
	{
		char *del[] = { "delete", "--force", c->id, NULL };
		ctr_runc(r, c, "delete", del);
		err_clear();
	}
	argv[n++] = r->runc;
	argv[n++] = "--root";
	argv[n++] = r->runc_root;
	argv[n++] = "--log";
	argv[n++] = logp;
	argv[n++] = "create";
	argv[n++] = "--bundle";
	argv[n++] = c->dir;
	argv[n++] = "--pid-file";
	argv[n++] = pidp;
	argv[n++] = c->id;
	argv[n] = NULL;
	if ((rc = ctr_spawn(&runc_pid, argv, NULL, c->dir, wfd, false)) < 0)
		goto done;
	while (waitpid(runc_pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		struct buf lb;
		char *last = NULL;
		if (fs_read_file(&lb, logp, 1 << 20) == 0) {
			while (lb.len && lb.ptr[lb.len - 1] == '\n')
				lb.ptr[--lb.len] = '\0';
			last = strrchr(lb.ptr, '\n');
			last = ctr_runc_msg(last ? last + 1 : lb.ptr);
			buf_free(&lb);
		}
		rc = err_set(ERR_IO, "runc create '%s' failed: %s", c->id,
		    last && last[0] ? last : "see its output in the app log");
		free(last);
		goto done;
	}
	if ((rc = fs_read_file(&pb, pidp, 64)) < 0)
		goto done;
	c->pid = (pid_t)atoi(pb.ptr);
	if (c->pid <= 1) {
		rc = err_set(ERR_IO, "runc create '%s' wrote no pid", c->id);
		goto done;
	}
	c->child = true;
	if ((c->pidfd = pidfd_open(c->pid, 0)) < 0) {
		rc = err_sys("cannot watch process %d", (int)c->pid);
		goto done;
	}
	c->pid_start = ctr_pid_start(c->pid);
	c->state = RUNNER_STATE_CREATED;
	{
		char *start[] = { "start", c->id, NULL };
		if ((rc = ctr_runc(r, c, "start", start)) < 0)
			goto done;
	}
done:
	buf_free(&pb);
	free(logp);
	free(pidp);
	return rc;
}

static int
ctr_launch_process(struct runner *r, struct runner_ctr *c, int wfd)
{
	char *argv[] = { "/bin/sh", "-c", c->command, NULL };
	char *cwd = fs_join(c->rootfs_lower, "app");
	int rc;

	if (!fs_is_dir(cwd)) {
		free(cwd);
		cwd = xstrdup(c->rootfs_lower);
	}
	rc = ctr_spawn(&c->pid, argv, c->env, cwd, wfd, true);
	free(cwd);
	if (rc < 0)
		return rc;
	c->child = true;
	c->state = RUNNER_STATE_CREATED;
	if ((c->pidfd = pidfd_open(c->pid, 0)) < 0)
		return err_sys("cannot watch process %d", (int)c->pid);
	c->pid_start = ctr_pid_start(c->pid);
	return 0;
}

int
runner_ctr_launch(struct runner *r, struct runner_ctr *c)
{
	int wfd = -1, rc;

	if ((rc = ctr_output_open(c, &wfd)) < 0)
		return rc;
	if (c->driver == RUNNER_DRIVER_RUNC)
		rc = ctr_launch_runc(r, c, wfd);
	else
		rc = ctr_launch_process(r, c, wfd);
	close(wfd);
	if (rc < 0) {
		/* A half-made container: take it down again. */
		if (c->pid > 0) {
			runner_ctr_signal(r, c, SIGKILL);
			runner_ctr_reap(r, c, true, 5);
		}
		err_wrap(rc, "cannot start '%s'", c->process);
		return rc;
	}
	c->state = RUNNER_STATE_UP;
	c->started_mono = clock_mono();
	c->started_at = runner_now_wall();
	return 0;
}

int
runner_ctr_signal(struct runner *r, struct runner_ctr *c, int sig)
{
	if (c->pid <= 0)
		return 0;
	if (c->driver == RUNNER_DRIVER_RUNC) {
		/* Under the init, a signal for the app goes to the init alone:
		 * it passes it to the command's process group (with --all as
		 * well, every process would get it twice).  Without one, the
		 * command is PID 1 and deaf to signals it has no handler for,
		 * so --all: every process of the container, so a shell's
		 * children still see it.  SIGKILL is always for all. */
		char num[16];
		snprintf(num, sizeof(num), "%d", sig);
		char *kill_all[] = { "kill", "--all", c->id, num, NULL };
		char *kill_init[] = { "kill", c->id, num, NULL };
		if (ctr_runc(r, c, "kill", c->init && sig != SIGKILL ?
		    kill_init : kill_all) == 0)
			return 0;
		err_clear();
		/* runc may already see it stopped; the pidfd still works */
		if (c->pidfd >= 0)
			pidfd_send_signal(c->pidfd, sig, NULL, 0);
		return 0;
	}
	/* its own session: the whole group */
	if (kill(-c->pid, sig) < 0 && c->pidfd >= 0)
		pidfd_send_signal(c->pidfd, sig, NULL, 0);
	return 0;
}

int
runner_ctr_reap(struct runner *r, struct runner_ctr *c, bool block,
    double wait_sec)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };
	double end = clock_mono() + wait_sec;
	siginfo_t si;

	if (c->pidfd < 0)
		return 1;
	for (;;) {
		int ms = block ? (int)((end - clock_mono()) * 1000) : 0;
		if (ms < 0)
			ms = 0;
		int n = poll(&p, 1, ms);
		if (n > 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		return 0;	/* still running */
	}
	c->exit_code = -1;
	/* What the shell left behind goes too; while the leader is an
	 * unreaped zombie its pid, and so the group id, cannot be reused. */
	if (c->driver == RUNNER_DRIVER_PROCESS && c->child)
		kill(-c->pid, SIGKILL);
	/* An adopted shell was reaped by someone else, and dash does not
	 * exec the last command: its children (the app, holding the port)
	 * live on in the group.  The group's id cannot be reused while it
	 * has members; the pid can once the group is empty, so the group is
	 * killed only while the pid is gone or still ours (a zombie). */
	if (c->driver == RUNNER_DRIVER_PROCESS && !c->child && c->pid > 0) {
		unsigned long long st = ctr_pid_start(c->pid);
		if (st == 0 || st == c->pid_start)
			kill(-c->pid, SIGKILL);
	}
	if (c->child) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PIDFD, (id_t)c->pidfd, &si, WEXITED) == 0)
			c->exit_code = si.si_code == CLD_EXITED ? si.si_status :
			    128 + si.si_status;
	}
	close(c->pidfd);
	c->pidfd = -1;
	c->pid = 0;
	c->child = false;
	return 1;
}

void
runner_ctr_cleanup(struct runner *r, struct runner_ctr *c, bool all)
{
	if (c->driver == RUNNER_DRIVER_RUNC) {
		char *del[] = { "delete", "--force", c->id, NULL };
		if (ctr_runc(r, c, "delete", del) < 0 && all)
			log_warnx("runner: %s", err_last());
		ctr_umount(c);
	}
	if (!all)
		return;
	pthread_mutex_lock(&r->logmu);
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->out_fd = -1;
	pthread_mutex_unlock(&r->logmu);
	if (fs_remove_tree(c->dir) < 0)
		log_warnx("runner: %s", err_last());
}

/* ---- state files ----------------------------------------------------- */

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
json_str(json_t *o, const char *key)
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

	c->id = json_str(j, "id");
	c->app = json_str(j, "app");
	c->release = json_str(j, "release");
	c->ptype = json_str(j, "process_type");
	c->command = json_str(j, "command");
	c->image = json_str(j, "image");
	c->rootfs_lower = json_str(j, "rootfs_lower");
	/* state files from before labels have none */
	c->label = json_str(j, "label");
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
	if (c->pid > 1 && c->pid_start && ctr_pid_start(c->pid) == c->pid_start
	    && (c->pidfd = pidfd_open(c->pid, 0)) >= 0) {
		c->child = false;	/* someone else's now: no exit code */
		if (ctr_output_open(c, &wfd) == 0)
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
			if (c->pid > 0 && ctr_pid_start(c->pid) != c->pid_start)
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
