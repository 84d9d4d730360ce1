/*
 * Health checks and ports: the two things the runner asks the network.
 *
 * A health check is one HTTP/1.1 GET to 127.0.0.1:PORT with a deadline on
 * the whole try (connect, send, first line); only the status line is
 * read.  2xx and 3xx are healthy.  The last answer, a status line or the
 * reason there was none, is what a failed rollout reports ("never became
 * healthy in 60s: HTTP/1.1 500 Internal Server Error"), so it says what
 * actually happened, unlike Kamal's "target failed to become healthy".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/clock.h"
#include "slipway/err.h"

#define HEALTH_LINE_MAX 1024
#define HEALTH_FIRST_GAP 0.05   /* seconds after the first try */

static int
health_ms_left(double deadline)
{
	double left = deadline - clock_mono();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

/* Wait for events on fd until deadline; 0 when ready, ERR_TIMEOUT. */
static int
health_wait(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	for (;;) {
		int ms = health_ms_left(deadline);
		if (ms == 0)
			return ERR_TIMEOUT;
		n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return ERR_IO;
	}
}

static void
lower_first(char *s)
{
	if (s[0])
		s[0] = (char)tolower((unsigned char)s[0]);
}

int
runner_health_check(const struct runner_health_opts *o, char *answer,
    size_t len)
{
	const char *path = o->path && o->path[0] ? o->path : "/";
	double timeout = o->timeout_sec > 0 ? o->timeout_sec : 5;
	double deadline = clock_mono() + timeout;
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)o->port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char req[2048], line[HEALTH_LINE_MAX + 1], err[128];
	size_t got = 0, sent = 0, reqlen;
	int fd, rc = ERR_IO, e = 0, status;
	socklen_t elen = sizeof(e);

	if (path[0] != '/' || strpbrk(path, " \r\n") || strlen(path) > 1024) {
		snprintf(answer, len, "bad health check path '%s'", path);
		return err_set(ERR_INVALID, "%s", answer);
	}
	reqlen = (size_t)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\nUser-Agent: slipway-health\r\n"
	    "Connection: close\r\n\r\n", path, o->port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(answer, len, "cannot make a socket: %s",
		    strerror(errno));
		goto done;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS) {
			e = errno;
			goto conn_fail;
		}
		if (health_wait(fd, POLLOUT, deadline) < 0) {
			snprintf(answer, len, "cannot connect to 127.0.0.1:%u: "
			    "no answer in %gs", o->port, timeout);
			rc = ERR_TIMEOUT;
			goto done;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0 || e)
			goto conn_fail;
	}
	while (sent < reqlen) {
		ssize_t n = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (health_wait(fd, POLLOUT, deadline) < 0)
				break;
			continue;
		}
		if (n < 0) {
			snprintf(answer, len, "cannot send the request to "
			    "127.0.0.1:%u: %s", o->port, strerror(errno));
			goto done;
		}
		sent += (size_t)n;
	}
	while (got < HEALTH_LINE_MAX && !memchr(line, '\n', got)) {
		ssize_t n = recv(fd, line + got, HEALTH_LINE_MAX - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (health_wait(fd, POLLIN, deadline) < 0) {
				snprintf(answer, len, "no answer from 127.0.0.1:"
				    "%u in %gs", o->port, timeout);
				rc = ERR_TIMEOUT;
				goto done;
			}
			continue;
		}
		if (n < 0) {
			snprintf(err, sizeof(err), "%s", strerror(errno));
			lower_first(err);
			snprintf(answer, len, "127.0.0.1:%u: %s", o->port, err);
			goto done;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	line[got] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (got == 0) {
		snprintf(answer, len, "127.0.0.1:%u closed the connection "
		    "without an answer", o->port);
		goto done;
	}
	if (sscanf(line, "HTTP/1.%*1[01] %3d", &status) != 1 ||
	    status < 100 || status > 999) {
		snprintf(answer, len, "not an HTTP answer from 127.0.0.1:%u: "
		    "'%.80s'", o->port, line);
		goto done;
	}
	snprintf(answer, len, "%s", line);
	rc = status >= 200 && status < 400 ? 0 : ERR_IO;
	goto done;
conn_fail:
	snprintf(err, sizeof(err), "%s", strerror(e));
	lower_first(err);
	snprintf(answer, len, "cannot connect to 127.0.0.1:%u: %s", o->port,
	    err);
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		err_set(rc, "%s", answer);
	return rc;
}

int
runner_health_wait(const struct runner_health_opts *o, char *answer,
    size_t len)
{
	double interval = o->interval_sec > 0 ? o->interval_sec : 1;
	double total = o->deadline_sec > 0 ? o->deadline_sec : 60;
	double end = clock_mono() + total, gap = HEALTH_FIRST_GAP;
	bool connected = false;
	char why[256];

	snprintf(answer, len, "no check made");
	for (;;) {
		double next;
		if (o->stop && *o->stop)
			return err_set(ERR_IO, "health check stopped");
		if (o->alive && !o->alive(o->ctx, why, sizeof(why))) {
			snprintf(answer, len, "%s", why);
			return err_set(ERR_IO, "never became healthy: %s", why);
		}
		/* The first try at once, then 50 ms doubling up to the
		 * interval: an app that binds its port in 100 ms is live
		 * then, not at the next tick. */
		if (gap > interval)
			gap = interval;
		next = clock_mono() + gap;
		gap *= 2;
		if (runner_health_check(o, answer, len) == 0)
			return 0;
		connected = connected || strncmp(answer, "cannot connect to ",
		    18) != 0;
		if (clock_mono() >= end && !connected)
			return err_set(ERR_TIMEOUT, "never became healthy in "
			    "%gs: %s; the app must listen on $PORT (it was "
			    "given PORT=%u)", total, answer, o->port);
		if (clock_mono() >= end)
			return err_set(ERR_TIMEOUT, "never became healthy in "
			    "%gs: %s", total, answer);
		while (clock_mono() < next && !(o->stop && *o->stop))
			poll(NULL, 0, next - clock_mono() < 0.05 ?
			    (int)((next - clock_mono()) * 1000) + 1 : 50);
	}
}

/* ---- ports ----------------------------------------------------------- */

/* Can we bind port on the wildcard address of family af?  A listener on
 * any address of that family makes the bind fail; SO_REUSEADDR keeps
 * connections in TIME_WAIT from counting. */
static bool
port_free_af(int af, unsigned port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
	    .sin6_port = htons((uint16_t)port), .sin6_addr = in6addr_any };
	struct sockaddr_in s4 = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_ANY) };
	int fd = socket(af, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, ok;

	if (fd < 0)
		return af == AF_INET6;	/* no IPv6 here: nothing to clash */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (af == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	ok = af == AF_INET6 ?
	    bind(fd, (struct sockaddr *)&s6, sizeof(s6)) == 0 :
	    bind(fd, (struct sockaddr *)&s4, sizeof(s4)) == 0;
	if (!ok && af == AF_INET6 && errno == EADDRNOTAVAIL)
		ok = 1;
	close(fd);
	return ok;
}

int
runner_port_find(unsigned *out, unsigned base, const unsigned *taken,
    size_t n)
{
	unsigned last;

	if (base == 0)
		base = RUNNER_PORT_BASE;
	last = runner_port_last(base);
	for (unsigned p = base; p <= last; p++) {
		bool used = false;
		for (size_t i = 0; i < n && !used; i++)
			used = taken[i] == p;
		if (used || !port_free_af(AF_INET, p) ||
		    !port_free_af(AF_INET6, p))
			continue;
		*out = p;
		return 0;
	}
	return err_set(ERR_CONFLICT, "no free port in %u-%u", base, last);
}

/* ---- who listens on a port ------------------------------------------- */

#define PORT_INODES_MAX 16

/* The inodes of the sockets listening on port (IPv4 and IPv6), from
 * /proc/net/tcp{,6}: "sl local rem st txq:rxq tr:when retr uid timeout
 * inode", local as HEXADDR:HEXPORT, st 0A for LISTEN. */
static size_t
port_listen_inodes(unsigned long *out, size_t max, unsigned port)
{
	static const char *const files[] = { "/proc/net/tcp",
	    "/proc/net/tcp6" };
	size_t n = 0;

	for (size_t f = 0; f < 2; f++) {
		FILE *fp = fopen(files[f], "re");
		char line[512];

		if (fp == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) && n < max) {
			char local[128], st[8];
			unsigned long inode;
			unsigned lport;
			const char *colon;

			if (sscanf(line, " %*s %127s %*s %7s %*s %*s %*s %*s "
			    "%*s %lu", local, st, &inode) != 3)
				continue;
			if (strcmp(st, "0A") != 0 ||
			    (colon = strrchr(local, ':')) == NULL ||
			    sscanf(colon + 1, "%x", &lport) != 1 ||
			    lport != port || inode == 0)
				continue;
			out[n++] = inode;
		}
		fclose(fp);
	}
	return n;
}

