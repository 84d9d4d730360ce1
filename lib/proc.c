/* Child processes; see include/slipway/proc.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/proc.h"

#define PROC_PASS_MAX 16
#define PROC_PID_KEY "LISTEN_PID="

extern char **environ;

static void
proc_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int
proc_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_sys("cannot write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool
proc_env_is(const char *entry, const char *name_eq)
{
	return strncmp(entry, name_eq, strlen(name_eq)) == 0;
}

/* Whether the base environment's entry is replaced in the child. */
static bool
proc_env_dropped(const char *entry, const struct proc_opts *o)
{
	if (o->nlisten && (proc_env_is(entry, PROC_PID_KEY) ||
	    proc_env_is(entry, "LISTEN_FDS=") ||
	    proc_env_is(entry, "LISTEN_FDNAMES=")))
		return true;
	for (char *const *a = o->env_add; a && *a; a++) {
		const char *eq = strchr(*a, '=');
		size_t n = eq ? (size_t)(eq - *a) + 1 : strlen(*a);
		if (strncmp(entry, *a, n) == 0)
			return true;
	}
	return false;
}

/*
 * The child's environment when opts adds to it (listening sockets,
 * env_add), built before fork: the child may not allocate.  *pid_slot is
 * the LISTEN_PID entry the child completes.  NULL when nothing is added.
 * Free with proc_env_free.
 */
static char **
proc_env_build(const struct proc_opts *o, char **pid_slot)
{
	char *const *base = o->env ? o->env : environ;
	size_t nb = 0, na = 0, k = 0;
	char **env;

	*pid_slot = NULL;
	if (o->nlisten == 0 && o->env_add == NULL)
		return NULL;
	while (base[nb])
		nb++;
	while (o->env_add && o->env_add[na])
		na++;
	env = xcalloc(nb + na + 4, sizeof(*env));
	for (size_t i = 0; i < nb; i++)
		if (!proc_env_dropped(base[i], o))
			env[k++] = xstrdup(base[i]);
	for (size_t i = 0; i < na; i++)
		env[k++] = xstrdup(o->env_add[i]);
	if (o->nlisten) {
		env[k++] = xasprintf("LISTEN_FDS=%zu", o->nlisten);
		env[k++] = xasprintf("LISTEN_FDNAMES=%s",
		    o->listen_names ? o->listen_names : "");
		/* room for the digits of any pid */
		*pid_slot = env[k++] = xasprintf("%s%24s", PROC_PID_KEY, "");
	}
	return env;
}

