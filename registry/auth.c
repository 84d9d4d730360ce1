/*
 * Registry auth: the Docker registry token flow.  A request without a
 * token (or with one that does not cover it) gets 401 and
 *   WWW-Authenticate: Bearer realm="...",service="...",scope="repository:NAME:pull,push"
 * and the client fetches a token from the realm and comes back with
 * "Authorization: Bearer <jwt>".  Tokens are HS256 JWTs (lib/jwt.c) signed
 * with $SLIPWAY_HOME/secret, with the claims of the Docker token spec:
 *   iss "slipway", sub, aud (the service), exp, nbf, iat, jti,
 *   access [{"type":"repository","name":"app","actions":["pull","push"]}]
 * A grant matches a request only when type and name are equal byte for
 * byte and every needed action is listed ("*" lists them all): no
 * prefixes, no patterns.
 *
 * The realm endpoint /token (for standalone use; the controller serves its
 * own) authenticates HTTP Basic against a users file of "user:<sha256 hex
 * of the password>" lines and grants its users what they ask.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "slipway/alloc.h"
#include "slipway/base64.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/httpd.h"
#include "slipway/jwt.h"
#include "slipway/log.h"
#include "registry_int.h"

#define TOKEN_REALM_TTL 300
#define TOKEN_SCOPES_MAX 16
#define TOKEN_ACCESS_MAX 64
#define HTPASSWD_MAX ((size_t)1 << 20)

static const struct {
	const char *name;
	unsigned bit;
} auth_actions[] = {
	{ "pull", ACT_PULL }, { "push", ACT_PUSH }, { "delete", ACT_DELETE },
	{ "*", ACT_ALL },
};

int
registry_actions_parse(unsigned *out, const char *s)
{
	unsigned bits = 0;
	const char *p = s;

	for (;;) {
		size_t n = strcspn(p, ",");
		bool found = false;

		for (size_t i = 0; i < 4; i++) {
			if (strlen(auth_actions[i].name) == n &&
			    strncmp(p, auth_actions[i].name, n) == 0) {
				bits |= auth_actions[i].bit;
				found = true;
			}
		}
		if (!found)
			return err_set(ERR_INVALID, "'%.*s' is not an action "
			    "(pull, push, delete, *)", (int)(n > 40 ? 40 : n),
			    p);
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	*out = bits;
	return 0;
}

void
registry_actions_format(char *buf, size_t len, unsigned bits)
{
	size_t off = 0;

	buf[0] = '\0';
	if (bits == ACT_ALL) {
		snprintf(buf, len, "*");
		return;
	}
	for (size_t i = 0; i < 3; i++)
		if (bits & auth_actions[i].bit)
			off += (size_t)snprintf(buf + off, off < len ?
			    len - off : 0, "%s%s", off ? "," : "",
			    auth_actions[i].name);
}

void
registry_grants_free(struct registry_grants *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n; i++) {
		free(g->v[i].type);
		free(g->v[i].name);
	}
	free(g->v);
	free(g->sub);
	free(g);
}

bool
registry_grants_allow(const struct registry_grants *g, const char *type,
    const char *name, unsigned want)
{
	unsigned have = 0;

	if (g == NULL)
		return false;
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].type, type) == 0 &&
		    strcmp(g->v[i].name, name) == 0)
			have |= g->v[i].actions;
	return (have & want) == want;
}

/* The aud claim: a string, or an array holding the service. */
static bool
token_aud_ok(json_t *aud, const char *service)
{
	size_t i;
	json_t *v;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), service) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v),
		    service) == 0)
			return true;
	return false;
}

