/*
 * `stack build`: a pair of stack images made from Debian packages, split
 * as heroku-22 and heroku-22-build are.  One mmdebstrap run (minbase and
 * a fixed package list) bootstraps the run tree; a customize hook copies
 * it aside, then installs the build packages on top; the run image is
 * the copy as one layer, the build image that layer plus one more with
 * only what the build packages changed (whiteouts for what they
 * removed), so the run layer is one blob shared by both.
 *
 * Reproducible as far as the tools allow: SOURCE_DATE_EPOCH is the
 * created time (the day the build ran, unless given), the trees are
 * scrubbed of what records when they were made (apt's lists and logs,
 * dpkg's log, ldconfig's aux cache), and the layer writer sorts entries,
 * sets every time to the created time and keeps modes and owners.  The
 * same mirror state and package list give the same layer digests.
 *
 * Order on disk, so that a kill at any step leaves the old stack
 * serving: everything is made in stacks/.NAME.tmp/; the new layout is
 * renamed to stacks/NAME when there is none; else the old one is renamed
 * to stacks/.NAME.old first, then the new one in, then the old removed.
 * A later build removes a .tmp or .old it finds.
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

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/image.h"
#include "slipway/proc.h"
#include "slipway/url.h"

#include "image_int.h"

#define DEBIAN_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define DEBIAN_TIMEOUT (60 * 60)
#define DEBIAN_SUITE_MAX 32
#define DEBIAN_MIRROR_MAX 512

/* What apps link against and run with (heroku-22's run image, smaller). */
static const char *const debian_run_packages[] = {
	"bash", "ca-certificates", "coreutils", "curl", "file", "gnupg",
	"gzip", "less", "libbz2-1.0", "libcurl4", "libexpat1", "libffi8",
	"libgdbm6", "libgmp10", "libjpeg62-turbo", "liblzma5", "libncursesw6",
	"libpng16-16", "libpq5", "libreadline8", "libsqlite3-0", "libssl3",
	"libxml2", "libxslt1.1", "libyaml-0-2", "libzstd1", "locales",
	"netbase", "openssl", "procps", "python3", "tar", "tzdata", "unzip",
	"xz-utils", "zlib1g", NULL,
};

/* And what compiles them: compilers, git, headers. */
static const char *const debian_build_packages[] = {
	"autoconf", "automake", "build-essential", "git", "libbz2-dev",
	"libcurl4-openssl-dev", "libexpat1-dev", "libffi-dev", "libgdbm-dev",
	"libgmp-dev", "libjpeg-dev", "liblzma-dev", "libncurses-dev",
	"libpng-dev", "libpq-dev", "libreadline-dev", "libsqlite3-dev",
	"libssl-dev", "libtool", "libxml2-dev", "libxslt1-dev", "libyaml-dev",
	"libzstd-dev", "pkg-config", "python3-dev", "zlib1g-dev", NULL,
};

/* Paths made while bootstrapping that say when, not what: removed (a
 * trailing '/' clears a directory's contents and keeps it). */
static const char *const debian_scrub[] = {
	"etc/machine-id", "tmp/", "var/cache/apt/", "var/cache/debconf/"
	"config.dat-old", "var/cache/debconf/templates.dat-old",
	"var/cache/ldconfig/aux-cache", "var/lib/apt/lists/",
	"var/lib/dpkg/diversions-old", "var/lib/dpkg/status-old",
	"var/log/alternatives.log", "var/log/apt/", "var/log/dpkg.log",
	"var/tmp/", NULL,
};

/* The hooks get paths through the environment, never in their text; each
 * is read as ${VAR:?} so that a variable that did not arrive stops the
 * hook instead of becoming "" (cp -a "$1/." "/" copies a root over the
 * host's). */
static const char debian_hook_user[] =
	"set -e; echo 'app:x:1000:1000:app:/app:/bin/bash' >>\"$1/etc/passwd\";"
	" echo 'app:x:1000:' >>\"$1/etc/group\";"
	" echo 'app:!::0:99999:7:::' >>\"$1/etc/shadow\"";
