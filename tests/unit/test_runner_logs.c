/* Unit tests for runner/logs.c: the log ring, following it across
 * rotations, a container's last line. */
#include <fcntl.h>
#include <poll.h>
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

TEST(runner__logs_ring_filter_rotate)
{
	char *home = xstrdup(harness_tmpdir());
	struct logring_query q = { .app = "shop", .lines = 3 };
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
	struct logring_query r = { .app = "rot", .lines = 5 };
	EXPECT_OK(runner_logs_read(home, &r, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "line 45\n") && strstr(b.ptr, "line 49\n"));
	EXPECT_TRUE(strstr(b.ptr, "line 44\n") == NULL);
	buf_free(&b);
	free(home);
}

/* --source: the proxy's router lines, or the app's own output. */
TEST(runner__logs_filter_source)
{
	char *home = xstrdup(harness_tmpdir());
	struct logring_query q = { .app = "shop", .lines = 10,
	    .source = LOGRING_SOURCE_ROUTER };
	struct buf b;

	EXPECT_OK(runner_log_append(home, "shop", "web.1", "hello", 5, 0));
	EXPECT_OK(runner_log_append(home, "shop", "router", "at=info "
	    "status=200", 18, 0));
	EXPECT_OK(runner_log_append(home, "shop", "slipway", "deployed", 8,
	    0));
	EXPECT_OK(runner_log_append(home, "shop", "slipway[web.1]", "up", 2,
	    0));
	EXPECT_OK(runner_log_append(home, "shop", "routerx.1", "mine", 4, 0));
	buf_init(&b, 0);
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "router: at=info status=200\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "hello") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "mine") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "deployed") == NULL);
	buf_reset(&b);
	q.source = LOGRING_SOURCE_APP;
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "web.1: hello\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "routerx.1: mine\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "router:") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "deployed") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "slipway[web.1]") == NULL);
	/* with a process: both filters hold */
	buf_reset(&b);
	q.process = "web";
	EXPECT_OK(runner_logs_read(home, &q, t_collect, &b));
	EXPECT_TRUE(strstr(b.ptr, "web.1: hello\n") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "mine") == NULL);
	buf_free(&b);
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
	struct logring_query q = { .app = "tail", .lines = 2,
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
