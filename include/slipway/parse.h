/*
 * Number parsers for what people type (options, environment variables)
 * and what peers send (query parameters, ports in addresses).  One rule
 * for all of them: the text is decimal digits and nothing else (no sign,
 * no blanks, no "0x", no trailing junk, not empty), so " 5", "+5", "5 "
 * and "5x" are all refused the same way everywhere.  Each returns 0 and
 * sets *out, or ERR_INVALID with a one-line message naming the text (and
 * leaves *out alone); a caller with its own wording for the refusal uses
 * its own message and ignores this one.
 */
#ifndef SLIPWAY_PARSE_H
#define SLIPWAY_PARSE_H

/* A whole number from min to max:
 * "'<s>' is not a number from <min> to <max>". */
int parse_uint(unsigned long long *out, const char *s, unsigned long long min,
    unsigned long long max);

/* A TCP port, 1 to 65535: "'<s>' is not a port". */
int parse_port(unsigned *out, const char *s);

/* A byte count with an optional K, M or G (powers of 1024, either case),
 * which may be followed by "B" or "iB" ("64M", "64MiB", "512KB", "100B"):
 * "'<s>' is not a size". */
int parse_size(unsigned long long *out, const char *s);

/* Seconds from min to max, with an optional fraction ("30", "0.5", ".5",
 * "2."); no exponent, "inf" or "nan":
 * "'<s>' is not a number of seconds (<min> to <max>)". */
int parse_duration(double *out, const char *s, double min, double max);

#endif
