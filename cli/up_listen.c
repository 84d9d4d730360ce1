/*
 * The public listeners of `slipway up`: the proxy's HTTP socket and the
 * SSH server's.  `up` holds them, not the services, so that a service
 * that crashes, restarts or is reloaded refuses no connection: they queue
 * in the socket's backlog until the next process accepts them.  They come
 * from systemd's socket activation when `up` was started by a .socket
 * unit (names "http", "ssh", as cli/up_units.c writes them), and are bound
 * here otherwise.  docs/upgrade.md says why it is done this way.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "slipway/err.h"
#include "slipway/listenfd.h"
#include "slipway/supervise.h"
#include "up_int.h"

/* The socket handed over as name, checked; or one bound on host:port. */
static int
up_listen_one(int *out, const struct listenfd_set *set, const char *name,
    const char *host, unsigned port)
{
	char addr[300];
	int fd = listenfd_find(set, name);

	if (fd >= 0) {
		*out = fd;
		return listenfd_check(fd, name);
	}
	snprintf(addr, sizeof(addr), "%s:%u", host, port);
	if ((fd = listenfd_bind(addr)) < 0)
		return err_wrap(fd, "%s", name);
	*out = fd;
	return 0;
}

int
up_listen_open(struct up_listen *out, const struct up_config *c)
{
	struct listenfd_set set;
	int rc;

	out->http = out->ssh = -1;
	out->from_systemd = false;
	if ((rc = listenfd_take(&set)) < 0)
		return rc;
	out->from_systemd = set.n > 0;
	if ((rc = up_listen_one(&out->http, &set, "http", c->public_host,
	    c->http_port)) < 0 ||
	    (rc = up_listen_one(&out->ssh, &set, "ssh", c->public_host,
	    c->ssh_port)) < 0) {
		up_listen_close(out);
		return rc;
	}
	/* Sockets handed over that no service uses are closed, or a .socket
	 * unit would think someone answers on them. */
	for (size_t i = 0; i < set.n; i++)
		if (set.fd[i] != out->http && set.fd[i] != out->ssh)
			close(set.fd[i]);
	return 0;
}

void
up_listen_attach(struct supervise_svc *svcs, size_t n,
    const struct up_listen *l)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(svcs[i].name, "proxy") == 0) {
			svcs[i].listen_fds = &l->http;
			svcs[i].listen_names = "http";
		} else if (strcmp(svcs[i].name, "sshd") == 0) {
			svcs[i].listen_fds = &l->ssh;
			svcs[i].listen_names = "ssh";
		} else {
			continue;
		}
		svcs[i].nlisten = 1;
		svcs[i].ready_signal = true;
	}
}

void
up_listen_close(struct up_listen *l)
{
	if (l->http >= 0)
		close(l->http);
	if (l->ssh >= 0)
		close(l->ssh);
	l->http = l->ssh = -1;
}
