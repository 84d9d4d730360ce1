/* Private to cli/up*.c: the all-in-one supervisor's settings. */
#ifndef SLIPWAY_CLI_UP_INT_H
#define SLIPWAY_CLI_UP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct supervise_svc;

/*
 * The server's configuration: embedded defaults, then
 * $SLIPWAY_HOME/slipway.conf (or --config FILE), then flags.  Every key of
 * the file has a flag; up_config.c has the one table of both.  Strings
 * are owned (up_config_free).  After up_config_load, every address and
 * URL is filled in: the services are handed these, and none of them
 * guesses one.
 */
struct up_config {
	char *home;
	char *file;              /* the config file read, or NULL */
	char *hostname;          /* public name: SSH remotes, what up prints */
	char *domain;            /* apps are APP.domain */
	char *public_host;       /* the proxy and sshd listen here */
	unsigned http_port, https_port, ssh_port;
	char *private_host;      /* the controller and the registry, by default */
	char *controller_host, *controller_url;
	unsigned controller_port;
	unsigned runner_lease;    /* seconds a runner's lease lasts */
	char *registry_host, *registry_url;
	unsigned registry_port;
	unsigned keep_releases;  /* images kept per app (0: all) */
	char *driver;            /* runner driver, NULL: the runner's choice */
	bool publish_ports;      /* runner: leave container ports unguarded */
	char *log_dir;           /* "-": stdout */
	uint64_t log_max_size;
	unsigned log_keep;
	uint32_t given;          /* keys set by the file or a flag (bit: the
	                          * key's row in up_config.c's table) */
};

/* What `up` was asked beside the configuration. */
struct up_request {
	bool show;               /* --show-config: print it and exit */
	bool json;               /* ... as JSON */
};

/* Defaults, the file, the flags (argv as cli_cmd_up got it), then the
 * derived addresses, all checked.  Returns 0, or 2 after a usage line on
 * stderr (a bad flag or value: one line naming the file and line), or 1
 * after a failure line. */
int up_config_load(struct up_config *c, struct up_request *req, int argc,
    char **argv);
void up_config_free(struct up_config *c);

/* The effective configuration as slipway.conf takes it (YAML; it can be
 * saved as the file) or as JSON, on out.  given_only: only the keys the
 * file or a flag set (what `slipway install` writes, so that derived
 * values stay derived). */
void up_config_print(const struct up_config *c, bool json, bool given_only,
    FILE *out);

/* The flags, each with its key and default, for `up --help` (tests check
 * the help text names every one). */
size_t up_config_flags(const char *const **flags);

/* 10485760 -> "10M", 1536 -> "1536": the largest unit that divides. */
void up_size_text(char *out, size_t len, uint64_t n);

struct supervise_log;

/* Open the merged log as cfg says (supervise_log_open: cfg->log_dir, "-"
 * for stdout, stdout too when the journal is ours); fails with a
 * message. */
int up_log_open(struct supervise_log **out, const struct up_config *cfg);
/* The one line on stderr saying where the log is. */
void up_log_say_where(const struct supervise_log *lg,
    const struct up_config *cfg);

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
/* HOME/up/service.token, which sshd reads the token from. */
char *up_service_token_path(const char *home);

/* The public listening sockets `up` holds for its services (up_listen.c):
 * the proxy's and sshd's, each -1 until opened. */
struct up_listen {
	int http, ssh;
	bool from_systemd;       /* handed over by socket activation */
};

/* Take the sockets systemd handed over (LISTEN_FDS, named "http" and
 * "ssh"; the variables are unset either way) and bind the missing ones
 * on cfg's public address and ports (SO_REUSEADDR, backlog 4096).  One
 * line naming the socket when it cannot. */
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
