/* Unit tests for the container table (runner/runner.c, lifecycle.c,
 * container.c, container_state.c): the process driver, restarts,
 * adoption, retiring, state files. */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/runner.h"
#include "../../runner/runner_int.h"
#include "test_runner.h"

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
	struct logring_query q = { .app = "demo", .lines = 100 };
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
	/* The shell makes the file before it writes the pid: wait for the
	 * whole line. */
	kid = 0;
	for (int k = 0; k < 100 && kid <= 0; k++) {
		if (fs_read_file(&kb, kidfile, 64) == 0) {
			if (kb.len && kb.ptr[kb.len - 1] == '\n')
				kid = (pid_t)atoi(kb.ptr);
			buf_free(&kb);
		}
		if (kid <= 0)
			poll(NULL, 0, 50);
	}
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

/* As root without runc, the automatic driver does not fall back to running
 * apps on the host as root: the operator must ask for the process driver. */
TEST(runner__auto_driver_as_root_without_runc_refuses)
{
	struct runner *r = NULL;
	struct runner_opts ro = { .runc = "/nonexistent/runc",
	    .driver = RUNNER_DRIVER_AUTO };
	char *home;

	if (geteuid() != 0)
		harness_skip("needs root");
	ro.home = home = xstrdup(harness_tmpdir());
	EXPECT_INT(ERR_UNSUPPORTED, runner_open(&r, &ro));
	EXPECT_TRUE(strstr(err_last(), "pass --driver process") != NULL);
	EXPECT_TRUE(r == NULL);
	ro.driver = RUNNER_DRIVER_PROCESS;
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_INT(RUNNER_DRIVER_PROCESS, runner_driver(r));
	runner_close(r);
	free(home);
}

/* A process that keeps exiting is crashed (in ps and the report) after
 * RUNNER_CRASH_STREAK exits in a row, with its last exit status; one that
 * crashed less is not, nor is a one-off. */
TEST(runner__crash_loop_is_crashed)
{
	char *home = xstrdup(harness_tmpdir()), *id = NULL;
	struct runner *r = NULL;
	struct runner_opts ro = { .home = home,
	    .driver = RUNNER_DRIVER_PROCESS, .stop_grace_sec = 2,
	    .backoff_max_sec = 0.05 };
	struct runner_container_spec crash = { .app = "demo", .release = "v4",
	    .process_type = "worker", .command = "exit 3", .image = T_DIGEST };
	struct runner_container_info i;
	json_t *j;

	t_image(home, T_DIGEST);
	EXPECT_OK(runner_open(&r, &ro));
	EXPECT_OK(runner_container_create(&id, r, &crash));
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_TRUE(!i.crashed);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_start(r, id));
	i = t_wait_state(r, id, RUNNER_STATE_DOWN, 1);
	EXPECT_TRUE(i.restarts >= RUNNER_CRASH_STREAK || !i.crashed);
	runner_container_info_free(&i);
	i = t_wait_state(r, id, RUNNER_STATE_DOWN, RUNNER_CRASH_STREAK);
	EXPECT_TRUE(i.crashed);
	EXPECT_INT(3, i.exit_code);
	j = runner_container_info_json(&i);
	EXPECT_TRUE(json_is_true(json_object_get(j, "crashed")));
	json_decref(j);
	runner_container_info_free(&i);
	/* stopped: not wanted up, so not crashed */
	EXPECT_OK(runner_container_stop(r, id, 1));
	EXPECT_OK(runner_container_get(&i, r, id));
	EXPECT_TRUE(!i.crashed);
	runner_container_info_free(&i);
	EXPECT_OK(runner_container_destroy(r, id));
	runner_close(r);
	free(id);
	free(home);
}
