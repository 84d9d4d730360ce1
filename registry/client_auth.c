/*
 * Registry auth as the registry asks for it on 401 (RFC 7235
 * WWW-Authenticate): Basic with the user's credentials, or the Docker
 * registry token flow: GET the challenge's realm with its service and
 * scope (with Basic credentials, or anonymously), then send the token as
 * "Authorization: Bearer".  Credentials never go to a realm in plain http
 * off this machine unless the user said --insecure.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"

#include "registry_int.h"

#define AUTH_PARAM_MAX 2048
#define AUTH_TOKEN_MAX (64 << 10)

void
registry_client_challenge_clear(struct registry_client_challenge *ch)
{
	if (ch == NULL)
		return;
	free(ch->scheme);
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

static bool
auth_tchar(char c)
{
	return c != '\0' && (isalnum((unsigned char)c) ||
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* token or quoted-string at *p into out (capped). */
static int
auth_value(char **out, const char **p)
{
	struct buf b;
	const char *s = *p;

	buf_init(&b, AUTH_PARAM_MAX);
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++) {
			if (*s == '\\' && s[1])
				s++;
			if ((unsigned char)*s < 0x20 || buf_putc(&b, *s) < 0)
				goto bad;
		}
		if (*s != '"')
			goto bad;
		s++;
	} else {
		/* A token; leniently, anything up to a comma or a space,
		 * as servers send unquoted URLs too. */
		for (; *s && *s != ',' && *s != ' ' && *s != '\t'; s++)
			if ((unsigned char)*s < 0x20 || *s == 0x7f ||
			    buf_putc(&b, *s) < 0)
				goto bad;
	}
	*p = s;
	*out = buf_detach(&b, NULL);
	return 0;
bad:
	buf_free(&b);
	return err_set(ERR_INVALID, "malformed WWW-Authenticate value");
}

int
registry_client_challenge_parse(struct registry_client_challenge *out,
    const char *value)
{
	const char *p = value;
	int rc;

	memset(out, 0, sizeof(*out));
	while (*p == ' ')
		p++;
	const char *start = p;
	while (auth_tchar(*p))
		p++;
	if (p == start || p - start > 32)
		return err_set(ERR_INVALID, "WWW-Authenticate has no scheme");
	out->scheme = xstrndup(start, (size_t)(p - start));
	for (;;) {
		char *key, *val = NULL, **slot = NULL;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return 0;
		start = p;
		while (auth_tchar(*p))
			p++;
		if (p == start || p - start > 64) {
			rc = err_set(ERR_INVALID, "malformed WWW-Authenticate "
			    "parameter");
			goto fail;
		}
		key = xstrndup(start, (size_t)(p - start));
		while (*p == ' ')
			p++;
		if (*p != '=') {
			/* Another challenge starts here (several in one
			 * header): the first is what we read. */
			free(key);
			return 0;
		}
		p++;
		while (*p == ' ')
			p++;
		if ((rc = auth_value(&val, &p)) < 0) {
			free(key);
			goto fail;
		}
		if (strcasecmp(key, "realm") == 0)
			slot = &out->realm;
		else if (strcasecmp(key, "service") == 0)
			slot = &out->service;
		else if (strcasecmp(key, "scope") == 0)
			slot = &out->scope;
		if (slot && *slot == NULL) {
			*slot = val;
			val = NULL;
		}
		free(key);
		free(val);
	}
fail:
	registry_client_challenge_clear(out);
	return rc;
}

void
registry_client_auth_add_scope(struct registry_client *c, const char *scope)
{
	for (size_t i = 0; i < c->nscopes; i++)
		if (strcmp(c->scopes[i], scope) == 0)
			return;
	if (c->nscopes < REGISTRY_CLIENT_MAX_SCOPES)
		c->scopes[c->nscopes++] = xstrdup(scope);
}

static char *
auth_basic_line(const struct registry_client *c)
{
	char *plain = xasprintf("%s:%s", c->user, c->pass), *line;
	size_t n = strlen(plain);
	unsigned char *b64 = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock(b64, (const unsigned char *)plain, (int)n);
	line = xasprintf("Authorization: Basic %s", b64);
	explicit_bzero(plain, n);
	free(plain);
	free(b64);
	return line;
}

struct curl_slist *
registry_client_auth_header(struct registry_client *c, struct curl_slist *h)
{
	char *line = NULL;

	if (c->auth == REGISTRY_CLIENT_AUTH_BASIC && c->user)
		line = auth_basic_line(c);
	else if (c->auth == REGISTRY_CLIENT_AUTH_BEARER && c->token)
		line = xasprintf("Authorization: Bearer %s", c->token);
	if (line) {
		h = curl_slist_append(h, line);
		explicit_bzero(line, strlen(line));
		free(line);
	}
	return h;
}

/* A token goes into a header: printable ASCII, no spaces. */
static bool
auth_token_is_valid(const char *t)
{
	size_t n = 0;

	for (; *t; t++, n++)
		if (*t <= ' ' || *t >= 0x7f || n >= AUTH_TOKEN_MAX)
			return false;
	return n > 0;
}

