/*
 * Procfile parsing (the grammar is in include/slipway/slug.h).  The file
 * comes from an app's repo, so it is hostile input: every way a line can
 * be wrong is an error naming the line, and nothing is returned half-built.
 */
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/slug.h"

static bool
slug_proc_type_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static bool
slug_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Parse one line (len bytes, no newline); adds to pf or sets the error. */
static int
slug_procfile_line(struct slug_procfile *pf, const unsigned char *s,
    size_t len, unsigned lineno)
{
	size_t i = 0, tlen, cstart, cend;

	if (memchr(s, '\0', len) != NULL)
		return err_set(ERR_INVALID, "Procfile line %u: has a NUL byte",
		    lineno);
	while (i < len && slug_blank(s[i]))
		i++;
	if (i == len || s[i] == '#')
		return 0;
	if (i > 0)
		return err_set(ERR_INVALID, "Procfile line %u: the process "
		    "type must start the line", lineno);
	while (i < len && slug_proc_type_char(s[i]))
		i++;
	tlen = i;
	if (tlen == 0 || i == len || s[i] != ':') {
		if (i < len && s[i] != ':' && !slug_blank(s[i]) &&
		    s[i] >= 0x20)
			return err_set(ERR_INVALID, "Procfile line %u: process "
			    "type may only have letters, digits, '_' and '-' "
			    "(expected 'type: command')", lineno);
		return err_set(ERR_INVALID, "Procfile line %u: expected "
		    "'type: command'", lineno);
	}
	if (tlen > SLUG_PROC_TYPE_MAX)
		return err_set(ERR_INVALID, "Procfile line %u: process type is "
		    "longer than %d characters", lineno, SLUG_PROC_TYPE_MAX);
	i++;    /* ':' */
	while (i < len && slug_blank(s[i]))
		i++;
	cstart = i;
	cend = len;
	while (cend > cstart && slug_blank(s[cend - 1]))
		cend--;
	if (cstart == cend)
		return err_set(ERR_INVALID, "Procfile line %u: process type "
		    "'%.*s' has no command", lineno, (int)tlen, s);
	for (size_t k = cstart; k < cend; k++)
		if ((s[k] < 0x20 && s[k] != '\t') || s[k] == 0x7f)
			return err_set(ERR_INVALID, "Procfile line %u: the "
			    "command has a control character (0x%02x)",
			    lineno, s[k]);
	for (size_t k = 0; k < pf->n; k++)
		if (strlen(pf->procs[k].type) == tlen &&
		    memcmp(pf->procs[k].type, s, tlen) == 0)
			return err_set(ERR_INVALID, "Procfile line %u: process "
			    "type '%.*s' is defined twice", lineno, (int)tlen,
			    s);
	if (pf->n == SLUG_PROC_MAX)
		return err_set(ERR_INVALID, "Procfile line %u: more than %d "
		    "process types", lineno, SLUG_PROC_MAX);
	pf->procs = xrealloc(pf->procs, (pf->n + 1) * sizeof(*pf->procs));
	pf->procs[pf->n].type = xstrndup((const char *)s, tlen);
	pf->procs[pf->n].command = xstrndup((const char *)s + cstart,
	    cend - cstart);
	pf->n++;
	return 0;
}

int
slug_procfile_parse(struct slug_procfile **out, const char *text, size_t len)
{
	struct slug_procfile *pf = xcalloc(1, sizeof(*pf));
	const unsigned char *p = (const unsigned char *)text, *end = p + len;
	unsigned lineno = 0;
	int rc = 0;

	if (len > SLUG_SMALL_FILE_MAX) {
		rc = err_set(ERR_TOOBIG, "Procfile is larger than %d bytes",
		    SLUG_SMALL_FILE_MAX);
		goto done;
	}
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		lineno++;
		if (n > SLUG_PROC_LINE_MAX) {
			rc = err_set(ERR_INVALID, "Procfile line %u: longer "
			    "than %d bytes", lineno, SLUG_PROC_LINE_MAX);
			goto done;
		}
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if ((rc = slug_procfile_line(pf, p, n, lineno)) < 0)
			goto done;
		p = nl ? nl + 1 : end;
	}
done:
	if (rc < 0) {
		slug_procfile_free(pf);
		return rc;
	}
	*out = pf;
	return 0;
}

const char *
slug_procfile_get(const struct slug_procfile *pf, const char *type)
{
	if (pf == NULL)
		return NULL;
	for (size_t i = 0; i < pf->n; i++)
		if (strcmp(pf->procs[i].type, type) == 0)
			return pf->procs[i].command;
	return NULL;
}

void
slug_procfile_free(struct slug_procfile *pf)
{
	if (pf == NULL)
		return;
	for (size_t i = 0; i < pf->n; i++) {
		free(pf->procs[i].type);
		free(pf->procs[i].command);
	}
	free(pf->procs);
	free(pf);
}
