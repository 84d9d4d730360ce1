/* Base64 in the standard and the URL-safe alphabets (RFC 4648). */
#ifndef SLIPWAY_BASE64_H
#define SLIPWAY_BASE64_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

/* Append the encoding of data to out; url selects "-_" and no padding. */
int base64_encode(struct buf *out, const void *data, size_t n, bool url);
/* Append the decoding of text (n chars) to out.  Padding optional; any
 * character outside the alphabet is ERR_INVALID. */
int base64_decode(struct buf *out, const char *text, size_t n, bool url);

#endif
