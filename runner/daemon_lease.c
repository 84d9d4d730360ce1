/*
 * The runner's lease on its key (docs/runner.md, "Leases and fencing").
 *
 * register opens a session of the runner key: the controller refuses it
 * while another runner holds the key with a live lease ("runner key
 * already in use by a live runner at ADDR since T"), and answers a
 * session id, an epoch and the lease.  The leaser thread then renews the
 * lease every renew_every seconds (1) with calls that give up within
 * LEASE_CALL_MAX seconds, so a runner cut off from the controller knows
 * within a lease that the controller may have given its slots away.
 *
 * The session id is kept in <home>/runner/session (0600), so that a
 * runner restarted on the same host takes its own session back at once
 * instead of waiting out its old lease.  It is an id, not a secret: the
 * key is what authenticates.
 *
 * Refusals end the daemon: a key the controller does not know, a key of
 * another group or name, a key in use elsewhere, each said plainly and
 * after LEASE_REFUSED_TRIES tries (a key in use may be this runner's own
 * session lost with its home), the exit status non-zero.  A controller
 * that does not answer is waited for, forever: apps keep running.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"

#define LEASE_CALL_MAX 3          /* seconds a renewal may take */
#define LEASE_REFUSED_TRIES 3
#define LEASE_SESSION_MAX 128
#define LEASE_BACKOFF_MAX 10.0

/* The header the controller reads the session from. */
#define LEASE_SESSION_HEADER "X-Slipway-Session"

static char *
runner_session_path(struct runner_daemon *rd)
{
	return xasprintf("%s/runner/session", rd->home);
}

/* The session this home held last, or NULL. */
static char *
runner_session_load(struct runner_daemon *rd)
{
	char *path = runner_session_path(rd), *s = NULL;
	struct buf b;

	buf_init(&b, LEASE_SESSION_MAX + 1);
	if (fs_read_file(&b, path, LEASE_SESSION_MAX) == 0 && b.len > 0 &&
	    b.ptr) {
		s = xstrndup(b.ptr, strcspn(b.ptr, "\n"));
		if (s[0] == '\0') {
			free(s);
			s = NULL;
		}
	}
	buf_free(&b);
	free(path);
	return s;
}

static void
runner_session_save(struct runner_daemon *rd, const char *session)
{
	char *path = runner_session_path(rd);

	if (fs_write_atomic(path, session, strlen(session), 0600) < 0)
		log_warnx("cannot keep the session id: %s (a restart waits "
		    "out the lease)", err_last());
	free(path);
}

void
runner_api_session(struct runner_daemon *rd, struct apiclient *api,
    long timeout)
{
	pthread_mutex_lock(&rd->rmu);
	apiclient_set_header(api, LEASE_SESSION_HEADER, rd->session);
	pthread_mutex_unlock(&rd->rmu);
	apiclient_set_timeout(api, timeout);
}

/* Take the register answer ans; false (said) when it does not fit our
 * --group / --name. */
static bool
runner_lease_take(struct runner_daemon *rd, json_t *ans)
{
	const char *name = runner_json_str(ans, "runner");
	const char *group = runner_json_str(ans, "group");
	const char *session = runner_json_str(ans, "session");
	int64_t lease = runner_json_int(ans, "lease", 0);
	int64_t every = runner_json_int(ans, "renew_every", 1);
	int64_t beat = runner_json_int(ans, "heartbeat_interval", 10);

	if (name == NULL || group == NULL || session == NULL || lease < 1 ||
	    strlen(session) > LEASE_SESSION_MAX) {
		log_warnx("the controller's register answer is malformed (an "
		    "older controller?): stopping");
		return false;
	}
	if (strcmp(group, rd->o.group) != 0) {
		log_warnx("this key belongs to runner '%s' of group '%s', not "
		    "of group '%s': start it with --group %s, or use a key of "
		    "group '%s' (runners:add NAME --group %s); stopping", name,
		    group, rd->o.group, group, rd->o.group, rd->o.group);
		return false;
	}
	if (rd->o.name && strcmp(name, rd->o.name) != 0) {
		log_warnx("this key belongs to runner '%s', not '%s': "
		    "stopping", name, rd->o.name);
		return false;
	}
	runner_session_save(rd, session);
	pthread_mutex_lock(&rd->rmu);
	free(rd->runner_name);
	rd->runner_name = xstrdup(name);
	free(rd->session);
	rd->session = xstrdup(session);
	rd->epoch = runner_json_int(ans, "epoch", 0);
	rd->lease = (double)lease;
	rd->renew_every = every < 1 || every > lease ? 1 : (double)every;
	rd->lease_ok_at = clock_mono();
	/* reports carry state, not liveness: their own pace */
	rd->heartbeat = beat < 1 || beat > 300 ? 10 : (unsigned)beat;
	rd->dirty = true;
	pthread_cond_broadcast(&rd->rcv);
	pthread_mutex_unlock(&rd->rmu);
	log_info("registered as runner '%s' (group '%s') with %s: epoch %lld, "
	    "lease %llds", name, group, rd->o.controller,
	    (long long)rd->epoch, (long long)lease);
	return true;
}

