/*
 * The proxy's private structures: the HTTP/1.1 head and chunk parsers
 * (http.c), the route table (route.c), the event loop (server.c), client
 * connections and their requests (conn.c, exchange.c, head.c), backend
 * connections (upstream.c), connections per source (source.c), the
 * control socket (control.c).  Never included from outside proxy/ (the
 * unit tests excepted).
 */
#ifndef SLIPWAY_PROXY_INT_H
#define SLIPWAY_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "slipway/buf.h"
#include "slipway/lograte.h"
#include "slipway/name.h"
#include "slipway/sources.h"

/* ---- limits ---------------------------------------------------------- */

#define PROXY_HEAD_MAX      16384   /* request or response line + headers */
#define PROXY_LINE_MAX      8192    /* request line (414 past it) */
#define PROXY_HEADERS_MAX   100     /* header fields in one head */
#define PROXY_BUF           16384   /* per-socket read buffer */
#define PROXY_CHUNK_LINE_MAX 1024   /* chunk size line with its extensions */
#define PROXY_TRAILER_MAX   8192    /* all trailer fields of one body */
#define PROXY_CONN_TOKENS   8       /* header names a Connection may list */
#define PROXY_RID_MAX       128     /* longest X-Request-Id kept */
#define PROXY_APP_MAX       NAME_APP_MAX
#define PROXY_ADDR_MAX      64      /* "[v6]:port" fits */

/* ---- HTTP heads (http.c) -------------------------------------------- */

struct proxy_str {
	const char *p;
	size_t n;
};

struct proxy_hdr {
	struct proxy_str name;
	struct proxy_str value;     /* OWS trimmed */
};

enum proxy_body {
	PROXY_BODY_NONE = 0,        /* no body (or HEAD, 1xx, 204, 304) */
	PROXY_BODY_LENGTH,          /* Content-Length bytes */
	PROXY_BODY_CHUNKED,         /* chunked coding, forwarded verbatim */
	PROXY_BODY_CLOSE,           /* response body ends when upstream closes */
};

/*
 * A parsed request or response head.  Every proxy_str points into the bytes
 * given to the parser, which must stay put while the head is used.
 * Invariant after a successful parse: at most one of content_length >= 0
 * and chunked is set; nhdr <= PROXY_HEADERS_MAX.
 */
struct proxy_head {
	size_t len;              /* bytes of the head, CRLFCRLF included */
	int minor;               /* HTTP/1.<minor>: 0 or 1 */
	/* request */
	struct proxy_str method;
	struct proxy_str target;    /* as sent */
	struct proxy_str path;      /* origin-form ("/x?y"; "*"; absolute-form's path) */
	struct proxy_str host;      /* Host, or the absolute-form's authority */
	/* response */
	int status;
	struct proxy_str reason;
	/* both */
	struct proxy_hdr hdr[PROXY_HEADERS_MAX];
	size_t nhdr;
	int64_t content_length;  /* -1 when absent */
	bool chunked;
	bool conn_close;         /* Connection: close */
	bool conn_keepalive;     /* Connection: keep-alive */
	bool conn_upgrade;       /* Connection: upgrade */
	struct proxy_str upgrade;   /* Upgrade: value */
	struct proxy_str conn_tokens[PROXY_CONN_TOKENS];  /* other Connection names */
	size_t nconn_tokens;
	struct proxy_str request_id;
};

/* What a failed parse answers: 400, 414, 431, 501 or 505 (requests); any
 * failed response parse is a 502.  The message is in err_last(). */
struct proxy_parse_error {
	int status;
};

/*
 * Parse a request head from p[0..n).  Returns 1 when complete (h->len
 * set), 0 when more bytes are needed, or a negative ERR_* code with the
 * answer's status in *status and a message for the access log.  Strict: the
 * smuggling vectors (CL with TE, differing CLs, TE other than "chunked",
 * bare CR or LF, obs-fold, bad names, spaces before the colon) fail.
 */
int proxy_http_parse_request(struct proxy_head *h, int *status, const char *p,
    size_t n);

/* The same for a response head from a backend; failures mean 502. */
int proxy_http_parse_response(struct proxy_head *h, const char *p, size_t n);

/* ASCII case-insensitive comparison of s with a lower-case literal. */
bool proxy_str_eq(struct proxy_str s, const char *lower);

/* A chunked-body scanner: validates chunk framing as bytes pass through,
 * without copying them.  Zeroed is the start state. */