int
registry_token_verify(struct registry_grants **out, const char *token,
    const unsigned char *key, size_t keylen, const char *service,
    time_t now)
{
	struct registry_grants *g = NULL;
	json_t *claims = NULL, *v, *acc;
	size_t i;
	int rc;

	if ((rc = jwt_verify(&claims, token, key, keylen, now)) < 0)
		return rc;
	v = json_object_get(claims, "iss");
	if (!json_is_string(v) || strcmp(json_string_value(v),
	    REGISTRY_TOKEN_ISSUER) != 0) {
		rc = err_set(ERR_AUTH, "token was not issued by slipway");
		goto done;
	}
	if (!token_aud_ok(json_object_get(claims, "aud"), service)) {
		rc = err_set(ERR_AUTH, "token is not for service '%s'",
		    service);
		goto done;
	}
	acc = json_object_get(claims, "access");
	if (acc && !json_is_array(acc)) {
		rc = err_set(ERR_AUTH, "token access claim is not a list");
		goto done;
	}
	g = xcalloc(1, sizeof(*g));
	if (json_is_string(json_object_get(claims, "sub")))
		g->sub = xstrdup(json_string_value(json_object_get(claims,
		    "sub")));
	if (json_array_size(acc) > TOKEN_ACCESS_MAX) {
		rc = err_set(ERR_AUTH, "token grants too many resources");
		goto done;
	}
	g->v = xcalloc(json_array_size(acc) + 1, sizeof(*g->v));
	json_array_foreach(acc, i, v) {
		json_t *t = json_object_get(v, "type");
		json_t *n = json_object_get(v, "name");
		json_t *a = json_object_get(v, "actions"), *x;
		unsigned bits = 0;
		size_t j;

		if (!json_is_string(t) || !json_is_string(n) ||
		    !json_is_array(a))
			continue;
		json_array_foreach(a, j, x) {
			for (size_t k = 0; k < 4; k++)
				if (json_is_string(x) && strcmp(
				    json_string_value(x),
				    auth_actions[k].name) == 0)
					bits |= auth_actions[k].bit;
		}
		g->v[g->n].type = xstrdup(json_string_value(t));
		g->v[g->n].name = xstrdup(json_string_value(n));
		g->v[g->n].actions = bits;
		g->n++;
	}
done:
	json_decref(claims);
	if (rc < 0) {
		registry_grants_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

int
registry_scope_parse(struct registry_grant *out, const char *scope)
{
	const char *c1 = strchr(scope, ':'), *c2 = strrchr(scope, ':');
	unsigned bits;
	char *type, *name;
	int rc;

	if (c1 == NULL || c1 == c2)
		return err_set(ERR_INVALID, "scope '%.100s' is not TYPE:NAME:"
		    "ACTIONS", scope);
	type = xstrndup(scope, (size_t)(c1 - scope));
	name = xstrndup(c1 + 1, (size_t)(c2 - c1 - 1));
	if ((rc = registry_actions_parse(&bits, c2 + 1)) < 0)
		goto fail;
	if (strcmp(type, "repository") == 0) {
		if (!registry_name_valid(name)) {
			rc = err_set(ERR_INVALID, "scope '%.100s' names no valid "
			    "repository", scope);
			goto fail;
		}
	} else if (strcmp(type, "registry") != 0 ||
	    strcmp(name, "catalog") != 0) {
		rc = err_set(ERR_INVALID, "scope '%.100s' is not a repository "
		    "or registry:catalog", scope);
		goto fail;
	}
	out->type = type;
	out->name = name;
	out->actions = bits;
	return 0;
fail:
	free(type);
	free(name);
	return rc;
}

int
registry_token_mint(char **out, const unsigned char *key, size_t keylen,
    const char *service, const char *sub,
    const struct registry_token_access *access, size_t naccess,
    unsigned ttl, time_t now)
{
	unsigned char rnd[16];
	char jti[33];
	json_t *claims, *list;
	int rc = 0;

	if (ttl == 0)
		return err_set(ERR_INVALID, "token lifetime must be positive");
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return err_set(ERR_IO, "cannot make random bytes");
	digest_hex(jti, rnd, sizeof(rnd));
	list = json_array();
	for (size_t i = 0; i < naccess; i++) {
		const struct registry_token_access *a = &access[i];
		json_t *acts = json_array();
		unsigned bits;

		if (strcmp(a->type, "repository") == 0 ?
		    !registry_name_valid(a->name) :
		    strcmp(a->type, "registry") != 0 ||
		    strcmp(a->name, "catalog") != 0) {
			json_decref(acts);
			rc = err_set(ERR_INVALID, "'%s' is not a valid "
			    "repository name", a->name);
			goto done;
		}
		if ((rc = registry_actions_parse(&bits, a->actions)) < 0) {
			json_decref(acts);
			goto done;
		}
		if (bits == ACT_ALL && strchr(a->actions, '*')) {
			json_array_append_new(acts, json_string("*"));
		} else {
			for (size_t k = 0; k < 3; k++)
				if (bits & auth_actions[k].bit)
					json_array_append_new(acts,
					    json_string(auth_actions[k].name));
		}
		json_array_append_new(list, json_pack("{s:s,s:s,s:o}",
		    "type", a->type, "name", a->name, "actions", acts));
	}
	claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:O}",
	    "iss", REGISTRY_TOKEN_ISSUER, "sub", sub ? sub : "",
	    "aud", service, "exp", (json_int_t)now + ttl,
	    "nbf", (json_int_t)now, "iat", (json_int_t)now, "jti", jti,
	    "access", list);
	rc = jwt_mint(out, claims, key, keylen);
	json_decref(claims);
done:
	json_decref(list);
	return rc;
}

/* WWW-Authenticate for a request needing want on type:name (type NULL:
 * the base endpoint, no scope), and pull on repository from when it is
 * not NULL (a mount's source), in the same scope parameter separated by
 * a space, as Distribution asks. */
