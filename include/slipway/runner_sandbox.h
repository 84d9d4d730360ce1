/*
 * One-shot containers for builds (runner/sandbox.c): run one program in a
 * container of an unpacked image with a few host directories bind-mounted,
 * its output handed over line by line, under a time limit, and gone when
 * it ends.  The same bundle as the runner's app containers (runtime-spec
 * config from runner/bundle.c: namespaces, capabilities, noNewPrivileges,
 * memory and pids limits, host network), on an overlay of the image so the
 * shared unpacked image is never written.
 */
#ifndef SLIPWAY_RUNNER_SANDBOX_H
#define SLIPWAY_RUNNER_SANDBOX_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "slipway/proc.h"

struct runner_sandbox_mount {
	const char *source;      /* host path (a directory) */
	const char *dest;        /* absolute path in the container */
	bool readonly;
};

struct runner_sandbox {
	const char *home;        /* state and bundles under <home>/sandbox */
	const char *rootfs;      /* the unpacked image (never written) */
	const char *id;          /* [a-z0-9-]{1,60}, unique on the host */
	char *const *argv;       /* argv[0] an absolute path in the
	                          * container; run as it is, no shell */
	char *const *env;        /* "K=V", NULL-terminated */
	const char *cwd;         /* in the container; NULL: "/" */
	const struct runner_sandbox_mount *mounts;
	size_t nmounts;
	uid_t uid;               /* runner_sandbox_user */
	gid_t gid;
	unsigned timeout_sec;    /* 0: none */
	volatile sig_atomic_t *stop; /* set non-zero to stop it now */
	proc_line_fn on_line;    /* stdout and stderr, merged, by line */
	void *ctx;
	uint64_t memory_bytes;   /* 0: 2 GiB */
	unsigned pids_max;       /* 0: 1024 */
	const char *runc;        /* NULL: "runc" from PATH */
};

/* The uid and gid the container runs as: user ("uid[:gid]" or a name in
 * the image's /etc/passwd), or with NULL the first 1000 <= uid < 65534
 * there, else root. */
int runner_sandbox_user(uid_t *uid, gid_t *gid, const char *rootfs,
    const char *user);

/*
 * Run sb->argv to its end.  *status is its exit status (128+N when killed
 * by signal N).  Fails with ERR_TIMEOUT past the time limit, ERR_CONFLICT
 * when stopped through sb->stop (the container is killed either way), and
 * ERR_UNSUPPORTED when runc itself cannot make the container here (not
 * root, no runc, no overlay, no cgroups: the message is runc's), so the
 * caller may fall back to running elsewhere.
 */
int runner_sandbox_run(int *status, const struct runner_sandbox *sb);

#endif
