/*
 * .slugignore: gitignore-style patterns without negation (Heroku's rule),
 * see include/slipway/slug.h for the syntax.
 *
 * Matching follows git's wildmatch with WM_PATHNAME: '*', '?' and brackets
 * never match '/', "**" between slashes (or at either end) matches any
 * number of directories.  The NOMATCH / ABORT_TO_STARSTAR / ABORT_ALL
 * results are what keep hostile patterns ("*a*a*a*a*b") polynomial: once
 * the text runs out under a star, no shorter split can match either.
 */
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/slug.h"
#include "slug_int.h"

/* Longest pattern line, and most patterns, we take. */
#define SLUG_IGNORE_LINE_MAX 4096
#define SLUG_IGNORE_MAX 10000

enum {
	WM_MATCH = 0,
	WM_NOMATCH = 1,
	WM_ABORT_ALL = -1,
	WM_ABORT_TO_STARSTAR = -2,
};

struct slug_ignore_pat {
	char *pat;
	unsigned line;
	bool anchored;          /* had a '/' before its end: match the path */
	bool dir_only;          /* had a trailing '/' */
};

/* Invariant: every pat passed slug_wm_check. */
struct slug_ignore {
	size_t n;
	struct slug_ignore_pat *pats;
};

static bool
slug_wm_class(const char *name, size_t len, unsigned char c)
{
	/* ASCII only, so no locale changes what a pattern means */
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
	bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
	bool digit = c >= '0' && c <= '9';

	if (IS("alpha")) return upper || lower;
	if (IS("alnum")) return upper || lower || digit;
	if (IS("digit")) return digit;
	if (IS("upper")) return upper;
	if (IS("lower")) return lower;
	if (IS("space")) return c == ' ' || (c >= '\t' && c <= '\r');
	if (IS("blank")) return c == ' ' || c == '\t';
	if (IS("xdigit")) return digit || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
	if (IS("cntrl")) return c < 32 || c == 127;
	if (IS("print")) return c >= 32 && c < 127;
	if (IS("graph")) return c > 32 && c < 127;
	if (IS("punct")) return c > 32 && c < 127 && !upper && !lower &&
	    !digit;
#undef IS
	return false;
}

