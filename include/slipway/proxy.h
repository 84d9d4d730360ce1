/*
 * The HTTP reverse proxy (`slipway proxy`) and the client of its control
 * socket.  The proxy routes by Host to apps' backends; its route table is
 * changed only through the control socket, one whole app at a time, so a
 * swap is atomic.  The runner and the CLI use the proxy_ctl_* functions
 * below; the protocol they speak is in docs/proxy.md.
 */
#ifndef SLIPWAY_PROXY_H
#define SLIPWAY_PROXY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* What `slipway proxy` runs with.  Times are in milliseconds. */
struct proxy_opts {
	const char *listen;          /* "127.0.0.1:8080" */
	int listen_fd;               /* a listening socket handed over (by
	                              * LISTEN_FDS or --listen-fd), used instead
	                              * of binding listen; -1: none */
	const char *tls_listen;      /* HTTPS "IP:PORT", or NULL */
	int tls_listen_fd;           /* the HTTPS socket handed over, or -1 */
	const char *certs_dir;       /* live/, challenges/ (docs/proxy.md) */
	unsigned max_handshakes;     /* TLS connections in handshake at once;
	                              * past it the oldest one is dropped */
	unsigned handshake_timeout;  /* a TLS handshake must end in it */
	const char *control;         /* unix socket path */
	const char *domain;          /* "localhost": APP.localhost */
	const char *routes_file;     /* loaded at start, saved on change; or NULL */
	const char *access_log;      /* path, "-" for stderr, NULL for none */
	unsigned max_conns;          /* client connections at once */
	unsigned max_conns_per_ip;   /* of those from one IPv4 address or
	                              * IPv6 /64 */
	unsigned pool_max;           /* idle upstream connections per backend */
	unsigned header_timeout;     /* whole request head must arrive in it */
	unsigned idle_timeout;       /* keep-alive client with no request */
	unsigned connect_timeout;    /* upstream connect */
	unsigned upstream_timeout;   /* response head, then between reads */
	unsigned tunnel_timeout;     /* upgraded connection with no traffic */
	unsigned long long max_body; /* request body cap in bytes, 0: none */
};

/* Defaults for every field (listen 127.0.0.1:8080, control from
 * proxy_ctl_default_path, domain localhost, access log on stderr). */
void proxy_opts_default(struct proxy_opts *o);

/* Run the proxy until SIGINT or SIGTERM.  Fails (before serving) when the
 * listen address or control socket cannot be set up or the routes file is
 * bad; returns 0 after a clean stop.  Once it accepts it tells whoever
 * waits for that (listenfd_ready). */
int proxy_run(const struct proxy_opts *o);

/* ---- control client -------------------------------------------------- */

/* $SLIPWAY_HOME/proxy.sock (SLIPWAY_HOME defaults to /var/lib/slipway).
 * Caller frees. */
char *proxy_ctl_default_path(void);

/* Install app's whole backend list ("127.0.0.1:PORT") and custom domains
 * in one atomic step.  ERR_INVALID / ERR_CONFLICT with the proxy's reason,
 * ERR_IO when the proxy cannot be reached. */
int proxy_ctl_route_set(const char *ctl, const char *app,
    const char *const *backends, size_t nbackends,
    const char *const *domains, size_t ndomains);

/* Remove app's route; ERR_NOTFOUND if it has none. */
int proxy_ctl_route_rm(const char *ctl, const char *app);

/* Maintenance mode: every request for app gets a 503 saying so. */
int proxy_ctl_maintenance(const char *ctl, const char *app, bool on);

/* Requests in flight on backend (routed or not any more) into *out, and
 * whether some app still routes to it into *routed (may be NULL). */
int proxy_ctl_drain(unsigned *out, bool *routed, const char *ctl,
    const char *backend);

/* Poll proxy_ctl_drain until backend has no request in flight or
 * wait_ms passes (ERR_TIMEOUT, *out = what is left). */
int proxy_ctl_drain_wait(unsigned *out, const char *ctl, const char *backend,
    unsigned wait_ms);

/* The route table as the JSON text the proxy sends ("routes" op);
 * caller frees. */
int proxy_ctl_routes(char **out, const char *ctl);
/* The router lines the proxy queued since the last call (proxy/router.c):
 * {"lines":[[APP, WALL, TEXT], ...], "dropped": N}.  Caller decrefs. */
int proxy_ctl_router(json_t **out, const char *ctl);

/* ---- commands (cli/commands.c) --------------------------------------- */

int proxy_cmd_serve(int argc, char **argv);
int proxy_cmd_route_set(int argc, char **argv);
int proxy_cmd_route_rm(int argc, char **argv);
int proxy_cmd_routes(int argc, char **argv);
int proxy_cmd_drain(int argc, char **argv);
int proxy_cmd_maintenance(int argc, char **argv);

#endif
