/*
 * The systemd units of `slipway up` (cli/up_int.h), for `slipway install`
 * to write: slipway.service, and one socket unit per public listener,
 * slipway-http.socket and slipway-ssh.socket.  systemd holds the sockets,
 * not `up`, across a `systemctl restart slipway` (and a stop and start,
 * and a crash of `up` itself): connections that arrive meanwhile wait in
 * the backlog and the next `up` takes them (docs/upgrade.md).  One socket
 * unit per listener because FileDescriptorName= names every socket of a
 * unit: up tells "http" from "ssh" by LISTEN_FDNAMES.
 */
#include <stdio.h>

#include "slipway/alloc.h"
#include "slipway/listenfd.h"
#include "up_int.h"

char *
up_unit_service(const char *bin, const char *home)
{
	return xasprintf(
	    "# Written by slipway install; slipway uninstall removes it.\n"
	    "[Unit]\n"
	    "Description=slipway: git push deployments (controller, registry, "
	    "proxy, sshd, runner)\n"
	    "After=network-online.target " UP_UNIT_HTTP " " UP_UNIT_SSH "\n"
	    "Wants=network-online.target\n"
	    "# The public sockets outlive the service: a restart refuses no\n"
	    "# connection.\n"
	    "Requires=" UP_UNIT_HTTP " " UP_UNIT_SSH "\n"
	    "\n"
	    "[Service]\n"
	    "Type=simple\n"
	    "Sockets=" UP_UNIT_HTTP " " UP_UNIT_SSH "\n"
	    "Environment=SLIPWAY_HOME=%s\n"
	    "ExecStart=%s up --home %s\n"
	    "# systemctl reload slipway: every service again from the binary\n"
	    "# on disk, one at a time, the proxy beside the old one.\n"
	    "ExecReload=/bin/kill -HUP $MAINPID\n"
	    "# up stops its services itself (drain, then SIGTERM); runc's\n"
	    "# containers live in their own cgroups and outlive it by design.\n"
	    "KillMode=mixed\n"
	    "TimeoutStopSec=60\n"
	    "Restart=on-failure\n"
	    "RestartSec=2\n"
	    "LimitNOFILE=65536\n"
	    "\n"
	    "[Install]\n"
	    "WantedBy=multi-user.target\n", home, bin, home);
}

char *
up_unit_socket(const char *name, const char *listen)
{
	return xasprintf(
	    "# Written by slipway install; slipway uninstall removes it.\n"
	    "[Unit]\n"
	    "Description=slipway: the public %s socket, held across restarts "
	    "of slipway.service\n"
	    "\n"
	    "[Socket]\n"
	    "ListenStream=%s\n"
	    "FileDescriptorName=%s\n"
	    "Service=" UP_UNIT_SERVICE "\n"
	    "Backlog=%d\n"
	    "ReusePort=no\n"
	    "\n"
	    "[Install]\n"
	    "WantedBy=sockets.target\n", name, listen, name, LISTENFD_BACKLOG);
}
