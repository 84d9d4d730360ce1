/*
 * Builds the controller runs itself (POST /v1/apps/APP/builds with
 * "run": true, what `slipway builds:create` and CI use) and the build logs
 * everyone reads (GET /v1/apps/APP/builds/N/log).
 *
 * A build run here is the same pipeline as a push: the controller starts
 * `slipway hook build APP --build N` (this very binary) against the app's
 * bare repository in $SLIPWAY_HOME/git, in its own session, with its
 * output going to the build's log and, as its only credential, a
 * short-lived token of the user who asked (so the pipeline's calls back to
 * the API are checked as theirs).  A thread waits for it: if it ends
 * without finishing the build (killed, crashed), the build is marked
 * failed with the reason, and the token is revoked either way.
 *
 * Any build, pushed or run here, ends failed once its builder stops
 * renewing its lease (ctl_builds_expire), so a builder killed with the
 * controller, or while the controller was down, leaves no build
 * "running" for good; the waiter above only sees the builders this
 * controller process started.
 *
 * Logs: $SLIPWAY_HOME/builds/<app uid>/<N>.log.part while the build runs,
 * renamed to <N>.log when it is over (home_build_log_path), so a reader knows
 * it has everything once the final name exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/lease.h"
#include "slipway/log.h"
#include "slipway/parse.h"

extern char **environ;

#define BUILD_TOKEN_TTL 3600    /* the builder's own time limit is less */
#define BUILD_LOG_CHUNK (64 * 1024)
#define BUILD_LOG_WAIT_MAX 25
/* A finished build whose log stays unfinished (its builder was killed
 * before renaming it) is over once the log has been still this long. */
#define BUILD_LOG_STALE_SECS 10

/* What the waiter thread needs; it owns all of it. */
struct build_waiter {
	pid_t pid;
	char *db_path;
	char *app;
	char *user;
	char *log_part, *log_final;
	int64_t number;
	int64_t token_id;
};

static void
build_waiter_free(struct build_waiter *w)
{
	free(w->db_path);
	free(w->app);
	free(w->user);
	free(w->log_part);
	free(w->log_final);
	free(w);
}

static bool
build_is_finished(const char *status)
{
	return status && (strcmp(status, "succeeded") == 0 ||
	    strcmp(status, "failed") == 0);
}

/* Mark the build failed with why, unless it finished. */
static void
build_fail_unless_finished(struct store *s, const char *app, int64_t number,
    const char *user, const char *why)
{
	json_t *b = NULL, *u, *out = NULL;

	if (store_build_get(&b, s, app, number) < 0)
		return;
	if (!build_is_finished(json_string_value(json_object_get(b,
	    "status")))) {
		u = json_pack("{s:s, s:s}", "status", "failed", "error", why);
		if (store_build_update(&out, s, app, number, u, user) < 0)
			log_warnx("%s: cannot mark build %lld failed: %s", app,
			    (long long)number, err_last());
		json_decref(u);
		json_decref(out);
	}
	json_decref(b);
}

static void *
build_wait(void *arg)
{
	struct build_waiter *w = arg;
	struct store *s = NULL;
	char why[256];
	int st = 0;

	while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		snprintf(why, sizeof(why), "the builder was killed by signal "
		    "%d before it finished", WTERMSIG(st));
	else
		snprintf(why, sizeof(why), "the builder exited with status "
		    "%d before it finished", WEXITSTATUS(st));
	log_info("%s: builder of build %lld (pid %d) ended: %s", w->app,
	    (long long)w->number, (int)w->pid, WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0 ? "ok" : why);
	/* A connection of its own: this thread outlives the request. */
	if (store_open(&s, w->db_path) == 0) {
		build_fail_unless_finished(s, w->app, w->number, w->user, why);
		if (store_token_revoke(s, w->token_id, NULL) < 0 &&
		    strstr(err_last(), "no such token") == NULL)
			log_warnx("cannot revoke build token %lld: %s",
			    (long long)w->token_id, err_last());
		store_close(s);
	} else {
		log_warnx("%s: build %lld: %s", w->app, (long long)w->number,
		    err_last());
	}
	/* The builder renames its log when it is done; after a crash it
	 * could not. */
	if (fs_exists(w->log_part))
		rename(w->log_part, w->log_final);
	build_waiter_free(w);
	return NULL;
}

