/* Unit tests for lib/supervise.c with shell children. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/listenfd.h"
#include "slipway/supervise.h"

static char *
t_read(const char *path)
{
	struct buf b;

	EXPECT_OK(fs_read_file(&b, path, 1 << 20));
	return buf_detach(&b, NULL);
}

/* The merged log as `up` has it by default: logs/slipway.log. */
static struct supervise_log *
t_log_open(void)
{
	struct supervise_log *lg;

	unsetenv("JOURNAL_STREAM");
	EXPECT_OK(supervise_log_open(&lg, "logs", 1 << 20, 1));
	EXPECT_STR("logs/slipway.log", supervise_log_where(lg));
	return lg;
}

TEST(supervise__backoff_doubles_to_max)
{
	EXPECT_INT(1, (int)supervise_backoff(1, 30));
	EXPECT_INT(2, (int)supervise_backoff(2, 30));
	EXPECT_INT(16, (int)supervise_backoff(5, 30));
	EXPECT_INT(30, (int)supervise_backoff(9, 30));
}

TEST(supervise__merges_output_and_restarts)
{
	char *a[] = { "sh", "-c", "echo hello from a; echo err >&2; sleep 100",
	    NULL };
	/* b dies at once; it must be restarted after 1 s */
	char *b[] = { "sh", "-c", "echo start b >> starts; exit 3", NULL };
	struct supervise_svc svcs[2] = { { .name = "alpha", .argv = a },
	    { .name = "beta", .argv = b } };
	struct supervise_opts o = { .run_for_sec = 2.5, .grace_sec = 2 };
	char *out, *starts;

	o.log = t_log_open();
	EXPECT_OK(supervise_run(svcs, 2, &o));
	supervise_log_free(o.log);
	out = t_read("logs/slipway.log");
	EXPECT_TRUE(strstr(out, "alpha      | hello from a\n") != NULL);
	EXPECT_TRUE(strstr(out, "alpha      | err\n") != NULL);
	EXPECT_TRUE(strstr(out, "beta       | exited with status 3; "
	    "restarting in 1s") != NULL);
	starts = t_read("starts");
	EXPECT_TRUE(strncmp(starts, "start b\nstart b\n", 16) == 0);
	/* everything was stopped */
	EXPECT_INT(0, svcs[0].pid);
	EXPECT_INT(0, svcs[1].pid);
	free(out);
	free(starts);
}

/* Supervise one service running argv for 0.5 s (grace secs to stop it);
 * what the merged log says, malloc'd. */
static char *
t_supervise_one(char **argv, const char *name, double grace)
{
	struct supervise_svc svcs[1] = { { .name = name, .argv = argv } };
	struct supervise_opts o = { .run_for_sec = 0.5, .grace_sec = grace };

	o.log = t_log_open();
	EXPECT_OK(supervise_run(svcs, 1, &o));
	supervise_log_free(o.log);
	return t_read("logs/slipway.log");
}

TEST(supervise__kills_what_ignores_sigterm)
{
	char *a[] = { "sh", "-c", "trap '' TERM; echo ready; "
	    "while :; do sleep 0.1; done", NULL };
	char *out = t_supervise_one(a, "stubborn", 0.5);

	EXPECT_TRUE(strstr(out, "did not stop") != NULL);
	free(out);
}

/* A child's line reaches the merged log as one line of plain text:
 * control bytes (ESC, CR, NUL, DEL) and bytes that are not UTF-8 are
 * escaped, so no service can drive the operator's terminal through it. */
TEST(supervise__escapes_control_bytes_of_children)
{
	char *a[] = { "sh", "-c", "printf 'a\\033[2Jb\\rc\\000d\\177e\\377f "
	    "\\342\\202\\254\\n'; sleep 100", NULL };
	char *out = t_supervise_one(a, "web", 1);

	EXPECT_TRUE(strstr(out, "web        | a\\x1b[2Jb\\rc\\x00d\\x7fe\\xfff "
	    "\xe2\x82\xac\n") != NULL);
	for (const char *p = out; *p; p++)
		EXPECT_TRUE(*p == '\n' || (unsigned char)*p >= 0x20);
	free(out);
}

