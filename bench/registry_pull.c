/*
 * Blob pull for bench/registry.sh, the same for both registries:
 *
 *   registry_pull URL AUTH_HEADER [N]
 *
 * N connections (default 1) GET http://HOST:PORT/PATH at the same time,
 * one process each, and read the body into a 1 MiB buffer: the client
 * costs what the kernel's copy out of the socket costs and nothing more.
 * curl, the other client the bench uses, writes what it receives to
 * /dev/null 8 KiB at a time and spends more CPU per pull than either
 * server (docs/registry.md), so with curl the bench measures curl; this
 * client lets the servers' own cost show.  A pull fails (exit 1, one line
 * on stderr) unless the answer is 200 with a Content-Length and exactly
 * that many bytes arrive.
 *
 *   cc -O2 -o registry_pull bench/registry_pull.c
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUF (1 << 20)

static char host[256], path[4096];
static unsigned port;

static int
parse_url(const char *url)
{
	const char *p = url, *slash, *colon;

	if (strncmp(p, "http://", 7) != 0)
		return -1;
	p += 7;
	slash = strchr(p, '/');
	colon = strchr(p, ':');
	if (slash == NULL || colon == NULL || colon > slash ||
	    (size_t)(colon - p) >= sizeof(host) ||
	    strlen(slash) >= sizeof(path))
		return -1;
	memcpy(host, p, (size_t)(colon - p));
	port = (unsigned)strtoul(colon + 1, NULL, 10);
	strcpy(path, slash);
	return port > 0 && port < 65536 ? 0 : -1;
}

/* One GET; 0 when the whole body arrived. */
static int
pull(const char *auth, char *buf)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_port = htons((unsigned short)port) };
	long long want = -1, got = 0;
	size_t have = 0;
	char *end = NULL;
	ssize_t n;
	int fd, len;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "registry_pull: %s is not an IPv4 address\n",
		    host);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("registry_pull: connect");
		return -1;
	}
	len = snprintf(buf, BUF, "GET %s HTTP/1.1\r\nHost: %s:%u\r\n%s\r\n"
	    "Connection: close\r\n\r\n", path, host, port, auth);
	if (send(fd, buf, (size_t)len, 0) != len) {
		perror("registry_pull: send");
		close(fd);
		return -1;
	}
	/* the head: up to the blank line, within the buffer */
	while (end == NULL) {
		if (have == BUF - 1 ||
		    (n = recv(fd, buf + have, BUF - 1 - have, 0)) <= 0) {
			fprintf(stderr, "registry_pull: no response head\n");
			close(fd);
			return -1;
		}
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) {
		fprintf(stderr, "registry_pull: %.*s\n",
		    (int)strcspn(buf, "\r"), buf);
		close(fd);
		return -1;
	}
	for (char *l = strstr(buf, "\r\n"); l && l < end;
	    l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "content-length:", 15) == 0)
			want = strtoll(l + 17, NULL, 10);
	if (want < 0) {
		fprintf(stderr, "registry_pull: no Content-Length\n");
		close(fd);
		return -1;
	}
	got = (long long)(have - (size_t)(end + 4 - buf));
	while (got < want && (n = recv(fd, buf, BUF, 0)) > 0)
		got += n;
	close(fd);
	if (got != want) {
		fprintf(stderr, "registry_pull: %lld of %lld bytes\n", got,
		    want);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[3]) : 1, bad = 0, st;
	char *buf;

	if (argc < 3 || n < 1 || n > 64 || parse_url(argv[1]) < 0) {
		fprintf(stderr, "usage: registry_pull http://IP:PORT/PATH "
		    "AUTH_HEADER [N]\n");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("registry_pull: fork");
			return 1;
		}
		if (pid == 0) {
			if ((buf = malloc(BUF)) == NULL)
				_exit(1);
			_exit(pull(argv[2], buf) == 0 ? 0 : 1);
		}
	}
	while (wait(&st) > 0)
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	return bad ? 1 : 0;
}
