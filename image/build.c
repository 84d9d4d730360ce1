/*
 * `image build`: a stack image plus one slug layer, as an OCI image in a
 * layout.  The stack's layers are reused by digest (hard-linked or copied,
 * never recompressed); the slug file is the new layer as it is; the config
 * is the stack's with Env, WorkingDir, Cmd and labels set; the manifest
 * lists both.  Every JSON document is written compactly with sorted keys
 * and no clock is read, so the same inputs give the same manifest digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"
#include "slipway/parse.h"

#include "image_int.h"

#define BUILD_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define BUILD_PROC_TYPE_MAX 63
#define BUILD_PROC_CMD_MAX 4096

int
image_write_image(struct image_desc *out, struct image_layout *l,
    json_t *config, const struct image_desc *layers, size_t nlayers,
    const char *tag)
{
	struct image_desc cfg = { 0 }, man = { 0 };
	json_t *m = NULL, *arr;
	char *text = NULL;
	size_t len;
	int rc;

	text = image_json_dump(config, &len);
	if ((rc = image_layout_blob_put(&cfg, l, IMAGE_MT_OCI_CONFIG, text,
	    len)) < 0)
		goto done;
	free(text);
	m = json_object();
	json_object_set_new(m, "schemaVersion", json_integer(2));
	json_object_set_new(m, "mediaType", json_string(IMAGE_MT_OCI_MANIFEST));
	json_object_set_new(m, "config", image_desc_to_json(&cfg));
	arr = json_array();
	for (size_t i = 0; i < nlayers; i++)
		json_array_append_new(arr, image_desc_to_json(&layers[i]));
	json_object_set_new(m, "layers", arr);
	text = image_json_dump(m, &len);
	if ((rc = image_layout_blob_put(&man, l, IMAGE_MT_OCI_MANIFEST, text,
	    len)) < 0)
		goto done;
	man.os = xstrdup(json_string_value(json_object_get(config, "os")));
	man.arch = xstrdup(json_string_value(json_object_get(config,
	    "architecture")));
	if ((rc = image_layout_tag(l, &man, tag)) < 0)
		goto done;
	*out = man;
	memset(&man, 0, sizeof(man));
done:
	image_desc_clear(&cfg);
	image_desc_clear(&man);
	json_decref(m);
	json_decref(config);
	free(text);
	return rc;
}

static bool
build_proc_type_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > BUILD_PROC_TYPE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

static int
build_check_opts(const struct image_build_opts *o)
{
	if (o->slug == NULL || o->out == NULL)
		return err_set(ERR_INVALID, "a slug and an output layout are "
		    "needed");
	if (o->tag && !image_tag_is_valid(o->tag))
		return err_set(ERR_INVALID, "'%.200s' is not a valid tag",
		    o->tag);
	if (o->port) {
		unsigned p;
		if (parse_port(&p, o->port) < 0)
			return err_set(ERR_INVALID, "'%.40s' is not a port",
			    o->port);
	}
	for (size_t i = 0; i < o->nprocs; i++) {
		const struct image_process *p = &o->procs[i];
		if (!build_proc_type_is_valid(p->type))
			return err_set(ERR_INVALID, "'%.80s' is not a process "
			    "type name ([A-Za-z0-9_-], at most %d)", p->type,
			    BUILD_PROC_TYPE_MAX);
		if (p->command[0] == '\0' || strlen(p->command) >
		    BUILD_PROC_CMD_MAX || strchr(p->command, '\n'))
			return err_set(ERR_INVALID, "process type '%s' needs a "
			    "one-line command of at most %d bytes", p->type,
			    BUILD_PROC_CMD_MAX);
		for (size_t k = 0; k < i; k++)
			if (strcmp(o->procs[k].type, p->type) == 0)
				return err_set(ERR_INVALID, "process type '%s' "
				    "is given twice", p->type);
	}
	return 0;
}

/* The slug as a layer when its digests are known: a hard link into
 * blobs/ (the whole blob appears at once, as with a rename).  1 when it
 * cannot be linked (another file system): the caller copies. */
static int
build_slug_link(struct image_desc *out, char diff_id[DIGEST_STR_MAX],
    struct image_layout *l, const struct image_build_opts *o)
{
	struct image_desc d = { 0 };
	char *to, *dir;
	struct stat st;
	int rc = 0;

	if (!digest_is_valid(o->slug_digest) ||
	    !digest_is_valid(o->slug_diff_id))
		return err_set(ERR_INVALID, "the slug's digests are not "
		    "sha256:<hex>");
	if (stat(o->slug, &st) < 0)
		return err_sys("cannot open slug '%s'", o->slug);
	snprintf(d.digest, sizeof(d.digest), "%s", o->slug_digest);
	d.size = (int64_t)st.st_size;
	to = image_layout_blob_path(l, d.digest);
	dir = xstrndup(to, (size_t)(strrchr(to, '/') - to));
	if (image_layout_blob_stat(l, &d) == 0)
		rc = 0;         /* the same slug was built before */
	else if ((rc = fs_mkdir_p(dir, 0755)) == 0 && link(o->slug, to) < 0)
		rc = errno == EXDEV ? 1 : err_sys("cannot link slug '%s' "
		    "into the layout", o->slug);
	if (rc == 0) {
		*out = d;
		out->media_type = xstrdup(IMAGE_MT_OCI_LAYER_GZIP);
		snprintf(diff_id, DIGEST_STR_MAX, "%s", o->slug_diff_id);
	}
	free(dir);
	free(to);
	return rc;
}

