/*
 * Upload sessions on disk: uploads/<uuid>/data holds the bytes received so
 * far, uploads/<uuid>/repo the repository the session belongs to.  A
 * session becomes a blob only by a rename after its digest is verified
 * (server_blob.c), so a crash mid-upload leaves nothing but a session that
 * goes stale and is swept here.
 *
 * "In use" is a shared flock on the data file, held by the request that
 * writes it; the sweeper takes the lock exclusively without waiting, so it
 * never removes a session under a writer, even one slower than the age.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "registry_int.h"

int
registry_upload_create(char uuid[REGISTRY_UUID_LEN + 1],
    const struct registry_store *s, const char *repo)
{
	unsigned char raw[REGISTRY_UUID_LEN / 2];
	char *dir = NULL, *path = NULL;
	int fd, rc = 0;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_set(ERR_IO, "cannot make random bytes");
	digest_hex(uuid, raw, sizeof(raw));
	dir = fs_join(s->uploads, uuid);
	if (mkdir(dir, 0700) < 0) {
		rc = err_sys("cannot create '%s'", dir);
		goto done;
	}
	path = fs_join(dir, "repo");
	if ((rc = fs_write_atomic(path, repo, strlen(repo), 0600)) < 0)
		goto done;
	free(path);
	path = fs_join(dir, "data");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = err_sys("cannot create '%s'", path);
		goto done;
	}
	close(fd);
done:
	if (rc < 0 && dir)
		fs_remove_tree(dir);
	free(path);
	free(dir);
	return rc;
}

int
registry_upload_check(const struct registry_store *s, const char *uuid,
    const char *repo)
{
	char *path;
	struct buf b;
	int rc;

	if (!registry_uuid_valid(uuid))
		return err_set(ERR_NOTFOUND, "no upload '%.40s'", uuid);
	path = xasprintf("%s/%s/repo", s->uploads, uuid);
	rc = fs_read_file(&b, path, REGISTRY_NAME_MAX + 1);
	free(path);
	if (rc == ERR_NOTFOUND)
		return err_set(ERR_NOTFOUND, "no upload '%s'", uuid);
	if (rc < 0)
		return rc;
	/* a session answers only in the repository it was started in */
	rc = strcmp(b.ptr, repo) == 0 ? 0 :
	    err_set(ERR_NOTFOUND, "no upload '%s' in '%s'", uuid, repo);
	buf_free(&b);
	return rc;
}

char *
registry_upload_data(const struct registry_store *s, const char *uuid)
{
	return xasprintf("%s/%s/data", s->uploads, uuid);
}

int
registry_upload_remove(const struct registry_store *s, const char *uuid)
{
	char *dir;
	int rc;

	if (!registry_uuid_valid(uuid))
		return err_set(ERR_INVALID, "bad upload id");
	dir = fs_join(s->uploads, uuid);
	rc = fs_remove_tree(dir);
	free(dir);
	return rc;
}

int
registry_upload_retire(char **out, const struct registry_store *s,
    const char *uuid)
{
	char *dir, *to;
	int rc = 0;

	*out = NULL;
	if (!registry_uuid_valid(uuid))
		return err_set(ERR_INVALID, "bad upload id");
	dir = fs_join(s->uploads, uuid);
	to = xasprintf("%s/upload-%s", s->tmp, uuid);
	if (rename(dir, to) < 0) {
		rc = err_sys("cannot move '%s' to '%s'", dir, to);
		free(to);
	} else {
		*out = to;
	}
	free(dir);
	return rc;
}

/* Is the session in dir stale: idle past the cutoff and not locked? */
static bool
upload_stale(const char *dir, time_t cutoff, int *lockfd)
{
	char *data = fs_join(dir, "data");
	struct stat st;
	bool stale = false;
	int fd;

	*lockfd = -1;
	if (stat(data, &st) < 0) {
		/* a session dir without data: half-made; judge the dir */
		stale = stat(dir, &st) == 0 && st.st_mtime < cutoff;
		free(data);
		return stale;
	}
	if (st.st_mtime >= cutoff) {
		free(data);
		return false;
	}
	fd = open(data, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
		stale = true;
		*lockfd = fd;   /* held until removed */
	} else if (fd >= 0) {
		close(fd);
	}
	free(data);
	return stale;
}

int
registry_upload_sweep(unsigned *removed, const struct registry_store *s,
    unsigned age, bool dry_run)
{
	time_t cutoff = time(NULL) - (time_t)age;
	const char *dirs[2] = { s->uploads, s->tmp };
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	for (int i = 0; i < 2; i++) {
		if ((d = opendir(dirs[i])) == NULL)
			return err_sys("cannot list '%s'", dirs[i]);
		while ((e = readdir(d)) != NULL) {
			char *path;
			struct stat st;
			int lockfd = -1;
			bool stale;

			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			path = fs_join(dirs[i], e->d_name);
			if (i == 0)
				stale = upload_stale(path, cutoff, &lockfd);
			else
				stale = lstat(path, &st) == 0 &&
				    st.st_mtime < cutoff;
			if (stale) {
				n++;
				if (!dry_run && fs_remove_tree(path) < 0)
					log_warnx("registry: %s", err_last());
			}
			if (lockfd >= 0)
				close(lockfd);
			free(path);
		}
		closedir(d);
	}
	if (removed)
		*removed = n;
	return 0;
}
