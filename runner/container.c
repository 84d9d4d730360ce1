/*
 * The drivers: how one container's process is started, signalled, waited
 * for and cleaned up (its state on disk: container_state.c).
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

unsigned long long
runner_ctr_pid_start(pid_t pid)
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

/* Start argv with stdin /dev/null and stdout and stderr on outfd (the
 * container's output file). */
static int
ctr_spawn(pid_t *out, char *const argv[], char *const env[], const char *cwd,
    int outfd, bool session)
{
	struct proc_opts o = { .flags = PROC_NULL_IN | PROC_OUT_TO_FD |
	    (session ? PROC_NEW_SESSION : 0), .cwd = cwd, .env = env,
	    .out_fd = outfd };
	struct proc p;
	int rc;

	if ((rc = proc_spawn(&p, argv, &o)) < 0)
		return rc;
	*out = p.pid;
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
	char *what = xasprintf("the overlay rootfs of '%s'", c->id);
	int rc = runner_overlay_mount(c->dir, c->rootfs_lower, what);

	free(what);
	if (rc == 0)
		c->mounted = true;
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

int
runner_ctr_output_open(struct runner_ctr *c, int *wfd)
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
	c->pid_start = runner_ctr_pid_start(c->pid);
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
	char *argv[] = { "/bin/sh", "-c", RUNNER_PROFILE_SCRIPT, "slipway",
	    c->command, NULL };
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
	c->pid_start = runner_ctr_pid_start(c->pid);
	return 0;
}

int
runner_ctr_launch(struct runner *r, struct runner_ctr *c)
{
	int wfd = -1, rc;

	if ((rc = runner_ctr_output_open(c, &wfd)) < 0)
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
		unsigned long long st = runner_ctr_pid_start(c->pid);
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
