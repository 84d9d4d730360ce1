/*
 * A push that fails because a disk is full must say so: the system's
 * words ("No space left on device") buried in a chain of contexts, or a
 * bare "Could not read from remote repository" from the client when the
 * repository could not even be made, leave the person guessing.
 *
 * The failure is recognised by its text, as every layer words it: our
 * err_sys and libgit2 append strerror (the same text in this process),
 * and the registry answers 507 Insufficient Storage (registry/server.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/builder.h"
#include "slipway/err.h"

/* The registry's answer when its store has no room (registry/server.c). */
#define DISKFULL_REGISTRY "answered 507 "

/* Drop every ": <words>" (or bare words) from msg, in place. */
static void
diskfull_drop(char *msg, const char *words)
{
	char *p;

	while ((p = strstr(msg, words)) != NULL) {
		char *start = p, *end = p + strlen(words);
		if (start - msg >= 2 && start[-2] == ':' && start[-1] == ' ')
			start -= 2;
		memmove(start, end, strlen(end) + 1);
	}
}

bool
builder_disk_full(const char *path)
{
	char nospc[128], quota[128], *msg;
	struct buf b;
	bool local;

	/* strerror may reuse its buffer: copy both texts */
	snprintf(nospc, sizeof(nospc), "%s", strerror(ENOSPC));
	snprintf(quota, sizeof(quota), "%s", strerror(EDQUOT));
	msg = xstrdup(err_last());
	local = strstr(msg, nospc) || strstr(msg, quota);
	if (!local && strstr(msg, DISKFULL_REGISTRY) == NULL) {
		free(msg);
		return false;
	}
	/* the system's words go: the line says it in ours */
	diskfull_drop(msg, nospc);
	diskfull_drop(msg, quota);
	buf_init(&b, 0);
	buf_printf(&b, "the server's disk is full (%s", msg);
	if (local && path && strstr(msg, " at /") == NULL)
		buf_printf(&b, " at %s", path);
	buf_puts(&b, "); free space and push again");
	err_set(ERR_IO, "%s", b.ptr);
	buf_free(&b);
	free(msg);
	return true;
}
