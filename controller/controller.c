/*
 * `slipway controller`: the brain.  Opens (or creates and migrates) the
 * store in $SLIPWAY_HOME, makes the admin user on a fresh store and prints
 * its token once, and serves the HTTP API (controller/api*.c) until
 * SIGINT/SIGTERM.  A ticker thread recomputes the schedule every second so
 * that a runner that stops heartbeating loses its containers to the others
 * in its group without anyone asking, fails the builds whose builder
 * stopped renewing its lease, and ends the pushes a kill -9 left waiting
 * to land (ctl_landings_repair); at start too.
 */
#include <getopt.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/controller.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/jwt.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "slipway/parse.h"
#include "slipway/proc.h"
#include "slipway/repo.h"
#include "slipway/url.h"

#define CTL_TICK_SECS 1
/* A push whose repository is not in our home (an sshd with another
 * SLIPWAY_HOME) cannot be checked on disk, nor its lock: its post-receive
 * hook has had this long to say it landed. */
#define CTL_LANDING_BLIND_SECS 600
#define CTL_PAGE_FD_MIN (32 * 1024)

/* ---- store pool ---- */

int
ctl_store_get(struct store **out, struct ctl *ctl)
{
	struct store *s = NULL;
	int rc;

	pthread_mutex_lock(&ctl->pool_mu);
	if (ctl->npool > 0)
		s = ctl->pool[--ctl->npool];
	pthread_mutex_unlock(&ctl->pool_mu);
	if (s) {
		*out = s;
		return 0;
	}
	if ((rc = store_open(&s, ctl->db_path)) < 0)
		return rc;
	store_set_write_lock(s, &ctl->wlock);
	*out = s;
	return 0;
}

void
ctl_store_put(struct ctl *ctl, struct store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&ctl->pool_mu);
	if (ctl->npool < CTL_POOL_MAX) {
		ctl->pool[ctl->npool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&ctl->pool_mu);
	store_close(s);
}

/* ---- cached release-list pages ---- */

struct ctl_page *
ctl_page_get(struct ctl *ctl, const char *uid, int64_t release, int64_t limit)
{
	struct ctl_page *page = NULL;

	pthread_mutex_lock(&ctl->pages_mu);
	for (int i = 0; i < CTL_PAGES_MAX; i++) {
		struct ctl_page_slot *sl = &ctl->pages[i];
		if (sl->page && sl->release == release && sl->limit == limit &&
		    strcmp(sl->uid, uid) == 0) {
			page = sl->page;
			page->refs++;
			sl->used = ++ctl->pages_clock;
			break;
		}
	}
	pthread_mutex_unlock(&ctl->pages_mu);
	return page;
}

struct ctl_page *
ctl_page_add(struct ctl *ctl, const char *uid, int64_t release,
    int64_t limit, const char *data, size_t len)
{
	struct ctl_page *page = xmalloc(sizeof(*page) + len + 1), *old = NULL;
	struct ctl_page_slot *sl = &ctl->pages[0];

	page->refs = 2;         /* the cache's and the caller's */
	page->len = len + 1;
	memcpy(page->data, data, len);
	page->data[len] = '\n';
	/* Big pages also go in a memfd, so answers are sent with sendfile
	 * as a static file would be, not copied per request. */
	page->fd = -1;
	if (page->len >= CTL_PAGE_FD_MIN &&
	    (page->fd = memfd_create("slipway-page", MFD_CLOEXEC)) >= 0 &&
	    proc_write_all(page->fd, page->data, page->len) < 0) {
		close(page->fd);
		page->fd = -1;
	}
	pthread_mutex_lock(&ctl->pages_mu);
	for (int i = 0; i < CTL_PAGES_MAX; i++) {
		if (ctl->pages[i].page == NULL) {
			sl = &ctl->pages[i];
			break;
		}
		if (ctl->pages[i].used < sl->used)
			sl = &ctl->pages[i];
	}
	old = sl->page;
	snprintf(sl->uid, sizeof(sl->uid), "%s", uid);
	sl->release = release;
	sl->limit = limit;
	sl->page = page;
	sl->used = ++ctl->pages_clock;
	pthread_mutex_unlock(&ctl->pages_mu);
	ctl_page_put(ctl, old);
	return page;
}

