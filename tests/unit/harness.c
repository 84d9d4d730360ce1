/*
 * The unit-test runner: `unit [SUBSTRING...]` runs the registered tests whose
 * names contain any SUBSTRING (all when none), each in a forked child in its
 * own temp directory, and ends with "unit: N passed, N failed, N skipped".
 *
 * A test that runs longer than SLIPWAY_UNIT_TIMEOUT seconds (default 120)
 * fails with "timed out after N s", and its process group (the test and
 * whatever it started: servers, clients) is killed, so one hung test can
 * neither hang the run nor leave processes behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/fs.h"

#define HARNESS_MAX 2048
#define HARNESS_SKIP_CODE 77
#define HARNESS_TIMEOUT_DEFAULT 120
/* Runs only when this is set: one test hangs, to show that the timeout
 * works, and one leaves a child behind, to show that it is killed
 * (tests/integration/t0002-run-timeout.sh). */
#define HARNESS_HANG_ENV "SLIPWAY_UNIT_SELFTEST_HANG"

struct harness_test {
	const char *name;
	harness_fn fn;
};

static struct harness_test harness_tests[HARNESS_MAX];
static int harness_count;
static char *harness_dir;
static sigset_t harness_mask;   /* the signal mask tests start with */

void
harness_register(const char *name, harness_fn fn)
{
	if (harness_count == HARNESS_MAX) {
		fprintf(stderr, "harness: more than %d tests\n", HARNESS_MAX);
		abort();
	}
	harness_tests[harness_count].name = name;
	harness_tests[harness_count].fn = fn;
	harness_count++;
}

void
harness_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void
harness_skip(const char *why)
{
	fprintf(stderr, "    skipped: %s\n", why);
	exit(HARNESS_SKIP_CODE);
}

const char *
harness_tmpdir(void)
{
	return harness_dir;
}

void
harness_write(const char *rel, const char *data, size_t len, int mode)
{
	char *path = fs_join(harness_dir, rel), *slash;

	slash = strrchr(path, '/');
	*slash = '\0';
	if (fs_mkdir_p(path, 0755) < 0)
		harness_fail(__FILE__, __LINE__, "mkdir %s: %s", path,
		    err_last());
	*slash = '/';
	if (fs_write_atomic(path, data, len, (mode_t)mode) < 0)
		harness_fail(__FILE__, __LINE__, "write %s: %s", path,
		    err_last());
	free(path);
}

void
harness_sh(const char *file, int line, const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		harness_fail(file, line, "command failed (status %d): %s", st,
		    cmd);
	free(cmd);
}

static bool
harness_selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

static unsigned
harness_timeout(void)
{
	const char *v = getenv("SLIPWAY_UNIT_TIMEOUT");
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return HARNESS_TIMEOUT_DEFAULT;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n == 0 || n > 86400) {
		fprintf(stderr, "harness: SLIPWAY_UNIT_TIMEOUT='%s' is not a "
		    "number of seconds (1-86400)\n", v);
		exit(2);
	}
	return (unsigned)n;
}

/* Wait for the test child up to secs; on timeout kill its process group
 * and return -1.  SIGCHLD is blocked, so it waits in sigtimedwait. */
static int
harness_wait(pid_t pid, int *st, unsigned secs)
{
	struct timespec left = { .tv_sec = secs };
	struct timespec start, now;
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t got = waitpid(pid, st, WNOHANG);

		if (got == pid)
			return 0;
		if (got < 0 && errno != EINTR) {
			perror("harness: waitpid");
			exit(2);
		}
		if (got == 0 && sigtimedwait(&chld, NULL, &left) < 0 &&
		    errno == EAGAIN)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= (time_t)secs)
			break;
		left.tv_sec = (time_t)secs - (now.tv_sec - start.tv_sec);
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, st, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/* Runs t in a child; its stderr is kept in *log for the report.  0 passed,
 * 1 failed, 2 skipped, 3 timed out. */
