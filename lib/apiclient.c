/* The controller API client; see include/slipway/apiclient.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"

#define APICLIENT_DEFAULT_URL "http://127.0.0.1:7070"
#define APICLIENT_CONFIG_MAX 65536
#define APICLIENT_TIMEOUT_SECS 120

/* Invariant: url has no trailing '/'; token is NULL or non-empty. */
struct apiclient {
	char *url;
	char *token;
	CURL *curl;
	long status;
	atomic_int *cancel;     /* not owned; may be NULL */
	long timeout;           /* seconds a call may take */
	char *header;           /* "Name: value" sent with every call, or
	                         * NULL */
};

static pthread_once_t apiclient_once = PTHREAD_ONCE_INIT;

static void
apiclient_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* $SLIPWAY_CONFIG, or ~/.config/slipway/config.  Caller frees. */
static char *
apiclient_config_path(void)
{
	const char *p = getenv("SLIPWAY_CONFIG"), *home;

	if (p && p[0])
		return xstrdup(p);
	if ((p = getenv("XDG_CONFIG_HOME")) && p[0] == '/')
		return xasprintf("%s/slipway/config", p);
	home = getenv("HOME");
	return xasprintf("%s/.config/slipway/config", home && home[0] ? home :
	    "/");
}

static int
apiclient_config_read(char **url, char **token)
{
	char *path = apiclient_config_path();
	struct buf b;
	json_t *j = NULL, *v;
	json_error_t jerr;
	int rc;

	*url = *token = NULL;
	buf_init(&b, APICLIENT_CONFIG_MAX);
	rc = fs_read_file(&b, path, APICLIENT_CONFIG_MAX);
	/* An empty file (SLIPWAY_CONFIG=/dev/null) is no config at all. */
	if (rc == ERR_NOTFOUND || (rc == 0 && b.len == 0)) {
		rc = 0;
		goto done;
	}
	if (rc < 0)
		goto done;
	j = json_loadb(b.ptr ? b.ptr : "", b.len, 0, &jerr);
	if (!json_is_object(j)) {
		rc = err_set(ERR_INVALID, "config file '%s' is not a JSON "
		    "object; run 'slipway login URL TOKEN' to rewrite it",
		    path);
		goto done;
	}
	if ((v = json_object_get(j, "url")) && json_is_string(v))
		*url = xstrdup(json_string_value(v));
	if ((v = json_object_get(j, "token")) && json_is_string(v))
		*token = xstrdup(json_string_value(v));
done:
	json_decref(j);
	buf_free(&b);
	free(path);
	return rc;
}

int
apiclient_open_with(struct apiclient **out, const char *url,
    const char *token)
{
	struct apiclient *c;
	size_t n;

	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return err_set(ERR_INVALID, "controller URL '%.200s' must "
		    "start with http:// or https://", url);
	pthread_once(&apiclient_once, apiclient_global_init);
	c = xcalloc(1, sizeof(*c));
	c->url = xstrdup(url);
	n = strlen(c->url);
	while (n > 0 && c->url[n - 1] == '/')
		c->url[--n] = '\0';
	c->token = token && token[0] ? xstrdup(token) : NULL;
	c->timeout = APICLIENT_TIMEOUT_SECS;
	if ((c->curl = curl_easy_init()) == NULL) {
		apiclient_free(c);
		return err_set(ERR_IO, "cannot start libcurl");
	}
	*out = c;
	return 0;
}

int
apiclient_open(struct apiclient **out)
{
	const char *eu = getenv("SLIPWAY_URL"), *et = getenv("SLIPWAY_TOKEN");
	char *url = NULL, *token = NULL;
	int rc;

	if ((rc = apiclient_config_read(&url, &token)) < 0)
		return rc;
	rc = apiclient_open_with(out, eu && eu[0] ? eu : url ? url :
	    APICLIENT_DEFAULT_URL, et && et[0] ? et : token);
	free(url);
	free(token);
	return rc;
}

void
apiclient_free(struct apiclient *c)
{
	if (c == NULL)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	free(c->url);
	free(c->token);
	free(c->header);
	free(c);
}

void
apiclient_set_timeout(struct apiclient *c, long secs)
{
	c->timeout = secs > 0 ? secs : APICLIENT_TIMEOUT_SECS;
}

void
apiclient_set_header(struct apiclient *c, const char *name,
    const char *value)
{
	free(c->header);
	c->header = NULL;
	/* a value that could end the header line is never sent */
	if (name && value && value[0] && strcspn(value, "\r\n") ==
	    strlen(value))
		c->header = xasprintf("%s: %s", name, value);
}

void
apiclient_set_cancel(struct apiclient *c, atomic_int *flag)
{
	c->cancel = flag;
}

/* curl's progress callback: a non-zero answer aborts the transfer. */
static int
apiclient_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct apiclient *c = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return c->cancel && *c->cancel;
}

const char *
apiclient_url(const struct apiclient *c)
{
	return c->url;
}

