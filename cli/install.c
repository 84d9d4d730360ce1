/*
 * `slipway install` and `slipway uninstall`: slipway as a systemd service.
 * install copies this binary to /usr/local/bin, makes the state directory
 * (/var/lib/slipway unless --home), writes slipway.conf with what it was
 * told (the same options as `up`) and the unit, then enables and starts
 * it when systemd runs here.  --root DIR writes everything under DIR
 * instead (an image being built, and the tests) and enables the unit
 * there with `systemctl --root`.  uninstall undoes it and keeps the state
 * unless --purge.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cli.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/proc.h"
#include "up_int.h"

#define INSTALL_BIN "/usr/local/bin/slipway"
#define INSTALL_UNIT_DIR "/etc/systemd/system"
#define INSTALL_BIN_MAX (512 << 20)

/* install's own options; the rest are up's. */
struct install_opts {
	const char *root;       /* NULL: this machine */
	bool no_start;
	bool purge;             /* uninstall: the state too */
	char **up_argv;         /* argv for up_config_load */
	int up_argc;
};

/* root + path ("/x" when there is no root). */
static char *
install_path(const struct install_opts *o, const char *path)
{
	return xasprintf("%s%s", o->root ? o->root : "", path);
}

static int
install_args(struct install_opts *o, int argc, char **argv, bool install)
{
	memset(o, 0, sizeof(*o));
	o->up_argv = xcalloc((size_t)argc + 3, sizeof(char *));
	o->up_argv[o->up_argc++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--root") == 0 && i + 1 < argc) {
			o->root = argv[++i];
		} else if (strncmp(argv[i], "--root=", 7) == 0) {
			o->root = argv[i] + 7;
		} else if (install && strcmp(argv[i], "--no-start") == 0) {
			o->no_start = true;
		} else if (!install && strcmp(argv[i], "--purge") == 0) {
			o->purge = true;
		} else if (install) {
			o->up_argv[o->up_argc++] = argv[i];
		} else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			o->up_argv[o->up_argc++] = argv[i++];
			o->up_argv[o->up_argc++] = argv[i];
		} else if (strncmp(argv[i], "--home=", 7) == 0) {
			o->up_argv[o->up_argc++] = argv[i];
		} else {
			return cmdline_usage_error(argv[0], "unknown option "
			    "'%s'", argv[i]);
		}
	}
	if (o->root && (o->root[0] != '/' || strcmp(o->root, "/") == 0))
		return cmdline_usage_error(argv[0], "--root is an absolute "
		    "directory other than /");
	if (o->root == NULL && geteuid() != 0)
		return cmdline_usage_error(argv[0], "needs root (or --root DIR "
		    "to write into DIR)");
	return 0;
}

/* The state directory on the installed system: --home, else
 * SLIPWAY_HOME, else /var/lib/slipway. */
static const char *
install_home(const struct install_opts *o)
{
	const char *home = NULL;

	for (int i = 1; i < o->up_argc; i++) {
		if (strcmp(o->up_argv[i], "--home") == 0 && i + 1 < o->up_argc)
			home = o->up_argv[i + 1];
		else if (strncmp(o->up_argv[i], "--home=", 7) == 0)
			home = o->up_argv[i] + 7;
	}
	return home_dir_option(home);
}

