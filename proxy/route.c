/*
 * The route table: apps, their backends and custom domains, and the map
 * from Host to app.  Backends are shared by address, so a request that
 * started on a backend keeps counting against it (drain state) after its
 * app was swapped to other backends.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "proxy_int.h"

#define PROXY_ROUTES_FILE_MAX ((size_t)4 << 20)
#define PROXY_BACKENDS_MAX 256
#define PROXY_DOMAINS_MAX 64

void
proxy_routes_init(struct proxy_routes *r, const char *domain)
{
	memset(r, 0, sizeof(*r));
	r->domain = xstrdup(domain);
}

static void
proxy_app_free(struct proxy_app *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->ndomains; i++)
		free(a->domains[i]);
	free(a->domains);
	free(a->backends);
	free(a);
}

static void
proxy_hosts_clear(struct proxy_routes *r)
{
	for (size_t i = 0; i < r->nhosts_cap; i++)
		free(r->hosts[i].host);
	free(r->hosts);
	r->hosts = NULL;
	r->nhosts_cap = 0;
}

void
proxy_routes_free(struct proxy_routes *r)
{
	struct proxy_app *a, *an;
	struct proxy_backend *b, *bn;

	if (r == NULL)
		return;
	for (a = r->apps; a; a = an) {
		an = a->next;
		proxy_app_free(a);
	}
	for (b = r->backends; b; b = bn) {
		bn = b->next;
		free(b);
	}
	proxy_hosts_clear(r);
	free(r->domain);
	memset(r, 0, sizeof(*r));
}

int
proxy_backend_parse(struct proxy_backend *b, const char *s)
{
	char host[48];
	const char *colon, *hs = s;
	size_t hn;
	unsigned port;

	memset(&b->sa, 0, sizeof(b->sa));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			goto bad;
		hs = s + 1;
		hn = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			goto bad;
		hn = (size_t)(colon - s);
	}
	if (hn == 0 || hn >= sizeof(host))
		goto bad;
	memcpy(host, hs, hn);
	host[hn] = '\0';
	if (strlen(colon + 1) > 5 || parse_port(&port, colon + 1) < 0)
		goto bad;
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)&b->sa;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			goto bad;
		b->salen = sizeof(*in);
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(b->addr, sizeof(b->addr), "%s:%u", host, port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&b->sa;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
		b->salen = sizeof(*in6);
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(b->addr, sizeof(b->addr), "[%s]:%u", host, port);
	}
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a backend address "
	    "(IPV4:PORT or [IPV6]:PORT)", s);
}

struct proxy_backend *
proxy_routes_backend(struct proxy_routes *r, const char *addr)
{
	for (struct proxy_backend *b = r->backends; b; b = b->next)
		if (strcmp(b->addr, addr) == 0)
			return b;
	return NULL;
}

void
proxy_routes_backend_gc(struct proxy_routes *r, struct proxy_backend *b)
{
	struct proxy_backend **pp;

	if (b->refs || b->inflight || b->nconns)
		return;
	for (pp = &r->backends; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			free(b);
			return;
		}
	}
}

struct proxy_app *
proxy_routes_app(struct proxy_routes *r, const char *name)
{
	for (struct proxy_app *a = r->apps; a; a = a->next)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

static uint64_t
proxy_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* Rebuild the custom-domain map from the apps. */
static void
proxy_hosts_rebuild(struct proxy_routes *r)
{
	size_t count = 0, cap = 16;

	proxy_hosts_clear(r);
	for (struct proxy_app *a = r->apps; a; a = a->next)
		count += a->ndomains;
	while (cap < count * 2)
		cap *= 2;
	r->hosts = xcalloc(cap, sizeof(*r->hosts));
	r->nhosts_cap = cap;
	for (struct proxy_app *a = r->apps; a; a = a->next) {
		for (size_t i = 0; i < a->ndomains; i++) {
			size_t n = strlen(a->domains[i]);
			size_t k = proxy_hash(a->domains[i], n) & (cap - 1);

			while (r->hosts[k].host)
				k = (k + 1) & (cap - 1);
			r->hosts[k].host = xstrdup(a->domains[i]);
			r->hosts[k].app = a;
		}
	}
}

