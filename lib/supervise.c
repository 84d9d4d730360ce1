/*
 * The process supervisor; see include/slipway/supervise.h.  One thread: a
 * poll loop over the children's output pipes and a signalfd for SIGCHLD,
 * SIGINT and SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/log.h"
#include "slipway/proc.h"
#include "slipway/supervise.h"
#include "supervise_int.h"

#define SUPERVISE_LINE_MAX 8192
#define SUPERVISE_STABLE_SEC 60.0
#define SUPERVISE_LISTEN_MAX 8
/* An old process told to stop in a reload drains first (the proxy for up
 * to 10 s, its own cut-off): a little longer than grace before SIGKILL,
 * so that its own cut-off comes first. */
#define SUPERVISE_STOP_SLACK_SEC 5.0

double
supervise_backoff(unsigned restarts, double max)
{
	double d = 1;

	for (unsigned i = 1; i < restarts && d < max; i++)
		d *= 2;
	return d < max ? d : max;
}

/* One line of the merged log, made whole before it is written: a
 * rotated file takes lines, not pieces. */
static void
supervise_say(struct supervise_log *log, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
supervise_say(struct supervise_log *log, const char *name, const char *fmt,
    ...)
{
	struct buf line;
	va_list ap;

	buf_init(&line, 0);
	buf_printf(&line, "%-10s | ", name);
	va_start(ap, fmt);
	buf_vprintf(&line, fmt, ap);
	va_end(ap);
	buf_putc(&line, '\n');
	supervise_log_put(log, line.ptr, line.len);
	buf_free(&line);
}

/* One line a child wrote, escaped (log_escape): whatever a service prints,
 * it cannot forge a line of another, or of itself, in the merged log, nor
 * send control sequences to the operator's terminal.  A service that logs
 * through log.c has escaped its line already; that changes nothing here. */
static void
supervise_line(struct supervise_log *log, const char *name, const char *s,
    size_t n)
{
	char *esc = xmalloc(4 * n + 1);

	log_escape(esc, 4 * n + 1, s, n);
	supervise_say(log, name, "%s", esc);
	free(esc);
}

/*
 * A service dies with the supervisor: killed with -9, the supervisor
 * cannot stop anyone, and services left behind would hold their ports
 * so that the next start crash-loops.  The signal is SIGKILL because
 * nobody is left to escalate a SIGTERM that a service sits on; every
 * service survives a kill -9 by design.  It reaches the service alone,
 * not what the service started: app containers (and builds) outlive the
 * supervisor as they outlive any restart of the runner.  supervise_run
 * runs in one thread that lives as long as the supervisor, which is
 * what PR_SET_PDEATHSIG watches.
 */
static int
supervise_start(struct supervise_svc *s, struct supervise_log *log, bool want_ready)
{
	struct proc_opts o = { .flags = PROC_PIPE_OUT | PROC_ERR_TO_OUT |
	    PROC_NULL_IN | PROC_NEW_SESSION | PROC_DIE_WITH_PARENT };
	int pass[SUPERVISE_LISTEN_MAX + 1], ready[2] = { -1, -1 };
	char ready_env[40], *env_add[2] = { NULL, NULL };
	struct proc p;
	int rc;

	if (s->nlisten > SUPERVISE_LISTEN_MAX) {
		supervise_say(log, s->name, "cannot start: more than %d "
		    "listening sockets", SUPERVISE_LISTEN_MAX);
		return ERR_INVALID;
	}
	for (size_t i = 0; i < s->nlisten; i++)
		pass[i] = s->listen_fds[i];
	o.pass_fds = pass;
	o.npass_fds = o.nlisten = s->nlisten;
	o.listen_names = s->listen_names;
	/* The readiness pipe is the descriptor after the sockets. */
	if (want_ready) {
		if (pipe2(ready, O_CLOEXEC) < 0) {
			supervise_say(log, s->name, "cannot start: cannot make a "
			    "pipe: %s", strerror(errno));
			return ERR_IO;
		}
		pass[o.npass_fds++] = ready[1];
		snprintf(ready_env, sizeof(ready_env), "SLIPWAY_READY_FD=%zu",
		    3 + s->nlisten);
		env_add[0] = ready_env;
		o.env_add = env_add;
	}
	rc = proc_spawn(&p, s->argv, &o);
	if (ready[1] >= 0)
		close(ready[1]);
	if (rc < 0) {
		if (ready[0] >= 0)
			close(ready[0]);
		supervise_say(log, s->name, "cannot start: %s", err_last());
		return rc;
	}
	s->pid = p.pid;
	s->fd = p.out;
	fcntl(s->fd, F_SETFL, O_NONBLOCK);
	s->ready_fd = ready[0];
	if (s->ready_fd >= 0)
		fcntl(s->ready_fd, F_SETFL, O_NONBLOCK);
	s->started = clock_mono();
	s->restart_at = 0;
	return 0;
}

/* Copy complete lines from a child's output *fd to the log, each
 * prefixed; a line longer than the buffer goes out in pieces.  *fd is
 * closed and -1 at its end. */
static void
supervise_drain_fd(int *fd, struct buf *line, const char *name, struct supervise_log *log,
    bool eof)
{
	char chunk[4096], *nl;
	ssize_t n;

	while ((n = read(*fd, chunk, sizeof(chunk))) > 0) {
		if (buf_put(line, chunk, (size_t)n) < 0) {
			supervise_line(log, name, line->ptr, line->len);
			buf_reset(line);
			buf_put(line, chunk, (size_t)n);
		}
		while ((nl = memchr(line->ptr, '\n', line->len))) {
			supervise_line(log, name, line->ptr,
			    (size_t)(nl - line->ptr));
			buf_consume(line, (size_t)(nl - line->ptr) + 1);
		}
	}
	if ((n == 0 || eof) && line->len) {
		supervise_line(log, name, line->ptr, line->len);
		buf_reset(line);
	}
	if (n == 0) {
		close(*fd);
		*fd = -1;
	}
}

static void
supervise_drain(struct supervise_svc *s, struct supervise_log *log, bool eof)
{
	supervise_drain_fd(&s->fd, &s->line, s->name, log, eof);
}

/* The reload of one service is over (done, or given up): the old
 * process's output to its end, and the readiness pipe closed. */
static void
supervise_reload_end(struct supervise_svc *s, struct supervise_log *log)
{
	if (s->old_fd >= 0)
		supervise_drain_fd(&s->old_fd, &s->old_line, s->name, log, true);
	if (s->old_fd >= 0)
		close(s->old_fd);
	s->old_fd = -1;
	buf_reset(&s->old_line);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
	s->ready_fd = -1;
	s->reload = SUPERVISE_RELOAD_NONE;
}

/* The process of s becomes the old one, told to stop or not yet. */
static void
supervise_make_old(struct supervise_svc *s)
{
	struct buf tmp = s->old_line;

	s->old_pid = s->pid;
	s->old_fd = s->fd;
	s->old_line = s->line;
	s->line = tmp;
	s->pid = 0;
	s->fd = -1;
}

/* The new process of s failed: the old one is the service again. */
static void
supervise_keep_old(struct supervise_svc *s, struct supervise_log *log)
{
	struct buf tmp = s->line;

	if (s->fd >= 0)
		supervise_drain(s, log, true);
	if (s->fd >= 0)
		close(s->fd);
	s->pid = s->old_pid;
	s->fd = s->old_fd;
	s->line = s->old_line;
	s->old_line = tmp;
	buf_reset(&s->old_line);
	s->old_pid = 0;
	s->old_fd = -1;
	s->restart_at = 0;
	supervise_reload_end(s, log);
}

/*
 * Begin the reload of s.  With a readiness signal the new process starts
 * beside the old one; without, the old one is told to stop first (the
 * new one starts when it is gone).  A service waiting for its restart
 * starts now.  reload stays NONE when the reload of s is already over.
 */
static void
supervise_reload_begin(struct supervise_svc *s, struct supervise_log *log, double grace)
{
	if (s->pid == 0) {
		if (supervise_start(s, log, false) == 0)
			s->restarts = 0;
		return;
	}
	supervise_make_old(s);
	if (s->ready_signal) {
		if (supervise_start(s, log, true) < 0) {
			supervise_say(log, s->name, "reload: the old process "
			    "keeps running");
			supervise_keep_old(s, log);
			return;
		}
		s->reload = SUPERVISE_RELOAD_STARTING;
		s->reload_deadline = clock_mono() + SUPERVISE_READY_SEC;
		return;
	}
	kill(s->old_pid, SIGTERM);
	s->reload = SUPERVISE_RELOAD_STOPPING;
	s->reload_deadline = clock_mono() + grace + SUPERVISE_STOP_SLACK_SEC;
	return;
}

/* The new process of s said it is ready (or closed its pipe, as a
 * process that dies does: then the reap decides).  On ready, the old one
 * is told to stop; it finishes what it has in flight. */
static void
supervise_ready_event(struct supervise_svc *s, double grace)
{
	char b[16];
	ssize_t n;

	while ((n = read(s->ready_fd, b, sizeof(b))) < 0 && errno == EINTR)
		;
	if (n < 0 && errno == EAGAIN)
		return;
	close(s->ready_fd);
	s->ready_fd = -1;
	if (n > 0 && s->reload == SUPERVISE_RELOAD_STARTING) {
		kill(s->old_pid, SIGTERM);
		s->reload = SUPERVISE_RELOAD_STOPPING;
		s->reload_deadline = clock_mono() + grace + SUPERVISE_STOP_SLACK_SEC;
	}
}

/* Deadlines of a reload: a new process not ready in time, an old one
 * that does not stop.  Killing them is enough: the reap carries on. */
static void
supervise_reload_tick(struct supervise_svc *s, struct supervise_log *log)
{
	if (s->reload == SUPERVISE_RELOAD_NONE || clock_mono() <
	    s->reload_deadline)
		return;
	if (s->reload == SUPERVISE_RELOAD_STARTING && s->pid > 0) {
		supervise_say(log, s->name, "reload: the new process was not "
		    "ready in %.0fs; killing it", SUPERVISE_READY_SEC);
		kill(s->pid, SIGKILL);
	} else if (s->reload == SUPERVISE_RELOAD_STOPPING && s->old_pid > 0) {
		supervise_say(log, s->name, "reload: the old process did not "
		    "stop; killing it");
		kill(s->old_pid, SIGKILL);
	}
	s->reload_deadline = clock_mono() + 5;
}

/* A reaped pid that was a reload's: the old process gone (start the new
 * one if it waited, or the reload is over), or the new one dead before it
 * was ready (the old one stays).  Returns false when pid is neither. */
static bool
supervise_reap_reload(struct supervise_svc *s, pid_t pid, int st, struct supervise_log *log)
{
	if (s->reload == SUPERVISE_RELOAD_NONE)
		return false;
	if (pid == s->old_pid) {
		s->old_pid = 0;
		if (s->pid == 0 && supervise_start(s, log, false) < 0)
			s->restart_at = clock_mono() + 1;
		else
			s->restarts = 0;
		supervise_reload_end(s, log);
		supervise_say(log, s->name, "reloaded");
		return true;
	}
	if (pid == s->pid && s->reload == SUPERVISE_RELOAD_STARTING) {
		s->pid = 0;
		supervise_say(log, s->name, "reload: the new process %s %d "
		    "before it was ready; the old one keeps running",
		    WIFSIGNALED(st) ? "was killed by signal" :
		    "exited with status", WIFSIGNALED(st) ? WTERMSIG(st) :
		    WEXITSTATUS(st));
		supervise_keep_old(s, log);
		return true;
	}
	return false;
}

static void
supervise_reap(struct supervise_svc *svcs, size_t n, struct supervise_log *log,
    double backoff_max, bool stopping)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct supervise_svc *s = &svcs[i];
			if (stopping && pid == s->old_pid) {
				s->old_pid = 0;
				break;
			}
			if (!stopping && supervise_reap_reload(s, pid, st, log))
				break;
			if (s->pid != pid)
				continue;
			if (s->fd >= 0)
				supervise_drain(s, log, true);
			s->pid = 0;
			s->last_status = WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
			if (stopping)
				break;
			if (clock_mono() - s->started > SUPERVISE_STABLE_SEC)
				s->restarts = 0;
			s->restarts++;
			double d = supervise_backoff(s->restarts, backoff_max);
			s->restart_at = clock_mono() + d;
			if (WIFSIGNALED(st))
				supervise_say(log, s->name, "killed by signal "
				    "%d; restarting in %.0fs", WTERMSIG(st), d);
			else
				supervise_say(log, s->name, "exited with status "
				    "%d; restarting in %.0fs", WEXITSTATUS(st),
				    d);
		}
	}
}

