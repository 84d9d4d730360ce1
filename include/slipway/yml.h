/*
 * A small YAML tree over libyaml's event parser, for the YAML documents
 * slipway reads: an app's slipway.yml, a buildpack's bin/release output and
 * the server's slipway.conf.  Capped (nodes, depth, scalar size), no
 * aliases, one document, duplicate keys are errors naming their line.
 */
#ifndef SLIPWAY_YML_H
#define SLIPWAY_YML_H

#include <stdbool.h>
#include <stddef.h>


enum yml_kind {
	YML_SCALAR,
	YML_SEQ,
	YML_MAP,
};

/* One node.  A map's items alternate key (always a scalar) and value;
 * keys are distinct.  line is 1-based. */
struct yml {
	enum yml_kind kind;
	unsigned line;
	char *value;            /* scalars: NUL-free text */
	size_t len;
	bool plain;             /* unquoted: "~", "null" and "" mean null */
	struct yml **items;
	size_t n;
};

/* Parse one YAML document of text; what names it in messages
 * ("slipway.yml").  *out is NULL for an empty stream. */
int yml_load(struct yml **out, const char *what,
    const char *text, size_t len);
void yml_free(struct yml *n);
bool yml_is_null(const struct yml *n);
/* The value under key in a map, or NULL. */
const struct yml *yml_get(const struct yml *map,
    const char *key);

#endif