/* A line longer than the line buffer goes out in pieces, none lost. */
TEST(supervise__long_line_loses_nothing)
{
	char *a[] = { "sh", "-c", "head -c 20000 /dev/zero | tr '\\000' x; "
	    "echo; sleep 100", NULL };
	char *out = t_supervise_one(a, "web", 1);
	size_t xs = 0;

	for (const char *p = out; *p; p++)
		xs += *p == 'x';
	EXPECT_INT(20000, xs);
	free(out);
}

/* Wait up to secs for child pid to end; its wait status, or -1 (then it
 * is killed and reaped, so no test leaves a process behind). */
static int
t_wait_gone(pid_t pid, double secs)
{
	int st;

	for (int i = 0; i < (int)(secs * 20); i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* `slipway up` killed with -9 (no chance to stop anyone) takes its
 * services with it: each dies of SIGKILL, and none is left holding a
 * port.  The test is a subreaper, so an orphaned service becomes its
 * child and can be waited for. */
TEST(supervise__services_die_with_a_killed_supervisor)
{
	char *a[] = { "sh", "-c", "echo $$ > svc.pid.tmp && "
	    "mv svc.pid.tmp svc.pid && exec sleep 100", NULL };
	struct buf b;
	pid_t sup, svc = 0;
	int st;

	EXPECT_TRUE(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	if ((sup = fork()) == 0) {
		struct supervise_svc svcs[1] = { { .name = "svc", .argv = a } };
		struct supervise_opts o = { .run_for_sec = 60 };
		o.log = t_log_open();
		supervise_run(svcs, 1, &o);
		_exit(0);
	}
	EXPECT_TRUE(sup > 0);
	for (int i = 0; i < 200 && !fs_exists("svc.pid"); i++)
		usleep(50 * 1000);
	EXPECT_OK(fs_read_file(&b, "svc.pid", 64));
	svc = (pid_t)atoi(b.ptr);
	buf_free(&b);
	EXPECT_TRUE(svc > 0);
	kill(sup, SIGKILL);
	waitpid(sup, NULL, 0);
	st = t_wait_gone(svc, 5);
	EXPECT_TRUE(st != -1);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* Where the merged log goes: the file, unless the journal takes stdout
 * (JOURNAL_STREAM) or "-" (or no directory) asks for stdout. */
TEST(supervise__log_goes_to_a_file_unless_stdout_is_the_journal)
{
	struct supervise_log *lg;

	unsetenv("JOURNAL_STREAM");
	EXPECT_OK(supervise_log_open(&lg, "-", 100, 1));
	EXPECT_STR("stdout", supervise_log_where(lg));
	supervise_log_free(lg);
	EXPECT_OK(supervise_log_open(&lg, NULL, 100, 1));
	EXPECT_STR("stdout", supervise_log_where(lg));
	supervise_log_free(lg);
	EXPECT_TRUE(!fs_exists("logs"));

	EXPECT_OK(supervise_log_open(&lg, "logs", 100, 1));
	EXPECT_STR("logs/slipway.log", supervise_log_where(lg));
	supervise_log_free(lg);
	EXPECT_TRUE(fs_exists("logs/slipway.log"));

	setenv("JOURNAL_STREAM", "8:12345", 1);
	EXPECT_OK(supervise_log_open(&lg, "other", 100, 1));
	EXPECT_STR("stdout", supervise_log_where(lg));
	supervise_log_free(lg);
	EXPECT_TRUE(!fs_exists("other"));
	unsetenv("JOURNAL_STREAM");

	harness_write("afile", "x", 1, 0644);
	lg = NULL;
	EXPECT_TRUE(supervise_log_open(&lg, "afile", 100, 1) < 0);
	EXPECT_ERR_HAS("'afile' exists and is not a directory");
	EXPECT_TRUE(lg == NULL);
}

/* With a small cap, the supervisor's lines rotate like any other: whole
 * lines, keep + 1 files. */
TEST(supervise__a_busy_service_rotates_the_log)
{
	char *a[] = { "sh", "-c", "i=0; while [ $i -lt 300 ]; do "
	    "echo line $i; i=$((i+1)); done; sleep 100", NULL };
	struct supervise_svc svcs[1] = { { .name = "web", .argv = a } };
	struct supervise_opts o = { .run_for_sec = 1, .grace_sec = 1 };
	char *s;

	unsetenv("JOURNAL_STREAM");
	EXPECT_OK(supervise_log_open(&o.log, "logs", 1000, 2));
	EXPECT_OK(supervise_run(svcs, 1, &o));
	supervise_log_free(o.log);
	EXPECT_TRUE(fs_exists("logs/slipway.log.2"));
	EXPECT_TRUE(!fs_exists("logs/slipway.log.3"));
	s = t_read("logs/slipway.log.1");
	EXPECT_TRUE(strncmp(s, "web        | line ", 18) == 0);
	EXPECT_TRUE(strlen(s) <= 1000 && s[strlen(s) - 1] == '\n');
	free(s);
	s = t_read("logs/slipway.log");
	EXPECT_TRUE(strstr(s, "up         | stopping\n") != NULL);
	free(s);
}

/* On a terminal (here a pty as stdout) the lines go to the file and are
 * echoed there too, for a person watching `slipway up`. */
TEST(supervise__log_is_echoed_on_a_terminal)
{
	char *a[] = { "sh", "-c", "echo hello; sleep 100", NULL };
	struct supervise_svc svcs[1] = { { .name = "web", .argv = a } };
	struct supervise_opts o = { .run_for_sec = 0.5, .grace_sec = 1 };
	char seen[4096], *s;
	int m, pts, saved;
	ssize_t n;

	m = posix_openpt(O_RDWR | O_NOCTTY);
	EXPECT_TRUE(m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0);
	pts = open(ptsname(m), O_RDWR | O_NOCTTY);
	EXPECT_TRUE(pts >= 0);
	fflush(stdout);
	saved = dup(1);
	dup2(pts, 1);
	unsetenv("JOURNAL_STREAM");
	EXPECT_OK(supervise_log_open(&o.log, "logs", 1 << 20, 1));
	EXPECT_OK(supervise_run(svcs, 1, &o));
	supervise_log_free(o.log);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	fcntl(m, F_SETFL, O_NONBLOCK);
	n = read(m, seen, sizeof(seen) - 1);
	EXPECT_TRUE(n > 0);
	seen[n] = '\0';
	EXPECT_TRUE(strstr(seen, "web        | hello") != NULL);
	s = t_read("logs/slipway.log");
	EXPECT_TRUE(strstr(s, "web        | hello\n") != NULL);
	free(s);
	close(pts);
	close(m);
}

/* ---- reload (SIGHUP) ---- */

/* on_started: SIGHUP to the supervisor after delay_ms, from a child
 * (the supervisor reaps it as a stranger), first making file ctx. */
static void
t_hup_soon(struct supervise_svc *svcs, size_t n, void *ctx)
{
	pid_t sup = getpid();

	(void)svcs;
	(void)n;
	if (fork() == 0) {
		usleep(400 * 1000);
		if (ctx)
			harness_write((const char *)ctx, "", 0, 0644);
		kill(sup, SIGHUP);
		_exit(0);
	}
}

/* Each start appends "start PID FDS NAMES" to log.d, each SIGTERM "term
 * PID"; with SLIPWAY_READY_FD it says it is ready after 0.2 s; with the
 * file "fail" it exits 3 at once. */
static char t_svc_script[] =
    "[ -e fail ] && exit 3; echo start $$ $LISTEN_FDS $LISTEN_FDNAMES >> "
    "events; trap 'echo term $$ >> events; exit 0' TERM; "
    "if [ -n \"$SLIPWAY_READY_FD\" ]; then sleep 0.2; "
    "echo ready >&\"$SLIPWAY_READY_FD\"; fi; "
    "while :; do sleep 0.05; done";

static char *
t_reload(bool ready, const char *fail_file, char **events)
{
	char *a[] = { "sh", "-c", t_svc_script, NULL };
	int l = listenfd_bind("127.0.0.1:0");
	struct supervise_svc svcs[1] = { { .name = "web", .argv = a,
	    .listen_fds = &l, .nlisten = 1, .listen_names = "http",
	    .ready_signal = ready } };
	struct supervise_opts o = { .run_for_sec = 2.5, .grace_sec = 2,
	    .on_started = t_hup_soon, .ctx = (void *)fail_file };

	EXPECT_OK(l);
	unsetenv("JOURNAL_STREAM");
	EXPECT_OK(supervise_log_open(&o.log, "rlogs", 1 << 20, 1));
	EXPECT_OK(supervise_run(svcs, 1, &o));
	supervise_log_free(o.log);
	close(l);
	*events = t_read("events");
	return t_read("rlogs/slipway.log");
}

/* pid of the Nth "start" line in events (from 1). */
static int
t_start_pid(const char *events, int nth)
{
	const char *p = events;
	int pid = 0;

	for (int i = 0; i < nth && (p = strstr(p, "start ")); i++, p++)
		pid = atoi(p + 6);
	return p ? pid : 0;
}

TEST(supervise__reload_with_ready_starts_the_new_before_stopping_the_old)
{
	char *ev, *out = t_reload(true, NULL, &ev), want[128];
	int a = t_start_pid(ev, 1), b = t_start_pid(ev, 2);

	EXPECT_TRUE(a > 0 && b > 0 && a != b);
	/* the socket reaches both; b started before a was told to stop */
	snprintf(want, sizeof(want), "start %d 1 http\nstart %d 1 http\n"
	    "term %d\n", a, b, a);
	EXPECT_TRUE(strncmp(ev, want, strlen(want)) == 0);
	EXPECT_TRUE(strstr(out, "web        | reloaded\n") != NULL);
	EXPECT_TRUE(strstr(out, "up         | reloaded\n") != NULL);
	free(ev);
	free(out);
}

TEST(supervise__reload_without_ready_stops_the_old_first)
{
	char *ev, *out = t_reload(false, NULL, &ev), want[128];
	int a = t_start_pid(ev, 1), b = t_start_pid(ev, 2);

	EXPECT_TRUE(a > 0 && b > 0 && a != b);
	snprintf(want, sizeof(want), "start %d 1 http\nterm %d\n"
	    "start %d 1 http\n", a, a, b);
	EXPECT_TRUE(strncmp(ev, want, strlen(want)) == 0);
	EXPECT_TRUE(strstr(out, "web        | reloaded\n") != NULL);
	free(ev);
	free(out);
}

/* A new program that cannot start leaves the old process serving: it is
 * not stopped, and not counted as a crash. */
TEST(supervise__reload_keeps_the_old_when_the_new_fails)
{
	char *ev, *out = t_reload(true, "fail", &ev), want[64];
	int a = t_start_pid(ev, 1);

	EXPECT_TRUE(a > 0);
	EXPECT_INT(0, t_start_pid(ev, 2));
	snprintf(want, sizeof(want), "term %d\n", a);
	/* its only SIGTERM is the final stop */
	EXPECT_TRUE(strstr(ev, want) != NULL);
	EXPECT_TRUE(strstr(out, "web        | reload: the new process exited "
	    "with status 3 before it was ready; the old one keeps running\n")
	    != NULL);
	EXPECT_TRUE(strstr(out, "restarting in") == NULL);
	free(ev);
	free(out);
}
