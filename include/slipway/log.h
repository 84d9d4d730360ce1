/*
 * Logging, shaped like OpenBSD's log.c.  Lines go to stderr as
 *   2026-11-22T12:00:00Z info  registry: listening on 127.0.0.1:5000
 * (the timestamp only when log_init asked for it: daemons want it, the CLI
 * does not).  The level is checked before anything is formatted.
 *
 * Every message is escaped (log_escape) before it is written: a message
 * carries input (an SSH command, a path, a header), and input must not
 * start a line of its own or reach the operator's terminal as a control
 * sequence.
 */
#ifndef SLIPWAY_LOG_H
#define SLIPWAY_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

/* name: the service tag on each line (NULL for none).  timestamps: prefix
 * each line with UTC time.  The level may be overridden by SLIPWAY_LOG
 * (error, warn, info, debug). */
void log_init(const char *name, enum log_level level, bool timestamps);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
bool log_enabled(enum log_level level);

/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Copy s[0..n) into out (outsz bytes, NUL-terminated when outsz > 0) so
 * that it is one line of plain text: \n, \r and \t become those two
 * characters, every other C0 byte, DEL, a C1 control (U+0080..U+009F, as
 * two \xNN) and each byte that is not part of valid UTF-8 become \xNN;
 * valid UTF-8 text passes as it is (a backslash too: the point is that no
 * input can break a line or drive a terminal, not that the escaping can
 * be undone).  At most 4 * n + 1 bytes are needed; with less, the copy
 * ends before the first escape or character that does not fit.  Returns
 * the length written.
 */
size_t log_escape(char *out, size_t outsz, const char *s, size_t n);

/* Write the formatted text to f as one escaped line (log_escape, then a
 * newline) and flush: for errors echoed to a terminal or an SSH client,
 * which carry input just as log lines do.  At most 4 KiB of text. */
void log_print_line(FILE *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vprint_line(FILE *f, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Log at error level and exit(1); fatal appends strerror(errno). */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