int
apiclient_need_token(const struct apiclient *c)
{
	if (c->token)
		return 0;
	return err_set(ERR_AUTH, "no API token: run 'slipway login URL TOKEN' "
	    "or set SLIPWAY_TOKEN");
}

long
apiclient_status(const struct apiclient *c)
{
	return c->status;
}

char *
apiclient_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *r;

	if (e == NULL)
		return xstrdup("");
	r = xstrdup(e);
	curl_free(e);
	return r;
}

static size_t
apiclient_write(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* A short count makes curl stop with CURLE_WRITE_ERROR. */
	return buf_put(b, data, size * n) < 0 ? 0 : size * n;
}

/* The error for a non-2xx answer, with the controller's message. */
static int
apiclient_http_error(long status, json_t *body, const char *method,
    const char *path)
{
	const char *msg = json_string_value(json_object_get(body, "error"));
	const char *code = json_string_value(json_object_get(body, "code"));
	int rc;

	switch (status) {
	case 401:
		return err_set(ERR_AUTH, "%s (check the token: 'slipway "
		    "login URL TOKEN' or SLIPWAY_TOKEN)", msg ? msg :
		    "not authenticated");
	case 403: rc = ERR_AUTH; break;
	case 404: rc = ERR_NOTFOUND; break;
	case 409:
		rc = code && strcmp(code, "exists") == 0 ? ERR_EXISTS :
		    ERR_CONFLICT;
		break;
	case 400: case 405: case 422: rc = ERR_INVALID; break;
	case 413: rc = ERR_TOOBIG; break;
	default: rc = ERR_IO; break;
	}
	if (msg)
		return err_set(rc, "%s", msg);
	return err_set(rc, "%s %s: HTTP %ld from the controller", method, path,
	    status);
}

int
apiclient_call(json_t **out, struct apiclient *c, const char *method,
    const char *path, json_t *body)
{
	struct curl_slist *hdrs = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", *url, *auth = NULL, *text = NULL;
	struct buf resp;
	json_t *j = NULL;
	json_error_t jerr;
	CURLcode cc;
	int rc = 0;

	if (out)
		*out = NULL;
	c->status = 0;
	url = xasprintf("%s%s", c->url, path);
	buf_init(&resp, APICLIENT_BODY_MAX);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	/* Names are escaped by the caller; never let curl fold "..". */
	curl_easy_setopt(c->curl, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, apiclient_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT,
	    c->timeout < 10 ? c->timeout : 10L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->cancel) {
		/* called about once a second even while nothing moves */
		curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION,
		    apiclient_progress);
		curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
		curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
	}
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (c->token) {
		auth = xasprintf("Authorization: Bearer %s", c->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (c->header)
		hdrs = curl_slist_append(hdrs, c->header);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs,
		    "Content-Type: application/json");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(text));
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	if ((cc = curl_easy_perform(c->curl)) != CURLE_OK) {
		if (cc == CURLE_WRITE_ERROR)
			rc = err_set(ERR_TOOBIG, "the controller's answer is "
			    "over %zu bytes", APICLIENT_BODY_MAX);
		else if (cc == CURLE_OPERATION_TIMEDOUT)
			rc = err_set(ERR_TIMEOUT, "the controller at %s did not "
			    "answer within %lds", c->url, c->timeout);
		else if (cc == CURLE_ABORTED_BY_CALLBACK)
			rc = err_set(ERR_CONFLICT, "call to the controller "
			    "cancelled");
		else
			rc = err_set(ERR_IO, "cannot reach the controller at "
			    "%s: %s", c->url, errbuf[0] ? errbuf :
			    curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->status);
	if (resp.len > 0) {
		j = json_loadb(resp.ptr, resp.len, 0, &jerr);
		if (j == NULL && c->status >= 200 && c->status < 300) {
			rc = err_set(ERR_IO, "%s %s: the controller's answer "
			    "is not JSON: %s", method, path, jerr.text);
			goto done;
		}
	}
	if (c->status < 200 || c->status >= 300) {
		rc = apiclient_http_error(c->status, j, method, path);
		goto done;
	}
	if (out) {
		*out = j;
		j = NULL;
	}
done:
	json_decref(j);
	curl_slist_free_all(hdrs);
	buf_free(&resp);
	free(text);
	free(auth);
	free(url);
	return rc;
}

int
apiclient_config_write(char **path_out, const char *url, const char *token)
{
	char *path = apiclient_config_path(), *dir, *slash, *text;
	json_t *j;
	int rc;

	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		if ((rc = fs_mkdir_p(dir, 0700)) < 0)
			goto done;
	}
	j = json_pack("{ssss}", "url", url, "token", token);
	text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	rc = fs_write_atomic(path, text, strlen(text), 0600);
	free(text);
done:
	free(dir);
	if (rc == 0 && path_out)
		*path_out = path;
	else
		free(path);
	return rc;
}