size_t
proxy_host_norm(char *out, size_t cap, const char *host, size_t n)
{
	if (n >= cap || n == 0)
		return 0;
	/* "[v6]:port" has no name; a port and a final dot are ignored. */
	if (host[0] == '[')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (host[i] == ':') {
			n = i;
			break;
		}
		out[i] = (char)tolower((unsigned char)host[i]);
	}
	if (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
	return n;
}

struct proxy_app *
proxy_routes_lookup(struct proxy_routes *r, const char *host, size_t n)
{
	char name[256];
	size_t dn = strlen(r->domain);

	if ((n = proxy_host_norm(name, sizeof(name), host, n)) == 0)
		return NULL;
	if (r->nhosts_cap) {
		size_t k = proxy_hash(name, n) & (r->nhosts_cap - 1);

		for (; r->hosts[k].host; k = (k + 1) & (r->nhosts_cap - 1))
			if (strcmp(r->hosts[k].host, name) == 0)
				return r->hosts[k].app;
	}
	/* APP.<domain>: exactly one label before the domain. */
	if (n > dn + 1 && name[n - dn - 1] == '.' &&
	    memcmp(name + n - dn, r->domain, dn) == 0) {
		name[n - dn - 1] = '\0';
		if (strchr(name, '.') == NULL && name_app_is_valid(name))
			return proxy_routes_app(r, name);
	}
	return NULL;
}

struct proxy_backend *
proxy_app_pick(struct proxy_app *a)
{
	if (a->nbackends == 0)
		return NULL;
	return a->backends[a->rr++ % a->nbackends];
}

/* Find or make the backend for a parsed address. */
static struct proxy_backend *
proxy_backend_intern(struct proxy_routes *r, const struct proxy_backend *parsed)
{
	struct proxy_backend *b = proxy_routes_backend(r, parsed->addr);

	if (b)
		return b;
	b = xcalloc(1, sizeof(*b));
	memcpy(b->addr, parsed->addr, sizeof(b->addr));
	b->sa = parsed->sa;
	b->salen = parsed->salen;
	b->next = r->backends;
	r->backends = b;
	return b;
}

static void
proxy_app_unref_backends(struct proxy_routes *r, struct proxy_backend **v,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct proxy_backend *b = v[i];

		if (--b->refs == 0) {
			if (r->on_unrouted)
				r->on_unrouted(b);
			proxy_routes_backend_gc(r, b);
		}
	}
}