void
ctl_builds_expire(struct store *s)
{
	json_t *gone = NULL, *b;
	size_t i;

	if (store_build_expire(&gone, s, time(NULL), lease_build_secs()) <
	    0) {
		log_warnx("cannot check the builds' leases: %s", err_last());
		return;
	}
	json_array_foreach(gone, i, b)
		log_info("%s: build %lld failed: %s", json_string_value(
		    json_object_get(b, "app")), (long long)json_integer_value(
		    json_object_get(b, "number")), STORE_BUILD_LEASE_EXPIRED);
	json_decref(gone);
}

/* The builder's environment: ours without any credential or controller
 * address of our own, plus its own; it reaches us where we listen. */
static char **
build_env(const struct ctl *ctl, const char *token)
{
	static const char *const drop[] = { "SLIPWAY_TOKEN=", "SLIPWAY_URL=",
	    "SLIPWAY_CONFIG=", "SLIPWAY_HOME=", "SLIPWAY_REGISTRY=", NULL };
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + 6, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		for (int d = 0; drop[d]; d++)
			skip = skip || strncmp(environ[i], drop[d],
			    strlen(drop[d])) == 0;
		if (!skip)
			env[k++] = xstrdup(environ[i]);
	}
	env[k++] = xasprintf("SLIPWAY_HOME=%s", ctl->home);
	env[k++] = xasprintf("SLIPWAY_URL=%s", ctl->self_url);
	env[k++] = xasprintf("SLIPWAY_REGISTRY=%s", ctl->registry_url);
	env[k++] = xasprintf("SLIPWAY_TOKEN=%s", token);
	/* never fall back to a config file's (maybe admin) token */
	env[k++] = xstrdup("SLIPWAY_CONFIG=/dev/null");
	return env;
}

static void
build_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Start the builder of build number of app (incarnation uid) as the
 * caller.  On failure the build is marked failed with the reason. */
