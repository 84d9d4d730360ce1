/*
 * Commands: `image build`, `image inspect`, `stack import`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/home.h"
#include "slipway/image.h"

#include "image_int.h"

#define CMD_MAX_PROCS 64

/* Print what was made: "NAME LAYOUT:TAG DIGEST", or JSON. */
static void
image_cmd_report(const char *verb, const char *layout, const char *tag,
    const struct image_desc *d, bool json)
{
	if (json) {
		json_t *j = json_pack("{s:s, s:s?, s:s, s:I, s:s}", "layout",
		    layout, "tag", tag, "digest", d->digest, "size",
		    (json_int_t)d->size, "mediaType", d->media_type);
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
		json_decref(j);
		return;
	}
	printf("%s %s%s%s %s\n", verb, layout, tag ? ":" : "", tag ? tag : "",
	    d->digest);
}

int
image_cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "slug", required_argument, NULL, 's' },
		{ "base", required_argument, NULL, 'b' },
		{ "output", required_argument, NULL, 'o' },
		{ "tag", required_argument, NULL, 't' },
		{ "process", required_argument, NULL, 'p' },
		{ "revision", required_argument, NULL, 'r' },
		{ "source", required_argument, NULL, 'S' },
		{ "created", required_argument, NULL, 'c' },
		{ "port", required_argument, NULL, 'P' },
		{ "healthcheck", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_process procs[CMD_MAX_PROCS];
	char *proc_buf[CMD_MAX_PROCS];
	struct image_build_opts o = { 0 };
	struct image_desc d = { 0 };
	char *base = NULL, *base_tag = NULL;
	bool json = false;
	size_t nprocs = 0;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.slug = optarg; break;
		case 'b': free(base); free(base_tag);
			if (image_ref_split(&base, &base_tag, optarg) < 0) {
				rc = cmdline_usage_error(argv[0], "%s", err_last());
				goto done;
			}
			break;
		case 'o': o.out = optarg; break;
		case 't': o.tag = optarg; break;
		case 'p': {
			char *eq = strchr(optarg, '=');
			if (eq == NULL || eq == optarg) {
				rc = cmdline_usage_error(argv[0], "--process wants "
				    "TYPE=COMMAND, not '%s'", optarg);
				goto done;
			}
			if (nprocs == CMD_MAX_PROCS) {
				rc = cmdline_usage_error(argv[0], "more than %d "
				    "process types", CMD_MAX_PROCS);
				goto done;
			}
			proc_buf[nprocs] = xstrndup(optarg,
			    (size_t)(eq - optarg));
			procs[nprocs].type = proc_buf[nprocs];
			procs[nprocs].command = eq + 1;
			nprocs++;
			break;
		}
		case 'r': o.revision = optarg; break;
		case 'S': o.source = optarg; break;
		case 'c': o.created = optarg; break;
		case 'P': o.port = optarg; break;
		case 'H':
			/* a path, or a JSON object (docs/rollout.md) */
			if (optarg[0] != '/' && optarg[0] != '{') {
				rc = cmdline_usage_error(argv[0], "--healthcheck is "
				    "a path (/health) or a JSON object");
				goto done;
			}
			o.healthcheck = optarg;
			break;
		case 'j': json = true; break;
		default:
			rc = cmdline_usage_error(argv[0], "unknown option");
			goto done;
		}
	}
	if (optind != argc || o.slug == NULL || o.out == NULL ||
	    o.tag == NULL) {
		rc = cmdline_usage_error(argv[0], "--slug, -o and --tag are needed");
		goto done;
	}
	o.base = base;
	o.base_tag = base_tag;
	o.procs = procs;
	o.nprocs = nprocs;
	if (image_build(&d, &o) < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	image_cmd_report("built", o.out, o.tag, &d, json);
	rc = 0;
done:
	for (size_t i = 0; i < nprocs; i++)
		free(proc_buf[i]);
	free(base);
	free(base_tag);
	image_desc_clear(&d);
	return rc;
}

