/*
 * hammer: a load client that counts every answer, for the restart tests
 * and bench/restart.sh.  Built with cc by the scripts that use it.
 *
 *   hammer PORT HOST THREADS STOPFILE
 *
 * Each thread opens a new connection to 127.0.0.1:PORT for every request
 * (GET / with Host: HOST and Connection: close), so a listener that goes
 * away shows as refused connections, not as a keep-alive error.  It runs
 * until STOPFILE exists, then prints one line:
 *
 *   answers=N ok=N non2xx=N refused=N reset=N timeout=N other=N max_ms=N
 *
 * refused: connect got ECONNREFUSED; reset: the connection was reset or
 * closed before a status line; timeout: 30 s without an answer (longer
 * than any restart gap: a connection queued in the backlog waits for the
 * next server); max_ms: the slowest answer, connect to close.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int port;
static const char *host, *stopfile;
static atomic_long answers, ok, non2xx, refused, reset, timeouts, other;
static atomic_long max_us;

static long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}

static int
stopped(void)
{
	struct stat st;

	return stat(stopfile, &st) == 0;
}

static void
note_latency(long us)
{
	long cur = atomic_load(&max_us);

	while (us > cur && !atomic_compare_exchange_weak(&max_us, &cur, us))
		;
}

static void
one_request(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 30 };
	char req[512], buf[4096];
	size_t got = 0;
	long t0 = now_us();
	ssize_t n;
	int fd, len;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		atomic_fetch_add(&other, 1);
		usleep(1000);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == ECONNREFUSED)
			atomic_fetch_add(&refused, 1);
		else if (errno == EINPROGRESS || errno == ETIMEDOUT ||
		    errno == EAGAIN)
			atomic_fetch_add(&timeouts, 1);
		else
			atomic_fetch_add(&other, 1);
		close(fd);
		usleep(1000);
		return;
	}
	len = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n"
	    "Connection: close\r\n\r\n", host);
	if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		atomic_fetch_add(errno == EPIPE || errno == ECONNRESET ? &reset :
		    &other, 1);
		close(fd);
		return;
	}
	/* Read to the end: the answer counts once the server closed. */
	for (;;) {
		n = read(fd, got < sizeof(buf) ? buf + got : buf,
		    got < sizeof(buf) ? sizeof(buf) - got : sizeof(buf));
		if (n > 0) {
			if (got < sizeof(buf))
				got += (size_t)n;
			continue;
		}
		break;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		atomic_fetch_add(&timeouts, 1);
	} else if (got < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
		atomic_fetch_add(n < 0 && errno != ECONNRESET ? &other : &reset,
		    1);
	} else {
		atomic_fetch_add(&answers, 1);
		atomic_fetch_add(buf[9] == '2' ? &ok : &non2xx, 1);
		note_latency(now_us() - t0);
	}
	close(fd);
}

static void *
worker(void *arg)
{
	(void)arg;
	while (!stopped())
		one_request();
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t t[64];
	int threads;

	if (argc != 5 || (threads = atoi(argv[3])) < 1 || threads > 64) {
		fprintf(stderr, "usage: hammer PORT HOST THREADS STOPFILE\n");
		return 2;
	}
	port = atoi(argv[1]);
	host = argv[2];
	stopfile = argv[4];
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	printf("answers=%ld ok=%ld non2xx=%ld refused=%ld reset=%ld "
	    "timeout=%ld other=%ld max_ms=%ld\n", atomic_load(&answers),
	    atomic_load(&ok), atomic_load(&non2xx), atomic_load(&refused),
	    atomic_load(&reset), atomic_load(&timeouts), atomic_load(&other),
	    atomic_load(&max_us) / 1000);
	return 0;
}
