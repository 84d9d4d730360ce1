/*
 * The build pipeline: one commit of one app to a release.  See
 * include/slipway/builder.h for the stages; this file runs them in order,
 * keeps the person informed, and makes sure that every way out either
 * ends with the build succeeded and a release made, or with the build
 * failed in the controller with the reason, and nothing half-made left
 * behind (the scratch directory goes, the log is closed under its final
 * name).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>
#include <jansson.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/buf.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/image.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/registry.h"
#include "slipway/url.h"
#include "slipway/rollout.h"
#include "slipway/runner.h"
#include "slipway/slug.h"

#define BUILD_ERROR_MAX 4000    /* the controller keeps 4096 */

/* Everything one run holds; freed by build_state_clear. */
struct build_state {
	git_repository *repo;
	git_oid commit;
	char sha[GIT_OID_HEXSZ + 1];
	char *uid;
	char *branch;           /* the app's deploy branch */
	json_t *app_bps;        /* the app's buildpacks (buildpacks:set) */
	char **bps;             /* the buildpacks configured, in order */
	size_t nbps;
	const char *bps_from;   /* where they were configured */
	int64_t number;
	struct builder_manifest *manifest;
	struct slug_procfile *procfile;
	struct slug_procfile *defaults; /* from bin/release */
	json_t *config;         /* {"KEY": "value"} */
	json_t *procs;          /* the process types of the build */
	char *release_cmd;      /* Procfile `release:`, or NULL */
	char *app_stack;        /* the app's (stack:set), or NULL */
	struct image_stack_ref stack;   /* layout NULL until picked */
	char *slug;             /* path of the slug file */
	struct slug_info slug_info;
	struct builder_limits limits;   /* what the push may expand to */
	struct image_desc image;
	char *image_ref;        /* registry/app:vN */
	bool recorded;          /* the controller knows the build */
	struct builder_lease lease; /* renewed from recorded to the end */
};

static void
build_state_clear(struct build_state *b)
{
	builder_lease_stop(&b->lease);
	slug_repo_free(b->repo);
	free(b->uid);
	free(b->branch);
	json_decref(b->app_bps);
	for (size_t i = 0; i < b->nbps; i++)
		free(b->bps[i]);
	free(b->bps);
	builder_manifest_free(b->manifest);
	slug_procfile_free(b->procfile);
	slug_procfile_free(b->defaults);
	json_decref(b->config);
	json_decref(b->procs);
	free(b->release_cmd);
	free(b->app_stack);
	image_stack_ref_clear(&b->stack);
	free(b->slug);
	image_desc_clear(&b->image);
	free(b->image_ref);
}

static int
build_cancelled(const struct builder_opts *o)
{
	if (o->stop && *o->stop)
		return err_set(ERR_CONFLICT, "the build was cancelled");
	return 0;
}

/* ---- the controller ---- */

static int
build_record(struct build_state *b, const struct builder_opts *o)
{
	json_t *app = NULL, *build = NULL, *body = NULL;
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "/v1/apps/%s", o->app);
	if ((rc = apiclient_call(&app, o->api, "GET", path, NULL)) < 0)
		goto done;
	b->uid = xstrdup(json_string_value(json_object_get(app, "uid")) ?
	    json_string_value(json_object_get(app, "uid")) : "");
	b->branch = xstrdup(json_string_value(json_object_get(app,
	    "deploy_branch")) ? json_string_value(json_object_get(app,
	    "deploy_branch")) : "main");
	if (json_string_value(json_object_get(app, "stack")))
		b->app_stack = xstrdup(json_string_value(json_object_get(app,
		    "stack")));
	if (json_is_array(json_object_get(app, "buildpacks")))
		b->app_bps = json_incref(json_object_get(app, "buildpacks"));
	if (!name_app_is_valid(o->app) || strlen(b->uid) != 32 ||
	    strspn(b->uid, "0123456789abcdef") != 32) {
		rc = err_set(ERR_IO, "the controller's answer for app '%s' has "
		    "no valid uid", o->app);
		goto done;
	}
	if (o->build > 0) {
		b->number = o->build;
	} else {
		snprintf(path, sizeof(path), "/v1/apps/%s/builds", o->app);
		body = json_pack("{s:s}", "rev", b->sha);
		if ((rc = apiclient_call(&build, o->api, "POST", path,
		    body)) < 0)
			goto done;
		b->number = json_integer_value(json_object_get(build,
		    "number"));
	}
	if (b->number <= 0) {
		rc = err_set(ERR_IO, "the controller gave no build number");
		goto done;
	}
	b->recorded = true;
	json_decref(body);
	body = json_pack("{s:s, s:s}", "status", "running", "rev", b->sha);
	snprintf(path, sizeof(path), "/v1/apps/%s/builds/%lld", o->app,
	    (long long)b->number);
	rc = apiclient_call(NULL, o->api, "PATCH", path, body);
