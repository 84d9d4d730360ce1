/*
 * `slipway up`'s configuration: one table of keys (up_keys) serves the
 * file ($SLIPWAY_HOME/slipway.conf or --config, YAML), the flags, the
 * derived addresses and --show-config, so a key cannot exist in one of
 * them and not the others.  Precedence: defaults, then the file, then
 * flags.  Addresses are derived here once and handed to every service;
 * see docs/server.md.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/url.h"
#include "slipway/yml.h"
#include "up_int.h"

#define UP_CONF_MAX (64 << 10)
/* More rotated files than anyone reads; a typo of 50000 is refused. */
#define UP_LOG_KEEP_MAX 1000

enum up_kind {
	UP_ADDR,        /* an IPv4 address to listen on */
	UP_NAME,        /* a DNS name or an IPv4 address */
	UP_DOMAIN,      /* a DNS name */
	UP_PORT,        /* 1-65535 */
	UP_PORT_OFF,    /* 0 (off) or a port */
	UP_URL,         /* http(s)://HOST[:PORT] */
	UP_DRIVER,      /* auto, runc, process */
	UP_BOOL,
	UP_PATH,
	UP_SIZE,
	UP_COUNT,
	UP_LEASE,               /* whole seconds, CTL lease range */
};

struct up_key {
	const char *key;        /* in the file: "section.name" or "name" */
	const char *flag;       /* --flag */
	enum up_kind kind;
	size_t off;             /* in struct up_config */
};

#define UP_AT(f) offsetof(struct up_config, f)

/* In the order the file and --show-config list them. */
static const struct up_key up_keys[] = {
	{ "hostname", "hostname", UP_NAME, UP_AT(hostname) },
	{ "domain", "domain", UP_DOMAIN, UP_AT(domain) },
	{ "public.address", "host", UP_ADDR, UP_AT(public_host) },
	{ "public.http_port", "proxy-port", UP_PORT, UP_AT(http_port) },
	{ "public.https_port", "https-port", UP_PORT_OFF, UP_AT(https_port) },
	{ "public.ssh_port", "ssh-port", UP_PORT, UP_AT(ssh_port) },
	{ "private.address", "private-host", UP_ADDR, UP_AT(private_host) },
	{ "controller.address", "controller-host", UP_ADDR,
	    UP_AT(controller_host) },
	{ "controller.port", "controller-port", UP_PORT,
	    UP_AT(controller_port) },
	{ "controller.url", "controller-url", UP_URL, UP_AT(controller_url) },
	{ "controller.runner_lease", "runner-lease", UP_LEASE,
	    UP_AT(runner_lease) },
	{ "registry.address", "registry-host", UP_ADDR, UP_AT(registry_host) },
	{ "registry.port", "registry-port", UP_PORT, UP_AT(registry_port) },
	{ "registry.url", "registry-url", UP_URL, UP_AT(registry_url) },
	{ "registry.keep_releases", "keep-releases", UP_COUNT,
	    UP_AT(keep_releases) },
	{ "runner.driver", "driver", UP_DRIVER, UP_AT(driver) },
	{ "runner.publish_ports", "publish-ports", UP_BOOL,
	    UP_AT(publish_ports) },
	{ "logs.dir", "log-dir", UP_PATH, UP_AT(log_dir) },
	{ "logs.max_size", "log-max-size", UP_SIZE, UP_AT(log_max_size) },
	{ "logs.keep", "log-keep", UP_COUNT, UP_AT(log_keep) },
};
#define UP_NKEYS (sizeof(up_keys) / sizeof(up_keys[0]))
_Static_assert(UP_NKEYS <= 32, "up_config.given has a bit per key");

/* Options that are not configuration keys. */
enum { UP_OPT_HOME = 1000, UP_OPT_CONFIG, UP_OPT_SHOW, UP_OPT_JSON,
	UP_OPT_KEY };

static char **
up_str(struct up_config *c, const struct up_key *k)
{
	return (char **)((char *)c + k->off);
}

static void
up_defaults(struct up_config *c)
{
	memset(c, 0, sizeof(*c));
	c->domain = xstrdup("localhost");
	c->public_host = xstrdup("127.0.0.1");
	c->private_host = xstrdup("127.0.0.1");
	c->http_port = 8080;
	c->ssh_port = 2222;
	c->controller_port = 7070;
	c->registry_port = 5000;
	c->keep_releases = 10;
	c->runner_lease = 5;
	c->driver = xstrdup("auto");
	c->log_max_size = 10 << 20;
	c->log_keep = 5;
}