struct proxy_chunk {
	int state;
	uint64_t left;           /* bytes of chunk data still to come */
	unsigned digits;
	size_t line;             /* bytes of the current size/trailer line */
	size_t trailer;          /* trailer bytes so far */
	bool done;               /* the last CRLF was seen */
};

/*
 * Scan p[0..n) as the continuation of a chunked body.  Returns how many
 * bytes belong to the body (less than n when the body ends inside p; then
 * c->done is set) or ERR_INVALID on malformed framing (bad or oversized
 * size, missing CRLF, bare CR/LF, oversized extensions or trailers).
 */
ssize_t proxy_chunk_scan(struct proxy_chunk *c, const char *p, size_t n);

/* ---- routes (route.c) ----------------------------------------------- */

struct proxy_upstream;

/*
 * One backend address.  Shared by every app that lists it and by every
 * request and connection using it; it lives while any of refs, inflight
 * and nconns is non-zero.  idle is the pool of kept-alive connections.
 */
struct proxy_backend {
	char addr[PROXY_ADDR_MAX];
	struct sockaddr_storage sa;
	socklen_t salen;
	unsigned refs;           /* apps that list it */
	unsigned inflight;       /* requests given to it and not done */
	unsigned nconns;         /* open upstream connections */
	unsigned nidle;
	uint64_t served;         /* requests finished */
	struct proxy_upstream *idle;  /* most recently used first */
	struct proxy_backend *next;
};

/* An app's route.  backends may be empty (then 503 "no backend"). */
struct proxy_app {
	char name[PROXY_APP_MAX + 1];
	struct proxy_backend **backends;
	size_t nbackends;
	char **domains;
	size_t ndomains;
	bool maintenance;
	size_t rr;               /* round-robin cursor */
	struct proxy_app *next;
};

struct proxy_hostent {
	char *host;              /* owned */
	struct proxy_app *app;
};

/*
 * The route table.  Single-threaded: every change runs between two events
 * of the loop, so a request sees the table before or after a change, never
 * half of one.  hosts is an open-addressing map of custom domains, rebuilt
 * on every change (power-of-two size, at most half full).
 */
struct proxy_routes {
	char *domain;            /* "localhost": APP.<domain> */
	struct proxy_app *apps;
	struct proxy_backend *backends;
	struct proxy_hostent *hosts;
	size_t nhosts_cap;
	/* Called when a backend leaves every route, so its idle pool can be
	 * closed; may be NULL. */
	void (*on_unrouted)(struct proxy_backend *b);
};

void proxy_routes_init(struct proxy_routes *r, const char *domain);
void proxy_routes_free(struct proxy_routes *r);

/* Replace app's backend list and custom domains in one step (creating the
 * app).  Fails with ERR_INVALID on a bad name, address or domain, and
 * ERR_CONFLICT when a domain belongs to another app; then nothing
 * changed. */
int proxy_routes_set(struct proxy_routes *r, const char *app,
    const char *const *backends, size_t nbackends,
    const char *const *domains, size_t ndomains);
int proxy_routes_rm(struct proxy_routes *r, const char *app);
int proxy_routes_maintenance(struct proxy_routes *r, const char *app, bool on);

/* A Host header value as a bare lower-case name into out (cap bytes): a
 * port and a final dot dropped.  Its length, or 0 when it has no name
 * (empty, too long, an IPv6 literal). */
size_t proxy_host_norm(char *out, size_t cap, const char *host, size_t n);

/* The app serving host (a Host header value: any port and a final dot are
 * ignored, case too), or NULL. */
struct proxy_app *proxy_routes_lookup(struct proxy_routes *r, const char *host,
    size_t n);
struct proxy_app *proxy_routes_app(struct proxy_routes *r, const char *name);

/* The next backend of app, round-robin, skipping none; NULL if empty. */
struct proxy_backend *proxy_app_pick(struct proxy_app *a);

/* The backend with this canonical address, or NULL. */
struct proxy_backend *proxy_routes_backend(struct proxy_routes *r,
    const char *addr);

/* Free b if nothing refers to it any more. */
void proxy_routes_backend_gc(struct proxy_routes *r, struct proxy_backend *b);

/* Parse "127.0.0.1:8000" or "[::1]:8000" into b's address fields and its
 * canonical addr.  ERR_INVALID otherwise. */
int proxy_backend_parse(struct proxy_backend *b, const char *s);

/* The table as JSON: {"domain":..,"routes":[{"app","backends":[{"addr",
 * "inflight","idle"}],"domains","maintenance"}]}; caller decrefs. */
