/* Unit tests for lib/logfile.c: rotation by size, the files kept, lines
 * over the cap, and a directory that cannot be written. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/logfile.h"

/* The size of path, or -1 when it does not exist. */
static long long
t_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static char *
t_read(const char *path)
{
	struct buf b;

	EXPECT_OK(fs_read_file(&b, path, 1 << 20));
	return buf_detach(&b, NULL);
}

/* Line number i as exactly 10 bytes: "line 0007\n". */
static void
t_line(struct logfile *lf, int i)
{
	char s[16];

	snprintf(s, sizeof(s), "line %04d\n", i);
	EXPECT_OK(logfile_write(lf, s, 10));
}

/* stderr into a pipe while a test runs (a pipe: RLIMIT_FSIZE does not
 * apply to it); t_stderr_end puts stderr back and returns what came. */
struct t_stderr {
	int saved, rd;
};

static struct t_stderr
t_stderr_begin(void)
{
	struct t_stderr c;
	int p[2];

	EXPECT_TRUE(pipe(p) == 0);
	c.saved = dup(2);
	c.rd = p[0];
	dup2(p[1], 2);
	close(p[1]);
	return c;
}

static char *
t_stderr_end(struct t_stderr c)
{
	char *out = xcalloc(1, 65537);
	ssize_t n;
	size_t len = 0;

	dup2(c.saved, 2);
	close(c.saved);
	while (len < 65536 && (n = read(c.rd, out + len, 65536 - len)) > 0)
		len += (size_t)n;
	close(c.rd);
	return out;
}

static int
t_count(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

TEST(lib_logfile__makes_the_directory_and_the_file_private)
{
	struct logfile *lf;
	struct stat st;
	mode_t old = umask(022);

	EXPECT_OK(logfile_open(&lf, "a/logs", "slipway.log", 100, 2));
	EXPECT_STR("a/logs/slipway.log", logfile_path(lf));
	t_line(lf, 1);
	logfile_free(lf);
	umask(old);
	EXPECT_TRUE(stat("a/logs", &st) == 0);
	EXPECT_INT(0750, st.st_mode & 07777);
	EXPECT_TRUE(stat("a/logs/slipway.log", &st) == 0);
	EXPECT_INT(0640, st.st_mode & 07777);
	EXPECT_INT(10, st.st_size);
}

/* A line that just fits stays; the next one starts a fresh file, and
 * the full one becomes slipway.log.1, whole. */
TEST(lib_logfile__rotates_at_the_boundary)
{
	struct logfile *lf;
	char *one;

	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 100, 2));
	for (int i = 0; i < 10; i++)
		t_line(lf, i);
	EXPECT_INT(100, t_size("logs/slipway.log"));
	EXPECT_INT(-1, t_size("logs/slipway.log.1"));
	t_line(lf, 10);
	EXPECT_INT(10, t_size("logs/slipway.log"));
	EXPECT_INT(100, t_size("logs/slipway.log.1"));
	one = t_read("logs/slipway.log.1");
	EXPECT_TRUE(strncmp(one, "line 0000\n", 10) == 0);
	EXPECT_TRUE(strcmp(one + 90, "line 0009\n") == 0);
	free(one);
	/* a line that would end one byte past the cap rotates too */
	for (int i = 11; i < 19; i++)
		t_line(lf, i);
	EXPECT_OK(logfile_write(lf, "123456789ab\n", 12));
	EXPECT_INT(12, t_size("logs/slipway.log"));
	EXPECT_INT(90, t_size("logs/slipway.log.1"));
	logfile_free(lf);
}

/* keep 2: slipway.log, .1 and .2, oldest dropped; reopening appends;
 * a later run that keeps fewer removes the files past its count. */
