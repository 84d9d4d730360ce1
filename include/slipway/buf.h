/*
 * Growable byte buffers with a size cap (as curl's dynbuf).  Invariant:
 * len < cap whenever ptr is set, ptr[len] == '\0' (so text is always a C
 * string), and len never exceeds max.  A buffer over its cap fails with
 * ERR_TOOBIG and keeps what it held.  Allocation failure aborts.
 */
#ifndef SLIPWAY_BUF_H
#define SLIPWAY_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *ptr;
	size_t len;
	size_t cap;
	size_t max;     /* largest len allowed */
};

#define BUF_MAX_DEFAULT ((size_t)64 << 20)

/* Start empty with cap max (0 means BUF_MAX_DEFAULT).  Needs no free if
 * nothing was put. */
void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);

/* Append; ERR_TOOBIG (with a message) when len would pass max. */
int buf_put(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Hand the bytes to the caller (free with free()); the buffer is empty
 * after.  Never NULL. */
char *buf_detach(struct buf *b, size_t *len);

/* Drop the first n bytes (for line parsers that consume from the front). */
void buf_consume(struct buf *b, size_t n);

#endif
