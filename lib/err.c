/* Per-thread error messages; see include/slipway/err.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "slipway/err.h"

#define ERR_MSG_MAX 1024

static _Thread_local char err_msg[ERR_MSG_MAX];

int
err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	return code;
}

static int
err_code_of_errno(int e)
{
	switch (e) {
	case ENOENT:
		return ERR_NOTFOUND;
	case EEXIST:
		return ERR_EXISTS;
	case EACCES:
	case EPERM:
		return ERR_AUTH;
	case ETIMEDOUT:
		return ERR_TIMEOUT;
	case EFBIG:
	case ENAMETOOLONG:
		return ERR_TOOBIG;
	default:
		return ERR_IO;
	}
}

int
err_sys(const char *fmt, ...)
{
	int saved = errno;
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	n = strlen(err_msg);
	snprintf(err_msg + n, sizeof(err_msg) - n, ": %s", strerror(saved));
	errno = saved;
	return err_code_of_errno(saved);
}

int
err_wrap(int code, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	size_t n;
	va_list ap;

	memcpy(old, err_msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	n = strlen(err_msg);
	if (old[0] && n + 2 < sizeof(err_msg)) {
		memcpy(err_msg + n, ": ", 3);
		n += 2;
		/* keep as much of the old message as fits */
		strncat(err_msg + n, old, sizeof(err_msg) - n - 1);
	}
	return code;
}

const char *
err_last(void)
{
	return err_msg;
}

void
err_clear(void)
{
	err_msg[0] = '\0';
}

const char *
err_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOTFOUND: return "not found";
	case ERR_EXISTS: return "exists";
	case ERR_INVALID: return "invalid";
	case ERR_AUTH: return "not allowed";
	case ERR_TIMEOUT: return "timeout";
	case ERR_CONFLICT: return "conflict";
	case ERR_TOOBIG: return "too big";
	case ERR_UNSUPPORTED: return "unsupported";
	case ERR_IO: return "i/o error";
	default: return "error";
	}
}
