/*
 * Listening sockets handed from one process to the next, so that a
 * restart refuses no connection: the socket (and the connections queued
 * on it) lives in whoever holds it, and each new server accepts on it.
 * The protocol is systemd's socket activation (sd_listen_fds(3)):
 * descriptors from 3, LISTEN_FDS of them, LISTEN_FDNAMES their names
 * separated by ':', LISTEN_PID the pid they are meant for.  systemd's
 * .socket units, `slipway up` and the test holder all speak it.
 */
#ifndef SLIPWAY_LISTENFD_H
#define SLIPWAY_LISTENFD_H

#include <stddef.h>

#define LISTENFD_MAX 8
#define LISTENFD_FIRST 3
#define LISTENFD_BACKLOG 4096

/* The sockets this process was given; names are "" when none was. */
struct listenfd_set {
	size_t n;
	int fd[LISTENFD_MAX];
	char name[LISTENFD_MAX][64];
};

/* Take the sockets the environment hands to this process: none when
 * LISTEN_PID is unset or names another process (they were meant for a
 * parent).  The variables are unset either way, so no child inherits
 * them, and the descriptors made close-on-exec: a child is handed one
 * only on purpose (proc_opts.pass_fds).  ERR_INVALID when the variables
 * are malformed or name more than LISTENFD_MAX. */
int listenfd_take(struct listenfd_set *out);

/* For a server with one listener: take what was handed over
 * (listenfd_take) and put in *out the socket named name, or the only one
 * when one was handed over; -1 when none was.  The socket is checked
 * (listenfd_check).  ERR_INVALID when several came and none is named
 * name, or when it is not a listening TCP socket. */
int listenfd_take_one(int *out, const char *name);

/* The descriptor named name in set, or -1. */
int listenfd_find(const struct listenfd_set *set, const char *name);

/* 0 when fd is a listening TCP stream socket (IPv4 or IPv6); else
 * ERR_INVALID "descriptor N (what) is not a listening TCP socket". */
int listenfd_check(int fd, const char *what);

/* A TCP listener on "HOST:PORT" (SO_REUSEADDR, backlog LISTENFD_BACKLOG,
 * close-on-exec, blocking); its descriptor, or a negative code with
 * "cannot listen on 'ADDR': <reason>". */
int listenfd_bind(const char *addr);

/* "HOST:PORT" of a bound socket into buf (at least 64 bytes). */
void listenfd_addr(char *buf, size_t len, int fd);

/* Tell the supervisor this process now accepts connections: write
 * "ready\n" to the descriptor SLIPWAY_READY_FD names, close it, unset the
 * variable.  Nothing when it is unset; never fails the caller. */
void listenfd_ready(void);

#endif