json_t *proxy_routes_json(struct proxy_routes *r);

/* Load and save the table as {"routes":[{app,backends,domains,
 * maintenance}]} (the --routes file).  With prune, the apps the file
 * does not name are removed (a reload over a live table). */
int proxy_routes_load(struct proxy_routes *r, const char *path, bool prune);
int proxy_routes_save(struct proxy_routes *r, const char *path);

/* ---- the server (server.c, conn.c, upstream.c, control.c) ------------ */

struct proxy_opts;

enum proxy_kind {
	PROXY_K_LISTEN = 1,
	PROXY_K_TLS_LISTEN,
	PROXY_K_CTL_LISTEN,
	PROXY_K_CTL,
	PROXY_K_CLIENT,
	PROXY_K_UPSTREAM,
};

/*
 * One non-blocking socket registered edge-triggered with epoll.  rd and
 * wr say the socket may have bytes to read / room to write (cleared on
 * EAGAIN or a short transfer, set again by the next event).  in[ib..ie)
 * holds bytes read and not yet consumed.  kind is first so an epoll
 * pointer can be told apart; fd is -1 once closed (the struct is freed
 * after the current batch of events, so later events in it are skipped).
 */
struct proxy_sock {
	int kind;
	int fd;
	bool rd, wr;
	bool eof;                /* the peer will send no more */
	bool hup;                /* epoll said the peer closed its side */
	bool dead;               /* closed; waiting to be freed */
	/* TLS (client sockets of the HTTPS listener): every read and write
	 * goes through ssl, so the HTTP code above is the same for both.
	 * OpenSSL may need to write to read (or read to write): then the
	 * flag says the other readiness edge must wake this direction. */
	struct ssl_st *ssl;
	bool rd_wants_wr, wr_wants_rd;
	char *in;                /* PROXY_BUF bytes */
	size_t ib, ie;
};

enum proxy_io {
	PROXY_IO_AGAIN = 0,         /* nothing now (or no room) */
	PROXY_IO_OK = 1,
	PROXY_IO_EOF = -1,
	PROXY_IO_ERR = -2,          /* errno says why */
};

struct proxy_client;

/* A connection to a backend: busy (c set) or idle in be's pool. */
struct proxy_upstream {
	struct proxy_sock s;
	struct proxy_backend *be;
	struct proxy_client *c;
	bool connecting;
	bool reused;             /* came from the pool */
	uint64_t deadline;       /* while idle in the pool */
	struct proxy_upstream *next, *prev;  /* pool links */
	struct proxy_upstream *dead_next;
};

enum proxy_cstate {
	CS_TLS = 1,              /* TLS handshake (HTTPS listener only) */
	CS_HEAD,                 /* reading a request head */
	CS_PROXY,                /* request and response with an upstream */
	CS_LOCAL,                /* writing our own answer */
	CS_TUNNEL,               /* after 101: bytes both ways */
	CS_LINGER,               /* answer sent, write side shut: drain reads */
};

enum proxy_rstate {
	RS_HEAD = 1,
	RS_BODY,
	RS_DONE,
};

/*
 * A client connection.  At most one request is in progress; while it is,
 * be is the backend it was given (counted in be->inflight) and up the
 * connection to it.  Bytes to the client are out[out_off..] then body
 * bytes straight from up's read buffer; bytes to the upstream are
 * uphead[uphead_off..] then body bytes straight from in.
 */
struct proxy_client {
	struct proxy_sock s;
	enum proxy_cstate state;
	char ip[48];
	struct sources_entry *src;  /* counted for --max-conns-per-ip */
	uint64_t deadline;
	struct proxy_client *next, *prev;
	struct proxy_client *dead_next;
	struct proxy_client *ready_next;  /* on proxy_srv.ready: run again soon */
	struct proxy_client *hs_next, *hs_prev;  /* proxy_srv.hs: in handshake */
	bool tls;                /* came in on the HTTPS listener */
	char sni[256];           /* the name the handshake asked for (TLS) */
	unsigned long hsts;      /* max-age for this request's answer, 0: none */
	bool queued;
	struct buf out;
	size_t out_off;
	struct buf uphead;
	size_t uphead_off;
	struct proxy_upstream *up;
	struct proxy_backend *be;
	unsigned nreq;           /* requests started on this connection */
	unsigned tries;          /* backends tried for this request */

