/* Unit tests for runner/: layer unpack (whiteouts, hostile entries),
 * images, config.json, env, users, ports, logs, health, process driver. */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/runner.h"
#include "../../runner/runner_int.h"

/* One entry of a crafted tar: type f(ile) d(ir) l(symlink) h(ardlink)
 * c(har device) p(fifo); data is the content or the link target. */
struct t_ent {
	char type;
	const char *path;
	const char *data;
	int mode;
};

static void
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

#define T_DIGEST "sha256:" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define T_DIGEST2 "sha256:" \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define T_HEX "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void
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

TEST(runner__port_find_skips_used)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	unsigned port, base, taken[1];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* a listener on a port the kernel picked */
	EXPECT_INT(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_INT(0, listen(fd, 1));
	EXPECT_INT(0, getsockname(fd, (struct sockaddr *)&sa, &len));
	base = ntohs(sa.sin_port);
	EXPECT_OK(runner_port_find(&port, base, NULL, 0));
	EXPECT_TRUE(port > base);
	taken[0] = port;
	unsigned again;
	EXPECT_OK(runner_port_find(&again, base, taken, 1));
	EXPECT_TRUE(again > port);
	close(fd);
	EXPECT_OK(runner_port_find(&port, base, NULL, 0));
	EXPECT_INT(base, port);
}

TEST(runner__config_json)
{
	char *env[] = { "PORT=20001", "SLIPWAY_APP=web", NULL };
	struct runner_bundle_params p = { .id = "web.web.1.abcd",
	    .rootfs = "/x/rootfs", .command = "busybox httpd -f -p $PORT",
	    .env = env, .cwd = "/app", .uid = 1000, .gid = 1001,
	    .hostname = "web-web-1", .memory_bytes = 256 << 20,
	    .pids_max = 64, .nofile = 4096 };
	json_t *j = runner_bundle_config(&p), *v;
	size_t i;
	bool has_tmp = false, has_proc = false, masks_kcore = false;

	EXPECT_STR("/bin/sh", json_string_value(json_array_get(
	    json_object_get(json_object_get(j, "process"), "args"), 0)));
	EXPECT_STR("-c", json_string_value(json_array_get(
	    json_object_get(json_object_get(j, "process"), "args"), 1)));
	EXPECT_STR("busybox httpd -f -p $PORT", json_string_value(
	    json_array_get(json_object_get(json_object_get(j, "process"),
	    "args"), 2)));
	EXPECT_STR("/app", json_string_value(json_object_get(
	    json_object_get(j, "process"), "cwd")));
	EXPECT_TRUE(json_is_true(json_object_get(json_object_get(j, "process"),
	    "noNewPrivileges")));
	EXPECT_INT(1000, json_integer_value(json_object_get(json_object_get(
	    json_object_get(j, "process"), "user"), "uid")));
	EXPECT_INT(1001, json_integer_value(json_object_get(json_object_get(
	    json_object_get(j, "process"), "user"), "gid")));
	EXPECT_STR("PORT=20001", json_string_value(json_array_get(
	    json_object_get(json_object_get(j, "process"), "env"), 0)));
	EXPECT_TRUE(json_is_false(json_object_get(json_object_get(j,
	    "process"), "terminal")));
	json_array_foreach(json_object_get(json_object_get(j, "linux"),
	    "namespaces"), i, v)
		EXPECT_TRUE(strcmp(json_string_value(json_object_get(v, "type")),
		    "network") != 0);
	EXPECT_INT(4, json_array_size(json_object_get(json_object_get(j,
	    "linux"), "namespaces")));
	EXPECT_INT(256 << 20, json_integer_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(j, "linux"),
	    "resources"), "memory"), "limit")));
	EXPECT_INT(64, json_integer_value(json_object_get(json_object_get(
	    json_object_get(json_object_get(j, "linux"), "resources"), "pids"),
	    "limit")));
	json_array_foreach(json_object_get(j, "mounts"), i, v) {
		const char *d = json_string_value(json_object_get(v,
		    "destination"));
		has_tmp |= strcmp(d, "/tmp") == 0;
		has_proc |= strcmp(d, "/proc") == 0;
	}
	EXPECT_TRUE(has_tmp && has_proc);
	json_array_foreach(json_object_get(json_object_get(j, "linux"),
	    "maskedPaths"), i, v)
		masks_kcore |= strcmp(json_string_value(v), "/proc/kcore") == 0;
	EXPECT_TRUE(masks_kcore);
	EXPECT_STR("/x/rootfs", json_string_value(json_object_get(
	    json_object_get(j, "root"), "path")));
	json_decref(j);

	/* With the init: it is the process, mounted read-only where the
	 * process runs it (after /dev, whose tmpfs it lands on), and
	 * executable (no noexec). */
	p.init = "/home/runner/init";
	j = runner_bundle_config(&p);
	json_t *args = json_object_get(json_object_get(j, "process"), "args");
	const char *want[] = { RUNNER_INIT_PATH, "--", "/bin/sh", "-c",
	    "busybox httpd -f -p $PORT" };
	EXPECT_INT(5, json_array_size(args));
	for (i = 0; i < 5; i++)
		EXPECT_STR(want[i], json_string_value(json_array_get(args, i)));
	size_t at_dev = 0, at_init = 0;
	json_array_foreach(json_object_get(j, "mounts"), i, v) {
		const char *d = json_string_value(json_object_get(v,
		    "destination"));
		json_t *o;
		size_t k;
		bool ro = false, nosuid = false, noexec = false;
		if (strcmp(d, "/dev") == 0)
			at_dev = i + 1;
		if (strcmp(d, RUNNER_INIT_PATH) != 0)
			continue;
		at_init = i + 1;
		EXPECT_STR("/home/runner/init", json_string_value(
		    json_object_get(v, "source")));
		EXPECT_STR("bind", json_string_value(json_object_get(v,
		    "type")));
		json_array_foreach(json_object_get(v, "options"), k, o) {
			ro |= strcmp(json_string_value(o), "ro") == 0;
			nosuid |= strcmp(json_string_value(o), "nosuid") == 0;
			noexec |= strcmp(json_string_value(o), "noexec") == 0;
		}
		EXPECT_TRUE(ro && nosuid && !noexec);
	}
	EXPECT_TRUE(at_dev > 0 && at_init > at_dev);
	json_decref(j);
}

