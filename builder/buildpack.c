/*
 * Buildpacks, Heroku's API:
 *
 *   bin/detect BUILD_DIR               exit 0 and print a name: it applies
 *   bin/compile BUILD_DIR CACHE_DIR ENV_DIR
 *                                      turn the tree into a runnable app;
 *                                      CACHE_DIR survives between builds,
 *                                      ENV_DIR has the config vars, one file
 *                                      each
 *   bin/release BUILD_DIR              print YAML: default_process_types
 *
 * Each step runs in a container of the stack (runner_sandbox_run) with the
 * build dir at /app, the cache at /cache, the config at /env (read-only)
 * and the buildpack at /buildpack (read-only), as the stack's unprivileged
 * user.  Where runc cannot run, the step runs on the host instead and the
 * build says so.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/proc.h"
#include "slipway/runner.h"
#include "slipway/slug.h"

#define BP_STEP_TIMEOUT 120       /* detect and release */
#define BP_FETCH_TIMEOUT 300      /* git clone of a buildpack */
#define BP_SMALL_MAX (64 << 10)   /* what detect and release print */
#define BP_PATH "PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
	"/usr/bin:/sbin:/bin"

void
builder_bps_free(struct builder_bp *bps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(bps[i].dir);
		free(bps[i].name);
		free(bps[i].source);
	}
	free(bps);
}

static bool
bp_has(const char *dir, const char *prog)
{
	char *p = xasprintf("%s/bin/%s", dir, prog);
	bool ok = access(p, X_OK) == 0;

	free(p);
	return ok;
}

static bool
bp_name_is_installed(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("._-", *s)))
			return false;
	return true;
}