/* Store the slug as a layer: the file's bytes as they are, its digest,
 * and its diff_id from streaming gunzip. */
static int
build_slug_layer(struct image_desc *out, char diff_id[DIGEST_STR_MAX],
    struct image_layout *l, const char *slug)
{
	struct image_blob_writer *w = NULL;
	char digest[DIGEST_STR_MAX], chunk[65536];
	int64_t size;
	ssize_t n;
	int fd, rc;

	if ((fd = open(slug, O_RDONLY | O_CLOEXEC)) < 0)
		return err_sys("cannot open slug '%s'", slug);
	if ((rc = image_gzip_digests(digest, diff_id, &size, fd)) < 0) {
		rc = err_wrap(rc, "slug '%s'", slug);
		goto done;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		rc = err_sys("cannot rewind '%s'", slug);
		goto done;
	}
	if ((rc = image_blob_writer_open(&w, l)) < 0)
		goto done;
	image_blob_writer_set_limit(w, size);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = err_sys("cannot read slug '%s'", slug);
			goto done;
		}
		if ((rc = image_blob_writer_write(w, chunk, (size_t)n)) < 0)
			goto done;
	}
	/* The digest from the first pass: a slug changed under us fails
	 * here instead of giving a layer whose diff_id lies. */
	if ((rc = image_blob_writer_commit(w, digest, size, NULL)) < 0) {
		rc = err_wrap(rc, "slug '%s' changed while read", slug);
		goto done;
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->digest, sizeof(out->digest), "%s", digest);
	out->size = size;
	out->media_type = xstrdup(IMAGE_MT_OCI_LAYER_GZIP);
done:
	image_blob_writer_free(w);
	close(fd);
	return rc;
}

/* The base's layers, copied into l and given OCI media types. */
static int
build_base(json_t **out_config, struct image_desc **layers, size_t *nlayers,
    struct image_layout *l, const struct image_build_opts *o)
{
	struct image_layout *base = NULL;
	struct image_manifest *m = NULL;
	struct image_config *c = NULL;
	struct buf b = { 0 };
	int rc;

	if ((rc = image_layout_open(&base, o->base)) < 0 ||
	    (rc = image_layout_load(&m, &c, base, o->base_tag)) < 0)
		goto done;
	if ((rc = image_layout_blob_read(&b, base, &m->config,
	    IMAGE_CONFIG_MAX)) < 0 ||
	    (rc = image_json_load(out_config, b.ptr, b.len, "base config")) < 0)
		goto done;
	*layers = xcalloc(m->nlayers + 1, sizeof(**layers));
	for (size_t i = 0; i < m->nlayers; i++) {
		const char *mt = image_layer_type_to_oci(m->layers[i].media_type);
		if (mt == NULL) {
			rc = err_set(ERR_UNSUPPORTED, "base layer %zu has media "
			    "type '%.80s', which slipway cannot carry", i,
			    m->layers[i].media_type);
			goto done;
		}
		if ((rc = image_layout_blob_copy(l, base, &m->layers[i])) < 0)
			goto done;
		image_desc_copy(&(*layers)[i], &m->layers[i]);
		free((*layers)[i].media_type);
		(*layers)[i].media_type = xstrdup(mt);
		(*nlayers)++;
	}
done:
	if (rc < 0)
		rc = err_wrap(rc, "base '%s'", o->base);
	buf_free(&b);
	image_manifest_free(m);
	image_config_free(c);
	image_layout_free(base);
	return rc;
}

/* Env: PATH with /app/bin first, the base's other variables, PORT. */
static json_t *
build_env(const json_t *base_env, const char *port)
{
	const char *path = BUILD_DEFAULT_PATH;
	json_t *env = json_array(), *v;
	size_t i;

	json_array_foreach(base_env, i, v) {
		const char *s = json_string_value(v);
		if (s && strncmp(s, "PATH=", 5) == 0)
			path = s + 5;
	}
	if (strncmp(path, "/app/bin:", 9) == 0)
		json_array_append_new(env, json_sprintf("PATH=%s", path));
	else
		json_array_append_new(env, json_sprintf("PATH=/app/bin:%s",
		    path));
	json_array_foreach(base_env, i, v) {
		const char *s = json_string_value(v);
		if (s && strncmp(s, "PATH=", 5) != 0 &&
		    strncmp(s, "PORT=", 5) != 0)
			json_array_append_new(env, json_string(s));
	}
	json_array_append_new(env, json_sprintf("PORT=%s", port));
	return env;
}