static size_t
supervise_running(const struct supervise_svc *svcs, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += (svcs[i].pid > 0) + (svcs[i].old_pid > 0);
	return k;
}

/* SIGTERM every child's group, wait up to grace, then SIGKILL. */
static void
supervise_stop_all(struct supervise_svc *svcs, size_t n, struct supervise_log *log,
    double grace, int sfd)
{
	double deadline = clock_mono() + grace;
	struct signalfd_siginfo si;

	for (size_t i = 0; i < n; i++) {
		if (svcs[i].pid > 0)
			kill(-svcs[i].pid, SIGTERM);
		if (svcs[i].old_pid > 0)
			kill(-svcs[i].old_pid, SIGTERM);
	}
	while (supervise_running(svcs, n) && clock_mono() < deadline) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		poll(&pfd, 1, 100);
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		supervise_reap(svcs, n, log, 0, true);
	}
	for (size_t i = 0; i < n; i++) {
		pid_t *pids[2] = { &svcs[i].pid, &svcs[i].old_pid };

		for (int k = 0; k < 2; k++) {
			if (*pids[k] <= 0)
				continue;
			supervise_say(log, svcs[i].name, "did not stop in %.0fs;"
			    " killing it", grace);
			kill(-*pids[k], SIGKILL);
			while (waitpid(*pids[k], NULL, 0) < 0 && errno == EINTR)
				;
			*pids[k] = 0;
		}
		supervise_reload_end(&svcs[i], log);
		if (svcs[i].fd >= 0) {
			supervise_drain(&svcs[i], log, true);
			if (svcs[i].fd >= 0)
				close(svcs[i].fd);
			svcs[i].fd = -1;
		}
		buf_free(&svcs[i].line);
		buf_free(&svcs[i].old_line);
	}
}