int
proxy_routes_set(struct proxy_routes *r, const char *app,
    const char *const *backends, size_t nbackends,
    const char *const *domains, size_t ndomains)
{
	struct proxy_backend parsed[PROXY_BACKENDS_MAX], **nb, **old;
	struct proxy_app *a;
	size_t nold;
	char **nd;

	if (!name_app_is_valid(app))
		return err_set(ERR_INVALID, "'%s' is not an app name", app);
	if (nbackends > PROXY_BACKENDS_MAX)
		return err_set(ERR_TOOBIG, "more than %d backends",
		    PROXY_BACKENDS_MAX);
	if (ndomains > PROXY_DOMAINS_MAX)
		return err_set(ERR_TOOBIG, "more than %d domains",
		    PROXY_DOMAINS_MAX);
	/* Check everything before changing anything. */
	for (size_t i = 0; i < nbackends; i++) {
		if (proxy_backend_parse(&parsed[i], backends[i]) < 0)
			return ERR_INVALID;
		for (size_t j = 0; j < i; j++)
			if (strcmp(parsed[i].addr, parsed[j].addr) == 0)
				return err_set(ERR_INVALID,
				    "backend '%s' listed twice", parsed[i].addr);
	}
	for (size_t i = 0; i < ndomains; i++) {
		const char *d = domains[i];
		size_t n = strlen(d), dn = strlen(r->domain);
		struct proxy_app *owner;

		if (!name_domain_is_valid(d))
			return err_set(ERR_INVALID, "'%s' is not a domain name "
			    "(lower-case DNS name)", d);
		if (strcmp(d, r->domain) == 0 || (n > dn &&
		    d[n - dn - 1] == '.' && strcmp(d + n - dn, r->domain) == 0))
			return err_set(ERR_INVALID, "domain '%s' is under the "
			    "proxy's domain '%s'; apps get APP.%s already", d,
			    r->domain, r->domain);
		owner = proxy_routes_lookup(r, d, n);
		if (owner && strcmp(owner->name, app) != 0)
			return err_set(ERR_CONFLICT,
			    "domain '%s' is routed to app '%s'", d, owner->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(domains[j], d) == 0)
				return err_set(ERR_INVALID,
				    "domain '%s' listed twice", d);
	}

	if ((a = proxy_routes_app(r, app)) == NULL) {
		a = xcalloc(1, sizeof(*a));
		snprintf(a->name, sizeof(a->name), "%s", app);
		a->next = r->apps;
		r->apps = a;
	}
	nb = xcalloc(nbackends ? nbackends : 1, sizeof(*nb));
	for (size_t i = 0; i < nbackends; i++) {
		nb[i] = proxy_backend_intern(r, &parsed[i]);
		nb[i]->refs++;
	}
	nd = xcalloc(ndomains ? ndomains : 1, sizeof(*nd));
	for (size_t i = 0; i < ndomains; i++)
		nd[i] = xstrdup(domains[i]);
	old = a->backends;
	nold = a->nbackends;
	for (size_t i = 0; i < a->ndomains; i++)
		free(a->domains[i]);
	free(a->domains);
	a->backends = nb;
	a->nbackends = nbackends;
	a->domains = nd;
	a->ndomains = ndomains;
	a->rr = 0;
	/* Only now: a backend kept across the swap never drops to 0 refs. */
	proxy_app_unref_backends(r, old, nold);
	free(old);
	proxy_hosts_rebuild(r);
	return 0;
}

int
proxy_routes_rm(struct proxy_routes *r, const char *app)
{
	struct proxy_app **pp, *a;

	for (pp = &r->apps; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, app) == 0) {
			a = *pp;
			*pp = a->next;
			proxy_app_unref_backends(r, a->backends, a->nbackends);
			proxy_app_free(a);
			proxy_hosts_rebuild(r);
			return 0;
		}
	}
	return err_set(ERR_NOTFOUND, "no route for app '%s'", app);
}

int
proxy_routes_maintenance(struct proxy_routes *r, const char *app, bool on)
{
	struct proxy_app *a = proxy_routes_app(r, app);

	if (a == NULL) {
		if (!name_app_is_valid(app))
			return err_set(ERR_INVALID, "'%s' is not an app name",
			    app);
		/* Maintenance before the first deploy is allowed: it makes
		 * an app with no backends. */
		if (proxy_routes_set(r, app, NULL, 0, NULL, 0) < 0)
			return ERR_INVALID;
		a = proxy_routes_app(r, app);
	}
	a->maintenance = on;
	return 0;
}

json_t *
proxy_routes_json(struct proxy_routes *r)
{
	json_t *routes = json_array(), *o;

	for (struct proxy_app *a = r->apps; a; a = a->next) {
		json_t *bs = json_array(), *ds = json_array();

		for (size_t i = 0; i < a->nbackends; i++)
			json_array_append_new(bs, json_pack("{s:s,s:I,s:I}",
			    "addr", a->backends[i]->addr,
			    "inflight", (json_int_t)a->backends[i]->inflight,
			    "idle", (json_int_t)a->backends[i]->nidle));
		for (size_t i = 0; i < a->ndomains; i++)
			json_array_append_new(ds, json_string(a->domains[i]));
		json_array_append_new(routes, json_pack("{s:s,s:o,s:o,s:b}",
		    "app", a->name, "backends", bs, "domains", ds,
		    "maintenance", a->maintenance));
	}
	o = json_pack("{s:s,s:o}", "domain", r->domain, "routes", routes);
	return o;
}

