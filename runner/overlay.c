/*
 * The overlay mount of a container's or a build sandbox's rootfs: the
 * image's shared rootfs as the read-only lower layer, and a fresh upper
 * and work dir beside the mount point, so that what the process writes
 * is its own and gone at the next mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "runner_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"

int
runner_overlay_mount(const char *dir, const char *lower, const char *what)
{
	char *upper = xasprintf("%s/upper", dir);
	char *work = xasprintf("%s/work", dir);
	char *root = xasprintf("%s/rootfs", dir);
	char *opts = NULL;
	int rc = 0;

	/* overlayfs options are split at ',' and lowerdir at ':', with no
	 * way to quote either */
	if (strpbrk(lower, ",:") || strpbrk(dir, ",:")) {
		rc = err_set(ERR_UNSUPPORTED, "'%s' has a ',' or ':', which an "
		    "overlay mount cannot take; choose another SLIPWAY_HOME",
		    dir);
		goto done;
	}
	/* The ephemeral filesystem: empty at every mount. */
	if ((rc = fs_remove_tree(upper)) < 0 || (rc = fs_remove_tree(work)) < 0)
		goto done;
	if (mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0 ||
	    (mkdir(root, 0755) < 0 && errno != EEXIST)) {
		rc = err_sys("cannot make the directories of '%s'", dir);
		goto done;
	}
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper,
	    work);
	if (mount("overlay", root, "overlay", MS_NODEV, opts) < 0)
		rc = err_set(ERR_UNSUPPORTED, "cannot mount %s: %s", what,
		    strerror(errno));
done:
	free(opts);
	free(root);
	free(work);
	free(upper);
	return rc;
}
