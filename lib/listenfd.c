/* Listening sockets handed over; see include/slipway/listenfd.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "slipway/err.h"
#include "slipway/listenfd.h"
#include "slipway/net.h"
#include "slipway/parse.h"
#include "slipway/proc.h"

static void
listenfd_unsetenv(void)
{
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

/* Names from "a:b:c" into set (n already known); extra names are
 * ignored as sd_listen_fds_with_names does, missing ones stay "". */
static int
listenfd_names(struct listenfd_set *set, const char *names)
{
	size_t i = 0;

	while (names && *names && i < set->n) {
		const char *end = strchr(names, ':');
		size_t len = end ? (size_t)(end - names) : strlen(names);

		if (len >= sizeof(set->name[i]))
			return err_set(ERR_INVALID, "LISTEN_FDNAMES has a name "
			    "longer than %zu bytes", sizeof(set->name[i]) - 1);
		memcpy(set->name[i], names, len);
		set->name[i][len] = '\0';
		i++;
		names = end ? end + 1 : names + len;
	}
	return 0;
}

int
listenfd_take(struct listenfd_set *out)
{
	const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS");
	unsigned long long pid, n;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (spid == NULL || sfds == NULL)
		goto done;
	if (parse_uint(&pid, spid, 1, INT32_MAX) < 0) {
		rc = err_set(ERR_INVALID, "LISTEN_PID '%s' is not a pid", spid);
		goto done;
	}
	if ((pid_t)pid != getpid())
		goto done;
	if (parse_uint(&n, sfds, 0, LISTENFD_MAX) < 0) {
		rc = err_set(ERR_INVALID, "LISTEN_FDS '%s' is not a count of "
		    "0 to %d sockets", sfds, LISTENFD_MAX);
		goto done;
	}
	out->n = (size_t)n;
	for (size_t i = 0; i < out->n; i++) {
		out->fd[i] = LISTENFD_FIRST + (int)i;
		if (fcntl(out->fd[i], F_SETFD, FD_CLOEXEC) < 0) {
			rc = err_sys("LISTEN_FDS says %zu, but descriptor %d "
			    "is not open", out->n, out->fd[i]);
			out->n = 0;
			goto done;
		}
	}
	rc = listenfd_names(out, getenv("LISTEN_FDNAMES"));
	if (rc < 0)
		out->n = 0;
done:
	listenfd_unsetenv();
	return rc;
}

int
listenfd_find(const struct listenfd_set *set, const char *name)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->name[i], name) == 0)
			return set->fd[i];
	return -1;
}

int
listenfd_take_one(int *out, const char *name)
{
	struct listenfd_set set;
	int rc;

	*out = -1;
	if ((rc = listenfd_take(&set)) < 0)
		return rc;
	if (set.n == 0)
		return 0;
	if ((*out = listenfd_find(&set, name)) < 0 && set.n == 1)
		*out = set.fd[0];
	if (*out < 0)
		return err_set(ERR_INVALID, "of the %zu sockets handed over "
		    "(LISTEN_FDNAMES), none is named '%s'", set.n, name);
	if ((rc = listenfd_check(*out, name)) < 0)
		*out = -1;
	return rc;
}

int
listenfd_check(int fd, const char *what)
{
	int type = 0, acc = 0, dom = 0;
	socklen_t l1 = sizeof(type), l2 = sizeof(acc), l3 = sizeof(dom);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l2) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l3) < 0 ||
	    type != SOCK_STREAM || !acc || (dom != AF_INET && dom != AF_INET6))
		return err_set(ERR_INVALID, "descriptor %d (%s) is not a "
		    "listening TCP socket", fd, what);
	return 0;
}

int
listenfd_bind(const char *addr)
{
	struct sockaddr_in sa;
	int fd, one = 1, rc;

	if ((rc = net_addr_parse(&sa, addr)) < 0)
		return rc;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_sys("cannot make a socket for '%s'", addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, LISTENFD_BACKLOG) < 0) {
		rc = err_sys("cannot listen on '%s'", addr);
		close(fd);
		return rc;
	}
	return fd;
}

void
listenfd_addr(char *buf, size_t len, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
			port = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			port = ntohs(s6->sin6_port);
			snprintf(buf, len, "[%s]:%u", ip, port);
			return;
		}
	}
	snprintf(buf, len, "%s:%u", ip, port);
}

void
listenfd_ready(void)
{
	const char *s = getenv("SLIPWAY_READY_FD");
	unsigned long long fd;

	if (s == NULL)
		return;
	if (parse_uint(&fd, s, LISTENFD_FIRST, 1024) == 0) {
		(void)proc_write_all((int)fd, "ready\n", 6);
		close((int)fd);
	}
	unsetenv("SLIPWAY_READY_FD");
}