TEST(runner__env_order)
{
	char *img[] = { "PATH=/img/bin", "LANG=C", "PORT=1", NULL };
	char *cfg[] = { "LANG=en_US.UTF-8", "SECRET=s", "SLIPWAY_APP=fake",
	    "bogus", NULL };
	char **e = runner_env_build(img, cfg, 20005, "web", "v2", "web.1",
	    "/app");
	struct buf b;

	buf_init(&b, 0);
	for (char **p = e; *p; p++)
		buf_printf(&b, "%s;", *p);
	EXPECT_STR("PATH=/img/bin;LANG=en_US.UTF-8;PORT=20005;SECRET=s;"
	    "SLIPWAY_APP=web;HOME=/app;SLIPWAY_RELEASE=v2;"
	    "SLIPWAY_PROCESS=web.1;", b.ptr);
	buf_free(&b);
	runner_strv_free(e);
}

TEST(runner__user_from_image)
{
	uid_t uid;
	gid_t gid;

	mkdir("r", 0755);
	mkdir("r/etc", 0755);
	/* no passwd: root */
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", NULL));
	EXPECT_INT(0, uid);
	const char *pw = "root:x:0:0::/root:/bin/sh\n"
	    "daemon:x:1:1::/:/bin/false\nu:x:1000:1000::/app:/bin/sh\n"
	    "nobody:x:65534:65534::/:/bin/false\n";
	harness_write("r/etc/passwd", pw, strlen(pw), 0644);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", NULL));
	EXPECT_INT(1000, uid);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", "daemon"));
	EXPECT_INT(1, uid);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", "4242:99"));
	EXPECT_INT(4242, uid);
	EXPECT_INT(99, gid);
	EXPECT_INT(ERR_NOTFOUND, runner_user_resolve(&uid, &gid, "r", "zed"));
	/* a passwd that is a link to the host's is read inside the rootfs:
	 * it points at nothing there */
	unlink("r/etc/passwd");
	EXPECT_INT(0, symlink("/etc/passwd", "r/etc/passwd"));
	EXPECT_TRUE(runner_user_resolve(&uid, &gid, "r", "root") < 0);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", NULL));
	EXPECT_INT(0, uid);
}

