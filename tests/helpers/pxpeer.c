/*
 * pxpeer: the far ends of the proxy tests, built by t0300-proxy.sh with cc.
 *
 *   pxpeer serve PORT NAME [GATE]   a keep-alive HTTP/1.1 backend, a thread
 *                                   per connection.  Paths:
 *       /            "NAME\n"
 *       /headers     the request head it received, as the body
 *       /hop         "NAME\n" with every hop-by-hop field in the answer
 *                    (and the end-to-end ones that must pass)
 *       /echo        the request body back (Content-Length or chunked)
 *       /chunked     "NAME\n" in three chunks
 *       /sse         event 1, then waits for the file GATE, then event 2
 *       /slow[/MS]   answers after MS milliseconds (1500)
 *       /drip        a byte every 200 ms until the file GATE exists
 *                    (at most 60 s), then "NAME\n": a request that stays
 *                    in flight as long as a test wants, never stalling
 *       /conn        "NAME conn N": N counts accepted connections
 *       /big         8 MiB of 'x'
 *       /close       body without a length, ended by closing
 *       /ws          WebSocket handshake, then echoes frames
 *   pxpeer ws PORT HOST MESSAGE     WebSocket client through the proxy:
 *                                   prints the echoed message
 *   pxpeer load PORT HOST CONNS STOPFILE MARKFILE NEWNAME
 *                                   keep-alive GET / on CONNS connections
 *                                   until STOPFILE exists; prints counts of
 *                                   answers, non-200s, connection errors,
 *                                   and answers not from NEWNAME among those
 *                                   sent after MARKFILE appeared
 *
 * Deliberately simple (blocking sockets, small fixed buffers): it is a test
 * peer, not a server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *name = "peer";
static const char *gate;
static int accepted;

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Buffered reads of one connection. */
struct conn {
	int fd;
	int id;                 /* accept order, for /conn */
	char buf[65536];
	size_t len;
};

