/* Private to hooks/: the per-connection side of the SSH server. */
#ifndef SLIPWAY_HOOKS_SSHD_INT_H
#define SLIPWAY_HOOKS_SSHD_INT_H

#include <libssh/libssh.h>

#include "slipway/sshd.h"

/* Serve one accepted session to the end (in the forked child). */
void sshd_conn_serve(ssh_session session, const struct sshd_opts *opts);

#endif
