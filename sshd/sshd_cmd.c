/*
 * `slipway sshd`: the SSH git server as a daemon, tied to the controller.
 *
 * The server holds one credential of its own, an admin's API token (the
 * service token, from --token-file, 0600), and uses it for two calls only:
 * GET /v1/keys/<fingerprint> to know whose key connects, and
 * POST /v1/ssh/sessions to mint, per connection, a short-lived token of
 * that user, revoked (DELETE /v1/tokens/ID) when the connection ends.
 * The command runs as `slipway ssh-exec` (this binary) with that session
 * token as its only credential: the service token is never in its
 * environment, nor is any config file's.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/listenfd.h"
#include "slipway/sshd.h"
#include "slipway/log.h"
#include "slipway/name.h"
#include "slipway/url.h"
#include "sshd_int.h"

#define SSHD_TOKEN_FILE_MAX 4096

/* The daemon's settings, shared (read-only) with every connection. */
struct sshd_ctl {
	const char *url;
	char *token;            /* the service token */
	struct apiclient *api;  /* per connection process, made lazily */
};

/* One session: the token's id, to revoke it. */
struct sshd_session {
	long long id;
};

static struct apiclient *
sshd_api(struct sshd_ctl *ctl)
{
	/* Made in the connection's own process (after the fork), so no
	 * curl handle is ever shared between processes. */
	if (ctl->api == NULL && apiclient_open_with(&ctl->api, ctl->url,
	    ctl->token) < 0)
		return NULL;
	return ctl->api;
}

static int
sshd_lookup(char **user, const char *fp, void *ctx)
{
	struct sshd_ctl *ctl = ctx;
	struct apiclient *api = sshd_api(ctl);
	json_t *k = NULL;
	char *e, *path;
	int rc;

	if (api == NULL)
		return ERR_IO;
	e = apiclient_escape(fp);
	path = xasprintf("/v1/keys/%s", e);
	rc = apiclient_call(&k, api, "GET", path, NULL);
	free(path);
	free(e);
	if (rc < 0)
		return rc;
	if (!json_is_string(json_object_get(k, "user"))) {
		json_decref(k);
		return err_set(ERR_IO, "the controller's key answer has no "
		    "user");
	}
	*user = xstrdup(json_string_value(json_object_get(k, "user")));
	json_decref(k);
	return 0;
}

static int
sshd_session_begin(char ***env, void **session, const char *user,
    const char *fp, void *ctx)
{
	struct sshd_ctl *ctl = ctx;
	struct apiclient *api = sshd_api(ctl);
	struct sshd_session *s;
	json_t *body, *t = NULL;
	const char *token, *who;
	int rc;

	if (api == NULL)
		return ERR_IO;
	body = json_pack("{s:s}", "fingerprint", fp);
	rc = apiclient_call(&t, api, "POST", "/v1/ssh/sessions", body);
	json_decref(body);
	if (rc < 0)
		return rc;
	token = json_string_value(json_object_get(t, "token"));
	who = json_string_value(json_object_get(t, "user"));
	/* The key may have moved to someone else since it was checked. */
	if (token == NULL || who == NULL || strcmp(who, user) != 0) {
		json_decref(t);
		return err_set(ERR_AUTH, "the key no longer belongs to '%s'",
		    user);
	}
	s = xcalloc(1, sizeof(*s));
	s->id = (long long)json_integer_value(json_object_get(t, "id"));
	*env = xcalloc(2, sizeof(**env));
	(*env)[0] = xasprintf("SLIPWAY_TOKEN=%s", token);
	*session = s;
	log_info("session of '%s': token %lld", user, s->id);
	json_decref(t);
	return 0;
}

static void
sshd_session_end(void *session, void *ctx)
{
	struct sshd_ctl *ctl = ctx;
	struct sshd_session *s = session;
	struct apiclient *api = sshd_api(ctl);
	char path[64];

	snprintf(path, sizeof(path), "/v1/tokens/%lld", s->id);
	/* If this fails, the token still dies at the end of its ttl. */
	if (api == NULL || apiclient_call(NULL, api, "DELETE", path, NULL) < 0)
		log_warnx("cannot revoke session token %lld: %s", s->id,
		    err_last());
	free(s);
}

