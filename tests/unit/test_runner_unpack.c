/* Unit tests for runner/unpack.c and unpack_entry.c: layer unpack
 * (whiteouts, hostile entries), images, their selection and gc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/runner.h"
#include "../../runner/runner_int.h"
#include "test_runner.h"

static int t_warnings;

static void
t_warn(const char *msg, void *ctx)
{
	(void)ctx;
	(void)msg;
	t_warnings++;
}

/* Unpack layers into a fresh "root"; returns the rc. */
static int
t_unpack(const char *const *layers, size_t n)
{
	struct runner_unpack_opts o = { .warn = t_warn };

	if (!fs_is_dir("root"))
		mkdir("root", 0755);
	return runner_layers_unpack("root", layers, n, &o);
}

static char *
t_read(const char *path)
{
	struct buf b;

	if (fs_read_file(&b, path, 1 << 20) < 0)
		return NULL;
	return buf_detach(&b, NULL);
}

static void
t_expect_file(const char *path, const char *want)
{
	char *got = t_read(path);

	if (got == NULL || strcmp(got, want) != 0)
		harness_fail(__FILE__, __LINE__, "%s: expected \"%s\", got "
		    "\"%s\"", path, want, got ? got : "(missing)");
	free(got);
}

/* Nothing but the test's own files may appear outside root/. */
static void
t_expect_outside_clean(void)
{
	EXPECT_TRUE(!fs_exists("evil"));
	EXPECT_TRUE(!fs_exists("outside/pwned"));
	EXPECT_TRUE(!fs_exists("/tmp/slipway-unit-evil"));
}

TEST(runner__path_clean)
{
	char *p;

	EXPECT_OK(runner_unpack_path_clean(&p, "./a//b/./c/"));
	EXPECT_STR("a/b/c", p);
	free(p);
	EXPECT_OK(runner_unpack_path_clean(&p, "./"));
	EXPECT_STR("", p);
	free(p);
	EXPECT_INT(ERR_INVALID, runner_unpack_path_clean(&p, "/etc/passwd"));
	EXPECT_ERR_HAS("absolute");
	EXPECT_INT(ERR_INVALID, runner_unpack_path_clean(&p, "a/../../x"));
	EXPECT_ERR_HAS("'..'");
	EXPECT_INT(ERR_INVALID, runner_unpack_path_clean(&p, ".."));
}

TEST(runner__unpack_files_links_modes)
{
	const struct t_ent l1[] = {
		{ 'd', "./", NULL, 0 },
		{ 'd', "./app", NULL, 0750 },
		{ 'f', "./app/hello.txt", "hello\n", 0644 },
		{ 'f', "./usr/bin/tool", "#!/bin/sh\n", 06755 },
		{ 'l', "./app/link", "hello.txt", 0 },
		{ 'l', "./app/abs", "/etc/passwd", 0 },
		{ 'h', "./app/hard", "./app/hello.txt", 0 },
		{ 0, NULL, NULL, 0 },
	};
	const char *layers[] = { "l1.tar.gz" };
	struct stat st, st2;
	char target[256];
	ssize_t n;

	t_tar("l1.tar.gz", l1, true);
	EXPECT_OK(t_unpack(layers, 1));
	t_expect_file("root/app/hello.txt", "hello\n");
	EXPECT_INT(0, stat("root/app", &st));
	EXPECT_INT(0750, st.st_mode & 07777);
	/* parents made implicitly; setuid and setgid dropped */
	EXPECT_INT(0, stat("root/usr/bin/tool", &st));
	EXPECT_INT(0755, st.st_mode & 07777);
	n = readlink("root/app/abs", target, sizeof(target) - 1);
	EXPECT_INT(11, n);
	EXPECT_INT(0, lstat("root/app/hard", &st));
	EXPECT_INT(0, lstat("root/app/hello.txt", &st2));
	EXPECT_TRUE(st.st_ino == st2.st_ino);
}