/* Apply one {"app","backends":[..],"domains":[..],"maintenance"} object. */
static int
proxy_routes_apply_json(struct proxy_routes *r, json_t *o)
{
	const char *app = json_string_value(json_object_get(o, "app"));
	json_t *bs = json_object_get(o, "backends");
	json_t *ds = json_object_get(o, "domains");
	json_t *m = json_object_get(o, "maintenance");
	const char *bv[PROXY_BACKENDS_MAX], *dv[PROXY_DOMAINS_MAX];
	size_t nb = 0, nd = 0, i;
	json_t *v;

	if (app == NULL || (bs && !json_is_array(bs)) ||
	    (ds && !json_is_array(ds)) || (m && !json_is_boolean(m)))
		return err_set(ERR_INVALID, "malformed route object");
	if (json_array_size(bs) > PROXY_BACKENDS_MAX ||
	    json_array_size(ds) > PROXY_DOMAINS_MAX)
		return err_set(ERR_TOOBIG, "too many backends or domains");
	json_array_foreach(bs, i, v) {
		if (json_is_object(v))
			v = json_object_get(v, "addr");
		if ((bv[nb++] = json_string_value(v)) == NULL)
			return err_set(ERR_INVALID, "backend is not a string");
	}
	json_array_foreach(ds, i, v)
		if ((dv[nd++] = json_string_value(v)) == NULL)
			return err_set(ERR_INVALID, "domain is not a string");
	if (proxy_routes_set(r, app, bv, nb, dv, nd) < 0)
		return ERR_INVALID;
	if (m)
		proxy_routes_app(r, app)->maintenance = json_is_true(m);
	return 0;
}

/* Whether routes (a JSON array of route objects) names app. */
static bool
proxy_routes_json_has(json_t *routes, const char *app)
{
	size_t i;
	json_t *o;

	json_array_foreach(routes, i, o) {
		const char *name = json_string_value(json_object_get(o, "app"));
		if (name && strcmp(name, app) == 0)
			return true;
	}
	return false;
}

int
proxy_routes_load(struct proxy_routes *r, const char *path, bool prune)
{
	struct buf b;
	json_t *root = NULL, *routes, *o;
	json_error_t je;
	size_t i;
	int rc;

	buf_init(&b, PROXY_ROUTES_FILE_MAX);
	if ((rc = fs_read_file(&b, path, PROXY_ROUTES_FILE_MAX)) < 0)
		goto done;
	root = json_loadb(b.ptr, b.len, JSON_REJECT_DUPLICATES, &je);
	routes = json_object_get(root, "routes");
	if (root == NULL || !json_is_array(routes)) {
		rc = err_set(ERR_INVALID, "'%s' is not a routes file: %s",
		    path, root ? "no \"routes\" array" : je.text);
		goto done;
	}
	for (struct proxy_app *a = r->apps, *next; prune && a; a = next) {
		next = a->next;
		if (!proxy_routes_json_has(routes, a->name))
			proxy_routes_rm(r, a->name);
	}
	json_array_foreach(routes, i, o) {
		if ((rc = proxy_routes_apply_json(r, o)) < 0) {
			rc = err_wrap(rc, "'%s'", path);
			goto done;
		}
	}
	rc = 0;
done:
	json_decref(root);
	buf_free(&b);
	return rc;
}

int
proxy_routes_save(struct proxy_routes *r, const char *path)
{
	json_t *o = proxy_routes_json(r);
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;

	rc = fs_write_atomic(path, s, strlen(s), 0600);
	free(s);
	json_decref(o);
	return rc;
}
