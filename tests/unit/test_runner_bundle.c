/* Unit tests for runner/bundle.c: config.json, env, users. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/runner.h"
#include "../../runner/runner_int.h"
#include "test_runner.h"

TEST(runner__config_json)
{
	char *env[] = { "PORT=20001", "SLIPWAY_APP=web", NULL };
	struct runner_bundle_params p = { .id = "web.web.1.abcd",
	    .rootfs = "/x/rootfs", .command = "busybox httpd -f -p $PORT",
	    .env = env, .cwd = "/app", .uid = 1000, .gid = 1001,
	    .hostname = "web-web-1", .memory_bytes = 256 << 20,
	    .pids_max = 64, .nofile = 4096 };
	json_t *j = runner_bundle_config(&p), *v;
	size_t i;
	bool has_tmp = false, has_proc = false, masks_kcore = false;

	EXPECT_STR("/bin/sh", json_string_value(json_array_get(
	    json_object_get(json_object_get(j, "process"), "args"), 0)));
	EXPECT_STR("-c", json_string_value(json_array_get(
	    json_object_get(json_object_get(j, "process"), "args"), 1)));
	/* .profile.d first, then the command as "$1" (never script text) */
	EXPECT_STR(RUNNER_PROFILE_SCRIPT, json_string_value(
	    json_array_get(json_object_get(json_object_get(j, "process"),
	    "args"), 2)));
	EXPECT_STR("busybox httpd -f -p $PORT", json_string_value(
	    json_array_get(json_object_get(json_object_get(j, "process"),
	    "args"), 4)));
	EXPECT_STR("/app", json_string_value(json_object_get(
	    json_object_get(j, "process"), "cwd")));
	EXPECT_TRUE(json_is_true(json_object_get(json_object_get(j, "process"),
	    "noNewPrivileges")));
	EXPECT_INT(1000, json_integer_value(json_object_get(json_object_get(
	    json_object_get(j, "process"), "user"), "uid")));
	EXPECT_INT(1001, json_integer_value(json_object_get(json_object_get(
	    json_object_get(j, "process"), "user"), "gid")));
	EXPECT_STR("PORT=20001", json_string_value(json_array_get(
	    json_object_get(json_object_get(j, "process"), "env"), 0)));
	EXPECT_TRUE(json_is_false(json_object_get(json_object_get(j,
	    "process"), "terminal")));
	json_array_foreach(json_object_get(json_object_get(j, "linux"),
	    "namespaces"), i, v)
		EXPECT_TRUE(strcmp(json_string_value(json_object_get(v, "type")),
		    "network") != 0);
	EXPECT_INT(4, json_array_size(json_object_get(json_object_get(j,
	    "linux"), "namespaces")));
	EXPECT_INT(256 << 20, json_integer_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(j, "linux"),
	    "resources"), "memory"), "limit")));
	EXPECT_INT(64, json_integer_value(json_object_get(json_object_get(
	    json_object_get(json_object_get(j, "linux"), "resources"), "pids"),
	    "limit")));
	json_array_foreach(json_object_get(j, "mounts"), i, v) {
		const char *d = json_string_value(json_object_get(v,
		    "destination"));
		has_tmp |= strcmp(d, "/tmp") == 0;
		has_proc |= strcmp(d, "/proc") == 0;
	}
	EXPECT_TRUE(has_tmp && has_proc);
	json_array_foreach(json_object_get(json_object_get(j, "linux"),
	    "maskedPaths"), i, v)
		masks_kcore |= strcmp(json_string_value(v), "/proc/kcore") == 0;
	EXPECT_TRUE(masks_kcore);
	EXPECT_STR("/x/rootfs", json_string_value(json_object_get(
	    json_object_get(j, "root"), "path")));
	json_decref(j);

	/* With the init: it is the process, mounted read-only where the
	 * process runs it (after /dev, whose tmpfs it lands on), and
	 * executable (no noexec). */
	p.init = "/home/runner/init";
	j = runner_bundle_config(&p);
	json_t *args = json_object_get(json_object_get(j, "process"), "args");
	const char *want[] = { RUNNER_INIT_PATH, "--", "/bin/sh", "-c",
	    RUNNER_PROFILE_SCRIPT, "slipway", "busybox httpd -f -p $PORT" };
	EXPECT_INT(7, json_array_size(args));
	for (i = 0; i < 7; i++)
		EXPECT_STR(want[i], json_string_value(json_array_get(args, i)));
	size_t at_dev = 0, at_init = 0;
	json_array_foreach(json_object_get(j, "mounts"), i, v) {
		const char *d = json_string_value(json_object_get(v,
		    "destination"));
		json_t *o;
		size_t k;
		bool ro = false, nosuid = false, noexec = false;
		if (strcmp(d, "/dev") == 0)
			at_dev = i + 1;
		if (strcmp(d, RUNNER_INIT_PATH) != 0)
			continue;
		at_init = i + 1;
		EXPECT_STR("/home/runner/init", json_string_value(
		    json_object_get(v, "source")));
		EXPECT_STR("bind", json_string_value(json_object_get(v,
		    "type")));
		json_array_foreach(json_object_get(v, "options"), k, o) {
			ro |= strcmp(json_string_value(o), "ro") == 0;
			nosuid |= strcmp(json_string_value(o), "nosuid") == 0;
			noexec |= strcmp(json_string_value(o), "noexec") == 0;
		}
		EXPECT_TRUE(ro && nosuid && !noexec);
	}
	EXPECT_TRUE(at_dev > 0 && at_init > at_dev);
	json_decref(j);
}

