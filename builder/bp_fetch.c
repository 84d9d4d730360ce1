/*
 * Getting a buildpack into the build's scratch dir, whatever names it:
 *
 *   an installed name    $SLIPWAY_HOME/buildpacks/<name>, copied
 *   https://host/bp.tgz  an http(s) tarball (.tgz, .tar.gz, .tar),
 *                        downloaded with a size cap and unpacked with the
 *                        runner's unpacker (no "..", no absolute paths,
 *                        no writes through links); a tarball with one
 *                        top directory (GitHub's archives) is entered
 *   https://...git#ref   any other URL: git clone --depth=1 [--branch ref]
 *
 * and nothing else: a path (or a file:// URL) is refused, wherever it
 * comes from (slipway.yml, .buildpacks, BUILDPACK_URL, buildpacks:add),
 * since the builder runs as root and would copy any host directory (a
 * key, another app's cache) into the build for the app to read.
 *
 * Each ends as <work>/buildpack-<i>, a copy the build user owns: a
 * buildpack writes its `export` file (and some write more) into its own
 * directory, and the installed one must stay as the operator left it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "builder_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/name.h"
#include "slipway/proc.h"
#include "slipway/runner.h"

#define BP_FETCH_TIMEOUT 300            /* git clone, download */
#define BP_TARBALL_MAX ((curl_off_t)256 << 20)

struct bp_lines {
	struct builder_ctx *bc;
};

static void
bp_fetch_line(const char *line, void *ctx)
{
	struct bp_lines *l = ctx;

	builder_line(l->bc->bo, line);
}

static bool
bp_is_tarball(const char *url)
{
	size_t n = strlen(url);
	static const char *const ends[] = { ".tgz", ".tar.gz", ".tar" };

	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return false;
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		size_t k = strlen(ends[i]);
		if (n > k && strcmp(url + n - k, ends[i]) == 0)
			return true;
	}
	return false;
}

/* cp -R -P: the operator's tree, links kept as links; 1 when a host
 * build uses it in place. */
static int
bp_copy(struct builder_ctx *bc, const char *from, const char *dest)
{
	if (bc->host) {
		/* No build user to hand a copy to: a host build (a developer's
		 * fallback) runs the buildpack where it is. */
		return 1;
	}
	struct bp_lines lines = { bc };
	char *argv[] = { "cp", "-R", "-P", "--", (char *)from, (char *)dest,
	    NULL };
	struct proc_opts po = { 0 };
	int rc = proc_run_lines(argv, &po, BP_FETCH_TIMEOUT, bp_fetch_line,
	    &lines);

	if (rc > 0)
		return err_set(ERR_IO, "cannot copy buildpack '%s' (cp exited "
		    "%d)", from, rc);
	return rc < 0 ? err_wrap(rc, "cannot copy buildpack '%s'", from) : 0;
}

struct bp_dl {
	FILE *f;
	curl_off_t got;
};

static size_t
bp_dl_write(char *p, size_t size, size_t n, void *ctx)
{
	struct bp_dl *d = ctx;

	d->got += (curl_off_t)(size * n);
	if (d->got > BP_TARBALL_MAX)
		return 0;       /* the transfer stops with a write error */
	return fwrite(p, size, n, d->f);
}

/* GET url into path: http(s) only (redirects too), capped, timed. */
static int
bp_download(const char *url, const char *path)
{
	struct bp_dl d = { 0 };
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *e;
	CURLcode cc;
	long status = 0;
	int rc = 0;

	if ((d.f = fopen(path, "wbx")) == NULL)
		return err_sys("cannot create '%s'", path);
	if ((e = curl_easy_init()) == NULL) {
		fclose(d.f);
		return err_set(ERR_IO, "cannot start a download");
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, BP_TARBALL_MAX);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bp_dl_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)BP_FETCH_TIMEOUT);
	cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (d.got > BP_TARBALL_MAX || cc == CURLE_FILESIZE_EXCEEDED)
		rc = err_set(ERR_TOOBIG, "is over %lld MiB",
		    (long long)(BP_TARBALL_MAX >> 20));
	else if (cc != CURLE_OK)
		rc = err_set(ERR_IO, "%s", ebuf[0] ? ebuf :
		    curl_easy_strerror(cc));
	else if (status != 200)
		rc = err_set(ERR_IO, "the server answered HTTP %ld", status);
	curl_easy_cleanup(e);
	if (fclose(d.f) != 0 && rc == 0)
		rc = err_sys("cannot write '%s'", path);
	return rc;
}

static void
bp_unpack_warn(const char *msg, void *ctx)
{
	builder_warn(((struct bp_lines *)ctx)->bc->bo, "%s", msg);
}

