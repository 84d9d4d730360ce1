/*
 * The stacks a home has: $home/stacks/NAME, each an OCI image layout.
 * A stack made by `stack build` holds two images, tagged run and build;
 * any other (the busybox stack `default`, one from `stack import`) holds
 * one, which serves as both.  stacks/.default names the stack an app
 * with no choice of its own uses (absent: `default`, the busybox one);
 * the names start with a letter, so no dot file is ever a stack.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/image.h"
#include "slipway/name.h"

#define STACK_DEFAULT_FILE ".default"
#define STACKS_MAX 256

bool
image_stack_name_is_valid(const char *s)
{
	/* the app rule: one path component, safe in a URL */
	return name_app_is_valid(s);
}

int
image_stack_default_get(char **out, const char *home)
{
	char *dir = home_stacks_dir(home), *p = fs_join(dir, STACK_DEFAULT_FILE);
	struct buf b;
	int rc;

	buf_init(&b, 64);
	rc = fs_read_file(&b, p, 64);
	if (rc == ERR_NOTFOUND) {
		*out = xstrdup(IMAGE_STACK_BUSYBOX);
		rc = 0;
	} else if (rc == 0) {
		char *s = buf_detach(&b, NULL);
		s[strcspn(s, "\n")] = '\0';
		if (!image_stack_name_is_valid(s)) {
			free(s);
			rc = err_set(ERR_INVALID, "'%s' does not name a stack; "
			    "write one name there, or remove it", p);
		} else {
			*out = s;
		}
	}
	buf_free(&b);
	free(p);
	free(dir);
	return rc;
}

int
image_stack_default_set(const char *home, const char *name)
{
	char *dir = home_stacks_dir(home), *p = fs_join(dir, STACK_DEFAULT_FILE);
	char *text = xasprintf("%s\n", name);
	int rc;

	if (!image_stack_name_is_valid(name))
		rc = err_set(ERR_INVALID, "'%.64s' is not a stack name", name);
	else if ((rc = fs_mkdir_p(dir, 0755)) == 0)
		rc = fs_write_atomic(p, text, strlen(text), 0644);
	free(text);
	free(p);
	free(dir);
	return rc;
}

void
image_stack_ref_clear(struct image_stack_ref *r)
{
	free(r->name);
	free(r->layout);
	memset(r, 0, sizeof(*r));
}

int
image_stack_find(struct image_stack_ref *out, const char *home,
    const char *name)
{
	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;
	char *layout;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!image_stack_name_is_valid(name))
		return err_set(ERR_INVALID, "'%.64s' is not a stack name",
		    name ? name : "");
	layout = home_stack_path(home, name);
	if ((rc = image_layout_open(&l, layout)) < 0) {
		rc = err_set(ERR_NOTFOUND, "no stack '%s' (`slipway stacks` "
		    "lists them; `slipway stack build %s` makes one)", name,
		    name);
		goto done;
	}
	out->name = xstrdup(name);
	out->layout = layout;
	layout = NULL;
	if (image_layout_load(&m, NULL, l, IMAGE_STACK_TAG_RUN) == 0) {
		out->run_tag = IMAGE_STACK_TAG_RUN;
		out->build_tag = IMAGE_STACK_TAG_BUILD;
		image_manifest_free(m);
		m = NULL;
		if ((rc = image_layout_load(&m, NULL, l,
		    IMAGE_STACK_TAG_BUILD)) < 0)
			rc = err_wrap(rc, "stack '%s' has a run image and no "
			    "build image", name);
	} else if ((rc = image_layout_load(&m, NULL, l, NULL)) < 0) {
		rc = err_wrap(rc, "stack '%s'", name);
	}
done:
	if (rc < 0)
		image_stack_ref_clear(out);
	image_manifest_free(m);
	image_layout_free(l);
	free(layout);
	return rc;
}

/* Add the size of every blob the manifest m names (once each). */
static void
stacks_size(uint64_t *size, json_t *seen, const struct image_manifest *m)
{
	if (!json_object_get(seen, m->config.digest)) {
		json_object_set_new(seen, m->config.digest, json_true());
		*size += (uint64_t)m->config.size;
	}
	for (size_t i = 0; i < m->nlayers; i++)
		if (!json_object_get(seen, m->layers[i].digest)) {
			json_object_set_new(seen, m->layers[i].digest,
			    json_true());
			*size += (uint64_t)m->layers[i].size;
		}
}

/* One stack's row: name, digest (the run image's), build_digest, size
 * (bytes of its blobs), created, suite, default. */
static json_t *
stacks_row(const char *home, const char *name, const char *def)
{
	struct image_stack_ref r;
	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;
	struct image_config *c = NULL;
	json_t *row = NULL, *seen = json_object();
	uint64_t size = 0;
	const char *suite;

	if (image_stack_find(&r, home, name) < 0 ||
	    image_layout_open(&l, r.layout) < 0 ||
	    image_layout_load(&m, &c, l, r.run_tag) < 0)
		goto done;
	stacks_size(&size, seen, m);
	suite = image_config_label(c, "io.slipway.stack.suite");
	row = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:b}", "name", name,
	    "digest", m->digest, "build_digest", m->digest,
	    "created", c->created, "suite", suite ? suite : "busybox",
	    "default", strcmp(name, def) == 0);
	if (r.build_tag) {
		image_manifest_free(m);
		m = NULL;
		if (image_layout_load(&m, NULL, l, r.build_tag) == 0) {
			stacks_size(&size, seen, m);
			json_object_set_new(row, "build_digest",
			    json_string(m->digest));
		}
	}
	json_object_set_new(row, "size", json_integer((json_int_t)size));
done:
	json_decref(seen);
	image_config_free(c);
	image_manifest_free(m);
	image_layout_free(l);
	image_stack_ref_clear(&r);
	return row;
}

static int
stacks_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int
image_stacks_list(json_t **out, const char *home)
{
	char *dir = home_stacks_dir(home), *def = NULL;
	struct dirent **names = NULL;
	json_t *list = json_array(), *row;
	int n, rc;

	if ((rc = image_stack_default_get(&def, home)) < 0)
		def = xstrdup(IMAGE_STACK_BUSYBOX);
	n = scandir(dir, &names, NULL, stacks_name_cmp);
	for (int i = 0; i < n; i++) {
		if (i < STACKS_MAX &&
		    image_stack_name_is_valid(names[i]->d_name) &&
		    (row = stacks_row(home, names[i]->d_name, def)) != NULL)
			json_array_append_new(list, row);
		free(names[i]);
	}
	free(names);
	*out = list;
	free(def);
	free(dir);
	return 0;
}
