/* Private to cli/up*.c: the all-in-one supervisor's settings. */
#ifndef SLIPWAY_CLI_UP_INT_H
#define SLIPWAY_CLI_UP_INT_H

#include <stdbool.h>
#include <stddef.h>

struct supervise_svc;

/* Where every service listens and where state lives.  Strings are owned
 * by the command (argv or static). */
struct up_config {
	const char *home;
	const char *host;        /* loopback unless told otherwise */
	unsigned controller_port, registry_port, ssh_port, proxy_port;
	const char *domain;
	const char *driver;      /* runner driver, NULL: the runner's choice */
};

/* What the first start made and later starts read back, all under
 * HOME/up/ (0700): the services' admin token and the local runner's key. */
struct up_state {
	char *service_token;     /* admin API token the services use */
	char *runner_key;        /* server key of the runner "local" */
	bool first_start;        /* made now: print the next steps */
	char *admin_token;       /* only on first start: shown once */
	int keys_added;          /* ~/.ssh/id_*.pub added on first start */
};

/* Make (first start) or read back the state: the controller's home
 * (controller_home_init: secret, store, the admin user and its token),
 * then the services' token, the local runner in the default group, the
 * busybox stack, the invoking user's SSH keys.  Prints progress on
 * stderr. */
int up_state_init(struct up_state *out, const struct up_config *cfg);
void up_state_free(struct up_state *st);

/* The public listening sockets `up` holds for its services (up_listen.c):
 * the proxy's and sshd's, each -1 until opened. */
struct up_listen {
	int http, ssh;
	bool from_systemd;       /* handed over by socket activation */
};

/* Take the sockets systemd handed over (LISTEN_FDS, named "http" and
 * "ssh"; the variables are unset either way) and bind the missing ones
 * on cfg's host and ports (SO_REUSEADDR, backlog 4096).  One line naming
 * the socket when it cannot. */
int up_listen_open(struct up_listen *out, const struct up_config *cfg);
/* Give the services named "proxy" and "sshd" their socket, and have
 * them say when they accept, so a reload starts the new one first.  svcs
 * keep pointers into l. */
void up_listen_attach(struct supervise_svc *svcs, size_t n,
    const struct up_listen *l);
void up_listen_close(struct up_listen *l);

/* The systemd units for `slipway install` (up_units.c), as text (caller
 * frees).  The service runs `BIN up --home HOME` with the two sockets;
 * up_unit_socket is the unit UP_UNIT_HTTP (name "http", listen the
 * proxy's "ADDR:PORT") or UP_UNIT_SSH (name "ssh", sshd's).  Give sshd an
 * IPv4 address: on a dual-stack socket (a bare port) its per-source
 * limits would see every client as one. */
#define UP_UNIT_SERVICE "slipway.service"
#define UP_UNIT_HTTP "slipway-http.socket"
#define UP_UNIT_SSH "slipway-ssh.socket"
char *up_unit_service(const char *bin, const char *home);
char *up_unit_socket(const char *name, const char *listen);

#endif