/* Does process pid hold one of the socket inodes? */
static bool
pid_holds(pid_t pid, const unsigned long *inodes, size_t n)
{
	char path[64], link[64];
	struct dirent *d;
	DIR *dp;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dp = opendir(path)) == NULL)
		return false;
	while (!found && (d = readdir(dp)) != NULL) {
		char fdp[320];
		ssize_t k;
		unsigned long ino;

		if (d->d_name[0] == '.')
			continue;
		snprintf(fdp, sizeof(fdp), "%s/%s", path, d->d_name);
		if ((k = readlink(fdp, link, sizeof(link) - 1)) <= 0)
			continue;
		link[k] = '\0';
		if (sscanf(link, "socket:[%lu]", &ino) != 1)
			continue;
		for (size_t i = 0; i < n && !found; i++)
			found = inodes[i] == ino;
	}
	closedir(dp);
	return found;
}

static unsigned long long
pid_ns(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

int
runner_container_port_owner(enum runner_port_owner *out, struct runner *r,
    const char *id, unsigned port)
{
	struct runner_container_info info;
	unsigned long inodes[PORT_INODES_MAX];
	unsigned long long cns, selfns;
	struct dirent *d;
	size_t n;
	DIR *dp;
	int rc;

	*out = RUNNER_PORT_NOBODY;
	if ((rc = runner_container_get(&info, r, id)) < 0)
		return rc;
	if (info.pid <= 0 || (n = port_listen_inodes(inodes,
	    PORT_INODES_MAX, port)) == 0) {
		runner_container_info_free(&info);
		return 0;
	}
	/* The container's processes: its own session (the process driver
	 * starts it with setsid), or its own pid namespace (runc). */
	cns = pid_ns(info.pid);
	selfns = pid_ns(getpid());
	if ((dp = opendir("/proc")) == NULL) {
		runner_container_info_free(&info);
		return 0;
	}
	*out = RUNNER_PORT_OTHER;
	while (*out != RUNNER_PORT_OURS && (d = readdir(dp)) != NULL) {
		char *end;
		long p = strtol(d->d_name, &end, 10);
		bool ours;

		if (*end || p <= 0)
			continue;
		ours = getsid((pid_t)p) == info.pid ||
		    (cns != 0 && cns != selfns && pid_ns((pid_t)p) == cns);
		if (ours && pid_holds((pid_t)p, inodes, n))
			*out = RUNNER_PORT_OURS;
	}
	closedir(dp);
	runner_container_info_free(&info);
	return 0;
}
