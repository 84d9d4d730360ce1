/*
 * The registry's commands: `slipway registry` (the daemon),
 * `slipway registry token` (mint a token until the controller's token
 * endpoint exists) and `slipway registry gc`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/jwt.h"
#include "slipway/log.h"
#include "slipway/net.h"
#include "slipway/parse.h"
#include "slipway/registry.h"

#define TOKEN_TTL_DEFAULT 300
#define TOKEN_TTL_MAX 86400
#define TOKEN_REPOS_MAX 16

/* $SLIPWAY_HOME/secret, made (with its directory) when missing. */
static int
cmd_key(unsigned char **key, size_t *keylen)
{
	char *path;
	int rc;

	if ((rc = fs_mkdir_p(home_dir(), 0700)) < 0)
		return rc;
	path = home_secret_path(home_dir());
	rc = jwt_key_load(key, keylen, path);
	free(path);
	return rc;
}

static int
cmd_parse_secs(unsigned *out, const char *s, unsigned max)
{
	unsigned long long v;

	if (parse_uint(&v, s, 1, max) < 0)
		return err_set(ERR_INVALID, "'%s' is not a number of seconds "
		    "from 1 to %u", s, max);
	*out = (unsigned)v;
	return 0;
}

int
registry_cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "anonymous-pull", no_argument, NULL, 'a' },
		{ "realm", required_argument, NULL, 'R' },
		{ "service", required_argument, NULL, 's' },
		{ "htpasswd", required_argument, NULL, 'p' },
		{ "max-blob", required_argument, NULL, 'm' },
		{ "upload-age", required_argument, NULL, 'u' },
		{ "gc-interval", required_argument, NULL, 'g' },
		{ "sendfile", no_argument, NULL, 'S' },
		{ "max-conns", required_argument, NULL, 'c' },
		{ "max-conns-per-ip", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	struct registry_opts o = { .listen = "127.0.0.1:5000",
	    .access_log = true, .gc_interval = REGISTRY_GC_INTERVAL_DEFAULT };
	struct registry *reg = NULL;
	unsigned long long size, v;
	unsigned char *key = NULL;
	char *root = NULL;
	int c, sig;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': o.listen = optarg; break;
		case 'r': o.root = optarg; break;
		case 'a': o.anonymous_pull = true; break;
		case 'R': o.realm = optarg; break;
		case 's': o.service = optarg; break;
		case 'p': o.htpasswd = optarg; break;
		case 'S': o.sendfile = true; break;
		case 'm':
			if (parse_size(&size, optarg) < 0 || size == 0)
				return cmdline_usage_error(argv[0], "bad --max-blob "
				    "'%s'", optarg);
			o.blob_max = size;
			break;
		case 'c':
		case 'C':
			if (parse_uint(&v, optarg, 1, 100000) < 0)
				return cmdline_usage_error(argv[0], "--%s is a "
				    "number of connections from 1 to 100000",
				    c == 'c' ? "max-conns" : "max-conns-per-ip");
			*(c == 'c' ? &o.conn_max : &o.conn_per_ip) = (unsigned)v;
			break;
		case 'u':
			if (cmd_parse_secs(&o.upload_age, optarg, 30 * 86400) <
			    0)
				return cmdline_usage_error(argv[0], "%s",
				    err_last());
			break;
		case 'g':
			if (parse_uint(&v, optarg, 0, 30 * 86400) < 0)
				return cmdline_usage_error(argv[0], "--gc-interval "
				    "is seconds between gc runs, 0 (never) to "
				    "2592000");
			o.gc_interval = (unsigned)v;
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind < argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'",
		    argv[optind]);
	log_init("registry", LOG_LEVEL_INFO, true);
	if (o.root == NULL)
		o.root = root = home_registry_dir(home_dir());
	if (cmd_key(&key, &o.keylen) < 0) {
		free(root);
		return cmdline_fail(argv[0]);
	}
	o.key = key;
	/* before the server's threads exist, so they inherit the mask */
	net_signals_block();
	if (registry_start(&reg, &o) < 0) {
		OPENSSL_cleanse(key, o.keylen);
		free(key);
		free(root);
		return cmdline_fail(argv[0]);
	}
	log_info("listening on %s (port %u), root '%s'%s", o.listen,
	    (unsigned)registry_port(reg), o.root,
	    o.anonymous_pull ? ", anonymous pull" : "");
	sig = net_signal_wait();
	log_info("signal %d: stopping", sig);
	registry_stop(reg);
	OPENSSL_cleanse(key, o.keylen);
	free(key);
	free(root);
	return 0;
}

