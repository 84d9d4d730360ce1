/* Private to hooks/: the per-connection side of the SSH server. */
#ifndef SLIPWAY_HOOKS_SSHD_INT_H
#define SLIPWAY_HOOKS_SSHD_INT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libssh/libssh.h>

#include "slipway/sshd.h"
#include "slipway/lograte.h"

/* "SHA256:<base64>" of key, as `ssh-keygen -lf` prints it; *out is
 * malloc'd.  ERR_INVALID when libssh cannot hash the key. */
int sshd_key_fingerprint(char **out, ssh_key key);

/* Serve one accepted session to the end (in the forked child).  One byte
 * is written to notify_fd once a key is verified; the listener reads it to
 * count the connection as authenticated (and EOF as its end). */
void sshd_conn_serve(ssh_session session, const struct sshd_opts *opts,
    int notify_fd);

/* ---- connection limits (sshd_limit.c) ---- */

/* One open connection: its process, the read end of its notify pipe. */
struct sshd_limit_conn {
	pid_t pid;
	int fd;                 /* -1 once it hit EOF */
	struct in_addr src;
	double started;         /* clock_mono() at accept */
	bool authed;
};

/* The limits in force (the options with defaults filled in and made
 * consistent: full <= max_conns - reserved_auth, start <= full) and the
 * open connections, conns[0..n), n <= max_conns. */
struct sshd_limit {
	unsigned max_conns, reserved_auth, per_source;
	unsigned start, rate, full;     /* --max-startups */
	unsigned unauth_grace;          /* seconds */
	struct sshd_limit_conn *conns;
	size_t n;
	struct lograte refusals;        /* one log line per 10 s */
};

void sshd_limit_init(struct sshd_limit *l, const struct sshd_opts *o);
void sshd_limit_free(struct sshd_limit *l);

/* May a connection from src be accepted now?  rnd is a random number for
 * the early drop.  When not, why says so in one line (no address but the
 * source's). */
bool sshd_limit_admit(char *why, size_t len, const struct sshd_limit *l,
    struct in_addr src, uint32_t rnd);

/* Record an admitted connection (after sshd_limit_admit said yes). */
void sshd_limit_add(struct sshd_limit *l, pid_t pid, int fd,
    struct in_addr src, double now);
/* The connection of process pid, or NULL; valid until the next remove. */
struct sshd_limit_conn *sshd_limit_find(struct sshd_limit *l, pid_t pid);
void sshd_limit_remove(struct sshd_limit *l, pid_t pid);

/* Unauthenticated connections from src (NULL: from anywhere). */
unsigned sshd_limit_unauth(const struct sshd_limit *l,
    const struct in_addr *src);
/* True when c has had its unauth_grace without authenticating. */
bool sshd_limit_overdue(const struct sshd_limit *l,
    const struct sshd_limit_conn *c, double now);

/* "N" from 1 to max; "START:RATE:FULL" with START <= FULL, RATE <= 100.
 * ERR_INVALID with a message naming s. */
int sshd_limit_parse_count(unsigned *out, const char *s, unsigned max);
int sshd_limit_parse_startups(unsigned out[3], const char *s);

#endif
