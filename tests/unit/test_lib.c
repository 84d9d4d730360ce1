/* Unit tests for lib/: errors, buffers, files, processes, digests. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/proc.h"

TEST(lib__err_set_and_wrap)
{
	EXPECT_INT(ERR_NOTFOUND, err_set(ERR_NOTFOUND, "no app '%s'", "x"));
	EXPECT_STR("no app 'x'", err_last());
	EXPECT_INT(ERR_NOTFOUND, err_wrap(ERR_NOTFOUND, "cannot deploy"));
	EXPECT_STR("cannot deploy: no app 'x'", err_last());
}

TEST(lib__err_sys_maps_errno)
{
	EXPECT_INT(ERR_NOTFOUND, fs_read_file(&(struct buf){0},
	    "does-not-exist", 10));
	EXPECT_ERR_HAS("does-not-exist");
	EXPECT_ERR_HAS("No such file");
}

TEST(lib__buf_grows_and_caps)
{
	struct buf b;

	buf_init(&b, 10);
	EXPECT_OK(buf_puts(&b, "hello"));
	EXPECT_OK(buf_printf(&b, "%d", 1234));
	EXPECT_STR("hello1234", b.ptr);
	EXPECT_INT(ERR_TOOBIG, buf_puts(&b, "xy"));
	EXPECT_STR("hello1234", b.ptr);
	EXPECT_OK(buf_putc(&b, '!'));
	EXPECT_INT(10, b.len);
	buf_consume(&b, 5);
	EXPECT_STR("1234!", b.ptr);
	buf_free(&b);
}

TEST(lib__buf_printf_fits_grows_and_caps)
{
	struct buf b;
	char big[600];

	/* cap 300: the first buffer (256) fills, then grows */
	buf_init(&b, 300);
	EXPECT_OK(buf_printf(&b, "%s=%d;", "a", 1));
	EXPECT_STR("a=1;", b.ptr);
	memset(big, 'x', 250);
	big[250] = '\0';
	EXPECT_OK(buf_printf(&b, "%s|", big));   /* 4 + 251 fits in 256 */
	EXPECT_INT(255, b.len);
	EXPECT_OK(buf_printf(&b, "%05d", 42));   /* over 256: grows */
	EXPECT_INT(260, b.len);
	EXPECT_STR("00042", b.ptr + 255);
	/* over the cap: an error, and what was there stays as it was */
	EXPECT_INT(ERR_TOOBIG, buf_printf(&b, "%s", big));
	EXPECT_INT(260, b.len);
	EXPECT_INT(260, (long long)strlen(b.ptr));
	EXPECT_STR("00042", b.ptr + 255);
	/* fits the allocation but not the cap */
	buf_reset(&b);
	memset(big, 'y', 301);
	big[301] = '\0';
	EXPECT_OK(buf_puts(&b, "z"));
	EXPECT_INT(ERR_TOOBIG, buf_printf(&b, "%s", big));
	EXPECT_STR("z", b.ptr);
	buf_free(&b);
}

TEST(lib__buf_detach_empty)
{
	struct buf b;
	size_t n = 99;
	char *s;

	buf_init(&b, 0);
	s = buf_detach(&b, &n);
	EXPECT_STR("", s);
	EXPECT_INT(0, n);
	free(s);
}

TEST(lib__fs_write_atomic_replaces)
{
	struct buf b;
	struct stat st;

	EXPECT_OK(fs_write_atomic("f", "one", 3, 0600));
	EXPECT_OK(fs_write_atomic("f", "two!", 4, 0640));
	EXPECT_OK(fs_read_file(&b, "f", 100));
	EXPECT_STR("two!", b.ptr);
	buf_free(&b);
	EXPECT_INT(0, stat("f", &st));
	EXPECT_INT(0640, st.st_mode & 0777);
	/* no temp files left beside it */
	SH("test $(ls -A | wc -l) -eq 1");
}

