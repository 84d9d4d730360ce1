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
#include "slipway/name.h"
#include "slipway/proc.h"
#include "slipway/runner.h"
#include "slipway/slug.h"

#define BP_STEP_TIMEOUT 120       /* detect and release */
#define BP_EXPORT_MAX (64 << 10)  /* one buildpack's export file */
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

bool
builder_bp_has(const char *dir, const char *prog)
{
	char *p = xasprintf("%s/bin/%s", dir, prog);
	bool ok = access(p, X_OK) == 0;

	free(p);
	return ok;
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
		if (name_buildpack_is_installed(ents[i]->d_name) && fs_is_dir(p) &&
		    builder_bp_has(p, "detect") && builder_bp_has(p, "compile")) {
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
builder_bps_wanted(const char *home, size_t nconfigured)
{
	char **inst;
	bool any;

	if (nconfigured)
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

/*
 * The fixed script every step runs under: the export files of the
 * buildpacks before this one (NN in the dir "$1", in order: what
 * Heroku's multi-buildpack sources between them), then the program, its
 * stdout to the file $OUT when capturing.  The program and its arguments
 * come as "$0" "$@", never as script text; the environment the step sees
 * is only what bp_cmd_make gives.
 */
#define BP_EXPORTS_SCRIPT \
	"slipway_d=$1; shift; for slipway_f in \"$slipway_d\"/*; do " \
	"if [ -f \"$slipway_f\" ]; then . \"$slipway_f\"; fi; done; " \
	"unset slipway_f slipway_d; "
#define BP_STEP_SCRIPT BP_EXPORTS_SCRIPT "exec \"$0\" \"$@\""
#define BP_CAPTURE_SCRIPT BP_EXPORTS_SCRIPT "exec \"$0\" \"$@\" >\"$OUT\""

/* A step's command line and environment, for the container's paths or
 * the host's: bin/<step> of the buildpack under bp_dir, its nargs of
 * (build, cache, env) dirs, stdout to out_dir/<capture> when capturing. */
struct bp_cmd {
	char *argv[9], *env[6];
	char *prog, *out, *home, *srcv, *stack;
};

static void
bp_cmd_make(struct bp_cmd *c, const char *bp_dir, const char *const dirs[3],
    int nargs, const char *out_dir, const char *exports, const char *step,
    const char *capture, const char *sha, const char *stack)
{
	int n = 0;

	c->prog = xasprintf("%s/bin/%s", bp_dir, step);
	c->out = xasprintf("OUT=%s/%s", out_dir, capture ? capture : "-");
	c->srcv = xasprintf("SOURCE_VERSION=%s", sha);
	c->home = xasprintf("HOME=%s", dirs[0]);
	/* the stack's name, as Heroku's heroku-22: buildpacks key on it */
	c->stack = xasprintf("STACK=%s", stack ? stack : "default");
	c->argv[n++] = "/bin/sh";
	c->argv[n++] = "-c";
	c->argv[n++] = capture ? BP_CAPTURE_SCRIPT : BP_STEP_SCRIPT;
	c->argv[n++] = c->prog;
	c->argv[n++] = (char *)exports;
	for (int i = 0; i < nargs; i++)
		c->argv[n++] = (char *)dirs[i];
	c->argv[n] = NULL;
	c->env[0] = BP_PATH;
	c->env[1] = c->home;
	c->env[2] = c->stack;
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
	free(c->stack);
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
			/* the copy in the scratch dir, the build user's:
			 * a buildpack writes its export file there */
			{ bp->dir, "/buildpack", strncmp(bp->dir, bc->work,
			    strlen(bc->work)) != 0 },
			{ bc->out_dir, "/out", false },
			{ bc->exports_dir, "/exports", true },
		};
		struct runner_sandbox sb = {
			.home = bc->o->home, .rootfs = bc->rootfs,
			.mounts = mounts, .nmounts = 6, .cwd = "/app",
			.uid = bc->uid, .gid = bc->gid,
			.stop = bc->o->stop, .on_line = bp_on_line,
			.ctx = &lines, .timeout_sec = timeout,
		};
		char *id = xasprintf("build-%s-%d-%u", bc->o->app,
		    (int)getpid(), ++bc->run_seq);

		bp_cmd_make(&cmd, "/buildpack", cdirs, nargs, "/out",
		    "/exports", step, capture, bc->sha, bc->stack);
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
	bp_cmd_make(&cmd, bp->dir, hdirs, nargs, bc->out_dir, bc->exports_dir,
	    step, capture, bc->sha, bc->stack);
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

/*
 * The interpreter bin/<step> names on its "#!" line, when the stack has
 * none such (`#!/usr/bin/env bash` on busybox): *need is its name (the
 * caller frees), else NULL.  Checked in the stack's tree before the step
 * runs, so a missing bash is said as such, not as "detect said no".
 */
static void
bp_interp_missing(char **need, struct builder_ctx *bc,
    const struct builder_bp *bp, const char *step)
{
	static const char *const path[] = { "/usr/local/sbin",
	    "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
	const char *root = bc->host ? "/" : bc->rootfs;
	char *prog = xasprintf("%s/bin/%s", bp->dir, step);
	char line[256], *w[3] = { 0 }, *save = NULL, *p;
	const char *want = NULL;
	FILE *f = fopen(prog, "re");
	int n = 0;

	*need = NULL;
	free(prog);
	if (f == NULL)
		return;
	if (fgets(line, sizeof(line), f) == NULL ||
	    strncmp(line, "#!", 2) != 0) {
		fclose(f);
		return;
	}
	fclose(f);
	for (p = strtok_r(line + 2, " \t\r\n", &save); p && n < 3;
	    p = strtok_r(NULL, " \t\r\n", &save))
		w[n++] = p;
	if (w[0] == NULL || root == NULL)
		return;
	if (strcmp(strrchr(w[0], '/') ? strrchr(w[0], '/') + 1 : w[0],
	    "env") == 0 && fs_exists_in_root(root, w[0])) {
		/* env NAME: NAME looked up in the step's PATH */
		for (int i = 1; i < n && want == NULL; i++)
			if (w[i][0] != '-')
				want = w[i];
		if (want == NULL)
			return;
		if (want[0] == '/') {
			if (!fs_exists_in_root(root, want))
				*need = xstrdup(want);
			return;
		}
		for (size_t i = 0; i < sizeof(path) / sizeof(path[0]); i++) {
			char *q = xasprintf("%s/%s", path[i], want);
			bool ok = fs_exists_in_root(root, q);
			free(q);
			if (ok)
				return;
		}
		*need = xstrdup(want);
		return;
	}
	if (!fs_exists_in_root(root, w[0]))
		*need = xstrdup(strrchr(w[0], '/') ? strrchr(w[0], '/') + 1 :
		    w[0]);
}

/* ERR_UNSUPPORTED naming the interpreter bin/<step> needs and the stack
 * lacks, else 0. */
static int
bp_interp_check(struct builder_ctx *bc, const struct builder_bp *bp,
    const char *step)
{
	char *need;
	int rc = 0;

	bp_interp_missing(&need, bc, bp, step);
	if (need) {
		rc = err_set(ERR_UNSUPPORTED, "bin/%s of buildpack '%.200s' "
		    "needs %s, which this stack does not have (use a stack "
		    "that has it, or a buildpack written for /bin/sh)", step,
		    bp->source, need);
		free(need);
	}
	return rc;
}

/* One clean line of at most 200 bytes from what a step printed. */
static void
bp_one_line(char *s)
{
	char *nl = strchr(s, '\n');

	if (nl)
		*nl = '\0';
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (strlen(s) > 200)
		s[200] = '\0';
}

/* bin/detect: *applies, and bp->name from its first line; when it says
 * no, *why is its first line (what it looked for), if it printed one. */
static int
bp_detect(bool *applies, char **why, struct builder_ctx *bc,
    struct builder_bp *bp)
{
	struct buf out = { 0 };
	int status, rc;

	*applies = false;
	*why = NULL;
	if (!builder_bp_has(bp->dir, "detect")) {
		rc = err_set(ERR_INVALID, "buildpack '%s' has no executable "
		    "bin/detect", bp->source);
		return rc;
	}
	if ((rc = bp_interp_check(bc, bp, "detect")) < 0)
		return rc;
	if ((rc = bp_step(&status, bc, bp, "detect", 1, "detect.out",
	    BP_STEP_TIMEOUT)) < 0)
		return err_wrap(rc, "bin/detect of '%s'", bp->source);
	if ((rc = bp_captured(&out, bc, "detect.out")) < 0 &&
	    rc != ERR_NOTFOUND)
		return err_wrap(rc, "bin/detect of '%s'", bp->source);
	if (out.ptr)
		bp_one_line(out.ptr);
	if (status == 127 || status == 126) {
		/* the shell's "not found" / "cannot execute" */
		rc = err_set(ERR_UNSUPPORTED, "bin/detect of buildpack '%.200s' "
		    "could not run (exit status %d: a program it needs is "
		    "missing from this stack or not executable)", bp->source,
		    status);
		buf_free(&out);
		return rc;
	}
	if (status == 0) {
		free(bp->name);
		bp->name = xstrdup(out.ptr && out.ptr[0] ? out.ptr :
		    strrchr(bp->dir, '/') + 1);
		if (strlen(bp->name) > 80)
			bp->name[80] = '\0';
		*applies = true;
	} else if (out.ptr && out.ptr[0]) {
		*why = xstrdup(out.ptr);
	}
	buf_free(&out);
	return 0;
}

int
builder_bp_own(struct builder_ctx *bc, const char *dir)
{
	return bc->host ? 0 : bp_chown_tree(dir, bc->uid, bc->gid);
}

int
builder_bps_select(struct builder_bp **out, size_t *nout,
    struct builder_ctx *bc, const char *const *cfg, size_t ncfg)
{
	struct builder_bp *bps = NULL;
	size_t n = 0;
	char **inst = NULL, *why = NULL;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (ncfg) {
		/* Configured: each must apply, in the order given. */
		bps = xcalloc(ncfg, sizeof(*bps));
		for (size_t i = 0; i < ncfg; i++) {
			bool applies;
			n++;
			if ((rc = builder_bp_fetch(&bps[i], bc, cfg[i], i)) < 0 ||
			    (rc = bp_detect(&applies, &why, bc, &bps[i])) < 0)
				goto done;
			if (!applies) {
				rc = err_set(ERR_INVALID, "the app is not "
				    "compatible with buildpack '%.200s' (its "
				    "bin/detect said no%s%s)", cfg[i],
				    why ? ": " : "", why ? why : "");
				goto done;
			}
		}
		goto ok;
	}
	/* Installed: the first whose bin/detect says yes, detected where it
	 * is (read-only), then compiled from a copy of its own. */
	inst = bp_installed(bc->o->home);
	for (size_t i = 0; inst[i]; i++) {
		bool applies = false;
		const char *name = strrchr(inst[i], '/') + 1;

		bps = xcalloc(1, sizeof(*bps));
		n = 1;
		bps[0].dir = xstrdup(inst[i]);
		bps[0].source = xstrdup(name);
		if ((rc = bp_detect(&applies, &why, bc, &bps[0])) < 0)
			goto done;
		free(why);
		why = NULL;
		if (applies) {
			struct builder_bp copy = { 0 };
			if ((rc = builder_bp_fetch(&copy, bc, name, 0)) < 0) {
				free(copy.dir);
				free(copy.source);
				goto done;
			}
			free(bps[0].dir);
			free(bps[0].source);
			bps[0].dir = copy.dir;
			bps[0].source = copy.source;
			goto ok;
		}
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
	free(why);
	builder_bps_free(bps, n);
	bp_strv_free(inst);
	return rc;
}

/* ---- compile and release ---- */

/*
 * The export file bin/compile left in its buildpack's dir, kept as
 * exports/NN (ours, read-only to the build) for the later buildpacks'
 * steps to source.  The dir is the build user's: the file is read as a
 * plain file beneath it (no link, no fifo), capped.
 */
static int
bp_export_keep(struct builder_ctx *bc, const struct builder_bp *bp)
{
	struct buf b = { 0 };
	char name[16], *dst;
	int dirfd, rc;

	if ((dirfd = open(bp->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return err_sys("cannot open '%s'", bp->dir);
	rc = fs_read_beneath(&b, dirfd, "export", BP_EXPORT_MAX);
	close(dirfd);
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc == ERR_TOOBIG)
		return err_set(rc, "the export file of buildpack '%s' is over "
		    "%d bytes", bp->name, BP_EXPORT_MAX);
	if (rc < 0)
		return err_wrap(rc, "cannot read the export file of buildpack "
		    "'%s'", bp->name);
	snprintf(name, sizeof(name), "%02u", bc->nexports++);
	dst = fs_join(bc->exports_dir, name);
	rc = fs_write_atomic(dst, b.ptr ? b.ptr : "", b.len, 0644);
	free(dst);
	buf_free(&b);
	return rc;
}

int
builder_bp_compile(struct builder_ctx *bc, const struct builder_bp *bp,
    struct slug_procfile **defaults)
{
	struct builder_release *rel = NULL;
	struct buf out = { 0 };
	unsigned timeout = bc->o->timeout_sec ? bc->o->timeout_sec :
	    BUILDER_TIMEOUT_DEFAULT;
	int status, rc;

	if ((rc = bp_interp_check(bc, bp, "compile")) < 0)
		return rc;
	if ((rc = bp_step(&status, bc, bp, "compile", 3, NULL, timeout)) < 0) {
		if (rc == ERR_TIMEOUT)
			return err_set(rc, "bin/compile of '%s' ran longer than "
			    "%u s and was stopped", bp->name, timeout);
		if (rc == ERR_CONFLICT)
			return err_set(rc, "the build was cancelled");
		return err_wrap(rc, "bin/compile of '%s'", bp->name);
	}
	if (status == 127 || status == 126)
		return err_set(ERR_INVALID, "bin/compile of '%s' failed (exit "
		    "status %d: a program it runs is missing from this stack "
		    "or not executable)", bp->name, status);
	if (status != 0)
		return err_set(ERR_INVALID, "bin/compile of '%s' failed (exit "
		    "status %d)", bp->name, status);
	if ((rc = bp_export_keep(bc, bp)) < 0)
		return rc;
	if (!builder_bp_has(bp->dir, "release"))
		return 0;
	if ((rc = bp_interp_check(bc, bp, "release")) < 0)
		return rc;
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