static int
t_collect(const char *line, size_t len, void *ctx)
{
	buf_put(ctx, line, len);
	buf_putc(ctx, '\n');
	return 0;
}

TEST(runner__logs_ring_filter_rotate)
{
	char *home = xstrdup(harness_tmpdir());
	struct runner_log_query q = { .app = "shop", .lines = 3 };
	struct buf b;
	char line[64];

	EXPECT_INT(ERR_NOTFOUND, runner_logs_read(home, &q, t_collect, &b));
	EXPECT_INT(ERR_INVALID, runner_log_append(home, "../x", "web.1", "x",
	    1, 0));
	for (int i = 1; i <= 5; i++) {
		snprintf(line, sizeof(line), "GET /%d 200", i);
		EXPECT_OK(runner_log_append(home, "shop", i % 2 ? "web.1" :
		    "worker.1", line, strlen(line), 0));
	}
	EXPECT_OK(runner_log_append(home, "shop", "slipway[web.2]", "up", 2, 0));
	buf_init(&b, 0);
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "worker.1: GET /4 200\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "web.1: GET /5 200\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "slipway[web.2]: up\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "GET /3") == NULL);
	/* format: 2026-11-22T12:00:00.123Z web.1: ... */
	EXPECT_TRUE(b.ptr[4] == '-' && b.ptr[10] == 'T' && b.ptr[19] == '.' &&
	    b.ptr[23] == 'Z' && b.ptr[24] == ' ');
	buf_reset(&b);
	q.process = "web";
	q.lines = 10;
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "worker") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "GET /1 200") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "slipway[web.2]: up") != NULL);
	buf_reset(&b);
	q.process = "web.1";
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "web.2") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "GET /5 200") != NULL);
	/* rotation past the cap: the reader spans .log.1 and .log */
	for (int i = 0; i < 50; i++) {
		snprintf(line, sizeof(line), "line %d", i);
		EXPECT_OK(runner_log_append(home, "rot", "web.1", line,
		    strlen(line), 1024));
	}
	EXPECT_TRUE(fs_exists("logs/apps/rot.log.1"));
	struct stat st;
	EXPECT_INT(0, stat("logs/apps/rot.log", &st));
	EXPECT_TRUE(st.st_size < 1024);
	buf_reset(&b);
	struct runner_log_query r = { .app = "rot", .lines = 5 };
	EXPECT_OK(runner_logs_read(home, &r, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "line 45\n") && strstr(b.ptr, "line 49\n"));
	EXPECT_TRUE(strstr(b.ptr, "line 44\n") == NULL);
	buf_free(&b);
	free(home);
}

/* A one-shot HTTP server in a child: answers each connection with
 * status, until killed. */
static pid_t
t_http_server(unsigned *port, const char *status)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	listen(fd, 8);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	if ((pid = fork()) == 0) {
		for (;;) {
			int c = accept(fd, NULL, NULL);
			char req[1024];
			if (c < 0)
				continue;
			(void)!read(c, req, sizeof(req));
			dprintf(c, "HTTP/1.1 %s\r\nContent-Length: 0\r\n\r\n",
			    status);
			close(c);
		}
	}
	close(fd);
	return pid;
}