/* Is systemd the init of this machine? (what sd_booted() checks) */
static bool
install_systemd_runs(void)
{
	struct stat st;

	return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* systemctl [--root=DIR] VERB [--now] and the three units; its output
 * goes into the error when it fails. */
static int
install_systemctl(const struct install_opts *o, const char *verb, bool now,
    bool units)
{
	char *rootarg = o->root ? xasprintf("--root=%s", o->root) : NULL;
	char *argv[8];
	struct buf out;
	int n = 0, rc;

	argv[n++] = "systemctl";
	if (rootarg)
		argv[n++] = rootarg;
	argv[n++] = (char *)verb;
	if (now)
		argv[n++] = "--now";
	if (units) {
		argv[n++] = UP_UNIT_HTTP;
		argv[n++] = UP_UNIT_SSH;
		argv[n++] = UP_UNIT_SERVICE;
	}
	argv[n] = NULL;
	rc = proc_run(&out, argv, PROC_ERR_TO_OUT | PROC_NULL_IN, 64 << 10);
	if (rc > 0)
		rc = err_set(ERR_IO, "systemctl %s failed (%d): %.*s", verb, rc,
		    (int)(out.len && out.ptr[out.len - 1] == '\n' ? out.len - 1 :
		    out.len), out.ptr ? out.ptr : "");
	buf_free(&out);
	free(rootarg);
	return rc;
}

/* The three units under dir: the service and its two sockets, on the
 * public address (an IPv4 address: see up_unit_socket). */
static int
install_units(const char *dir, const struct up_config *c)
{
	char *listen, *text, *path;
	int rc;

	text = up_unit_service(INSTALL_BIN, c->home);
	path = fs_join(dir, UP_UNIT_SERVICE);
	rc = fs_write_atomic(path, text, strlen(text), 0644);
	free(path);
	free(text);
	for (int i = 0; rc == 0 && i < 2; i++) {
		listen = xasprintf("%s:%u", c->public_host, i == 0 ?
		    c->http_port : c->ssh_port);
		text = up_unit_socket(i == 0 ? "http" : "ssh", listen);
		path = fs_join(dir, i == 0 ? UP_UNIT_HTTP : UP_UNIT_SSH);
		rc = fs_write_atomic(path, text, strlen(text), 0644);
		free(path);
		free(text);
		free(listen);
	}
	return rc;
}

/* Copy this binary to dst (atomically), unless it is dst already. */
static int
install_binary(const char *dst)
{
	char self[PATH_MAX];
	struct buf data;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *dir;
	int rc;

	if (n <= 0)
		return err_sys("cannot find the slipway binary");
	self[n] = '\0';
	if (strcmp(self, dst) == 0)
		return 0;
	if ((rc = fs_read_file(&data, self, INSTALL_BIN_MAX)) < 0)
		return rc;
	dir = xstrdup(dst);
	*strrchr(dir, '/') = '\0';
	if ((rc = fs_mkdir_p(dir, 0755)) == 0)
		rc = fs_write_atomic(dst, data.ptr, data.len, 0755);
	free(dir);
	buf_free(&data);
	return rc;
}

/* slipway.conf: what the file said and what install was told over it,
 * only those keys (the rest stay derived); a file that changes is kept
 * as slipway.conf.old. */
static int
install_config(const struct up_config *c, const char *path)
{
	char *old = xasprintf("%s.old", path);
	struct buf text, prev;
	FILE *f;
	int rc = 0;

	buf_init(&text, 0);
	if ((f = open_memstream(&text.ptr, &text.len)) == NULL) {
		free(old);
		return err_sys("cannot write the configuration");
	}
	up_config_print(c, false, true, f);
	fclose(f);
	if (fs_read_file(&prev, path, 1 << 20) == 0) {
		bool same = prev.len == text.len &&
		    memcmp(prev.ptr, text.ptr, text.len) == 0;
		buf_free(&prev);
		if (same)
			goto done;
		if (rename(path, old) < 0) {
			rc = err_sys("cannot keep the old '%s'", path);
			goto done;
		}
		fprintf(stderr, "install: the old configuration is %s\n", old);
	}
	rc = fs_write_atomic(path, text.ptr, text.len, 0640);
done:
	free(text.ptr);
	free(old);
	return rc;
}

int
cli_cmd_install(int argc, char **argv)
{
	struct install_opts o;
	struct up_request req;
	struct up_config c;
	char *bin = NULL, *home = NULL, *conf, *unitdir = NULL, *confpath;
	int rc;

	if ((rc = install_args(&o, argc, argv, true)) != 0) {
		free(o.up_argv);
		return rc;
	}
	/* The configuration is checked before anything is written: the
	 * tree's slipway.conf if there is one, and what we are told over it. */
	confpath = home_config_path(install_home(&o));
	conf = install_path(&o, confpath);
	free(confpath);
	if (access(conf, F_OK) == 0) {
		o.up_argv[o.up_argc++] = "--config";
		o.up_argv[o.up_argc++] = conf;
		o.up_argv[o.up_argc] = NULL;
	}
	rc = up_config_load(&c, &req, o.up_argc, o.up_argv);
	if (rc != 0 || req.show) {
		up_config_free(&c);
		free(o.up_argv);
		free(conf);
		return rc ? rc : cmdline_usage_error(argv[0], "--show-config "
		    "is up's");
	}
	if (c.home[0] != '/') {
		rc = cmdline_usage_error(argv[0], "--home is an absolute path");
		goto done;
	}
	bin = install_path(&o, INSTALL_BIN);
	home = install_path(&o, c.home);
	unitdir = install_path(&o, INSTALL_UNIT_DIR);
	if ((rc = install_binary(bin)) < 0 ||
	    (rc = fs_mkdir_p(home, 0755)) < 0 ||
	    (rc = install_config(&c, conf)) < 0 ||
	    (rc = fs_mkdir_p(unitdir, 0755)) < 0 ||
	    (rc = install_units(unitdir, &c)) < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	}
	fprintf(stderr, "install: %s, %s, %s/{%s,%s,%s}\n", bin, conf, unitdir,
	    UP_UNIT_SERVICE, UP_UNIT_HTTP, UP_UNIT_SSH);
	if (o.root) {
		/* An offline tree: enabled there, started when it boots. */
		if (install_systemctl(&o, "enable", false, true) < 0) {
			rc = cmdline_fail(argv[0]);
			goto done;
		}
	} else if (!install_systemd_runs()) {
		fprintf(stderr, "install: systemd does not run here; start "
		    "slipway with: %s up --home %s\n", INSTALL_BIN, c.home);
	} else if (install_systemctl(&o, "daemon-reload", false, false) < 0 ||
	    install_systemctl(&o, "enable", !o.no_start, true) < 0) {
		rc = cmdline_fail(argv[0]);
		goto done;
	} else {
		fprintf(stderr, "install: slipway.service %s; logs: journalctl "
		    "-u slipway\n", o.no_start ? "enabled" : "enabled and "
		    "started");
	}
	rc = 0;
done:
	free(unitdir);
	free(conf);
	free(home);
	free(bin);
	up_config_free(&c);
	free(o.up_argv);
	return rc;
}

/* The containers a runner left (they outlive it by design): destroyed
 * with `slipway runner destroy` before their state goes, so none keeps
 * running with nothing to manage it. */
static int
install_destroy_containers(const char *home)
{
	char *dir = xasprintf("%s/runner/containers", home);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char **argv = NULL;
	size_t k = 0;
	struct dirent *e;
	struct buf out;
	DIR *d;
	int rc = 0;

	if ((d = opendir(dir)) == NULL) {
		free(dir);
		return 0;       /* no runner ran here */
	}
	if (n <= 0) {
		closedir(d);
		free(dir);
		return err_sys("cannot find the slipway binary");
	}
	self[n] = '\0';
	argv = xcalloc(4, sizeof(*argv));
	argv[k++] = xstrdup(self);
	argv[k++] = xstrdup("runner");
	argv[k++] = xstrdup("destroy");
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		argv = xrealloc(argv, (k + 2) * sizeof(*argv));
		argv[k++] = xstrdup(e->d_name);
	}
	closedir(d);
	argv[k] = NULL;
	if (k > 3) {
		setenv("SLIPWAY_HOME", home, 1);
		rc = proc_run(&out, argv, PROC_ERR_TO_OUT | PROC_NULL_IN,
		    1 << 20);
		if (rc > 0)
			rc = err_set(ERR_IO, "cannot destroy the containers left "
			    "in %s: %.*s", home, (int)out.len,
			    out.ptr ? out.ptr : "");
		buf_free(&out);
		if (rc == 0)
			fprintf(stderr, "uninstall: destroyed %zu container(s)\n",
			    k - 3);
	}
	for (size_t i = 0; i < k; i++)
		free(argv[i]);
	free(argv);
	free(dir);
	return rc;
}

