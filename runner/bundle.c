/*
 * The OCI bundle of a container: config.json (runtime-spec 1.0), the
 * environment, the user.  The spec follows what `runc spec` writes by
 * default (mounts, masked and read-only paths, capabilities), then:
 * no network namespace (the host's, so PORT is reachable on 127.0.0.1),
 * noNewPrivileges, a memory and a pids limit, a tmpfs /tmp, the host's
 * resolv.conf and hosts read-only, and the command through /bin/sh -c as
 * Heroku runs Procfile commands, under the runner's init as PID 1
 * (runner/init/slipway-init.c: signals reach the app, zombies are
 * reaped) when the runner gives one.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runner_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"

#define PASSWD_MAX (1 << 20)
#define DEFAULT_PATH "/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
	"/usr/bin:/sbin:/bin"

static const char *const bundle_masked[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi", "/sys/firmware", NULL,
};

static const char *const bundle_readonly[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger", NULL,
};

static const char *const bundle_caps[] = {
	"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", NULL,
};

static json_t *
strv_json(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *
bundle_mount(const char *dest, const char *type, const char *source,
    const char *const *options)
{
	return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest,
	    "type", type, "source", source, "options", strv_json(options));
}

static json_t *
bundle_mounts(bool host_resolv, const char *init)
{
	static const char *const proc_o[] = { NULL };
	static const char *const dev_o[] = { "nosuid", "strictatime",
	    "mode=755", "size=65536k", NULL };
	static const char *const pts_o[] = { "nosuid", "noexec",
	    "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL };
	static const char *const shm_o[] = { "nosuid", "noexec", "nodev",
	    "mode=1777", "size=65536k", NULL };
	static const char *const mq_o[] = { "nosuid", "noexec", "nodev",
	    NULL };
	static const char *const sys_o[] = { "nosuid", "noexec", "nodev",
	    "ro", NULL };
	static const char *const cg_o[] = { "nosuid", "noexec", "nodev",
	    "relatime", "ro", NULL };
	static const char *const tmp_o[] = { "nosuid", "nodev", "mode=1777",
	    "size=262144k", NULL };
	static const char *const bind_o[] = { "rbind", "ro", "nosuid",
	    "nodev", "noexec", NULL };
	/* the init is run from it: no noexec */
	static const char *const init_o[] = { "bind", "ro", "nosuid",
	    "nodev", NULL };
	json_t *m = json_array();

	json_array_append_new(m, bundle_mount("/proc", "proc", "proc",
	    proc_o));
	json_array_append_new(m, bundle_mount("/dev", "tmpfs", "tmpfs",
	    dev_o));
	json_array_append_new(m, bundle_mount("/dev/pts", "devpts", "devpts",
	    pts_o));
	json_array_append_new(m, bundle_mount("/dev/shm", "tmpfs", "shm",
	    shm_o));
	json_array_append_new(m, bundle_mount("/dev/mqueue", "mqueue",
	    "mqueue", mq_o));
	json_array_append_new(m, bundle_mount("/sys", "sysfs", "sysfs",
	    sys_o));
	json_array_append_new(m, bundle_mount("/sys/fs/cgroup", "cgroup",
	    "cgroup", cg_o));
	json_array_append_new(m, bundle_mount("/tmp", "tmpfs", "tmpfs",
	    tmp_o));
	if (host_resolv) {
		if (access("/etc/resolv.conf", R_OK) == 0)
			json_array_append_new(m, bundle_mount(
			    "/etc/resolv.conf", "bind", "/etc/resolv.conf",
			    bind_o));
		if (access("/etc/hosts", R_OK) == 0)
			json_array_append_new(m, bundle_mount("/etc/hosts",
			    "bind", "/etc/hosts", bind_o));
	}
	/* After /dev: on its tmpfs, so the image's own tree is untouched. */
	if (init)
		json_array_append_new(m, bundle_mount(RUNNER_INIT_PATH, "bind",
		    init, init_o));
	return m;
}

