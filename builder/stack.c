/*
 * The stack builds run in and slugs are layered on: the OCI layout at
 * $SLIPWAY_HOME/stacks/default.  A fresh install has none, so the first
 * build imports one from the host's busybox-static (`slipway stack import
 * --busybox`); an operator may put any other stack layout there.  For
 * compiles it is unpacked once per manifest digest, with the runner's
 * own unpacker, into the runner's image cache.
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

#define STACK_NAME "default"

static bool
stack_present(const char *layout)
{
	struct image_layout *l = NULL;
	bool ok = image_layout_open(&l, layout) == 0;

	image_layout_free(l);
	return ok;
}

int
builder_stack_ensure(char **out, const char *home)
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
builder_stack_rootfs(char **rootfs, const char *home, const char *layout)
{
	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;
	char **layers = NULL;
	int rc;

	if ((rc = image_layout_open(&l, layout)) < 0 ||
	    (rc = image_layout_load(&m, NULL, l, NULL)) < 0)
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