static int
sshd_token_read(char **out, const char *path)
{
	struct stat st;
	struct buf b;
	size_t n;
	int rc;

	if (stat(path, &st) < 0)
		return err_sys("cannot read the service token '%s' (an admin's "
		    "API token, made with 'slipway tokens:create'; see "
		    "docs/push.md)", path);
	if (st.st_mode & 077)
		return err_set(ERR_AUTH, "the service token '%s' may be read "
		    "by others (mode %03o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777));
	if ((rc = fs_read_file(&b, path, SSHD_TOKEN_FILE_MAX)) < 0)
		return rc;
	n = b.len;
	while (n > 0 && (b.ptr[n - 1] == '\n' || b.ptr[n - 1] == ' '))
		n--;
	*out = xstrndup(b.ptr ? b.ptr : "", n);
	buf_free(&b);
	if (strncmp(*out, NAME_TOKEN_PREFIX, 4) != 0) {
		free(*out);
		*out = NULL;
		return err_set(ERR_INVALID, "'%s' does not hold an API token "
		    "(slw_...)", path);
	}
	return 0;
}

/* The service token must work and be an admin's: say so at start rather
 * than refuse every key later.  A controller that does not answer yet
 * (slipway up starts them together) is waited for, up to
 * SSHD_CONTROLLER_WAIT seconds; a token it refuses fails at once. */
#define SSHD_CONTROLLER_WAIT 30

static int
sshd_token_check_once(struct apiclient *api, const char *url)
{
	json_t *me = NULL;
	int rc;

	if ((rc = apiclient_call(&me, api, "GET", "/v1/me", NULL)) < 0) {
		rc = err_wrap(rc, "the service token does not work with %s",
		    url);
	} else if (strcmp(json_string_value(json_object_get(me, "role")) ?
	    json_string_value(json_object_get(me, "role")) : "", "admin")) {
		rc = err_set(ERR_AUTH, "the service token is user '%s''s, who "
		    "is not an admin", json_string_value(json_object_get(me,
		    "name")));
	}
	json_decref(me);
	return rc;
}

static int
sshd_token_check(struct sshd_ctl *ctl)
{
	struct apiclient *api = NULL;
	double deadline = clock_mono() + SSHD_CONTROLLER_WAIT;
	bool said = false;
	int rc;

	if ((rc = apiclient_open_with(&api, ctl->url, ctl->token)) < 0)
		return rc;
	while ((rc = sshd_token_check_once(api, ctl->url)) == ERR_IO &&
	    clock_mono() < deadline) {
		if (!said)
			log_info("waiting for the controller at %s", ctl->url);
		said = true;
		usleep(200 * 1000);
	}
	apiclient_free(api);
	return rc;
}

int
sshd_cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "controller", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 't' },
		{ "registry", required_argument, NULL, 'r' },
		{ "host-key", required_argument, NULL, 'k' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "reserved-auth", required_argument, NULL, 'a' },
		{ "max-per-source", required_argument, NULL, 's' },
		{ "max-startups", required_argument, NULL, 'S' },
		{ "unauth-grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct sshd_opts o = { 0 };
	const char *listen = "127.0.0.1:2222", *home;
	const char *url = getenv("SLIPWAY_URL"), *tokfile = NULL;
	const char *registry = getenv("SLIPWAY_REGISTRY"), *hostkey = NULL;
	struct sshd_ctl ctl = { 0 };
	char exe[PATH_MAX], *tf = NULL, *hk = NULL;
	char *exec_argv[3] = { exe, "ssh-exec", NULL }, *env[5] = { 0 };
	ssize_t len;
	int c, idx, rc = 0;

	while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
		switch (c) {
		case 'l': listen = optarg; break;
		case 'c': url = optarg; break;
		case 't': tokfile = optarg; break;
		case 'r': registry = optarg; break;
		case 'k': hostkey = optarg; break;
		case 'm': rc = sshd_limit_parse_count(&o.max_conns, optarg,
		    100000); break;
		case 'a': rc = sshd_limit_parse_count(&o.reserved_auth, optarg,
		    100000); break;
		case 's': rc = sshd_limit_parse_count(&o.max_per_source,
		    optarg, 100000); break;
		case 'S': rc = sshd_limit_parse_startups(o.startups, optarg);
		    break;
		case 'g': rc = sshd_limit_parse_count(&o.unauth_grace_sec,
		    optarg, 3600); break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
		if (rc < 0)
			return cmdline_usage_error(argv[0], "--%s: %s",
			    opts[idx].name, err_last());
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]);
	/* The socket named "ssh" handed over by `slipway up` or a .socket
	 * unit, before anything else may start a child. */
	if (listenfd_take_one(&o.listen_fd, "ssh") < 0)
		return cmdline_fail(argv[0]);
	if (o.listen_fd < 0)
		o.listen_fd = 0;
	log_init("sshd", LOG_LEVEL_INFO, true);
	home = home_dir();
	if (url == NULL || url[0] == '\0')
		url = "http://127.0.0.1:7070";
	if (registry == NULL || registry[0] == '\0')
		registry = "127.0.0.1:5000";
	{
		char *hostport;
		bool plain;

		if (url_service_parse(&hostport, &plain, registry) < 0)
			return cmdline_usage_error(argv[0], "--registry: %s",
			    err_last());
		free(hostport);
	}
	tf = tokfile ? xstrdup(tokfile) : xasprintf("%s/ssh/service-token",
	    home);
	hk = hostkey ? xstrdup(hostkey) : xasprintf("%s/ssh/host_ed25519_key",
	    home);
	ctl.url = url;
	rc = -1;
	if ((len = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0) {
		err_sys("cannot find the slipway binary");
		goto fail;
	}
	exe[len] = '\0';
	if (sshd_token_read(&ctl.token, tf) < 0 || sshd_token_check(&ctl) < 0)
		goto fail;
	/* Nothing below may hand the operator's own credentials on. */
	unsetenv("SLIPWAY_TOKEN");
	env[0] = xasprintf("SLIPWAY_URL=%s", url);
	env[1] = xasprintf("SLIPWAY_HOME=%s", home);
	env[2] = xasprintf("SLIPWAY_REGISTRY=%s", registry);
	env[3] = xstrdup("SLIPWAY_CONFIG=/dev/null");
	o.listen = listen;
	o.host_key = hk;
	o.lookup = sshd_lookup;
	o.lookup_ctx = &ctl;
	o.exec_argv = exec_argv;
	o.extra_env = env;
	o.session_begin = sshd_session_begin;
	o.session_end = sshd_session_end;
	o.session_ctx = &ctl;
	log_info("controller %s, registry %s, commands run as %s ssh-exec",
	    url, registry, exe);
	rc = sshd_run(&o);
fail:
	for (int i = 0; env[i]; i++)
		free(env[i]);
	if (ctl.token)
		explicit_bzero(ctl.token, strlen(ctl.token));
	free(ctl.token);
	apiclient_free(ctl.api);
	free(tf);
	free(hk);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	return 0;
}
