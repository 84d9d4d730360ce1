/*
 * The proxy's certificates, as the ACME client and `certs:add` leave
 * them (the interface is in docs/proxy.md):
 *
 *   DIR/live/<host>/fullchain.pem   leaf first, then its chain
 *   DIR/live/<host>/key.pem         its key, mode 0600
 *   DIR/live/<host>/options         optional: "redirect off", "hsts N"
 *   DIR/live/GENERATION             replaced (rename) after each change
 *   DIR/challenges/<TOKEN>          HTTP-01 key authorizations
 *
 * The proxy stats GENERATION about once a second and reloads every host
 * when it changed.  A pair that does not load (unreadable, key not the
 * certificate's, certificate not for the host) keeps the host's previous
 * certificate serving, with one log line; an expired one is not served.
 * Loading runs on the loop: a handful of small files, once per change.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "proxy_int.h"

#define PROXY_CERTS_MAX 10000        /* hosts under live/ */
#define PROXY_CHAIN_MAX (256 * 1024)
#define PROXY_KEY_MAX (64 * 1024)
#define PROXY_OPTIONS_MAX 4096
#define PROXY_TOKEN_MAX 128
#define PROXY_CHALLENGE_MAX 4096
#define PROXY_CHALLENGE_PREFIX "/.well-known/acme-challenge/"