TEST(runner__unpack_plain_tar_and_replace)
{
	const struct t_ent l1[] = {
		{ 'f', "a", "one", 0 },
		{ 'd', "b", NULL, 0 },
		{ 'f', "b/inner", "x", 0 },
		{ 0, NULL, NULL, 0 },
	};
	const struct t_ent l2[] = {
		{ 'f', "a", "two", 0 },
		{ 'f', "b", "now a file", 0 },	/* a dir replaced by a file */
		{ 0, NULL, NULL, 0 },
	};
	const char *layers[] = { "l1.tar", "l2.tar" };

	t_tar("l1.tar", l1, false);
	t_tar("l2.tar", l2, false);
	EXPECT_OK(t_unpack(layers, 2));
	t_expect_file("root/a", "two");
	t_expect_file("root/b", "now a file");
}

TEST(runner__whiteout_removes_from_lower)
{
	const struct t_ent l1[] = {
		{ 'f', "etc/keep", "k", 0 },
		{ 'f', "etc/gone", "g", 0 },
		{ 'd', "var/cache", NULL, 0 },
		{ 'f', "var/cache/big", "b", 0 },
		{ 0, NULL, NULL, 0 },
	};
	const struct t_ent l2[] = {
		{ 'f', "etc/.wh.gone", "", 0 },
		{ 'f', "var/.wh.cache", "", 0 },
		{ 'f', "etc/.wh.never-existed", "", 0 },
		{ 0, NULL, NULL, 0 },
	};
	const char *layers[] = { "l1.tgz", "l2.tgz" };

	t_tar("l1.tgz", l1, true);
	t_tar("l2.tgz", l2, true);
	EXPECT_OK(t_unpack(layers, 2));
	t_expect_file("root/etc/keep", "k");
	EXPECT_TRUE(!fs_exists("root/etc/gone"));
	EXPECT_TRUE(!fs_exists("root/var/cache"));
	/* the markers themselves are never written */
	EXPECT_TRUE(!fs_exists("root/etc/.wh.gone"));
	EXPECT_TRUE(!fs_exists("root/etc/.wh.never-existed"));
}

TEST(runner__opaque_dir_keeps_own_layer)
{
	const struct t_ent l1[] = {
		{ 'f', "d/old", "o", 0 },
		{ 'f', "d/sub/old2", "o", 0 },
		{ 'f', "d/sub/keep-me-not", "o", 0 },
		{ 'f', "other/stay", "s", 0 },
		{ 0, NULL, NULL, 0 },
	};
	/* Markers may come before or after the layer's own entries. */
	const struct t_ent l2[] = {
		{ 'f', "d/new", "n", 0 },
		{ 'd', "d/sub", NULL, 0 },
		{ 'f', "d/sub/fresh", "f", 0 },
		{ 'f', "d/.wh..wh..opq", "", 0 },
		{ 'f', "d/new2", "n2", 0 },
		{ 0, NULL, NULL, 0 },
	};
	const char *layers[] = { "l1.tgz", "l2.tgz" };

	t_tar("l1.tgz", l1, true);
	t_tar("l2.tgz", l2, true);
	EXPECT_OK(t_unpack(layers, 2));
	EXPECT_TRUE(!fs_exists("root/d/old"));
	EXPECT_TRUE(!fs_exists("root/d/sub/old2"));
	EXPECT_TRUE(!fs_exists("root/d/sub/keep-me-not"));
	t_expect_file("root/d/new", "n");
	t_expect_file("root/d/new2", "n2");
	t_expect_file("root/d/sub/fresh", "f");
	t_expect_file("root/other/stay", "s");
	EXPECT_TRUE(!fs_exists("root/d/.wh..wh..opq"));
}