void
ctl_page_put(struct ctl *ctl, struct ctl_page *page)
{
	bool last;

	if (page == NULL)
		return;
	pthread_mutex_lock(&ctl->pages_mu);
	last = --page->refs == 0;
	pthread_mutex_unlock(&ctl->pages_mu);
	if (last) {
		if (page->fd >= 0)
			close(page->fd);
		free(page);
	}
}

/* ---- the schedule ---- */

time_t
ctl_live_after(const struct ctl *ctl)
{
	return time(NULL) - ctl->runner_timeout;
}

/* Recompute; wake the long-polls when the schedule changed, or always
 * (wake): a new release, config or domain changes what runners are
 * given without moving any slot. */
static void
ctl_schedule_refresh(struct ctl *ctl, struct store *s, bool wake)
{
	bool changed = false;

	if (store_schedule_refresh(&changed, s, ctl_live_after(ctl)) < 0) {
		log_warnx("cannot update the schedule: %s", err_last());
		if (!wake)
			return;
	}
	if (!changed && !wake)
		return;
	pthread_mutex_lock(&ctl->sched_mu);
	ctl->sched_gen++;
	pthread_cond_broadcast(&ctl->sched_cv);
	pthread_mutex_unlock(&ctl->sched_mu);
}

void
ctl_schedule_kick(struct ctl *ctl, struct store *s)
{
	ctl_schedule_refresh(ctl, s, true);
}

void
ctl_schedule_check(struct ctl *ctl, struct store *s)
{
	ctl_schedule_refresh(ctl, s, false);
}

/* ---- pushes landing ---- */

/*
 * A push's build waits to be released until git has moved its branch
 * (docs/push.md, "Crash consistency").  Normally the post-receive hook
 * says so at once; when the hook, the controller or git was killed, this
 * decides from the repository on disk: the branch at the build's commit
 * means the push landed (release it); the branch elsewhere with the app's
 * lock free means the push is over and did not land (fail the build,
 * release nothing).  While the push runs it holds the lock, so a push
 * that is merely slow is never given up; holding the lock while the ref
 * is read again, no push can move it meanwhile.
 */
static void
ctl_landing_check(struct ctl *ctl, struct store *s, json_t *x)
{
	const char *app = json_string_value(json_object_get(x, "app"));
	const char *uid = json_string_value(json_object_get(x, "uid"));
	const char *rev = json_string_value(json_object_get(x, "rev"));
	const char *ref = json_string_value(json_object_get(x, "ref"));
	int64_t number = json_integer_value(json_object_get(x, "number"));
	char at[41] = "", why[512], *repo = NULL;
	json_t *out = NULL, *rel;
	int lock = -1, rc;
	bool landed = false;

	if (!app || !uid || !rev || !ref)
		return;
	if (repo_find(&repo, ctl->home, app, uid) < 0) {
		/* Not here to judge by: the hook has a while to say. */
		if (json_integer_value(json_object_get(x, "age")) <
		    CTL_LANDING_BLIND_SECS)
			return;
		snprintf(why, sizeof(why), "the push did not land: the app's "
		    "repository is not in %s/git, and its hook never said git "
		    "moved %s", ctl->home, ref);
		goto end;
	}
	rc = repo_ref(at, ctl->home, app, uid, ref);
	landed = rc == 0 && strcmp(at, rev) == 0;
	if (!landed) {
		if (repo_lock(&lock, ctl->home, app, "the controller "
		    "(checking a push that did not finish)") < 0)
			goto out;       /* the push is still running */
		rc = repo_ref(at, ctl->home, app, uid, ref);
		landed = rc == 0 && strcmp(at, rev) == 0;
	}
	if (rc == 0)
		snprintf(why, sizeof(why), "the push did not land: git kept %s "
		    "at %.7s (the push was rejected, or cut off before git "
		    "moved it)", ref, at);
	else
		snprintf(why, sizeof(why), "the push did not land: git did "
		    "not make %s (the push was rejected, or cut off before git "
		    "moved it)", ref);
end:
	rc = store_landing_end(&out, s, app, number, ref, landed, why);
	if (rc < 0) {
		log_warnx("%s: cannot end the landing of build %lld: %s", app,
		    (long long)number, err_last());
		goto out;
	}
	rel = json_object_get(out, "release");
	if (json_is_object(rel)) {
		log_info("%s: build %lld landed (%s is at %.7s): v%"
		    JSON_INTEGER_FORMAT " %s", app, (long long)number, ref, rev,
		    json_integer_value(json_object_get(rel, "version")),
		    json_string_value(json_object_get(rel, "summary")));
		ctl_schedule_kick(ctl, s);
	} else {
		log_info("%s: build %lld: %s", app, (long long)number, why);
		/* A release the push made before git moved its branch may
		 * have been taken back: the runners go back. */
		ctl_schedule_kick(ctl, s);
	}
out:
	if (lock >= 0)
		close(lock);
	json_decref(out);
	free(repo);
}

