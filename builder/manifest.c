/*
 * The two YAML documents a build reads: the app's slipway.yml (strict:
 * every key known, every value checked, errors name the line) and a
 * buildpack's bin/release output (lenient about keys, as Heroku is, strict
 * about the process types it hands us).  Grammar in
 * include/slipway/builder.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/slug.h"

#define MANIFEST "slipway.yml"
#define RELEASE "bin/release"
#define HEALTH_PATH_MAX 1024
#define BUILDPACK_REF_MAX 1024

static int
bad(const char *what, const struct yml *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(ERR_INVALID, "%s line %u: %s", what, n ? n->line : 1,
	    msg);
}

static const char *
kind_name(const struct yml *n)
{
	if (yml_is_null(n))
		return "nothing";
	return n->kind == YML_MAP ? "a mapping" :
	    n->kind == YML_SEQ ? "a list" : "a value";
}

/* A one-line printable value (no control characters). */
static bool
text_is_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool
proc_type_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SLUG_PROC_TYPE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* A mapping of process type to command into *out (a procfile). */
static int
parse_procs(struct slug_procfile **out, const char *what,
    const struct yml *map, const char *key)
{
	struct slug_procfile *pf = xcalloc(1, sizeof(*pf));
	int rc = 0;

	*out = NULL;
	if (yml_is_null(map)) {
		*out = pf;
		return 0;
	}
	if (map->kind != YML_MAP) {
		rc = bad(what, map, "'%s' must be a mapping of process type to "
		    "command, not %s", key, kind_name(map));
		goto done;
	}
	if (map->n / 2 > SLUG_PROC_MAX) {
		rc = bad(what, map, "'%s' has more than %d process types", key,
		    SLUG_PROC_MAX);
		goto done;
	}
	pf->procs = xcalloc(map->n / 2 + 1, sizeof(*pf->procs));
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct yml *t = map->items[i], *c = map->items[i + 1];

		if (!proc_type_is_valid(t->value)) {
			rc = bad(what, t, "'%.60s' is not a process type: "
			    "letters, digits, '_' and '-', at most %d", t->value,
			    SLUG_PROC_TYPE_MAX);
			goto done;
		}
		if (c->kind != YML_SCALAR || yml_is_null(c) ||
		    c->len == 0) {
			rc = bad(what, c, "process type '%s' needs a command",
			    t->value);
			goto done;
		}
		if (c->len > SLUG_PROC_LINE_MAX || !text_is_line(c->value)) {
			rc = bad(what, c, "the command of '%s' must be one line "
			    "of at most %d bytes", t->value,
			    SLUG_PROC_LINE_MAX);
			goto done;
		}
		pf->procs[pf->n].type = xstrdup(t->value);
		pf->procs[pf->n].command = xstrdup(c->value);
		pf->n++;
	}
	*out = pf;
	pf = NULL;
done:
	slug_procfile_free(pf);
	return rc;
}

static int
parse_seconds(unsigned *out, const struct yml *n, const char *key,
    unsigned max)
{
	unsigned long long v;

	if (n->kind != YML_SCALAR || !n->plain || n->len == 0)
		return bad(MANIFEST, n, "healthcheck '%s' must be a number of "
		    "seconds", key);
	if (parse_uint(&v, n->value, 1, max) < 0)
		return bad(MANIFEST, n, "healthcheck '%s' is 1 to %u seconds, "
		    "not '%.40s'", key, max, n->value);
	*out = (unsigned)v;
	return 0;
}