static bool
up_is_string(enum up_kind kind)
{
	return kind == UP_ADDR || kind == UP_NAME || kind == UP_DOMAIN ||
	    kind == UP_URL || kind == UP_DRIVER || kind == UP_PATH;
}

void
up_config_free(struct up_config *c)
{
	for (size_t i = 0; i < UP_NKEYS; i++)
		if (up_is_string(up_keys[i].kind)) {
			free(*up_str(c, &up_keys[i]));
			*up_str(c, &up_keys[i]) = NULL;
		}
	free(c->home);
	free(c->file);
	c->home = c->file = NULL;
}

static bool
up_is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

/* Set key k from text; on a bad value, ERR_INVALID with the reason. */
static int
up_set(struct up_config *c, const struct up_key *k, const char *v)
{
	unsigned long long n;
	char *hostport = NULL;
	bool plain;

	switch (k->kind) {
	case UP_ADDR:
		if (!up_is_ipv4(v))
			return err_set(ERR_INVALID, "'%.100s' is not an IPv4 "
			    "address", v);
		break;
	case UP_NAME:
		if (!up_is_ipv4(v) && !name_domain_is_valid(v))
			return err_set(ERR_INVALID, "'%.100s' is not a host name "
			    "(lower-case DNS name) or an IPv4 address", v);
		break;
	case UP_DOMAIN:
		if (!name_domain_is_valid(v))
			return err_set(ERR_INVALID, "'%.100s' is not a domain "
			    "name (lower-case DNS name)", v);
		break;
	case UP_URL:
		if ((strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0) ||
		    url_service_parse(&hostport, &plain, v) < 0)
			return err_set(ERR_INVALID, "'%.100s' is not a URL "
			    "(http://HOST:PORT or https://HOST:PORT, no path)",
			    v);
		free(hostport);
		break;
	case UP_DRIVER:
		if (strcmp(v, "auto") != 0 && strcmp(v, "runc") != 0 &&
		    strcmp(v, "process") != 0)
			return err_set(ERR_INVALID, "'%.100s' is not a driver "
			    "(auto, runc or process)", v);
		break;
	case UP_PATH:
		if (v[0] == '\0' || strlen(v) > 1024)
			return err_set(ERR_INVALID, "'%.100s' is not a "
			    "directory", v);
		break;
	case UP_PORT:
	case UP_PORT_OFF:
		if (k->kind == UP_PORT_OFF && strcmp(v, "0") == 0) {
			*(unsigned *)((char *)c + k->off) = 0;
			return 0;
		}
		return parse_port((unsigned *)((char *)c + k->off), v);
	case UP_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0)
			*(bool *)((char *)c + k->off) = true;
		else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0)
			*(bool *)((char *)c + k->off) = false;
		else
			return err_set(ERR_INVALID, "'%.100s' is not true or "
			    "false", v);
		return 0;
	case UP_SIZE:
		if (parse_size(&n, v) < 0 || n < 4096)
			return err_set(ERR_INVALID, "'%.100s' is not a size of at "
			    "least 4K (10M, 1G)", v);
		*(uint64_t *)((char *)c + k->off) = n;
		return 0;
	case UP_LEASE:
		if (parse_uint(&n, v, 2, 86400) < 0)
			return err_set(ERR_INVALID, "'%.100s' is not a number "
			    "of seconds from 2 to 86400", v);
		*(unsigned *)((char *)c + k->off) = (unsigned)n;
		return 0;
	case UP_COUNT:
		if (parse_uint(&n, v, 0, UP_LOG_KEEP_MAX) < 0)
			return err_set(ERR_INVALID, "'%.100s' is not a number "
			    "from 0 to %d", v, UP_LOG_KEEP_MAX);
		*(unsigned *)((char *)c + k->off) = (unsigned)n;
		return 0;
	}
	free(*up_str(c, k));
	*up_str(c, k) = xstrdup(v);
	return 0;
}

static int
up_set_given(struct up_config *c, const struct up_key *k, const char *v)
{
	int rc = up_set(c, k, v);

	if (rc == 0)
		c->given |= 1u << (k - up_keys);
	return rc;
}

static const struct up_key *
up_key_find(const char *key)
{
	for (size_t i = 0; i < UP_NKEYS; i++)
		if (strcmp(up_keys[i].key, key) == 0)
			return &up_keys[i];
	return NULL;
}