TEST(lib__fs_read_file_cap)
{
	struct buf b;

	EXPECT_OK(fs_write_atomic("big", "0123456789", 10, 0644));
	EXPECT_INT(ERR_TOOBIG, fs_read_file(&b, "big", 9));
	EXPECT_ERR_HAS("larger than 9 bytes");
	EXPECT_OK(fs_read_file(&b, "big", 10));
	buf_free(&b);
}

/* What a sandbox wrote is read only as a plain file of its own. */
TEST(lib__fs_read_beneath_refuses_links_and_specials)
{
	struct buf b;
	int dirfd;

	EXPECT_INT(0, mkdir("out", 0700));
	EXPECT_OK(fs_write_atomic("secret", "host secret", 11, 0600));
	EXPECT_OK(fs_write_atomic("out/ok", "Shell\n", 6, 0644));
	EXPECT_INT(0, symlink("../secret", "out/soft"));
	EXPECT_INT(0, symlink("/etc/hostname", "out/abs"));
	EXPECT_INT(0, link("secret", "out/hard"));
	EXPECT_INT(0, mkfifo("out/fifo", 0600));
	EXPECT_INT(0, mkdir("out/dir", 0700));
	EXPECT_OK(fs_write_atomic("out/big", "0123456789", 10, 0644));
	dirfd = open("out", O_RDONLY | O_DIRECTORY);
	EXPECT_TRUE(dirfd >= 0);
	EXPECT_OK(fs_read_beneath(&b, dirfd, "ok", 100));
	EXPECT_STR("Shell\n", b.ptr);
	buf_free(&b);
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "soft", 100));
	EXPECT_ERR_HAS("'soft' is a symlink");
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "abs", 100));
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "hard", 100));
	EXPECT_ERR_HAS("hard link");
	/* a fifo opens at once (no writer needed) and is refused */
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "fifo", 100));
	EXPECT_ERR_HAS("not a regular file");
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "dir", 100));
	EXPECT_INT(ERR_TOOBIG, fs_read_beneath(&b, dirfd, "big", 9));
	EXPECT_INT(ERR_NOTFOUND, fs_read_beneath(&b, dirfd, "none", 9));
	/* one name, never a path out of the directory */
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "../secret", 100));
	EXPECT_INT(ERR_INVALID, fs_read_beneath(&b, dirfd, "dir/../ok", 100));
	close(dirfd);
}

TEST(lib__fs_mkdir_p_and_remove_tree)
{
	EXPECT_OK(fs_mkdir_p("a/b/c", 0755));
	EXPECT_OK(fs_mkdir_p("a/b/c", 0755));
	EXPECT_TRUE(fs_is_dir("a/b/c"));
	EXPECT_OK(fs_write_atomic("a/b/f", "x", 1, 0644));
	EXPECT_INT(0, symlink("/etc", "a/b/link"));
	EXPECT_OK(fs_remove_tree("a"));
	EXPECT_TRUE(!fs_exists("a"));
	EXPECT_TRUE(fs_is_dir("/etc"));  /* the link was not followed */
	EXPECT_OK(fs_remove_tree("a"));  /* missing is fine */
	EXPECT_OK(fs_write_atomic("file", "x", 1, 0644));
	EXPECT_INT(ERR_EXISTS, fs_mkdir_p("file/sub", 0755) < 0 ?
	    ERR_EXISTS : 0);
}

TEST(lib__fs_path_is_safe)
{
	EXPECT_TRUE(fs_path_is_safe("a"));
	EXPECT_TRUE(fs_path_is_safe("a/b.c/..d"));
	EXPECT_TRUE(!fs_path_is_safe(""));
	EXPECT_TRUE(!fs_path_is_safe("/etc/passwd"));
	EXPECT_TRUE(!fs_path_is_safe("../x"));
	EXPECT_TRUE(!fs_path_is_safe("a/../../x"));
	EXPECT_TRUE(!fs_path_is_safe("a/./b"));
	EXPECT_TRUE(!fs_path_is_safe("a//b"));
	EXPECT_TRUE(!fs_path_is_safe("a/"));
	EXPECT_TRUE(!fs_path_is_safe(".."));
}

