/*
 * Unit tests for the container init (runner/init/slipway-init.c), run
 * directly as the runner installs it from the bytes built into slipway:
 * installed once, exit statuses passed on, signals passed to the
 * command's whole process group, orphans reaped, hostile invocations.
 * Outside a pid namespace it makes itself a child subreaper, so orphans
 * of its command come to it as they would to PID 1.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "slipway/proc.h"
#include "../../runner/runner_int.h"

/* <tmp>/runner/init, installed; the caller frees. */
static char *
t_init_path(void)
{
	char *path = NULL;

	EXPECT_TRUE(fs_mkdir_p("runner", 0755) == 0);
	EXPECT_OK(runner_init_install(&path, harness_tmpdir()));
	return path;
}

/* Run the init with args (NULL-terminated), output (stdout and stderr)
 * into out; returns its status. */
static int
t_init_run(struct buf *out, const char *init, const char *const *args)
{
	char *argv[16];
	size_t n = 0;

	argv[n++] = (char *)init;
	for (; args && *args && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	return proc_run(out, argv, PROC_ERR_TO_OUT | PROC_NULL_IN, 64 << 10);
}

TEST(runner__init_installed_once)
{
	char *path = t_init_path(), *again = NULL;
	size_t len;
	const unsigned char *img = runner_init_image(&len);
	struct stat a, b;
	struct buf got;

	/* a real program: an ELF file of some size */
	EXPECT_TRUE(len > 1024 && memcmp(img, "\177ELF", 4) == 0);
	EXPECT_INT(0, stat(path, &a));
	EXPECT_INT(0755, a.st_mode & 07777);
	EXPECT_INT(len, a.st_size);
	EXPECT_OK(fs_read_file(&got, path, len + 1));
	EXPECT_TRUE(got.len == len && memcmp(got.ptr, img, len) == 0);
	buf_free(&got);
	/* the same bytes: left alone (same inode) */
	EXPECT_OK(runner_init_install(&again, harness_tmpdir()));
	EXPECT_STR(path, again);
	EXPECT_INT(0, stat(path, &b));
	EXPECT_INT(a.st_ino, b.st_ino);
	free(again);
	/* other bytes, another mode, a symlink: replaced whole */
	EXPECT_OK(fs_write_atomic(path, "#!/bin/sh\n", 10, 0755));
	EXPECT_OK(runner_init_install(NULL, harness_tmpdir()));
	EXPECT_INT(0, stat(path, &b));
	EXPECT_INT(len, b.st_size);
	EXPECT_INT(0, chmod(path, 0777));
	EXPECT_OK(runner_init_install(NULL, harness_tmpdir()));
	EXPECT_INT(0, stat(path, &b));
	EXPECT_INT(0755, b.st_mode & 07777);
	EXPECT_INT(0, unlink(path));
	EXPECT_INT(0, symlink("/bin/true", path));
	EXPECT_OK(runner_init_install(NULL, harness_tmpdir()));
	EXPECT_INT(0, lstat(path, &b));
	EXPECT_TRUE(S_ISREG(b.st_mode) && b.st_size == (off_t)len);
	free(path);
}

TEST(runner__init_passes_status)
{
	char *init = t_init_path();
	struct buf out;
	const char *exit7[] = { "sh", "-c", "echo ran; exit 7", NULL };
	const char *dashes[] = { "--", "sh", "-c", "exit 0", NULL };
	const char *killed[] = { "sh", "-c", "kill -TERM $$", NULL };
	const char *killed9[] = { "sh", "-c", "kill -KILL $$", NULL };
	const char *argv1[] = { "sh", "-c", "echo \"$0|$1|$2\"", "a b", "c",
	    NULL };

	EXPECT_INT(7, t_init_run(&out, init, exit7));
	EXPECT_STR("ran\n", out.ptr);
	buf_free(&out);
	EXPECT_INT(0, t_init_run(&out, init, dashes));
	buf_free(&out);
	/* killed by signal N: 128+N, as a shell says it */
	EXPECT_INT(143, t_init_run(&out, init, killed));
	buf_free(&out);
	EXPECT_INT(137, t_init_run(&out, init, killed9));
	buf_free(&out);
	/* arguments go as they are, no shell between */
	EXPECT_INT(0, t_init_run(&out, init, argv1));
	EXPECT_STR("a b|c|\n", out.ptr);
	buf_free(&out);
	free(init);
}

TEST(runner__init_hostile)
{
	char *init = t_init_path();
	struct buf out;
	const char *none[] = { NULL };
	const char *only_dashes[] = { "--", NULL };
	const char *empty[] = { "", NULL };
	const char *missing[] = { "/nonexistent/server", "-p", "1", NULL };
	const char *not_in_path[] = { "no-such-program-slipway", NULL };
	const char *plain[] = { "./plain", NULL };

	EXPECT_INT(127, t_init_run(&out, init, none));
	EXPECT_TRUE(strstr(out.ptr, "slipway-init: no command given") != NULL);
	buf_free(&out);
	EXPECT_INT(127, t_init_run(&out, init, only_dashes));
	EXPECT_TRUE(strstr(out.ptr, "no command given") != NULL);
	buf_free(&out);
	EXPECT_INT(127, t_init_run(&out, init, empty));
	buf_free(&out);
	EXPECT_INT(127, t_init_run(&out, init, missing));
	EXPECT_STR("slipway-init: cannot run '/nonexistent/server': no such "
	    "file or directory\n", out.ptr);
	buf_free(&out);
	EXPECT_INT(127, t_init_run(&out, init, not_in_path));
	EXPECT_TRUE(strstr(out.ptr, "cannot run 'no-such-program-slipway'")
	    != NULL);
	buf_free(&out);
	/* there, but not a program: 126 */
	harness_write("plain", "just text\n", 10, 0644);
	EXPECT_INT(126, t_init_run(&out, init, plain));
	EXPECT_TRUE(strstr(out.ptr, "cannot run './plain': permission denied")
	    != NULL);
	buf_free(&out);
	free(init);
}

/* An orphan (the subshell's child, whose parent is gone) comes to the
 * init; once it has exited the command looks for zombies among the
 * init's children ($PPID): there must be none. */
TEST(runner__init_reaps_orphans)
{
	char *init = t_init_path();
	struct buf out;
	const char *cmd[] = { "sh", "-c",
	    "( sh -c 'exit 0' & ); ( sh -c 'exit 1' & ); sleep 0.5; z=;"
	    " for s in /proc/[0-9]*/stat; do"
	    "   read -r p c st pp rest < $s || continue;"
	    "   [ \"$pp\" = \"$PPID\" ] && [ \"$st\" = Z ] && z=\"$z $p\";"
	    " done 2>/dev/null; echo \"zombies:$z\"; exit 3", NULL };

	EXPECT_INT(3, t_init_run(&out, init, cmd));
	EXPECT_STR("zombies:\n", out.ptr);
	buf_free(&out);
	free(init);
}

/* Is pid gone (or a zombie no one has reaped yet)? */
static bool
t_gone(pid_t pid)
{
	char path[64], *p;
	struct buf b;
	bool gone;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (fs_read_file(&b, path, 4096) < 0) {
		err_clear();
		return true;
	}
	p = strrchr(b.ptr, ')');
	gone = p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
	buf_free(&b);
	return gone;
}

/* SIGTERM to the init reaches the command's trap and its background
 * child: the whole process group, not the command alone. */
TEST(runner__init_forwards_to_group)
{
	char *init = t_init_path();
	char *argv[] = { init, "sh", "-c",
	    "sleep 300 >/dev/null & echo bg=$!;"
	    " trap 'echo got TERM; exit 5' TERM;"
	    " echo ready; while :; do sleep 0.05; done", NULL };
	struct proc_opts po = { .flags = PROC_PIPE_OUT | PROC_NULL_IN };
	struct proc p;
	struct buf out;
	char chunk[256];
	long bg = 0;
	int status;

	buf_init(&out, 1 << 16);
	EXPECT_OK(proc_spawn(&p, argv, &po));
	/* until the trap is set */
	while (strstr(out.ptr ? out.ptr : "", "ready\n") == NULL) {
		struct pollfd pf = { .fd = p.out, .events = POLLIN };
		ssize_t n;
		EXPECT_TRUE(poll(&pf, 1, 20000) == 1);
		n = read(p.out, chunk, sizeof(chunk));
		EXPECT_TRUE(n > 0);
		buf_put(&out, chunk, (size_t)n);
	}
	EXPECT_TRUE(sscanf(strstr(out.ptr, "bg="), "bg=%ld", &bg) == 1);
	EXPECT_TRUE(bg > 1 && !t_gone((pid_t)bg));
	EXPECT_INT(0, kill(p.pid, SIGTERM));
	for (;;) {
		ssize_t n = read(p.out, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf_put(&out, chunk, (size_t)n);
	}
	status = proc_wait(&p);
	EXPECT_INT(5, status);
	EXPECT_TRUE(strstr(out.ptr, "got TERM\n") != NULL);
	/* the background sleep had it too */
	for (int i = 0; i < 200 && !t_gone((pid_t)bg); i++)
		poll(NULL, 0, 50);
	if (!t_gone((pid_t)bg)) {
		kill((pid_t)bg, SIGKILL);
		harness_fail(__FILE__, __LINE__, "the command's background "
		    "child %ld did not get SIGTERM", bg);
	}
	buf_free(&out);
	free(init);
}
