/*
 * sockhold: what a systemd .socket unit does for `slipway up`, for the
 * restart tests.  Built with cc by the scripts that use it.
 *
 *   sockhold PIDFILE NAME=HOST:PORT [NAME=HOST:PORT ...] -- CMD [ARG ...]
 *
 * Binds each address (SO_REUSEADDR, backlog 4096) and holds the sockets
 * for its whole life.  Starts CMD with them at descriptors 3, 4, ... and
 * LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set (LISTEN_PID between fork
 * and exec: only the child knows its pid), and writes the child's pid to
 * PIDFILE.  SIGHUP: SIGTERM the child, wait for it, start it again (as
 * `systemctl restart` of the service while the socket unit stays).
 * SIGTERM or SIGINT: stop the child and exit.  Connections that arrive
 * while no child runs wait in the backlog.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXSOCK 8

static volatile sig_atomic_t got_hup, got_term;

static void on_hup(int s) { (void)s; got_hup = 1; }
static void on_term(int s) { (void)s; got_term = 1; }

static int
bind_one(const char *spec, char *name, size_t nlen)
{
	const char *eq = strchr(spec, '='), *colon = strrchr(spec, ':');
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char ip[64];
	int fd, one = 1;

	if (!eq || !colon || colon < eq || (size_t)(eq - spec) >= nlen ||
	    (size_t)(colon - eq - 1) >= sizeof(ip))
		return -1;
	memcpy(name, spec, (size_t)(eq - spec));
	name[eq - spec] = '\0';
	memcpy(ip, eq + 1, (size_t)(colon - eq - 1));
	ip[colon - eq - 1] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return -1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4096) < 0) {
		perror("sockhold: bind");
		return -1;
	}
	return fd;
}

static pid_t
start(char **cmd, const int *fds, int n, const char *names,
    const char *pidfile)
{
	pid_t pid = fork();
	char buf[32];
	FILE *f;

	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		/* main moved every socket above 3 + MAXSOCK, so no dup2
		 * below lands on a socket still to be moved */
		for (int i = 0; i < n; i++)
			if (dup2(fds[i], 3 + i) < 0)
				_exit(127);
		snprintf(buf, sizeof(buf), "%d", n);
		setenv("LISTEN_FDS", buf, 1);
		setenv("LISTEN_FDNAMES", names, 1);
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		setenv("LISTEN_PID", buf, 1);
		execvp(cmd[0], cmd);
		perror("sockhold: exec");
		_exit(127);
	}
	if (pid > 0 && (f = fopen(pidfile, "w")) != NULL) {
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
	}
	return pid;
}

static void
stop(pid_t pid)
{
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	int fds[MAXSOCK], n = 0, i;
	char names[MAXSOCK * 64] = "", name[64];
	struct sigaction sa = { 0 };
	sigset_t block, old;
	pid_t pid;

	if (argc < 5)
		goto usage;
	/* Each socket goes above 3 + MAXSOCK, out of the way of the
	 * descriptors 3.. the child gets them at. */
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (n == MAXSOCK || (fds[n] = bind_one(argv[i], name,
		    sizeof(name))) < 0)
			goto usage;
		if (fds[n] < 3 + MAXSOCK) {
			int hi = fcntl(fds[n], F_DUPFD_CLOEXEC, 3 + MAXSOCK);
			close(fds[n]);
			fds[n] = hi;
		}
		if (n)
			strcat(names, ":");
		strcat(names, name);
		n++;
	}
	if (i >= argc - 1 || n == 0)
		goto usage;
	sa.sa_handler = on_hup;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = start(argv + i + 1, fds, n, names, argv[1]);
	for (;;) {
		int st;

		sigsuspend(&old);
		if (got_term) {
			stop(pid);
			return 0;
		}
		if (got_hup) {
			got_hup = 0;
			stop(pid);
			fprintf(stderr, "sockhold: restarting\n");
			pid = start(argv + i + 1, fds, n, names, argv[1]);
		}
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "sockhold: child ended\n");
			return 1;
		}
	}
usage:
	fprintf(stderr, "usage: sockhold PIDFILE NAME=HOST:PORT ... -- CMD "
	    "[ARG ...]\n");
	return 2;
}
