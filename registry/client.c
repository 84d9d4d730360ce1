/*
 * The registry client's HTTP core: references, URLs, and
 * registry_client_do(), one request with retries, re-authentication and
 * capped bodies.  Push and pull are in client_push.c and client_pull.c,
 * auth in client_auth.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "slipway/clock.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/log.h"
#include "slipway/parse.h"
#include "slipway/registry.h"
#include "slipway/url.h"

#include "registry_int.h"

/* Keep a stalled transfer from hanging forever, without capping how long
 * a big blob may take: fail below 1 byte/s for a minute. */
#define REGISTRY_CLIENT_CONNECT_TIMEOUT 30L
#define REGISTRY_CLIENT_LOW_SPEED_TIME 60L
#define REGISTRY_CLIENT_BACKOFF_MS 250
#define REGISTRY_CLIENT_BACKOFF_MAX_MS 8000

static bool
registry_client_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool
registry_repo_is_valid(const char *name)
{
	const char *p = name;

	if (name == NULL || *name == '\0' || strlen(name) > REGISTRY_NAME_MAX)
		return false;
	for (;;) {
		/* component: alnum+ (separator alnum+)* */
		if (!registry_client_alnum(*p))
			return false;
		while (registry_client_alnum(*p))
			p++;
		while (*p == '.' || *p == '_' || *p == '-') {
			if (*p == '.')
				p++;
			else if (*p == '_')
				p += p[1] == '_' ? 2 : 1;
			else
				while (*p == '-')
					p++;
			if (!registry_client_alnum(*p))
				return false;
			while (registry_client_alnum(*p))
				p++;
		}
		if (*p == '\0')
			return true;
		if (*p != '/')
			return false;
		p++;
	}
}

void
registry_ref_clear(struct registry_ref *r)
{
	if (r == NULL)
		return;
	free(r->registry);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

int
registry_ref_parse(struct registry_ref *out, const char *s)
{
	const char *slash = strchr(s, '/'), *at, *colon;
	char *rest = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (slash == NULL || slash == s)
		return err_set(ERR_INVALID, "'%.200s' is not REGISTRY/REPO[:TAG]",
		    s);
	out->registry = xstrndup(s, (size_t)(slash - s));
	if (!url_hostport_is_valid(out->registry)) {
		rc = err_set(ERR_INVALID, "'%.200s' is not a registry host[:port]",
		    out->registry);
		goto done;
	}
	rest = xstrdup(slash + 1);
	if ((at = strchr(rest, '@')) != NULL) {
		out->digest = xstrdup(at + 1);
		rest[at - rest] = '\0';
		if ((rc = digest_parse(out->digest, &(enum digest_algo){0},
		    &(const char *){0})) < 0)
			goto done;
	} else if ((colon = strrchr(rest, ':')) != NULL &&
	    strchr(colon, '/') == NULL) {
		out->tag = xstrdup(colon + 1);
		rest[colon - rest] = '\0';
		if (!image_tag_is_valid(out->tag)) {
			rc = err_set(ERR_INVALID, "'%.200s' is not a valid tag",
			    out->tag);
			goto done;
		}
	}
	if (!registry_repo_is_valid(rest) || strlen(out->registry) + 1 +
	    strlen(rest) > REGISTRY_NAME_MAX) {
		rc = err_set(ERR_INVALID, "'%.200s' is not a valid repository "
		    "name (lower case letters, digits, separators . _ __ -, "
		    "components joined by /, at most %d characters)", rest,
		    REGISTRY_NAME_MAX);
		goto done;
	}
	out->repo = rest;
	rest = NULL;
done:
	free(rest);
	if (rc < 0)
		registry_ref_clear(out);
	return rc;
}

int
registry_client_new(struct registry_client **out, const char *registry,
    const struct registry_client_opts *opts)
{
	static const struct registry_client_opts none = { .retries = -1 };
	struct registry_client *c;
	char *hostport;
	bool plain;
	int rc;

	if (opts == NULL)
		opts = &none;
	if ((rc = url_service_parse(&hostport, &plain, registry)) < 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(hostport);
		return err_set(ERR_IO, "cannot start libcurl");
	}
	c = xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		abort();
	c->registry = hostport;
	c->insecure = opts->insecure || plain;
	c->base = xasprintf("%s://%s", c->insecure ? "http" : "https",
	    hostport);
	if (opts->user) {
		c->user = xstrdup(opts->user);
		c->pass = xstrdup(opts->password ? opts->password : "");
	}
	c->progress = opts->progress;
	c->verbose = opts->verbose;
	c->retries = opts->retries < 0 ? REGISTRY_RETRIES_DEFAULT :
	    opts->retries;
	c->chunk_size = opts->chunk_size ? opts->chunk_size :
	    REGISTRY_CHUNK_DEFAULT;
	*out = c;
	return 0;
}

void
registry_client_free(struct registry_client *c)
{
	if (c == NULL)
		return;
	curl_easy_cleanup(c->curl);
	free(c->registry);
	free(c->base);
	free(c->user);
	if (c->pass)
		explicit_bzero(c->pass, strlen(c->pass));
	free(c->pass);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	for (size_t i = 0; i < c->nscopes; i++)
		free(c->scopes[i]);
	free(c);
}

void
registry_xfer_stats_clear(struct registry_xfer_stats *s)
{
	if (s == NULL)
		return;
	free(s->media_type);
	memset(s, 0, sizeof(*s));
}

char *
registry_client_url(const struct registry_client *c, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b, 0);
	buf_puts(&b, c->base);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b, NULL);
}

