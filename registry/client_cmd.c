/*
 * Commands: `image push` and `image pull`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/parse.h"
#include "slipway/registry.h"

/* Options both commands share. */
struct registry_client_cmd_opts {
	struct registry_client_opts copts;
	char *user;             /* owned copies */
	char *password;
	bool json;
};

/* Credentials: --user USER[:PASSWORD], else SLIPWAY_REGISTRY_USER and
 * SLIPWAY_REGISTRY_PASSWORD (the password from there too when --user
 * has none, so it need not be on a command line). */
static void
registry_client_cmd_creds(struct registry_client_cmd_opts *o, const char *arg)
{
	const char *env_user = getenv("SLIPWAY_REGISTRY_USER");
	const char *env_pass = getenv("SLIPWAY_REGISTRY_PASSWORD");
	const char *colon;

	if (arg) {
		colon = strchr(arg, ':');
		o->user = colon ? xstrndup(arg, (size_t)(colon - arg)) :
		    xstrdup(arg);
		o->password = xstrdup(colon ? colon + 1 :
		    env_pass ? env_pass : "");
	} else if (env_user && *env_user) {
		o->user = xstrdup(env_user);
		o->password = xstrdup(env_pass ? env_pass : "");
	}
	o->copts.user = o->user;
	o->copts.password = o->password;
}

static void
registry_client_cmd_opts_free(struct registry_client_cmd_opts *o)
{
	free(o->user);
	if (o->password)
		explicit_bzero(o->password, strlen(o->password));
	free(o->password);
}

static void
registry_client_cmd_report(const char *verb, const char *ref,
    const struct registry_xfer_stats *st, bool json, bool push)
{
	if (json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:{s:i, s:i}}",
		    "reference", ref, "digest", st->digest, "mediaType",
		    st->media_type, "size", (json_int_t)st->size, "bytes",
		    (json_int_t)st->bytes, "blobs", push ? "uploaded" :
		    "downloaded", st->sent, "existed", st->existed);
		char *s;

		if (push)
			json_object_set_new(json_object_get(j, "blobs"),
			    "mounted", json_integer(st->mounted));
		s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
		json_decref(j);
		return;
	}
	printf("%s %s %s\n", verb, ref, st->digest);
	if (push)
		printf("blobs: %d uploaded, %d existed, %d mounted; %lld bytes "
		    "sent\n", st->sent, st->existed, st->mounted,
		    (long long)st->bytes);
	else
		printf("blobs: %d downloaded, %d existed; %lld bytes "
		    "received\n", st->sent, st->existed, (long long)st->bytes);
}

enum {
	OPT_USER = 256, OPT_INSECURE, OPT_CHUNK, OPT_RETRIES, OPT_JSON,
	OPT_FROM, OPT_TAG, OPT_PLATFORM,
};

static const struct option registry_client_cmd_options[] = {
	{ "user", required_argument, NULL, OPT_USER },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "chunk-size", required_argument, NULL, OPT_CHUNK },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "output", required_argument, NULL, 'o' },
	{ NULL, 0, NULL, 0 },
};

/* Parse the shared options; the rest land in the out pointers.  Returns
 * 0 or the usage error's status. */
