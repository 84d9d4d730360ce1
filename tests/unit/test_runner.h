/* Helpers the runner's unit tests share (test_runner_*.c): crafted
 * tars, an unpacked image, a log collector, a wait for a state. */
#ifndef SLIPWAY_TEST_RUNNER_H
#define SLIPWAY_TEST_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "slipway/runner.h"

/* One entry of a crafted tar: type f(ile) d(ir) l(symlink) h(ardlink)
 * c(har device) p(fifo); data is the content or the link target. */
struct t_ent {
	char type;
	const char *path;
	const char *data;
	int mode;
};

#define T_DIGEST "sha256:" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define T_DIGEST2 "sha256:" \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define T_HEX "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* Write the tar (gzipped with gz) of ents, ended by a NULL path, to out. */
void t_tar(const char *out, const struct t_ent *ents, bool gz);
/* Unpack a one-layer image (app/index.html, app/run.sh) as digest. */
void t_image(const char *home, const char *digest);
/* A logring_fn: appends the line and a newline to the buf ctx. */
int t_collect(const char *line, size_t len, void *ctx);
/* Wait (up to 15 s) until container id is in state want with at least
 * restarts restarts; its snapshot is the caller's. */
struct runner_container_info t_wait_state(struct runner *r, const char *id,
    enum runner_state want, unsigned restarts);

#endif