/* "address, http_port, ..." for a section, or the top-level names. */
static void
up_known(struct buf *b, const char *section, size_t slen)
{
	const char *last = NULL;
	size_t lastn = 0;

	for (size_t i = 0; i < UP_NKEYS; i++) {
		const char *k = up_keys[i].key, *dot = strchr(k, '.');
		const char *name = k;
		size_t n;

		if (section) {
			if (dot == NULL || (size_t)(dot - k) != slen ||
			    strncmp(k, section, slen) != 0)
				continue;
			name = dot + 1;
			n = strlen(name);
		} else {
			n = dot ? (size_t)(dot - k) : strlen(k);
		}
		if (last && lastn == n && strncmp(last, name, n) == 0)
			continue;
		buf_printf(b, "%s%.*s", b->len ? ", " : "", (int)n, name);
		last = name;
		lastn = n;
	}
}

static bool
up_is_section(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < UP_NKEYS; i++)
		if (strncmp(up_keys[i].key, name, n) == 0 &&
		    up_keys[i].key[n] == '.')
			return true;
	return false;
}

/* One key: value from the file. */
static int
up_file_value(struct up_config *c, const char *file, const char *key,
    const struct yml *v, unsigned line)
{
	const struct up_key *k = up_key_find(key);
	const char *dot = strchr(key, '.');
	struct buf known;
	int rc;

	if (k == NULL) {
		buf_init(&known, 0);
		if (dot == NULL && up_is_section(key)) {
			up_known(&known, key, strlen(key));
			rc = err_set(ERR_INVALID, "%s line %u: '%s' is a section "
			    "(%s), not a value", file, line, key, known.ptr);
		} else {
			up_known(&known, dot ? key : NULL,
			    dot ? (size_t)(dot - key) : 0);
			rc = err_set(ERR_INVALID, "%s line %u: unknown key "
			    "'%.60s' (known%s: %s)", file, line, key,
			    dot ? " there" : "", known.ptr ? known.ptr : "");
		}
		buf_free(&known);
		return rc;
	}
	if (yml_is_null(v))
		return 0;
	if (v->kind != YML_SCALAR)
		return err_set(ERR_INVALID, "%s line %u: %s takes one value, "
		    "not a %s", file, line, key, v->kind == YML_MAP ? "section" :
		    "list");
	if ((rc = up_set_given(c, k, v->value)) < 0)
		return err_wrap(rc, "%s line %u: %s", file, line, key);
	return 0;
}

static int
up_file_load(struct up_config *c, const char *file, bool must)
{
	struct yml *root = NULL;
	struct buf text;
	int rc;

	if ((rc = fs_read_file(&text, file, UP_CONF_MAX)) < 0) {
		if (rc == ERR_NOTFOUND && !must)
			return 0;
		return err_wrap(rc, "cannot read the configuration");
	}
	c->file = xstrdup(file);
	rc = yml_load(&root, file, text.ptr ? text.ptr : "", text.len);
	buf_free(&text);
	if (rc < 0)
		return rc;
	if (!yml_is_null(root) && root->kind != YML_MAP)
		rc = err_set(ERR_INVALID, "%s line %u: the file is a list of "
		    "key: value lines, not a %s", file, root->line,
		    root->kind == YML_SEQ ? "list" : "single value");
	for (size_t i = 0; rc == 0 && root && root->kind == YML_MAP &&
	    i + 1 < root->n; i += 2) {
		const struct yml *key = root->items[i], *v = root->items[i + 1];

		if (v->kind == YML_MAP && up_is_section(key->value)) {
			for (size_t j = 0; rc == 0 && j + 1 < v->n; j += 2) {
				char *full = xasprintf("%s.%s", key->value,
				    v->items[j]->value);
				rc = up_file_value(c, file, full,
				    v->items[j + 1], v->items[j]->line);
				free(full);
			}
		} else {
			rc = up_file_value(c, file, key->value, v, key->line);
		}
	}
	yml_free(root);
	return rc;
}

/* The URL a service is reached by when none is given: where it
 * listens, and loopback for "every address". */
static char *
up_url_derive(const char *host, unsigned port)
{
	return xasprintf("http://%s:%u", strcmp(host, "0.0.0.0") == 0 ?
	    "127.0.0.1" : host, port);
}

