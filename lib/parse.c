/* Strict decimal parsers; see include/slipway/parse.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/err.h"
#include "slipway/parse.h"

#define DIGITS "0123456789"

/* Digits only, at least one, and no more than fit: strtoull alone would
 * take blanks, a sign (and negate "-1" into a huge number) and junk. */
static int
parse_digits(unsigned long long *out, const char *s, size_t n)
{
	unsigned long long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (~0ULL - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
parse_uint(unsigned long long *out, const char *s, unsigned long long min,
    unsigned long long max)
{
	size_t n = strspn(s, DIGITS);
	unsigned long long v;

	if (s[n] != '\0' || parse_digits(&v, s, n) < 0 || v < min || v > max)
		return err_set(ERR_INVALID, "'%s' is not a number from %llu "
		    "to %llu", s, min, max);
	*out = v;
	return 0;
}

int
parse_port(unsigned *out, const char *s)
{
	size_t n = strspn(s, DIGITS);
	unsigned long long v;

	if (s[n] != '\0' || parse_digits(&v, s, n) < 0 || v < 1 || v > 65535)
		return err_set(ERR_INVALID, "'%s' is not a port", s);
	*out = (unsigned)v;
	return 0;
}

/* The multiplier of a size suffix, or 0 when it is not one. */
static unsigned long long
parse_size_unit(const char *u)
{
	unsigned long long mul = 1;

	switch (*u) {
	case 'k': case 'K': mul = 1ULL << 10; u++; break;
	case 'm': case 'M': mul = 1ULL << 20; u++; break;
	case 'g': case 'G': mul = 1ULL << 30; u++; break;
	}
	if (strcmp(u, "") == 0 || strcmp(u, "B") == 0 ||
	    (mul > 1 && strcmp(u, "iB") == 0))
		return mul;
	return 0;
}

int
parse_size(unsigned long long *out, const char *s)
{
	size_t n = strspn(s, DIGITS);
	unsigned long long v, mul = parse_size_unit(s + n);

	if (mul == 0 || parse_digits(&v, s, n) < 0 || v > ~0ULL / mul)
		return err_set(ERR_INVALID, "'%s' is not a size", s);
	*out = v * mul;
	return 0;
}

int
parse_duration(double *out, const char *s, double min, double max)
{
	size_t whole = strspn(s, DIGITS), frac = 0;
	double v = 0;

	if (s[whole] == '.')
		frac = strspn(s + whole + 1, DIGITS);
	/* Checked by hand first: strtod also takes "1e3", "0x10", "inf". */
	if (s[whole + (s[whole] == '.' ? 1 + frac : 0)] != '\0' ||
	    whole + frac == 0)
		goto bad;
	errno = 0;
	v = strtod(s, NULL);
	if (errno || !(v >= min && v <= max))
		goto bad;
	*out = v;
	return 0;
bad:
	return err_set(ERR_INVALID, "'%s' is not a number of seconds (%g to "
	    "%g)", s, min, max);
}