TEST(lib_logfile__keeps_keep_files_and_drops_the_oldest)
{
	struct logfile *lf;
	char *s;

	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 100, 2));
	for (int i = 0; i < 55; i++)
		t_line(lf, i);
	EXPECT_INT(50, t_size("logs/slipway.log"));
	EXPECT_INT(100, t_size("logs/slipway.log.1"));
	EXPECT_INT(100, t_size("logs/slipway.log.2"));
	EXPECT_INT(-1, t_size("logs/slipway.log.3"));
	s = t_read("logs/slipway.log.2");
	EXPECT_TRUE(strncmp(s, "line 0030\n", 10) == 0);
	free(s);
	s = t_read("logs/slipway.log.1");
	EXPECT_TRUE(strncmp(s, "line 0040\n", 10) == 0);
	free(s);
	logfile_free(lf);

	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 100, 2));
	t_line(lf, 55);
	EXPECT_INT(60, t_size("logs/slipway.log"));
	logfile_free(lf);

	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 100, 0));
	EXPECT_INT(-1, t_size("logs/slipway.log.1"));
	EXPECT_INT(-1, t_size("logs/slipway.log.2"));
	for (int i = 56; i < 61; i++)
		t_line(lf, i);
	/* keep 0: the full file goes, nothing is kept */
	EXPECT_INT(10, t_size("logs/slipway.log"));
	EXPECT_INT(-1, t_size("logs/slipway.log.1"));
	logfile_free(lf);
}

/* A line longer than the cap is written whole, alone in its file. */
TEST(lib_logfile__a_line_over_the_cap_stays_whole)
{
	struct logfile *lf;
	char big[251];

	memset(big, 'x', 250);
	big[250] = '\n';
	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 100, 3));
	EXPECT_OK(logfile_write(lf, big, sizeof(big)));
	EXPECT_INT(251, t_size("logs/slipway.log"));
	EXPECT_INT(-1, t_size("logs/slipway.log.1"));
	t_line(lf, 1);
	EXPECT_INT(10, t_size("logs/slipway.log"));
	EXPECT_INT(251, t_size("logs/slipway.log.1"));
	EXPECT_OK(logfile_write(lf, big, sizeof(big)));
	EXPECT_INT(251, t_size("logs/slipway.log"));
	EXPECT_INT(10, t_size("logs/slipway.log.1"));
	EXPECT_INT(251, t_size("logs/slipway.log.2"));
	logfile_free(lf);
}

TEST(lib_logfile__refuses_a_file_in_place_of_the_directory)
{
	struct logfile *lf = NULL;

	harness_write("logs", "x", 1, 0644);
	EXPECT_INT(ERR_EXISTS, logfile_open(&lf, "logs", "slipway.log",
	    100, 2));
	EXPECT_ERR_HAS("'logs' exists and is not a directory");
	EXPECT_TRUE(lf == NULL);
}

TEST(lib_logfile__refuses_a_symlink_or_a_fifo)
{
	struct logfile *lf = NULL;

	EXPECT_TRUE(fs_mkdir_p("logs", 0750) == 0);
	EXPECT_TRUE(symlink("/etc/passwd", "logs/slipway.log") == 0);
	EXPECT_INT(ERR_INVALID, logfile_open(&lf, "logs", "slipway.log",
	    100, 2));
	EXPECT_ERR_HAS("'logs/slipway.log' is a symlink");
	EXPECT_TRUE(mkfifo("logs/other.log", 0600) == 0);
	EXPECT_INT(ERR_INVALID, logfile_open(&lf, "logs", "other.log", 100,
	    2));
	EXPECT_ERR_HAS("is not a regular file");
	EXPECT_INT(ERR_INVALID, logfile_open(&lf, "logs", "../x", 100, 2));
}

/* The directory replaced by a file while lines are written: one line on
 * stderr, lines dropped, the writer goes on; once it is a directory
 * again the next reopen (within a second) writes there, and says so. */