static const char debian_hook_debs_in[] =
	"set -e; mkdir -p \"$1/var/cache/apt/archives\";"
	" for f in \"${SLIPWAY_STACK_DEBS:?}\"/*.deb; do"
	" [ -e \"$f\" ] && cp \"$f\" \"$1/var/cache/apt/archives/\"; done; true";
static const char debian_hook_copy_run[] =
	"set -e; cp -a --one-file-system \"$1/.\" \"${SLIPWAY_STACK_RUN:?}/\"";
static const char debian_hook_debs_out[] =
	"set -e; mkdir -p \"${SLIPWAY_STACK_DEBS:?}\";"
	" for f in \"$1\"/var/cache/apt/archives/*.deb; do"
	" [ -e \"$f\" ] && cp -n \"$f\" \"${SLIPWAY_STACK_DEBS:?}/\"; done; true";

bool
image_debian_suite_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > DEBIAN_SUITE_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* http(s)://HOST[:PORT][/PATH], the path of URL-safe characters only:
 * nothing a shell, apt's sources or mmdebstrap could read another way. */
bool
image_debian_mirror_is_valid(const char *s)
{
	const char *rest, *slash;
	char host[300];
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > DEBIAN_MIRROR_MAX)
		return false;
	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return false;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(host))
		return false;
	memcpy(host, rest, n);
	host[n] = '\0';
	if (!url_hostport_is_valid(host))
		return false;
	if (slash == NULL)
		return true;
	return strspn(slash, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVW"
	    "XYZ0123456789/._~-") == strlen(slash) && strstr(slash, "/../") ==
	    NULL;
}

/* The list joined by sep: ',' for --include and the labels, ' ' for
 * apt-get install, which reads one package an argument. */
static char *
debian_join(const char *const *list, const char *sep)
{
	struct buf b;

	buf_init(&b, 1 << 16);
	for (size_t i = 0; list[i]; i++)
		buf_printf(&b, "%s%s", i ? sep : "", list[i]);
	return buf_detach(&b, NULL);
}

static void
debian_say(const struct image_debian_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
debian_say(const struct image_debian_opts *o, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->progress)
		o->progress(line, o->payload);
}

/* mmdebstrap's own lines, passed on; its first error kept for the one
 * line a failure says. */
struct debian_run {
	const struct image_debian_opts *o;
	char last_error[512];
};

static void
debian_line(const char *line, void *ctx)
{
	struct debian_run *r = ctx;
	size_t i;

	/* the first error says why; the later ones that it failed */
	if (strncmp(line, "E: ", 3) == 0 && r->last_error[0] == '\0') {
		/* keep it printable for the one-line error */
		snprintf(r->last_error, sizeof(r->last_error), "%s", line + 3);
		for (i = 0; r->last_error[i]; i++)
			if ((unsigned char)r->last_error[i] < 0x20)
				r->last_error[i] = ' ';
	}
	debian_say(r->o, "  %.900s", line);
}

/* Remove what debian_scrub names under root. */
static int
debian_scrub_tree(const char *root)
{
	int rc = 0;

	for (size_t i = 0; debian_scrub[i] && rc == 0; i++) {
		size_t n = strlen(debian_scrub[i]);
		char *p = fs_join(root, debian_scrub[i]);
		struct dirent *d;
		DIR *dir;

		if (debian_scrub[i][n - 1] != '/') {
			rc = fs_remove_tree(p);
			free(p);
			continue;
		}
		if ((dir = opendir(p)) != NULL) {
			while (rc == 0 && (d = readdir(dir)) != NULL) {
				if (strcmp(d->d_name, ".") == 0 ||
				    strcmp(d->d_name, "..") == 0)
					continue;
				char *c = fs_join(p, d->d_name);
				rc = fs_remove_tree(c);
				free(c);
			}
			closedir(dir);
		}
		free(p);
	}
	return rc;
}

/* The image's config: created, Env with STACK, the app user, labels
 * naming the stack; diff_ids and history for nlayers layers. */