TEST(runner__health_answers)
{
	char answer[256];
	unsigned port;
	pid_t ok = t_http_server(&port, "302 Found");
	struct runner_health_opts o = { .port = port, .path = "/health",
	    .interval_sec = 0.1, .deadline_sec = 1 };

	EXPECT_OK(runner_health_check(&o, answer, sizeof(answer)));
	EXPECT_STR("HTTP/1.1 302 Found", answer);
	EXPECT_OK(runner_health_wait(&o, answer, sizeof(answer)));
	kill(ok, SIGKILL);
	waitpid(ok, NULL, 0);

	pid_t bad = t_http_server(&port, "503 Service Unavailable");
	o.port = port;
	EXPECT_TRUE(runner_health_check(&o, answer, sizeof(answer)) < 0);
	EXPECT_STR("HTTP/1.1 503 Service Unavailable", answer);
	EXPECT_INT(ERR_TIMEOUT, runner_health_wait(&o, answer, sizeof(answer)));
	EXPECT_ERR_HAS("never became healthy in 1s: HTTP/1.1 503 Service "
	    "Unavailable");
	kill(bad, SIGKILL);
	waitpid(bad, NULL, 0);
	/* nothing listens there now */
	EXPECT_TRUE(runner_health_check(&o, answer, sizeof(answer)) < 0);
	EXPECT_TRUE(strstr(answer, "cannot connect to 127.0.0.1:") != NULL);
	EXPECT_TRUE(strstr(answer, "connection refused") != NULL);
	o.path = "no-slash";
	EXPECT_INT(ERR_INVALID, runner_health_check(&o, answer,
	    sizeof(answer)));
}

static struct runner_container_info
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

TEST(runner__process_driver_runs_logs_restarts)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL, *id2 = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	char *env[] = { "GREETING=hello", NULL };
	struct runner_container_spec once = { .app = "demo", .release = "v4",
	    .process_type = "job", .command = "echo $GREETING $SLIPWAY_PROCESS "
	    "$SLIPWAY_RELEASE port=$PORT; cat index.html; echo; echo oops >&2;"
	    " exit 3", .image = T_DIGEST, .env = env, .no_restart = true };
	struct runner_container_spec crash = { .app = "demo", .release = "v4",
	    .process_type = "web", .command = "echo boot; exit 1",
	    .image = T_DIGEST };
	struct runner_container_info i;
	struct buf b;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_INT(RUNNER_DRIVER_PROCESS, runner_driver(r));
	EXPECT_OK(runner_container_create(&id, r, &once));
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_INT(RUNNER_STATE_INITIALIZED, i.state);
	EXPECT_TRUE(i.port >= 20000);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_start(r, id));
	i = t_wait_state(r, id, RUNNER_STATE_DOWN, 0);
	EXPECT_INT(3, i.exit_code);
	EXPECT_INT(0, i.restarts);
	runner_container_info_free(&i);

	/* a crash restarts with backoff, counted */
	EXPECT_OK(runner_container_create(&id2, r, &crash));
	EXPECT_OK(runner_container_start(r, id2));
	/* two crashes: the first restart has happened */
	i = t_wait_state(r, id2, RUNNER_STATE_DOWN, 2);
	EXPECT_INT(1, i.exit_code);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_stop(r, id2, 1));
	EXPECT_OK(runner_container_destroy(r, id2));
	EXPECT_INT(ERR_NOTFOUND, runner_container_get(&i, r, id2));

	buf_init(&b, 0);
	struct runner_log_query q = { .app = "demo", .lines = 100 };
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, " job.1: hello job.1 v4 port=") != NULL);
	EXPECT_TRUE(strstr(b.ptr, " job.1: hi\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, " job.1: oops\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "slipway[job.1]: process exited with "
	    "status 3") != NULL);
	EXPECT_TRUE(strstr(b.ptr, " web.1: boot\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "slipway[web.1]: restarted (restart 1)") !=
	    NULL);
	buf_free(&b);

	/* `ps` from another process reads the state files */
	struct runner_container_info *v;
	size_t n;
	EXPECT_OK(runner_container_list_home(&v, &n, home));
	EXPECT_INT(1, n);
	EXPECT_STR("job.1", v[0].process);
	EXPECT_INT(RUNNER_DRIVER_PROCESS, v[0].driver);
	runner_container_info_free(&v[0]);
	free(v);

	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(id2);
	free(home);
}