	/* the request */
	char method[24];
	char target[256];        /* for the log, cut */
	char host[256];
	char app[PROXY_APP_MAX + 1];
	char why[256];           /* detail for an error page and the log */
	char rid[PROXY_RID_MAX + 1];
	int minor;
	bool keepalive;
	bool is_head;
	bool upgrade;
	enum proxy_body req_body;
	uint64_t req_left;
	struct proxy_chunk req_ck;
	uint64_t req_total;
	size_t req_pending;      /* validated body bytes at in[ib..) */
	bool req_scanned;        /* the body's end was seen */
	bool req_sent_body;      /* some body went to an upstream: no retry */
	bool req_done;

	/* the response */
	enum proxy_rstate rstate;
	enum proxy_body resp_body;
	uint64_t resp_left;
	struct proxy_chunk resp_ck;
	size_t resp_pending;
	bool resp_scanned;
	bool resp_started;       /* a final head went to the client */
	bool up_close;           /* the upstream said it will close */
	bool close_after;
	bool shut_c, shut_u;     /* tunnel: write sides shut down */
	int status;
	uint64_t bytes_out;
	const char *error;       /* short reason for the log, static */

	uint64_t t_start, t_up, t_head;   /* monotonic ns */
};

struct proxy_control_conn;

struct proxy_server {
	const struct proxy_opts *o;
	int ep;
	struct proxy_sock lsock;    /* listener */
	struct proxy_sock tsock;    /* HTTPS listener, fd -1 when none */
	unsigned http_port, https_port;  /* of the listeners, for X-Forwarded-Port
	                                  * and redirects */
	struct proxy_client *hs_head, *hs_tail;  /* in handshake, oldest first */
	unsigned nhs;
	struct lograte tls_fail; /* log lines of failed handshakes */
	struct proxy_certs *certs;  /* NULL without --certs */
	struct proxy_sock csock;    /* control listener */
	struct proxy_routes routes;
	struct proxy_client *clients;
	unsigned nclients;
	struct sources sources;
	struct lograte refused;  /* log lines of refused connections */
	struct proxy_control_conn *ctls;
	unsigned nctls;
	struct proxy_client *dead_clients;
	struct proxy_client *ready;  /* used up their turn with work left */
	struct proxy_upstream *dead_ups;
	uint64_t now_ns;         /* monotonic, refreshed once per wake-up */
	uint64_t now_ms;
	bool accept_paused;      /* out of fds: listener off for a while */
	bool stopping;           /* signalled: finishing requests in progress */
	uint64_t stop_deadline;
	uint64_t accept_resume;
	struct buf alog;
	int alog_fd;             /* -1: no access log */
	int ctl_lock;            /* flock'd "<control>.lock", or -1 */
	bool ctl_waiting;        /* handed a listener while the proxy before
	                          * us still holds the control socket */
	uint64_t rid_seed, rid_count;
};

extern struct proxy_server proxy_srv;

/* server.c */
void proxy_sock_init(struct proxy_sock *s, int kind, int fd, bool with_buf);
int proxy_sock_add(struct proxy_sock *s);
enum proxy_io proxy_sock_read(struct proxy_sock *s);
ssize_t proxy_sock_send(struct proxy_sock *s, struct buf *head,
    size_t *head_off, const char *body, size_t n);
void proxy_now_update(void);
void proxy_access_flush(void);

/* router.c: the apps' router lines, queued for the runner */
/* Queue c's line, when c was routed to an app and answered. */
void proxy_router_note(const struct proxy_client *c);
/* {"lines":[[APP, WALL, TEXT], ...], "dropped": N} of what was queued
 * since the last call, which empties the queue.  Caller decrefs. */
json_t *proxy_router_take(void);
void proxy_router_free(void);

/* conn.c */
void proxy_client_accept(int fd, const struct sockaddr_storage *sa, bool tls);
void proxy_client_run(struct proxy_client *c);
void proxy_client_run_ready(void);
void proxy_client_timeout(struct proxy_client *c);
void proxy_client_close(struct proxy_client *c);
void proxy_client_linger(struct proxy_client *c);
void proxy_request_account(struct proxy_client *c);
void proxy_request_reset(struct proxy_client *c);
/* Answer the current request ourselves with status, extra header lines
 * (each ending in CRLF; may be NULL) and a text/plain body. */
int proxy_local_answer(struct proxy_client *c, int status, const char *extra,
    const char *body, size_t n);