static void
build_labels(json_t *labels, const struct image_build_opts *o,
    const char *created)
{
	json_t *procs = json_object();
	char *text;

	/* The stack's own provenance labels would lie about the app. */
	json_object_del(labels, "org.opencontainers.image.revision");
	json_object_del(labels, "org.opencontainers.image.source");
	json_object_del(labels, IMAGE_LABEL_PROCESS_TYPES);
	json_object_del(labels, IMAGE_LABEL_HEALTHCHECK);
	if (o->healthcheck)
		json_object_set_new(labels, IMAGE_LABEL_HEALTHCHECK,
		    json_string(o->healthcheck));
	if (o->revision)
		json_object_set_new(labels, "org.opencontainers.image.revision",
		    json_string(o->revision));
	if (o->source)
		json_object_set_new(labels, "org.opencontainers.image.source",
		    json_string(o->source));
	json_object_set_new(labels, "org.opencontainers.image.created",
	    json_string(created));
	for (size_t i = 0; i < o->nprocs; i++)
		json_object_set_new(procs, o->procs[i].type,
		    json_string(o->procs[i].command));
	text = image_json_dump(procs, NULL);
	json_object_set_new(labels, IMAGE_LABEL_PROCESS_TYPES,
	    json_string(text));
	free(text);
	json_decref(procs);
}

/* Append a history entry only when the base's history matches its
 * layers (entries without empty_layer, one per layer), as consumers check
 * that; a base without history gets none. */
static void
build_history(json_t *config, size_t base_layers, const char *created,
    const char *slug_digest)
{
	json_t *hist = json_object_get(config, "history"), *h, *e;
	size_t i, count = 0;

	if (hist == NULL && base_layers == 0) {
		hist = json_array();
		json_object_set_new(config, "history", hist);
	}
	if (!json_is_array(hist))
		return;
	json_array_foreach(hist, i, h)
		if (!json_is_true(json_object_get(h, "empty_layer")))
			count++;
	if (count != base_layers)
		return;
	e = json_object();
	json_object_set_new(e, "created", json_string(created));
	json_object_set_new(e, "created_by", json_string("slipway image "
	    "build"));
	json_object_set_new(e, "comment", json_sprintf("slug %s",
	    slug_digest));
	json_array_append_new(hist, e);
}

int
image_build(struct image_desc *out, const struct image_build_opts *o)
{
	struct image_layout *l = NULL;
	struct image_desc *layers = NULL;
	size_t nlayers = 0;
	char diff_id[DIGEST_STR_MAX], *created = NULL;
	json_t *config = NULL, *cfg, *rootfs, *ids, *labels;
	int rc;

	if ((rc = build_check_opts(o)) < 0 ||
	    (rc = image_created_pick(&created, o->created)) < 0 ||
	    (rc = image_layout_init(&l, o->out)) < 0)
		goto done;
	if (o->base) {
		if ((rc = build_base(&config, &layers, &nlayers, l, o)) < 0)
			goto done;
	} else {
		layers = xcalloc(1, sizeof(*layers));
		config = json_pack("{s:s, s:s, s:{s:s, s:[]}}", "architecture",
		    image_host_arch(), "os", "linux", "rootfs", "type",
		    "layers", "diff_ids");
	}
	rc = 1;
	if (o->slug_digest && o->slug_diff_id &&
	    (rc = build_slug_link(&layers[nlayers], diff_id, l, o)) < 0)
		goto done;
	if (rc == 1 &&
	    (rc = build_slug_layer(&layers[nlayers], diff_id, l, o->slug)) < 0)
		goto done;
	nlayers++;

	cfg = json_object_get(config, "config");
	if (!json_is_object(cfg)) {
		cfg = json_object();
		json_object_set_new(config, "config", cfg);
	}
	json_object_set_new(cfg, "Env", build_env(json_object_get(cfg, "Env"),
	    o->port ? o->port : "5000"));
	json_object_set_new(cfg, "WorkingDir", json_string("/app"));
	for (size_t i = 0; i < o->nprocs; i++) {
		if (strcmp(o->procs[i].type, "web") != 0)
			continue;
		/* Procfile commands are shell lines; an Entrypoint of the
		 * stack would swallow them as arguments. */
		json_object_del(cfg, "Entrypoint");
		json_object_set_new(cfg, "Cmd", json_pack("[s,s,s]", "/bin/sh",
		    "-c", o->procs[i].command));
	}
	labels = json_object_get(cfg, "Labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		json_object_set_new(cfg, "Labels", labels);
	}
	build_labels(labels, o, created);
	json_object_set_new(config, "created", json_string(created));
	rootfs = json_object_get(config, "rootfs");
	ids = json_object_get(rootfs, "diff_ids");
	json_array_append_new(ids, json_string(diff_id));
	build_history(config, nlayers - 1, created, layers[nlayers - 1].digest);

	rc = image_write_image(out, l, config, layers, nlayers, o->tag);
	config = NULL;
done:
	for (size_t i = 0; i < nlayers; i++)
		image_desc_clear(&layers[i]);
	free(layers);
	json_decref(config);
	image_layout_free(l);
	free(created);
	return rc;
}