int
registry_cmd_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "actions", required_argument, NULL, 'a' },
		{ "ttl", required_argument, NULL, 't' },
		{ "user", required_argument, NULL, 'u' },
		{ "service", required_argument, NULL, 's' },
		{ "catalog", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct registry_token_access acc[TOKEN_REPOS_MAX + 1];
	const char *actions = "pull", *user = NULL;
	const char *service = REGISTRY_SERVICE_DEFAULT;
	const char *repos[TOKEN_REPOS_MAX];
	unsigned ttl = TOKEN_TTL_DEFAULT;
	unsigned char *key = NULL;
	size_t nrepos = 0, n = 0, keylen = 0;
	bool catalog = false;
	char *tok = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (nrepos == TOKEN_REPOS_MAX)
				return cmdline_usage_error(argv[0], "at most %d "
				    "--repo", TOKEN_REPOS_MAX);
			repos[nrepos++] = optarg;
			break;
		case 'a': actions = optarg; break;
		case 'u': user = optarg; break;
		case 's': service = optarg; break;
		case 'c': catalog = true; break;
		case 't':
			if (cmd_parse_secs(&ttl, optarg, TOKEN_TTL_MAX) < 0)
				return cmdline_usage_error(argv[0], "%s",
				    err_last());
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind < argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'",
		    argv[optind]);
	if (nrepos == 0 && !catalog)
		return cmdline_usage_error(argv[0], "--repo NAME is required");
	for (size_t i = 0; i < nrepos; i++)
		acc[n++] = (struct registry_token_access){ "repository",
		    repos[i], actions };
	if (catalog)
		acc[n++] = (struct registry_token_access){ "registry",
		    "catalog", "*" };
	if (user == NULL)
		user = getenv("USER") ? getenv("USER") : "slipway";
	if (cmd_key(&key, &keylen) < 0)
		return cmdline_fail(argv[0]);
	rc = registry_token_mint(&tok, key, keylen, service, user, acc, n, ttl,
	    time(NULL));
	OPENSSL_cleanse(key, keylen);
	free(key);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	printf("%s\n", tok);
	free(tok);
	return 0;
}

int
registry_cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "upload-age", required_argument, NULL, 'u' },
		{ "gc-interval", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct registry_gc_opts o = { .upload_age =
	    REGISTRY_UPLOAD_AGE_DEFAULT };
	struct registry_gc_report r;
	char *root = NULL;
	const char *rootarg = NULL;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r': rootarg = optarg; break;
		case 'n': o.dry_run = true; break;
		case 'j': json = true; break;
		case 'u':
			if (cmd_parse_secs(&o.upload_age, optarg, 30 * 86400) <
			    0)
				return cmdline_usage_error(argv[0], "%s",
				    err_last());
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind < argc)
		return cmdline_usage_error(argv[0], "unexpected '%s'",
		    argv[optind]);
	if (rootarg == NULL)
		rootarg = root = home_registry_dir(home_dir());
	rc = registry_gc(&r, rootarg, &o);
	free(root);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	if (json) {
		json_t *j = json_pack("{s:b,s:i,s:i,s:i,s:I,s:i,s:i}",
		    "dry_run", o.dry_run, "manifests", (int)r.manifests,
		    "blobs_kept", (int)r.blobs_kept, "blobs_removed",
		    (int)r.blobs_removed, "bytes_removed",
		    (json_int_t)r.bytes_removed, "links_removed",
		    (int)r.links_removed, "uploads_removed",
		    (int)r.uploads_removed);
		char *s = json_dumps(j, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(j);
		return 0;
	}
	printf("%s%u manifest(s) marked from, %u blob(s) kept, %u blob(s) "
	    "%s (%llu bytes), %u link(s) and %u stale upload(s) %s\n",
	    o.dry_run ? "dry run: " : "", r.manifests, r.blobs_kept,
	    r.blobs_removed, o.dry_run ? "unreferenced" : "removed",
	    (unsigned long long)r.bytes_removed, r.links_removed,
	    r.uploads_removed, o.dry_run ? "to remove" : "removed");
	return 0;
}
