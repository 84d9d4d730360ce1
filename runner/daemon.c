/*
 * `slipway runner --controller URL --group G --key KEY`: the runner
 * daemon.  It registers with the controller, long-polls its desired
 * state, and hands each app its part; the app's worker (runner/rollout.c)
 * makes it so.  It keeps nothing the controller cannot give back: the
 * containers it finds at start (runner_open adopts them) are matched
 * against the desired state again, so a restart of the daemon drops no
 * traffic.  docs/rollout.md describes the whole.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/clock.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "slipway/parse.h"
#include "slipway/proxy.h"
#include "slipway/registry.h"
#include "slipway/url.h"

#define POLL_WAIT 25            /* seconds per desired-state long-poll */
#define BACKOFF_MAX 10.0

/* ---- helpers --------------------------------------------------------- */

int64_t
runner_json_int(json_t *o, const char *key, int64_t def)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

const char *
runner_json_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

char **
runner_env_from_json(json_t *obj)
{
	char **v = xcalloc(json_object_size(obj) + 1, sizeof(*v));
	const char *k;
	json_t *x;
	size_t n = 0;

	json_object_foreach(obj, k, x)
		if (json_is_string(x))
			v[n++] = xasprintf("%s=%s", k, json_string_value(x));
	return v;
}

int
runner_api_open(struct apiclient **out, struct runner_daemon *rd)
{
	int rc = apiclient_open_with(out, rd->o.controller, rd->o.key);

	if (rc == 0)
		apiclient_set_cancel(*out, &rd->stopping);
	return rc;
}

void
runner_sleep(struct runner_daemon *rd, double sec)
{
	for (double left = sec; left > 0 && !rd->stopping; left -= 0.1)
		poll(NULL, 0, left < 0.1 ? (int)(left * 1000) + 1 : 100);
}

void
runner_dirty(struct runner_daemon *rd)
{
	pthread_mutex_lock(&rd->rmu);
	rd->dirty = true;
	pthread_cond_broadcast(&rd->rcv);
	pthread_mutex_unlock(&rd->rmu);
}

void
runner_say(struct runner_daemon *rd, const char *app, const char *fmt, ...)
{
	char msg[1024], *line, *dir;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("%s: %s", app, msg);
	line = runner_log_format(&n, "slipway", msg, strlen(msg));
	dir = xasprintf("%s/logs/apps", rd->home);
	if (logring_append(dir, app, line, n, 0) < 0)
		log_warnx("%s", err_last());
	runner_log_queue(rd, app, line, n);
	free(dir);
	free(line);
}

int
runner_thread_start(struct runner_daemon *rd, void *(*fn)(void *), void *arg)
{
	pthread_attr_t at;
	pthread_t t;
	int e;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rd->workers++;
	e = pthread_create(&t, &at, fn, arg);
	pthread_attr_destroy(&at);
	if (e != 0) {
		rd->workers--;
		return err_set(ERR_IO, "cannot start a thread: %s",
		    strerror(e));
	}
	return 0;
}

void
runner_thread_done(struct runner_daemon *rd)
{
	pthread_mutex_lock(&rd->mu);
	rd->workers--;
	pthread_cond_broadcast(&rd->cv);
	pthread_mutex_unlock(&rd->mu);
}

/* ---- desired state --------------------------------------------------- */

/* "release/restart": what a change of means starting over. */
static char *
runner_target_key(json_t *want)
{
	json_t *e = json_array_get(want, 0);

	if (e == NULL)
		return xstrdup("");
	return xasprintf("%lld/%s/%s", (long long)runner_json_int(e, "release", 0),
	    runner_json_str(e, "digest") ? runner_json_str(e, "digest") : "",
	    runner_json_str(e, "restart") ? runner_json_str(e, "restart") : "");
}

static struct runner_app *
runner_app_get(struct runner_daemon *rd, const char *name)
{
	struct runner_app *a;

	for (size_t i = 0; i < rd->napps; i++)
		if (strcmp(rd->apps[i]->name, name) == 0)
			return rd->apps[i];
	a = xcalloc(1, sizeof(*a));
	a->name = xstrdup(name);
	a->restart = xstrdup("");
	rd->apps = xrealloc(rd->apps, (rd->napps + 1) * sizeof(*rd->apps));
	rd->apps[rd->napps++] = a;
	return a;
}