static void
ctl_landings_repair(struct ctl *ctl, struct store *s)
{
	json_t *list = NULL, *x;
	size_t i;

	if (store_landing_list(&list, s) < 0) {
		log_warnx("cannot read the pushes waiting to land: %s",
		    err_last());
		return;
	}
	json_array_foreach(list, i, x)
		ctl_landing_check(ctl, s, x);
	json_decref(list);
}

static void *
ctl_ticker(void *arg)
{
	struct ctl *ctl = arg;
	struct store *s = NULL;
	struct timespec at;

	for (;;) {
		pthread_mutex_lock(&ctl->sched_mu);
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_sec += CTL_TICK_SECS;
		while (!ctl->stopping &&
		    pthread_cond_timedwait(&ctl->sched_cv, &ctl->sched_mu,
		    &at) == 0)
			;
		if (ctl->stopping) {
			pthread_mutex_unlock(&ctl->sched_mu);
			break;
		}
		pthread_mutex_unlock(&ctl->sched_mu);
		if (s == NULL && ctl_store_get(&s, ctl) < 0) {
			log_warnx("ticker: %s", err_last());
			continue;
		}
		/* only runners that went silent: wake nobody for nothing */
		ctl_schedule_refresh(ctl, s, false);
		ctl_builds_expire(s);
		ctl_landings_repair(ctl, s);
		ctl_rollout_retry(ctl, s);
		ctl_releases_settle(ctl, s);
		ctl_release_phases(ctl, s);
	}
	ctl_store_put(ctl, s);
	return NULL;
}

/* ---- start and stop ---- */

/* On a store with no users: make `admin` and its first token (*out,
 * caller frees; NULL when there were users already). */
static int
ctl_admin_ensure(char **out, struct store *s, const char *token_note)
{
	char token[STORE_TOKEN_LEN];
	int64_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = store_user_count(&n, s)) < 0 || n > 0)
		return rc;
	rc = store_user_create(s, CONTROLLER_ADMIN, true);
	if (rc == ERR_EXISTS)
		return 0;       /* another controller won the race */
	if (rc < 0 || (rc = store_token_create(token, NULL, s,
	    CONTROLLER_ADMIN, token_note)) < 0)
		return rc;
	*out = xstrdup(token);
	return 0;
}

int
controller_home_init(struct controller_home *out, const char *home,
    const char *token_note)
{
	struct controller_home h = { 0 };
	char *secret = home_secret_path(home), *db = home_store_path(home);
	struct store *s = NULL;
	int rc;

	if ((rc = fs_mkdir_p(home, 0700)) < 0)
		goto done;
	/* The registry signs with it too: whoever starts first makes it. */
	if ((rc = jwt_key_load(&h.key, &h.keylen, secret)) < 0) {
		err_wrap(rc, "cannot load the registry token key");
		goto done;
	}
	/* The admin's token last: once made, nothing may fail before the
	 * caller has shown it, or nobody would ever know it. */
	if ((rc = store_open(&s, db)) < 0 ||
	    (rc = ctl_admin_ensure(&h.admin_token, s, token_note)) < 0)
		goto done;
	*out = h;
	memset(&h, 0, sizeof(h));
done:
	store_close(s);
	controller_home_free(&h);
	free(db);
	free(secret);
	return rc;
}

void
controller_home_free(struct controller_home *h)
{
	if (h == NULL)
		return;
	free(h->key);
	free(h->admin_token);
	memset(h, 0, sizeof(*h));
}

static void
ctl_free(struct ctl *ctl)
{
	for (int i = 0; i < ctl->npool; i++)
		store_close(ctl->pool[i]);
	for (int i = 0; i < CTL_PAGES_MAX; i++)
		ctl_page_put(ctl, ctl->pages[i].page);
	free(ctl->key);
	free(ctl->db_path);
	free(ctl->home);
	pthread_mutex_destroy(&ctl->pool_mu);
	pthread_mutex_destroy(&ctl->wlock);
	pthread_mutex_destroy(&ctl->sched_mu);
	pthread_cond_destroy(&ctl->sched_cv);
	pthread_cond_destroy(&ctl->retain_cv);
	pthread_mutex_destroy(&ctl->pages_mu);
}

