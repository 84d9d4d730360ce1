/* Unit tests for runner/overlay.c: the overlay rootfs of containers and
 * build sandboxes. */
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "../../runner/runner_int.h"

TEST(runner__overlay_mount)
{
	char *dir = xasprintf("%s/ctr", harness_tmpdir());
	char *lower = xasprintf("%s/lower", harness_tmpdir());
	char *root = xasprintf("%s/rootfs", dir);
	char *bad = xasprintf("%s/a,b", harness_tmpdir());
	struct buf b;

	EXPECT_OK(fs_mkdir_p(dir, 0700));
	EXPECT_OK(fs_mkdir_p(lower, 0755));
	harness_write("lower/hello", "hi", 2, 0644);
	EXPECT_INT(ERR_UNSUPPORTED, runner_overlay_mount(bad, lower, "x"));
	EXPECT_ERR_HAS("which an overlay mount cannot take");
	if (geteuid() != 0)
		harness_skip("mounting needs root");
	EXPECT_OK(runner_overlay_mount(dir, lower, "the test's overlay"));
	EXPECT_OK(fs_read_file(&b, "ctr/rootfs/hello", 64));
	EXPECT_STR("hi", b.ptr);
	buf_free(&b);
	/* writes go to the upper dir, and the next mount starts empty */
	harness_write("ctr/rootfs/new", "x", 1, 0644);
	EXPECT_TRUE(fs_exists("ctr/upper/new") && !fs_exists("lower/new"));
	EXPECT_INT(0, umount2(root, MNT_DETACH));
	EXPECT_OK(runner_overlay_mount(dir, lower, "the test's overlay"));
	EXPECT_TRUE(!fs_exists("ctr/rootfs/new") &&
	    fs_exists("ctr/rootfs/hello"));
	EXPECT_INT(0, umount2(root, MNT_DETACH));
	free(bad);
	free(root);
	free(lower);
	free(dir);
}