TEST(runner__create_refuses_bad_spec)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS };
	struct runner_container_spec s = { .app = "Bad", .release = "v1",
	    .process_type = "web", .command = "true", .image = T_DIGEST };

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_INT(ERR_INVALID, runner_container_create(&id, r, &s));
	s.app = "ok";
	s.release = "1";
	EXPECT_INT(ERR_INVALID, runner_container_create(&id, r, &s));
	s.release = "v1";
	s.process_type = "../x";
	EXPECT_INT(ERR_INVALID, runner_container_create(&id, r, &s));
	s.process_type = "web";
	s.image = T_DIGEST2;
	EXPECT_INT(ERR_NOTFOUND, runner_container_create(&id, r, &s));
	EXPECT_ERR_HAS("not unpacked");
	runner_close(r);
	free(home);
}

TEST(runner__reopen_adopts_running_container)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "keep", .release = "v1",
	    .process_type = "worker", .command = "echo up; exec sleep 600",
	    .image = T_DIGEST };
	struct runner_container_info a, b;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	a = t_wait_state(r, id, RUNNER_STATE_UP, 0);
	/* one runner per home */
	struct runner *second = NULL;
	EXPECT_INT(ERR_CONFLICT, runner_open(&second, &ro));
	EXPECT_ERR_HAS("another runner (pid ");
	/* the runner goes away; the container does not */
	runner_close(r);
	EXPECT_INT(0, kill(a.pid, 0));
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_get(&b, r, id));
	EXPECT_INT(RUNNER_STATE_UP, b.state);
	EXPECT_INT(a.pid, b.pid);
	EXPECT_INT(0, b.restarts);
	runner_container_info_free(&b);
	/* a crash of the adopted process is seen and restarted */
	kill(a.pid, SIGKILL);
	b = t_wait_state(r, id, RUNNER_STATE_UP, 1);
	EXPECT_TRUE(b.pid != a.pid);
	runner_container_info_free(&b);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	runner_container_info_free(&a);
	free(id);
	free(home);
}

/* A retiring container keeps running, is not restarted, and stays
 * marked across a runner restart; a stop that the runner's cancel cuts
 * short leaves it running and destroys nothing. */
TEST(runner__retire_and_cancelled_stop)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	atomic_int cancel = 0;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 30,
	    .cancel = &cancel };
	/* deaf to SIGTERM: only SIGKILL ends it */
	struct runner_container_spec s = { .app = "old", .release = "v1",
	    .process_type = "web", .image = T_DIGEST,
	    .command = "trap '' TERM; echo up; exec sleep 600" };
	struct runner_container_info a, b, *v;
	size_t n;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	a = t_wait_state(r, id, RUNNER_STATE_UP, 0);
	EXPECT_TRUE(!a.retiring && a.want_up);
	EXPECT_INT(ERR_NOTFOUND, runner_container_retire(r, "nope"));
	EXPECT_OK(runner_container_retire(r, id));
	EXPECT_OK(runner_container_get(&b, r, id));
	EXPECT_TRUE(b.retiring && !b.want_up);
	EXPECT_INT(RUNNER_STATE_UP, b.state);
	EXPECT_INT(a.pid, b.pid);
	runner_container_info_free(&b);
	/* the state file says so (ps, a runner adopting it) */
	EXPECT_OK(runner_container_list_home(&v, &n, home));
	EXPECT_INT(1, n);
	EXPECT_TRUE(v[0].retiring && !v[0].want_up);
	runner_container_info_free(&v[0]);
	free(v);

	/* the daemon stops: the grace is not waited out */
	cancel = 1;
	EXPECT_INT(ERR_CONFLICT, runner_container_stop(r, id, 30));
	EXPECT_ERR_HAS("cut short");
	EXPECT_INT(ERR_CONFLICT, runner_container_destroy(r, id));
	EXPECT_OK(runner_container_get(&b, r, id));
	EXPECT_INT(RUNNER_STATE_UP, b.state);
	runner_container_info_free(&b);
	EXPECT_INT(0, kill(a.pid, 0));
	runner_close(r);

	/* the next runner adopts it, still retiring; its end is final */
	cancel = 0;
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_get(&b, r, id));
	EXPECT_TRUE(b.retiring && !b.want_up);
	EXPECT_INT(RUNNER_STATE_UP, b.state);
	EXPECT_INT(a.pid, b.pid);
	runner_container_info_free(&b);
	kill(a.pid, SIGKILL);
	b = t_wait_state(r, id, RUNNER_STATE_DOWN, 0);
	runner_container_info_free(&b);
	poll(NULL, 0, 300);
	EXPECT_OK(runner_container_get(&b, r, id));
	EXPECT_INT(RUNNER_STATE_DOWN, b.state);
	EXPECT_INT(0, b.restarts);
	runner_container_info_free(&b);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	runner_container_info_free(&a);
	free(id);
	free(home);
}

