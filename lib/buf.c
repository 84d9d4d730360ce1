/* Capped growable buffers; see include/slipway/buf.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"

void
buf_init(struct buf *b, size_t max)
{
	b->ptr = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_MAX_DEFAULT;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->ptr);
	b->ptr = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

/* Make room for n more bytes plus the terminating NUL. */
static int
buf_grow(struct buf *b, size_t n)
{
	size_t need, cap;

	if (n > b->max || b->len > b->max - n)
		return err_set(ERR_TOOBIG, "buffer over its cap of %zu bytes",
		    b->max);
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->ptr = xrealloc(b->ptr, cap);
	b->cap = cap;
	return 0;
}

int
buf_put(struct buf *b, const void *data, size_t n)
{
	int rc;

	if ((rc = buf_grow(b, n)) < 0)
		return rc;
	if (n)
		memcpy(b->ptr + b->len, data, n);
	b->len += n;
	b->ptr[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_put(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
	return buf_put(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	size_t room = b->cap > b->len ? b->cap - b->len : 0;
	va_list ap2;
	int n, rc;

	/* Format once into the room there is (the usual case: access log
	 * lines into a reused buffer); only a line that does not fit is
	 * formatted again after growing. */
	va_copy(ap2, ap);
	n = vsnprintf(room ? b->ptr + b->len : NULL, room, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		if (room)
			b->ptr[b->len] = '\0';
		return err_set(ERR_INVALID, "bad format '%s'", fmt);
	}
	if ((size_t)n < room && (size_t)n <= b->max - b->len) {
		b->len += (size_t)n;
		return 0;
	}
	if (room)
		b->ptr[b->len] = '\0';   /* the cut attempt is not content */
	if ((rc = buf_grow(b, (size_t)n)) < 0)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char *p;

	if (b->ptr == NULL)
		buf_grow(b, 0), b->ptr[0] = '\0';
	p = b->ptr;
	if (len)
		*len = b->len;
	b->ptr = NULL;
	b->len = b->cap = 0;
	return p;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->ptr, b->ptr + n, b->len - n);
	b->len -= n;
	b->ptr[b->len] = '\0';
}
