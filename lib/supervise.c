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
supervise_start(struct supervise_svc *s, struct supervise_log *log)
{
	struct proc_opts o = { .flags = PROC_PIPE_OUT | PROC_ERR_TO_OUT |
	    PROC_NULL_IN | PROC_NEW_SESSION | PROC_DIE_WITH_PARENT };
	struct proc p;
	int rc;

	if ((rc = proc_spawn(&p, s->argv, &o)) < 0) {
		supervise_say(log, s->name, "cannot start: %s", err_last());
		return rc;
	}
	s->pid = p.pid;
	s->fd = p.out;
	fcntl(s->fd, F_SETFL, O_NONBLOCK);
	s->started = clock_mono();
	s->restart_at = 0;
	return 0;
}

/* Copy complete lines from the child to the log, each prefixed; a line
 * longer than the buffer goes out in pieces. */
static void
supervise_drain(struct supervise_svc *s, struct supervise_log *log,
    bool eof)
{
	char chunk[4096], *nl;
	ssize_t n;

	while ((n = read(s->fd, chunk, sizeof(chunk))) > 0) {
		if (buf_put(&s->line, chunk, (size_t)n) < 0) {
			supervise_line(log, s->name, s->line.ptr, s->line.len);
			buf_reset(&s->line);
			buf_put(&s->line, chunk, (size_t)n);
		}
		while ((nl = memchr(s->line.ptr, '\n', s->line.len))) {
			supervise_line(log, s->name, s->line.ptr,
			    (size_t)(nl - s->line.ptr));
			buf_consume(&s->line, (size_t)(nl - s->line.ptr) + 1);
		}
	}
	if ((n == 0 || eof) && s->line.len) {
		supervise_line(log, s->name, s->line.ptr, s->line.len);
		buf_reset(&s->line);
	}
	if (n == 0) {
		close(s->fd);
		s->fd = -1;
	}
}

static void
supervise_reap(struct supervise_svc *svcs, size_t n,
    struct supervise_log *log, double backoff_max, bool stopping)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct supervise_svc *s = &svcs[i];
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
		k += svcs[i].pid > 0;
	return k;
}

/* SIGTERM every child's group, wait up to grace, then SIGKILL. */
static void
supervise_stop_all(struct supervise_svc *svcs, size_t n,
    struct supervise_log *log, double grace, int sfd)
{
	double deadline = clock_mono() + grace;
	struct signalfd_siginfo si;

	for (size_t i = 0; i < n; i++)
		if (svcs[i].pid > 0)
			kill(-svcs[i].pid, SIGTERM);
	while (supervise_running(svcs, n) && clock_mono() < deadline) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		poll(&pfd, 1, 100);
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			;
		supervise_reap(svcs, n, log, 0, true);
	}
	for (size_t i = 0; i < n; i++) {
		if (svcs[i].pid > 0) {
			supervise_say(log, svcs[i].name, "did not stop in %.0fs;"
			    " killing it", grace);
			kill(-svcs[i].pid, SIGKILL);
			while (waitpid(svcs[i].pid, NULL, 0) < 0 &&
			    errno == EINTR)
				;
			svcs[i].pid = 0;
		}
		if (svcs[i].fd >= 0) {
			supervise_drain(&svcs[i], log, true);
			if (svcs[i].fd >= 0)
				close(svcs[i].fd);
			svcs[i].fd = -1;
		}
		buf_free(&svcs[i].line);
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
	struct pollfd *pfds = calloc(n + 1, sizeof(*pfds));
	struct signalfd_siginfo si;
	sigset_t set, old;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	if (pfds == NULL ||
	    (sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		free(pfds);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return err_sys("cannot watch signals");
	}
	for (size_t i = 0; i < n; i++) {
		svcs[i].fd = -1;
		svcs[i].pid = 0;
		buf_init(&svcs[i].line, SUPERVISE_LINE_MAX);
		/* proc_spawn gives children a clean signal mask. */
		if (supervise_start(&svcs[i], log) < 0)
			svcs[i].restart_at = clock_mono() + 1;
	}
	if (opts && opts->on_started)
		opts->on_started(svcs, n, opts->ctx);

	for (;;) {
		size_t k = 0;
		int timeout = 1000;
		bool stop = false;

		pfds[k++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (size_t i = 0; i < n; i++)
			pfds[k++] = (struct pollfd){ .fd = svcs[i].fd,
			    .events = POLLIN };
		poll(pfds, k, timeout);
		for (size_t i = 0; i < n; i++)
			if (svcs[i].fd >= 0 && pfds[i + 1].revents)
				supervise_drain(&svcs[i], log, false);
		while (read(sfd, &si, sizeof(si)) == sizeof(si))
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
				stop = true;
		supervise_reap(svcs, n, log, bmax, false);
		if (end && clock_mono() >= end)
			stop = true;
		if (stop)
			break;
		for (size_t i = 0; i < n; i++) {
			struct supervise_svc *s = &svcs[i];
			if (s->pid == 0 && s->restart_at &&
			    clock_mono() >= s->restart_at) {
				if (supervise_start(s, log) < 0)
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