TEST(runner__whiteout_malformed_refused)
{
	const struct t_ent l1[] = { { 'f', "a/x", "x", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent dots[] = { { 'f', "a/.wh...", "", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent dot[] = { { 'f', "a/.wh..", "", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent empty[] = { { 'f', "a/.wh.", "", 0 },
	    { 0, NULL, NULL, 0 } };
	const char *a[] = { "l1.tar", "dots.tar" };
	const char *b[] = { "l1.tar", "dot.tar" };
	const char *c[] = { "l1.tar", "empty.tar" };

	t_tar("l1.tar", l1, false);
	t_tar("dots.tar", dots, false);
	t_tar("dot.tar", dot, false);
	t_tar("empty.tar", empty, false);
	/* ".wh..." names "..": obeying it would erase the parent */
	EXPECT_INT(ERR_INVALID, t_unpack(a, 2));
	EXPECT_ERR_HAS("malformed whiteout");
	EXPECT_ERR_HAS("a/.wh...");
	EXPECT_INT(ERR_INVALID, t_unpack(b, 2));
	EXPECT_INT(ERR_INVALID, t_unpack(c, 2));
	t_expect_file("root/a/x", "x");
}

TEST(runner__refuses_absolute_and_dotdot)
{
	const struct t_ent abs[] = { { 'f', "/tmp/slipway-unit-evil", "x", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent up[] = { { 'f', "../evil", "x", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent deep[] = { { 'f', "a/b/../../../evil", "x", 0 },
	    { 0, NULL, NULL, 0 } };
	const char *l1[] = { "abs.tar" }, *l2[] = { "up.tar" },
	    *l3[] = { "deep.tar" };

	t_tar("abs.tar", abs, false);
	t_tar("up.tar", up, false);
	t_tar("deep.tar", deep, false);
	EXPECT_INT(ERR_INVALID, t_unpack(l1, 1));
	EXPECT_ERR_HAS("'/tmp/slipway-unit-evil' has an absolute path");
	EXPECT_ERR_HAS("layer 1");
	EXPECT_INT(ERR_INVALID, t_unpack(l2, 1));
	EXPECT_ERR_HAS("'../evil'");
	EXPECT_INT(ERR_INVALID, t_unpack(l3, 1));
	t_expect_outside_clean();
}

TEST(runner__refuses_write_through_symlink)
{
	char *outside = fs_join(harness_tmpdir(), "outside");
	const struct t_ent l1[] = { { 'l', "esc", outside, 0 },
	    { 'l', "rel", "../outside", 0 }, { 0, NULL, NULL, 0 } };
	const struct t_ent l2[] = { { 'f', "esc/pwned", "x", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent l3[] = { { 'f', "rel/pwned", "x", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent same[] = { { 'l', "s", outside, 0 },
	    { 'd', "s/sub", NULL, 0 }, { 0, NULL, NULL, 0 } };
	const struct t_ent wh[] = { { 'f', "esc/.wh.victim", "", 0 },
	    { 0, NULL, NULL, 0 } };
	const char *a[] = { "l1.tar", "l2.tar" }, *b[] = { "l1.tar", "l3.tar" };
	const char *c[] = { "same.tar" }, *d[] = { "l1.tar", "wh.tar" };

	mkdir("outside", 0755);
	harness_write("outside/victim", "v", 1, 0644);
	t_tar("l1.tar", l1, false);
	t_tar("l2.tar", l2, false);
	t_tar("l3.tar", l3, false);
	t_tar("same.tar", same, false);
	t_tar("wh.tar", wh, false);
	EXPECT_INT(ERR_INVALID, t_unpack(a, 2));
	EXPECT_ERR_HAS("entry 'esc/pwned' goes through symlink 'esc'");
	fs_remove_tree("root");
	EXPECT_INT(ERR_INVALID, t_unpack(b, 2));
	EXPECT_ERR_HAS("goes through symlink 'rel'");
	fs_remove_tree("root");
	EXPECT_INT(ERR_INVALID, t_unpack(c, 1));
	EXPECT_TRUE(!fs_exists("outside/sub"));
	fs_remove_tree("root");
	/* a whiteout through a link must not delete the host's file */
	EXPECT_INT(ERR_INVALID, t_unpack(d, 2));
	t_expect_file("outside/victim", "v");
	t_expect_outside_clean();
	free(outside);
}

TEST(runner__replaces_symlink_itself)
{
	char *target = fs_join(harness_tmpdir(), "outside/victim");
	const struct t_ent l1[] = { { 'l', "f", target, 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent l2[] = { { 'f', "f", "mine", 0 },
	    { 0, NULL, NULL, 0 } };
	const char *layers[] = { "l1.tar", "l2.tar" };
	struct stat st;

	mkdir("outside", 0755);
	harness_write("outside/victim", "v", 1, 0644);
	t_tar("l1.tar", l1, false);
	t_tar("l2.tar", l2, false);
	EXPECT_OK(t_unpack(layers, 2));
	EXPECT_INT(0, lstat("root/f", &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	t_expect_file("root/f", "mine");
	t_expect_file("outside/victim", "v");
	free(target);
}

TEST(runner__hardlinks_checked)
{
	const struct t_ent out[] = { { 'h', "x", "../outside/victim", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent abs[] = { { 'h', "x", "/etc/passwd", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent early[] = { { 'h', "b", "a", 0 },
	    { 'f', "a", "later", 0 }, { 0, NULL, NULL, 0 } };
	const struct t_ent via[] = { { 'l', "ln", "/etc", 0 },
	    { 'h', "x", "ln/passwd", 0 }, { 0, NULL, NULL, 0 } };
	const char *a[] = { "out.tar" }, *b[] = { "abs.tar" },
	    *c[] = { "early.tar" }, *d[] = { "via.tar" };

	t_tar("out.tar", out, false);
	t_tar("abs.tar", abs, false);
	t_tar("early.tar", early, false);
	t_tar("via.tar", via, false);
	EXPECT_INT(ERR_INVALID, t_unpack(a, 1));
	EXPECT_ERR_HAS("hardlink 'x' points outside");
	EXPECT_INT(ERR_INVALID, t_unpack(b, 1));
	EXPECT_ERR_HAS("'/etc/passwd'");
	EXPECT_INT(ERR_INVALID, t_unpack(c, 1));
	EXPECT_ERR_HAS("not unpacked yet");
	EXPECT_INT(ERR_INVALID, t_unpack(d, 1));
	EXPECT_ERR_HAS("goes through symlink 'ln'");
	EXPECT_TRUE(!fs_exists("root/x"));
}

TEST(runner__devices_and_fifos_skipped)
{
	const struct t_ent l1[] = { { 'c', "dev/null", NULL, 0666 },
	    { 'p', "run/fifo", NULL, 0644 }, { 'f', "ok", "ok", 0 },
	    { 0, NULL, NULL, 0 } };
	const char *layers[] = { "l1.tar" };

	t_tar("l1.tar", l1, false);
	t_warnings = 0;
	EXPECT_OK(t_unpack(layers, 1));
	EXPECT_INT(2, t_warnings);
	EXPECT_TRUE(!fs_exists("root/dev/null"));
	EXPECT_TRUE(!fs_exists("root/run/fifo"));
	t_expect_file("root/ok", "ok");
}

TEST(runner__size_caps)
{
	const struct t_ent l1[] = { { 'f', "big", "0123456789abcdef", 0 },
	    { 0, NULL, NULL, 0 } };
	const struct t_ent many[] = { { 'f', "a", "", 0 }, { 'f', "b", "", 0 },
	    { 'f', "c", "", 0 }, { 0, NULL, NULL, 0 } };
	const char *layers[] = { "l1.tar" }, *m[] = { "many.tar" };
	struct runner_unpack_opts o = { .limits = { .entry_max = 8 } };
	struct runner_unpack_opts t = { .limits = { .total_max = 8 } };
	struct runner_unpack_opts e = { .limits = { .entries_max = 2 } };

	t_tar("l1.tar", l1, false);
	t_tar("many.tar", many, false);
	mkdir("root", 0755);
	EXPECT_INT(ERR_TOOBIG, runner_layers_unpack("root", layers, 1, &o));
	EXPECT_ERR_HAS("entry 'big' is larger than 8 bytes");
	EXPECT_INT(ERR_TOOBIG, runner_layers_unpack("root", layers, 1, &t));
	EXPECT_INT(ERR_TOOBIG, runner_layers_unpack("root", m, 1, &e));
	EXPECT_ERR_HAS("more than 2 entries");
}

TEST(runner__not_a_tar_refused)
{
	const char *layers[] = { "junk.tar.gz" };

	harness_write("junk.tar.gz", "\x1f\x8b garbage that is not gzip", 25,
	    0644);
	EXPECT_INT(ERR_INVALID, t_unpack(layers, 1));
	EXPECT_ERR_HAS("layer 1");
}

TEST(runner__image_unpack_once)
{
	char *home = xstrdup(harness_tmpdir()), *rootfs = NULL;
	const char *layers[] = { "img.tgz" };

	t_image(home, T_DIGEST);
	EXPECT_TRUE(fs_is_dir("runner/images/" T_HEX "/rootfs/app"));
	/* A second unpack of the same digest does nothing: a file we add is
	 * still there, and the layer is not even read. */
	harness_write("runner/images/" T_HEX "/rootfs/marker", "m", 1, 0644);
	unlink("img.tgz");
	EXPECT_OK(runner_image_unpack(&rootfs, home, T_DIGEST, layers, 1,
	    NULL));
	EXPECT_TRUE(fs_exists("runner/images/" T_HEX "/rootfs/marker"));
	EXPECT_TRUE(strstr(rootfs, "/runner/images/" T_HEX "/rootfs") != NULL);
	free(rootfs);
	EXPECT_INT(ERR_INVALID, runner_image_unpack(NULL, home, "sha256:zz",
	    layers, 1, NULL));
	free(home);
}

TEST(runner__image_unpack_concurrent)
{
	char *home = xstrdup(harness_tmpdir());
	const struct t_ent l1[] = { { 'f', "app/a", "a", 0 },
	    { 'f', "app/b", "b", 0 }, { 0, NULL, NULL, 0 } };
	const char *layers[] = { "img.tgz" };
	pid_t kids[4];
	int st;

	t_tar("img.tgz", l1, true);
	for (int i = 0; i < 4; i++) {
		if ((kids[i] = fork()) == 0)
			_exit(runner_image_unpack(NULL, home, T_DIGEST, layers,
			    1, NULL) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 4; i++) {
		EXPECT_INT(kids[i], waitpid(kids[i], &st, 0));
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	t_expect_file("runner/images/" T_HEX "/rootfs/app/b", "b");
	/* no temp dir left behind */
	SH("test $(ls -a runner/images | grep -c tmp) = 0");
	free(home);
}

TEST(runner__image_unpack_hostile_leaves_nothing)
{
	char *home = xstrdup(harness_tmpdir());
	const struct t_ent l1[] = { { 'f', "ok", "x", 0 },
	    { 'f', "../evil", "x", 0 }, { 0, NULL, NULL, 0 } };
	const char *layers[] = { "bad.tar" };

	t_tar("bad.tar", l1, false);
	EXPECT_INT(ERR_INVALID, runner_image_unpack(NULL, home, T_DIGEST,
	    layers, 1, NULL));
	EXPECT_ERR_HAS("cannot unpack image '" T_DIGEST "'");
	EXPECT_TRUE(!fs_exists("runner/images/" T_HEX));
	SH("test $(ls -a runner/images | grep -c tmp) = 0");
	t_expect_outside_clean();
	free(home);
}

TEST(runner__keep_select_and_gc)
{
	char *home = xstrdup(harness_tmpdir()), **keep = NULL;
	unsigned removed = 99;
	const char *d3 = "sha256:"
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
	struct runner_release_ref rel[] = {
		{ "web", 1, T_DIGEST }, { "web", 3, d3 }, { "web", 2, T_DIGEST2 },
		{ "api", 7, T_DIGEST },
	};

	/* the last 1 per app: web v3 (c..) and api v7 (a..) */
	EXPECT_OK(runner_images_keep_select(&keep, rel, 4, 1));
	EXPECT_TRUE(keep[0] && keep[1] && keep[2] == NULL);
	EXPECT_TRUE((strcmp(keep[0], d3) == 0 && strcmp(keep[1], T_DIGEST) == 0)
	    || (strcmp(keep[1], d3) == 0 && strcmp(keep[0], T_DIGEST) == 0));
	runner_strv_free(keep);

	t_image(home, T_DIGEST);
	t_image(home, T_DIGEST2);
	t_image(home, d3);
	/* a container still uses d3 */
	harness_write("runner/containers/x/state.json", "{}", 2, 0600);
	SH("printf '%%s' '{\"id\":\"x\",\"app\":\"web\",\"release\":\"v3\","
	    "\"process_type\":\"web\",\"index\":1,\"command\":\"c\",\"image\":"
	    "\"%s\",\"rootfs_lower\":\"/x\",\"env\":[],\"state\":\"up\","
	    "\"driver\":\"process\"}' > runner/containers/x/state.json", d3);
	char *k[] = { T_DIGEST, NULL };
	EXPECT_OK(runner_images_gc(home, k, &removed));
	EXPECT_INT(1, removed);
	EXPECT_TRUE(fs_is_dir("runner/images/" T_HEX "/rootfs"));
	EXPECT_TRUE(!fs_exists("runner/images/"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
	EXPECT_TRUE(fs_is_dir("runner/images/"
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"));
	free(home);
}