static void
auth_challenge(struct httpd_req *req, struct registry *reg, const char *type,
    const char *name, unsigned want, const char *from, const char *error)
{
	char acts[32], *hdr;
	struct buf b;

	buf_init(&b, 4096);
	buf_printf(&b, "Bearer realm=\"%s\",service=\"%s\"", reg->realm,
	    reg->o.service);
	if (type) {
		/* Docker clients ask pull with push, as distribution does */
		registry_actions_format(acts, sizeof(acts),
		    want & ACT_PUSH ? want | ACT_PULL : want);
		buf_printf(&b, ",scope=\"%s:%s:%s", type, name, acts);
		if (from)
			buf_printf(&b, " repository:%s:pull", from);
		buf_printf(&b, "\"");
	}
	if (error)
		buf_printf(&b, ",error=\"%s\"", error);
	hdr = buf_detach(&b, NULL);
	httpd_header(req, "WWW-Authenticate", hdr);
	free(hdr);
}

bool
registry_auth_request(struct httpd_req *req, struct registry_req *rr,
    const char *type, const char *name, unsigned want)
{
	struct registry *reg = rr->reg;
	const char *hdr = httpd_req_header(req, "Authorization");
	bool anon_ok = reg->o.anonymous_pull && (type == NULL ||
	    (strcmp(type, "repository") == 0 && want == ACT_PULL) ||
	    strcmp(type, "registry") == 0);
	/* a mount's source must be readable too, or the client is told to
	 * get a token that reads it (it falls back to an upload when it
	 * cannot) */
	const char *from = type && !reg->o.anonymous_pull ? rr->mount_from :
	    NULL;
	const char *error = NULL, *msg = "authentication required";
	json_t *detail = NULL;
	char acts[32];

	if (hdr && strncasecmp(hdr, "Bearer ", 7) == 0) {
		if (rr->grants == NULL && registry_token_verify(&rr->grants,
		    hdr + 7, reg->o.key, reg->o.keylen, reg->o.service,
		    time(NULL)) < 0) {
			error = "invalid_token";
			msg = err_last();
		} else if (type == NULL || anon_ok ||
		    (registry_grants_allow(rr->grants, type, name, want) &&
		    (from == NULL || registry_grants_allow(rr->grants,
		    "repository", from, ACT_PULL)))) {
			return true;
		} else {
			error = "insufficient_scope";
			msg = "the token does not grant this access";
		}
	} else if (anon_ok) {
		return true;
	}
	auth_challenge(req, reg, type, name, want, from, error);
	if (type) {
		registry_actions_format(acts, sizeof(acts), want);
		detail = json_pack("[{s:s,s:s,s:s}]", "Type", type, "Name",
		    name, "Action", acts);
		if (from)
			json_array_append_new(detail, json_pack("{s:s,s:s,s:s}",
			    "Type", "repository", "Name", from, "Action",
			    "pull"));
	}
	registry_error(req, 401, "UNAUTHORIZED", msg, detail);
	return false;
}

/* ---- the /token realm ---- */

struct registry_htpasswd {
	size_t n;
	struct {
		char *user;
		char hash[65];
	} *v;
};

static bool
htpasswd_user_ok(const char *u, size_t n)
{
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = u[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
		    || c == '@'))
			return false;
	}
	return true;
}