json_t *
runner_bundle_config(const struct runner_bundle_params *p)
{
	const char *args[] = { RUNNER_INIT_PATH, "--", "/bin/sh", "-c",
	    RUNNER_PROFILE_SCRIPT, "slipway", p->command, NULL };
	json_t *caps, *process, *linux_, *ns, *res, *root;

	caps = json_pack("{s:o, s:o, s:o}",
	    "bounding", strv_json(bundle_caps),
	    "effective", strv_json(bundle_caps),
	    "permitted", strv_json(bundle_caps));
	process = json_pack("{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:o, "
	    "s:[{s:s, s:I, s:I}], s:b}",
	    "terminal", 0,
	    "user", "uid", (json_int_t)p->uid, "gid", (json_int_t)p->gid,
	    "args", strv_json(p->init ? args : args + 2),
	    "env", strv_json((const char *const *)p->env),
	    "cwd", p->cwd ? p->cwd : "/app",
	    "capabilities", caps,
	    "rlimits", "type", "RLIMIT_NOFILE", "hard", (json_int_t)p->nofile,
	    "soft", (json_int_t)p->nofile,
	    "noNewPrivileges", 1);
	/* No "network": the container shares the host's, so the proxy
	 * reaches PORT on 127.0.0.1 with no bridge. */
	ns = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "type", "pid",
	    "type", "ipc", "type", "uts", "type", "mount");
	res = json_pack("{s:{s:I}, s:{s:I}, s:[{s:b, s:s}]}",
	    "memory", "limit", (json_int_t)p->memory_bytes,
	    "pids", "limit", (json_int_t)p->pids_max,
	    "devices", "allow", 0, "access", "rwm");
	linux_ = json_pack("{s:o, s:o, s:o, s:o, s:s}",
	    "namespaces", ns,
	    "resources", res,
	    "maskedPaths", strv_json(bundle_masked),
	    "readonlyPaths", strv_json(bundle_readonly),
	    "cgroupsPath", "");
	json_object_set_new(linux_, "cgroupsPath",
	    json_sprintf("slipway/%s", p->id));
	/* The image rootfs below the overlay is shared and read-only anyway;
	 * the upper dir is the container's own, so root stays writable. */
	root = json_pack("{s:s, s:b}", "path", p->rootfs, "readonly", 0);
	return json_pack("{s:s, s:o, s:o, s:s, s:o, s:o}",
	    "ociVersion", "1.0.2",
	    "process", process,
	    "root", root,
	    "hostname", p->hostname ? p->hostname : "slipway",
	    "mounts", bundle_mounts(p->host_resolv, p->init),
	    "linux", linux_);
}

/* Does "K=V" set the name in key (length n)? */
static bool
env_is(const char *kv, const char *key, size_t n)
{
	return strncmp(kv, key, n) == 0 && kv[n] == '=';
}

/* Append kv, replacing an earlier setting of the same name. */
static void
env_set(char ***v, size_t *n, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen;

	if (eq == NULL || eq == kv)
		return;	/* not K=V: dropped */
	klen = (size_t)(eq - kv);
	for (size_t i = 0; i < *n; i++) {
		if (env_is((*v)[i], kv, klen)) {
			free((*v)[i]);
			(*v)[i] = xstrdup(kv);
			return;
		}
	}
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = xstrdup(kv);
	(*v)[*n] = NULL;
}