static json_t *
image_cmd_strv(char **v)
{
	json_t *a;

	if (v == NULL)
		return json_null();
	a = json_array();
	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

/* The inspect document: what the image is, from manifest and config. */
static json_t *
image_cmd_describe(const char *ref, const struct image_manifest *m,
    const struct image_config *c)
{
	json_t *j, *layers = json_array(), *labels = json_object(), *procs;
	const char *pt;

	for (size_t i = 0; i < m->nlayers; i++)
		json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:s}",
		    "mediaType", m->layers[i].media_type, "digest",
		    m->layers[i].digest, "size", (json_int_t)m->layers[i].size,
		    "diffId", c->diff_ids[i]));
	for (size_t i = 0; c->label_keys && c->label_keys[i]; i++)
		json_object_set_new(labels, c->label_keys[i],
		    json_string(c->label_values[i]));
	pt = image_config_label(c, IMAGE_LABEL_PROCESS_TYPES);
	procs = pt ? json_loads(pt, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (procs && !json_is_object(procs)) {
		json_decref(procs);
		procs = NULL;
	}
	j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s?, s:s?, s:s?,"
	    " s:o, s:o, s:o, s:o, s:o, s:o}",
	    "reference", ref, "digest", m->digest, "mediaType", m->media_type,
	    "size", (json_int_t)m->raw_len, "config", m->config.digest,
	    "os", c->os, "architecture", c->arch, "created", c->created,
	    "user", c->user, "workingDir", c->workdir,
	    "env", image_cmd_strv(c->env), "cmd", image_cmd_strv(c->cmd),
	    "entrypoint", image_cmd_strv(c->entrypoint), "labels", labels,
	    "processTypes", procs ? procs : json_object(), "layers", layers);
	if (j == NULL)
		abort();
	return j;
}

static void
image_cmd_print_text(const json_t *j)
{
	const char *k;
	json_t *v, *layers = json_object_get(j, "layers");
	size_t i;

	printf("reference:    %s\n", json_string_value(json_object_get(j,
	    "reference")));
	printf("digest:       %s\n", json_string_value(json_object_get(j,
	    "digest")));
	printf("media type:   %s\n", json_string_value(json_object_get(j,
	    "mediaType")));
	printf("config:       %s\n", json_string_value(json_object_get(j,
	    "config")));
	printf("platform:     %s/%s\n", json_string_value(json_object_get(j,
	    "os")), json_string_value(json_object_get(j, "architecture")));
	if ((v = json_object_get(j, "created")) != NULL)
		printf("created:      %s\n", json_string_value(v));
	if ((v = json_object_get(j, "user")) != NULL)
		printf("user:         %s\n", json_string_value(v));
	if ((v = json_object_get(j, "workingDir")) != NULL)
		printf("working dir:  %s\n", json_string_value(v));
	json_array_foreach(json_object_get(j, "env"), i, v)
		printf("env:          %s\n", json_string_value(v));
	if (json_is_array(json_object_get(j, "cmd"))) {
		char *s = json_dumps(json_object_get(j, "cmd"), JSON_COMPACT);
		printf("cmd:          %s\n", s);
		free(s);
	}
	json_object_foreach(json_object_get(j, "processTypes"), k, v)
		printf("process:      %s: %s\n", k, json_string_value(v));
	json_object_foreach(json_object_get(j, "labels"), k, v)
		if (strcmp(k, IMAGE_LABEL_PROCESS_TYPES) != 0)
			printf("label:        %s=%s\n", k,
			    json_string_value(v));
	json_array_foreach(layers, i, v)
		printf("layer %zu:      %s %lld bytes (diff_id %s)\n", i,
		    json_string_value(json_object_get(v, "digest")),
		    (long long)json_integer_value(json_object_get(v, "size")),
		    json_string_value(json_object_get(v, "diffId")));
}

int
image_cmd_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verify", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;
	struct image_config *cfg = NULL;
	char *path = NULL, *tag = NULL;
	bool json = false, verify = false;
	json_t *doc = NULL;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'v': verify = true; break;
		default: return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc - 1)
		return cmdline_usage_error(argv[0], "one LAYOUT[:TAG] is needed");
	if (image_ref_split(&path, &tag, argv[optind]) < 0) {
		rc = cmdline_usage_error(argv[0], "%s", err_last());
		goto done;
	}
	if (image_layout_open(&l, path) < 0 ||
	    image_layout_load(&m, &cfg, l, tag) < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	/* Every layer must be there with its size; --verify hashes them. */
	for (size_t i = 0; i < m->nlayers; i++) {
		int r = verify ? image_layout_blob_verify(l, &m->layers[i]) :
		    image_layout_blob_stat(l, &m->layers[i]);
		if (r < 0) {
			rc = cmdline_fail(argv[0]);
			goto done;
		}
	}
	doc = image_cmd_describe(argv[optind], m, cfg);
	if (json) {
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
	} else {
		image_cmd_print_text(doc);
	}
	rc = 0;
done:
	json_decref(doc);
	image_manifest_free(m);
	image_config_free(cfg);
	image_layout_free(l);
	free(path);
	free(tag);
	return rc;
}