/* The reload in progress: svcs[*at] is being reloaded (n: none).  Moves
 * on while services finish, to the end of the table, then once more if a
 * SIGHUP came meanwhile. */
static void
supervise_reload_step(struct supervise_svc *svcs, size_t n, size_t *at,
    bool *again, struct supervise_log *log, double grace)
{
	while (*at < n && svcs[*at].reload == SUPERVISE_RELOAD_NONE) {
		if (++*at == n) {
			supervise_say(log, "up", "reloaded");
			if (!*again)
				return;
			*again = false;
			*at = 0;
			supervise_say(log, "up", "reloading (SIGHUP)");
		}
		/* a service that is done at once leaves reload NONE: the
		 * loop goes on to the next */
		supervise_reload_begin(&svcs[*at], log, grace);
	}
}

int
supervise_run(struct supervise_svc *svcs, size_t n,
    const struct supervise_opts *opts)
{
	struct supervise_log *log = opts ? opts->log : NULL;
	double grace = opts && opts->grace_sec ? opts->grace_sec : 10;
	double bmax = opts && opts->backoff_max_sec ? opts->backoff_max_sec :
	    30;
	double end = opts && opts->run_for_sec ?
	    clock_mono() + opts->run_for_sec : 0;
	/* per service: its output, an old process's output, readiness */
	struct pollfd *pfds = calloc(3 * n + 1, sizeof(*pfds));
	struct signalfd_siginfo si;
	sigset_t set, old;
	size_t reload_at = n;
	bool reload_again = false;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (pfds == NULL ||
	    (sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		free(pfds);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err_sys("cannot watch signals");
	}
	for (size_t i = 0; i < n; i++) {
		svcs[i].fd = svcs[i].old_fd = svcs[i].ready_fd = -1;
		svcs[i].pid = svcs[i].old_pid = 0;
		svcs[i].reload = SUPERVISE_RELOAD_NONE;
		buf_init(&svcs[i].line, SUPERVISE_LINE_MAX);
		buf_init(&svcs[i].old_line, SUPERVISE_LINE_MAX);
		/* proc_spawn gives children a clean signal mask. */
		if (supervise_start(&svcs[i], log, false) < 0)
			svcs[i].restart_at = clock_mono() + 1;
	}
	if (opts && opts->on_started)
		opts->on_started(svcs, n, opts->ctx);

	for (;;) {
		size_t k = 0;
		bool stop = false, hup = false;

		pfds[k++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (size_t i = 0; i < n; i++) {
			pfds[k++] = (struct pollfd){ .fd = svcs[i].fd,
			    .events = POLLIN };
			pfds[k++] = (struct pollfd){ .fd = svcs[i].old_fd,
			    .events = POLLIN };
			pfds[k++] = (struct pollfd){ .fd = svcs[i].ready_fd,
			    .events = POLLIN };
		}
		poll(pfds, k, reload_at < n ? 100 : 1000);
		for (size_t i = 0; i < n; i++) {
			struct supervise_svc *s = &svcs[i];
			struct pollfd *p = &pfds[1 + 3 * i];
			if (s->fd >= 0 && p[0].revents)
				supervise_drain(s, log, false);
			if (s->old_fd >= 0 && p[1].revents)
				supervise_drain_fd(&s->old_fd, &s->old_line,
				    s->name, log, false);
			if (s->ready_fd >= 0 && p[2].revents)
				supervise_ready_event(s, grace);
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
				stop = true;
			if (si.ssi_signo == SIGHUP)
				hup = true;
		}
		supervise_reap(svcs, n, log, bmax, false);
		if (end && clock_mono() >= end)
			stop = true;
		if (stop)
			break;
		if (hup && reload_at < n) {
			reload_again = true;
		} else if (hup) {
			supervise_say(log, "up", "reloading (SIGHUP)");
			reload_at = 0;
			supervise_reload_begin(&svcs[0], log, grace);
		}
		if (reload_at < n) {
			supervise_reload_tick(&svcs[reload_at], log);
			supervise_reload_step(svcs, n, &reload_at,
			    &reload_again, log, grace);
		}
		for (size_t i = 0; i < n; i++) {
			struct supervise_svc *s = &svcs[i];
			if (s->pid == 0 && s->restart_at &&
			    s->reload == SUPERVISE_RELOAD_NONE &&
			    clock_mono() >= s->restart_at) {
				if (supervise_start(s, log, false) < 0)
					s->restart_at = clock_mono() +
					    supervise_backoff(++s->restarts,
					    bmax);
			}
		}
	}
	supervise_say(log, "up", "stopping");
	supervise_stop_all(svcs, n, log, grace, sfd);
	close(sfd);
	free(pfds);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return 0;
}