int proxy_local(struct proxy_client *c, int status, const char *kind,
    const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* exchange.c */
int proxy_request_start(struct proxy_client *c, const struct proxy_head *h);
int proxy_do_proxy(struct proxy_client *c);
int proxy_flush_out(struct proxy_client *c, bool *progress);
void proxy_client_free(struct proxy_client *c);

/* head.c */
const char *proxy_status_text(int status);
void proxy_rid_make(char *out);
bool proxy_rid_valid(struct proxy_str s);
void proxy_build_request(struct proxy_client *c, const struct proxy_head *h);
void proxy_build_response(struct proxy_client *c, const struct proxy_head *h);
void proxy_build_page(struct proxy_client *c, int status, const char *kind,
    const char *what);
void proxy_build_answer(struct proxy_client *c, int status, const char *extra,
    const char *body, size_t n);
void proxy_access_log(struct proxy_client *c);

/* upstream.c */
int proxy_upstream_get(struct proxy_upstream **out, struct proxy_backend *be);
void proxy_upstream_release(struct proxy_upstream *u, bool reusable);
void proxy_upstream_close(struct proxy_upstream *u);
void proxy_upstream_event(struct proxy_upstream *u);
void proxy_upstream_pool_sweep(void);
void proxy_backend_unrouted(struct proxy_backend *b);
void proxy_upstream_free(struct proxy_upstream *u);

/* tls.c: OpenSSL on the loop.  proxy_tls_init makes the shared context
 * (SNI picks each host's own from proxy_certs); ERR_INVALID with
 * OpenSSL's reason.  */
int proxy_tls_init(void);
void proxy_tls_free(void);
/* Start TLS on a fresh client socket; -1 (logged) when it cannot. */
int proxy_tls_start(struct proxy_client *c);
/* One handshake step: 1 done, 0 waiting for the socket, -1 closed. */
int proxy_tls_handshake(struct proxy_client *c);
enum proxy_io proxy_tls_read(struct proxy_sock *s);
ssize_t proxy_tls_send(struct proxy_sock *s, struct buf *head,
    size_t *head_off, const char *body, size_t n);
/* Send close_notify (best effort) and shut the write side. */
void proxy_sock_shut(struct proxy_sock *s);
void proxy_tls_close(struct proxy_sock *s);
/* A new SSL_CTX with the server settings (versions, ciphers, ALPN,
 * tickets); caller frees.  NULL with a message. */
struct ssl_ctx_st *proxy_tls_ctx_new(void);

/* certs.c: the certificates under --certs DIR (docs/proxy.md). */
struct proxy_cert {
	char host[256];
	struct ssl_ctx_st *ctx;  /* one reference */
	long long not_after;     /* unix time */
	bool redirect;           /* plain HTTP for host goes to https */
	unsigned long hsts;      /* Strict-Transport-Security max-age, 0: off */
};

struct proxy_certs {
	char *dir;
	struct proxy_cert *v;    /* sorted by host */
	size_t n;
	bool gen_seen;
	unsigned long long gen_ino, gen_dev, gen_size;
	long long gen_sec, gen_nsec;
	uint64_t next_poll_ms;
};

/* Load every certificate under dir/live; bad ones are logged and left
 * out.  Fails only when dir cannot be used at all. */
int proxy_certs_open(struct proxy_certs **out, const char *dir);
void proxy_certs_free(struct proxy_certs *cs);
/* Once a second at most: when dir/live/GENERATION changed, reload. */
void proxy_certs_poll(struct proxy_certs *cs);
/* Reload now: each host's pair again; a bad pair keeps the one before. */
void proxy_certs_reload(struct proxy_certs *cs);
/* The valid (unexpired) certificate for a lower-case host, or NULL. */
const struct proxy_cert *proxy_certs_find(const struct proxy_certs *cs,
    const char *host);
/* A plain-HTTP request for /.well-known/acme-challenge/TOKEN: answered
 * from dir/challenges/TOKEN.  1 when c was answered, 0 when path is not
 * a challenge. */
int proxy_certs_challenge(struct proxy_client *c, const struct proxy_str path,
    bool is_get);

/* control.c */
int proxy_control_open(const char *path);
int proxy_control_take(bool may_wait);
void proxy_control_retry(void);
void proxy_control_release(void);
void proxy_control_accept(void);
void proxy_control_event(struct proxy_control_conn *k, uint32_t ev);
void proxy_control_close_all(void);
/* One request line in, one JSON answer out (caller frees); exposed for
 * the unit tests. */
char *proxy_control_handle(struct proxy_routes *r, const char *line, size_t n,
    bool *changed);

#endif
