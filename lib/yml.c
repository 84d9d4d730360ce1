/*
 * A small YAML tree over libyaml's event parser; see include/slipway/yml.h.
 * An app's slipway.yml and a buildpack's bin/release output come from
 * people we do not control, so the tree is capped
 * (nodes, depth, scalar size), aliases are refused (no billion laughs),
 * a second document is an error, and duplicate mapping keys are errors
 * naming their line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "slipway/yml.h"
#include "slipway/alloc.h"
#include "slipway/err.h"

#define YML_NODES_MAX 4096
#define YML_DEPTH_MAX 16
#define YML_SCALAR_MAX 8192

void
yml_free(struct yml *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		yml_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

bool
yml_is_null(const struct yml *n)
{
	return n == NULL || (n->kind == YML_SCALAR && n->plain &&
	    (n->len == 0 || strcmp(n->value, "~") == 0 ||
	    strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
	    strcmp(n->value, "NULL") == 0));
}

static void
yml_append(struct yml *parent, struct yml *child)
{
	parent->items = xrealloc(parent->items, (parent->n + 1) *
	    sizeof(*parent->items));
	parent->items[parent->n++] = child;
}

static int
yml_fail(const char *what, unsigned line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(ERR_INVALID, "%s line %u: %s", what, line, msg);
}

/* A key of map (its items alternate key, value) that is already there? */
static bool
yml_key_taken(const struct yml *map,
    const struct yml *key)
{
	if (key->kind != YML_SCALAR)
		return false;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->items[i]->kind == YML_SCALAR &&
		    map->items[i]->len == key->len &&
		    memcmp(map->items[i]->value, key->value, key->len) == 0)
			return true;
	return false;
}

int
yml_load(struct yml **out, const char *what,
    const char *text, size_t len)
{
	struct yml *stack[YML_DEPTH_MAX + 1], *root = NULL,
	    *node;
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, rc = 0;
	size_t nodes = 0;
	bool done = false;

	*out = NULL;
	if (!yaml_parser_initialize(&p))
		return err_set(ERR_IO, "cannot start the YAML parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		unsigned line;

		if (!yaml_parser_parse(&p, &ev)) {
			rc = yml_fail(what,
			    (unsigned)p.problem_mark.line + 1, "%s%s%s",
			    p.problem ? p.problem : "not valid YAML",
			    p.context ? " " : "", p.context ? p.context : "");
			break;
		}
		line = (unsigned)ev.start_mark.line + 1;
		node = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = yml_fail(what, line,
				    "only one YAML document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = yml_fail(what, line,
			    "aliases (*name) are not allowed");
			break;
		case YAML_SCALAR_EVENT:
			if (ev.data.scalar.length > YML_SCALAR_MAX) {
				rc = yml_fail(what, line,
				    "a value is longer than %d bytes",
				    YML_SCALAR_MAX);
				break;
			}
			if (memchr(ev.data.scalar.value, '\0',
			    ev.data.scalar.length)) {
				rc = yml_fail(what, line,
				    "a value has a NUL character");
				break;
			}
			node = xcalloc(1, sizeof(*node));
			node->kind = YML_SCALAR;
			node->value = xstrndup((const char *)
			    ev.data.scalar.value, ev.data.scalar.length);
			node->len = ev.data.scalar.length;
			node->plain = ev.data.scalar.style ==
			    YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			node = xcalloc(1, sizeof(*node));
			node->kind = ev.type == YAML_SEQUENCE_START_EVENT ?
			    YML_SEQ : YML_MAP;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (rc == 0 && node) {
			node->line = line;
			if (++nodes > YML_NODES_MAX) {
				rc = yml_fail(what, line,
				    "more than %d values",
				    YML_NODES_MAX);
			} else if (depth == 0) {
				root = node;
				node = NULL;
			} else {
				struct yml *parent = stack[depth - 1];
				/* a map's items: key, value, key, value ... */
				if (parent->kind == YML_MAP &&
				    parent->n % 2 == 0 &&
				    node->kind != YML_SCALAR)
					rc = yml_fail(what, line,
					    "a key must be a plain value");
				else if (parent->kind == YML_MAP &&
				    parent->n % 2 == 0 &&
				    yml_key_taken(parent, node))
					rc = yml_fail(what, line,
					    "'%.60s' is given twice",
					    node->value);
				if (rc == 0) {
					yml_append(parent, node);
					node = NULL;
				}
			}
			if (rc == 0 && (ev.type == YAML_SEQUENCE_START_EVENT ||
			    ev.type == YAML_MAPPING_START_EVENT)) {
				struct yml *c = depth == 0 ? root :
				    stack[depth - 1]->items[stack[depth -
				    1]->n - 1];
				if (depth == YML_DEPTH_MAX)
					rc = yml_fail(what, line,
					    "nested deeper than %d levels",
					    YML_DEPTH_MAX);
				else
					stack[depth++] = c;
			}
		}
		yml_free(node);
		yaml_event_delete(&ev);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&p);
	if (rc < 0) {
		yml_free(root);
		return rc;
	}
	*out = root;
	return 0;
}

const struct yml *
yml_get(const struct yml *map, const char *key)
{
	if (map == NULL || map->kind != YML_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (strcmp(map->items[i]->value, key) == 0)
			return map->items[i + 1];
	return NULL;
}
