/*
 * The controller: the HTTP API daemon.  The store it keeps its truth in,
 * with the release rules and the scheduler the store applies, is
 * include/slipway/store.h; the client commands that talk to it are
 * include/slipway/client.h.
 */
#ifndef SLIPWAY_CONTROLLER_H
#define SLIPWAY_CONTROLLER_H

#include <stddef.h>

/* ---- the daemon (controller/controller.c) ---- */

#define CONTROLLER_ADMIN "admin"        /* the user a fresh store gets */

/* What controller_home_init made or found; controller_home_free frees. */
struct controller_home {
	unsigned char *key;     /* the registry token key (HOME/secret) */
	size_t keylen;
	char *admin_token;      /* made now, on a store without users; the
	                         * only time it exists in clear.  Else NULL */
};

/*
 * The controller's state in home, made when missing and read back when
 * not, each step idempotent so that an interrupted first start is
 * finished by the next: home (0700 when made), the registry token key,
 * the store (created or migrated), and last the user CONTROLLER_ADMIN
 * with one token labelled token_note when the store has no users (another
 * process making it first is not an error).  Both `slipway controller` and
 * `slipway up` start with it.  Fails with the step's error; *out is only
 * set on success.
 */
int controller_home_init(struct controller_home *out, const char *home,
    const char *token_note);
void controller_home_free(struct controller_home *h);

int controller_cmd_run(int argc, char **argv);

#endif