static int
registry_client_cmd_parse(struct registry_client_cmd_opts *o, int argc,
    char **argv, const char **from, const char **tag, const char **platform,
    const char **output)
{
	const char *user = NULL;
	unsigned long long n;
	int c;

	memset(o, 0, sizeof(*o));
	o->copts.retries = -1;
	while ((c = getopt_long(argc, argv, "o:", registry_client_cmd_options,
	    NULL)) != -1) {
		switch (c) {
		case OPT_USER: user = optarg; break;
		case OPT_INSECURE: o->copts.insecure = true; break;
		case OPT_CHUNK:
			if (parse_size(&n, optarg) < 0 || n < 1024 ||
			    n > (1ULL << 30))
				return cmdline_usage_error(argv[0], "--chunk-size "
				    "wants 1K to 1G, not '%s'", optarg);
			o->copts.chunk_size = (size_t)n;
			break;
		case OPT_RETRIES:
			if (parse_size(&n, optarg) < 0 || n > 20)
				return cmdline_usage_error(argv[0], "--retries "
				    "wants 0 to 20, not '%s'", optarg);
			o->copts.retries = (int)n;
			break;
		case OPT_JSON: o->json = true; break;
		case OPT_FROM: if (from) { *from = optarg; break; }
			return cmdline_usage_error(argv[0], "unknown option");
		case OPT_TAG: if (tag) { *tag = optarg; break; }
			return cmdline_usage_error(argv[0], "unknown option");
		case OPT_PLATFORM: if (platform) { *platform = optarg; break; }
			return cmdline_usage_error(argv[0], "unknown option");
		case 'o': if (output) { *output = optarg; break; }
			return cmdline_usage_error(argv[0], "unknown option");
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	registry_client_cmd_creds(o, user);
	/* Progress redraws a line: only for a person at a terminal. */
	o->copts.progress = !o->json && isatty(2);
	o->copts.verbose = !o->json;
	return 0;
}

int
registry_client_cmd_push(int argc, char **argv)
{
	struct registry_client_cmd_opts o;
	struct registry_client *c = NULL;
	struct registry_xfer_stats st = { 0 };
	struct registry_ref dst = { 0 };
	struct image_layout *l = NULL;
	const char *from = NULL;
	char *path = NULL, *tag = NULL, *ref = NULL;
	int rc;

	if ((rc = registry_client_cmd_parse(&o, argc, argv, &from, NULL, NULL,
	    NULL)) != 0)
		goto done;
	if (optind != argc - 2) {
		rc = cmdline_usage_error(argv[0], "LAYOUT[:TAG] and "
		    "REGISTRY/REPO[:TAG] are needed");
		goto done;
	}
	if (image_ref_split(&path, &tag, argv[optind]) < 0 ||
	    registry_ref_parse(&dst, argv[optind + 1]) < 0) {
		rc = cmdline_usage_error(argv[0], "%s", err_last());
		goto done;
	}
	rc = 1;
	if (image_layout_open(&l, path) < 0 ||
	    registry_client_new(&c, dst.registry, &o.copts) < 0 ||
	    registry_client_push(&st, c, l, tag, &dst, from) < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	ref = xasprintf("%s/%s%s%s", dst.registry, dst.repo,
	    dst.digest ? "@" : ":", dst.digest ? dst.digest : dst.tag ?
	    dst.tag : tag ? tag : "latest");
	registry_client_cmd_report("pushed", ref, &st, o.json, true);
	rc = 0;
done:
	free(ref);
	free(path);
	free(tag);
	registry_xfer_stats_clear(&st);
	registry_ref_clear(&dst);
	registry_client_free(c);
	image_layout_free(l);
	registry_client_cmd_opts_free(&o);
	return rc;
}

int
registry_client_cmd_pull(int argc, char **argv)
{
	struct registry_client_cmd_opts o;
	struct registry_client *c = NULL;
	struct registry_xfer_stats st = { 0 };
	struct registry_ref src = { 0 };
	struct image_layout *l = NULL;
	const char *tag = NULL, *platform = NULL, *output = NULL;
	char *os = NULL, *arch = NULL;
	int rc;

	if ((rc = registry_client_cmd_parse(&o, argc, argv, NULL, &tag,
	    &platform, &output)) != 0)
		goto done;
	if (optind != argc - 1 || output == NULL) {
		rc = cmdline_usage_error(argv[0], "REGISTRY/REPO[:TAG|@DIGEST] and "
		    "-o LAYOUT are needed");
		goto done;
	}
	if (registry_ref_parse(&src, argv[optind]) < 0) {
		rc = cmdline_usage_error(argv[0], "%s", err_last());
		goto done;
	}
	if (platform) {
		const char *slash = strchr(platform, '/');
		if (slash == NULL || slash == platform || slash[1] == '\0') {
			rc = cmdline_usage_error(argv[0], "--platform wants OS/ARCH");
			goto done;
		}
		os = xstrndup(platform, (size_t)(slash - platform));
		arch = xstrdup(slash + 1);
	}
	rc = 1;
	if (image_layout_init(&l, output) < 0 ||
	    registry_client_new(&c, src.registry, &o.copts) < 0 ||
	    registry_client_pull(&st, c, &src, l, tag, os, arch) < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	registry_client_cmd_report("pulled", argv[optind], &st, o.json, false);
	rc = 0;
done:
	free(os);
	free(arch);
	registry_xfer_stats_clear(&st);
	registry_ref_clear(&src);
	registry_client_free(c);
	image_layout_free(l);
	registry_client_cmd_opts_free(&o);
	return rc;
}
