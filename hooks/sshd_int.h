/* Private to hooks/: the per-connection side of the SSH server. */
#ifndef SLIPWAY_HOOKS_SSHD_INT_H
#define SLIPWAY_HOOKS_SSHD_INT_H

#include <libssh/libssh.h>

#include "slipway/sshd.h"

/* "SHA256:<base64>" of key, as `ssh-keygen -lf` prints it; *out is
 * malloc'd.  ERR_INVALID when libssh cannot hash the key. */
int sshd_key_fingerprint(char **out, ssh_key key);

/* Serve one accepted session to the end (in the forked child). */
void sshd_conn_serve(ssh_session session, const struct sshd_opts *opts);

#endif