static json_t *
debian_config(const struct image_debian_opts *o, const char *created,
    const char (*diff_ids)[DIGEST_STR_MAX], size_t nlayers, const char *kind,
    const char *packages)
{
	json_t *c, *ids = json_array(), *hist = json_array();
	char stack_env[64];

	for (size_t i = 0; i < nlayers; i++) {
		json_array_append_new(ids, json_string(diff_ids[i]));
		json_array_append_new(hist, json_pack("{s:s, s:s}", "created",
		    created, "created_by", i == 0 ? "slipway stack build "
		    "(the run packages)" : "slipway stack build (the build "
		    "packages)"));
	}
	snprintf(stack_env, sizeof(stack_env), "STACK=%s", o->name);
	c = json_pack("{s:s, s:s, s:s, s:{s:o, s:o},"
	    " s:{s:[s, s, s], s:[s], s:s, s:{s:s, s:s, s:s, s:s, s:s}},"
	    " s:o}",
	    "architecture", image_host_arch(), "os", "linux",
	    "created", created,
	    "rootfs", "type", json_string("layers"), "diff_ids", ids,
	    "config", "Env", "PATH=" DEBIAN_PATH, "LANG=C.UTF-8", stack_env,
	    "Cmd", "/bin/bash", "User", "1000:1000",
	    "Labels", IMAGE_LABEL_STACK, o->name, IMAGE_LABEL_STACK_IMAGE, kind,
	    "io.slipway.stack.suite", o->suite, "io.slipway.stack.mirror",
	    o->mirror, "io.slipway.stack.packages", packages,
	    "history", hist);
	if (c == NULL)
		abort();
	return c;
}

/* Today at 00:00 UTC, as RFC 3339: two builds on one day, one time. */
static char *
debian_created(const char *given)
{
	char *out = NULL;
	time_t t;
	struct tm tm;
	char s[32];

	if (given || getenv("SOURCE_DATE_EPOCH"))
		return image_created_pick(&out, given) < 0 ? NULL : out;
	t = time(NULL);
	t -= t % 86400;
	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return xstrdup(s);
}

static int
debian_bootstrap(const struct image_debian_opts *o, const char *work,
    const char *debs, int64_t epoch)
{
	char *run = fs_join(work, "run"), *build = fs_join(work, "build");
	char *inc = debian_join(debian_run_packages, ",");
	char *bpk = debian_join(debian_build_packages, " ");
	char *include = xasprintf("--include=%s", inc);
	char *install = xasprintf("chroot \"$1\" apt-get install -y -q "
	    "--no-install-recommends %s", bpk);
	char *env_run = xasprintf("SLIPWAY_STACK_RUN=%s", run);
	char *env_debs = xasprintf("SLIPWAY_STACK_DEBS=%s", debs);
	char *env_sde = xasprintf("SOURCE_DATE_EPOCH=%lld", (long long)epoch);
	char *h_user = xasprintf("--customize-hook=%s", debian_hook_user);
	char *h_in = xasprintf("--setup-hook=%s", debian_hook_debs_in);
	char *h_copy = xasprintf("--customize-hook=%s", debian_hook_copy_run);
	char *h_inst = xasprintf("--customize-hook=%s", install);
	char *h_out = xasprintf("--customize-hook=%s", debian_hook_debs_out);
	char *env_add[] = { env_run, env_debs, env_sde,
	    "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C.UTF-8", NULL };
	char *argv[] = { "mmdebstrap", "--variant=minbase", "--mode=root",
	    "--format=directory", "--skip=download/empty",
	    "--skip=essential/unlink", include, h_in, h_user, h_copy, h_inst,
	    h_out, (char *)o->suite, build, (char *)o->mirror, NULL };
	struct proc_opts po = { .env_add = env_add, .stop = o->stop };
	struct debian_run r = { .o = o };
	int rc;

	if ((rc = fs_mkdir_p(debs, 0755)) < 0)
		goto done;
	if (mkdir(run, 0755) < 0) {
		rc = err_sys("cannot make '%s'", run);
		goto done;
	}
	rc = proc_run_lines(argv, &po, DEBIAN_TIMEOUT, debian_line, &r);
	if (rc > 0)
		rc = err_set(ERR_IO, "mmdebstrap failed (exit %d)%s%s", rc,
		    r.last_error[0] ? ": " : "", r.last_error);
	else if (rc < 0)
		rc = err_wrap(rc, "cannot run mmdebstrap (install mmdebstrap)");
done:
	free(h_out);
	free(h_inst);
	free(h_copy);
	free(h_in);
	free(h_user);
	free(env_sde);
	free(env_debs);
	free(env_run);
	free(install);
	free(include);
	free(bpk);
	free(inc);
	free(build);
	free(run);
	return rc;
}

