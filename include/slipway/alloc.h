/*
 * Allocation that cannot fail: on exhaustion the process aborts with a
 * message (as redis zmalloc).  Call sites never check for NULL.  Sizes that
 * come from outside must be capped before they reach these functions.
 */
#ifndef SLIPWAY_ALLOC_H
#define SLIPWAY_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