int
registry_htpasswd_load(struct registry_htpasswd **out, const char *path)
{
	struct registry_htpasswd *h;
	struct buf b;
	char *line, *save = NULL;
	int rc, lineno = 0;

	if ((rc = fs_read_file(&b, path, HTPASSWD_MAX)) < 0)
		return rc;
	h = xcalloc(1, sizeof(*h));
	for (line = strtok_r(b.ptr, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *colon;
		size_t hl;

		lineno++;
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		colon = strchr(line, ':');
		hl = colon ? strlen(colon + 1) : 0;
		if (colon == NULL || !htpasswd_user_ok(line,
		    (size_t)(colon - line)) || hl != 64 ||
		    strspn(colon + 1, "0123456789abcdef") != 64) {
			rc = err_set(ERR_INVALID, "%s:%d: not 'user:<sha256 hex "
			    "of the password>'", path, lineno);
			break;
		}
		h->v = xrealloc(h->v, (h->n + 1) * sizeof(*h->v));
		h->v[h->n].user = xstrndup(line, (size_t)(colon - line));
		memcpy(h->v[h->n].hash, colon + 1, 65);
		h->n++;
	}
	buf_free(&b);
	if (rc < 0) {
		registry_htpasswd_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void
registry_htpasswd_free(struct registry_htpasswd *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].user);
	free(h->v);
	free(h);
}

/* Check "Basic base64(user:password)"; *user (caller frees) on success. */
static int
auth_basic(char **user, const struct registry_htpasswd *h, const char *hdr)
{
	char want[DIGEST_STR_MAX];
	struct buf b;
	char *colon;
	int rc = ERR_AUTH;

	buf_init(&b, 1024);
	if (base64_decode(&b, hdr, strlen(hdr), false) < 0 || b.ptr == NULL ||
	    (colon = memchr(b.ptr, ':', b.len)) == NULL)
		goto done;
	*colon = '\0';
	digest_buf(want, DIGEST_SHA256, colon + 1,
	    b.len - (size_t)(colon + 1 - b.ptr));
	for (size_t i = 0; h && i < h->n; i++) {
		if (strcmp(h->v[i].user, b.ptr) == 0 &&
		    CRYPTO_memcmp(h->v[i].hash, want + 7, 64) == 0) {
			*user = xstrdup(b.ptr);
			rc = 0;
		}
	}
done:
	OPENSSL_cleanse(b.ptr ? b.ptr : (char *)"", b.ptr ? b.len : 0);
	buf_free(&b);
	return rc < 0 ? err_set(ERR_AUTH, "bad user name or password") : 0;
}

static void
token_reply(struct httpd_req *req, struct registry *reg, const char *user,
    struct registry_grant *asked, size_t nasked)
{
	struct registry_token_access acc[TOKEN_SCOPES_MAX];
	char actbuf[TOKEN_SCOPES_MAX][32], issued[32], *tok = NULL, *body;
	time_t now = time(NULL);
	struct tm tm;
	size_t n = 0;
	json_t *j;

	for (size_t i = 0; i < nasked; i++) {
		unsigned bits = asked[i].actions;

		if (user == NULL)       /* anonymous: pulls, if allowed */
			bits = reg->o.anonymous_pull &&
			    strcmp(asked[i].type, "repository") == 0 ?
			    bits & ACT_PULL : 0;
		if (bits == 0)
			continue;
		registry_actions_format(actbuf[n], sizeof(actbuf[n]), bits);
		acc[n].type = asked[i].type;
		acc[n].name = asked[i].name;
		acc[n].actions = actbuf[n];
		n++;
	}
	if (registry_token_mint(&tok, reg->o.key, reg->o.keylen,
	    reg->o.service, user, acc, n, TOKEN_REALM_TTL, now) < 0) {
		log_warnx("registry: cannot mint a token: %s", err_last());
		registry_error(req, 500, "UNKNOWN", "cannot mint a token", NULL);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	j = json_pack("{s:s,s:s,s:i,s:s}", "token", tok, "access_token", tok,
	    "expires_in", TOKEN_REALM_TTL, "issued_at", issued);
	body = json_dumps(j, JSON_COMPACT);
	httpd_respond(req, 200, "application/json", body, strlen(body));
	free(body);
	json_decref(j);
	free(tok);
}

void
registry_token_handle(struct httpd_req *req, struct registry *reg)
{
	struct registry_grant asked[TOKEN_SCOPES_MAX];
	const char *scopes[TOKEN_SCOPES_MAX], *svc, *hdr;
	size_t nscopes, nasked = 0;
	char *user = NULL;

	if (strcmp(req->method, "GET") != 0) {
		registry_error(req, 405, "UNSUPPORTED", "the token endpoint "
		    "takes GET", NULL);
		return;
	}
	svc = httpd_req_query(req, "service");
	if (svc && strcmp(svc, reg->o.service) != 0) {
		registry_error(req, 400, "DENIED", "unknown service", NULL);
		return;
	}
	hdr = httpd_req_header(req, "Authorization");
	if (hdr && strncasecmp(hdr, "Basic ", 6) == 0 &&
	    auth_basic(&user, reg->users, hdr + 6) < 0) {
		log_info("registry: token refused for %s: %s",
		    httpd_req_peer(req), err_last());
		httpd_header(req, "WWW-Authenticate",
		    "Basic realm=\"slipway registry\"");
		registry_error(req, 401, "UNAUTHORIZED", err_last(), NULL);
		return;
	}
	nscopes = httpd_req_query_all(req, "scope", scopes, TOKEN_SCOPES_MAX);
	for (size_t i = 0; i < nscopes; i++) {
		/* one parameter may also carry several, space-separated */
		char *copy = xstrdup(scopes[i]), *save = NULL, *s;

		for (s = strtok_r(copy, " ", &save); s;
		    s = strtok_r(NULL, " ", &save)) {
			if (nasked == TOKEN_SCOPES_MAX ||
			    registry_scope_parse(&asked[nasked], s) < 0) {
				if (nasked == TOKEN_SCOPES_MAX)
					err_set(ERR_INVALID, "too many scopes");
				registry_error(req, 400, "DENIED", err_last(),
				    NULL);
				free(copy);
				goto done;
			}
			nasked++;
		}
		free(copy);
	}
	token_reply(req, reg, user, asked, nasked);
done:
	for (size_t i = 0; i < nasked; i++) {
		free(asked[i].type);
		free(asked[i].name);
	}
	free(user);
}