/* The installed buildpacks, $home/buildpacks/<name>/bin/detect, by name. */
static char **
bp_installed(const char *home)
{
	char *dir = fs_join(home, "buildpacks");
	struct dirent **ents = NULL;
	char **out = xcalloc(1, sizeof(*out));
	size_t n = 0;
	int k;

	k = scandir(dir, &ents, NULL, alphasort);
	for (int i = 0; i < k; i++) {
		char *p = fs_join(dir, ents[i]->d_name);
		if (bp_name_is_installed(ents[i]->d_name) && fs_is_dir(p) &&
		    bp_has(p, "detect") && bp_has(p, "compile")) {
			out = xrealloc(out, (n + 2) * sizeof(*out));
			out[n++] = p;
			out[n] = NULL;
		} else {
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
	free(dir);
	return out;
}

static void
bp_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

bool
builder_bps_wanted(const char *home, const char *buildpack_url,
    const struct builder_manifest *m)
{
	char **inst;
	bool any;

	if ((buildpack_url && buildpack_url[0]) || (m && m->nbuildpacks))
		return true;
	inst = bp_installed(home);
	any = inst[0] != NULL;
	bp_strv_free(inst);
	return any;
}

/* ---- running a step ---- */

struct bp_lines {
	struct builder_ctx *bc;
};

static void
bp_on_line(const char *line, void *ctx)
{
	struct bp_lines *l = ctx;

	builder_line(l->bc->bo, line);
}

/* nftw gives its callback no context: the owner to set and the error,
 * for one walk at a time (the builder is single-threaded). */
static uid_t bp_chown_uid;
static gid_t bp_chown_gid;
static int bp_chown_rc;

static int
bp_chown_one(const char *path, const struct stat *sb, int flag,
    struct FTW *ftw)
{
	(void)sb; (void)flag; (void)ftw;
	if (lchown(path, bp_chown_uid, bp_chown_gid) < 0) {
		bp_chown_rc = err_sys("cannot hand '%s' to the build user",
		    path);
		return 1;       /* stops the walk */
	}
	return 0;
}

/* Hand dir (recursively, never through a symlink) to the build user. */
static int
bp_chown_tree(const char *dir, uid_t uid, gid_t gid)
{
	int rc;

	bp_chown_uid = uid;
	bp_chown_gid = gid;
	bp_chown_rc = 0;
	rc = nftw(dir, bp_chown_one, 32, FTW_PHYS);
	if (rc > 0)
		return bp_chown_rc;
	if (rc < 0)
		return err_sys("cannot walk '%s'", dir);
	return 0;
}

/* The fixed script that sends a step's stdout to the file $OUT: the
 * program and its arguments come as "$0" "$@", never as script text. */
#define BP_CAPTURE_SCRIPT "exec \"$0\" \"$@\" >\"$OUT\""

/* A step's command line and environment, for the container's paths or
 * the host's: bin/<step> of the buildpack under bp_dir, its nargs of
 * (build, cache, env) dirs, stdout to out_dir/<capture> when capturing. */
struct bp_cmd {
	char *argv[8], *env[6];
	char *prog, *out, *home, *srcv;
};

static void
bp_cmd_make(struct bp_cmd *c, const char *bp_dir, const char *const dirs[3],
    int nargs, const char *out_dir, const char *step, const char *capture,
    const char *sha)
{
	int n = 0;

	c->prog = xasprintf("%s/bin/%s", bp_dir, step);
	c->out = xasprintf("OUT=%s/%s", out_dir, capture ? capture : "-");
	c->srcv = xasprintf("SOURCE_VERSION=%s", sha);
	c->home = xasprintf("HOME=%s", dirs[0]);
	if (capture) {
		c->argv[n++] = "/bin/sh";
		c->argv[n++] = "-c";
		c->argv[n++] = BP_CAPTURE_SCRIPT;
	}
	c->argv[n++] = c->prog;
	for (int i = 0; i < nargs; i++)
		c->argv[n++] = (char *)dirs[i];
	c->argv[n] = NULL;
	c->env[0] = BP_PATH;
	c->env[1] = c->home;
	c->env[2] = "STACK=slipway";
	c->env[3] = c->srcv;
	c->env[4] = c->out;
	c->env[5] = NULL;
}

static void
bp_cmd_free(struct bp_cmd *c)
{
	free(c->prog);
	free(c->out);
	free(c->srcv);
	free(c->home);
}

/*
 * Where runc cannot run, a step may run on the host only when that does
 * not hand the server to the buildpack: never as root (sshd runs the hook
 * as root on a server) unless the operator says so with
 * SLIPWAY_BUILD_ON_HOST=1.  As another user (a developer's machine) it
 * runs, and the build says so once.
 */
static int
bp_host_allowed(struct builder_ctx *bc)
{
	const char *opt = getenv("SLIPWAY_BUILD_ON_HOST");
	char why[512];

	/* a copy: err_set below overwrites what err_last points at */
	snprintf(why, sizeof(why), "%s", err_last());

	if (geteuid() == 0 && !(opt && strcmp(opt, "1") == 0))
		return err_set(ERR_UNSUPPORTED, "cannot build in a container "
		    "here (%s); a buildpack is not run on the host as root: "
		    "install runc, or set SLIPWAY_BUILD_ON_HOST=1 for the "
		    "server to build with no isolation", why);
	builder_warn(bc->bo, "cannot build in a container here (%s); "
	    "building on the host, as this user, with no isolation", why);
	bc->host = true;
	return 0;
}

/*
 * Run bin/<step> of bp with nargs of (build, cache, env) dirs, as paths in
 * the container or on the host.  With capture, the step's stdout goes to
 * out_dir/<capture> and its stderr to the person; without, both go to the
 * person.  *status is its exit status.
 */
static int
bp_step(int *status, struct builder_ctx *bc, const struct builder_bp *bp,
    const char *step, int nargs, const char *capture, unsigned timeout)
{
	struct bp_lines lines = { bc };
	static const char *const cdirs[] = { "/app", "/cache", "/env" };
	const char *const hdirs[] = { bc->build_dir, bc->cache_dir,
	    bc->env_dir };
	struct bp_cmd cmd;
	int rc;

	*status = -1;
	if (!bc->host) {
		struct runner_sandbox_mount mounts[] = {
			{ bc->build_dir, "/app", false },
			{ bc->cache_dir, "/cache", false },
			{ bc->env_dir, "/env", true },
			{ bp->dir, "/buildpack", true },
			{ bc->out_dir, "/out", false },
		};
		struct runner_sandbox sb = {
			.home = bc->o->home, .rootfs = bc->rootfs,
			.mounts = mounts, .nmounts = 5, .cwd = "/app",
			.uid = bc->uid, .gid = bc->gid,
			.stop = bc->o->stop, .on_line = bp_on_line,
			.ctx = &lines, .timeout_sec = timeout,
		};
		char *id = xasprintf("build-%s-%d-%u", bc->o->app,
		    (int)getpid(), ++bc->run_seq);

		bp_cmd_make(&cmd, "/buildpack", cdirs, nargs, "/out", step,
		    capture, bc->sha);
		sb.id = id;
		sb.argv = cmd.argv;
		sb.env = cmd.env;
		rc = runner_sandbox_run(status, &sb);
		bp_cmd_free(&cmd);
		free(id);
		if (rc != ERR_UNSUPPORTED)
			return rc;
		if ((rc = bp_host_allowed(bc)) < 0)
			return rc;
	}
	bp_cmd_make(&cmd, bp->dir, hdirs, nargs, bc->out_dir, step, capture,
	    bc->sha);
	{
		struct proc_opts po = { .cwd = bc->build_dir, .env = cmd.env,
		    .stop = bc->o->stop };
		rc = proc_run_lines(cmd.argv, &po, timeout, bp_on_line, &lines);
	}
	if (rc >= 0) {
		*status = rc;
		rc = 0;
	}
	bp_cmd_free(&cmd);
	return rc;
}

/*
 * Read what a step captured in out_dir/name (at most BP_SMALL_MAX).  The
 * step could write out_dir, so whatever is there may be a symlink to a
 * host file, a hard link or a fifo: it is read only as a plain file,
 * relative to out_dir's descriptor (out_dir's parent is ours, so the
 * directory itself cannot be swapped), and removed after.
 */
static int
bp_captured(struct buf *out, struct builder_ctx *bc, const char *name)
{
	int dirfd, rc;

	if ((dirfd = open(bc->out_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return err_sys("cannot open '%s'", bc->out_dir);
	rc = fs_read_beneath(out, dirfd, name, BP_SMALL_MAX);
	unlinkat(dirfd, name, 0);
	close(dirfd);
	if (rc == ERR_TOOBIG)
		return err_set(rc, "the buildpack printed more than %d bytes",
		    BP_SMALL_MAX);
	if (rc == 0 && out->ptr == NULL)
		buf_puts(out, "");
	return rc;
}

/* ---- choosing ---- */

/* Split "URL#ref": *ref points into a copy (*url, caller frees). */
static void
bp_split_ref(char **url, const char **ref, const char *src)
{
	char *hash;

	*url = xstrdup(src);
	*ref = NULL;
	if ((hash = strrchr(*url, '#')) != NULL) {
		*hash = '\0';
		*ref = hash + 1;
	}
}

static bool
bp_is_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0
	    || strncmp(s, "git://", 6) == 0 || strncmp(s, "file://", 7) == 0;
}

/* A configured buildpack (a directory, an installed name, a git URL or a
 * local repository) made a local directory under work. */
static int
bp_fetch(struct builder_bp *bp, struct builder_ctx *bc, const char *src,
    size_t index)
{
	char *url = NULL, *dest = NULL, *inst = NULL;
	const char *ref;
	struct bp_lines lines = { bc };
	int rc = 0;

	bp->source = xstrdup(src);
	if (src[0] == '/' && bp_has(src, "compile")) {
		bp->dir = xstrdup(src);
		return 0;
	}
	if (bp_name_is_installed(src)) {
		inst = xasprintf("%s/buildpacks/%s", bc->o->home, src);
		if (bp_has(inst, "compile")) {
			bp->dir = inst;
			return 0;
		}
		free(inst);
	}
	bp_split_ref(&url, &ref, src);
	if (!bp_is_url(url) && !(url[0] == '/' && fs_is_dir(url))) {
		rc = err_set(ERR_INVALID, "buildpack '%.200s' is neither a "
		    "directory with bin/compile, a git URL nor an installed "
		    "buildpack", src);
		goto done;
	}
	if (ref && (ref[0] == '\0' || ref[0] == '-' ||
	    strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._/-") != strlen(ref))) {
		rc = err_set(ERR_INVALID, "buildpack '%.200s': bad ref", src);
		goto done;
	}
	dest = xasprintf("%s/buildpack-%zu", bc->work, index);
	builder_say(bc->bo, "Fetching buildpack %s", src);
	{
		char *argv[10];
		char *env[] = { "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false",
		    BP_PATH, NULL };
		struct proc_opts po = { .env = env };
		int n = 0;

		argv[n++] = "git";
		argv[n++] = "clone";
		argv[n++] = "--quiet";
		argv[n++] = "--depth=1";
		if (ref) {
			argv[n++] = "--branch";
			argv[n++] = (char *)ref;
		}
		argv[n++] = "--";
		argv[n++] = url;
		argv[n++] = dest;
		argv[n] = NULL;
		rc = proc_run_lines(argv, &po, BP_FETCH_TIMEOUT, bp_on_line,
		    &lines);
		if (rc > 0)
			rc = err_set(ERR_IO, "cannot fetch buildpack '%.200s' "
			    "(git clone exited %d)", src, rc);
		else if (rc < 0)
			rc = err_wrap(rc, "cannot fetch buildpack '%.200s'",
			    src);
	}
	if (rc == 0 && !bp_has(dest, "compile"))
		rc = err_set(ERR_INVALID, "buildpack '%.200s' has no "
		    "executable bin/compile", src);
	if (rc == 0) {
		bp->dir = dest;
		dest = NULL;
	}
done:
	free(dest);
	free(url);
	return rc;
}

/* bin/detect: *applies, and bp->name from its first line. */
static int
bp_detect(bool *applies, struct builder_ctx *bc, struct builder_bp *bp)
{
	struct buf out = { 0 };
	int status, rc;

	*applies = false;
	if (!bp_has(bp->dir, "detect")) {
		rc = err_set(ERR_INVALID, "buildpack '%s' has no executable "
		    "bin/detect", bp->source);
		return rc;
	}
	if ((rc = bp_step(&status, bc, bp, "detect", 1, "detect.out",
	    BP_STEP_TIMEOUT)) < 0)
		return err_wrap(rc, "bin/detect of '%s'", bp->source);
	if ((rc = bp_captured(&out, bc, "detect.out")) < 0 &&
	    rc != ERR_NOTFOUND)
		return err_wrap(rc, "bin/detect of '%s'", bp->source);
	if (status == 0) {
		char *nl = out.ptr ? strchr(out.ptr, '\n') : NULL;
		if (nl)
			*nl = '\0';
		free(bp->name);
		bp->name = xstrdup(out.ptr && out.ptr[0] ? out.ptr :
		    strrchr(bp->dir, '/') + 1);
		/* it is printed: keep it one clean line */
		for (char *p = bp->name; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		if (strlen(bp->name) > 80)
			bp->name[80] = '\0';
		*applies = true;
	}
	buf_free(&out);
	return 0;
}

int
builder_bps_select(struct builder_bp **out, size_t *nout,
    struct builder_ctx *bc, const char *buildpack_url,
    const struct builder_manifest *m)
{
	struct builder_bp *bps = NULL;
	const char *const *cfg = NULL;
	const char *one[2] = { buildpack_url, NULL };
	size_t n = 0, ncfg = 0;
	char **inst = NULL;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (buildpack_url && buildpack_url[0]) {
		cfg = one;
		ncfg = 1;
	} else if (m && m->nbuildpacks) {
		cfg = (const char *const *)m->buildpacks;
		ncfg = m->nbuildpacks;
	}
	if (ncfg) {
		/* Configured: each must apply, in the order given. */
		bps = xcalloc(ncfg, sizeof(*bps));
		for (size_t i = 0; i < ncfg; i++) {
			bool applies;
			n++;
			if ((rc = bp_fetch(&bps[i], bc, cfg[i], i)) < 0 ||
			    (rc = bp_detect(&applies, bc, &bps[i])) < 0)
				goto done;
			if (!applies) {
				rc = err_set(ERR_INVALID, "the app is not "
				    "compatible with buildpack '%.200s' (its "
				    "bin/detect said no)", cfg[i]);
				goto done;
			}
		}
		goto ok;
	}
	/* Installed: the first whose bin/detect says yes. */
	inst = bp_installed(bc->o->home);
	for (size_t i = 0; inst[i]; i++) {
		bool applies = false;

		bps = xcalloc(1, sizeof(*bps));
		n = 1;
		bps[0].dir = xstrdup(inst[i]);
		bps[0].source = xstrdup(strrchr(inst[i], '/') + 1);
		if ((rc = bp_detect(&applies, bc, &bps[0])) < 0)
			goto done;
		if (applies)
			goto ok;
		builder_bps_free(bps, n);
		bps = NULL;
		n = 0;
	}
	/* None applies: the caller falls back to the Procfile alone. */
ok:
	*out = bps;
	*nout = n;
	bps = NULL;
	n = 0;
done:
	builder_bps_free(bps, n);
	bp_strv_free(inst);
	return rc;
}

/* ---- compile and release ---- */

int
builder_bp_compile(struct builder_ctx *bc, const struct builder_bp *bp,
    struct slug_procfile **defaults)
{
	struct builder_release *rel = NULL;
	struct buf out = { 0 };
	unsigned timeout = bc->o->timeout_sec ? bc->o->timeout_sec :
	    BUILDER_TIMEOUT_DEFAULT;
	int status, rc;

	if ((rc = bp_step(&status, bc, bp, "compile", 3, NULL, timeout)) < 0) {
		if (rc == ERR_TIMEOUT)
			return err_set(rc, "bin/compile of '%s' ran longer than "
			    "%u s and was stopped", bp->name, timeout);
		if (rc == ERR_CONFLICT)
			return err_set(rc, "the build was cancelled");
		return err_wrap(rc, "bin/compile of '%s'", bp->name);
	}
	if (status != 0)
		return err_set(ERR_INVALID, "bin/compile of '%s' failed (exit "
		    "status %d)", bp->name, status);
	if (!bp_has(bp->dir, "release"))
		return 0;
	if ((rc = bp_step(&status, bc, bp, "release", 1, "release.out",
	    BP_STEP_TIMEOUT)) < 0)
		return err_wrap(rc, "bin/release of '%s'", bp->name);
	if (status != 0)
		return err_set(ERR_INVALID, "bin/release of '%s' failed (exit "
		    "status %d)", bp->name, status);
	if ((rc = bp_captured(&out, bc, "release.out")) < 0 ||
	    (rc = builder_release_parse(&rel, out.ptr, out.len)) < 0) {
		rc = err_wrap(rc, "buildpack '%s'", bp->name);
		goto done;
	}
	if (rel->config_vars || rel->addons)
		builder_say(bc->bo, "%s asks for %zu config var(s) and %zu "
		    "addon(s): not applied (use config:set)", bp->name,
		    rel->config_vars, rel->addons);
	/* A later buildpack's defaults win over an earlier one's. */
	for (size_t i = 0; i < rel->default_process_types->n; i++) {
		struct slug_proc *p = &rel->default_process_types->procs[i];
		struct slug_procfile *d = *defaults;
		size_t k;

		for (k = 0; k < d->n; k++)
			if (strcmp(d->procs[k].type, p->type) == 0)
				break;
		if (k == d->n) {
			d->procs = xrealloc(d->procs, (d->n + 1) *
			    sizeof(*d->procs));
			d->procs[d->n].type = xstrdup(p->type);
			d->procs[d->n].command = NULL;
			d->n++;
		}
		free(d->procs[k].command);
		d->procs[k].command = xstrdup(p->command);
	}
done:
	builder_release_free(rel);
	buf_free(&out);
	return rc;
}

int
builder_bp_prepare_dirs(struct builder_ctx *bc)
{
	struct stat st;
	int rc;

	if (bc->host)
		return 0;
	if ((rc = bp_chown_tree(bc->build_dir, bc->uid, bc->gid)) < 0 ||
	    (rc = bp_chown_tree(bc->env_dir, bc->uid, bc->gid)) < 0 ||
	    (rc = bp_chown_tree(bc->out_dir, bc->uid, bc->gid)) < 0)
		return rc;
	/* The cache is kept: only walk it when it is not theirs yet. */
	if (stat(bc->cache_dir, &st) == 0 && (st.st_uid != bc->uid ||
	    st.st_gid != bc->gid))
		return bp_chown_tree(bc->cache_dir, bc->uid, bc->gid);
	return 0;
}