static int
bp_tarball(struct builder_ctx *bc, const char *url, const char *dest,
    size_t index)
{
	char *tgz = xasprintf("%s/buildpack-%zu.tgz", bc->work, index);
	const char *layers[] = { tgz };
	struct bp_lines lines = { bc };
	struct runner_unpack_opts uo = { .warn = bp_unpack_warn,
	    .ctx = &lines };
	int rc;

	uo.limits.total_max = (uint64_t)BP_TARBALL_MAX * 4;
	uo.limits.entries_max = 100000;
	if ((rc = bp_download(url, tgz)) < 0)
		rc = err_wrap(rc, "cannot download buildpack '%.200s'", url);
	else if ((rc = fs_mkdir_p(dest, 0755)) < 0 ||
	    (rc = runner_layers_unpack(dest, layers, 1, &uo)) < 0)
		rc = err_wrap(rc, "cannot unpack buildpack '%.200s'", url);
	unlink(tgz);
	free(tgz);
	return rc;
}

static int
bp_clone(struct builder_ctx *bc, const char *src, const char *url,
    const char *ref, const char *dest)
{
	struct bp_lines lines = { bc };
	/* GIT_ALLOW_PROTOCOL: no redirect or submodule reaches file:// or
	 * ext:: (the name's check already refused them as the URL) */
	char *env[] = { "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false",
	    "GIT_ALLOW_PROTOCOL=http:https:git",
	    "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
	struct proc_opts po = { .env = env };
	char *argv[10];
	int n = 0, rc;

	argv[n++] = "git";
	argv[n++] = "clone";
	argv[n++] = "--quiet";
	argv[n++] = "--depth=1";
	if (ref) {
		argv[n++] = "--branch";
		argv[n++] = (char *)ref;
	}
	argv[n++] = "--";
	argv[n++] = (char *)url;
	argv[n++] = (char *)dest;
	argv[n] = NULL;
	rc = proc_run_lines(argv, &po, BP_FETCH_TIMEOUT, bp_fetch_line, &lines);
	if (rc > 0)
		return err_set(ERR_IO, "cannot fetch buildpack '%.200s' (git "
		    "clone exited %d%s)", src, rc, ref ? "; is the ref a branch "
		    "or tag of it?" : "");
	if (rc < 0)
		return err_wrap(rc, "cannot fetch buildpack '%.200s'", src);
	return 0;
}

/* dir, or its one subdirectory when only that has bin/compile. */
static char *
bp_root(const char *dir)
{
	struct dirent *de;
	char *only = NULL;
	int subdirs = 0;
	DIR *d;

	if (builder_bp_has(dir, "compile") || (d = opendir(dir)) == NULL)
		return xstrdup(dir);
	while ((de = readdir(d)) != NULL) {
		char *p;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = fs_join(dir, de->d_name);
		if (de->d_type == DT_DIR && ++subdirs == 1)
			only = p;
		else
			free(p);
	}
	closedir(d);
	if (subdirs == 1 && builder_bp_has(only, "compile"))
		return only;
	free(only);
	return xstrdup(dir);
}

int
builder_bp_fetch(struct builder_bp *bp, struct builder_ctx *bc,
    const char *src, size_t index)
{
	char *url = NULL, *dest = NULL, *inst = NULL, *hash;
	const char *ref = NULL;
	int rc = 0;

	bp->source = xstrdup(src);
	dest = xasprintf("%s/buildpack-%zu", bc->work, index);
	if ((rc = name_buildpack_check(src)) < 0)
		goto done;
	if (name_buildpack_is_installed(src)) {
		inst = xasprintf("%s/buildpacks/%s", bc->o->home, src);
		if (!builder_bp_has(inst, "compile")) {
			rc = err_set(ERR_NOTFOUND, "buildpack '%s' is not "
			    "installed (no executable %s/bin/compile)", src,
			    inst);
			goto done;
		}
		if ((rc = bp_copy(bc, inst, dest)) == 1) {
			bp->dir = inst;
			inst = NULL;
			rc = 0;
			goto done;
		}
		goto found;
	}
	url = xstrdup(src);
	if ((hash = strchr(url, '#')) != NULL) {
		*hash = '\0';
		ref = hash + 1;
	}
	builder_say(bc->bo, "Fetching buildpack %s", src);
	if (bp_is_tarball(url)) {
		if (ref) {
			rc = err_set(ERR_INVALID, "buildpack '%.200s': a tarball "
			    "has no #ref (name a version in its URL)", src);
			goto done;
		}
		rc = bp_tarball(bc, url, dest, index);
	} else {
		rc = bp_clone(bc, src, url, ref, dest);
	}
found:
	if (rc < 0)
		goto done;
	bp->dir = bp_root(dest);
	if (!builder_bp_has(bp->dir, "compile")) {
		rc = err_set(ERR_INVALID, "buildpack '%.200s' has no executable "
		    "bin/compile", src);
		goto done;
	}
	rc = builder_bp_own(bc, dest);
done:
	free(inst);
	free(dest);
	free(url);
	return rc;
}