/* With rd->mu held. */
static void
runner_app_want(struct runner_daemon *rd, struct runner_app *a, json_t *want)
{
	char *was, *now;

	if (a->want && json_equal(a->want, want))
		return;
	was = runner_target_key(a->want);
	now = runner_target_key(want);
	/* A new release or restart makes a rollout in progress moot: cut
	 * its health waits short.  A scale waits for it to end. */
	if (strcmp(was, now) != 0)
		a->abort = 1;
	free(was);
	free(now);
	json_decref(a->want);
	a->want = json_incref(want);
	a->want_gen++;
	runner_app_kick(rd, a);
}

/* Is name one of the strings of list? */
static bool
runner_json_has(json_t *list, const char *name)
{
	json_t *x;
	size_t i;

	json_array_foreach(list, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), name) == 0)
			return true;
	return false;
}

/* runner_held_resume's test: is the container's exact slot (app,
 * process, release) in the desired state doc? */
static bool
runner_doc_wants(const struct runner_container_info *info, void *arg)
{
	json_t *doc = arg, *x;
	size_t i;

	json_array_foreach(json_object_get(doc, "containers"), i, x) {
		char proc[96], rel[32];
		const char *app = runner_json_str(x, "app");
		const char *type = runner_json_str(x, "type");

		if (app == NULL || type == NULL || strcmp(app, info->app))
			continue;
		snprintf(proc, sizeof(proc), "%s.%lld", type,
		    (long long)runner_json_int(x, "index", 0));
		snprintf(rel, sizeof(rel), "v%lld",
		    (long long)runner_json_int(x, "release", 0));
		if (strcmp(proc, info->process) == 0 &&
		    strcmp(rel, info->release) == 0)
			return true;
	}
	return false;
}

/*
 * Hand each app its part of doc.  An app that left the desired state is
 * stopped only once it has been gone for --orphan-delay: an app moved to
 * another live runner (a runner joining takes its share) overlaps a
 * while, so that it never has fewer containers than asked.  An app the
 * controller names in "stop" runs nowhere in the group now (scaled to
 * nothing, destroyed): it is stopped at once.  So is every app gone from
 * doc when fenced (the lease may have lapsed since the last doc, or the
 * daemon just started): the controller moved those slots to other
 * runners a lease ago at least, and a stale container must not serve
 * beside the new ones.  A target older than one the controller gave
 * before (release_seq lower: an answer from before) is refused.  True
 * while some app waits to be stopped: call again soon with the same doc.
 */
static bool
runner_dispatch(struct runner_daemon *rd, json_t *doc, bool fenced)
{
	json_t *byapp = json_object(), *x, *arr;
	struct runner_container_info *v = NULL;
	const char *app;
	double now = clock_mono();
	bool pending = false;
	size_t n = 0, i;

	json_array_foreach(json_object_get(doc, "containers"), i, x) {
		app = runner_json_str(x, "app");
		if (app == NULL)
			continue;
		if ((arr = json_object_get(byapp, app)) == NULL) {
			arr = json_array();
			json_object_set_new(byapp, app, arr);
		}
		json_array_append(arr, x);
	}
	/* Apps running here that should not: an empty want stops them. */
	runner_container_list(&v, &n, rd->r);
	for (i = 0; i < n; i++) {
		if (!v[i].no_restart && !json_object_get(byapp, v[i].app))
			json_object_set_new(byapp, v[i].app, json_array());
		runner_container_info_free(&v[i]);
	}
	free(v);
	pthread_mutex_lock(&rd->mu);
	for (i = 0; i < rd->napps; i++)
		if (!json_object_get(byapp, rd->apps[i]->name) &&
		    json_array_size(rd->apps[i]->want) > 0)
			json_object_set_new(byapp, rd->apps[i]->name,
			    json_array());
	json_object_foreach(byapp, app, arr) {
		struct runner_app *a = runner_app_get(rd, app);
		int64_t seq = runner_json_int(json_object_get(doc, "seq"), app,
		    0);
		if (json_array_size(arr) > 0 && seq < a->seen_seq) {
			log_warnx("%s: refusing a target older than one the "
			    "controller gave before (release_seq %lld < %lld)",
			    app, (long long)seq, (long long)a->seen_seq);
			continue;
		}
		if (json_array_size(arr) > 0) {
			a->seen_seq = seq;
			a->gone_since = 0;
		} else if (fenced) {
			if (json_array_size(a->want) > 0 || a->want == NULL)
				log_info("%s: not scheduled here since the "
				    "lease lapsed; stopping it now", app);
			a->gone_since = 0;
		} else if (runner_json_has(json_object_get(doc, "stop"), app)) {
			if (json_array_size(a->want) > 0 || a->want == NULL)
				log_info("%s: runs nowhere now; stopping it",
				    app);
			a->gone_since = 0;
		} else if (json_array_size(a->want) > 0 || a->want == NULL) {
			if (a->gone_since == 0) {
				a->gone_since = now;
				log_info("%s: no longer scheduled here; "
				    "stopping it in %gs unless it comes back",
				    app, rd->o.orphan_delay);
			}
			if (now - a->gone_since < rd->o.orphan_delay) {
				pending = true;
				continue;
			}
		}
		runner_app_want(rd, a, arr);
	}
	pthread_mutex_unlock(&rd->mu);
	json_decref(byapp);
	runner_runs_dispatch(rd, json_object_get(doc, "runs"));
	return pending;
}

