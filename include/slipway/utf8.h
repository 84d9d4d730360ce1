/*
 * Text from programs we do not control (container output, log lines)
 * must become JSON strings, which jansson accepts only as valid UTF-8.
 */
#ifndef SLIPWAY_UTF8_H
#define SLIPWAY_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Replace, in place, every byte of s[0..len) that is not part of a valid
 * UTF-8 sequence (stray continuation bytes, overlong forms, surrogates,
 * code points past U+10FFFF, sequences cut short) by '?', and NUL bytes
 * too.  Returns how many bytes were replaced. */
size_t utf8_sanitize(char *s, size_t len);

/* Is s[0..len) valid UTF-8 without NUL bytes? */
bool utf8_is_valid(const char *s, size_t len);

#endif