static int
t_follow(const char *line, size_t len, void *ctx)
{
	t_collect(line, len, ctx);
	/* stop once the last line the writer sends has come */
	return strstr(line, "web.1: last") ? -1 : 0;
}

TEST(runner__logs_follow_across_rotation)
{
	char *home = xstrdup(harness_tmpdir());
	struct runner_log_query q = { .app = "tail", .lines = 2,
	    .follow = true };
	struct buf b;
	pid_t kid;
	int st;

	EXPECT_OK(runner_log_append(home, "tail", "web.1", "old", 3, 0));
	if ((kid = fork()) == 0) {
		char line[64];
		poll(NULL, 0, 300);
		/* a small cap: the log rotates once while it is followed
		 * (~42-byte lines, 600-byte cap) */
		for (int i = 0; i < 24; i++) {
			poll(NULL, 0, 20);
			snprintf(line, sizeof(line), "new %d", i);
			runner_log_append(home, "tail", i % 2 ? "web.1" :
			    "worker.1", line, strlen(line), 600);
		}
		runner_log_append(home, "tail", "web.1", "last", 4, 600);
		_exit(0);
	}
	buf_init(&b, 0);
	q.process = "web";
	EXPECT_OK(runner_logs_read(home, &q, t_follow, &b));
	EXPECT_INT(kid, waitpid(kid, &st, 0));
	EXPECT_TRUE(fs_exists("logs/apps/tail.log.1"));
	EXPECT_TRUE(strstr(b.ptr, "web.1: old\n") != NULL);
	/* every web line, in order, none of the worker's */
	for (int i = 1; i < 24; i += 2) {
		char want[32];
		snprintf(want, sizeof(want), "web.1: new %d\n", i);
		EXPECT_TRUE(strstr(b.ptr, want) != NULL);
	}
	EXPECT_TRUE(strstr(b.ptr, "worker") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "web.1: last\n") != NULL);
	buf_free(&b);
	free(home);
}

TEST(runner__label_and_want_up_in_snapshots)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "lab", .release = "v2",
	    .process_type = "web", .command = "exec sleep 600",
	    .image = T_DIGEST, .label = "0123abcd" };
	struct runner_container_info i, *v;
	size_t n;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	s.label = "bad label";
	EXPECT_INT(ERR_INVALID, runner_container_create(&id, r, &s));
	s.label = "0123abcd";
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_STR("0123abcd", i.label);
	EXPECT_TRUE(!i.want_up && !i.no_restart);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_start(r, id));
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_TRUE(i.want_up);
	runner_container_info_free(&i);
	/* kept in the state file: another process, and the next runner,
	 * read it back */
	runner_close(r);
	EXPECT_OK(runner_container_list_home(&v, &n, home));
	EXPECT_INT(1, n);
	EXPECT_STR("0123abcd", v[0].label);
	EXPECT_TRUE(v[0].want_up);
	runner_container_info_free(&v[0]);
	free(v);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_stop(r, id, 1));
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_STR("0123abcd", i.label);
	EXPECT_TRUE(!i.want_up);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(home);
}

