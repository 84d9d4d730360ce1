/* Private to cli/up*.c: the all-in-one supervisor's settings. */
#ifndef SLIPWAY_CLI_UP_INT_H
#define SLIPWAY_CLI_UP_INT_H

#include <stdbool.h>

/* Where every service listens and where state lives.  Strings are owned
 * by the command (argv or static). */
struct up_config {
	const char *home;
	const char *host;        /* loopback unless told otherwise */
	unsigned controller_port, registry_port, ssh_port, proxy_port;
	const char *domain;
	const char *driver;      /* runner driver, NULL: the runner's choice */
	bool publish_ports;      /* runner: leave container ports unguarded */
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

#endif
