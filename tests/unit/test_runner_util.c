/* Helpers the runner's unit tests share (test_runner.h). */
#include <archive.h>
#include <archive_entry.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/runner.h"
#include "../../runner/runner_int.h"
#include "test_runner.h"

void
t_tar(const char *out, const struct t_ent *ents, bool gz)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e;

	archive_write_set_format_pax_restricted(a);
	if (gz)
		archive_write_add_filter_gzip(a);
	if (archive_write_open_filename(a, out) != ARCHIVE_OK)
		harness_fail(__FILE__, __LINE__, "cannot write %s", out);
	for (; ents->path; ents++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, ents->path);
		archive_entry_set_perm(e, ents->mode ? (mode_t)ents->mode :
		    ents->type == 'd' ? 0755 : 0644);
		archive_entry_set_mtime(e, 1700000000, 0);
		switch (ents->type) {
		case 'f':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)strlen(ents->data));
			break;
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, ents->data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, ents->data);
			break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_rdevmajor(e, 1);
			archive_entry_set_rdevminor(e, 3);
			break;
		case 'p':
			archive_entry_set_filetype(e, AE_IFIFO);
			break;
		}
		archive_write_header(a, e);
		if (ents->type == 'f')
			archive_write_data(a, ents->data, strlen(ents->data));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

void
t_image(const char *home, const char *digest)
{
	const struct t_ent l1[] = { { 'f', "app/index.html", "hi", 0 },
	    { 'f', "app/run.sh", "echo ran", 0755 },
	    { 0, NULL, NULL, 0 } };
	const char *layers[] = { "img.tgz" };
	char *rootfs = NULL;

	t_tar("img.tgz", l1, true);
	EXPECT_OK(runner_image_unpack(&rootfs, home, digest, layers, 1, NULL));
	free(rootfs);
}

int
t_collect(const char *line, size_t len, void *ctx)
{
	buf_put(ctx, line, len);
	buf_putc(ctx, '\n');
	return 0;
}

struct runner_container_info
t_wait_state(struct runner *r, const char *id, enum runner_state want,
    unsigned restarts)
{
	struct runner_container_info i = { 0 };

	for (int n = 0; n < 300; n++) {
		EXPECT_OK(runner_container_get(&i, r, id));
		if (i.state == want && i.restarts >= restarts)
			return i;
		runner_container_info_free(&i);
		poll(NULL, 0, 50);
	}
	harness_fail(__FILE__, __LINE__, "container %s never reached %s "
	    "with %u restarts", id, runner_state_name(want), restarts);
}