static int
build_spawn(struct ctl_call *c, const char *app, const char *uid,
    int64_t number)
{
	char token[STORE_TOKEN_LEN], exe[PATH_MAX], num[32], label[100];
	char *part = home_build_log_path(c->ctl->home, uid, number, true);
	char *final = home_build_log_path(c->ctl->home, uid, number, false);
	char *dir = xstrdup(part), **env = NULL;
	char *argv[] = { exe, "hook", "build", (char *)app, "--build", num,
	    NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct build_waiter *w;
	sigset_t none, deflt;
	json_t *tj = NULL;
	pthread_t th;
	ssize_t len;
	pid_t pid;
	int fd = -1, rc, e;

	*strrchr(dir, '/') = '\0';
	snprintf(num, sizeof(num), "%lld", (long long)number);
	if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0) {
		rc = err_sys("cannot find the slipway binary");
		goto done;
	}
	exe[len] = '\0';
	if ((rc = fs_mkdir_p(dir, 0700)) < 0)
		goto done;
	if ((fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
	    O_CLOEXEC, 0600)) < 0) {
		rc = err_sys("cannot create build log '%s'", part);
		goto done;
	}
	snprintf(label, sizeof(label), "build %lld of %s", (long long)number,
	    app);
	if ((rc = store_token_create_ttl(token, &tj, c->st, c->actor.name,
	    label, BUILD_TOKEN_TTL)) < 0)
		goto done;
	env = build_env(c->ctl, token);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	posix_spawnattr_init(&attr);
	/* The controller's threads block the signals it waits for; the
	 * builder must get them (and SIGPIPE) as any program does. */
	sigemptyset(&none);
	sigfillset(&deflt);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &deflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
	e = posix_spawn(&pid, exe, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		errno = e;
		rc = err_sys("cannot start the builder '%s'", exe);
		store_token_revoke(c->st, json_integer_value(json_object_get(tj,
		    "id")), NULL);
		goto done;
	}
	w = xcalloc(1, sizeof(*w));
	w->pid = pid;
	w->db_path = xstrdup(c->ctl->db_path);
	w->app = xstrdup(app);
	w->user = xstrdup(c->actor.name);
	w->log_part = part;
	w->log_final = final;
	part = final = NULL;
	w->number = number;
	w->token_id = json_integer_value(json_object_get(tj, "id"));
	if (pthread_create(&th, NULL, build_wait, w) != 0) {
		/* Nobody will reap it or revoke the token: stop it now. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		store_token_revoke(c->st, w->token_id, NULL);
		build_waiter_free(w);
		rc = err_set(ERR_IO, "cannot start a thread to wait for the "
		    "builder");
		goto done;
	}
	pthread_detach(th);
	log_info("%s: build %lld started for %s (pid %d)", app,
	    (long long)number, c->actor.name, (int)pid);
	rc = 0;
done:
	if (rc < 0) {
		char why[512];
		snprintf(why, sizeof(why), "cannot start the build: %s",
		    err_last());
		build_fail_unless_finished(c->st, app, number, c->actor.name,
		    why);
		err_set(rc, "%s", why);
		if (part && fs_exists(part))
			rename(part, final);
	}
	if (fd >= 0)
		close(fd);
	explicit_bzero(token, sizeof(token));
	build_strv_free(env);
	json_decref(tj);
	free(part);
	free(final);
	free(dir);
	return rc;
}

void
ctl_builds_create(struct ctl_call *c)
{
	const char *rev = NULL;
	struct store_access acc;
	json_t *b, *v;
	bool bad = false, run = false;
	int64_t number;
	int rc;

	if (!ctl_app_access(c, c->seg[1], 1, &acc))
		return;
	if (c->body) {
		if (!ctl_need_body(c))
			return;
		rev = ctl_body_str(c, "rev", &bad);
		if (bad)
			return;
		if ((v = json_object_get(c->body, "run")) != NULL &&
		    !json_is_null(v)) {
			if (!json_is_boolean(v)) {
				ctl_error(c, 422, "invalid", "'run' is true or "
				    "false");
				return;
			}
			run = json_is_true(v);
		}
	}
	if (!ctl_check(c, store_build_create(&b, c->st, c->seg[1], rev,
	    c->actor.name)))
		return;
	number = json_integer_value(json_object_get(b, "number"));
	if (!run) {
		/* An external builder (the push hook) records the build
		 * first and then moves it along with PATCH itself. */
		ctl_reply(c, 201, b);
		return;
	}
	if ((rc = build_spawn(c, c->seg[1], acc.uid, number)) < 0) {
		json_decref(b);
		ctl_error(c, 500, "internal", "%s", err_last());
		return;
	}
	json_object_set_new(b, "log", json_sprintf("/v1/apps/%s/builds/%lld/"
	    "log", c->seg[1], (long long)number));
	ctl_reply(c, 201, b);
}

/* ---- logs ---- */

/* Make text safe for a JSON string: NULs and bytes that are not part of
 * well-formed UTF-8 (overlong forms and surrogates included) become '?'. */
static void
build_text_clean(char *s, size_t n)
{
	unsigned char *u = (unsigned char *)s;

	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		size_t len;
		bool ok = true;

		if (c < 0x80) {
			if (c == 0)
				u[i] = '?';
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		else
			len = 0;
		if (len == 0 || i + len > n)
			ok = false;
		for (size_t k = 1; ok && k < len; k++)
			ok = (u[i + k] & 0xc0) == 0x80;
		if (ok && ((c == 0xe0 && u[i + 1] < 0xa0) ||
		    (c == 0xed && u[i + 1] >= 0xa0) ||
		    (c == 0xf0 && u[i + 1] < 0x90) ||
		    (c == 0xf4 && u[i + 1] >= 0x90)))
			ok = false;
		if (!ok) {
			u[i++] = '?';
			continue;
		}
		i += len;
	}
}

