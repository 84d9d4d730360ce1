/*
 * TLS termination on the proxy's own loop (OpenSSL).  A connection of
 * the HTTPS listener starts in CS_TLS: each readiness edge runs one
 * SSL_do_handshake step, which never blocks, so a slow or hostile
 * handshake holds its own connection and nothing else.  Once done, the
 * connection is the same state machine as a plain one: proxy_sock_read
 * and proxy_sock_send go through SSL_read / SSL_write here, and the HTTP
 * code (keep-alive, streaming, upgrades, draining) is shared.
 *
 * Choices (docs/proxy.md says why):
 * - TLS 1.2 and 1.3 only; TLS 1.2 with ECDHE and AEAD ciphers only
 *   (Mozilla's "intermediate" list); renegotiation refused.
 * - SNI picks the host's certificate (certs.c).  An unknown name, or no
 *   name, ends the handshake with an unrecognized_name alert: never a
 *   default certificate, which would be some other app's.
 * - Session resumption with tickets only (no server-side cache): the
 *   ticket keys are ours, made at start, rotated every 12 h; the previous
 *   key still decrypts (and the ticket is renewed) for 12 h more.
 * - ALPN: http/1.1 only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "slipway/err.h"
#include "slipway/log.h"
#include "proxy_int.h"

#define PROXY_TICKET_ROTATE (12 * 3600)
#define PROXY_TLS_STAGE 16384    /* one record: head and body together */

#define PROXY_TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct proxy_ticket_key {
	unsigned char name[16];
	unsigned char aes[32];
	unsigned char hmac[32];
};

/* keys[0] encrypts new tickets; keys[1], the one before, still decrypts. */
static struct {
	SSL_CTX *base;           /* every SSL starts here; SNI switches */
	struct proxy_ticket_key keys[2];
	bool have_prev;
	time_t rotated;
} proxy_tls;

static const char *
proxy_tls_errstr(void)
{
	static char msg[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, msg, sizeof(msg));
	return msg;
}

static void
proxy_ticket_rotate(void)
{
	time_t now = time(NULL);

	if (proxy_tls.rotated && now - proxy_tls.rotated < PROXY_TICKET_ROTATE)
		return;
	if (proxy_tls.rotated) {
		proxy_tls.keys[1] = proxy_tls.keys[0];
		proxy_tls.have_prev = true;
	}
	if (RAND_bytes((unsigned char *)&proxy_tls.keys[0],
	    sizeof(proxy_tls.keys[0])) != 1)
		log_warnx("ticket keys: %s", proxy_tls_errstr());
	proxy_tls.rotated = now;
}

/* RFC 5077 style: AES-256-CBC and HMAC-SHA256 with our own keys. */
static int
proxy_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	const struct proxy_ticket_key *k = NULL;
	OSSL_PARAM params[2];
	int rc = 1;

	if (enc) {
		proxy_ticket_rotate();
		k = &proxy_tls.keys[0];
		memcpy(name, k->name, sizeof(k->name));
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
		    !EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv))
			return -1;
	} else {
		if (memcmp(name, proxy_tls.keys[0].name, 16) == 0) {
			k = &proxy_tls.keys[0];
		} else if (proxy_tls.have_prev &&
		    memcmp(name, proxy_tls.keys[1].name, 16) == 0) {
			k = &proxy_tls.keys[1];
			rc = 2;          /* good, but issue a fresh one */
		} else {
			return 0;        /* unknown key: full handshake */
		}
		if (!EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k->aes, iv))
			return -1;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params))
		return -1;
	return rc;
}

static int
proxy_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, ours,
	    sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;   /* only h2 or such */
	return SSL_TLSEXT_ERR_OK;
}

/* SNI: the host's own context, or an unrecognized_name alert. */
static int
proxy_sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct proxy_client *c = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const struct proxy_cert *crt;
	char host[256];
	size_t n;

	*alert = SSL_AD_UNRECOGNIZED_NAME;
	if (name == NULL || proxy_srv.certs == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	n = strlen(name);
	if (proxy_host_norm(host, sizeof(host), name, n) != n ||
	    (crt = proxy_certs_find(proxy_srv.certs, host)) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	if (SSL_set_SSL_CTX(ssl, crt->ctx) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (c)
		snprintf(c->sni, sizeof(c->sni), "%s", host);
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
proxy_tls_ctx_new(void)
{
	static const unsigned char sid[] = "slipway";
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		err_set(ERR_INVALID, "cannot make a TLS context: %s",
		    proxy_tls_errstr());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, PROXY_TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
		err_set(ERR_INVALID, "cannot set the TLS ciphers: %s",
		    proxy_tls_errstr());
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, proxy_ticket_cb);
	SSL_CTX_set_alpn_select_cb(ctx, proxy_alpn_cb, NULL);
	SSL_CTX_set_read_ahead(ctx, 1);
	return ctx;
}

int
proxy_tls_init(void)
{
	proxy_ticket_rotate();
	if ((proxy_tls.base = proxy_tls_ctx_new()) == NULL)
		return ERR_INVALID;
	SSL_CTX_set_tlsext_servername_callback(proxy_tls.base, proxy_sni_cb);
	return 0;
}

void
proxy_tls_free(void)
{
	SSL_CTX_free(proxy_tls.base);
	OPENSSL_cleanse(&proxy_tls, sizeof(proxy_tls));
}

int
proxy_tls_start(struct proxy_client *c)
{
	SSL *ssl = SSL_new(proxy_tls.base);

	if (ssl == NULL || SSL_set_fd(ssl, c->s.fd) != 1) {
		log_warnx("cannot start TLS: %s", proxy_tls_errstr());
		SSL_free(ssl);
		return -1;
	}
	SSL_set_accept_state(ssl);
	SSL_set_app_data(ssl, c);
	c->s.ssl = ssl;
	return 0;
}

/* What SSL_get_error says, as our readiness flags. */
static enum proxy_io
proxy_tls_wait(struct proxy_sock *s, int r, bool reading)
{
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		if (reading)
			s->rd = false;
		else
			s->wr = false, s->wr_wants_rd = true;
		return PROXY_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		if (reading)
			s->rd = false, s->rd_wants_wr = true;
		else
			s->wr = false;
		return PROXY_IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return PROXY_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == EAGAIN || errno == EINTR) {
			if (reading)
				s->rd = false;
			else
				s->wr = false;
			return PROXY_IO_AGAIN;
		}
		if (errno == 0)
			return PROXY_IO_EOF;
		return PROXY_IO_ERR;
	default:
		errno = EPROTO;
		return PROXY_IO_ERR;
	}
}