/* The layout with both images, in work/layout. */
static int
debian_import(struct image_stack_built *out, const struct image_debian_opts *o,
    const char *work, const char *created, int64_t t)
{
	char *run = fs_join(work, "run"), *build = fs_join(work, "build");
	char *lpath = fs_join(work, "layout");
	char *rp = debian_join(debian_run_packages, ",");
	char *bp = debian_join(debian_build_packages, ",");
	char *all = xasprintf("%s,%s", rp, bp);
	char ids[2][DIGEST_STR_MAX];
	struct image_desc layers[2] = { { 0 } }, rd = { 0 }, bd = { 0 };
	struct image_layout *l = NULL;
	int rc;

	if ((rc = debian_scrub_tree(run)) < 0 ||
	    (rc = debian_scrub_tree(build)) < 0 ||
	    (rc = image_layout_init(&l, lpath)) < 0)
		goto done;
	debian_say(o, "writing the run layer");
	if ((rc = image_stack_layer_tree(&layers[0], ids[0], l, run, NULL,
	    t)) < 0)
		goto done;
	debian_say(o, "writing the build layer (what the build packages add)");
	if ((rc = image_stack_layer_tree(&layers[1], ids[1], l, build, run,
	    t)) < 0)
		goto done;
	if ((rc = image_write_image(&rd, l, debian_config(o, created,
	    (const char (*)[DIGEST_STR_MAX])ids, 1, "run", rp), layers, 1,
	    "run")) < 0 ||
	    (rc = image_write_image(&bd, l, debian_config(o, created,
	    (const char (*)[DIGEST_STR_MAX])ids, 2, "build", all), layers, 2,
	    "build")) < 0)
		goto done;
	snprintf(out->run_digest, sizeof(out->run_digest), "%s", rd.digest);
	snprintf(out->build_digest, sizeof(out->build_digest), "%s",
	    bd.digest);
	snprintf(out->run_layer, sizeof(out->run_layer), "%s",
	    layers[0].digest);
	snprintf(out->build_layer, sizeof(out->build_layer), "%s",
	    layers[1].digest);
	out->run_size = (uint64_t)layers[0].size;
	out->build_size = (uint64_t)layers[1].size;
done:
	image_desc_clear(&rd);
	image_desc_clear(&bd);
	image_desc_clear(&layers[0]);
	image_desc_clear(&layers[1]);
	image_layout_free(l);
	free(all);
	free(bp);
	free(rp);
	free(lpath);
	free(build);
	free(run);
	return rc;
}

/* The manifest digest tag names in the layout at path, or "". */
static void
debian_tag_digest(char out[DIGEST_STR_MAX], const char *path, const char *tag)
{
	struct image_layout *l = NULL;
	struct image_manifest *m = NULL;

	out[0] = '\0';
	if (image_layout_open(&l, path) == 0 &&
	    image_layout_load(&m, NULL, l, tag) == 0)
		snprintf(out, DIGEST_STR_MAX, "%s", m->digest);
	image_manifest_free(m);
	image_layout_free(l);
}

/* Put work/layout at stacks/NAME (the order is in the comment above). */
static int
debian_install(struct image_stack_built *out, const char *work,
    const char *final, const char *old)
{
	char *lpath = fs_join(work, "layout");
	char have_run[DIGEST_STR_MAX], have_build[DIGEST_STR_MAX];
	int rc = 0;

	debian_tag_digest(have_run, final, "run");
	debian_tag_digest(have_build, final, "build");
	if (strcmp(have_run, out->run_digest) == 0 &&
	    strcmp(have_build, out->build_digest) == 0) {
		out->unchanged = true;
		goto done;
	}
	if (fs_exists(final) && rename(final, old) < 0) {
		rc = err_sys("cannot move the old stack '%s' aside", final);
		goto done;
	}
	if (rename(lpath, final) < 0) {
		rc = err_sys("cannot put the stack in place at '%s'", final);
		if (fs_exists(old))
			(void)rename(old, final);
		goto done;
	}
	(void)fs_fsync_parent(final);
	rc = fs_remove_tree(old);
done:
	free(lpath);
	return rc;
}