static bool
build_parse_uint(long long *out, const char *s, long long max)
{
	unsigned long long v;

	if (s == NULL)
		return true;
	if (parse_uint(&v, s, 0, (unsigned long long)max) < 0)
		return false;
	*out = (long long)v;
	return true;
}

void
ctl_builds_log(struct ctl_call *c)
{
	struct store_access acc;
	long long number = 0, offset = 0, wait = 0;
	char *part = NULL, *final = NULL, *text = NULL;
	json_t *b = NULL;
	double deadline, still_since = 0;
	off_t last_size = -1;
	int rc;

	if (!ctl_app_access(c, c->seg[1], 0, &acc))
		return;
	if (!build_parse_uint(&number, c->seg[3], INT64_MAX) || number < 1) {
		ctl_error(c, 404, "not_found", "no build '%.40s'", c->seg[3]);
		return;
	}
	if (!build_parse_uint(&offset, httpd_req_query(c->req, "offset"),
	    INT64_MAX) || !build_parse_uint(&wait,
	    httpd_req_query(c->req, "wait"), BUILD_LOG_WAIT_MAX)) {
		ctl_error(c, 422, "invalid", "offset is a byte count and wait "
		    "0 to %d seconds", BUILD_LOG_WAIT_MAX);
		return;
	}
	/* This may wait: it must not hold a read snapshot (the build's
	 * status is read again each time). */
	store_snapshot_end(c->st);
	part = home_build_log_path(c->ctl->home, acc.uid, number, true);
	final = home_build_log_path(c->ctl->home, acc.uid, number, false);
	deadline = (double)time(NULL) + (double)wait;
	for (;;) {
		const char *status;
		bool finished, done;
		struct stat sb;
		ssize_t n;
		int fd;

		json_decref(b);
		b = NULL;
		if ((rc = store_build_get(&b, c->st, c->seg[1], number)) < 0) {
			ctl_fail(c, rc);
			goto out;
		}
		status = json_string_value(json_object_get(b, "status"));
		finished = build_is_finished(status);
		/* The final name first: once it is there, it is all.  The
		 * part may be renamed between the two opens: final again. */
		done = (fd = open(final, O_RDONLY | O_CLOEXEC)) >= 0;
		if (!done && (fd = open(part, O_RDONLY | O_CLOEXEC)) < 0)
			done = (fd = open(final, O_RDONLY | O_CLOEXEC)) >= 0;
		if (fd < 0 || fstat(fd, &sb) < 0)
			sb.st_size = 0;
		if (sb.st_size != last_size) {
			last_size = sb.st_size;
			still_since = (double)time(NULL);
		}
		if (!done && fd < 0 && finished)
			done = true;     /* a build that never had a log */
		if (!done && finished && (double)time(NULL) - still_since >=
		    BUILD_LOG_STALE_SECS)
			done = true;     /* its builder died mid-way */
		if (sb.st_size > offset || done ||
		    (double)time(NULL) >= deadline) {
			size_t want = sb.st_size > offset ?
			    (size_t)(sb.st_size - offset) : 0;
			if (want > BUILD_LOG_CHUNK)
				want = BUILD_LOG_CHUNK;
			text = xmalloc(want + 1);
			n = want ? pread(fd, text, want, offset) : 0;
			if (n < 0)
				n = 0;
			/* Whole lines while it runs, so no character is
			 * cut in two. */
			if (!done && n > 0 && offset + n < sb.st_size) {
				char *nl = memrchr(text, '\n', (size_t)n);
				if (nl)
					n = nl - text + 1;
			}
			if (fd >= 0)
				close(fd);
			build_text_clean(text, (size_t)n);
			text[n] = '\0';
			done = done && offset + n >= sb.st_size;
			ctl_reply(c, 200, json_pack("{s:s%, s:I, s:s, s:b}",
			    "text", text, (size_t)n, "offset",
			    (json_int_t)(offset + n), "status", status, "done",
			    done));
			goto out;
		}
		if (fd >= 0)
			close(fd);
		usleep(200 * 1000);
	}
out:
	json_decref(b);
	free(text);
	free(part);
	free(final);
}
