/* Logging to stderr with levels; see include/slipway/log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "slipway/log.h"
#include "slipway/utf8.h"

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

/* The length of the UTF-8 character at s (left bytes remain) if it is
 * valid and printable, else 0: a lead byte says how long the sequence must
 * be, utf8_is_valid says whether it is (overlong forms, surrogates and the
 * like are not); C1 controls are valid but drive terminals. */
static size_t
log_char_len(const unsigned char *s, size_t left)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 :
	    s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ?
	    4 : 0;

	if (n == 0 || n > left || !utf8_is_valid((const char *)s, n))
		return 0;
	if (n == 1 && (s[0] < 0x20 || s[0] == 0x7f))
		return 0;
	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return n;
}

size_t
log_escape(char *out, size_t outsz, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	if (outsz == 0)
		return 0;
	while (i < n) {
		char esc[8];
		const char *put = esc;
		size_t len = log_char_len(p + i, n - i), k = 0, take = len;

		if (len) {
			put = (const char *)p + i;
			k = len;
		} else {
			/* a C1 control is escaped whole, anything else a byte
			 * at a time */
			take = p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
			    p[i + 1] < 0xa0 ? 2 : 1;
			for (size_t j = 0; j < take; j++) {
				unsigned char c = p[i + j];

				esc[k++] = '\\';
				if (c == '\n' || c == '\r' || c == '\t') {
					esc[k++] = c == '\n' ? 'n' :
					    c == '\r' ? 'r' : 't';
					continue;
				}
				esc[k++] = 'x';
				esc[k++] = hex[c >> 4];
				esc[k++] = hex[c & 15];
			}
		}
		if (o + k >= outsz)
			break;
		memcpy(out + o, put, k);
		o += k;
		i += take;
	}
	out[o] = '\0';
	return o;
}

/* The longest message formatted; escaped, it needs up to four times as
 * much. */
#define LOG_MSG_MAX 4096

/* Format a message and escape it into out (outsz > 0 bytes); returns the
 * escaped length. */
static size_t
log_vformat(char *out, size_t outsz, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	int m = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (m < 0)
		m = 0;
	return log_escape(out, outsz, msg, (size_t)m < sizeof(msg) ?
	    (size_t)m : sizeof(msg) - 1);
}

void
log_vprint_line(FILE *f, const char *fmt, va_list ap)
{
	char line[4 * LOG_MSG_MAX + 2];
	size_t n = log_vformat(line, sizeof(line) - 1, fmt, ap);

	line[n++] = '\n';
	fwrite(line, 1, n, f);
	fflush(f);
}

void
log_print_line(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint_line(f, fmt, ap);
	va_end(ap);
}

/* One write per line so lines from concurrent processes do not interleave. */
static void
log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[4 * LOG_MSG_MAX + 128];
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
	if (log_name)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ",
		    log_name);
	/* The message carries input: escaped whole, ours and theirs. */
	if (n < sizeof(line) - 1)
		n += log_vformat(line + n, sizeof(line) - n - 1, fmt, ap);
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