int
image_cmd_stack_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "busybox", no_argument, NULL, 'b' },
		{ "busybox-path", required_argument, NULL, 'B' },
		{ "output", required_argument, NULL, 'o' },
		{ "tag", required_argument, NULL, 't' },
		{ "created", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *out = NULL, *tag = "latest", *created = NULL,
	    *bb_path = NULL;
	struct image_desc d = { 0 };
	bool busybox = false, json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b': busybox = true; break;
		case 'B': bb_path = optarg; busybox = true; break;
		case 'o': out = optarg; break;
		case 't': tag = optarg; break;
		case 'c': created = optarg; break;
		case 'j': json = true; break;
		default: return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc || out == NULL || (dir == NULL) == !busybox)
		return cmdline_usage_error(argv[0], "-o and one of --dir or "
		    "--busybox are needed");
	rc = busybox ? image_stack_import_busybox(&d, bb_path, out, tag,
	    created) : image_stack_import_dir(&d, dir, out, tag, created);
	if (rc < 0)
		return cmdline_fail(argv[0]);
	image_cmd_report("imported", out, tag, &d, json);
	image_desc_clear(&d);
	return 0;
}

static void
stack_build_progress(const char *line, void *payload)
{
	fprintf(stderr, "stack %s: %s\n", (const char *)payload, line);
}

int
image_cmd_stack_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "suite", required_argument, NULL, 's' },
		{ "mirror", required_argument, NULL, 'm' },
		{ "cache", required_argument, NULL, 'C' },
		{ "home", required_argument, NULL, 'H' },
		{ "created", required_argument, NULL, 'c' },
		{ "default", no_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct image_debian_opts o = { .progress = stack_build_progress };
	struct image_stack_built b;
	const char *home = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': o.suite = optarg; break;
		case 'm': o.mirror = optarg; break;
		case 'C': o.cache = optarg; break;
		case 'H': home = optarg; break;
		case 'c': o.created = optarg; break;
		case 'D': o.make_default = true; break;
		case 'j': json = true; break;
		default: return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind + 1 != argc)
		return cmdline_usage_error(argv[0], "one stack NAME is needed");
	o.name = argv[optind];
	o.home = home_dir_option(home);
	o.payload = (void *)o.name;
	if (image_stack_build_debian(&b, &o) < 0)
		return cmdline_fail(argv[0]);
	if (json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name",
		    o.name, "run_digest", b.run_digest, "build_digest",
		    b.build_digest, "run_layer", b.run_layer, "build_layer",
		    b.build_layer, "unchanged", b.unchanged);
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
		json_decref(j);
	} else {
		printf("%s stack %s: run %s, build %s\n", b.unchanged ?
		    "unchanged" : "built", o.name, b.run_digest,
		    b.build_digest);
	}
	return 0;
}

/* `stacks`: the home's stacks, one a line (name, run digest, size in
 * MiB, created, "default" on the one apps use), or the rows as JSON. */
int
image_cmd_stacks(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *home = NULL;
	json_t *list = NULL, *row;
	bool json = false;
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'H': home = optarg; break;
		case 'j': json = true; break;
		default: return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind != argc)
		return cmdline_usage_error(argv[0], "no arguments are taken");
	if (image_stacks_list(&list, home_dir_option(home)) < 0)
		return cmdline_fail(argv[0]);
	if (json) {
		char *s = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
	}
	json_array_foreach(list, i, row) {
		if (json)
			break;
		printf("%-30s %s %7.1f MiB  %s%s\n",
		    json_string_value(json_object_get(row, "name")),
		    json_string_value(json_object_get(row, "digest")),
		    (double)json_integer_value(json_object_get(row, "size")) /
		    (1024.0 * 1024.0),
		    json_string_value(json_object_get(row, "created")),
		    json_is_true(json_object_get(row, "default")) ?
		    "  default" : "");
	}
	json_decref(list);
	return 0;
}