TEST(lib__fs_join)
{
	char *p = fs_join("a/", "b");
	EXPECT_STR("a/b", p);
	free(p);
	p = fs_join("a", "b");
	EXPECT_STR("a/b", p);
	free(p);
}

TEST(lib__proc_run_captures_output_and_status)
{
	struct buf out;
	char *argv[] = { "sh", "-c", "echo hi; echo err >&2; exit 3", NULL };

	EXPECT_INT(3, proc_run(&out, argv, PROC_ERR_TO_OUT, 1024));
	EXPECT_STR("hi\nerr\n", out.ptr);
	buf_free(&out);
}

TEST(lib__proc_run_missing_program)
{
	struct buf out;
	char *argv[] = { "slipway-no-such-program", NULL };

	EXPECT_INT(ERR_NOTFOUND, proc_run(&out, argv, 0, 1024));
	EXPECT_ERR_HAS("cannot run 'slipway-no-such-program'");
}

TEST(lib__proc_run_output_cap)
{
	struct buf out;
	char *argv[] = { "sh", "-c", "head -c 100000 /dev/zero", NULL };

	EXPECT_INT(ERR_TOOBIG, proc_run(&out, argv, 0, 1000));
	buf_free(&out);
}

TEST(lib__proc_spawn_pipes_stdin)
{
	struct proc p;
	struct proc_opts o = { .flags = PROC_PIPE_IN | PROC_PIPE_OUT };
	char *argv[] = { "tr", "a-z", "A-Z", NULL };
	char got[32] = { 0 };
	ssize_t n;

	EXPECT_OK(proc_spawn(&p, argv, &o));
	EXPECT_OK(proc_write_all(p.in, "hello", 5));
	close(p.in);
	p.in = -1;
	n = read(p.out, got, sizeof(got) - 1);
	EXPECT_INT(5, n);
	EXPECT_STR("HELLO", got);
	EXPECT_INT(0, proc_wait(&p));
}

TEST(lib__proc_killed_by_signal)
{
	struct buf out;
	char *argv[] = { "sh", "-c", "kill -9 $$", NULL };

	EXPECT_INT(128 + 9, proc_run(&out, argv, 0, 100));
	buf_free(&out);
}

TEST(lib__digest_known_values)
{
	char d[DIGEST_STR_MAX];

	digest_buf(d, DIGEST_SHA256, "", 0);
	EXPECT_STR("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca4"
	    "95991b7852b855", d);
	digest_buf(d, DIGEST_SHA256, "abc", 3);
	EXPECT_STR("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb4"
	    "10ff61f20015ad", d);
	digest_buf(d, DIGEST_SHA512, "abc", 3);
	EXPECT_TRUE(strncmp(d, "sha512:ddaf35a193617aba", 23) == 0);
	EXPECT_INT(7 + 128, strlen(d));
}

TEST(lib__digest_file_matches_sha256sum)
{
	char d[DIGEST_STR_MAX];
	struct buf out;
	char *argv[] = { "sha256sum", "f", NULL };

	SH("head -c 300000 /dev/urandom > f");
	EXPECT_OK(digest_file(d, DIGEST_SHA256, "f"));
	EXPECT_INT(0, proc_run(&out, argv, 0, 1000));
	EXPECT_TRUE(strncmp(d + 7, out.ptr, 64) == 0);
	buf_free(&out);
}