/* Running, not a zombie. */
static bool
t_alive(pid_t pid)
{
	char path[64], *p;
	struct buf b;
	bool alive;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (fs_read_file(&b, path, 4096) < 0) {
		err_clear();
		return false;
	}
	p = strrchr(b.ptr, ')');
	alive = p && p[1] == ' ' && p[2] != 'Z';
	buf_free(&b);
	return alive;
}

/* dash does not exec the last command: the app is the shell's child.
 * When an adopted shell dies, its child must not live on holding the
 * app's port (the restart would crash-loop on "address in use"). */
TEST(runner__adopted_shell_takes_its_children)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "kids", .release = "v1",
	    .process_type = "worker", .command = "sleep 600 & echo $! >kid; "
	    "wait", .image = T_DIGEST };
	struct runner_container_info a, b;
	char *kidfile = NULL;
	struct buf kb;
	pid_t kid;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	a = t_wait_state(r, id, RUNNER_STATE_UP, 0);
	kidfile = xasprintf("%s/runner/images/%s/rootfs/app/kid", home,
	    T_DIGEST + 7);
	for (int k = 0; k < 100 && access(kidfile, F_OK) != 0; k++)
		poll(NULL, 0, 50);
	EXPECT_OK(fs_read_file(&kb, kidfile, 64));
	kid = (pid_t)atoi(kb.ptr);
	buf_free(&kb);
	EXPECT_TRUE(kid > 0 && kill(kid, 0) == 0);
	runner_close(r);
	EXPECT_OK(runner_open(&r, &ro));
	/* the shell dies while adopted: its group goes with it */
	kill(a.pid, SIGKILL);
	b = t_wait_state(r, id, RUNNER_STATE_UP, 1);
	runner_container_info_free(&b);
	/* killed: gone, or a zombie of ours (we are the subreaper its
	 * shell left it to) */
	for (int k = 0; k < 100 && t_alive(kid); k++)
		poll(NULL, 0, 50);
	EXPECT_TRUE(!t_alive(kid));
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	runner_container_info_free(&a);
	unlink(kidfile);
	free(kidfile);
	free(id);
	free(home);
}

/* A health check's answer counts only from the container's own socket. */
TEST(runner__port_owner)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "own", .release = "v1",
	    .process_type = "web", .image = T_DIGEST,
	    .command = "busybox httpd -f -p 127.0.0.1:$PORT -h ." };
	struct runner_container_info i;
	struct sockaddr_in sa = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	enum runner_port_owner own = RUNNER_PORT_NOBODY;
	int fd;

	if (access("/bin/busybox", X_OK) != 0)
		harness_skip("no /bin/busybox");
	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	EXPECT_OK(runner_container_get(&i, r, id));
	for (int k = 0; k < 200 && own != RUNNER_PORT_OURS; k++) {
		EXPECT_OK(runner_container_port_owner(&own, r, id, i.port));
		poll(NULL, 0, 50);
	}
	EXPECT_INT(RUNNER_PORT_OURS, own);
	/* someone else's listener */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	EXPECT_INT(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	EXPECT_INT(0, listen(fd, 1));
	EXPECT_INT(0, getsockname(fd, (struct sockaddr *)&sa, &len));
	EXPECT_OK(runner_container_port_owner(&own, r, id,
	    ntohs(sa.sin_port)));
	EXPECT_INT(RUNNER_PORT_OTHER, own);
	close(fd);
	/* nobody, which is not an unknown container */
	EXPECT_OK(runner_container_port_owner(&own, r, id,
	    ntohs(sa.sin_port)));
	EXPECT_INT(RUNNER_PORT_NOBODY, own);
	EXPECT_INT(ERR_NOTFOUND, runner_container_port_owner(&own, r, "nope",
	    1));
	EXPECT_ERR_HAS("no container 'nope'");
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(home);
}