/* --max-conns and --max-conns-per-ip: what strangers may hold (lib/httpd.h) */
struct ctl_conn_caps {
	unsigned max, per_ip;
};

static int
ctl_run(struct ctl *ctl, const char *listen, const struct ctl_conn_caps *caps)
{
	struct httpd_opts o = {
		.listen = listen,
		.conn_max = caps->max,
		.per_ip_max = caps->per_ip,
		.begin = ctl_begin,
		.handle = ctl_handle,
		.payload = ctl,
		.body_max = CTL_BODY_MAX,
		.name = "controller",
		.access_log = true,
	};
	struct controller_home h;
	struct store *s = NULL;
	int rc, sig;

	if ((rc = controller_home_init(&h, ctl->home, "first start")) < 0)
		goto done;
	if (h.admin_token) {
		/* The one place the token is ever shown: the store keeps a
		 * hash. */
		fprintf(stderr, "slipway controller: created user 'admin'; "
		    "its API token (shown only now, save it): %s\n",
		    h.admin_token);
		fflush(stderr);
	}
	ctl->key = h.key;
	ctl->keylen = h.keylen;
	h.key = NULL;
	controller_home_free(&h);
	if ((rc = ctl_store_get(&s, ctl)) < 0)
		goto done;
	/* What a kill -9 left half-done, before anyone is served: builds
	 * whose builders died with the last controller, or while none ran,
	 * and pushes left waiting to land. */
	ctl_builds_expire(s);
	ctl_landings_repair(ctl, s);
	/* the runners had no controller to renew with: one lease each */
	if (store_runner_lease_grace(s, time(NULL)) < 0)
		log_warnx("%s", err_last());
	ctl_schedule_kick(ctl, s);
	ctl_store_put(ctl, s);
	s = NULL;
	/* Before any thread starts, so signals come to sigwait below. */
	net_signals_block();
	if (pthread_create(&ctl->ticker, NULL, ctl_ticker, ctl) != 0) {
		rc = err_set(ERR_IO, "cannot start the scheduler thread");
		goto done;
	}
	ctl->ticker_started = true;
	if ((rc = ctl_retain_start(ctl)) < 0)
		goto done;
	if ((rc = httpd_start(&ctl->httpd, &o)) < 0)
		goto done;
	/* The host it was told (httpd_start checked it), the port it got. */
	{
		int hlen = (int)(strrchr(listen, ':') - listen);
		bool any = hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0;

		if (ctl->url)
			snprintf(ctl->self_url, sizeof(ctl->self_url), "%s",
			    ctl->url);
		else
			snprintf(ctl->self_url, sizeof(ctl->self_url),
			    "http://%.*s:%u", any ? 9 : hlen,
			    any ? "127.0.0.1" : listen,
			    (unsigned)httpd_port(ctl->httpd));
		log_info("listening on %.*s:%u, reached at %s (store %s, "
		    "registry %s, runner lease %ds)", hlen, listen,
		    (unsigned)httpd_port(ctl->httpd), ctl->self_url,
		    ctl->db_path, ctl->registry_url, ctl->runner_timeout);
	}
	sig = net_signal_wait();
	log_info("signal %d: stopping", sig);
done:
	pthread_mutex_lock(&ctl->sched_mu);
	ctl->stopping = true;
	pthread_cond_broadcast(&ctl->sched_cv);
	pthread_mutex_unlock(&ctl->sched_mu);
	httpd_stop(ctl->httpd);
	if (ctl->ticker_started)
		pthread_join(ctl->ticker, NULL);
	ctl_retain_stop(ctl);
	ctl_store_put(ctl, s);
	return rc;
}

/* --url is http(s)://HOST[:PORT] (builds and runners are handed it as
 * is); --registry as url_service_parse takes it. */