done:
	json_decref(app);
	json_decref(build);
	json_decref(body);
	return rc;
}

static void
build_mark_failed(struct build_state *b, const struct builder_opts *o,
    const char *why)
{
	char path[256], msg[BUILD_ERROR_MAX + 1];
	json_t *body;

	if (!b->recorded)
		return;
	builder_lease_stop(&b->lease);
	snprintf(msg, sizeof(msg), "%s", why);
	body = json_pack("{s:s, s:s}", "status", "failed", "error", msg);
	snprintf(path, sizeof(path), "/v1/apps/%s/builds/%lld", o->app,
	    (long long)b->number);
	/* Best effort: the push fails either way. */
	apiclient_call(NULL, o->api, "PATCH", path, body);
	json_decref(body);
}

static int
build_config(struct build_state *b, const struct builder_opts *o)
{
	json_t *cfg = NULL;
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "/v1/apps/%s/config", o->app);
	if ((rc = apiclient_call(&cfg, o->api, "GET", path, NULL)) < 0)
		return err_wrap(rc, "cannot read the app's config");
	b->config = json_incref(json_object_get(cfg, "values"));
	if (!json_is_object(b->config)) {
		json_decref(b->config);
		b->config = json_object();
	}
	json_decref(cfg);
	return 0;
}

/* ---- reading the tree ---- */

static int
build_read_app(struct build_state *b)
{
	struct buf t;
	int rc;

	rc = builder_tree_file(&t, b->repo, &b->commit, "slipway.yml",
	    BUILDER_YAML_MAX);
	if (rc == 0)
		rc = builder_manifest_parse(&b->manifest, t.ptr, t.len);
	else if (rc == ERR_NOTFOUND)
		rc = 0;
	buf_free(&t);
	if (rc < 0)
		return rc;
	rc = builder_tree_file(&t, b->repo, &b->commit, "Procfile",
	    SLUG_SMALL_FILE_MAX);
	if (rc == 0)
		rc = slug_procfile_parse(&b->procfile, t.ptr, t.len);
	else if (rc == ERR_NOTFOUND)
		rc = 0;
	buf_free(&t);
	return rc;
}

static void
build_bps_add(struct build_state *b, const char *s, size_t len)
{
	b->bps = xrealloc(b->bps, (b->nbps + 1) * sizeof(*b->bps));
	b->bps[b->nbps++] = xstrndup(s, len);
}

/* The .buildpacks file (heroku-buildpack-multi's, Dokku's): one
 * buildpack a line, blank lines and # comments skipped. */
