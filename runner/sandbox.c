/*
 * One-shot containers for builds; see include/slipway/runner.h.
 *
 * <home>/sandbox/<id>/ is the bundle: config.json from runner_bundle_config
 * (the app containers' spec) with the program's argv in place of the
 * shell line and the build's bind mounts added, and rootfs/, an overlay
 * of the image with its own upper dir.  `runc run` runs it in the
 * foreground with our pipe as its stdio; runc removes the container when
 * the program exits.  On a timeout or a stop, `runc delete --force` kills
 * what is left; the overlay and the bundle are removed in every case.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/runner.h"

#define SANDBOX_MEMORY_DEFAULT ((uint64_t)2 << 30)
#define SANDBOX_PIDS_DEFAULT 1024
#define SANDBOX_ID_MAX 60

int
runner_sandbox_user(uid_t *uid, gid_t *gid, const char *rootfs,
    const char *user)
{
	return runner_user_resolve(uid, gid, rootfs, user);
}

static bool
sandbox_id_is_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > SANDBOX_ID_MAX)
		return false;
	for (; *id; id++)
		if (!((*id >= 'a' && *id <= 'z') || (*id >= '0' && *id <= '9') ||
		    *id == '-'))
			return false;
	return true;
}

static json_t *
sandbox_config(const struct runner_sandbox *sb, const char *root)
{
	static const char *const rw[] = { "rbind", "rw", "nosuid", "nodev",
	    NULL };
	static const char *const ro[] = { "rbind", "ro", "nosuid", "nodev",
	    NULL };
	struct rlimit rl = { 65536, 65536 };
	json_t *j, *args, *mounts;

	/* Not above our own hard limit: runc could not raise it. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max > 65536)
		rl.rlim_max = 65536;
	struct runner_bundle_params p = {
		.id = sb->id, .rootfs = root, .command = "",
		.env = (char **)sb->env, .cwd = sb->cwd ? sb->cwd : "/",
		.uid = sb->uid, .gid = sb->gid, .hostname = "build",
		.memory_bytes = sb->memory_bytes ? sb->memory_bytes :
		    SANDBOX_MEMORY_DEFAULT,
		.pids_max = sb->pids_max ? sb->pids_max : SANDBOX_PIDS_DEFAULT,
		.nofile = rl.rlim_max, .host_resolv = true,
	};
	j = runner_bundle_config(&p);
	/* The program itself, not a shell line. */
	args = json_array();
	for (char *const *a = sb->argv; *a; a++)
		json_array_append_new(args, json_string(*a));
	json_object_set_new(json_object_get(j, "process"), "args", args);
	mounts = json_object_get(j, "mounts");
	for (size_t i = 0; i < sb->nmounts; i++) {
		const char *const *o = sb->mounts[i].readonly ? ro : rw;
		json_t *opts = json_array();
		for (; *o; o++)
			json_array_append_new(opts, json_string(*o));
		json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:o}",
		    "destination", sb->mounts[i].dest, "type", "bind",
		    "source", sb->mounts[i].source, "options", opts));
	}
	return j;
}

/* runc's last error from its log (`level=error msg="..."`), or NULL. */
static char *
sandbox_runc_error(const char *logp)
{
	struct buf b;
	char *line, *m, *msg = NULL;

	if (fs_read_file(&b, logp, 1 << 20) < 0)
		return NULL;
	for (line = b.ptr; line && *line; line = strchr(line, '\n') ?
	    strchr(line, '\n') + 1 : NULL) {
		if (strstr(line, "level=error") == NULL &&
		    strstr(line, "\"level\":\"error\"") == NULL)
			continue;
		if ((m = strstr(line, "msg=\"")) != NULL) {
			struct buf t;
			buf_init(&t, 4096);
			for (m += 5; *m && *m != '"' && *m != '\n'; m++) {
				if (*m == '\\' && m[1])
					m++;
				buf_putc(&t, *m);
			}
			buf_puts(&t, "");
			free(msg);
			msg = buf_detach(&t, NULL);
		} else {
			char *nl = strchr(line, '\n');
			free(msg);
			msg = nl ? xstrndup(line, (size_t)(nl - line)) :
			    xstrdup(line);
		}
	}
	buf_free(&b);
	return msg;
}