/* Two listeners on one port of one address (or of every address). */
static int
up_check_clash(const struct up_config *c)
{
	const struct { const char *key, *host; unsigned port; } l[] = {
		{ "public.http_port", c->public_host, c->http_port },
		{ "public.https_port", c->public_host, c->https_port },
		{ "public.ssh_port", c->public_host, c->ssh_port },
		{ "controller.port", c->controller_host, c->controller_port },
		{ "registry.port", c->registry_host, c->registry_port },
	};
	size_t n = sizeof(l) / sizeof(l[0]);

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (l[i].port && l[i].port == l[j].port &&
			    (strcmp(l[i].host, l[j].host) == 0 ||
			    strcmp(l[i].host, "0.0.0.0") == 0 ||
			    strcmp(l[j].host, "0.0.0.0") == 0))
				return err_set(ERR_INVALID, "%s and %s are both "
				    "port %u on %s: give each its own", l[i].key,
				    l[j].key, l[i].port, l[i].host);
	return 0;
}

static int
up_derive(struct up_config *c)
{
	if (c->https_port)
		return err_set(ERR_UNSUPPORTED, "public.https_port: the proxy "
		    "has no TLS listener yet; leave it 0 (off)");
	if (c->hostname == NULL)
		c->hostname = xstrdup(strcmp(c->public_host, "0.0.0.0") == 0 ?
		    "127.0.0.1" : c->public_host);
	if (c->controller_host == NULL)
		c->controller_host = xstrdup(c->private_host);
	if (c->registry_host == NULL)
		c->registry_host = xstrdup(c->private_host);
	if (c->controller_url == NULL)
		c->controller_url = up_url_derive(c->controller_host,
		    c->controller_port);
	if (c->registry_url == NULL)
		c->registry_url = up_url_derive(c->registry_host,
		    c->registry_port);
	if (c->log_dir == NULL)
		c->log_dir = fs_join(c->home, "logs");
	return up_check_clash(c);
}

int
up_config_load(struct up_config *c, struct up_request *req, int argc,
    char **argv)
{
	struct option longopts[UP_NKEYS + 5];
	struct { const struct up_key *k; const char *v; } *given;
	const char *home = NULL, *file = NULL;
	size_t ngiven = 0;
	char *path;
	int ch, rc;

	up_defaults(c);
	memset(req, 0, sizeof(*req));
	for (size_t i = 0; i < UP_NKEYS; i++)
		longopts[i] = (struct option){ up_keys[i].flag,
		    up_keys[i].kind == UP_BOOL ? no_argument :
		    required_argument, NULL, UP_OPT_KEY + (int)i };
	longopts[UP_NKEYS] = (struct option){ "home", required_argument, NULL,
	    UP_OPT_HOME };
	longopts[UP_NKEYS + 1] = (struct option){ "config", required_argument,
	    NULL, UP_OPT_CONFIG };
	longopts[UP_NKEYS + 2] = (struct option){ "show-config", no_argument,
	    NULL, UP_OPT_SHOW };
	longopts[UP_NKEYS + 3] = (struct option){ "json", no_argument, NULL,
	    UP_OPT_JSON };
	longopts[UP_NKEYS + 4] = (struct option){ NULL, 0, NULL, 0 };
	given = xcalloc((size_t)argc + 1, sizeof(*given));
	/* Flags are applied after the file, whatever their place. */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case UP_OPT_HOME: home = optarg; break;
		case UP_OPT_CONFIG: file = optarg; break;
		case UP_OPT_SHOW: req->show = true; break;
		case UP_OPT_JSON: req->json = true; break;
		default:
			if (ch < UP_OPT_KEY || ch >= UP_OPT_KEY + (int)UP_NKEYS) {
				free(given);
				return cmdline_usage_error(argv[0],
				    "unknown option");
			}
			given[ngiven].k = &up_keys[ch - UP_OPT_KEY];
			given[ngiven].v = given[ngiven].k->kind == UP_BOOL ?
			    "true" : optarg;
			ngiven++;
		}
	}
	if (optind != argc) {
		free(given);
		return cmdline_usage_error(argv[0], "unexpected '%s'",
		    argv[optind]);
	}
	if (req->json && !req->show) {
		free(given);
		return cmdline_usage_error(argv[0], "--json goes with "
		    "--show-config");
	}
	c->home = xstrdup(home_dir_option(home));
	path = file ? xstrdup(file) : home_config_path(c->home);
	rc = up_file_load(c, path, file != NULL);
	free(path);
	if (rc < 0) {
		free(given);
		return cmdline_fail(argv[0]);
	}
	for (size_t i = 0; i < ngiven; i++)
		if (up_set_given(c, given[i].k, given[i].v) < 0) {
			rc = cmdline_usage_error(argv[0], "--%s: %s",
			    given[i].k->flag, err_last());
			free(given);
			return rc;
		}
	free(given);
	if (up_derive(c) < 0)
		return cmdline_fail(argv[0]);
	return 0;
}