int
proxy_tls_handshake(struct proxy_client *c)
{
	struct proxy_sock *s = &c->s;
	unsigned suppressed;
	char more[64];
	int r;

	if (!s->rd && !s->wr)
		return 0;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		/* The request may have come in the handshake's last flight
		 * and sit in OpenSSL's buffer: read it without an edge. */
		s->rd = s->wr = true;
		return 1;
	}
	switch (proxy_tls_wait(s, r, true)) {
	case PROXY_IO_AGAIN:
		/* Handshake steps want either direction: wait for both. */
		s->rd = s->wr = false;
		s->rd_wants_wr = false;
		return 0;
	default:
		break;
	}
	if (lograte_due(&suppressed, &proxy_srv.tls_fail,
	    proxy_srv.now_ms / 1e3)) {
		lograte_more(more, sizeof(more), suppressed);
		log_warnx("TLS handshake with %s failed: %s%s", c->ip,
		    ERR_peek_last_error() ? proxy_tls_errstr() :
		    errno ? strerror(errno) : "connection closed", more);
	}
	c->error = "tls-handshake";
	proxy_client_close(c);
	return -1;
}

enum proxy_io
proxy_tls_read(struct proxy_sock *s)
{
	int r;

	ERR_clear_error();
	errno = 0;
	r = SSL_read(s->ssl, s->in + s->ie, (int)(PROXY_BUF - s->ie));
	if (r > 0) {
		/* A short read says nothing here: OpenSSL may hold more (a
		 * record read ahead), so rd stays set until it says so. */
		s->ie += (size_t)r;
		return PROXY_IO_OK;
	}
	r = proxy_tls_wait(s, r, true);
	if (r == PROXY_IO_EOF)
		s->eof = true;
	return r;
}

/*
 * proxy_sock_send over TLS.  SSL_write retried after a "want" must see
 * the same bytes again (at least as many): head and body only ever grow
 * at their ends until sent, and the staging below always takes the head
 * first, so each retry starts with the bytes of the one before.
 */
ssize_t
proxy_tls_send(struct proxy_sock *s, struct buf *head, size_t *head_off,
    const char *body, size_t n)
{
	static char stage[PROXY_TLS_STAGE];
	size_t hn = head ? head->len - *head_off : 0, len;
	const char *p;
	int w;

	if (hn == 0) {
		p = body;
		len = n;
	} else if (n == 0 || hn >= sizeof(stage)) {
		p = head->ptr + *head_off;
		len = hn;
	} else {
		size_t k = n < sizeof(stage) - hn ? n : sizeof(stage) - hn;

		memcpy(stage, head->ptr + *head_off, hn);
		memcpy(stage + hn, body, k);
		p = stage;
		len = hn + k;
	}
	if (len > INT32_MAX)
		len = INT32_MAX;
	ERR_clear_error();
	errno = 0;
	w = SSL_write(s->ssl, p, (int)len);
	if (w <= 0) {
		enum proxy_io r = proxy_tls_wait(s, w, false);

		if (r == PROXY_IO_AGAIN)
			return 0;
		if (errno == 0)
			errno = EPIPE;
		return -1;
	}
	/* A partial write is one record out: there may well be room for
	 * more, so wr stays set until OpenSSL wants to wait. */
	if (hn) {
		if ((size_t)w < hn) {
			*head_off += (size_t)w;
			return 0;
		}
		*head_off = head->len;
		w -= (int)hn;
	}
	return w;
}

void
proxy_sock_shut(struct proxy_sock *s)
{
	if (s->ssl) {
		ERR_clear_error();
		SSL_shutdown(s->ssl);    /* close_notify; may not all go out */
	}
	shutdown(s->fd, SHUT_WR);
}

void
proxy_tls_close(struct proxy_sock *s)
{
	SSL_free(s->ssl);
	s->ssl = NULL;
}
