/*
 * The container init's bytes, carried inside slipway, and their copy at
 * $SLIPWAY_HOME/runner/init that runc containers bind-mount.
 *
 * runner/init/slipway-init.c is built alone, static (the Makefile's
 * $(INIT)), and this file takes the result in whole with .incbin: one
 * slipway binary to install, and the init it writes is always the one it
 * was built with.  The Makefile makes this object depend on the binary
 * and passes its path as SLIPWAY_INIT_BIN.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"

#ifndef SLIPWAY_INIT_BIN
#error "build with -DSLIPWAY_INIT_BIN='\"path of the built init\"' (Makefile)"
#endif

__asm__(
	"	.section .rodata\n"
	"	.balign 16\n"
	"	.globl runner_init_start\n"
	"	.type runner_init_start, @object\n"
	"runner_init_start:\n"
	"	.incbin \"" SLIPWAY_INIT_BIN "\"\n"
	"runner_init_end:\n"
	"	.size runner_init_start, runner_init_end - runner_init_start\n"
	"	.balign 8\n"
	"	.globl runner_init_size\n"
	"	.type runner_init_size, @object\n"
	"	.size runner_init_size, 8\n"
	"runner_init_size:\n"
	"	.quad runner_init_end - runner_init_start\n"
	"	.previous\n");

extern const unsigned char runner_init_start[];
extern const uint64_t runner_init_size;

const unsigned char *
runner_init_image(size_t *len)
{
	*len = (size_t)runner_init_size;
	return runner_init_start;
}

int
runner_init_install(char **out, const char *home)
{
	char *path = xasprintf("%s/runner/init", home);
	size_t len;
	const unsigned char *bytes = runner_init_image(&len);
	struct stat st;
	struct buf b = { 0 };
	int rc = 0;

	/* The same bytes, a plain file, 0755: nothing to do.  A running
	 * container keeps the file it mounted even when it is replaced,
	 * since the new one is renamed over it. */
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == 0755 && st.st_uid == geteuid() &&
	    (size_t)st.st_size == len &&
	    fs_read_file(&b, path, len + 1) == 0 && b.len == len &&
	    memcmp(b.ptr, bytes, len) == 0)
		goto done;
	err_clear();
	if ((rc = fs_write_atomic(path, bytes, len, 0755)) < 0)
		err_wrap(rc, "cannot install the container init");
done:
	buf_free(&b);
	if (rc == 0 && out)
		*out = path;
	else
		free(path);
	return rc;
}