/* Say why a register was refused, in the runner's words. */
static void
runner_lease_refused(struct runner_daemon *rd, struct apiclient *api,
    int tries)
{
	long st = apiclient_status(api);
	const char *left = tries < LEASE_REFUSED_TRIES ? "; trying again" :
	    "; stopping";

	if (st == 401)
		log_warnx("the controller at %s refused this runner key "
		    "(%.8s...): it is no runner's key there (mistyped, or "
		    "the runner was removed); give the key runners:add "
		    "printed with --key or SLIPWAY_RUNNER_KEY%s",
		    rd->o.controller, rd->o.key, left);
	else
		log_warnx("the controller at %s refused to register this "
		    "runner: %s%s", rd->o.controller, err_last(), left);
}

int
runner_lease_register(struct runner_daemon *rd, struct apiclient *api)
{
	double backoff = 1;
	char *lastmsg = NULL, *held = runner_session_load(rd);
	json_t *ans = NULL, *body = NULL;
	int refused = 0, rc;

	if (held)
		body = json_pack("{ss}", "session", held);
	apiclient_set_header(api, LEASE_SESSION_HEADER, NULL);
	apiclient_set_timeout(api, LEASE_CALL_MAX * 2);
	while (!rd->stopping) {
		if ((rc = apiclient_call(&ans, api, "POST",
		    "/v1/runner/register", body)) == 0)
			break;
		if (rd->stopping)
			break;
		if (apiclient_status(api) >= 400 &&
		    apiclient_status(api) < 500) {
			runner_lease_refused(rd, api, ++refused);
			if (refused >= LEASE_REFUSED_TRIES)
				break;
		} else if (lastmsg == NULL || strcmp(lastmsg, err_last())) {
			/* say it once, not every try */
			log_warnx("cannot register with %s: %s; retrying",
			    rd->o.controller, err_last());
			free(lastmsg);
			lastmsg = xstrdup(err_last());
		}
		runner_sleep(rd, backoff);
		backoff = backoff * 2 > LEASE_BACKOFF_MAX ? LEASE_BACKOFF_MAX :
		    backoff * 2;
	}
	free(lastmsg);
	free(held);
	json_decref(body);
	rc = ans && runner_lease_take(rd, ans) ? 0 : -1;
	json_decref(ans);
	return rc;
}

/* The daemon cannot go on: stop it with a non-zero exit. */
static void
runner_lease_fatal(struct runner_daemon *rd)
{
	rd->exit_rc = 1;
	/* the main thread waits for a signal: give it one */
	if (!rd->stopping)
		kill(getpid(), SIGTERM);
}

void
runner_poll_kick(struct runner_daemon *rd)
{
	rd->poll_cancel = 1;
}

bool
runner_lease_live(struct runner_daemon *rd)
{
	bool live;

	pthread_mutex_lock(&rd->rmu);
	live = rd->session && clock_mono() - rd->lease_ok_at < rd->lease;
	pthread_mutex_unlock(&rd->rmu);
	return live;
}

void *
runner_leaser(void *arg)
{
	struct runner_daemon *rd = arg;
	struct apiclient *api = NULL;
	bool failing = false;

	if (runner_api_open(&api, rd) < 0) {
		log_warnx("%s", err_last());
		runner_lease_fatal(rd);
		return NULL;
	}
	if (runner_lease_register(rd, api) < 0) {
		runner_lease_fatal(rd);
		goto done;
	}
	while (!rd->stopping) {
		json_t *ans = NULL;
		double every, since;
		int rc;

		runner_api_session(rd, api, LEASE_CALL_MAX);
		rc = apiclient_call(&ans, api, "POST", "/v1/runner/heartbeat",
		    NULL);
		if (rd->stopping) {
			json_decref(ans);
			break;
		}
		pthread_mutex_lock(&rd->rmu);
		every = rd->renew_every;
		since = clock_mono() - rd->lease_ok_at;
		if (rc == 0) {
			rd->lease_ok_at = clock_mono();
			if (runner_json_int(ans, "lease", 0) > 0)
				rd->lease = (double)runner_json_int(ans,
				    "lease", 0);
		}
		pthread_mutex_unlock(&rd->rmu);
		json_decref(ans);
		if (rc == 0) {
			if (failing) {
				log_info("the lease is renewed again, after "
				    "%.1fs", since);
				/* what the controller decided meanwhile: ask
				 * now, not when the long-poll gives up */
				runner_poll_kick(rd);
			}
			failing = false;
		} else if (rc == ERR_CONFLICT &&
		    apiclient_status(api) == 409) {
			/* the key was registered again: ours is no longer
			 * the session; register again or stop */
			log_warnx("lease: %s", err_last());
			pthread_mutex_lock(&rd->rmu);
			rd->lapsed = true;
			pthread_mutex_unlock(&rd->rmu);
			if (runner_lease_register(rd, api) < 0) {
				runner_lease_fatal(rd);
				break;
			}
			runner_poll_kick(rd);
			continue;
		} else {
			if (!failing)
				log_warnx("cannot renew the lease: %s; the "
				    "containers keep running", err_last());
			failing = true;
			pthread_mutex_lock(&rd->rmu);
			if (since >= rd->lease && !rd->lapsed) {
				rd->lapsed = true;
				log_warnx("the lease lapsed (not renewed for "
				    "%.1fs): the controller may have moved "
				    "this runner's slots; serving what runs, "
				    "starting nothing it has not confirmed",
				    since);
			}
			pthread_mutex_unlock(&rd->rmu);
		}
		runner_sleep(rd, every);
	}
done:
	apiclient_free(api);
	return NULL;
}