/* Is doc from the session we hold (its epoch not older than ours)? */
static bool
runner_doc_current(struct runner_daemon *rd, json_t *doc)
{
	int64_t e = runner_json_int(doc, "epoch", -1), ours;

	pthread_mutex_lock(&rd->rmu);
	ours = rd->epoch;
	pthread_mutex_unlock(&rd->rmu);
	if (e >= ours)
		return true;
	log_warnx("refusing a desired state of epoch %lld: this runner's "
	    "session is at epoch %lld (a stale answer)", (long long)e,
	    (long long)ours);
	return false;
}

static void *
runner_poller(void *arg)
{
	struct runner_daemon *rd = arg;
	struct apiclient *api = NULL;
	char *version = NULL, *lastmsg = NULL;
	json_t *last = NULL;
	double backoff = 1;
	bool pending = false, held = true;

	if (runner_api_open(&api, rd) < 0) {
		log_warnx("%s", err_last());
		rd->exit_rc = 1;
		if (!rd->stopping)
			kill(getpid(), SIGTERM);
		goto done;
	}
	/* the leaser's long-poll cut: a lease back, or stopping */
	apiclient_set_cancel(api, &rd->poll_cancel);
	/* the leaser registers: wait for the session */
	for (;;) {
		bool registered;
		pthread_mutex_lock(&rd->rmu);
		registered = rd->session != NULL;
		pthread_mutex_unlock(&rd->rmu);
		if (registered || rd->stopping)
			break;
		runner_sleep(rd, 0.1);
	}
	while (!rd->stopping) {
		char path[128];
		json_t *doc = NULL;
		const char *v;
		bool fenced;
		int wait = pending ? 2 : POLL_WAIT;

		/* short polls while an app waits to be stopped */
		snprintf(path, sizeof(path), "/v1/runner/desired?wait=%d%s%s",
		    wait, version ? "&version=" : "", version ? version : "");
		rd->poll_cancel = rd->stopping;
		runner_api_session(rd, api, wait + 5);
		pthread_mutex_lock(&rd->rmu);
		fenced = rd->lapsed;
		pthread_mutex_unlock(&rd->rmu);
		if (fenced) {
			/* what we have may be what the controller took away:
			 * ask afresh, not for a change of it */
			free(version);
			version = NULL;
			snprintf(path, sizeof(path), "/v1/runner/desired");
		}
		if (apiclient_call(&doc, api, "GET", path, NULL) < 0) {
			if (rd->stopping)
				break;
			if (rd->poll_cancel)
				continue;       /* kicked: ask again now */
			if (lastmsg == NULL || strcmp(lastmsg, err_last())) {
				log_warnx("desired state: %s; retrying",
				    err_last());
				free(lastmsg);
				lastmsg = xstrdup(err_last());
			}
			runner_sleep(rd, backoff);
			backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX :
			    backoff * 2;
			continue;
		}
		if (lastmsg) {
			log_info("the controller answers again");
			free(lastmsg);
			lastmsg = NULL;
		}
		backoff = 1;
		if (!runner_doc_current(rd, doc)) {
			json_decref(doc);
			continue;
		}
		if (held) {
			/* the containers found dead at start: restart those
			 * the controller still gives us, no other */
			runner_held_resume(rd->r, runner_doc_wants, doc);
			held = false;
		}
		v = runner_json_str(doc, "version");
		if (fenced || (v && (version == NULL || strcmp(v, version)))) {
			free(version);
			version = v ? xstrdup(v) : NULL;
			json_decref(last);
			last = json_incref(doc);
			runner_maint_want(rd, doc);
			pending = runner_dispatch(rd, doc, fenced);
			pthread_mutex_lock(&rd->rmu);
			/* the doc came with a renewal (the controller renews
			 * on every poll): it is what a live runner has */
			if (fenced)
				rd->lapsed = false;
			pthread_mutex_unlock(&rd->rmu);
		} else if (pending && last) {
			pending = runner_dispatch(rd, last, false);
		}
		json_decref(doc);
	}
done:
	json_decref(last);
	free(lastmsg);
	free(version);
	apiclient_free(api);
	return NULL;
}