static int
ctl_urls_check(const char *name, const struct ctl *ctl)
{
	char *hostport = NULL;
	bool plain;
	int rc = 0;

	if (ctl->url && (strlen(ctl->url) >= sizeof(ctl->self_url) ||
	    (strncmp(ctl->url, "http://", 7) != 0 &&
	    strncmp(ctl->url, "https://", 8) != 0) ||
	    url_service_parse(&hostport, &plain, ctl->url) < 0))
		rc = cmdline_usage_error(name, "--url is http://HOST:PORT or "
		    "https://HOST:PORT, how builds and runners reach the "
		    "controller");
	free(hostport);
	hostport = NULL;
	if (rc == 0 && url_service_parse(&hostport, &plain,
	    ctl->registry_url) < 0)
		rc = cmdline_usage_error(name, "--registry: %s", err_last());
	free(hostport);
	/* It goes into git remotes as it is: nothing a shell or git would
	 * read as more than a URL. */
	if (rc == 0 && ctl->git_url && (strncmp(ctl->git_url, "ssh://", 6) ||
	    strlen(ctl->git_url) > 200 ||
	    strcspn(ctl->git_url, " \t\n'\"\\") != strlen(ctl->git_url) ||
	    ctl->git_url[strlen(ctl->git_url) - 1] == '/'))
		rc = cmdline_usage_error(name, "--git-url is ssh://git@HOST:PORT, "
		    "where people push");
	return rc < 0 ? -1 : 0;
}

int
controller_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "home", required_argument, NULL, 'H' },
		{ "runner-lease", required_argument, NULL, 't' },
		{ "runner-timeout", required_argument, NULL, 't' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "max-conns-per-ip", required_argument, NULL, 'M' },
		{ "url", required_argument, NULL, 'u' },
		{ "registry", required_argument, NULL, 'r' },
		{ "keep-releases", required_argument, NULL, 'k' },
		{ "git-url", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_conn_caps caps = { 512, 64 };
	unsigned long long v;
	const char *listen = "127.0.0.1:7070", *home = NULL;
	struct ctl ctl = { .runner_timeout = CTL_RUNNER_LEASE_DEFAULT,
	    .keep_releases = CTL_KEEP_RELEASES_DEFAULT };
	int c, rc;

	while ((c = getopt_long(argc, argv, "l:H:t:m:M:u:r:k:g:", opts,
	    NULL)) != -1) {
		switch (c) {
		case 'k':
			if (parse_uint(&v, optarg, 0, 100000) < 0)
				return cmdline_usage_error(argv[0],
				    "--keep-releases is how many releases' "
				    "images each app keeps, 1 to 100000 (0: "
				    "all, never delete)");
			ctl.keep_releases = (unsigned)v;
			break;
		case 'u':
			ctl.url = optarg;
			break;
		case 'r':
			ctl.registry_url = optarg;
			break;
		case 'g':
			ctl.git_url = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'H':
			home = optarg;
			break;
		case 't':
			if (parse_uint(&v, optarg, 2, 86400) < 0)
				return cmdline_usage_error(argv[0],
				    "--runner-lease is 2 to 86400 seconds");
			ctl.runner_timeout = (int)v;
			break;
		case 'm':
		case 'M':
			if (parse_uint(&v, optarg, 1, 100000) < 0)
				return cmdline_usage_error(argv[0], "--%s is a "
				    "number of connections from 1 to 100000",
				    c == 'm' ? "max-conns" : "max-conns-per-ip");
			*(c == 'm' ? &caps.max : &caps.per_ip) = (unsigned)v;
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]);
	if (ctl.registry_url == NULL || ctl.registry_url[0] == '\0')
		ctl.registry_url = getenv("SLIPWAY_REGISTRY");
	if (ctl.registry_url == NULL || ctl.registry_url[0] == '\0')
		ctl.registry_url = "http://127.0.0.1:5000";
	if (ctl_urls_check(argv[0], &ctl) < 0)
		return 2;
	log_init("controller", LOG_LEVEL_INFO, true);
	ctl.home = xstrdup(home_dir_option(home));
	ctl.db_path = home_store_path(ctl.home);
	pthread_mutex_init(&ctl.pool_mu, NULL);
	pthread_mutex_init(&ctl.wlock, NULL);
	pthread_mutex_init(&ctl.sched_mu, NULL);
	pthread_cond_init(&ctl.sched_cv, NULL);
	pthread_cond_init(&ctl.retain_cv, NULL);
	pthread_mutex_init(&ctl.pages_mu, NULL);
	rc = ctl_run(&ctl, listen, &caps);
	ctl_free(&ctl);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	return 0;
}
