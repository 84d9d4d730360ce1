/*
 * An app's disk use, for apps:info: its images in the registry (the
 * bytes of the distinct blobs its tagged manifests name, manifests
 * included, as a pull of all of them would fetch; blobs shared with
 * other apps count for each), its git repository and its build cache
 * (the blocks the trees take, as du counts them, links not followed).
 * Each part is best effort: one that cannot be measured (the registry
 * down, a file that went while it was walked) is null, never a wrong
 * number.
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/home.h"
#include "slipway/log.h"
#include "slipway/repo.h"

/* nftw has no payload: one walk at a time per thread. */
static _Thread_local uint64_t disk_sum;

static int
disk_add(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	if (flag == FTW_F || flag == FTW_SL || flag == FTW_D)
		disk_sum += (uint64_t)st->st_blocks * 512;
	return 0;
}

/* The bytes under dir as a JSON integer; 0 when it is not there, null
 * when it cannot be walked. */
static json_t *
disk_tree(const char *dir)
{
	struct stat st;

	if (dir == NULL || lstat(dir, &st) < 0)
		return json_integer(0);
	disk_sum = 0;
	if (nftw(dir, disk_add, 16, FTW_PHYS) != 0)
		return json_null();
	return json_integer((json_int_t)disk_sum);
}

json_t *
ctl_app_disk(struct ctl *ctl, const char *app, const char *uid)
{
	char *cache = uid ? home_cache_path(ctl->home, uid) : NULL;
	char *repo = NULL;
	uint64_t images = 0;
	json_t *out;

	if (uid == NULL || repo_find(&repo, ctl->home, app, uid) < 0)
		repo = NULL;
	out = json_pack("{s:o,s:o}", "repository", disk_tree(repo), "cache",
	    disk_tree(cache));
	if (ctl_registry_bytes(&images, ctl, ctl->registry_url, app) < 0) {
		log_debug("disk use of '%s': %s", app, err_last());
		json_object_set_new(out, "images", json_null());
	} else {
		json_object_set_new(out, "images",
		    json_integer((json_int_t)images));
	}
	free(repo);
	free(cache);
	return out;
}