static int
parse_health(struct builder_manifest *m, const struct yml *h)
{
	int rc;

	if (yml_is_null(h))
		return 0;
	if (h->kind != YML_MAP)
		return bad(MANIFEST, h, "'healthcheck' must be a mapping (path, "
		    "interval, timeout, deadline), not %s", kind_name(h));
	for (size_t i = 0; i + 1 < h->n; i += 2) {
		const struct yml *k = h->items[i], *v = h->items[i + 1];

		if (strcmp(k->value, "path") == 0) {
			if (v->kind != YML_SCALAR || v->value[0] != '/'
			    || v->len > HEALTH_PATH_MAX ||
			    strpbrk(v->value, " #") || !text_is_line(v->value))
				return bad(MANIFEST, v, "healthcheck 'path' is "
				    "an HTTP path starting with '/', without "
				    "spaces");
			free(m->health_path);
			m->health_path = xstrdup(v->value);
		} else if (strcmp(k->value, "interval") == 0) {
			if ((rc = parse_seconds(&m->health_interval, v,
			    "interval", 600)) < 0)
				return rc;
		} else if (strcmp(k->value, "timeout") == 0) {
			if ((rc = parse_seconds(&m->health_timeout, v,
			    "timeout", 600)) < 0)
				return rc;
		} else if (strcmp(k->value, "deadline") == 0) {
			if ((rc = parse_seconds(&m->health_deadline, v,
			    "deadline", 3600)) < 0)
				return rc;
		} else {
			return bad(MANIFEST, k, "unknown key 'healthcheck.%.60s' "
			    "(known: path, interval, timeout, deadline)",
			    k->value);
		}
	}
	if (m->health_path == NULL)
		m->health_path = xstrdup("/");
	return 0;
}

static int
parse_buildpacks(struct builder_manifest *m, const struct yml *l)
{
	if (yml_is_null(l))
		return 0;
	if (l->kind != YML_SEQ)
		return bad(MANIFEST, l, "'buildpacks' must be a list, not %s",
		    kind_name(l));
	if (l->n > BUILDER_BUILDPACKS_MAX)
		return bad(MANIFEST, l, "at most %d buildpacks",
		    BUILDER_BUILDPACKS_MAX);
	m->buildpacks = xcalloc(l->n + 1, sizeof(*m->buildpacks));
	for (size_t i = 0; i < l->n; i++) {
		const struct yml *v = l->items[i];
		if (v->kind != YML_SCALAR || v->len == 0 ||
		    v->len > BUILDPACK_REF_MAX || !text_is_line(v->value) ||
		    strchr(v->value, ' ') || v->value[0] == '-')
			return bad(MANIFEST, v, "a buildpack is an installed "
			    "buildpack's name, a git URL or an http(s) tarball "
			    "URL");
		if (name_buildpack_check(v->value) < 0)
			return bad(MANIFEST, v, "%s", err_last());
		m->buildpacks[m->nbuildpacks++] = xstrdup(v->value);
	}
	return 0;
}

static bool
branch_is_valid(const char *b)
{
	size_t n = strlen(b);

	/* as the controller checks it (store_app_set_branch) */
	if (n == 0 || n > 200 || b[0] == '-' || b[0] == '/' ||
	    strstr(b, "..") || strpbrk(b, " ~^:?*[\\") || b[n - 1] == '/' ||
	    b[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)b[i] < 0x21 || b[i] == 0x7f)
			return false;
	return true;
}