static bool
auth_url_is_local_or_tls(const struct registry_client *c, const char *url)
{
	if (strncmp(url, "https://", 8) == 0 || c->insecure)
		return strncmp(url, "https://", 8) == 0 ||
		    strncmp(url, "http://", 7) == 0;
	return strncmp(url, "http://127.", 11) == 0 ||
	    strncmp(url, "http://localhost", 16) == 0 ||
	    strncmp(url, "http://[::1]", 12) == 0;
}

/* GET realm?service=&scope=... and keep the token. */
static int
auth_fetch_token(struct registry_client *c,
    const struct registry_client_challenge *ch)
{
	struct registry_client_resp resp = { 0 };
	struct registry_client_req r;
	char *url = NULL, *next, *basic = NULL, *scopes = NULL, *save, *s;
	const char *tok;
	json_t *j = NULL;
	bool transient;
	int rc, attempt = 0;

	if ((url = registry_client_url_resolve(c, ch->realm)) == NULL)
		return err_wrap(ERR_AUTH, "token realm");
	if (!auth_url_is_local_or_tls(c, url)) {
		rc = err_set(ERR_AUTH, "token realm '%.200s' is plain http; "
		    "refusing to use it without --insecure", url);
		goto done;
	}
	if (ch->service) {
		next = registry_client_url_add_query(url, "service",
		    ch->service);
		free(url);
		url = next;
	}
	/* The challenge's scopes (space separated) and ours, once each. */
	if (ch->scope) {
		scopes = xstrdup(ch->scope);
		for (s = strtok_r(scopes, " ", &save); s;
		    s = strtok_r(NULL, " ", &save))
			registry_client_auth_add_scope(c, s);
	}
	for (size_t i = 0; i < c->nscopes; i++) {
		next = registry_client_url_add_query(url, "scope",
		    c->scopes[i]);
		free(url);
		url = next;
	}
	if (c->user)
		basic = auth_basic_line(c);
	registry_client_req_init(&r, "GET", url);
	r.max_body = REGISTRY_CLIENT_TOKEN_BODY_MAX;
	r.auth_line = basic ? basic : "";
	while ((rc = registry_client_exchange(&resp, c, &r, &transient)) < 0 ||
	    transient) {
		if (!transient || attempt >= c->retries)
			break;
		registry_client_backoff(attempt++, resp.retry_after);
	}
	if (rc < 0)
		goto done;
	if (resp.status == 401 || resp.status == 403) {
		rc = err_set(ERR_AUTH, "registry '%s' refused %s (token realm "
		    "answered %ld)", c->registry, c->user ? "the credentials" :
		    "anonymous access; give --user USER:PASSWORD",
		    resp.status);
		goto done;
	}
	if (resp.status != 200) {
		rc = registry_client_error(&resp,
		    "cannot get a token from '%.200s'", ch->realm);
		goto done;
	}
	j = json_loadb(resp.body.ptr, resp.body.len, 0, NULL);
	tok = json_string_value(json_object_get(j, "token"));
	if (tok == NULL)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (tok == NULL || !auth_token_is_valid(tok)) {
		rc = err_set(ERR_AUTH, "token realm '%.200s' gave no usable "
		    "token", ch->realm);
		goto done;
	}
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	c->token = xstrdup(tok);
	c->auth = REGISTRY_CLIENT_AUTH_BEARER;
	rc = 0;
done:
	if (basic)
		explicit_bzero(basic, strlen(basic));
	free(basic);
	free(scopes);
	free(url);
	json_decref(j);
	registry_client_resp_clear(&resp);
	return rc;
}

int
registry_client_auth_challenge(struct registry_client *c,
    const struct registry_client_resp *resp)
{
	struct registry_client_challenge bearer = { 0 }, basic = { 0 }, ch;
	int rc = 0;

	for (size_t i = 0; i < resp->nchallenges; i++) {
		if (registry_client_challenge_parse(&ch,
		    resp->challenges[i]) < 0)
			continue;
		if (strcasecmp(ch.scheme, "Bearer") == 0 && !bearer.scheme)
			bearer = ch;
		else if (strcasecmp(ch.scheme, "Basic") == 0 && !basic.scheme)
			basic = ch;
		else
			registry_client_challenge_clear(&ch);
	}
	if (bearer.scheme) {
		if (bearer.realm == NULL)
			rc = err_set(ERR_AUTH, "registry '%s' asks for a token "
			    "but names no realm", c->registry);
		else
			rc = auth_fetch_token(c, &bearer);
	} else if (basic.scheme) {
		if (c->user == NULL)
			rc = err_set(ERR_AUTH, "registry '%s' asks for a login: "
			    "give --user USER:PASSWORD or set "
			    "SLIPWAY_REGISTRY_USER and "
			    "SLIPWAY_REGISTRY_PASSWORD", c->registry);
		else if (c->auth == REGISTRY_CLIENT_AUTH_BASIC)
			rc = err_set(ERR_AUTH, "registry '%s' refused the "
			    "credentials of '%s'", c->registry, c->user);
		else if (!c->insecure && strncmp(c->base, "https://", 8) != 0)
			rc = err_set(ERR_AUTH, "refusing to send a password "
			    "in plain http");
		else
			c->auth = REGISTRY_CLIENT_AUTH_BASIC;
	} else {
		rc = err_set(ERR_AUTH, "registry '%s' answered 401 without a "
		    "Basic or Bearer challenge", c->registry);
	}
	registry_client_challenge_clear(&bearer);
	registry_client_challenge_clear(&basic);
	return rc;
}
