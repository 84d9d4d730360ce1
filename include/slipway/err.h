/*
 * Errors: a short shared set of expected failures, plus a message kept per
 * thread (as libgit2's git_error_last).  A function that can fail returns 0
 * or one of the negative codes below and, before returning it, records what
 * went wrong with err_set().  The caller may add context with err_wrap().
 */
#ifndef SLIPWAY_ERR_H
#define SLIPWAY_ERR_H

enum err_code {
	ERR_OK = 0,
	ERR_NOTFOUND = -1,  /* a named thing does not exist */
	ERR_EXISTS = -2,    /* it exists already */
	ERR_INVALID = -3,   /* bad input: syntax, value, name */
	ERR_AUTH = -4,      /* not authenticated or not allowed */
	ERR_TIMEOUT = -5,   /* a deadline passed */
	ERR_CONFLICT = -6,  /* busy, locked, or raced with another writer */
	ERR_TOOBIG = -7,    /* over a size cap */
	ERR_UNSUPPORTED = -8, /* valid, but something slipway does not do */
	ERR_IO = -9,        /* the system failed us: disk, network, child */
};

/* Record the message for this thread; returns code so callers can write
 * `return err_set(ERR_INVALID, "bad name '%s'", name);`. */
int err_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* As err_set, with ": <strerror(errno)>" appended; code is ERR_IO unless
 * errno says ENOENT (ERR_NOTFOUND), EEXIST (ERR_EXISTS) or EACCES/EPERM
 * (ERR_AUTH). */
int err_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current message with context: "<context>: <old message>".
 * Returns code unchanged. */
int err_wrap(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message set on this thread, or "" if none.  Valid until the next
 * err_* call on this thread. */
const char *err_last(void);

/* Forget the message (tests use it between cases). */
void err_clear(void);

/* A stable lower-case word for a code ("not found", "invalid", ...). */
const char *err_name(int code);

#endif