TEST(lib__digest_parse_rejects_bad)
{
	enum digest_algo a;
	const char *hex;
	const char *good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649"
	    "b934ca495991b7852b855";

	EXPECT_OK(digest_parse(good, &a, &hex));
	EXPECT_INT(DIGEST_SHA256, a);
	EXPECT_INT(ERR_INVALID, digest_parse("sha256:abc", &a, &hex));
	EXPECT_INT(ERR_INVALID, digest_parse("sha256:E3B0C44298FC1C149AFBF4C8"
	    "996FB92427AE41E4649B934CA495991B7852B855", &a, &hex));
	EXPECT_INT(ERR_UNSUPPORTED, digest_parse("md5:abc", &a, &hex));
	EXPECT_INT(ERR_INVALID, digest_parse("nonsense", &a, &hex));
	EXPECT_TRUE(!digest_is_valid("sha256:../../etc/passwd"));
}

struct t_lines {
	int n;
	char got[256];
};

static void
t_line(const char *line, void *ctx)
{
	struct t_lines *l = ctx;

	l->n++;
	strncat(l->got, line, sizeof(l->got) - strlen(l->got) - 2);
	strcat(l->got, "|");
}

TEST(lib__proc_run_lines_streams)
{
	struct t_lines l = { 0 };
	char *argv[] = { "sh", "-c", "echo one; echo two >&2; printf three",
	    NULL };

	EXPECT_INT(0, proc_run_lines(argv, NULL, 0, t_line, &l));
	EXPECT_INT(3, l.n);
	EXPECT_STR("one|two|three|", l.got);
}

/* env_add reaches the child: a stack build's hooks find their paths so */
TEST(lib__proc_run_lines_env_add)
{
	struct t_lines l = { 0 };
	char *env_add[] = { "T_PROC_ADDED=here", NULL };
	struct proc_opts o = { .env_add = env_add };
	char *argv[] = { "sh", "-c", "echo \"${T_PROC_ADDED:?}\"", NULL };

	EXPECT_INT(0, proc_run_lines(argv, &o, 0, t_line, &l));
	EXPECT_STR("here|", l.got);
}

TEST(lib__proc_run_lines_timeout_kills_group)
{
	struct t_lines l = { 0 };
	char *argv[] = { "sh", "-c", "echo started; (sleep 30; echo late > "
	    "late) & sleep 30", NULL };

	EXPECT_INT(ERR_TIMEOUT, proc_run_lines(argv, NULL, 1, t_line, &l));
	EXPECT_ERR_HAS("longer than 1s");
	EXPECT_STR("started|", l.got);
	EXPECT_TRUE(!fs_exists("late"));
}

TEST(lib__proc_spawn_out_to_fd)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; read x || "
	    "echo no-stdin", NULL };
	int fd = open("output", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	struct proc_opts o = { .flags = PROC_OUT_TO_FD | PROC_NULL_IN,
	    .out_fd = fd };
	struct proc p;
	struct buf b;

	EXPECT_OK(proc_spawn(&p, argv, &o));
	EXPECT_INT(0, proc_wait(&p));
	close(fd);
	EXPECT_OK(fs_read_file(&b, "output", 1024));
	EXPECT_STR("out\nerr\nno-stdin\n", b.ptr);
	buf_free(&b);
}

static volatile sig_atomic_t t_stop;

/* Sets the stop once the program has said it runs. */
static void
t_line_stop(const char *line, void *ctx)
{
	t_line(line, ctx);
	t_stop = 1;
}

TEST(lib__proc_run_lines_stop)
{
	struct t_lines l = { 0 };
	struct proc_opts o = { .stop = &t_stop };
	char *argv[] = { "sh", "-c", "echo started; sleep 30; echo late",
	    NULL };
	double start = clock_mono();

	EXPECT_INT(ERR_CONFLICT, proc_run_lines(argv, &o, 0, t_line_stop, &l));
	EXPECT_ERR_HAS("'sh' was stopped");
	EXPECT_STR("started|", l.got);
	EXPECT_TRUE(clock_mono() - start < 10);
}
