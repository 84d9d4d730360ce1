/*
 * The stack an app builds in and its slug is layered on, first found:
 * slipway.yml's `stack:`, the app's `stack:set`, the home's default
 * (stacks/.default, image/stacks.c), else the busybox stack `default`.
 * A Debian stack (`stack build`) is a pair: buildpacks run in its build
 * image and the slug goes on its run image; any other stack's one image
 * is both.  A stack the app chose that is missing fails the build; a
 * default that is missing (removed since) falls back to busybox, saying
 * so.  The busybox stack is imported from the host's busybox-static the
 * first time it is needed.  For compiles the build image is unpacked
 * once per manifest digest, with the runner's own unpacker, into the
 * runner's image cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/image.h"
#include "slipway/runner.h"

#define STACK_NAME IMAGE_STACK_BUSYBOX

static bool
stack_present(const char *layout)
{
	struct image_layout *l = NULL;
	bool ok = image_layout_open(&l, layout) == 0;

	image_layout_free(l);
	return ok;
}

static int
stack_busybox_ensure(char **out, const char *home)
{
	char *dir = home_stacks_dir(home), *layout = home_stack_path(home,
	    STACK_NAME);
	char *lockp = fs_join(dir, ".lock"), *tmp = NULL;
	struct image_desc d = { 0 };
	int fd = -1, rc = 0;

	if (stack_present(layout))
		goto ok;
	if ((rc = fs_mkdir_p(dir, 0755)) < 0)
		goto done;
	/* Two first builds at once import it once. */
	if ((fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    flock(fd, LOCK_EX) < 0) {
		rc = err_sys("cannot lock '%s'", lockp);
		goto done;
	}
	if (stack_present(layout))
		goto ok;
	if (fs_exists(layout)) {
		rc = err_set(ERR_INVALID, "'%s' is not an OCI image layout; "
		    "remove it to have the busybox stack imported again",
		    layout);
		goto done;
	}
	tmp = xasprintf("%s/.%s.tmp", dir, STACK_NAME);
	if ((rc = fs_remove_tree(tmp)) < 0)
		goto done;
	if ((rc = image_stack_import_busybox(&d, NULL, tmp, "latest",
	    NULL)) < 0) {
		rc = err_wrap(rc, "no stack at '%s' and cannot import one",
		    layout);
		goto done;
	}
	if (rename(tmp, layout) < 0) {
		rc = err_sys("cannot put the stack in place at '%s'", layout);
		goto done;
	}
ok:
	*out = layout;
	layout = NULL;
done:
	image_desc_clear(&d);
	if (tmp)
		fs_remove_tree(tmp);
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(lockp);
	free(layout);
	free(dir);
	return rc;
}

int
builder_stack_pick(struct image_stack_ref *out, struct builder_out *bo,
    const char *home, const char *chosen, const char *from)
{
	char *name = NULL, *layout = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (chosen == NULL && (rc = image_stack_default_get(&name, home)) < 0)
		return rc;
	if (chosen && !image_stack_name_is_valid(chosen))
		return err_set(ERR_INVALID, "'%.64s' (%s) is not a stack name",
		    chosen, from);
	if (name == NULL)
		name = xstrdup(chosen);
	if (strcmp(name, STACK_NAME) != 0) {
		rc = image_stack_find(out, home, name);
		if (rc == 0 || chosen) {
			if (rc < 0)
				rc = err_wrap(rc, "the stack %s names", from);
			goto done;
		}
		builder_warn(bo, "the default stack '%s' is not there (%s); "
		    "building on the busybox stack", name, err_last());
	}
	if ((rc = stack_busybox_ensure(&layout, home)) < 0 ||
	    (rc = image_stack_find(out, home, STACK_NAME)) < 0)
		goto done;
done:
	free(layout);
	free(name);
	return rc;
}

int
builder_stack_rootfs(char **rootfs, const char *home,
    const struct image_stack_ref *stack)
{
	const char *layout = stack->layout;
	const char *tag = stack->build_tag;

	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;
	char **layers = NULL;
	int rc;

	if ((rc = image_layout_open(&l, layout)) < 0 ||
	    (rc = image_layout_load(&m, NULL, l, tag)) < 0)
		goto done;
	layers = xcalloc(m->nlayers + 1, sizeof(*layers));
	for (size_t i = 0; i < m->nlayers; i++)
		layers[i] = image_layout_blob_path(l, m->layers[i].digest);
	rc = runner_image_unpack(rootfs, home, m->digest,
	    (const char *const *)layers, m->nlayers, NULL);
done:
	for (size_t i = 0; layers && layers[i]; i++)
		free(layers[i]);
	free(layers);
	image_manifest_free(m);
	image_layout_free(l);
	if (rc < 0)
		rc = err_wrap(rc, "stack '%s'", layout);
	return rc;
}