static void
sandbox_runc_delete(const struct runner_sandbox *sb, const char *state)
{
	char *argv[] = { (char *)(sb->runc ? sb->runc : "runc"), "--root",
	    (char *)state, "delete", "--force", (char *)sb->id, NULL };
	struct buf out;

	proc_run(&out, argv, PROC_ERR_TO_OUT, 64 << 10);
	buf_free(&out);
}

int
runner_sandbox_run(int *status, const struct runner_sandbox *sb)
{
	char *base = NULL, *dir = NULL, *state = NULL, *root = NULL;
	char *cfg = NULL, *text = NULL, *logp = NULL, *msg = NULL;
	bool mounted = false;
	json_t *j = NULL;
	int why = 0, rc;

	*status = -1;
	if (!sandbox_id_is_valid(sb->id))
		return err_set(ERR_INVALID, "'%.80s' is not a sandbox id",
		    sb->id);
	if (geteuid() != 0)
		return err_set(ERR_UNSUPPORTED, "containers need root");
	base = fs_join(sb->home, "sandbox");
	dir = fs_join(base, sb->id);
	state = fs_join(base, "runc");
	root = fs_join(dir, "rootfs");
	logp = fs_join(dir, "runc.log");
	if ((rc = fs_mkdir_p(state, 0700)) < 0)
		goto done;
	/* A bundle left by a builder that died: its container too. */
	if (fs_exists(dir)) {
		sandbox_runc_delete(sb, state);
		umount2(root, MNT_DETACH);
		if ((rc = fs_remove_tree(dir)) < 0)
			goto done;
	}
	if (mkdir(dir, 0700) < 0) {
		rc = err_sys("cannot make '%s'", dir);
		goto done;
	}
	if ((rc = runner_overlay_mount(dir, sb->rootfs,
	    "an overlay for the build")) < 0)
		goto done;
	mounted = true;
	j = sandbox_config(sb, root);
	text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	cfg = fs_join(dir, "config.json");
	if ((rc = fs_write_atomic(cfg, text, strlen(text), 0600)) < 0)
		goto done;
	{
		char *argv[] = { (char *)(sb->runc ? sb->runc : "runc"),
		    "--root", state, "--log", logp, "run", "--bundle", dir,
		    (char *)sb->id, NULL };
		struct proc_opts po = { .stop = sb->stop };
		/* in its own session, stdout and stderr merged, by line */
		rc = proc_run_lines(argv, &po, sb->timeout_sec, sb->on_line,
		    sb->ctx);
		if (rc == ERR_TIMEOUT || rc == ERR_CONFLICT) {
			why = rc;
		} else if (rc < 0) {
			if (rc == ERR_NOTFOUND)
				rc = err_set(ERR_UNSUPPORTED, "runc is not "
				    "installed");
			goto done;
		} else {
			*status = rc;
		}
	}
	if (why) {
		sandbox_runc_delete(sb, state);
		rc = why == ERR_TIMEOUT ? err_set(ERR_TIMEOUT, "'%s' ran longer "
		    "than %us and was stopped", sb->argv[0], sb->timeout_sec) :
		    err_set(ERR_CONFLICT, "'%s' was stopped", sb->argv[0]);
		goto done;
	}
	/* runc exits 1 with an error in its log when it could not make the
	 * container; the program's own failures leave no such line. */
	if (*status != 0 && (msg = sandbox_runc_error(logp)) != NULL) {
		sandbox_runc_delete(sb, state);
		rc = err_set(ERR_UNSUPPORTED, "runc cannot run the build "
		    "container: %s", msg);
		goto done;
	}
	rc = 0;
done:
	if (mounted && umount2(root, MNT_DETACH) < 0 && errno != EINVAL)
		rc = rc < 0 ? rc : err_sys("cannot unmount '%s'", root);
	if (dir && fs_exists(dir))
		fs_remove_tree(dir);
	json_decref(j);
	free(msg);
	free(text);
	free(cfg);
	free(logp);
	free(root);
	free(state);
	free(dir);
	free(base);
	return rc;
}