int
builder_manifest_parse(struct builder_manifest **out, const char *text,
    size_t len)
{
	struct builder_manifest *m = xcalloc(1, sizeof(*m));
	struct yml *root = NULL;
	int rc;

	*out = NULL;
	if (len > BUILDER_YAML_MAX) {
		rc = err_set(ERR_TOOBIG, "slipway.yml is over %d bytes",
		    BUILDER_YAML_MAX);
		goto done;
	}
	if ((rc = yml_load(&root, MANIFEST, text, len)) < 0)
		goto done;
	if (yml_is_null(root))
		goto ok;
	if (root->kind != YML_MAP) {
		rc = bad(MANIFEST, root, "the top level must be a mapping "
		    "(deploy_branch, buildpacks, stack, healthcheck, processes), not "
		    "%s", kind_name(root));
		goto done;
	}
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		const struct yml *k = root->items[i];
		const struct yml *v = root->items[i + 1];

		if (strcmp(k->value, "deploy_branch") == 0) {
			if (v->kind != YML_SCALAR ||
			    !branch_is_valid(v->value)) {
				rc = bad(MANIFEST, v, "'deploy_branch' must be "
				    "a branch name");
				goto done;
			}
			m->deploy_branch = xstrdup(v->value);
		} else if (strcmp(k->value, "buildpacks") == 0) {
			if ((rc = parse_buildpacks(m, v)) < 0)
				goto done;
		} else if (strcmp(k->value, "stack") == 0) {
			/* the stack rule is the app rule (image/stacks.c) */
			if (v->kind != YML_SCALAR ||
			    !name_app_is_valid(v->value)) {
				rc = bad(MANIFEST, v, "'stack' must be a stack's "
				    "name (`slipway stacks` lists them)");
				goto done;
			}
			free(m->stack);
			m->stack = xstrdup(v->value);
		} else if (strcmp(k->value, "healthcheck") == 0) {
			if ((rc = parse_health(m, v)) < 0)
				goto done;
		} else if (strcmp(k->value, "processes") == 0) {
			if ((rc = parse_procs(&m->processes, MANIFEST, v,
			    "processes")) < 0)
				goto done;
		} else {
			rc = bad(MANIFEST, k, "unknown key '%.60s' (known: "
			    "deploy_branch, buildpacks, stack, healthcheck, "
			    "processes)", k->value);
			goto done;
		}
	}
ok:
	*out = m;
	m = NULL;
	rc = 0;
done:
	yml_free(root);
	builder_manifest_free(m);
	return rc;
}

void
builder_manifest_free(struct builder_manifest *m)
{
	if (m == NULL)
		return;
	free(m->deploy_branch);
	for (size_t i = 0; i < m->nbuildpacks; i++)
		free(m->buildpacks[i]);
	free(m->buildpacks);
	free(m->stack);
	free(m->health_path);
	slug_procfile_free(m->processes);
	free(m);
}

char *
builder_manifest_health_json(const struct builder_manifest *m)
{
	json_t *j;
	char *s;

	if (m == NULL || m->health_path == NULL)
		return NULL;
	j = json_pack("{s:s}", "path", m->health_path);
	if (m->health_interval)
		json_object_set_new(j, "interval",
		    json_integer(m->health_interval));
	if (m->health_timeout)
		json_object_set_new(j, "timeout",
		    json_integer(m->health_timeout));
	if (m->health_deadline)
		json_object_set_new(j, "deadline",
		    json_integer(m->health_deadline));
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	return s;
}

/* ---- bin/release ---- */

int
builder_release_parse(struct builder_release **out, const char *text,
    size_t len)
{
	struct builder_release *r = xcalloc(1, sizeof(*r));
	struct yml *root = NULL;
	const struct yml *v;
	int rc;

	*out = NULL;
	if (len > BUILDER_YAML_MAX) {
		rc = err_set(ERR_TOOBIG, "bin/release printed more than %d "
		    "bytes", BUILDER_YAML_MAX);
		goto done;
	}
	if ((rc = yml_load(&root, RELEASE, text, len)) < 0)
		goto done;
	if (!yml_is_null(root) && root->kind != YML_MAP) {
		rc = bad(RELEASE, root, "the output must be a YAML mapping "
		    "(default_process_types, ...), not %s", kind_name(root));
		goto done;
	}
	if ((rc = parse_procs(&r->default_process_types, RELEASE,
	    yml_get(root, "default_process_types"),
	    "default_process_types")) < 0)
		goto done;
	if ((v = yml_get(root, "addons")) && !yml_is_null(v))
		r->addons = v->kind == YML_SEQ ? v->n : 1;
	if ((v = yml_get(root, "config_vars")) &&
	    !yml_is_null(v))
		r->config_vars = v->kind == YML_MAP ? v->n / 2 : 1;
	*out = r;
	r = NULL;
done:
	yml_free(root);
	builder_release_free(r);
	return rc;
}

void
builder_release_free(struct builder_release *r)
{
	if (r == NULL)
		return;
	slug_procfile_free(r->default_process_types);
	free(r);
}