TEST(lib_logfile__a_directory_that_cannot_be_written_is_not_fatal)
{
	struct logfile *lf;
	struct t_stderr saved;
	char *err, *s;

	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 1000, 2));
	t_line(lf, 1);
	SH("rm -rf logs && echo x >logs");
	saved = t_stderr_begin();
	usleep(1100 * 1000);
	for (int i = 0; i < 5; i++)
		EXPECT_TRUE(logfile_write(lf, "lost\n", 5) < 0);
	usleep(1100 * 1000);
	EXPECT_TRUE(logfile_write(lf, "lost\n", 5) < 0);
	SH("rm logs");
	usleep(1100 * 1000);
	EXPECT_OK(logfile_write(lf, "back\n", 5));
	err = t_stderr_end(saved);
	EXPECT_INT(1, t_count(err, "'logs' exists and is not a directory; "
	    "log lines are dropped until it can be written again\n"));
	EXPECT_INT(2, t_count(err, "\n"));
	EXPECT_TRUE(strstr(err, "'logs/slipway.log' is written again; 6 log "
	    "lines were dropped\n") != NULL);
	s = t_read("logs/slipway.log");
	EXPECT_STR("back\n", s);
	free(s);
	free(err);
	logfile_free(lf);
}

/* The file moved away from outside (logrotate): within a second the
 * writer notices and makes a fresh one. */
TEST(lib_logfile__reopens_a_file_moved_away)
{
	struct logfile *lf;
	char *s;

	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 1000, 2));
	t_line(lf, 1);
	EXPECT_TRUE(rename("logs/slipway.log", "logs/moved") == 0);
	usleep(1100 * 1000);
	t_line(lf, 2);
	s = t_read("logs/slipway.log");
	EXPECT_STR("line 0002\n", s);
	free(s);
	s = t_read("logs/moved");
	EXPECT_STR("line 0001\n", s);
	free(s);
	logfile_free(lf);
}

/* A write that fails (here: past RLIMIT_FSIZE, EFBIG) is reported once;
 * the file keeps what fitted, and the writer goes on. */
TEST(lib_logfile__a_failing_write_is_reported_once)
{
	struct logfile *lf;
	struct rlimit rl = { 25, 25 };
	struct t_stderr saved;
	char *err;

	signal(SIGXFSZ, SIG_IGN);
	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 1000, 2));
	EXPECT_TRUE(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	saved = t_stderr_begin();
	t_line(lf, 1);
	t_line(lf, 2);
	EXPECT_TRUE(logfile_write(lf, "line 0003\n", 10) < 0);
	EXPECT_TRUE(logfile_write(lf, "line 0004\n", 10) < 0);
	err = t_stderr_end(saved);
	EXPECT_INT(1, t_count(err, "\n"));
	EXPECT_TRUE(strstr(err, "cannot write 'logs/slipway.log'") != NULL);
	EXPECT_INT(25, t_size("logs/slipway.log"));
	free(err);
	logfile_free(lf);
}

/* A file that ends inside a line (a writer killed mid-line, a write cut
 * short) gets the rest of that line ended before the next is written. */
TEST(lib_logfile__a_cut_line_is_ended_before_the_next)
{
	struct logfile *lf;
	char *s;

	harness_write("logs/slipway.log", "whole\ncut sh", 12, 0640);
	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 1000, 2));
	t_line(lf, 1);
	t_line(lf, 2);
	s = t_read("logs/slipway.log");
	EXPECT_STR("whole\ncut sh\nline 0001\nline 0002\n", s);
	free(s);
	logfile_free(lf);

	/* the newline that ends it counts against the cap: 6 + 1 + 10 > 16 */
	harness_write("logs/slipway.log", "cut sh", 6, 0640);
	EXPECT_OK(logfile_open(&lf, "logs", "slipway.log", 16, 2));
	t_line(lf, 3);
	EXPECT_INT(10, t_size("logs/slipway.log"));
	EXPECT_INT(6, t_size("logs/slipway.log.1"));
	logfile_free(lf);
}