static int
harness_run_one(const struct harness_test *t, FILE **log, unsigned secs)
{
	pid_t pid;
	int st;
	bool timed_out;

	*log = tmpfile();

	if (fs_mkdtemp(&harness_dir, "slipway-unit") < 0) {
		fprintf(stderr, "harness: %s\n", err_last());
		exit(2);
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		perror("harness: fork");
		exit(2);
	}
	if (pid == 0) {
		/* Its own process group: what it starts dies with it on a
		 * timeout. */
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &harness_mask, NULL);
		if (*log)
			dup2(fileno(*log), 2);
		if (chdir(harness_dir) < 0)
			harness_fail(__FILE__, __LINE__, "chdir: %s",
			    strerror(errno));
		err_clear();
		t->fn();
		exit(0);
	}
	/* Also here, so the child cannot have run before it is set. */
	setpgid(pid, pid);
	timed_out = harness_wait(pid, &st, secs) < 0;
	/* What the test started and did not stop (a server it forked, left
	 * running by a failed EXPECT) dies with it: it would hold our stdout
	 * open, and whoever reads it would wait for good. */
	kill(-pid, SIGKILL);
	fs_remove_tree(harness_dir);
	free(harness_dir);
	harness_dir = NULL;
	if (timed_out)
		return 3;
	if (WIFEXITED(st) && WEXITSTATUS(st) == HARNESS_SKIP_CODE)
		return 2;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		fprintf(stderr, "    killed by signal %d\n", WTERMSIG(st));
	return 1;
}

static int
harness_cmp(const void *a, const void *b)
{
	return strcmp(((const struct harness_test *)a)->name,
	    ((const struct harness_test *)b)->name);
}

static void
harness_selftest_hang(void)
{
	for (;;)
		pause();
}

/* Its child's pid goes to $SLIPWAY_UNIT_SELFTEST_PIDFILE, for t0002 to
 * check it is gone. */
static void
harness_selftest_leftover(void)
{
	const char *f = getenv("SLIPWAY_UNIT_SELFTEST_PIDFILE");
	pid_t pid = fork();
	FILE *o;

	if (pid == 0)
		for (;;)
			pause();
	if (f && (o = fopen(f, "w"))) {
		fprintf(o, "%ld\n", (long)pid);
		fclose(o);
	}
}

int
main(int argc, char **argv)
{
	int counts[3] = { 0, 0, 0 };
	static const char *const words[] = { "ok  ", "FAIL", "skip" };
	unsigned secs = harness_timeout();
	sigset_t chld;

	/* Blocked here, so the wait for a test can sleep on it; unblocked
	 * again in each test's child. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &harness_mask);
	if (getenv(HARNESS_HANG_ENV)) {
		harness_register("harness__selftest_hang",
		    harness_selftest_hang);
		harness_register("harness__selftest_leftover",
		    harness_selftest_leftover);
	}
	qsort(harness_tests, (size_t)harness_count, sizeof(harness_tests[0]),
	    harness_cmp);
	for (int i = 0; i < harness_count; i++) {
		const struct harness_test *t = &harness_tests[i];
		int r;

		if (!harness_selected(t->name, argc, argv))
			continue;
		FILE *log = NULL;
		char line[4096];

		r = harness_run_one(t, &log, secs);
		if (r == 3) {
			printf("FAIL test_%s: timed out after %u s\n", t->name,
			    secs);
			r = 1;
		} else {
			printf("%s test_%s\n", words[r], t->name);
		}
		counts[r]++;
		if (log) {
			rewind(log);
			while (r != 0 && fgets(line, sizeof(line), log))
				fputs(line, stdout);
			fclose(log);
		}
		fflush(stdout);
	}
	printf("unit: %d passed, %d failed, %d skipped\n", counts[0],
	    counts[1], counts[2]);
	return counts[1] ? 1 : 0;
}
