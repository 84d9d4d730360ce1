/* Logging to stderr with levels; see include/slipway/log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "slipway/log.h"

static const char *log_name;
static enum log_level log_level = LOG_LEVEL_INFO;
static bool log_stamps;

static const char *const log_words[] = { "error", "warn", "info", "debug" };

void
log_init(const char *name, enum log_level level, bool timestamps)
{
	const char *env = getenv("SLIPWAY_LOG");

	log_name = name;
	log_level = level;
	log_stamps = timestamps;
	if (env == NULL)
		return;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(env, log_words[i]) == 0)
			log_level = (enum log_level)i;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_level;
}

/* One write per line so lines from concurrent processes do not interleave. */
static void
log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[4096];
	size_t n = 0;

	if (log_stamps) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n += strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%-5s ",
		    log_words[level]);
	} else if (level <= LOG_LEVEL_WARN) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ",
		    level == LOG_LEVEL_ERROR ? "error" : "warning");
	}
	if (log_name && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ",
		    log_name);
	if (n < sizeof(line))
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (errnum && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(errnum));
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

#define LOG_BODY(level, errnum) do {			\
	va_list ap;					\
	if (!log_enabled(level))			\
		return;					\
	va_start(ap, fmt);				\
	log_vemit(level, errnum, fmt, ap);		\
	va_end(ap);					\
} while (0)

void log_warn(const char *fmt, ...) { int e = errno; LOG_BODY(LOG_LEVEL_WARN, e); }
void log_warnx(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_WARN, 0); }
void log_info(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_INFO, 0); }
void log_debug(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_DEBUG, 0); }
void log_error(const char *fmt, ...) { LOG_BODY(LOG_LEVEL_ERROR, 0); }

void
fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
