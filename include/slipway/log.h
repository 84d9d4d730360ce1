/*
 * Logging, shaped like OpenBSD's log.c.  Lines go to stderr as
 *   2026-11-22T12:00:00Z info  registry: listening on 127.0.0.1:5000
 * (the timestamp only when log_init asked for it: daemons want it, the CLI
 * does not).  The level is checked before anything is formatted.
 */
#ifndef SLIPWAY_LOG_H
#define SLIPWAY_LOG_H

#include <stdbool.h>

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

/* Log at error level and exit(1); fatal appends strerror(errno). */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