char *
registry_client_url_resolve(const struct registry_client *c,
    const char *location)
{
	CURLU *u = curl_url();
	char *s = NULL, *scheme = NULL, *res = NULL;

	if (u == NULL)
		abort();
	if (location == NULL || *location == '\0') {
		err_set(ERR_INVALID, "registry gave no Location for the upload");
		goto done;
	}
	if (curl_url_set(u, CURLUPART_URL, c->base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, location, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		err_set(ERR_INVALID, "registry gave a bad Location '%.200s'",
		    location);
		goto done;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		err_set(ERR_INVALID, "registry gave a non-http Location '%.200s'",
		    location);
		goto done;
	}
	res = xstrdup(s);
done:
	curl_free(s);
	curl_free(scheme);
	curl_url_cleanup(u);
	return res;
}

char *
registry_client_url_add_query(const char *url, const char *name,
    const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0), *res;

	if (esc == NULL)
		abort();
	res = xasprintf("%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', name,
	    esc);
	curl_free(esc);
	return res;
}

void
registry_client_req_init(struct registry_client_req *r, const char *method,
    const char *url)
{
	memset(r, 0, sizeof(*r));
	r->method = method;
	r->url = url;
	r->fd = -1;
	r->max_body = REGISTRY_CLIENT_ERROR_BODY_MAX;
}

static void
registry_client_resp_headers_clear(struct registry_client_resp *r)
{
	free(r->location);
	free(r->content_type);
	free(r->digest);
	free(r->range);
	free(r->chunk_min);
	free(r->retry_after);
	for (size_t i = 0; i < r->nchallenges; i++)
		free(r->challenges[i]);
	r->location = r->content_type = r->digest = r->range = NULL;
	r->chunk_min = r->retry_after = NULL;
	r->nchallenges = 0;
	r->content_length = -1;
}

void
registry_client_resp_clear(struct registry_client_resp *r)
{
	if (r == NULL)
		return;
	registry_client_resp_headers_clear(r);
	buf_free(&r->body);
	r->status = 0;
}

/* State shared with the curl callbacks during one exchange. */
struct registry_client_xfer {
	struct registry_client *c;
	struct registry_client_req *req;
	struct registry_client_resp *resp;
	int64_t pos;            /* upload position within the body */
	int err;                /* a callback's failure, message set */
	double last_draw;
};