/* ---- the command ----------------------------------------------------- */

/* The option's value by lib/parse, refused with the option's own range. */
static int
runner_parse_secs(double *out, const char *name, const char *opt,
    const char *s, double min, double max)
{
	if (parse_duration(out, s, min, max) < 0)
		return cmdline_usage_error(name, "--%s is %g to %g seconds", opt,
		    min, max);
	return 0;
}

static int
runner_parse_uint(unsigned *out, const char *name, const char *opt,
    const char *s, unsigned min, unsigned max)
{
	unsigned long long v;

	if (parse_uint(&v, s, min, max) < 0)
		return cmdline_usage_error(name, "--%s is %u to %u", opt, min,
		    max);
	*out = (unsigned)v;
	return 0;
}

static int
runner_daemon_parse(struct runner_daemon_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "controller", required_argument, NULL, 'c' },
		{ "group", required_argument, NULL, 'g' },
		{ "key", required_argument, NULL, 'k' },
		{ "name", required_argument, NULL, 'n' },
		{ "driver", required_argument, NULL, 'D' },
		{ "proxy-control", required_argument, NULL, 'P' },
		{ "proxy-port", required_argument, NULL, 'p' },
		{ "registry", required_argument, NULL, 'r' },
		{ "keep-images", required_argument, NULL, 'K' },
		{ "health-interval", required_argument, NULL, 'I' },
		{ "health-timeout", required_argument, NULL, 'T' },
		{ "health-deadline", required_argument, NULL, 'L' },
		{ "drain", required_argument, NULL, 'd' },
		{ "grace", required_argument, NULL, 'G' },
		{ "port-base", required_argument, NULL, 'B' },
		{ "orphan-delay", required_argument, NULL, 'O' },
		{ "registry-insecure", no_argument, NULL, 'i' },
		{ "publish-ports", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = argv[0];
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->controller = optarg; break;
		case 'g': o->group = optarg; break;
		case 'k': o->key = optarg; break;
		case 'n': o->name = optarg; break;
		case 'P': o->proxy_ctl = optarg; break;
		case 'r': o->registry = optarg; break;
		case 'i': o->registry_insecure = true; break;
		case 'U': o->publish_ports = true; break;
		case 'D':
			if (runner_driver_parse(&o->driver, optarg) < 0)
				return cmdline_usage_error(name, "%s", err_last());
			break;
		case 'p':
			rc = runner_parse_uint(&o->proxy_port, name, "proxy-port",
			    optarg, 1, 65535);
			break;
		case 'K':
			rc = runner_parse_uint(&o->keep_releases, name,
			    "keep-images", optarg, 1, 1000);
			break;
		case 'B':
			rc = runner_parse_uint(&o->port_base, name, "port-base",
			    optarg, 1024, 65000);
			break;
		case 'I':
			rc = runner_parse_secs(&o->health_interval, name,
			    "health-interval", optarg, 0.1, 60);
			break;
		case 'T':
			rc = runner_parse_secs(&o->health_timeout, name,
			    "health-timeout", optarg, 0.1, 300);
			break;
		case 'L':
			rc = runner_parse_secs(&o->health_deadline, name,
			    "health-deadline", optarg, 1, 3600);
			break;
		case 'd':
			rc = runner_parse_secs(&o->drain, name, "drain", optarg, 0,
			    3600);
			break;
		case 'G':
			rc = runner_parse_secs(&o->grace, name, "grace", optarg,
			    0.1, 3600);
			break;
		case 'O':
			rc = runner_parse_secs(&o->orphan_delay, name,
			    "orphan-delay", optarg, 0, 86400);
			break;
		default:
			return cmdline_usage_error(name, "unknown option");
		}
		if (rc)
			return rc;
	}
	if (optind != argc)
		return cmdline_usage_error(name, "unexpected argument '%s'",
		    argv[optind]);
	if (o->key == NULL)
		o->key = getenv("SLIPWAY_RUNNER_KEY");
	if (!o->controller || !o->group || !o->key || !o->key[0])
		return cmdline_usage_error(name, "--controller, --group and --key "
		    "(or SLIPWAY_RUNNER_KEY) are required");
	if (strncmp(o->key, "slr_", 4) != 0)
		return cmdline_usage_error(name, "--key is a runner's server key "
		    "(slr_...), as runners:add printed it");
	if (o->registry) {
		char *hostport;
		bool plain;

		if (url_service_parse(&hostport, &plain, o->registry) < 0)
			return cmdline_usage_error(name, "--registry: %s",
			    err_last());
		free(hostport);
	}
	return 0;
}