static void
proc_env_free(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* In the child: put pass_fds at 3, 4, ... open across exec, and move the
 * report pipe (*report) above them first so no target lands on it.
 * -1 (errno set) on failure. */
static int
proc_child_fds(const struct proc_opts *o, int *report)
{
	int tmp[PROC_PASS_MAX], above = 3 + (int)o->npass_fds, r;

	if (o->npass_fds == 0)
		return 0;
	if ((r = fcntl(*report, F_DUPFD_CLOEXEC, above)) < 0)
		return -1;
	close(*report);
	*report = r;
	for (size_t i = 0; i < o->npass_fds; i++)
		if ((tmp[i] = fcntl(o->pass_fds[i], F_DUPFD_CLOEXEC, above)) < 0)
			return -1;
	for (size_t i = 0; i < o->npass_fds; i++) {
		/* dup2 leaves the new descriptor open across exec */
		if (dup2(tmp[i], 3 + (int)i) < 0)
			return -1;
		close(tmp[i]);
	}
	return 0;
}

/* The child's pid in decimal into slot (async-signal-safe). */
static void
proc_child_pid(char *slot)
{
	char digits[24];
	int n = 0;
	unsigned long v = (unsigned long)getpid();

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(digits));
	slot += strlen(PROC_PID_KEY);
	while (n)
		*slot++ = digits[--n];
	*slot = '\0';
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void __attribute__((noreturn))
proc_child(char *const argv[], const struct proc_opts *o, int pin[2],
    int pout[2], int perr[2], int report, pid_t parent, char *const *env,
    char *pid_slot)
{
	sigset_t none;
	int e;

	if (o->flags & PROC_DIE_WITH_PARENT) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
			goto fail;
		/* The parent may have died between fork and prctl, and then
		 * no signal ever comes: it is still there only if getppid()
		 * still names it.  Nobody is left to tell. */
		if (getppid() != parent)
			_exit(127);
	}

	/* Daemons block signals to take them synchronously; a child must
	 * start with a clean mask or it could never be stopped. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (o->flags & PROC_NEW_SESSION)
		setsid();
	if (o->flags & PROC_PIPE_IN)
		dup2(pin[0], 0);
	else if (o->flags & PROC_NULL_IN) {
		int fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
	}
	if (o->flags & PROC_OUT_TO_FD) {
		dup2(o->out_fd, 1);
		dup2(o->out_fd, 2);
	}
	if (o->flags & PROC_PIPE_OUT)
		dup2(pout[1], 1);
	if (o->flags & PROC_ERR_TO_OUT)
		dup2(1, 2);
	else if (o->flags & PROC_PIPE_ERR)
		dup2(perr[1], 2);
	for (int i = 0; i < 2; i++) {
		if (pin[i] > 2) close(pin[i]);
		if (pout[i] > 2) close(pout[i]);
		if (perr[i] > 2) close(perr[i]);
	}
	if (proc_child_fds(o, &report) < 0)
		goto fail;
	if (pid_slot)
		proc_child_pid(pid_slot);
	if (o->cwd && chdir(o->cwd) < 0)
		goto fail;
	if (env)
		execvpe(argv[0], argv, env);
	else
		execvp(argv[0], argv);
fail:
	e = errno;
	(void)!write(report, &e, sizeof(e));
	_exit(127);
}

int
proc_spawn(struct proc *out, char *const argv[], const struct proc_opts *opts)
{
	struct proc_opts none = { 0 };
	const struct proc_opts *o = opts ? opts : &none;
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	int rep[2] = { -1, -1 }, e = 0, rc;
	pid_t pid, self = getpid();
	char **env = NULL, *pid_slot;
	ssize_t n;

	out->pid = -1;
	out->in = out->out = out->err = -1;
	if (o->npass_fds > PROC_PASS_MAX || o->nlisten > o->npass_fds)
		return err_set(ERR_INVALID, "cannot pass %zu descriptors (%zu "
		    "listening) to '%s'", o->npass_fds, o->nlisten, argv[0]);
	env = proc_env_build(o, &pid_slot);
	if (((o->flags & PROC_PIPE_IN) && pipe2(pin, O_CLOEXEC) < 0) ||
	    ((o->flags & PROC_PIPE_OUT) && pipe2(pout, O_CLOEXEC) < 0) ||
	    ((o->flags & PROC_PIPE_ERR) && pipe2(perr, O_CLOEXEC) < 0) ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		rc = err_sys("cannot make pipes for '%s'", argv[0]);
		goto fail;
	}
	if ((pid = fork()) < 0) {
		rc = err_sys("cannot fork for '%s'", argv[0]);
		goto fail;
	}
	if (pid == 0)
		proc_child(argv, o, pin, pout, perr, rep[1], self,
		    env ? env : o->env, pid_slot);
	proc_env_free(env);
	env = NULL;
	proc_close(&rep[1]);
	while ((n = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	proc_close(&rep[0]);
	if (n == sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		errno = e;
		rc = err_sys("cannot run '%s'", argv[0]);
		if (o->cwd && e == ENOENT && access(o->cwd, F_OK) < 0)
			rc = err_sys("cannot run '%s' in '%s'", argv[0], o->cwd);
		goto fail;
	}
	out->pid = pid;
	out->in = pin[1];
	out->out = pout[0];
	out->err = perr[0];
	proc_close(&pin[0]);
	proc_close(&pout[1]);
	proc_close(&perr[1]);
	return 0;
fail:
	proc_env_free(env);
	for (int i = 0; i < 2; i++) {
		proc_close(&pin[i]);
		proc_close(&pout[i]);
		proc_close(&perr[i]);
		proc_close(&rep[i]);
	}
	return rc;
}

int
proc_wait(struct proc *p)
{
	int status;

	proc_close(&p->in);
	proc_close(&p->out);
	proc_close(&p->err);
	if (p->pid <= 0)
		return err_set(ERR_INVALID, "no child to wait for");
	while (waitpid(p->pid, &status, 0) < 0) {
		if (errno != EINTR)
			return err_sys("cannot wait for child %d", (int)p->pid);
	}
	p->pid = -1;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return err_set(ERR_IO, "child ended in an unknown way");
}

int
proc_run(struct buf *out, char *const argv[], int flags, size_t max)
{
	struct proc_opts o = { .flags = (flags & ~PROC_PIPE_IN) |
	    PROC_PIPE_OUT | PROC_NULL_IN };
	struct proc p;
	char chunk[16384];
	ssize_t n;
	int rc, over = 0;

	buf_init(out, max);
	if ((rc = proc_spawn(&p, argv, &o)) < 0)
		return rc;
	while ((n = read(p.out, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* Keep draining past the cap so the child is not blocked. */
		if (!over && buf_put(out, chunk, (size_t)n) < 0)
			over = 1;
	}
	rc = proc_wait(&p);
	if (over && rc >= 0)
		return err_set(ERR_TOOBIG, "output of '%s' is over %zu bytes",
		    argv[0], out->max);
	if (out->ptr == NULL)
		buf_put(out, "", 0);
	return rc;
}