int
image_stack_build_debian(struct image_stack_built *out,
    const struct image_debian_opts *o_in)
{
	struct image_debian_opts o = *o_in;
	char *dir = NULL, *final = NULL, *work = NULL, *old = NULL;
	char *lockp = NULL, *debs = NULL, *created = NULL;
	int64_t t = 0;
	int fd = -1, rc;

	memset(out, 0, sizeof(*out));
	if (o.suite == NULL)
		o.suite = IMAGE_DEBIAN_SUITE_DEFAULT;
	if (o.mirror == NULL)
		o.mirror = IMAGE_DEBIAN_MIRROR_DEFAULT;
	if (!image_stack_name_is_valid(o.name))
		return err_set(ERR_INVALID, "'%.64s' is not a stack name "
		    "(a lower-case letter, then up to 29 of a-z, 0-9 and '-')",
		    o.name ? o.name : "");
	if (strcmp(o.name, IMAGE_STACK_BUSYBOX) == 0)
		return err_set(ERR_INVALID, "'%s' is the busybox stack's name; "
		    "give the Debian stack another", o.name);
	if (!image_debian_suite_is_valid(o.suite))
		return err_set(ERR_INVALID, "'%.64s' is not a Debian suite name "
		    "(bookworm, trixie, stable, ...)", o.suite);
	if (!image_debian_mirror_is_valid(o.mirror))
		return err_set(ERR_INVALID, "'%.128s' is not a mirror URL "
		    "(http://HOST[:PORT]/PATH or https://...)", o.mirror);
	if ((created = debian_created(o.created)) == NULL ||
	    (rc = image_time_parse(&t, created)) < 0) {
		rc = err_wrap(ERR_INVALID, "cannot build stack '%s'", o.name);
		goto done;
	}
	dir = home_stacks_dir(o.home);
	final = home_stack_path(o.home, o.name);
	work = xasprintf("%s/.%s.tmp", dir, o.name);
	old = xasprintf("%s/.%s.old", dir, o.name);
	lockp = xasprintf("%s/.%s.lock", dir, o.name);
	debs = o.cache ? xstrdup(o.cache) : fs_join(dir, ".debs");
	if ((rc = fs_mkdir_p(dir, 0755)) < 0)
		goto done;
	if ((fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		rc = err_sys("cannot open '%s'", lockp);
		goto done;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = err_set(ERR_CONFLICT, "stack '%s' is being built already",
		    o.name);
		goto done;
	}
	/* what a killed build left */
	if (fs_exists(old) && !fs_exists(final) && rename(old, final) < 0) {
		rc = err_sys("cannot restore '%s'", old);
		goto done;
	}
	if ((rc = fs_remove_tree(work)) < 0 || (rc = fs_remove_tree(old)) < 0)
		goto done;
	if (mkdir(work, 0755) < 0) {
		rc = err_sys("cannot make '%s'", work);
		goto done;
	}
	debian_say(&o, "bootstrapping Debian %s from %s (%zu run packages, "
	    "%zu build packages)", o.suite, o.mirror,
	    sizeof(debian_run_packages) / sizeof(char *) - 1,
	    sizeof(debian_build_packages) / sizeof(char *) - 1);
	if ((rc = debian_bootstrap(&o, work, debs, t)) < 0 ||
	    (rc = debian_import(out, &o, work, created, t)) < 0 ||
	    (rc = debian_install(out, work, final, old)) < 0)
		goto done;
	if (o.make_default && (rc = image_stack_default_set(o.home,
	    o.name)) < 0)
		goto done;
done:
	if (rc < 0)
		rc = err_wrap(rc, "cannot build stack '%s'", o.name ? o.name :
		    "");
	if (work)
		(void)fs_remove_tree(work);
	if (fd >= 0)
		close(fd);
	free(created);
	free(debs);
	free(lockp);
	free(old);
	free(work);
	free(final);
	free(dir);
	return rc;
}