static void
runner_daemon_free(struct runner_daemon *rd)
{
	json_decref(rd->maint_want);
	rd->maint_want = NULL;
	for (size_t i = 0; i < rd->napps; i++) {
		struct runner_app *a = rd->apps[i];
		json_decref(a->want);
		free(a->name);
		free(a->restart);
		free(a->reason);
		free(a->url);
		free(a->health_path);
		free(a->failed_key);
		for (size_t k = 0; k < a->nhist; k++)
			free(a->hist[k].digest);
		free(a->hist);
		free(a);
	}
	free(rd->apps);
	for (size_t i = 0; i < rd->nruns; i++) {
		json_decref(rd->runs[i]->spec);
		free(rd->runs[i]->id);
		free(rd->runs[i]->app);
		buf_free(&rd->runs[i]->out);
		free(rd->runs[i]);
	}
	free(rd->runs);
	for (size_t i = 0; i < rd->nverified; i++)
		free(rd->verified[i]);
	free(rd->verified);
	for (size_t i = 0; i < rd->nretiring; i++)
		free(rd->retiring[i]);
	free(rd->retiring);
	for (size_t i = 0; i < rd->nlog; i++) {
		struct runner_logline *l = &rd->logq[(rd->headlog + i) %
		    rd->caplog];
		free(l->app);
		free(l->line);
	}
	free(rd->logq);
	json_decref(rd->health);
	free(rd->session);
	free(rd->runner_name);
	free(rd->domain);
	free(rd->home);
	pthread_mutex_destroy(&rd->mu);
	pthread_cond_destroy(&rd->cv);
	pthread_mutex_destroy(&rd->rmu);
	pthread_cond_destroy(&rd->rcv);
	pthread_mutex_destroy(&rd->logmu);
	pthread_cond_destroy(&rd->logcv);
	pthread_mutex_destroy(&rd->runmu);
	pthread_mutex_destroy(&rd->imgmu);
}