static size_t
registry_client_header_cb(char *data, size_t size, size_t n, void *payload)
{
	struct registry_client_xfer *x = payload;
	struct registry_client_resp *r = x->resp;
	size_t len = size * n, klen;
	char *line, *colon, *v, *end, **slot = NULL;

	line = xstrndup(data, len);
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after a redirect or 100): forget the last
		 * one's headers. */
		registry_client_resp_headers_clear(r);
		buf_reset(&r->body);
		v = strchr(line, ' ');
		r->status = v ? strtol(v + 1, NULL, 10) : 0;
		free(line);
		return len;
	}
	if ((colon = strchr(line, ':')) == NULL) {
		free(line);
		return len;
	}
	klen = (size_t)(colon - line);
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	end = v + strlen(v);
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
#define REGISTRY_CLIENT_IS(name) (klen == sizeof(name) - 1 && \
	strncasecmp(line, name, klen) == 0)
	if (REGISTRY_CLIENT_IS("Location"))
		slot = &r->location;
	else if (REGISTRY_CLIENT_IS("Content-Type"))
		slot = &r->content_type;
	else if (REGISTRY_CLIENT_IS("Docker-Content-Digest"))
		slot = &r->digest;
	else if (REGISTRY_CLIENT_IS("Range"))
		slot = &r->range;
	else if (REGISTRY_CLIENT_IS("OCI-Chunk-Min-Length"))
		slot = &r->chunk_min;
	else if (REGISTRY_CLIENT_IS("Retry-After"))
		slot = &r->retry_after;
	else if (REGISTRY_CLIENT_IS("Content-Length"))
		r->content_length = strtoll(v, NULL, 10);
	else if (REGISTRY_CLIENT_IS("WWW-Authenticate") &&
	    r->nchallenges < REGISTRY_CLIENT_MAX_CHALLENGES)
		r->challenges[r->nchallenges++] = xstrdup(v);
#undef REGISTRY_CLIENT_IS
	if (slot) {
		free(*slot);
		*slot = xstrdup(v);
	}
	free(line);
	return len;
}

static size_t
registry_client_write_cb(char *data, size_t size, size_t n, void *payload)
{
	struct registry_client_xfer *x = payload;
	size_t len = size * n;
	long st = x->resp->status;
	int rc;

	if (st >= 300 && st < 400)
		return len;     /* a redirect's body: not ours */
	if (st >= 200 && st < 300 && x->req->sink)
		rc = image_blob_writer_write(x->req->sink, data, len);
	else
		rc = buf_put(&x->resp->body, data, len);
	if (rc < 0) {
		x->err = rc;
		return 0;       /* makes curl stop with CURLE_WRITE_ERROR */
	}
	return len;
}

static size_t
registry_client_read_cb(char *out, size_t size, size_t n, void *payload)
{
	struct registry_client_xfer *x = payload;
	struct registry_client_req *r = x->req;
	size_t want = size * n;
	int64_t left = r->len - x->pos;
	ssize_t got;

	if (left <= 0)
		return 0;
	if ((int64_t)want > left)
		want = (size_t)left;
	if (r->fd < 0) {
		memcpy(out, (const char *)r->data + x->pos, want);
		x->pos += (int64_t)want;
		return want;
	}
	do
		got = pread(r->fd, out, want, (off_t)(r->off + x->pos));
	while (got < 0 && errno == EINTR);
	if (got <= 0) {
		x->err = got < 0 ? err_sys("cannot read the blob to upload") :
		    err_set(ERR_CONFLICT, "the blob to upload shrank");
		return CURL_READFUNC_ABORT;
	}
	x->pos += got;
	return (size_t)got;
}

/* curl rewinds the body when it must send it again (a reused connection
 * that turned out dead). */
static int
registry_client_seek_cb(void *payload, curl_off_t offset, int origin)
{
	struct registry_client_xfer *x = payload;

	if (origin != SEEK_SET || offset < 0 || offset > x->req->len)
		return CURL_SEEKFUNC_FAIL;
	x->pos = offset;
	return CURL_SEEKFUNC_OK;
}

