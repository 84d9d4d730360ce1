/*
 * A process supervisor, in the manner of OpenBSD's proc.c: services are
 * declared in a table, started as children in their own sessions, their
 * stdout and stderr merged into one log with the service name on each
 * line, restarted with backoff when they die, and stopped together (SIGTERM,
 * a grace period, then SIGKILL) when the supervisor gets SIGINT or SIGTERM.
 * A supervisor that dies without stopping them (kill -9) takes them with
 * it: each gets SIGKILL (the services only, not their own children).
 * `slipway up` is built on it.
 */
#ifndef SLIPWAY_SUPERVISE_H
#define SLIPWAY_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "slipway/buf.h"

/* One row of the table.  name and argv are the caller's and are not
 * copied; the rest is the supervisor's state. */
struct supervise_svc {
	const char *name;
	char **argv;
	/* state, zero-initialise */
	pid_t pid;
	int fd;                 /* merged stdout+stderr of the child, or -1 */
	struct buf line;        /* a partial output line */
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
 * stop, negative when the supervisor itself cannot work (signals, pipes). */
int supervise_run(struct supervise_svc *svcs, size_t n,
    const struct supervise_opts *opts);

/* Seconds to wait before restart number `restarts` (1, 2, 4 ... max). */
double supervise_backoff(unsigned restarts, double max);

#endif
