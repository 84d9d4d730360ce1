/*
 * A process supervisor, in the manner of OpenBSD's proc.c: services are
 * declared in a table, started as children in their own sessions, their
 * stdout and stderr merged into one log with the service name on each
 * line, restarted with backoff when they die, and stopped together (SIGTERM,
 * a grace period, then SIGKILL) when the supervisor gets SIGINT or SIGTERM.
 * A supervisor that dies without stopping them (kill -9) takes them with
 * it: each gets SIGKILL (the services only, not their own children).
 * SIGHUP reloads: every service is started again from its program as it
 * is now on disk, one at a time (below).  `slipway up` is built on it.
 */
#ifndef SLIPWAY_SUPERVISE_H
#define SLIPWAY_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "slipway/buf.h"

#define SUPERVISE_READY_SEC 30.0

/* Where a service is in a reload. */
enum supervise_reload {
	SUPERVISE_RELOAD_NONE = 0,
	SUPERVISE_RELOAD_STARTING,  /* the new process runs beside the old
	                             * one, which serves until it is ready */
	SUPERVISE_RELOAD_STOPPING,  /* the old process was told to stop:
	                             * then the new one starts (no ready) or
	                             * the reload of this service is over */
};

/* One row of the table.  name, argv and the listening sockets are the
 * caller's and are not copied; the rest is the supervisor's state. */
struct supervise_svc {
	const char *name;
	char **argv;
	/* Listening sockets every process of the service gets at 3, 4, ...
	 * by the systemd protocol (proc_opts.nlisten), with their names
	 * joined by ':'.  They live in the caller, so that a service that
	 * dies or restarts refuses no connection: they queue meanwhile. */
	const int *listen_fds;
	size_t nlisten;
	const char *listen_names;
	/* The service says when it accepts (listenfd_ready, through
	 * SLIPWAY_READY_FD): a reload starts the new process beside the old
	 * one and stops the old one once the new one is ready.  Without it,
	 * a reload stops the old process, then starts the new one. */
	bool ready_signal;
	/* state, zero-initialise */
	pid_t pid;
	int fd;                 /* merged stdout+stderr of the child, or -1 */
	struct buf line;        /* a partial output line */
	enum supervise_reload reload;
	pid_t old_pid;          /* the process being replaced, or 0 */
	int old_fd;             /* its output, or -1 */
	struct buf old_line;
	int ready_fd;           /* the new process's readiness pipe, or -1 */
	double reload_deadline; /* then the new one or the old one is killed */
	unsigned restarts;
	double started;         /* monotonic seconds */
	double restart_at;      /* when to start again, 0: not waiting */
	int last_status;
};

/* Where the merged log goes. */
struct supervise_log;

/* Open the merged log's destination by these rules: stdout when
 * JOURNAL_STREAM is set (systemd's journal keeps and rotates the lines)
 * or dir is NULL or "-"; else dir/slipway.log, rotated at max_bytes with
 * keep older files (lib/logfile.c), and echoed to stdout as well when
 * stdout is a terminal.  Fails with a message, leaving nothing open,
 * when the file cannot be opened (a file in place of dir, no
 * permission).  *out is the caller's, for supervise_log_free. */
int supervise_log_open(struct supervise_log **out, const char *dir,
    unsigned long long max_bytes, unsigned keep);

/* Where the lines go, for a line saying so: the file's path, or
 * "stdout".  Owned by lg. */
const char *supervise_log_where(const struct supervise_log *lg);

void supervise_log_free(struct supervise_log *lg);

struct supervise_opts {
	struct supervise_log *log;  /* NULL: stdout; not owned */
	double grace_sec;       /* SIGTERM to SIGKILL; 0: 10 */
	double backoff_max_sec; /* 0: 30 */
	/* Called once all services have been started the first time (for
	 * first-start messages); may be NULL. */
	void (*on_started)(struct supervise_svc *svcs, size_t n, void *ctx);
	void *ctx;
	/* Stop after this many seconds (tests); 0: until a signal. */
	double run_for_sec;
};

/* Run until SIGINT/SIGTERM (or run_for_sec).  Returns 0 after a clean
 * stop, negative when the supervisor itself cannot work (signals, pipes).
 *
 * SIGHUP reloads the services in table order, one at a time, each from
 * its argv[0] as it is on disk now (an upgrade replaces the file, then
 * sends SIGHUP).  The old process gets SIGTERM, to itself only: what it
 * started (an SSH session's git push) finishes on its own.  A new
 * process that exits, or is not ready within SUPERVISE_READY_SEC, is
 * killed and the old one keeps running.  A SIGHUP during a reload makes
 * another once this one ends.  "up | reloaded" goes to the log at the
 * end. */
int supervise_run(struct supervise_svc *svcs, size_t n,
    const struct supervise_opts *opts);

/* Seconds to wait before restart number `restarts` (1, 2, 4 ... max). */
double supervise_backoff(unsigned restarts, double max);

#endif
