/*
 * Network addresses and daemon signal handling shared by every slipway
 * daemon (registry, controller, sshd, proxy, runner).
 */
#ifndef SLIPWAY_NET_H
#define SLIPWAY_NET_H

#include <netinet/in.h>
#include <stdbool.h>

/* Parse "HOST:PORT" (IPv4 dotted quad or "localhost"; port 0-65535) into
 * out.  ERR_INVALID with a message naming the text. */
int net_addr_parse(struct sockaddr_in *out, const char *text);

/* "127.0.0.1:5000" into buf (at least 32 bytes). */
void net_addr_format(char *buf, size_t len, const struct sockaddr_in *addr);

/* Block SIGINT, SIGTERM and SIGHUP in this thread and every thread made
 * after, so that net_signal_wait() can take them synchronously.  Call
 * before starting server threads. */
void net_signals_block(void);

/* Wait for SIGINT, SIGTERM or SIGHUP; returns the signal number. */
int net_signal_wait(void);

#endif