TEST(runner__container_last_line)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL, last[64];
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "words", .release = "v1",
	    .process_type = "job", .image = T_DIGEST, .no_restart = true,
	    .command = "echo first; printf 'last \\033words\\n\\n' >&2; exit 1" };
	struct runner_container_info i;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_last_line(last, sizeof(last), r, id));
	EXPECT_STR("", last);
	EXPECT_OK(runner_container_start(r, id));
	i = t_wait_state(r, id, RUNNER_STATE_DOWN, 0);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_last_line(last, sizeof(last), r, id));
	EXPECT_STR("last ?words", last);
	EXPECT_OK(runner_container_last_line(last, 5, r, id));
	EXPECT_STR("ords", last);
	EXPECT_INT(ERR_NOTFOUND, runner_container_last_line(last, sizeof(last),
	    r, "nope"));
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(home);
}

/* The supervisor sleeps in poll over the pidfds it saw; while it sleeps
 * the process may end and another take its place under the same fd
 * number.  The old process's end must not be taken for the new one's. */
TEST(runner__supervisor_tells_a_replaced_process)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2 };
	struct runner_container_spec s = { .app = "swap", .release = "v1",
	    .process_type = "worker", .command = "exec sleep 600",
	    .image = T_DIGEST };
	struct runner_container_info i;
	struct runner_ctr *c;
	struct pollfd p;
	pid_t old, new;
	int fd;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	i = t_wait_state(r, id, RUNNER_STATE_UP, 0);
	runner_container_info_free(&i);
	poll(NULL, 0, 100);	/* the supervisor polls the new pidfd */
	/* Holding the table lock keeps the supervisor between its poll and
	 * its look at the table, as another thread's slow turn would. */
	pthread_mutex_lock(&r->mu);
	c = runner_find(r, id);
	old = c->pid;
	fd = c->pidfd;
	kill(old, SIGKILL);
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	EXPECT_INT(1, poll(&p, 1, 5000));
	poll(NULL, 0, 100);	/* its poll has returned */
	EXPECT_INT(1, runner_ctr_reap(r, c, true, 1));
	EXPECT_OK(runner_ctr_launch(r, c));
	if (c->pidfd != fd) {
		EXPECT_INT(fd, dup2(c->pidfd, fd));
		close(c->pidfd);
		c->pidfd = fd;
	}
	new = c->pid;
	pthread_mutex_unlock(&r->mu);
	poll(NULL, 0, 1500);	/* past a restart's first backoff */
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_INT(RUNNER_STATE_UP, i.state);
	EXPECT_INT(new, i.pid);
	EXPECT_INT(0, i.restarts);
	runner_container_info_free(&i);
	EXPECT_INT(0, kill(new, 0));
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(home);
}

/* What the state file says when on_event (called under the table lock)
 * hears of the container going up. */
struct t_seen {
	const char *home;
	char state[32];
};

static void
t_state_on_event(const struct runner_container_info *info, void *ctx)
{
	struct t_seen *s = ctx;
	char *path;
	json_t *j;

	if (info->state != RUNNER_STATE_UP || s->state[0])
		return;
	path = xasprintf("%s/runner/containers/%s/state.json", s->home,
	    info->id);
	j = json_load_file(path, 0, NULL);
	snprintf(s->state, sizeof(s->state), "%s",
	    j ? json_string_value(json_object_get(j, "state")) : "none");
	json_decref(j);
	free(path);
}

/* A state file is written (and fsynced) after the table lock is
 * dropped, so a slow disk does not stall every other container; the
 * write is still done before the operation returns. */
TEST(runner__state_file_written_outside_the_lock)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL, *path;
	struct t_seen seen = { .home = home };
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2,
	    .on_event = t_state_on_event, .ctx = &seen };
	struct runner_container_spec s = { .app = "disk", .release = "v1",
	    .process_type = "worker", .command = "exec sleep 600",
	    .image = T_DIGEST };
	json_t *j;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &s));
	EXPECT_OK(runner_container_start(r, id));
	EXPECT_STR("initialized", seen.state);
	path = xasprintf("%s/runner/containers/%s/state.json", home, id);
	EXPECT_TRUE((j = json_load_file(path, 0, NULL)) != NULL);
	EXPECT_STR("up", json_string_value(json_object_get(j, "state")));
	json_decref(j);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(path);
	free(id);
	free(home);
}
