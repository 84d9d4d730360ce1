/*
 * Child processes with pipes.  Arguments go to execvp as they are: never
 * through a shell.  Exec failures are reported to the parent (through a
 * close-on-exec pipe) as a clear error, not as a child exiting 127.
 */
#ifndef SLIPWAY_PROC_H
#define SLIPWAY_PROC_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

struct buf;

enum proc_flags {
	PROC_PIPE_IN = 1 << 0,   /* parent writes child's stdin via in */
	PROC_PIPE_OUT = 1 << 1,  /* parent reads child's stdout via out */
	PROC_PIPE_ERR = 1 << 2,  /* parent reads child's stderr via err */
	PROC_ERR_TO_OUT = 1 << 3, /* child's stderr goes where its stdout goes */
	PROC_NULL_IN = 1 << 4,   /* child's stdin is /dev/null */
	PROC_NEW_SESSION = 1 << 5, /* setsid(): own process group */
	PROC_OUT_TO_FD = 1 << 6, /* child's stdout and stderr go to out_fd */
	/* SIGKILL when the thread that spawned it dies, however it dies
	 * (PR_SET_PDEATHSIG); not passed on to the child's own children.
	 * Spawn from a thread that lives as long as the parent. */
	PROC_DIE_WITH_PARENT = 1 << 7,
};

struct proc_opts {
	int flags;
	const char *cwd;          /* NULL: inherit */
	char *const *env;         /* NULL: inherit environ */
	int out_fd;               /* PROC_OUT_TO_FD: where the child writes
	                           * (a file it shares; still the caller's) */
	volatile sig_atomic_t *stop; /* proc_run_lines: set (by a signal)
	                           * to end the run now; may be NULL */
	/* Descriptors the child gets as 3, 4, ... in this order, open
	 * across its exec (the caller's copies stay as they are, so they
	 * may be close-on-exec: no other child gets them). */
	const int *pass_fds;
	size_t npass_fds;
	/* The first nlisten of pass_fds are listening sockets handed over
	 * by the systemd protocol (slipway/listenfd.h): the child's
	 * environment gets LISTEN_FDS, LISTEN_FDNAMES (listen_names, names
	 * joined by ':') and LISTEN_PID, its own pid, written between fork
	 * and exec, the only place it is known.  Any LISTEN_* the parent
	 * has is not passed on. */
	size_t nlisten;
	const char *listen_names;
	/* "NAME=VALUE" entries added to the child's environment (over env
	 * or environ), NULL-terminated; may be NULL. */
	char *const *env_add;
};

/* Invariant: pid > 0 while the child has not been waited for; each fd is
 * -1 when that pipe was not asked for or has been closed. */
struct proc {
	pid_t pid;
	int in, out, err;
};

/* Start argv[0] (looked up in PATH).  opts may be NULL. */
int proc_spawn(struct proc *out, char *const argv[],
    const struct proc_opts *opts);

/* Close the pipes still open and wait.  Returns the exit status, 128+N for
 * a child killed by signal N, or a negative code. */
int proc_wait(struct proc *p);

/* Run argv to completion, collecting stdout (and stderr when
 * PROC_ERR_TO_OUT is in flags) into out, capped at max bytes.  Returns the
 * exit status as proc_wait does. */
int proc_run(struct buf *out, char *const argv[], int flags, size_t max);

/* Called with each line of output, without its newline (a line longer
 * than PROC_LINE_MAX comes in pieces). */
typedef void (*proc_line_fn)(const char *line, void *ctx);
#define PROC_LINE_MAX 8192

/* Run argv with stdout and stderr merged, handing each line to fn as it
 * comes, in its own process group.  After timeout_sec (0: none) the whole
 * group is killed and ERR_TIMEOUT returned; once *opts->stop is set, it is
 * killed and ERR_CONFLICT returned ("'<argv[0]>' was stopped").  Every
 * option of opts holds but its flags (this function wires the output).
 * Returns the exit status as proc_wait does. */
int proc_run_lines(char *const argv[], const struct proc_opts *opts,
    unsigned timeout_sec, proc_line_fn fn, void *ctx);

/* Write all of len bytes to fd, retrying on EINTR and short writes (any
 * fd: pipes, sockets, files).  ERR_IO with "cannot write: <reason>". */
int proc_write_all(int fd, const void *data, size_t len);

#endif
