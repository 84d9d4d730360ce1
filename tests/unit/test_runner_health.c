/* Unit tests for runner/health.c: free ports, health checks, who owns
 * a port. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/runner.h"
#include "../../runner/runner_int.h"
#include "test_runner.h"

TEST(runner__port_find_skips_used)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	unsigned port, base, taken[1];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a listener on a port the kernel picked */
	EXPECT_INT(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_INT(0, listen(fd, 1));
	EXPECT_INT(0, getsockname(fd, (struct sockaddr *)&sa, &len));
	base = ntohs(sa.sin_port);
	EXPECT_OK(runner_port_find(&port, base, NULL, 0));
	EXPECT_TRUE(port > base);
	taken[0] = port;
	unsigned again;
	EXPECT_OK(runner_port_find(&again, base, taken, 1));
	EXPECT_TRUE(again > port);
	close(fd);
	EXPECT_OK(runner_port_find(&port, base, NULL, 0));
	EXPECT_INT(base, port);
}

/* A one-shot HTTP server in a child: answers each connection with
 * status, until killed. */
static pid_t
t_http_server(unsigned *port, const char *status)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	listen(fd, 8);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	if ((pid = fork()) == 0) {
		for (;;) {
			int c = accept(fd, NULL, NULL);
			char req[1024];
			if (c < 0)
				continue;
			(void)!read(c, req, sizeof(req));
			dprintf(c, "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n",
			    status);
			close(c);
		}
	}
	close(fd);
	return pid;
}

TEST(runner__health_answers)
{
	char answer[256];
	unsigned port;
	pid_t ok = t_http_server(&port, "302 Found");
	struct runner_health_opts o = { .port = port, .path = "/health",
	    .interval_sec = 0.1, .deadline_sec = 1 };

	EXPECT_OK(runner_health_check(&o, answer, sizeof(answer)));
	EXPECT_STR("HTTP/1.1 302 Found", answer);
	EXPECT_OK(runner_health_wait(&o, answer, sizeof(answer)));
	kill(ok, SIGKILL);
	waitpid(ok, NULL, 0);

	pid_t bad = t_http_server(&port, "503 Service Unavailable");
	o.port = port;
	EXPECT_TRUE(runner_health_check(&o, answer, sizeof(answer)) < 0);
	EXPECT_STR("HTTP/1.1 503 Service Unavailable", answer);
	EXPECT_INT(ERR_TIMEOUT, runner_health_wait(&o, answer, sizeof(answer)));
	EXPECT_ERR_HAS("never became healthy in 1s: HTTP/1.1 503 Service "
	    "Unavailable");
	kill(bad, SIGKILL);
	waitpid(bad, NULL, 0);
	/* nothing listens there now */
	EXPECT_TRUE(runner_health_check(&o, answer, sizeof(answer)) < 0);
	EXPECT_TRUE(strstr(answer, "cannot connect to 127.0.0.1:") != NULL);
	EXPECT_TRUE(strstr(answer, "connection refused") != NULL);
	o.path = "no-slash";
	EXPECT_INT(ERR_INVALID, runner_health_check(&o, answer,
	    sizeof(answer)));
}

/* A health check's answer counts only from the container's own socket. */
TEST(runner__port_owner)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "own", .release = "v1",
	    .process_type = "web", .image = T_DIGEST,
	    .command = "busybox httpd -f -p 127.0.0.1:$PORT -h ." };
	struct runner_container_info i;
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	enum runner_port_owner own = RUNNER_PORT_NOBODY;
	int fd;

	if (access("/bin/busybox", X_OK) != 0)
		harness_skip("no /bin/busybox");
	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	EXPECT_OK(runner_container_get(&i, r, id));
	for (int k = 0; k < 200 && own != RUNNER_PORT_OURS; k++) {
		EXPECT_OK(runner_container_port_owner(&own, r, id, i.port));
		poll(NULL, 0, 50);
	}
	EXPECT_INT(RUNNER_PORT_OURS, own);
	/* someone else's listener */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_INT(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_INT(0, listen(fd, 1));
	EXPECT_INT(0, getsockname(fd, (struct sockaddr *)&sa, &len));
	EXPECT_OK(runner_container_port_owner(&own, r, id,
	    ntohs(sa.sin_port)));
	EXPECT_INT(RUNNER_PORT_OTHER, own);
	close(fd);
	/* nobody, which is not an unknown container */
	EXPECT_OK(runner_container_port_owner(&own, r, id,
	    ntohs(sa.sin_port)));
	EXPECT_INT(RUNNER_PORT_NOBODY, own);
	EXPECT_INT(ERR_NOTFOUND, runner_container_port_owner(&own, r, "nope",
	    1));
	EXPECT_ERR_HAS("no container 'nope'");
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(home);
}

/* An app that binds its port 150 ms after it starts is found healthy
 * then, not at the next interval (1 s): the tries back off from 50 ms. */
TEST(runner__health_first_tries_are_quick)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	char answer[256];
	double t0, took;
	pid_t pid;

	EXPECT_INT(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_INT(0, getsockname(fd, (struct sockaddr *)&sa, &len));
	close(fd);
	struct runner_health_opts o = { .port = ntohs(sa.sin_port),
	    .interval_sec = 1, .deadline_sec = 5 };
	if ((pid = fork()) == 0) {
		usleep(150000);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(fd, 8) < 0)
			_exit(1);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			char req[1024];
			if (c < 0)
				continue;
			(void)!read(c, req, sizeof(req));
			dprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
			close(c);
		}
	}
	t0 = clock_mono();
	EXPECT_OK(runner_health_wait(&o, answer, sizeof(answer)));
	took = clock_mono() - t0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	EXPECT_TRUE(took < 0.6);
}

/* A check that never connected says the app must listen on $PORT, and
 * which port it was given. */
TEST(runner__health_never_connected_names_the_port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char answer[256], want[128];

	EXPECT_INT(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_INT(0, getsockname(fd, (struct sockaddr *)&sa, &len));
	close(fd);
	struct runner_health_opts o = { .port = ntohs(sa.sin_port),
	    .interval_sec = 0.1, .deadline_sec = 0.3 };
	EXPECT_INT(ERR_TIMEOUT, runner_health_wait(&o, answer, sizeof(answer)));
	EXPECT_ERR_HAS("connection refused");
	snprintf(want, sizeof(want), "the app must listen on $PORT (it was "
	    "given PORT=%u)", o.port);
	EXPECT_ERR_HAS(want);
}
