/* Unit tests for lib/listenfd.c and the descriptors proc_spawn passes. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/listenfd.h"
#include "slipway/proc.h"

static int
t_listener(void)
{
	int fd = listenfd_bind("127.0.0.1:0");

	EXPECT_OK(fd);
	return fd;
}

/* In a child (descriptors 3 and up are the test's to clobber there):
 * put fd at 3, set the variables for pid_env, take, and return what
 * listenfd_find("http") gives (or 100 + the error). */
static int
t_take_in_child(int fd, const char *pid_env, const char *nfds)
{
	int st;
	pid_t pid = fork();

	if (pid == 0) {
		struct listenfd_set set;
		char pidbuf[32];

		dup2(fd, 3);
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		setenv("LISTEN_PID", pid_env ? pid_env : pidbuf, 1);
		setenv("LISTEN_FDS", nfds, 1);
		setenv("LISTEN_FDNAMES", "http", 1);
		if (listenfd_take(&set) < 0)
			_exit(100);
		if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") ||
		    getenv("LISTEN_FDNAMES"))
			_exit(101);
		if (set.n && (fcntl(3, F_GETFD) & FD_CLOEXEC) == 0)
			_exit(102);
		if (set.n && listenfd_check(listenfd_find(&set, "http"),
		    "http") < 0)
			_exit(103);
		_exit(set.n ? listenfd_find(&set, "http") : 0);
	}
	EXPECT_TRUE(pid > 0);
	EXPECT_TRUE(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(lib_listenfd__take_ours_unsets_and_cloexec)
{
	int fd = t_listener();

	EXPECT_INT(3, t_take_in_child(fd, NULL, "1"));
	close(fd);
}

TEST(lib_listenfd__take_for_another_pid_takes_none)
{
	int fd = t_listener();

	/* pid 1 is never the test: the sockets were meant for another */
	EXPECT_INT(0, t_take_in_child(fd, "1", "1"));
	EXPECT_INT(100, t_take_in_child(fd, "12x", "1"));
	EXPECT_INT(100, t_take_in_child(fd, NULL, "9999"));
	close(fd);
}

TEST(lib_listenfd__check_refuses_what_is_not_a_tcp_listener)
{
	int lfd = t_listener(), p[2];
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int tcp = socket(AF_INET, SOCK_STREAM, 0);

	EXPECT_OK(listenfd_check(lfd, "http"));
	EXPECT_INT(ERR_INVALID, listenfd_check(udp, "http"));
	EXPECT_ERR_HAS("is not a listening TCP socket");
	EXPECT_INT(ERR_INVALID, listenfd_check(tcp, "http"));
	EXPECT_TRUE(pipe(p) == 0);
	EXPECT_INT(ERR_INVALID, listenfd_check(p[0], "--listen-fd"));
	EXPECT_ERR_HAS("(--listen-fd) is not a listening TCP socket");
	close(p[0]);
	close(p[1]);
	close(udp);
	close(tcp);
	close(lfd);
}

TEST(lib_listenfd__bind_refuses_a_port_in_use)
{
	char addr[64], taken[80];
	int fd = t_listener();

	listenfd_addr(addr, sizeof(addr), fd);
	EXPECT_TRUE(strncmp(addr, "127.0.0.1:", 10) == 0);
	snprintf(taken, sizeof(taken), "%s", addr);
	EXPECT_TRUE(listenfd_bind(taken) < 0);
	EXPECT_ERR_HAS("cannot listen on '127.0.0.1:");
	EXPECT_TRUE(listenfd_bind("nowhere") < 0);
	close(fd);
}

/* The socket reaches the child at 3 with LISTEN_PID its own pid, the
 * next descriptor at 4, env_add set; a second child without pass_fds
 * gets neither (the parent's copies are close-on-exec). */
TEST(lib_listenfd__proc_spawn_passes_sockets_to_that_child_only)
{
	int lfd = t_listener(), p[2], pass[2];
	char *env_add[] = { "SLIPWAY_READY_FD=4", NULL };
	char *argv[] = { "sh", "-c", "echo \"$LISTEN_PID $$ $LISTEN_FDS "
	    "$LISTEN_FDNAMES $SLIPWAY_READY_FD\"; "
	    "stat -L -c %i /proc/self/fd/3; echo ready >&4", NULL };
	/* (the harness may leave a file of its own at 3: not a socket) */
	char *argv2[] = { "sh", "-c", "echo \"[$LISTEN_FDS]\"; "
	    "for f in /proc/self/fd/*; do stat -L -c %F $f; done | "
	    "grep -c socket", NULL };
	struct proc_opts o = { .flags = PROC_PIPE_OUT, .pass_fds = pass,
	    .npass_fds = 2, .nlisten = 1, .listen_names = "http",
	    .env_add = env_add };
	struct proc c;
	struct stat st;
	struct buf b, got;
	char chunk[256], want[256], rd[16];
	ssize_t n;

	EXPECT_TRUE(pipe2(p, O_CLOEXEC) == 0);
	EXPECT_TRUE(fcntl(lfd, F_SETFD, FD_CLOEXEC) == 0);
	pass[0] = lfd;
	pass[1] = p[1];
	setenv("LISTEN_FDS", "7", 1);    /* the parent's are not passed on */
	EXPECT_OK(proc_spawn(&c, argv, &o));
	close(p[1]);
	buf_init(&got, 4096);
	while ((n = read(c.out, chunk, sizeof(chunk))) > 0)
		buf_put(&got, chunk, (size_t)n);
	buf_put(&got, "", 1);
	EXPECT_TRUE(fstat(lfd, &st) == 0);
	snprintf(want, sizeof(want), "%d %d 1 http 4\n%lu\n", (int)c.pid,
	    (int)c.pid, (unsigned long)st.st_ino);
	EXPECT_STR(want, got.ptr);
	buf_free(&got);
	EXPECT_INT(0, proc_wait(&c));
	n = read(p[0], rd, sizeof(rd));
	EXPECT_INT(6, n);
	close(p[0]);

	EXPECT_INT(1, proc_run(&b, argv2, 0, 4096));
	EXPECT_STR("[7]\n0\n", b.ptr);
	buf_free(&b);
	unsetenv("LISTEN_FDS");
	close(lfd);
}