/* Read until the buffer holds "\r\n\r\n"; returns the head length. */
static ssize_t
read_head(struct conn *c)
{
	for (;;) {
		char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
		ssize_t n;

		if (e)
			return e - c->buf + 4;
		if (c->len == sizeof(c->buf))
			return -1;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

static int
fill(struct conn *c, size_t want)
{
	while (c->len < want) {
		ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	return 0;
}

static void
consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static const char *
header(const char *head, size_t hlen, const char *field, size_t *vlen)
{
	size_t fl = strlen(field);

	for (const char *p = head; p < head + hlen; ) {
		const char *eol = memmem(p, (size_t)(head + hlen - p), "\r\n", 2);

		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > fl && strncasecmp(p, field, fl) == 0 &&
		    p[fl] == ':') {
			const char *v = p + fl + 1;
			while (*v == ' ')
				v++;
			*vlen = (size_t)(eol - v);
			return v;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Read a request body into out (cap 60000); -1 on bad framing. */
static ssize_t
read_body(struct conn *c, const char *head, size_t hlen, char *out)
{
	size_t vlen, total = 0;
	const char *v;

	if ((v = header(head, hlen, "Content-Length", &vlen)) != NULL) {
		size_t n = strtoul(v, NULL, 10);

		if (n > 60000 || fill(c, n) < 0)
			return -1;
		memcpy(out, c->buf, n);
		consume(c, n);
		return (ssize_t)n;
	}
	if ((v = header(head, hlen, "Transfer-Encoding", &vlen)) == NULL)
		return 0;
	for (;;) {
		char *eol;
		size_t n;

		while ((eol = memmem(c->buf, c->len, "\r\n", 2)) == NULL)
			if (fill(c, c->len + 1) < 0)
				return -1;
		n = strtoul(c->buf, NULL, 16);
		consume(c, (size_t)(eol - c->buf) + 2);
		if (n == 0) {
			if (fill(c, 2) < 0)
				return -1;
			consume(c, 2);
			return (ssize_t)total;
		}
		if (total + n > 60000 || fill(c, n + 2) < 0)
			return -1;
		memcpy(out + total, c->buf, n);
		total += n;
		consume(c, n + 2);
	}
}

static void
ws_accept(char out[64], const char *key, size_t klen)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[256];

	snprintf(buf, sizeof(buf), "%.*s%s", (int)klen, key, guid);
	SHA1((unsigned char *)buf, strlen(buf), md);
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

/* Echo WebSocket frames (payloads up to 64 KiB) until a close frame. */
static void
ws_echo(struct conn *c)
{
	for (;;) {
		unsigned char h[14], mask[4];
		size_t n, hl = 2;
		int op;

		if (fill(c, 2) < 0)
			return;
		memcpy(h, c->buf, 2);
		op = h[0] & 0x0f;
		n = h[1] & 0x7f;
		if (n == 126) {
			if (fill(c, 4) < 0)
				return;
			n = ((unsigned char)c->buf[2] << 8) | (unsigned char)c->buf[3];
			hl = 4;
		} else if (n == 127) {
			return;
		}
		if (fill(c, hl + 4 + n) < 0 || n > 60000)
			return;
		memcpy(mask, c->buf + hl, 4);
		{
			unsigned char out[65536 + 4];
			size_t ol = 0;

			out[ol++] = (unsigned char)(0x80 | op);
			if (n < 126) {
				out[ol++] = (unsigned char)n;
			} else {
				out[ol++] = 126;
				out[ol++] = (unsigned char)(n >> 8);
				out[ol++] = (unsigned char)n;
			}
			for (size_t i = 0; i < n; i++)
				out[ol++] = (unsigned char)c->buf[hl + 4 + i] ^ mask[i % 4];
			consume(c, hl + 4 + n);
			if (write_all(c->fd, out, ol) < 0 || op == 8)
				return;
		}
	}
}

static int
respond(int fd, const char *ctype, const char *body, size_t n)
{
	char head[256];
	int hn = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "%s\r\nContent-Length: %zu\r\nX-Backend: %s\r\n\r\n", ctype, n, name);

	if (write_all(fd, head, (size_t)hn) < 0)
		return -1;
	return write_all(fd, body, n);
}

static void *
serve_conn(void *arg)
{
	struct conn *c = arg;
	char *body = malloc(60000);

	for (;;) {
		ssize_t hl = read_head(c), bl;
		char path[256] = "", line[512];
		char *head;

		if (hl < 0)
			break;
		head = malloc((size_t)hl + 1);
		memcpy(head, c->buf, (size_t)hl);
		head[hl] = '\0';
		consume(c, (size_t)hl);
		sscanf(head, "%*s %255s", path);
		{
			size_t el;
			const char *e = header(head, (size_t)hl, "Expect", &el);

			if (e && el == 12 && strncasecmp(e, "100-continue", 12) == 0)
				write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		}
		bl = read_body(c, head, (size_t)hl, body);
		if (bl < 0) {
			free(head);
			break;
		}
		if (strcmp(path, "/headers") == 0) {
			respond(c->fd, "text/plain", head, (size_t)hl);
		} else if (strcmp(path, "/hop") == 0) {
			snprintf(line, sizeof(line), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: %zu\r\nConnection: X-Named\r\n"
			    "X-Named: n\r\nKeep-Alive: timeout=5\r\n"
			    "Proxy-Connection: keep-alive\r\n"
			    "Proxy-Authenticate: Basic realm=x\r\nTE: trailers\r\n"
			    "Upgrade: h2c\r\nTrailer: X-Sum\r\n"
			    "X-Forwarded-Host: from-app\r\n\r\n%s\n",
			    strlen(name) + 1, name);
			write_all(c->fd, line, strlen(line));
		} else if (strcmp(path, "/echo") == 0) {
			respond(c->fd, "application/octet-stream", body, (size_t)bl);
		} else if (strcmp(path, "/chunked") == 0) {
			snprintf(line, sizeof(line), "HTTP/1.1 200 OK\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n3\r\none\r\n"
			    "3\r\ntwo\r\n%zx\r\n%s\n\r\n0\r\n\r\n",
			    strlen(name) + 1, name);
			write_all(c->fd, line, strlen(line));
		} else if (strcmp(path, "/sse") == 0) {
			static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: "
			    "text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "9\r\ndata: 1\n\n\r\n";
			struct stat st;

			write_all(c->fd, h, sizeof(h) - 1);
			for (int i = 0; i < 600 && gate && stat(gate, &st) < 0; i++)
				usleep(50000);
			write_all(c->fd, "9\r\ndata: 2\n\n\r\n0\r\n\r\n", 19);
		} else if (strcmp(path, "/drip") == 0) {
			static const char h[] = "HTTP/1.1 200 OK\r\n"
			    "Transfer-Encoding: chunked\r\n\r\n";
			struct stat st;

			write_all(c->fd, h, sizeof(h) - 1);
			for (int i = 0; i < 300 && gate && stat(gate, &st) < 0 &&
			    write_all(c->fd, "1\r\n.\r\n", 6) == 0; i++)
				usleep(200000);
			snprintf(line, sizeof(line), "%zx\r\n%s\n\r\n0\r\n\r\n",
			    strlen(name) + 1, name);
			write_all(c->fd, line, strlen(line));
		} else if (strncmp(path, "/slow", 5) == 0) {
			usleep(path[5] == '/' ? (useconds_t)atoi(path + 6) * 1000 :
			    1500000);
			snprintf(line, sizeof(line), "%s slow\n", name);
			respond(c->fd, "text/plain", line, strlen(line));
		} else if (strcmp(path, "/conn") == 0) {
			snprintf(line, sizeof(line), "%s conn %d\n", name, c->id);
			respond(c->fd, "text/plain", line, strlen(line));
		} else if (strcmp(path, "/big") == 0) {
			char head2[128], chunk[65536];
			size_t total = 8u << 20;

			memset(chunk, 'x', sizeof(chunk));
			snprintf(head2, sizeof(head2), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: %zu\r\n\r\n", total);
			write_all(c->fd, head2, strlen(head2));
			for (size_t s = 0; s < total; s += sizeof(chunk))
				if (write_all(c->fd, chunk, sizeof(chunk)) < 0)
					break;
		} else if (strcmp(path, "/close") == 0) {
			snprintf(line, sizeof(line), "HTTP/1.1 200 OK\r\n"
			    "Connection: close\r\n\r\n%s closed\n", name);
			write_all(c->fd, line, strlen(line));
			free(head);
			break;
		} else if (strcmp(path, "/ws") == 0) {
			size_t kl;
			const char *key = header(head, (size_t)hl,
			    "Sec-WebSocket-Key", &kl);
			char acc[64];

			if (key == NULL) {
				free(head);
				break;
			}
			ws_accept(acc, key, kl);
			snprintf(line, sizeof(line), "HTTP/1.1 101 Switching "
			    "Protocols\r\nUpgrade: websocket\r\nConnection: "
			    "Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
			write_all(c->fd, line, strlen(line));
			free(head);
			ws_echo(c);
			break;
		} else {
			snprintf(line, sizeof(line), "%s\n", name);
			respond(c->fd, "text/plain", line, strlen(line));
		}
		free(head);
	}
	close(c->fd);
	free(body);
	free(c);
	return NULL;
}

static int
cmd_serve(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 512) < 0) {
		perror("pxpeer: listen");
		return 1;
	}
	for (;;) {
		struct conn *c;
		pthread_t t;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		c->fd = fd;
		c->id = ++accepted;
		pthread_create(&t, NULL, serve_conn, c);
		pthread_detach(t);
	}
}

static int
cmd_ws(int port, const char *host, const char *msg)
{
	struct conn *c = calloc(1, sizeof(*c));
	unsigned char frame[256];
	char req[512];
	size_t n = strlen(msg), fl = 0;
	ssize_t hl;

	if (n > 125 || (c->fd = dial(port)) < 0) {
		fprintf(stderr, "pxpeer ws: cannot connect\n");
		return 1;
	}
	snprintf(req, sizeof(req), "GET /ws HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    host);
	write_all(c->fd, req, strlen(req));
	if ((hl = read_head(c)) < 0 || strncmp(c->buf, "HTTP/1.1 101", 12) != 0 ||
	    memmem(c->buf, (size_t)hl, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 28) == NULL) {
		fprintf(stderr, "pxpeer ws: no upgrade: %.*s\n", (int)c->len, c->buf);
		return 1;
	}
	consume(c, (size_t)hl);
	frame[fl++] = 0x81;
	frame[fl++] = (unsigned char)(0x80 | n);
	memcpy(frame + fl, "\x11\x22\x33\x44", 4);
	fl += 4;
	for (size_t i = 0; i < n; i++)
		frame[fl++] = (unsigned char)msg[i] ^ "\x11\x22\x33\x44"[i % 4];
	write_all(c->fd, frame, fl);
	if (fill(c, 2) < 0 || fill(c, 2 + ((unsigned char)c->buf[1] & 0x7f)) < 0) {
		fprintf(stderr, "pxpeer ws: no echo\n");
		return 1;
	}
	printf("%.*s\n", (int)((unsigned char)c->buf[1] & 0x7f), c->buf + 2);
	close(c->fd);
	free(c);
	return 0;
}

/* ---- load ---- */

static int load_port;
static const char *load_host, *load_stop, *load_mark, *load_new;
static atomic_long n_ok, n_bad, n_err, n_after, n_after_other;

static bool
exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

static void *
load_conn(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	char req[256];

	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n",
	    load_host);
	c->fd = -1;
	while (!exists(load_stop)) {
		bool after = exists(load_mark);
		ssize_t hl;
		size_t vl, bl;
		const char *v;

		if (c->fd < 0) {
			c->len = 0;
			if ((c->fd = dial(load_port)) < 0) {
				n_err++;
				usleep(10000);
				continue;
			}
		}
		if (write_all(c->fd, req, strlen(req)) < 0 ||
		    (hl = read_head(c)) < 0) {
			n_err++;
			close(c->fd);
			c->fd = -1;
			continue;
		}
		v = header(c->buf, (size_t)hl, "Content-Length", &vl);
		bl = v ? strtoul(v, NULL, 10) : 0;
		if (fill(c, (size_t)hl + bl) < 0) {
			n_err++;
			close(c->fd);
			c->fd = -1;
			continue;
		}
		if (strncmp(c->buf, "HTTP/1.1 200", 12) != 0) {
			n_bad++;
			fprintf(stderr, "%.*s\n", (int)(hl + (ssize_t)bl), c->buf);
		} else {
			n_ok++;
		}
		if (after) {
			n_after++;
			if (bl != strlen(load_new) + 1 ||
			    memcmp(c->buf + hl, load_new, bl - 1) != 0)
				n_after_other++;
		}
		consume(c, (size_t)hl + bl);
	}
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

static int
cmd_load(int argc, char **argv)
{
	int conns = atoi(argv[4]);
	pthread_t t[64];

	load_port = atoi(argv[2]);
	load_host = argv[3];
	load_stop = argv[5];
	load_mark = argv[6];
	load_new = argv[7];
	if (conns < 1 || conns > 64)
		return 2;
	for (int i = 0; i < conns; i++)
		pthread_create(&t[i], NULL, load_conn, NULL);
	for (int i = 0; i < conns; i++)
		pthread_join(t[i], NULL);
	printf("answers=%ld ok=%ld non200=%ld errors=%ld after_mark=%ld "
	    "after_mark_other=%ld\n", n_ok + n_bad, (long)n_ok, (long)n_bad,
	    (long)n_err, (long)n_after, (long)n_after_other);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 4 && strcmp(argv[1], "serve") == 0) {
		name = argv[3];
		gate = argc > 4 ? argv[4] : NULL;
		return cmd_serve(atoi(argv[2]));
	}
	if (argc == 5 && strcmp(argv[1], "ws") == 0)
		return cmd_ws(atoi(argv[2]), argv[3], argv[4]);
	if (argc == 8 && strcmp(argv[1], "load") == 0)
		return cmd_load(argc, argv);
	fprintf(stderr, "usage: pxpeer serve PORT NAME [GATE] | ws PORT HOST MSG"
	    " | load PORT HOST CONNS STOP MARK NEWNAME\n");
	return 2;
}
