/*
 * `slipway up`'s first start: everything a fresh SLIPWAY_HOME needs before
 * the services run.  Each step is idempotent, so a first start that was
 * interrupted is finished by the next `up`; later starts only read back
 * the two secrets the services need.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/controller.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/image.h"
#include "slipway/store.h"
#include "up_int.h"

#define UP_RUNNER "local"
#define UP_SERVICE_TOKEN "service.token"  /* in HOME/up/ */
#define UP_BUSYBOX "/bin/busybox"

/* Read a one-line secret file into *out (trailing newline dropped). */
static int
up_secret_read(char **out, const char *path)
{
	struct buf b;
	int rc;

	if ((rc = fs_read_file(&b, path, 4096)) < 0)
		return rc;
	while (b.len && (b.ptr[b.len - 1] == '\n' || b.ptr[b.len - 1] == '\r'))
		b.ptr[--b.len] = '\0';
	*out = buf_detach(&b, NULL);
	return 0;
}

static int
up_secret_write(const char *path, const char *value)
{
	char *line = xasprintf("%s\n", value);
	int rc = fs_write_atomic(path, line, strlen(line), 0600);

	free(line);
	return rc;
}

char *
up_service_token_path(const char *home)
{
	char *dir = home_up_dir(home), *path = fs_join(dir, UP_SERVICE_TOKEN);

	free(dir);
	return path;
}

/* The services' admin token: made once, kept in HOME/up/service.token. */
static int
up_service_token_ensure(struct up_state *st, struct store *s,
    const char *dir)
{
	char tok[STORE_TOKEN_LEN], *path = fs_join(dir, UP_SERVICE_TOKEN);
	int rc;

	rc = up_secret_read(&st->service_token, path);
	if (rc == ERR_NOTFOUND) {
		if ((rc = store_token_create(tok, NULL, s, CONTROLLER_ADMIN,
		    "slipway up: services")) < 0 ||
		    (rc = up_secret_write(path, tok)) < 0)
			goto done;
		st->service_token = xstrdup(tok);
	}
done:
	free(path);
	return rc;
}

static int
up_runner_ensure(struct up_state *st, struct store *s, const char *dir)
{
	char key[STORE_TOKEN_LEN], *path = fs_join(dir, "runner.key");
	int rc;

	rc = up_secret_read(&st->runner_key, path);
	if (rc == ERR_NOTFOUND) {
		/* A runner row left by an interrupted first start has a key
		 * nobody knows: make it again. */
		json_t *row = NULL;

		store_runner_delete(s, UP_RUNNER);
		rc = store_runner_create(key, &row, s, UP_RUNNER, "default");
		json_decref(row);
		if (rc < 0 || (rc = up_secret_write(path, key)) < 0)
			goto done;
		st->runner_key = xstrdup(key);
	}
done:
	free(path);
	return rc;
}

/* The invoking user's public keys become the admin's, on first start. */
static void
up_keys_add(struct up_state *st, struct store *s)
{
	const char *home = getenv("HOME");
	char *pattern;
	glob_t g;

	if (home == NULL || *home == '\0')
		return;
	pattern = xasprintf("%s/.ssh/id_*.pub", home);
	if (glob(pattern, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			struct buf b;
			json_t *key = NULL;

			if (fs_read_file(&b, g.gl_pathv[i], 16384) < 0)
				continue;
			if (store_key_add(&key, s, CONTROLLER_ADMIN,
			    b.ptr) == 0) {
				fprintf(stderr, "up: added %s as a key of "
				    "'admin'\n", g.gl_pathv[i]);
				st->keys_added++;
			} else {
				fprintf(stderr, "up: not adding %s: %s\n",
				    g.gl_pathv[i], err_last());
			}
			json_decref(key);
			buf_free(&b);
		}
		globfree(&g);
	}
	free(pattern);
}

/* The default stack, made from the host's busybox-static. */
static int
up_stack_ensure(const char *home)
{
	char *layout = home_stack_path(home, "default");
	char *index = fs_join(layout, "index.json");
	struct image_desc desc = { 0 };
	int rc = 0;

	if (!fs_exists(index)) {
		fprintf(stderr, "up: importing the busybox stack into %s\n",
		    layout);
		rc = image_stack_import_busybox(&desc, UP_BUSYBOX, layout,
		    "latest", NULL);
		if (rc < 0)
			err_wrap(rc, "cannot import the busybox stack (is "
			    "busybox-static installed?)");
		image_desc_clear(&desc);
	}
	free(index);
	free(layout);
	return rc;
}

int
up_state_init(struct up_state *out, const struct up_config *cfg)
{
	char *dir = home_up_dir(cfg->home);
	char *db = home_store_path(cfg->home);
	struct controller_home ch = { 0 };
	struct up_state st = { 0 };
	struct store *s = NULL;
	int rc;

	/* The controller's own first start, before any service runs: the
	 * registry and the controller both sign with the secret, and must
	 * not race to make it. */
	if ((rc = fs_mkdir_p(cfg->home, 0755)) < 0 ||
	    (rc = controller_home_init(&ch, cfg->home,
	    "slipway up: admin")) < 0)
		goto done;
	st.first_start = ch.admin_token != NULL;
	st.admin_token = ch.admin_token;
	ch.admin_token = NULL;
	if ((rc = fs_mkdir_p(dir, 0700)) < 0 ||
	    (rc = store_open(&s, db)) < 0)
		goto done;
	if ((rc = up_service_token_ensure(&st, s, dir)) < 0 ||
	    (rc = up_runner_ensure(&st, s, dir)) < 0)
		goto done;
	if (st.first_start)
		up_keys_add(&st, s);
	if ((rc = up_stack_ensure(cfg->home)) < 0)
		goto done;
	*out = st;
	memset(&st, 0, sizeof(st));
done:
	store_close(s);
	up_state_free(&st);
	controller_home_free(&ch);
	free(db);
	free(dir);
	return rc;
}

void
up_state_free(struct up_state *st)
{
	if (st == NULL)
		return;
	free(st->service_token);
	free(st->runner_key);
	free(st->admin_token);
	memset(st, 0, sizeof(*st));
}
