/*
 * The SSH server behind `git push deploy main` (sshd/, libssh): who is
 * connecting, never what they may run (that is `slipway ssh-exec`, in
 * hooks/).  Declarations are grouped by the file that defines them.
 */
#ifndef SLIPWAY_SSHD_H
#define SLIPWAY_SSHD_H

#include <stdatomic.h>

/* sshd.c */

/*
 * The SSH server behind `git push deploy main` (libssh).  Public-key
 * authentication only; everything else (passwords, keyboard-interactive,
 * none, pty, shell, subsystems, env, agent, X11 and port forwarding) is
 * refused.  Each connection is served by a forked process, so a crash
 * takes down one connection and never the server.
 *
 * The server decides only WHO is connecting.  WHAT they may run is decided
 * by the program in exec_argv (gitolite's and Dokku's authorized_keys
 * `command=` model): it is started for every exec request with the
 * request's command line in SSH_ORIGINAL_COMMAND (never given to a shell),
 * the user in SLIPWAY_SSH_USER and the key in SLIPWAY_SSH_FINGERPRINT, its
 * stdin/stdout/stderr piped to the channel and its exit status sent back.
 */

/* Map a key fingerprint ("SHA256:...", as `ssh-keygen -lf` prints) to the
 * name of the user it belongs to.  Returns 0 and *user (malloc'd), or
 * ERR_NOTFOUND for an unknown key, or another negative code when the
 * answer cannot be had (which also refuses the key).  Called in the
 * connection's process. */
typedef int (*sshd_key_lookup_fn)(char **user, const char *fingerprint,
    void *ctx);

/* Called in the connection's process once, just before the first
 * command runs, to open a session for the authenticated user: *env gets
 * more "K=V" for the command's environment (NULL-terminated, malloc'd,
 * strings too; the server frees them), *session anything the matching
 * end call needs.  A negative return refuses the command. */
typedef int (*sshd_session_begin_fn)(char ***env, void **session,
    const char *user, const char *fingerprint, void *ctx);
/* Called when the connection ends, however it ends, after a successful
 * begin. */
typedef void (*sshd_session_end_fn)(void *session, void *ctx);

struct sshd_opts {
	const char *listen;          /* "127.0.0.1:2222" */
	int listen_fd;               /* >= 3: a listening socket handed over
	                              * (LISTEN_FDS), used instead of binding
	                              * listen; 0: none */
	const char *host_key;        /* path; made (ed25519, 0600) if missing */
	sshd_key_lookup_fn lookup;
	void *lookup_ctx;
	char **exec_argv;            /* program run for each exec request */
	char **extra_env;            /* "K=V" added to its environment */
	sshd_session_begin_fn session_begin;  /* may be NULL */
	sshd_session_end_fn session_end;
	void *session_ctx;
	unsigned keepalive_sec;      /* 0: 15 */
	unsigned login_grace_sec;    /* 0: 30, from connect to the command */
	/* Connection limits (docs/push.md, "Connection limits"). */
	unsigned max_conns;          /* 0: 64 */
	unsigned reserved_auth;      /* of those, 0: 16 only for users */
	unsigned max_per_source;     /* unauthenticated per address, 0: 8 */
	unsigned startups[3];        /* start:rate:full, 0s: 16:30:48 */
	unsigned unauth_grace_sec;   /* 0: 10, to verify a key */
	atomic_int *stop;            /* when set non-zero, stop accepting */
	/* Called once listening, with the bound port and the host key's
	 * fingerprint (for tests that listen on port 0 and for logs). */
	void (*on_listen)(unsigned port, const char *fingerprint, void *ctx);
	void *ctx;
};

/* Load the host key at path, or make one there.  *fingerprint (malloc'd)
 * is "SHA256:...". */
int sshd_host_key_ensure(char **fingerprint, const char *path);

/* Serve until *opts->stop is set or a fatal error.  Blocks. */
int sshd_run(const struct sshd_opts *opts);

/* sshd_cmd.c: `slipway sshd` (cli/commands.c) */
int sshd_cmd_run(int argc, char **argv);

#endif