int
runner_cmd_daemon(int argc, char **argv)
{
	struct runner_daemon rd = { .o = {
		.driver = RUNNER_DRIVER_AUTO, .proxy_port = 8080,
		.keep_releases = 3, .health_interval = 1, .health_timeout = 5,
		.health_deadline = 60, .drain = 30, .grace = 10,
		.orphan_delay = 30,
	} };
	const char *h;
	char real[PATH_MAX], *proxy_default = NULL;
	pthread_t poller, reporter, shipper, router, leaser;
	bool p_ok = false, r_ok = false, s_ok = false, router_ok = false;
	bool l_ok = false;
	int rc, sig;

	if ((rc = runner_daemon_parse(&rd.o, argc, argv)))
		return rc;
	log_init("runner", LOG_LEVEL_INFO, true);
	h = home_dir();
	if (fs_mkdir_p(h, 0755) < 0 || realpath(h, real) == NULL) {
		fprintf(stderr, "slipway %s: cannot use SLIPWAY_HOME '%s': "
		    "%s\n", argv[0], h, err_last()[0] ? err_last() :
		    strerror(errno));
		return 1;
	}
	rd.home = xstrdup(real);
	if (rd.o.proxy_ctl == NULL)
		rd.o.proxy_ctl = proxy_default = proxy_ctl_default_path();
	rd.heartbeat = 10;
	rd.lease = 5;
	rd.renew_every = 1;
	/* what ran before this start may have been given away meanwhile */
	rd.lapsed = true;
	rd.health = json_object();
	pthread_mutex_init(&rd.mu, NULL);
	pthread_cond_init(&rd.cv, NULL);
	pthread_mutex_init(&rd.rmu, NULL);
	pthread_cond_init(&rd.rcv, NULL);
	pthread_mutex_init(&rd.logmu, NULL);
	pthread_mutex_init(&rd.maintmu, NULL);
	pthread_cond_init(&rd.logcv, NULL);
	pthread_mutex_init(&rd.runmu, NULL);
	pthread_mutex_init(&rd.imgmu, NULL);

	/* Before any thread: signals are taken by net_signal_wait. */
	net_signals_block();
	struct runner_opts ro = { .home = rd.home, .driver = rd.o.driver,
	    .port_base = rd.o.port_base, .stop_grace_sec = rd.o.grace,
	    .cancel = &rd.stopping, .hold_dead = true,
	    .on_event = runner_on_event, .on_log = runner_on_log, .ctx = &rd };
	if (runner_open(&rd.r, &ro) < 0) {
		rc = cmdline_fail(argv[0]);
		goto out;
	}
	log_info("driver %s, home %s, proxy %s", runner_driver_name(
	    runner_driver(rd.r)), rd.home, rd.o.proxy_ctl);
	runner_firewall_start(rd.home, rd.o.port_base, rd.o.publish_ports);
	r_ok = pthread_create(&reporter, NULL, runner_reporter, &rd) == 0;
	s_ok = pthread_create(&shipper, NULL, runner_shipper, &rd) == 0;
	l_ok = pthread_create(&leaser, NULL, runner_leaser, &rd) == 0;
	p_ok = pthread_create(&poller, NULL, runner_poller, &rd) == 0;
	/* router lines are a nicety: without the thread, none, and no more */
	if (pthread_create(&router, NULL, runner_router, &rd) == 0)
		router_ok = true;
	else
		log_warnx("cannot start the router lines' thread");
	if (!r_ok || !s_ok || !p_ok || !l_ok) {
		log_warnx("cannot start the daemon's threads");
		rc = 1;
		kill(getpid(), SIGTERM);
	}
	sig = net_signal_wait();
	log_info("signal %d: stopping (the containers keep running)", sig);

	rd.stopping = 1;
	rd.poll_cancel = 1;
	pthread_mutex_lock(&rd.mu);
	for (size_t i = 0; i < rd.napps; i++)
		rd.apps[i]->abort = 1;
	pthread_cond_broadcast(&rd.cv);
	pthread_mutex_unlock(&rd.mu);
	if (p_ok)
		pthread_join(poller, NULL);
	if (l_ok)
		pthread_join(leaser, NULL);
	pthread_mutex_lock(&rd.mu);
	while (rd.workers > 0)
		pthread_cond_wait(&rd.cv, &rd.mu);
	pthread_mutex_unlock(&rd.mu);
	pthread_mutex_lock(&rd.rmu);
	pthread_cond_broadcast(&rd.rcv);
	pthread_mutex_unlock(&rd.rmu);
	pthread_mutex_lock(&rd.logmu);
	pthread_cond_broadcast(&rd.logcv);
	pthread_mutex_unlock(&rd.logmu);
	if (r_ok)
		pthread_join(reporter, NULL);
	if (s_ok)
		pthread_join(shipper, NULL);
	if (router_ok)
		pthread_join(router, NULL);
out:
	if (rc == 0 && rd.exit_rc)
		rc = rd.exit_rc;
	runner_close(rd.r);
	runner_daemon_free(&rd);
	free(proxy_default);
	return rc;
}