static int
registry_client_progress_cb(void *payload, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct registry_client_xfer *x = payload;
	struct registry_client_req *r = x->req;
	double now = clock_mono();
	int64_t done = r->progress_base + (ulnow > 0 ? ulnow : dlnow);

	(void)dltotal; (void)ultotal;
	if (now - x->last_draw < 0.1)
		return 0;
	x->last_draw = now;
	fprintf(stderr, "\r  %-24.24s %8.1f / %.1f MiB", r->label,
	    (double)done / 1048576.0, (double)r->progress_total / 1048576.0);
	return 0;
}

/* A transport failure worth another try: the connection broke or never
 * came up, or nothing arrived. */
static bool
registry_client_curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* distribution-spec: 502, 503 and 504 are temporary, other 5xx are
 * terminal; 429 asks us to come back later. */
static bool
registry_client_status_transient(long st)
{
	return st == 429 || st == 502 || st == 503 || st == 504;
}

int
registry_client_exchange(struct registry_client_resp *resp,
    struct registry_client *c, struct registry_client_req *r, bool *transient)
{
	struct registry_client_xfer x = { .c = c, .req = r, .resp = resp };
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *k = c->curl;
	CURLcode cc;
	char *line;
	int rc = 0;

	*transient = false;
	registry_client_resp_clear(resp);
	buf_init(&resp->body, r->max_body);
	resp->content_length = -1;
	/* reset keeps the connection cache: one connection for all. */
	curl_easy_reset(k);
	curl_easy_setopt(k, CURLOPT_URL, r->url);
	curl_easy_setopt(k, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT,
	    REGISTRY_CLIENT_CONNECT_TIMEOUT);
	curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME,
	    REGISTRY_CLIENT_LOW_SPEED_TIME);
	curl_easy_setopt(k, CURLOPT_USERAGENT, "slipway/" SLIPWAY_VERSION);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, registry_client_header_cb);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, registry_client_write_cb);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &x);
	if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
		/* Blob GETs may redirect to storage (distribution-spec);
		 * curl does not carry our Authorization to another host. */
		curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(k, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "POST") == 0 && !r->has_body) {
		curl_easy_setopt(k, CURLOPT_POST, 1L);
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (r->has_body) {
		curl_easy_setopt(k, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(k, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)r->len);
		curl_easy_setopt(k, CURLOPT_READFUNCTION,
		    registry_client_read_cb);
		curl_easy_setopt(k, CURLOPT_READDATA, &x);
		curl_easy_setopt(k, CURLOPT_SEEKFUNCTION,
		    registry_client_seek_cb);
		curl_easy_setopt(k, CURLOPT_SEEKDATA, &x);
		if (strcmp(r->method, "PUT") != 0)
			curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, r->method);
	}
	/* No "Expect: 100-continue": one round trip less per chunk. */
	h = curl_slist_append(h, "Expect:");
	if (r->has_body || strcmp(r->method, "POST") == 0) {
		line = xasprintf("Content-Type: %s", r->content_type ?
		    r->content_type : "application/octet-stream");
		h = curl_slist_append(h, line);
		free(line);
	}
	if (r->accept) {
		line = xasprintf("Accept: %s", r->accept);
		h = curl_slist_append(h, line);
		free(line);
	}
	if (r->extra_header)
		h = curl_slist_append(h, r->extra_header);
	if (r->auth_line == NULL)
		h = registry_client_auth_header(c, h);
	else if (r->auth_line[0])
		h = curl_slist_append(h, r->auth_line);
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
	if (c->progress && r->label) {
		curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION,
		    registry_client_progress_cb);
		curl_easy_setopt(k, CURLOPT_XFERINFODATA, &x);
	}
	cc = curl_easy_perform(k);
	if (c->progress && r->label && x.last_draw > 0)
		fputc('\n', stderr);
	if (x.err < 0) {
		rc = x.err;
	} else if (cc != CURLE_OK) {
		*transient = registry_client_curl_transient(cc);
		rc = err_set(ERR_IO, "cannot %s '%s': %s", r->method, r->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else {
		curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &resp->status);
		*transient = registry_client_status_transient(resp->status);
	}
	curl_slist_free_all(h);
	return rc;
}