int
cli_cmd_uninstall(int argc, char **argv)
{
	struct install_opts o;
	char *unit, *bin, *home;
	int rc;

	if ((rc = install_args(&o, argc, argv, false)) != 0) {
		free(o.up_argv);
		return rc;
	}
	unit = install_path(&o, INSTALL_UNIT_DIR "/" UP_UNIT_SERVICE);
	bin = install_path(&o, INSTALL_BIN);
	home = install_path(&o, install_home(&o));
	rc = 0;
	if (access(unit, F_OK) == 0) {
		if (o.root || install_systemd_runs())
			rc = install_systemctl(&o, "disable", !o.root, true);
		for (int i = 0; rc == 0 && i < 3; i++) {
			char *p = install_path(&o, i == 0 ? INSTALL_UNIT_DIR "/"
			    UP_UNIT_SERVICE : i == 1 ? INSTALL_UNIT_DIR "/"
			    UP_UNIT_HTTP : INSTALL_UNIT_DIR "/" UP_UNIT_SSH);
			if (unlink(p) < 0 && errno != ENOENT)
				rc = err_sys("cannot remove '%s'", p);
			free(p);
		}
		if (rc == 0 && !o.root && install_systemd_runs())
			rc = install_systemctl(&o, "daemon-reload", false, false);
	} else {
		fprintf(stderr, "uninstall: %s is not there\n", unit);
	}
	if (rc == 0 && unlink(bin) < 0 && errno != ENOENT)
		rc = err_sys("cannot remove '%s'", bin);
	if (rc == 0 && o.purge) {
		if ((rc = install_destroy_containers(home)) == 0 &&
		    (rc = fs_remove_tree(home)) == 0)
			fprintf(stderr, "uninstall: removed %s\n", home);
	} else if (rc == 0) {
		fprintf(stderr, "uninstall: the state stays in %s (--purge "
		    "removes it)\n", home);
	}
	free(home);
	free(bin);
	free(unit);
	free(o.up_argv);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}
