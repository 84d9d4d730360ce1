/*
 * slipway-init: the first process of a runc container (docs/runner.md).
 *
 *   slipway-init [--] COMMAND [ARG...]
 *
 * The runner makes it process.args[0] of every app and one-off container,
 * bind-mounted read-only at /dev/slipway-init.  As PID 1 of the
 * container's pid namespace it does what the app's own process cannot:
 *
 *   - The kernel drops a signal sent to a namespace's PID 1 when that
 *     process has no handler for it, so an app running as PID 1 (busybox
 *     httpd, or `sh -c` execing its last command) never sees SIGTERM and
 *     always waits out the stop's grace until SIGKILL.  slipway-init
 *     takes SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and
 *     SIGWINCH and passes each to COMMAND's process group (COMMAND runs
 *     in a group of its own, so a shell's children get it too).
 *   - Orphans are re-parented to PID 1: it reaps every child, so none
 *     stays a zombie holding a slot of the pids limit.
 *   - It exits with COMMAND's status, or 128+N when a signal N killed it,
 *     as a shell reports it; the kernel then kills whatever is left in
 *     the namespace.
 *
 * COMMAND that cannot be run: one line on stderr, exit 127 (not found)
 * or 126 (found, not runnable), as a shell.  No COMMAND: 127 too.
 * Run outside a pid namespace of its own (tests), it makes itself a
 * child subreaper, so orphans of COMMAND still come to it to be reaped.
 *
 * Built alone, statically (it runs in any image, with or without a C
 * library) and small; the Makefile embeds the binary in slipway, which
 * writes it to $SLIPWAY_HOME/runner/init at start.  No stdio: a write of
 * a fixed message is all it needs to say.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const int init_fwd[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};
#define NFWD (sizeof(init_fwd) / sizeof(init_fwd[0]))

static void
init_say(const char *a, const char *b, const char *c)
{
	const char *parts[] = { "slipway-init: ", a, b, c, "\n" };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (parts[i])
			(void)!write(2, parts[i], strlen(parts[i]));
}

/* A handler of its own for each signal it takes: the kernel keeps
 * signals without one from a namespace's PID 1.  They stay blocked and
 * are taken with sigwaitinfo, so this never runs. */
static void
init_nop(int sig)
{
	(void)sig;
}

/* The child: a group of its own, the signal mask it had, then COMMAND. */
static void
init_child(char **argv, const sigset_t *orig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int e;

	setpgid(0, 0);
	for (size_t i = 0; i < NFWD; i++)
		sigaction(init_fwd[i], &dfl, NULL);
	sigaction(SIGCHLD, &dfl, NULL);
	sigprocmask(SIG_SETMASK, orig, NULL);
	execvp(argv[0], argv);
	e = errno;
	init_say("cannot run '", argv[0], e == ENOENT ?
	    "': no such file or directory" : e == EACCES ?
	    "': permission denied" : "': cannot execute it");
	_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = init_nop };
	sigset_t set, orig;
	pid_t child;
	int status = 0;

	if (argc > 1 && strcmp(argv[1], "--") == 0) {
		argv++;
		argc--;
	}
	if (argc < 2 || argv[1][0] == '\0') {
		init_say("no command given; usage: slipway-init [--] "
		    "COMMAND [ARG...]", NULL, NULL);
		return 127;
	}
	argv++;
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);

	sigemptyset(&set);
	for (size_t i = 0; i < NFWD; i++)
		sigaddset(&set, init_fwd[i]);
	sigaddset(&set, SIGCHLD);
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < NFWD; i++)
		sigaction(init_fwd[i], &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigprocmask(SIG_BLOCK, &set, &orig);

	if ((child = fork()) < 0) {
		init_say("cannot fork: ", strerror(errno), NULL);
		return 126;
	}
	if (child == 0)
		init_child(argv, &orig);
	/* Both sides set the group: a signal that comes before the child
	 * has run must still find it. */
	setpgid(child, child);

	for (;;) {
		siginfo_t si;
		pid_t pid;
		int st, sig = sigwaitinfo(&set, &si);

		if (sig < 0)
			continue;	/* EINTR */
		if (sig != SIGCHLD) {
			/* the group; the child alone if it left it */
			if (kill(-child, sig) < 0)
				kill(child, sig);
			continue;
		}
		/* SIGCHLD: reap everything that ended, orphans too */
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			if (pid != child)
				continue;
			status = WIFEXITED(st) ? WEXITSTATUS(st) :
			    WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
			child = 0;
		}
		if (child == 0)
			break;
	}
	/* As PID 1, our exit ends whatever else still runs in the
	 * namespace (the kernel kills it). */
	return status;
}