char **
runner_env_build(char *const *image_env, char *const *config, unsigned port,
    const char *app, const char *release, const char *process,
    const char *home_dir)
{
	char **v = xcalloc(1, sizeof(*v)), *s;
	size_t n = 0;
	bool has_path = false;

	for (char *const *p = image_env; p && *p; p++)
		env_set(&v, &n, *p);
	for (char *const *p = config; p && *p; p++)
		env_set(&v, &n, *p);
	for (size_t i = 0; i < n; i++)
		has_path |= env_is(v[i], "PATH", 4);
	if (!has_path)
		env_set(&v, &n, "PATH=" DEFAULT_PATH);
	if (home_dir) {
		s = xasprintf("HOME=%s", home_dir);
		bool has_home = false;
		for (size_t i = 0; i < n; i++)
			has_home |= env_is(v[i], "HOME", 4);
		if (!has_home)
			env_set(&v, &n, s);
		free(s);
	}
	s = xasprintf("PORT=%u", port);
	env_set(&v, &n, s);
	free(s);
	s = xasprintf("SLIPWAY_APP=%s", app);
	env_set(&v, &n, s);
	free(s);
	s = xasprintf("SLIPWAY_RELEASE=%s", release);
	env_set(&v, &n, s);
	free(s);
	s = xasprintf("SLIPWAY_PROCESS=%s", process);
	env_set(&v, &n, s);
	free(s);
	/* Heroku's name for it (web.1, run.3), which buildpacks and
	 * libraries read */
	s = xasprintf("DYNO=%s", process);
	env_set(&v, &n, s);
	free(s);
	return v;
}

int
runner_rootfs_read(struct buf *out, const char *rootfs, const char *rel,
    size_t max)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC,
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	char chunk[8192];
	int root, fd, rc = 0;
	ssize_t n;

	buf_init(out, max);
	if ((root = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return err_sys("cannot open rootfs '%s'", rootfs);
	/* A link in the image resolves inside the rootfs, as it would in
	 * the container: never to the host's file. */
	fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
	close(root);
	if (fd < 0)
		return err_sys("cannot open '%s' in the image", rel);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_sys("cannot read '%s' in the image", rel);
			break;
		}
		if (buf_put(out, chunk, (size_t)n) < 0) {
			rc = err_set(ERR_TOOBIG, "'%s' in the image is over %zu "
			    "bytes", rel, max);
			break;
		}
	}
	close(fd);
	if (rc < 0)
		buf_free(out);
	else if (out->ptr == NULL)
		buf_puts(out, "");
	return rc;
}

static bool
parse_id(unsigned long *out, const char *s, size_t n)
{
	unsigned long v = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 0xfffffffeUL)
		return false;
	*out = v;
	return true;
}

int
runner_user_resolve(uid_t *uid, gid_t *gid, const char *rootfs,
    const char *user)
{
	struct buf pw;
	const char *colon;
	unsigned long u, g;
	bool by_name;
	int rc;

	*uid = 0;
	*gid = 0;
	if (user) {
		colon = strchr(user, ':');
		size_t n = colon ? (size_t)(colon - user) : strlen(user);
		if (parse_id(&u, user, n)) {
			*uid = (uid_t)u;
			*gid = (gid_t)u;
			if (colon && !parse_id(&g, colon + 1, strlen(colon + 1)))
				return err_set(ERR_INVALID, "user '%s': the "
				    "group must be a number", user);
			if (colon)
				*gid = (gid_t)g;
			return 0;
		}
	}
	by_name = user != NULL;
	if ((rc = runner_rootfs_read(&pw, rootfs, "/etc/passwd", PASSWD_MAX))
	    < 0) {
		if (!by_name)
			return 0;	/* no passwd: root */
		return err_wrap(rc, "cannot find user '%s'", user);
	}
	for (char *line = pw.ptr, *next; line && *line; line = next) {
		char *f[7] = { 0 };
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		f[0] = line;
		for (int i = 1; i < 7 && f[i - 1]; i++) {
			char *c = strchr(f[i - 1], ':');
			if (c)
				*c = '\0';
			f[i] = c ? c + 1 : NULL;
		}
		if (f[3] == NULL || !parse_id(&u, f[2], strlen(f[2])) ||
		    !parse_id(&g, f[3], strlen(f[3])))
			continue;
		if (by_name ? strcmp(f[0], user) == 0 :
		    (u >= 1000 && u < 65534)) {
			*uid = (uid_t)u;
			*gid = (gid_t)g;
			buf_free(&pw);
			return 0;
		}
	}
	buf_free(&pw);
	if (by_name)
		return err_set(ERR_NOTFOUND, "user '%s' is not in the image's "
		    "/etc/passwd", user);
	return 0;
}