size_t
up_config_flags(const char *const **flags)
{
	static const char *names[UP_NKEYS];

	for (size_t i = 0; i < UP_NKEYS; i++)
		names[i] = up_keys[i].flag;
	*flags = names;
	return UP_NKEYS;
}

/* A YAML scalar that reads back as the same string. */
static void
up_print_scalar(FILE *out, const char *s)
{
	if (s[0] && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
	    "VWXYZ0123456789._/:-") == strlen(s) && s[0] != '-') {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			fprintf(out, "\\x%02x", (unsigned char)*p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void
up_size_text(char *out, size_t len, uint64_t n)
{
	static const char units[] = "KMG";
	int u = -1;

	while (u < 2 && n >= 1024 && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, len, "%llu", (unsigned long long)n);
	else
		snprintf(out, len, "%llu%c", (unsigned long long)n, units[u]);
}

static void
up_value_text(const struct up_config *c, const struct up_key *k, char *buf,
    size_t len, const char **str)
{
	const char *p = (const char *)c + k->off;

	*str = NULL;
	switch (k->kind) {
	case UP_PORT: case UP_PORT_OFF: case UP_COUNT: case UP_LEASE:
		snprintf(buf, len, "%u", *(const unsigned *)p);
		break;
	case UP_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
		break;
	case UP_SIZE:
		up_size_text(buf, len, *(const uint64_t *)p);
		break;
	default:
		*str = *(char *const *)p;
		break;
	}
}

static void
up_print_json(const struct up_config *c, FILE *out)
{
	json_t *root = json_object();
	char *s;

	for (size_t i = 0; i < UP_NKEYS; i++) {
		const struct up_key *k = &up_keys[i];
		const char *dot = strchr(k->key, '.'), *str;
		json_t *obj = root, *v;
		char num[32];

		if (dot) {
			char *sec = xstrndup(k->key, (size_t)(dot - k->key));
			if ((obj = json_object_get(root, sec)) == NULL) {
				obj = json_object();
				json_object_set_new(root, sec, obj);
			}
			free(sec);
		}
		up_value_text(c, k, num, sizeof(num), &str);
		if (k->kind == UP_BOOL)
			v = json_boolean(*(const bool *)((const char *)c +
			    k->off));
		else if (k->kind == UP_SIZE)
			v = json_integer((json_int_t)*(const uint64_t *)
			    ((const char *)c + k->off));
		else if (str)
			v = json_string(str);
		else
			v = json_integer(strtoll(num, NULL, 10));
		json_object_set_new(obj, dot ? dot + 1 : k->key, v);
	}
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fprintf(out, "%s\n", s);
	free(s);
	json_decref(root);
}

void
up_config_print(const struct up_config *c, bool json, bool given_only,
    FILE *out)
{
	const char *section = NULL;
	size_t slen = 0;

	if (json) {
		up_print_json(c, out);
		return;
	}
	if (given_only)
		fprintf(out, "# slipway.conf, written by slipway install: only "
		    "what it was told;\n# 'slipway up --show-config' shows "
		    "every key.\n");
	else
		fprintf(out, "# slipway.conf: the effective configuration%s%s\n",
		    c->file ? ", read from " : " (embedded defaults and flags)",
		    c->file ? c->file : "");
	for (size_t i = 0; i < UP_NKEYS; i++) {
		const struct up_key *k = &up_keys[i];
		const char *dot = strchr(k->key, '.'), *str;
		char num[32];

		if (given_only && !(c->given & (1u << i)))
			continue;

		if (dot && (section == NULL || slen != (size_t)(dot - k->key) ||
		    strncmp(section, k->key, slen) != 0)) {
			section = k->key;
			slen = (size_t)(dot - k->key);
			fprintf(out, "%.*s:\n", (int)slen, section);
		}
		fprintf(out, "%s%s: ", dot ? "  " : "", dot ? dot + 1 : k->key);
		up_value_text(c, k, num, sizeof(num), &str);
		if (str)
			up_print_scalar(out, str);
		else
			fputs(num, out);
		fprintf(out, "%*s# --%s\n", 2, "", k->flag);
	}
}