static int
build_bps_file(struct build_state *b, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	unsigned line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end, *q = e;
		line++;
		while (p < q && (*p == ' ' || *p == '\t'))
			p++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t' ||
		    q[-1] == '\r'))
			q--;
		if (q > p && *p != '#') {
			if ((size_t)(q - p) > NAME_BUILDPACK_MAX ||
			    memchr(p, '\0', (size_t)(q - p)))
				return err_set(ERR_INVALID, ".buildpacks line "
				    "%u: not a buildpack name or URL", line);
			if (b->nbps == BUILDER_BUILDPACKS_MAX)
				return err_set(ERR_INVALID, ".buildpacks names "
				    "more than %d buildpacks",
				    BUILDER_BUILDPACKS_MAX);
			build_bps_add(b, p, (size_t)(q - p));
			/* refused here, with its line, before any fetch */
			if (name_buildpack_check(b->bps[b->nbps - 1]) < 0)
				return err_wrap(ERR_INVALID, ".buildpacks line "
				    "%u", line);
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Which buildpacks, first found wins: the BUILDPACK_URL config var, the
 * tree's .buildpacks file, slipway.yml's list, the app's own list
 * (buildpacks:add/set): what the pushed commit says beats what was set
 * on the app, as Dokku's .buildpacks does. */
static int
build_bps_configure(struct build_state *b)
{
	const char *url = json_string_value(json_object_get(b->config,
	    "BUILDPACK_URL"));
	struct buf t;
	size_t i;
	json_t *v;
	int rc;

	if (url && url[0]) {
		build_bps_add(b, url, strlen(url));
		b->bps_from = "BUILDPACK_URL";
		return 0;
	}
	rc = builder_tree_file(&t, b->repo, &b->commit, ".buildpacks",
	    SLUG_SMALL_FILE_MAX);
	if (rc == 0) {
		rc = build_bps_file(b, t.ptr ? t.ptr : "", t.len);
		b->bps_from = ".buildpacks";
	} else if (rc == ERR_NOTFOUND) {
		rc = 0;
	}
	buf_free(&t);
	if (rc < 0 || b->nbps)
		return rc;
	if (b->manifest && b->manifest->nbuildpacks) {
		for (i = 0; i < b->manifest->nbuildpacks; i++)
			build_bps_add(b, b->manifest->buildpacks[i],
			    strlen(b->manifest->buildpacks[i]));
		b->bps_from = "slipway.yml";
		return 0;
	}
	json_array_foreach(b->app_bps, i, v)
		if (json_is_string(v) && b->nbps < BUILDER_BUILDPACKS_MAX)
			build_bps_add(b, json_string_value(v),
			    json_string_length(v));
	if (b->nbps)
		b->bps_from = "buildpacks:add";
	return 0;
}

/* The stack (builder_stack_pick), once a build needs it. */
static int
build_stack(struct build_state *b, struct builder_out *bo,
    const struct builder_opts *o)
{
	const char *chosen = NULL, *from = NULL;
	int rc;

	if (b->stack.layout)
		return 0;
	if (b->manifest && b->manifest->stack) {
		chosen = b->manifest->stack;
		from = "slipway.yml";
	} else if (b->app_stack) {
		chosen = b->app_stack;
		from = "stack:set";
	}
	if ((rc = builder_stack_pick(&b->stack, bo, o->home, chosen,
	    from)) < 0)
		return rc;
	builder_say(bo, "Stack %s%s%s%s", b->stack.name, from ? " (" : "",
	    from ? from : "", from ? ")" : "");
	return 0;
}

static bool
build_has_procs(const struct build_state *b)
{
	return (b->procfile && b->procfile->n) ||
	    (b->manifest && b->manifest->processes &&
	    b->manifest->processes->n);
}

/* Procfile and slipway.yml processes, then the buildpacks' defaults for
 * what neither names.  Types must be what the controller takes. */
static int
build_procs(struct build_state *b, struct builder_out *bo)
{
	const struct slug_procfile *src[3] = { b->procfile,
	    b->manifest ? b->manifest->processes : NULL, b->defaults };
	const char *key;
	json_t *v;

	b->procs = json_object();
	for (int s = 0; s < 3; s++) {
		for (size_t i = 0; src[s] && i < src[s]->n; i++) {
			const struct slug_proc *p = &src[s]->procs[i];
			if (json_object_get(b->procs, p->type)) {
				if (s == 1)
					return err_set(ERR_INVALID, "process "
					    "type '%s' is in both the Procfile "
					    "and slipway.yml", p->type);
				continue;   /* defaults only fill gaps */
			}
			json_object_set_new(b->procs, p->type,
			    json_string(p->command));
		}
	}
	/* `release` is the release phase's command, not a process type */
	if ((v = json_object_get(b->procs, "release")) != NULL) {
		b->release_cmd = xstrdup(json_string_value(v));
		json_object_del(b->procs, "release");
		builder_say(bo, "Release phase: %s", b->release_cmd);
	}
	json_object_foreach(b->procs, key, v)
		if (!name_proc_type_is_valid(key))
			return err_set(ERR_INVALID, "process type '%.60s' is not "
			    "one slipway runs: a lower-case letter, then up to "
			    "29 of a-z 0-9 _ -", key);
	if (json_object_size(b->procs) > NAME_PROC_TYPES_MAX)
		return err_set(ERR_INVALID, "more than %d process types",
		    NAME_PROC_TYPES_MAX);
	if (json_object_size(b->procs) == 0)
		builder_warn(bo, "no process types (no Procfile, no "
		    "processes in slipway.yml, none from a buildpack): the "
		    "release will run nothing");
	return 0;
}

/* ---- compile ---- */

static int
build_env_dir(const char *dir, json_t *config)
{
	const char *key;
	json_t *v;
	int rc;

	json_object_foreach(config, key, v) {
		char *p;
		/* keys are checked by the controller; once more here, as
		 * they become file names */
		if (!name_env_key_is_valid(key) || !json_is_string(v))
			continue;
		p = fs_join(dir, key);
		rc = fs_write_atomic(p, json_string_value(v),
		    json_string_length(v), 0600);
		free(p);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
build_compile(struct build_state *b, struct builder_ctx *bc,
    const struct builder_opts *o, bool *compiled)
{
	struct builder_bp *bps = NULL;
	size_t nbps = 0;
	uint64_t files = 0;
	int rc;

	*compiled = false;
	bc->build_dir = fs_join(bc->work, "build");
	bc->env_dir = fs_join(bc->work, "env");
	bc->out_dir = fs_join(bc->work, "out");
	bc->exports_dir = fs_join(bc->work, "exports");
	bc->cache_dir = home_cache_path(o->home, b->uid);
	if (mkdir(bc->build_dir, 0755) < 0 || mkdir(bc->env_dir, 0700) < 0 ||
	    mkdir(bc->out_dir, 0700) < 0 || mkdir(bc->exports_dir, 0755) < 0)
		return err_sys("cannot make the build directories in '%s'",
		    bc->work);
	if ((rc = fs_mkdir_p(bc->cache_dir, 0700)) < 0)
		return rc;
	builder_stage_begin(bc->bo);
	if ((rc = builder_export_tree(&files, b->repo, &b->commit,
	    bc->build_dir, b->limits.max_size)) < 0 ||
	    (rc = build_env_dir(bc->env_dir, b->config)) < 0)
		return rc;
	builder_stage_end(bc->bo, "export");

	builder_stage_begin(bc->bo);
	if ((rc = build_stack(b, bc->bo, o)) < 0)
		return rc;
	bc->stack = b->stack.name;
	if (geteuid() != 0) {
		builder_warn(bc->bo, "cannot build in a container here (not "
		    "root); building on the host, as this user, with no "
		    "isolation");
		bc->host = true;
	} else if ((rc = builder_stack_rootfs(&bc->rootfs, o->home,
	    &b->stack)) < 0 ||
	    (rc = runner_sandbox_user(&bc->uid, &bc->gid, bc->rootfs,
	    NULL)) < 0) {
		return rc;
	}
	if ((rc = builder_bp_prepare_dirs(bc)) < 0 ||
	    (rc = builder_bps_select(&bps, &nbps, bc,
	    (const char *const *)b->bps, b->nbps)) < 0)
		goto done;
	if (nbps == 0) {
		if (!build_has_procs(b)) {
			rc = err_set(ERR_INVALID, "no buildpack applies to this "
			    "app and it has no Procfile: add a Procfile "
			    "(web: COMMAND) or a buildpack");
			goto done;
		}
		builder_say(bc->bo, "No buildpack applies; the Procfile says "
		    "what runs");
		goto done;
	}
	b->defaults = xcalloc(1, sizeof(*b->defaults));
	for (size_t i = 0; i < nbps; i++) {
		builder_say(bc->bo, "%s app detected", bps[i].name);
		if ((rc = build_cancelled(o)) < 0 ||
		    (rc = builder_bp_compile(bc, &bps[i], &b->defaults)) < 0)
			goto done;
	}
	*compiled = true;
done:
	builder_stage_end(bc->bo, "compile");
	builder_bps_free(bps, nbps);
	return rc;
}

/* ---- slug, image, push ---- */

static int
build_slug(struct build_state *b, struct builder_ctx *bc, bool from_dir)
{
	struct slug_opts so = SLUG_OPTS_INIT;
	char size[32];
	int fd, rc;

	b->slug = fs_join(bc->work, "slug.tgz");
	builder_stage_begin(bc->bo);
	/* A scratch file, gone after the push: no fsync, no rename. */
	if ((fd = open(b->slug, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0)
		return err_sys("cannot create '%s'", b->slug);
	if (from_dir) {
		/* .slugignore went before the compile (as Heroku); what the
		 * compile made stays. */
		so.no_slugignore = true;
		rc = slug_write_dir(&b->slug_info, bc->build_dir, &so,
		    slug_sink_fd, &fd);
	} else {
		rc = slug_write_tree(&b->slug_info, b->repo, &b->commit, &so,
		    slug_sink_fd, &fd);
	}
	if (close(fd) < 0 && rc == 0)
		rc = err_sys("cannot write '%s'", b->slug);
	if (rc < 0)
		return err_wrap(rc, "cannot make the slug");
	builder_size_format(size, sizeof(size), b->slug_info.size);
	builder_say(bc->bo, "Slug %s, %llu files%s (%.2fs)", size,
	    (unsigned long long)b->slug_info.entries,
	    from_dir ? "" : ", straight from git", builder_stage_end(bc->bo,
	    "slug"));
	return 0;
}

/* RFC 3339 of the commit's time: the same commit, the same image. */
static void
build_created(char out[32], const struct build_state *b)
{
	git_commit *c = NULL;
	time_t t = 0;
	struct tm tm;

	if (git_commit_lookup(&c, b->repo, &b->commit) == 0)
		t = (time_t)git_commit_time(c);
	git_commit_free(c);
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
build_image(struct build_state *b, struct builder_ctx *bc,
    const struct builder_opts *o)
{
	struct image_process *procs;
	char tag[32], created[32], *health, *out;
	size_t n = 0;
	const char *key;
	json_t *v;
	int rc;

	builder_stage_begin(bc->bo);
	if ((rc = build_stack(b, bc->bo, o)) < 0)
		return rc;
	procs = xcalloc(json_object_size(b->procs) + 1, sizeof(*procs));
	json_object_foreach(b->procs, key, v) {
		procs[n].type = key;
		procs[n].command = json_string_value(v);
		n++;
	}
	snprintf(tag, sizeof(tag), "v%lld", (long long)b->number);
	build_created(created, b);
	health = builder_manifest_health_json(b->manifest);
	out = fs_join(bc->work, "image");
	struct image_build_opts io = {
		.slug = b->slug, .base = b->stack.layout,
		.base_tag = b->stack.run_tag, .out = out, .tag = tag,
		.procs = procs, .nprocs = n, .revision = b->sha,
		.created = created, .healthcheck = health,
		/* computed while the slug was written: no second read */
		.slug_digest = b->slug_info.digest,
		.slug_diff_id = b->slug_info.diff_id,
	};
	rc = image_build(&b->image, &io);
	free(out);
	free(health);
	free(procs);
	if (rc < 0)
		return err_wrap(rc, "cannot make the image");
	builder_stage_end(bc->bo, "image");
	return 0;
}

static int
build_push(struct build_state *b, struct builder_ctx *bc,
    const struct builder_opts *o)
{
	struct registry_client_opts ro = { .user = o->user,
	    .password = o->token, .retries = -1 };
	struct registry_xfer_stats st = { 0 };
	struct registry_client *rc_ = NULL;
	struct image_layout *l = NULL;
	struct registry_ref dst = { 0 };
	char tag[32], size[32], *layout = fs_join(bc->work, "image");
	char *hostport = NULL;
	bool plain;
	int rc;

	/* Image references name the registry without its scheme. */
	if ((rc = url_service_parse(&hostport, &plain, o->registry)) < 0)
		goto done;
	snprintf(tag, sizeof(tag), "v%lld", (long long)b->number);
	b->image_ref = xasprintf("%s/%s:%s", hostport, o->app, tag);
	builder_say(bc->bo, "Pushing image %s", b->image_ref);
	builder_stage_begin(bc->bo);
	dst.registry = hostport;
	dst.repo = (char *)o->app;
	dst.tag = tag;
	if ((rc = image_layout_open(&l, layout)) < 0 ||
	    (rc = registry_client_new(&rc_, o->registry, &ro)) < 0 ||
	    (rc = registry_client_push(&st, rc_, l, tag, &dst, NULL)) < 0) {
		rc = err_wrap(rc, "cannot push the image to '%s'", hostport);
		goto done;
	}
	builder_size_format(size, sizeof(size), (uint64_t)st.bytes);
	builder_say(bc->bo, "Image %.19s: %d blob(s) sent (%s), %d already "
	    "in the registry (%.2fs)", st.digest, st.sent, size, st.existed,
	    builder_stage_end(bc->bo, "push"));
done:
	registry_xfer_stats_clear(&st);
	registry_client_free(rc_);
	image_layout_free(l);
	free(hostport);
	free(layout);
	return rc;
}

static int
build_release(int64_t *version, struct build_state *b,
    const struct builder_opts *o, struct builder_out *bo)
{
	json_t *body, *res = NULL;
	char path[256];
	int rc;

	builder_stage_begin(bo);
	/* The last word on the build: no renewal may come after it. */
	builder_lease_stop(&b->lease);
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "status",
	    "succeeded", "rev", b->sha, "image", b->image_ref, "digest",
	    b->image.digest, "slug_digest", b->slug_info.digest,
	    "process_types", b->procs);
	/* A push's build waits for git to move its branch: the hook
	 * releases it (build_release_landing), and a push git rejects
	 * leaves no release of it. */
	if (o->land)
		json_object_set_new(body, "land", json_string(o->land));
	if (b->release_cmd)
		json_object_set_new(body, "release_command",
		    json_string(b->release_cmd));
	snprintf(path, sizeof(path), "/v1/apps/%s/builds/%lld", o->app,
	    (long long)b->number);
	rc = apiclient_call(&res, o->api, "PATCH", path, body);
	json_decref(body);
	if (rc < 0)
		return err_wrap(rc, "cannot record the build");
	*version = json_integer_value(json_object_get(json_object_get(res,
	    "release"), "version"));
	if (o->land && !json_is_object(json_object_get(res, "landing"))) {
		json_decref(res);
		return err_set(ERR_IO, "the controller does not know pushes "
		    "that land later: upgrade it with this slipway");
	}
	json_decref(res);
	builder_stage_end(bo, "release");
	return 0;
}

/* A push's build, recorded as waiting for git to move o->land: release
 * it now (store_landing_release); *version the release made. */
static int
build_release_landing(int64_t *version, struct build_state *b,
    const struct builder_opts *o)
{
	json_t *body, *res = NULL;
	char path[256];
	int rc;

	body = json_pack("{s:s}", "release", o->land);
	snprintf(path, sizeof(path), "/v1/apps/%s/builds/%lld", o->app,
	    (long long)b->number);
	rc = apiclient_call(&res, o->api, "PATCH", path, body);
	json_decref(body);
	if (rc < 0)
		return err_wrap(rc, "cannot release build %lld",
		    (long long)b->number);
	*version = json_integer_value(json_object_get(json_object_get(res,
	    "release"), "version"));
	json_decref(res);
	if (*version <= 0)
		return err_set(ERR_IO, "the controller made no release of "
		    "build %lld", (long long)b->number);
	return 0;
}

/* slipway.yml's deploy_branch, once it differs, becomes the app's: the
 * next push of that branch builds. */
static void
build_follow_branch(struct build_state *b, const struct builder_opts *o,
    struct builder_out *bo)
{
	json_t *body;
	char path[256];

	if (b->manifest == NULL || b->manifest->deploy_branch == NULL ||
	    strcmp(b->manifest->deploy_branch, b->branch) == 0)
		return;
	body = json_pack("{s:s}", "deploy_branch", b->manifest->deploy_branch);
	snprintf(path, sizeof(path), "/v1/apps/%s", o->app);
	if (apiclient_call(NULL, o->api, "PATCH", path, body) == 0)
		builder_say(bo, "Deploy branch is now '%s' (slipway.yml)",
		    b->manifest->deploy_branch);
	else
		builder_warn(bo, "slipway.yml names deploy branch '%s', but "
		    "the controller refused it: %s", b->manifest->deploy_branch,
		    err_last());
	json_decref(body);
}

/* ---- the whole ---- */

static int
build_open(struct build_state *b, const struct builder_opts *o)
{
	int rc;

	if (o->registry == NULL || o->registry[0] == '\0')
		return err_set(ERR_INVALID, "no registry to push to: set "
		    "SLIPWAY_REGISTRY (its URL, http://HOST:PORT or https://HOST:PORT)");
	if ((rc = slug_repo_open(&b->repo, o->repo, o->alt_odb)) < 0 ||
	    (rc = slug_rev_resolve(&b->commit, b->repo, o->rev)) < 0)
		return rc;
	git_oid_tostr(b->sha, sizeof(b->sha), &b->commit);
	return 0;
}

struct build_follow {
	struct builder_out *bo;
	struct apiclient *api;
	const char *app;
	char run[40];           /* the release phase followed, once */
};

/* Each change of a rollout's state, as a line for the person pushing;
 * a release phase's output, as it comes. */
static void
build_rollout_progress(json_t *ans, void *ctx)
{
	struct build_follow *f = ctx;
	const char *st = json_string_value(json_object_get(ans, "state"));
	const char *why = json_string_value(json_object_get(ans, "reason"));
	const char *run = json_string_value(json_object_get(json_object_get(
	    ans, "release_phase"), "run"));

	if (run && strlen(run) < sizeof(f->run) && strcmp(run, f->run)) {
		snprintf(f->run, sizeof(f->run), "%s", run);
		builder_phase_follow(f->bo, f->api, f->app, run);
		return;
	}
	if (st && strcmp(st, "pending") == 0)
		builder_say(f->bo, "Waiting: %s", why ? why : "deploying");
}

/*
 * After "Release vN": wait until the runners have it live (the URL), or
 * say why not.  A release that fails its health checks fails the push:
 * the old release keeps serving and the branch does not move.
 */
static int
build_wait_live(struct builder_out *bo, struct apiclient *api,
    const char *app, int64_t version)
{
	const char *env = getenv("SLIPWAY_ROLLOUT_TIMEOUT");
	unsigned long long timeout = 0;
	json_t *ans = NULL, *u;
	const char *st;
	char path[256];
	size_t i;
	int rc;

	/* With no live runner to run it, there is nothing to wait for: the
	 * release is recorded and a runner that comes picks it up. */
	snprintf(path, sizeof(path), "/v1/apps/%s/releases/v%lld/rollout",
	    app, (long long)version);
	if (apiclient_call(&ans, api, "GET", path, NULL) == 0 &&
	    json_object_get(ans, "release_phase") == NULL &&
	    json_array_size(json_object_get(ans, "runners")) == 0 &&
	    (st = json_string_value(json_object_get(ans, "state"))) &&
	    strcmp(st, "pending") == 0) {
		builder_say(bo, "Released; not rolled out: %s",
		    json_string_value(json_object_get(ans, "reason")));
		json_decref(ans);
		return 0;
	}
	json_decref(ans);
	ans = NULL;
	/* Unset or not a number of seconds: the default. */
	if (env == NULL || parse_uint(&timeout, env, 1, 86400) < 0)
		timeout = 180;
	struct build_follow follow = { .bo = bo, .api = api, .app = app };
	rc = rollout_wait(&ans, api, app, version, NULL,
	    (unsigned)timeout, build_rollout_progress, &follow);
	if (rc < 0) {
		json_t *serving = json_object_get(ans, "serving");

		builder_warn(bo, "Release v%lld is not live: %s", (long long)
		    version, err_last());
		/* A new app's first release has nothing before it. */
		if (json_is_integer(serving))
			builder_warn(bo, "v%" JSON_INTEGER_FORMAT " keeps "
			    "serving", json_integer_value(serving));
		else if (ans)
			builder_warn(bo, "Nothing was live before it: the app "
			    "serves nothing until a release goes live");
		if (rc == ERR_TIMEOUT)
			builder_warn(bo, "'slipway releases:wait %s v%lld' "
			    "follows it", app, (long long)version);
		json_decref(ans);
		return rc;
	}
	st = json_string_value(json_object_get(ans, "state"));
	if (st && strcmp(st, "idle") == 0) {
		const char *why = json_string_value(json_object_get(ans,
		    "reason"));
		builder_say(bo, "Released; nothing runs: %s", why ? why :
		    "the formation is empty");
	} else {
		json_array_foreach(json_object_get(ans, "urls"), i, u)
			builder_say(bo, "Live at %s", json_string_value(u));
	}
	json_decref(ans);
	return 0;
}

/* Where a write failed for want of space most likely went: the scratch
 * directory when its filesystem is the full one, else SLIPWAY_HOME. */
static const char *
build_full_dir(const char *work, const char *home)
{
	struct statvfs sv;

	if (work && statvfs(work, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < ((uint64_t)1 << 20))
		return work;
	return home;
}

int
builder_run(struct builder_result *res, const struct builder_opts *o)
{
	struct builder_out bo = { .out = o->out, .log_fd = -1,
	    .t0 = clock_mono() };
	struct builder_ctx bc = { .o = o, .bo = &bo };
	struct build_state b = { 0 };
	char *log_part = NULL, *log_final = NULL;
	bool compiled = false;
	int64_t version = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if ((rc = build_open(&b, o)) < 0 || (rc = build_record(&b, o)) < 0)
		goto fail_msg;
	bc.sha = b.sha;
	res->build = b.number;
	builder_lease_start(&b.lease, o, b.number);
	log_part = home_build_log_path(o->home, b.uid, b.number, true);
	log_final = home_build_log_path(o->home, b.uid, b.number, false);
	if (o->log_file) {
		char *dir = xstrdup(log_part);
		*strrchr(dir, '/') = '\0';
		if (fs_mkdir_p(dir, 0700) == 0)
			bo.log_fd = open(log_part, O_WRONLY | O_CREAT | O_TRUNC |
			    O_APPEND | O_CLOEXEC, 0600);
		free(dir);
	}
	builder_say(&bo, "Building %.7s (build %lld of %s)", b.sha,
	    (long long)b.number, o->app);
	bc.work = xasprintf("%s/builds/work/%s-%lld", o->home, b.uid,
	    (long long)b.number);
	/* The caps first: a refused tree leaves nothing on disk. */
	if ((rc = builder_limits_get(&b.limits)) < 0 ||
	    (rc = builder_tree_check(&b.limits, b.repo, &b.commit)) < 0 ||
	    (rc = fs_remove_tree(bc.work)) < 0 ||
	    (rc = fs_mkdir_p(bc.work, 0700)) < 0 ||
	    (rc = build_read_app(&b)) < 0 || (rc = build_config(&b, o)) < 0)
		goto fail_msg;
	if ((rc = build_bps_configure(&b)) < 0)
		goto fail_msg;
	if (b.nbps)
		builder_say(&bo, "Buildpacks (%s): %zu", b.bps_from, b.nbps);
	if (builder_bps_wanted(o->home, b.nbps)) {
		if ((rc = build_compile(&b, &bc, o, &compiled)) < 0)
			goto fail_msg;
	} else if (!build_has_procs(&b)) {
		rc = err_set(ERR_INVALID, "no Procfile and no buildpack: add a "
		    "Procfile (web: COMMAND), or install or configure a "
		    "buildpack");
		goto fail_msg;
	}
	if ((rc = build_cancelled(o)) < 0 || (rc = build_procs(&b, &bo)) < 0 ||
	    (rc = build_slug(&b, &bc, compiled)) < 0 ||
	    (rc = build_cancelled(o)) < 0 ||
	    (rc = build_image(&b, &bc, o)) < 0 ||
	    (rc = build_push(&b, &bc, o)) < 0 ||
	    (rc = build_cancelled(o)) < 0 ||
	    (rc = build_release(&version, &b, o, &bo)) < 0)
		goto fail_msg;
	res->release = version;
	snprintf(res->digest, sizeof(res->digest), "%s", b.image.digest);
	if (json_object_size(b.procs)) {
		char *names = NULL;
		const char *key;
		json_t *v;
		struct buf nb;
		buf_init(&nb, 0);
		json_object_foreach(b.procs, key, v)
			buf_printf(&nb, "%s%s", nb.len ? ", " : "", key);
		names = buf_detach(&nb, NULL);
		builder_say(&bo, "Process types: %s", names);
		free(names);
	}
	if (o->land) {
		/* A push: released now, before git moves the branch, so that
		 * a rollout that fails rejects the push (the branch stays);
		 * should git not move it after all, the controller takes the
		 * release back (docs/push.md, "Crash consistency"). */
		build_follow_branch(&b, o, &bo);
		builder_say(&bo, "Built in %.2fs (%s); git moves %s once the "
		    "release is live", clock_mono() - bo.t0, bo.timings,
		    o->land + (strncmp(o->land, "refs/heads/", 11) ? 0 : 11));
		if ((rc = build_release_landing(&version, &b, o)) < 0) {
			builder_warn(&bo, "Push rejected: %s", err_last());
			goto done;
		}
		res->release = version;
	}
	builder_say(&bo, "Release v%lld", (long long)version);
	build_follow_branch(&b, o, &bo);
	double t_release = clock_mono();
	if ((rc = build_wait_live(&bo, o->api, o->app, version)) < 0) {
		/* The build is fine; its rollout is not. */
		if (o->land)
			builder_warn(&bo, "Push rejected: %s stays where it was",
			    o->land + (strncmp(o->land, "refs/heads/", 11) ? 0 :
			    11));
		goto done;
	}
	res->seconds = clock_mono() - bo.t0;
	builder_say(&bo, "Done in %.2fs (%s, rollout %.2fs)", res->seconds,
	    bo.timings, clock_mono() - t_release);
	rc = 0;
	goto done;
fail_msg:
	builder_disk_full(build_full_dir(bc.work, o->home));
	builder_warn(&bo, "Build failed: %s", err_last());
	{
		char why[BUILD_ERROR_MAX + 1];
		snprintf(why, sizeof(why), "%s", err_last());
		build_mark_failed(&b, o, why);
		err_set(rc, "%s", why);
	}
done:
	if (bc.work) {
		/* Files the build user made are root's to remove. */
		fs_remove_tree(bc.work);
	}
	if (bo.log_fd >= 0)
		close(bo.log_fd);
	if (log_part && fs_exists(log_part))
		rename(log_part, log_final);
	free(bc.work);
	free(bc.build_dir);
	free(bc.env_dir);
	free(bc.out_dir);
	free(bc.exports_dir);
	free(bc.cache_dir);
	free(bc.rootfs);
	free(log_part);
	free(log_final);
	build_state_clear(&b);
	return rc;
}