static bool
slug_wm_class_known(const char *name, size_t len)
{
	static const char *const names[] = { "alpha", "alnum", "digit",
	    "upper", "lower", "space", "blank", "xdigit", "cntrl", "print",
	    "graph", "punct" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return true;
	return false;
}

/*
 * A bracket expression at *pp (just past '['): does it match c?  *pp is
 * left past the closing ']'.  Returns -1 for a malformed expression
 * (unclosed, unknown class, trailing backslash).
 */
static int
slug_wm_bracket(const unsigned char **pp, unsigned char c)
{
	const unsigned char *p = *pp;
	bool negate = false, matched = false, first = true;

	if (*p == '!' || *p == '^') {
		negate = true;
		p++;
	}
	for (;; first = false) {
		unsigned char lo, hi;

		if (*p == '\0')
			return -1;
		if (*p == ']' && !first)
			break;
		if (p[0] == '[' && p[1] == ':') {
			const unsigned char *end = p + 2;
			while (*end && !(end[0] == ':' && end[1] == ']'))
				end++;
			if (*end == '\0' || !slug_wm_class_known(
			    (const char *)p + 2, (size_t)(end - p - 2)))
				return -1;
			if (slug_wm_class((const char *)p + 2,
			    (size_t)(end - p - 2), c))
				matched = true;
			p = end + 2;
			continue;
		}
		if (*p == '\\' && *++p == '\0')
			return -1;
		lo = hi = *p++;
		if (p[0] == '-' && p[1] != ']' && p[1] != '\0') {
			p++;
			if (*p == '\\' && *++p == '\0')
				return -1;
			hi = *p++;
		}
		if (c >= lo && c <= hi)
			matched = true;
	}
	*pp = p + 1;
	return matched != negate;
}

static int
slug_wm(const unsigned char *pat, const unsigned char *p,
    const unsigned char *t)
{
	for (; *p; p++, t++) {
		bool match_slash;
		int r;

		if (*t == '\0' && *p != '*')
			return WM_ABORT_ALL;
		switch (*p) {
		case '\\':
			p++;
			if (*t != *p)
				return WM_NOMATCH;
			break;
		case '?':
			if (*t == '/')
				return WM_NOMATCH;
			break;
		case '[':
			p++;
			r = slug_wm_bracket(&p, *t);
			if (r <= 0 || *t == '/')
				return WM_NOMATCH;
			p--;    /* the loop steps past the ']' */
			break;
		case '*':
			if (p[1] == '*') {
				const unsigned char *star = p;
				while (p[1] == '*')
					p++;
				p++;
				/* "**" only between slashes or at the ends;
				 * elsewhere it is a plain '*' */
				match_slash = (star == pat || star[-1] == '/') &&
				    (*p == '\0' || *p == '/');
				/* "**" + "/" may match no directory at all */
				if (match_slash && *p == '/' &&
				    slug_wm(pat, p + 1, t) == WM_MATCH)
					return WM_MATCH;
			} else {
				match_slash = false;
				p++;
			}
			if (*p == '\0') {
				if (!match_slash &&
				    strchr((const char *)t, '/') != NULL)
					return WM_ABORT_TO_STARSTAR;
				return WM_MATCH;
			}
			if (!match_slash && *p == '/') {
				/* '*' then '/': the rest of this component */
				const char *slash = strchr((const char *)t, '/');
				if (slash == NULL)
					return WM_ABORT_ALL;
				t = (const unsigned char *)slash;
				if (*t != *p)
					return WM_NOMATCH;
				break;
			}
			for (; *t; t++) {
				r = slug_wm(pat, p, t);
				if (r != WM_NOMATCH) {
					if (!match_slash ||
					    r != WM_ABORT_TO_STARSTAR)
						return r;
				} else if (!match_slash && *t == '/') {
					return WM_ABORT_TO_STARSTAR;
				}
			}
			return WM_ABORT_ALL;
		default:
			if (*t != *p)
				return WM_NOMATCH;
			break;
		}
	}
	return *t ? WM_NOMATCH : WM_MATCH;
}

static bool
slug_wildmatch(const char *pat, const char *text)
{
	const unsigned char *p = (const unsigned char *)pat;

	return slug_wm(p, p, (const unsigned char *)text) == WM_MATCH;
}

/* Is pat well formed?  Says why not in *why. */
static bool
slug_wm_check(const char *pat, const char **why)
{
	const unsigned char *p = (const unsigned char *)pat;

	while (*p) {
		if (*p == '\\') {
			if (p[1] == '\0') {
				*why = "it ends with a backslash";
				return false;
			}
			p += 2;
		} else if (*p == '[') {
			p++;
			if (slug_wm_bracket(&p, 'a') < 0) {
				*why = "it has an unclosed or malformed '['";
				return false;
			}
		} else {
			p++;
		}
	}
	return true;
}

static void
slug_ignore_add(struct slug_ignore *ig, char *line, unsigned lineno)
{
	struct slug_ignore_pat *pat;
	size_t len = strlen(line);
	bool dir_only = false, anchored;

	if (len > 1 && line[len - 1] == '/') {
		dir_only = true;
		line[--len] = '\0';
	}
	anchored = strchr(line, '/') != NULL;
	if (line[0] == '/')
		memmove(line, line + 1, len--);
	if (len == 0)   /* "/" alone: names nothing */
		return;
	ig->pats = xrealloc(ig->pats, (ig->n + 1) * sizeof(*ig->pats));
	pat = &ig->pats[ig->n++];
	pat->pat = xstrdup(line);
	pat->line = lineno;
	pat->anchored = anchored;
	pat->dir_only = dir_only;
}

int
slug_ignore_parse(struct slug_ignore **out, const char *text, size_t len)
{
	struct slug_ignore *ig = xcalloc(1, sizeof(*ig));
	char line[SLUG_IGNORE_LINE_MAX + 1];
	const char *p = text, *end = text + len, *why;
	unsigned lineno = 0;
	int rc = 0;

	if (len > SLUG_SMALL_FILE_MAX) {
		rc = err_set(ERR_TOOBIG, ".slugignore is larger than %d bytes",
		    SLUG_SMALL_FILE_MAX);
		goto done;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (nl ? nl : end) - p;

		lineno++;
		if (n > SLUG_IGNORE_LINE_MAX) {
			rc = err_set(ERR_INVALID, "line %u: longer than %d "
			    "bytes", lineno, SLUG_IGNORE_LINE_MAX);
			goto done;
		}
		if (memchr(p, '\0', n) != NULL) {
			rc = err_set(ERR_INVALID, "line %u: has a NUL byte",
			    lineno);
			goto done;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl ? nl + 1 : end;
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		/* trailing spaces go, unless the last one is escaped */
		while (n > 0 && line[n - 1] == ' ') {
			size_t bs = 0;
			while (bs < n - 1 && line[n - 2 - bs] == '\\')
				bs++;
			if (bs % 2 == 1)
				break;
			line[--n] = '\0';
		}
		if (n == 0 || line[0] == '#')
			continue;
		if (line[0] == '!') {
			rc = err_set(ERR_INVALID, "line %u: negation ('%s') is "
			    "not supported in .slugignore; write '\\%s' for a "
			    "name that starts with '!'", lineno, line, line);
			goto done;
		}
		if (!slug_wm_check(line, &why)) {
			rc = err_set(ERR_INVALID, "line %u: '%s' is not a valid "
			    "pattern: %s", lineno, line, why);
			goto done;
		}
		if (ig->n == SLUG_IGNORE_MAX) {
			rc = err_set(ERR_TOOBIG, "line %u: more than %d "
			    "patterns", lineno, SLUG_IGNORE_MAX);
			goto done;
		}
		slug_ignore_add(ig, line, lineno);
	}
done:
	if (rc < 0) {
		slug_ignore_free(ig);
		return rc;
	}
	*out = ig;
	return 0;
}

bool
slug_ignore_match_leaf(const struct slug_ignore *ig, const char *path,
    bool is_dir)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	for (size_t i = 0; i < ig->n; i++) {
		const struct slug_ignore_pat *pat = &ig->pats[i];

		if (pat->dir_only && !is_dir)
			continue;
		if (slug_wildmatch(pat->pat, pat->anchored ? path : base))
			return true;
	}
	return false;
}

bool
slug_ignore_match(const struct slug_ignore *ig, const char *path, bool is_dir)
{
	char *copy;
	bool hit = false;

	if (ig == NULL || ig->n == 0)
		return false;
	/* a left-out directory leaves out all under it */
	copy = xstrdup(path);
	for (char *s = copy; (s = strchr(s, '/')) != NULL && !hit; s++) {
		*s = '\0';
		hit = slug_ignore_match_leaf(ig, copy, true);
		*s = '/';
	}
	if (!hit)
		hit = slug_ignore_match_leaf(ig, path, is_dir);
	free(copy);
	return hit;
}

size_t
slug_ignore_count(const struct slug_ignore *ig)
{
	return ig ? ig->n : 0;
}

void
slug_ignore_free(struct slug_ignore *ig)
{
	if (ig == NULL)
		return;
	for (size_t i = 0; i < ig->n; i++)
		free(ig->pats[i].pat);
	free(ig->pats);
	free(ig);
}