TEST(runner__env_order)
{
	char *img[] = { "PATH=/img/bin", "LANG=C", "PORT=1", NULL };
	char *cfg[] = { "LANG=en_US.UTF-8", "SECRET=s", "SLIPWAY_APP=fake",
	    "bogus", NULL };
	char **e = runner_env_build(img, cfg, 20005, "web", "v2", "web.1",
	    "/app");
	struct buf b;

	buf_init(&b, 0);
	for (char **p = e; *p; p++)
		buf_printf(&b, "%s;", *p);
	EXPECT_STR("PATH=/img/bin;LANG=en_US.UTF-8;PORT=20005;SECRET=s;"
	    "SLIPWAY_APP=web;HOME=/app;SLIPWAY_RELEASE=v2;"
	    "SLIPWAY_PROCESS=web.1;DYNO=web.1;", b.ptr);
	buf_free(&b);
	runner_strv_free(e);
}

TEST(runner__user_from_image)
{
	uid_t uid;
	gid_t gid;

	mkdir("r", 0755);
	mkdir("r/etc", 0755);
	/* no passwd: root */
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", NULL));
	EXPECT_INT(0, uid);
	const char *pw = "root:x:0:0::/root:/bin/sh\n"
	    "daemon:x:1:1::/:/bin/false\nu:x:1000:1000::/app:/bin/sh\n"
	    "nobody:x:65534:65534::/:/bin/false\n";
	harness_write("r/etc/passwd", pw, strlen(pw), 0644);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", NULL));
	EXPECT_INT(1000, uid);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", "daemon"));
	EXPECT_INT(1, uid);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", "4242:99"));
	EXPECT_INT(4242, uid);
	EXPECT_INT(99, gid);
	EXPECT_INT(ERR_NOTFOUND, runner_user_resolve(&uid, &gid, "r", "zed"));
	/* a passwd that is a link to the host's is read inside the rootfs:
	 * it points at nothing there */
	unlink("r/etc/passwd");
	EXPECT_INT(0, symlink("/etc/passwd", "r/etc/passwd"));
	EXPECT_TRUE(runner_user_resolve(&uid, &gid, "r", "root") < 0);
	EXPECT_OK(runner_user_resolve(&uid, &gid, "r", NULL));
	EXPECT_INT(0, uid);
}