static void
proc_emit_lines(struct buf *b, proc_line_fn fn, void *ctx, bool all)
{
	char *nl;

	/* b->ptr is NULL until the first byte: no memchr(NULL, ...). */
	while (b->len && (nl = memchr(b->ptr, '\n', b->len)) != NULL) {
		*nl = '\0';
		fn(b->ptr, ctx);
		buf_consume(b, (size_t)(nl - b->ptr) + 1);
	}
	if (b->len && (all || b->len >= PROC_LINE_MAX)) {
		fn(b->ptr, ctx);
		buf_reset(b);
	}
}

int
proc_run_lines(char *const argv[], const struct proc_opts *opts,
    unsigned timeout_sec, proc_line_fn fn, void *ctx)
{
	struct proc_opts o = { .flags = PROC_PIPE_OUT | PROC_ERR_TO_OUT |
	    PROC_NULL_IN | PROC_NEW_SESSION };
	struct timespec start, now;
	struct buf line;
	struct proc p;
	char chunk[4096];
	bool timed_out = false, stopped = false;
	int rc;

	if (opts) {
		o.cwd = opts->cwd;
		o.env = opts->env;
		o.env_add = opts->env_add;
		o.stop = opts->stop;
	}
	if ((rc = proc_spawn(&p, argv, &o)) < 0)
		return rc;
	buf_init(&line, PROC_LINE_MAX * 2);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = p.out, .events = POLLIN };
		int wait_ms = -1;
		ssize_t n;

		if (o.stop && *o.stop) {
			stopped = true;
			kill(-p.pid, SIGKILL);
			break;
		}
		if (timeout_sec) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long left = (long long)timeout_sec * 1000 -
			    ((now.tv_sec - start.tv_sec) * 1000LL +
			    (now.tv_nsec - start.tv_nsec) / 1000000);
			if (left <= 0) {
				timed_out = true;
				kill(-p.pid, SIGKILL);
				break;
			}
			wait_ms = left > 1000 ? 1000 : (int)left;
		}
		/* a stop is looked at five times a second */
		if (o.stop && (wait_ms < 0 || wait_ms > 200))
			wait_ms = 200;
		if (poll(&pfd, 1, wait_ms) <= 0)
			continue;
		n = read(p.out, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_put(&line, chunk, (size_t)n);
		proc_emit_lines(&line, fn, ctx, false);
	}
	proc_emit_lines(&line, fn, ctx, true);
	buf_free(&line);
	pid_t group = p.pid;
	rc = proc_wait(&p);
	/* Whatever the group left behind goes with it. */
	if (group > 1)
		kill(-group, SIGKILL);
	if (timed_out)
		return err_set(ERR_TIMEOUT, "'%s' ran longer than %us and was "
		    "stopped", argv[0], timeout_sec);
	if (stopped)
		return err_set(ERR_CONFLICT, "'%s' was stopped", argv[0]);
	return rc;
}