static const char *
proxy_certs_sslerr(void)
{
	static char msg[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "not PEM";
	ERR_error_string_n(e, msg, sizeof(msg));
	return msg;
}

/* "redirect off" and "hsts MAXAGE" lines; anything else is an error. */
static int
proxy_cert_options(struct proxy_cert *crt, const char *path)
{
	struct buf b;
	char *line, *save = NULL;
	int rc;

	crt->redirect = true;
	crt->hsts = 0;
	buf_init(&b, PROXY_OPTIONS_MAX);
	if ((rc = fs_read_file(&b, path, PROXY_OPTIONS_MAX)) < 0) {
		buf_free(&b);
		return rc == ERR_NOTFOUND ? 0 : rc;
	}
	buf_putc(&b, '\0');
	for (line = strtok_r(b.ptr, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		unsigned long long age;

		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (strcmp(line, "redirect off") == 0) {
			crt->redirect = false;
		} else if (strcmp(line, "redirect on") == 0) {
			crt->redirect = true;
		} else if (strncmp(line, "hsts ", 5) == 0 &&
		    parse_uint(&age, line + 5, 0, 100000000) == 0) {
			crt->hsts = (unsigned long)age;
		} else {
			rc = err_set(ERR_INVALID, "'%s': line '%.60s' is not "
			    "'redirect off' or 'hsts MAXAGE'", path, line);
			break;
		}
	}
	buf_free(&b);
	return rc < 0 ? rc : 0;
}

static long long
proxy_asn1_unix(const ASN1_TIME *t)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (long long)timegm(&tm);
}

/* One host's pair into crt (ctx set); a message on failure. */
static int
proxy_cert_load(struct proxy_cert *crt, const char *dir, const char *host)
{
	char path[PATH_MAX];
	struct buf chain, key;
	struct stat st;
	BIO *bio = NULL;
	X509 *leaf = NULL, *x;
	EVP_PKEY *pkey = NULL;
	SSL_CTX *ctx = NULL;
	int rc = 0;

	memset(crt, 0, sizeof(*crt));
	snprintf(crt->host, sizeof(crt->host), "%s", host);
	buf_init(&chain, PROXY_CHAIN_MAX);
	buf_init(&key, PROXY_KEY_MAX);
	ERR_clear_error();
	snprintf(path, sizeof(path), "%s/live/%s/fullchain.pem", dir, host);
	if ((rc = fs_read_file(&chain, path, PROXY_CHAIN_MAX)) < 0)
		goto done;
	snprintf(path, sizeof(path), "%s/live/%s/key.pem", dir, host);
	if (stat(path, &st) == 0 && (st.st_mode & 077)) {
		rc = err_set(ERR_INVALID, "'%s' is readable by others "
		    "(mode %04o): chmod 600 it", path, st.st_mode & 07777);
		goto done;
	}
	if ((rc = fs_read_file(&key, path, PROXY_KEY_MAX)) < 0)
		goto done;
	bio = BIO_new_mem_buf(key.ptr, (int)key.len);
	if ((pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		rc = err_set(ERR_INVALID, "'%s' has no private key: %s", path,
		    proxy_certs_sslerr());
		goto done;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(chain.ptr, (int)chain.len);
	snprintf(path, sizeof(path), "%s/live/%s/fullchain.pem", dir, host);
	if ((leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL) {
		rc = err_set(ERR_INVALID, "'%s' has no certificate: %s", path,
		    proxy_certs_sslerr());
		goto done;
	}
	if (X509_check_private_key(leaf, pkey) != 1) {
		rc = err_set(ERR_INVALID, "'%s': the key in key.pem is not this "
		    "certificate's", path);
		goto done;
	}
	if (X509_check_host(leaf, host, 0, 0, NULL) != 1) {
		rc = err_set(ERR_INVALID, "'%s' is not a certificate for '%s'",
		    path, host);
		goto done;
	}
	crt->not_after = proxy_asn1_unix(X509_get0_notAfter(leaf));
	if (crt->not_after <= (long long)time(NULL)) {
		rc = err_set(ERR_INVALID, "'%s' has expired", path);
		goto done;
	}
	if ((ctx = proxy_tls_ctx_new()) == NULL) {
		rc = ERR_INVALID;
		goto done;
	}
	if (SSL_CTX_use_certificate(ctx, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		rc = err_set(ERR_INVALID, "'%s': %s", path, proxy_certs_sslerr());
		goto done;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			rc = err_set(ERR_INVALID, "'%s': %s", path,
			    proxy_certs_sslerr());
			goto done;
		}
	}
	ERR_clear_error();       /* the end of the chain reads as an error */
	snprintf(path, sizeof(path), "%s/live/%s/options", dir, host);
	if ((rc = proxy_cert_options(crt, path)) < 0)
		goto done;
	crt->ctx = ctx;
	ctx = NULL;
done:
	SSL_CTX_free(ctx);
	X509_free(leaf);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	OPENSSL_cleanse(key.ptr, key.cap);
	buf_free(&key);
	buf_free(&chain);
	return rc;
}

static int
proxy_cert_cmp(const void *a, const void *b)
{
	return strcmp(((const struct proxy_cert *)a)->host,
	    ((const struct proxy_cert *)b)->host);
}

const struct proxy_cert *
proxy_certs_find(const struct proxy_certs *cs, const char *host)
{
	struct proxy_cert key;
	const struct proxy_cert *crt;

	if (cs == NULL || cs->n == 0 || strlen(host) >= sizeof(key.host))
		return NULL;
	snprintf(key.host, sizeof(key.host), "%s", host);
	crt = bsearch(&key, cs->v, cs->n, sizeof(*cs->v), proxy_cert_cmp);
	if (crt == NULL || crt->not_after <= (long long)time(NULL))
		return NULL;
	return crt;
}

static void
proxy_certs_clear(struct proxy_cert *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		SSL_CTX_free(v[i].ctx);
	free(v);
}

void
proxy_certs_reload(struct proxy_certs *cs)
{
	char path[PATH_MAX];
	struct proxy_cert *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/live", cs->dir);
	if ((d = opendir(path)) == NULL) {
		if (errno != ENOENT)
			log_warn("certificates: cannot read '%s'", path);
		proxy_certs_clear(cs->v, cs->n);
		cs->v = NULL;
		cs->n = 0;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const struct proxy_cert *old;
		struct proxy_cert crt;

		/* Only lower-case DNS names: GENERATION, ".", ".." and the
		 * writers' temporary names are not hosts. */
		if (!name_domain_is_valid(de->d_name))
			continue;
		if (n == PROXY_CERTS_MAX) {
			log_warnx("certificates: more than %d hosts under '%s'; "
			    "the rest are not loaded", PROXY_CERTS_MAX, path);
			break;
		}
		if (proxy_cert_load(&crt, cs->dir, de->d_name) < 0) {
			old = proxy_certs_find(cs, de->d_name);
			log_warnx("certificate for '%s' not loaded: %s%s",
			    de->d_name, err_last(), old ? "; the previous "
			    "one keeps serving" : "");
			if (old == NULL)
				continue;
			crt = *old;
			SSL_CTX_up_ref(crt.ctx);
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = crt;
	}
	closedir(d);
	qsort(v, n, sizeof(*v), proxy_cert_cmp);
	/* Connections in handshake hold their own reference to the
	 * contexts dropped here. */
	proxy_certs_clear(cs->v, cs->n);
	cs->v = v;
	cs->n = n;
	log_info("certificates: %zu host%s loaded from '%s'", n,
	    n == 1 ? "" : "s", path);
}

/* Did GENERATION change since the last look (a rename makes a new inode)? */
static bool
proxy_certs_changed(struct proxy_certs *cs)
{
	char path[PATH_MAX];
	struct stat st;
	bool seen;

	snprintf(path, sizeof(path), "%s/live/GENERATION", cs->dir);
	seen = stat(path, &st) == 0;
	if (!seen) {
		bool was = cs->gen_seen;

		cs->gen_seen = false;
		return was;
	}
	if (cs->gen_seen && cs->gen_ino == (unsigned long long)st.st_ino &&
	    cs->gen_dev == (unsigned long long)st.st_dev &&
	    cs->gen_size == (unsigned long long)st.st_size &&
	    cs->gen_sec == (long long)st.st_mtim.tv_sec &&
	    cs->gen_nsec == (long long)st.st_mtim.tv_nsec)
		return false;
	cs->gen_seen = true;
	cs->gen_ino = (unsigned long long)st.st_ino;
	cs->gen_dev = (unsigned long long)st.st_dev;
	cs->gen_size = (unsigned long long)st.st_size;
	cs->gen_sec = (long long)st.st_mtim.tv_sec;
	cs->gen_nsec = (long long)st.st_mtim.tv_nsec;
	return true;
}

void
proxy_certs_poll(struct proxy_certs *cs)
{
	if (cs == NULL || proxy_srv.now_ms < cs->next_poll_ms)
		return;
	cs->next_poll_ms = proxy_srv.now_ms + 1000;
	if (proxy_certs_changed(cs))
		proxy_certs_reload(cs);
}

int
proxy_certs_open(struct proxy_certs **out, const char *dir)
{
	struct proxy_certs *cs;
	struct stat st;

	*out = NULL;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(ERR_INVALID, "cannot use the certificates "
		    "directory '%s': %s", dir, S_ISDIR(st.st_mode) ?
		    strerror(errno) : "not a directory");
	cs = xcalloc(1, sizeof(*cs));
	cs->dir = xstrdup(dir);
	proxy_certs_changed(cs);
	proxy_certs_reload(cs);
	*out = cs;
	return 0;
}

void
proxy_certs_free(struct proxy_certs *cs)
{
	if (cs == NULL)
		return;
	proxy_certs_clear(cs->v, cs->n);
	free(cs->dir);
	free(cs);
}

static bool
proxy_token_valid(const char *p, size_t n)
{
	if (n == 0 || n > PROXY_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

int
proxy_certs_challenge(struct proxy_client *c, const struct proxy_str path,
    bool is_get)
{
	static const char pre[] = PROXY_CHALLENGE_PREFIX;
	char dir[PATH_MAX], token[PROXY_TOKEN_MAX + 1];
	size_t n = sizeof(pre) - 1;
	struct buf b;
	int dfd, rc;

	if (proxy_srv.certs == NULL || path.n < n ||
	    memcmp(path.p, pre, n) != 0)
		return 0;
	snprintf(c->app, sizeof(c->app), "%s", "-");
	if (!is_get)
		return proxy_local(c, 405, "acme-challenge", "method not allowed",
		    "the ACME challenge path answers GET and HEAD only");
	if (!proxy_token_valid(path.p + n, path.n - n))
		return proxy_local(c, 404, "acme-challenge", "no such challenge",
		    "not an ACME token");
	memcpy(token, path.p + n, path.n - n);
	token[path.n - n] = '\0';
	snprintf(dir, sizeof(dir), "%s/challenges", proxy_srv.certs->dir);
	buf_init(&b, PROXY_CHALLENGE_MAX);
	/* The token names one file of the directory, opened beneath it
	 * (no symlink, no fifo), with a cap. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = dfd < 0 ? ERR_NOTFOUND : fs_read_beneath(&b, dfd, token,
	    PROXY_CHALLENGE_MAX);
	if (dfd >= 0)
		close(dfd);
	if (rc < 0) {
		buf_free(&b);
		return proxy_local(c, 404, "acme-challenge", "no such challenge",
		    "no challenge '%s' is pending", token);
	}
	rc = proxy_local_answer(c, 200, NULL, b.ptr, b.len);
	buf_free(&b);
	return rc;
}