void
registry_client_backoff(int attempt, const char *retry_after)
{
	long ms = REGISTRY_CLIENT_BACKOFF_MS << (attempt < 6 ? attempt : 6);
	struct timespec ts;

	if (ms > REGISTRY_CLIENT_BACKOFF_MAX_MS)
		ms = REGISTRY_CLIENT_BACKOFF_MAX_MS;
	/* Retry-After in seconds, believed up to 30. */
	if (retry_after && isdigit((unsigned char)*retry_after)) {
		long s = strtol(retry_after, NULL, 10);
		if (s > 30)
			s = 30;
		if (s * 1000 > ms)
			ms = s * 1000;
	}
	/* Jitter, so many clients do not retry in step. */
	ms += rand() % (REGISTRY_CLIENT_BACKOFF_MS + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
registry_client_do(struct registry_client_resp *out, struct registry_client *c,
    struct registry_client_req *r)
{
	bool transient, reauthed = false;
	int attempt = 0, rc;

	for (;;) {
		rc = registry_client_exchange(out, c, r, &transient);
		if (rc == 0 && out->status == 401 && !reauthed) {
			/* Once: a second 401 means the credentials or the
			 * token are not good enough, and is the caller's. */
			reauthed = true;
			if ((rc = registry_client_auth_challenge(c, out)) < 0)
				return rc;
			if (r->sink && (rc = image_blob_writer_reset(r->sink)) < 0)
				return rc;
			continue;
		}
		if (rc == 0 && out->status == 401)
			return registry_client_error(out,
			    "%s %s: access denied with %s", r->method, r->url,
			    c->auth == REGISTRY_CLIENT_AUTH_BEARER ?
			    "the token the realm gave" : c->user ?
			    "the credentials given" : "no credentials");
		if (!transient || !r->retry || attempt >= c->retries)
			return rc;
		if (rc < 0)
			log_warnx("%s; retrying (%d of %d)", err_last(),
			    attempt + 1, c->retries);
		else
			log_warnx("%s %s: registry answered %ld; retrying "
			    "(%d of %d)", r->method, r->url, out->status,
			    attempt + 1, c->retries);
		registry_client_backoff(attempt, out->retry_after);
		attempt++;
		if (r->sink && (rc = image_blob_writer_reset(r->sink)) < 0)
			return rc;
	}
}

int
registry_client_error(const struct registry_client_resp *resp,
    const char *fmt, ...)
{
	const char *code = NULL, *message = NULL;
	char what[512];
	json_t *j = NULL, *e;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* distribution-spec errors: {"errors":[{"code","message",...}]} */
	if (resp->body.len > 0)
		j = json_loadb(resp->body.ptr, resp->body.len, 0, NULL);
	e = json_array_get(json_object_get(j, "errors"), 0);
	code = json_string_value(json_object_get(e, "code"));
	message = json_string_value(json_object_get(e, "message"));
	switch (resp->status) {
	case 401: case 403: rc = ERR_AUTH; break;
	case 404: rc = ERR_NOTFOUND; break;
	case 409: rc = ERR_CONFLICT; break;
	case 413: rc = ERR_TOOBIG; break;
	default: rc = resp->status >= 500 ? ERR_IO : ERR_INVALID; break;
	}
	if (code)
		err_set(rc, "%s: registry answered %ld %.64s%s%.200s", what,
		    resp->status, code, message ? ": " : "",
		    message ? message : "");
	else
		err_set(rc, "%s: registry answered %ld", what, resp->status);
	json_decref(j);
	return rc;
}
