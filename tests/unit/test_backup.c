/* Unit tests for backup/: the path rules, the manifest and trailer
 * checks, and restore against truncated, corrupt and hostile files. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sqlite3.h>

#include "harness.h"
#include "slipway/backup.h"
#include "slipway/buf.h"
#include "slipway/fs.h"
#include "../../backup/backup_int.h"

TEST(backup__paths_must_stay_under_the_home)
{
	EXPECT_TRUE(backup_path_is_safe("secret"));
	EXPECT_TRUE(backup_path_is_safe("git/hello.git/HEAD"));
	EXPECT_TRUE(!backup_path_is_safe("/etc/passwd"));
	EXPECT_TRUE(!backup_path_is_safe("../x"));
	EXPECT_TRUE(!backup_path_is_safe("git/../../x"));
	EXPECT_TRUE(!backup_path_is_safe("git//x"));
	EXPECT_TRUE(!backup_path_is_safe("./x"));
	EXPECT_TRUE(!backup_path_is_safe(""));
	EXPECT_TRUE(!backup_path_is_safe(BACKUP_MANIFEST_NAME));
	EXPECT_TRUE(!backup_path_is_safe(BACKUP_TRAILER_NAME));
}

TEST(backup__symlinks_must_point_inside)
{
	EXPECT_TRUE(backup_symlink_is_safe("a/l", "b"));
	EXPECT_TRUE(backup_symlink_is_safe("a/l", "../b"));
	EXPECT_TRUE(backup_symlink_is_safe("a/b/l", "../../c/d"));
	EXPECT_TRUE(!backup_symlink_is_safe("l", "../x"));
	EXPECT_TRUE(!backup_symlink_is_safe("a/l", "../../x"));
	EXPECT_TRUE(!backup_symlink_is_safe("l", "/etc/passwd"));
	/* ".." after a name is read from where the name points */
	EXPECT_TRUE(!backup_symlink_is_safe("a/l", "b/../../x"));
	EXPECT_TRUE(!backup_symlink_is_safe("l", "x/.."));
	EXPECT_TRUE(!backup_symlink_is_safe("l", "./x"));
	EXPECT_TRUE(!backup_symlink_is_safe("l", ""));
}

static void
list_sample(struct backup_list *l)
{
	struct backup_entry *e;

	memset(l, 0, sizeof(*l));
	backup_list_add(l, BACKUP_DIR, "git", 0700);
	e = backup_list_add(l, BACKUP_FILE, "git/HEAD", 0644);
	e->size = 3;
	memset(e->sha256, 'a', 64);
	backup_list_add(l, BACKUP_SYMLINK, "git/l", 0777)->target =
	    strdup("HEAD");
}

TEST(backup__manifest_round_trip)
{
	struct backup_list l, back;
	size_t len;
	char *m;

	list_sample(&l);
	m = backup_manifest_dump(&l, 0, &len);
	EXPECT_TRUE(strstr(m, "\"created\":\"1970-01-01T00:00:00Z\"") != NULL);
	EXPECT_OK(backup_manifest_parse(&back, m, len));
	EXPECT_INT(3, back.n);
	EXPECT_STR("git/HEAD", back.v[1].path);
	EXPECT_INT(BACKUP_FILE, back.v[1].type);
	EXPECT_INT(3, back.v[1].size);
	EXPECT_INT(0644, back.v[1].mode);
	EXPECT_STR("HEAD", back.v[2].target);
	backup_list_free(&back);
	backup_list_free(&l);
	free(m);
}

#define HEX64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FILE_AT(p) "{\"path\":\"" p "\",\"type\":\"file\",\"mode\":420," \
	"\"size\":1,\"sha256\":\"" HEX64 "\"}"
#define DIR_AT(p) "{\"path\":\"" p "\",\"type\":\"dir\",\"mode\":493}"

static void
expect_manifest_refused(const char *entries, const char *why)
{
	char *m = NULL;
	struct backup_list l;

	if (asprintf(&m, "{\"format\":1,\"slipway\":\"x\",\"created\":\"x\","
	    "\"entries\":[%s]}", entries) < 0)
		abort();
	EXPECT_TRUE(backup_manifest_parse(&l, m, strlen(m)) < 0);
	EXPECT_ERR_HAS(why);
	EXPECT_INT(0, l.n);
	free(m);
}

TEST(backup__manifest_refuses_what_restore_must_not_make)
{
	expect_manifest_refused(FILE_AT("../x"), "unsafe path");
	expect_manifest_refused(FILE_AT("/etc/x"), "unsafe path");
	expect_manifest_refused(FILE_AT("a/../../x"), "unsafe path");
	expect_manifest_refused(FILE_AT("x") "," FILE_AT("x"), "listed twice");
	expect_manifest_refused(FILE_AT("d/x") "," DIR_AT("d"),
	    "not under a directory listed before it");
	expect_manifest_refused(FILE_AT("f") "," FILE_AT("f/x"),
	    "not under a directory");
	/* nothing is ever written through a symlink */
	expect_manifest_refused("{\"path\":\"l\",\"type\":\"symlink\","
	    "\"mode\":511,\"target\":\"d\"}," DIR_AT("d") "," FILE_AT("l/x"),
	    "not under a directory");
	expect_manifest_refused("{\"path\":\"l\",\"type\":\"symlink\","
	    "\"mode\":511,\"target\":\"../x\"}", "points out of the home");
	expect_manifest_refused("{\"path\":\"l\",\"type\":\"symlink\","
	    "\"mode\":511,\"target\":\"/etc\"}", "points out of the home");
	expect_manifest_refused("{\"path\":\"zero\",\"type\":\"char\","
	    "\"mode\":438}", "only files, directories and symlinks");
	expect_manifest_refused("{\"path\":\"f\",\"type\":\"file\","
	    "\"mode\":420,\"size\":1}", "no valid size and sha256");
	expect_manifest_refused("{\"path\":\"f\",\"type\":\"file\","
	    "\"mode\":4095,\"size\":1,\"sha256\":\"" HEX64 "\"}", "malformed");
}

TEST(backup__manifest_refuses_another_format_or_not_json)
{
	struct backup_list l;
	const char *m2 = "{\"format\":2,\"entries\":[]}";

	EXPECT_INT(ERR_UNSUPPORTED, backup_manifest_parse(&l, m2, strlen(m2)));
	EXPECT_ERR_HAS("backup format 2");
	EXPECT_TRUE(backup_manifest_parse(&l, "{\"format\":1", 11) < 0);
	EXPECT_ERR_HAS("not JSON");
	EXPECT_TRUE(backup_manifest_parse(&l, "{}", 2) < 0);
	EXPECT_ERR_HAS("no format or entries");
}

TEST(backup__trailer_is_the_manifest_sha256)
{
	const char *m = "{\"format\":1,\"entries\":[]}";
	char t[66];

	backup_trailer_make(t, m, strlen(m));
	EXPECT_INT(65, strlen(t));
	EXPECT_OK(backup_trailer_check(m, strlen(m), t, 65));
	EXPECT_OK(backup_trailer_check(m, strlen(m), t, 64));
	EXPECT_TRUE(backup_trailer_check(m, strlen(m) - 1, t, 65) < 0);
	EXPECT_ERR_HAS("does not match the manifest");
	t[10] ^= 1;
	EXPECT_TRUE(backup_trailer_check(m, strlen(m), t, 65) < 0);
	EXPECT_TRUE(backup_trailer_check(m, strlen(m), "", 0) < 0);
}

/* A home with a store, a secret, a directory and a symlink inside. */
static void
home_make(const char *home)
{
	char *db = fs_join(home, "slipway.db"), *p;
	sqlite3 *s;

	EXPECT_OK(fs_mkdir_p(home, 0755));
	EXPECT_INT(SQLITE_OK, sqlite3_open(db, &s));
	EXPECT_INT(SQLITE_OK, sqlite3_exec(s, "PRAGMA journal_mode=WAL;"
	    "CREATE TABLE t(x); INSERT INTO t VALUES ('kept');", NULL, NULL,
	    NULL));
	sqlite3_close(s);
	p = fs_join(home, "secret");
	EXPECT_OK(fs_write_atomic(p, "s3cret\n", 7, 0600));
	free(p);
	p = fs_join(home, "slipway.conf");
	EXPECT_OK(fs_write_atomic(p, "domain: apps.example.com\n", 25, 0644));
	free(p);
	SH("mkdir -p %s/stacks/default/blobs/sha256 %s/runner/containers/c1 "
	    "%s/logs && echo log >%s/logs/x.log && echo state "
	    ">%s/runner/containers/c1/state.json && ln -s ../secret "
	    "%s/stacks/link && echo '{}' >%s/stacks/default/index.json",
	    home, home, home, home, home, home, home);
	free(db);
}

/* Nothing named like the restore's temp directory beside home. */
static void
expect_nothing_beside(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	EXPECT_TRUE(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".restore-"))
			harness_fail(__FILE__, __LINE__, "left behind: %s",
			    de->d_name);
	closedir(d);
}

TEST(backup__round_trip_leaves_runtime_state_out)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };
	struct buf b;
	sqlite3 *s;
	sqlite3_stmt *q;

	home_make("home");
	EXPECT_OK(backup_create(&sum, "home", "b.tar", &o));
	EXPECT_TRUE(sum.entries >= 5);
	EXPECT_TRUE(!fs_exists("b.tar.tmp"));
	EXPECT_OK(backup_restore(&sum, "b.tar", "out/new", &o));
	EXPECT_OK(fs_read_file(&b, "out/new/secret", 64));
	EXPECT_STR("s3cret\n", b.ptr);
	buf_free(&b);
	EXPECT_INT(SQLITE_OK, sqlite3_open("out/new/slipway.db", &s));
	EXPECT_INT(SQLITE_OK, sqlite3_prepare_v2(s, "SELECT x FROM t", -1, &q,
	    NULL));
	EXPECT_INT(SQLITE_ROW, sqlite3_step(q));
	EXPECT_STR("kept", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(s);
	EXPECT_TRUE(fs_exists("out/new/stacks/default/index.json"));
	EXPECT_TRUE(fs_exists("out/new/slipway.conf"));
	EXPECT_TRUE(fs_exists("out/new/stacks/link"));
	EXPECT_TRUE(!fs_exists("out/new/runner"));
	EXPECT_TRUE(!fs_exists("out/new/logs"));
	SH("test $(stat -c %%a b.tar) = 600 && test $(stat -c %%a "
	    "out/new/secret) = 600 && ! ls -a home | grep -q backup");
	expect_nothing_beside("out");
}

TEST(backup__restore_refuses_a_home_that_is_not_empty)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };

	home_make("home");
	EXPECT_OK(backup_create(&sum, "home", "b.tar", &o));
	SH("mkdir -p full && touch full/x && mkdir empty");
	EXPECT_INT(ERR_EXISTS, backup_restore(&sum, "b.tar", "full", &o));
	EXPECT_ERR_HAS("it is not empty");
	EXPECT_INT(ERR_EXISTS, backup_restore(&sum, "b.tar", "home", &o));
	EXPECT_OK(backup_restore(&sum, "b.tar", "empty", &o));
	EXPECT_TRUE(fs_exists("empty/secret"));
}

/* dst: src with the byte at off inverted. */
static void
flip_byte(const char *src, const char *dst, off_t off)
{
	struct buf b;

	EXPECT_OK(fs_read_file(&b, src, (size_t)64 << 20));
	EXPECT_TRUE((size_t)off < b.len);
	b.ptr[off] ^= 0xff;
	EXPECT_OK(fs_write_atomic(dst, b.ptr, b.len, 0600));
	buf_free(&b);
}

TEST(backup__restore_refuses_a_truncated_or_flipped_file)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };
	struct stat sb;
	off_t cuts[4];

	home_make("home");
	EXPECT_OK(backup_create(&sum, "home", "b.tar", &o));
	EXPECT_INT(0, stat("b.tar", &sb));
	cuts[0] = 10;
	cuts[1] = sb.st_size / 3;
	cuts[2] = sb.st_size / 2;
	cuts[3] = sb.st_size - 1;
	for (int i = 0; i < 4; i++) {
		SH("head -c %lld b.tar >cut.tar", (long long)cuts[i]);
		EXPECT_TRUE(backup_restore(&sum, "cut.tar", "new", &o) < 0);
		EXPECT_ERR_HAS("nothing was restored");
		EXPECT_TRUE(!fs_exists("new"));
	}
	for (int i = 1; i < 4; i++) {
		/* one byte flipped, through the file */
		flip_byte("b.tar", "flip.tar", cuts[i]);
		EXPECT_TRUE(backup_restore(&sum, "flip.tar", "new", &o) < 0);
		EXPECT_TRUE(!fs_exists("new"));
	}
	expect_nothing_beside(".");
}

/* A tar (no compression) of a manifest, entries and the manifest's true
 * trailer: each entry a name, a type ('f', 'd', 'l', 'c') and its data
 * or symlink target. */
struct hostile_entry {
	const char *name;
	char type;
	const char *data;
};

static void
hostile_write(const char *file, const char *manifest,
    const struct hostile_entry *ents, size_t n)
{
	struct archive *a = archive_write_new();
	char trailer[66];

	archive_write_set_format_pax_restricted(a);
	EXPECT_INT(ARCHIVE_OK, archive_write_open_filename(a, file));
	for (size_t i = 0; i < n + 2; i++) {
		struct archive_entry *ae = archive_entry_new();
		const char *name, *data = "";
		char type = 'f';

		if (i == 0) {
			name = BACKUP_MANIFEST_NAME;
			data = manifest;
		} else if (i == n + 1) {
			backup_trailer_make(trailer, manifest, strlen(manifest));
			name = BACKUP_TRAILER_NAME;
			data = trailer;
		} else {
			name = ents[i - 1].name;
			type = ents[i - 1].type;
			data = ents[i - 1].data;
		}
		archive_entry_set_pathname(ae, name);
		archive_entry_set_perm(ae, 0644);
		if (type == 'f') {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, (la_int64_t)strlen(data));
		} else if (type == 'd') {
			archive_entry_set_filetype(ae, AE_IFDIR);
		} else if (type == 'l') {
			archive_entry_set_filetype(ae, AE_IFLNK);
			archive_entry_set_symlink(ae, data);
		} else {
			archive_entry_set_filetype(ae, AE_IFCHR);
			archive_entry_set_rdev(ae, makedev(1, 3));
		}
		EXPECT_INT(ARCHIVE_OK, archive_write_header(a, ae));
		if (type == 'f' && *data)
			archive_write_data(a, data, strlen(data));
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
}

static void
expect_hostile_refused(const char *entries_json,
    const struct hostile_entry *ents, size_t n, const char *why)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };
	char *m = NULL;

	if (asprintf(&m, "{\"format\":1,\"slipway\":\"x\",\"created\":\"x\","
	    "\"entries\":[%s]}", entries_json) < 0)
		abort();
	hostile_write("h.tar", m, ents, n);
	EXPECT_TRUE(backup_restore(&sum, "h.tar", "sub/new", &o) < 0);
	EXPECT_ERR_HAS(why);
	EXPECT_TRUE(!fs_exists("sub/new"));
	EXPECT_TRUE(!fs_exists("x") && !fs_exists("sub/x") &&
	    !fs_exists("/tmp/slipway-backup-hostile"));
	expect_nothing_beside("sub");
	free(m);
}

#define X_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

TEST(backup__restore_refuses_hostile_archives)
{
	const struct hostile_entry dotdot[] = { { "../x", 'f', "" } };
	const struct hostile_entry abs[] = {
		{ "/tmp/slipway-backup-hostile", 'f', "" } };
	const struct hostile_entry ok_x[] = { { "x", 'f', "" } };
	const struct hostile_entry link_out[] = { { "l", 'l', "/etc" },
		{ "l/x", 'f', "" } };
	const struct hostile_entry dev[] = { { "zero", 'c', "" } };
	const struct hostile_entry extra[] = { { "x", 'f', "" } };

	SH("mkdir -p sub");
	/* the manifest itself lists them */
	expect_hostile_refused("{\"path\":\"../x\",\"type\":\"file\","
	    "\"mode\":420,\"size\":0,\"sha256\":\"" X_SHA "\"}", dotdot, 1,
	    "unsafe path");
	expect_hostile_refused("{\"path\":\"/tmp/slipway-backup-hostile\","
	    "\"type\":\"file\",\"mode\":420,\"size\":0,\"sha256\":\"" X_SHA
	    "\"}", abs, 1, "unsafe path");
	expect_hostile_refused("{\"path\":\"l\",\"type\":\"symlink\","
	    "\"mode\":511,\"target\":\"/etc\"}", link_out, 2,
	    "points out of the home");
	expect_hostile_refused("{\"path\":\"zero\",\"type\":\"char\","
	    "\"mode\":438}", dev, 1, "only files, directories and symlinks");
	/* a safe manifest, and the archive names something else */
	expect_hostile_refused("{\"path\":\"x\",\"type\":\"file\","
	    "\"mode\":420,\"size\":0,\"sha256\":\"" X_SHA "\"}", dotdot, 1,
	    "is not the manifest's 'x'");
	expect_hostile_refused("{\"path\":\"x\",\"type\":\"file\","
	    "\"mode\":420,\"size\":0,\"sha256\":\"" X_SHA "\"}", abs, 1,
	    "is not the manifest's 'x'");
	expect_hostile_refused("{\"path\":\"zero\",\"type\":\"file\","
	    "\"mode\":420,\"size\":0,\"sha256\":\"" X_SHA "\"}", dev, 1,
	    "is not the manifest's 'zero'");
	/* an entry the manifest does not list, before the trailer */
	expect_hostile_refused("", extra, 1, "not where it belongs");
	/* the right bytes under a wrong sha256 */
	expect_hostile_refused("{\"path\":\"x\",\"type\":\"file\","
	    "\"mode\":420,\"size\":0,\"sha256\":\"" HEX64 "\"}", ok_x, 1,
	    "does not match the manifest");
}

TEST(backup__restore_refuses_a_plain_tar)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };

	SH("mkdir d && echo hi >d/f && tar -cf plain.tar d");
	EXPECT_TRUE(backup_restore(&sum, "plain.tar", "new", &o) < 0);
	EXPECT_ERR_HAS("not a valid backup");
	EXPECT_TRUE(!fs_exists("new"));
	SH("echo not an archive >junk");
	EXPECT_TRUE(backup_restore(&sum, "junk", "new", &o) < 0);
	EXPECT_ERR_HAS("truncated or corrupt");
	EXPECT_TRUE(!fs_exists("new"));
}

/* A writer committing ten rows per transaction for as long as it runs. */
static pid_t
store_writer_start(const char *db)
{
	pid_t pid = fork();

	if (pid == 0) {
		sqlite3 *s;

		if (sqlite3_open(db, &s) != SQLITE_OK)
			_exit(1);
		sqlite3_busy_timeout(s, 5000);
		/* Everything stays in the WAL: a copy of the main file
		 * alone would miss it all. */
		sqlite3_exec(s, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
		for (;;) {
			sqlite3_exec(s, "WITH RECURSIVE c(i) AS (SELECT 1 "
			    "UNION ALL SELECT i + 1 FROM c WHERE i < 10) INSERT "
			    "INTO t SELECT randomblob(4000) FROM c;", NULL, NULL,
			    NULL);
		}
	}
	EXPECT_TRUE(pid > 0);
	return pid;
}

TEST(backup__store_is_one_committed_state_while_a_writer_writes)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };
	sqlite3 *s;
	sqlite3_stmt *q;
	pid_t w;
	int status;

	home_make("home");
	w = store_writer_start("home/slipway.db");
	usleep(200 * 1000);
	EXPECT_OK(backup_create(&sum, "home", "b.tar", &o));
	kill(w, SIGKILL);
	waitpid(w, &status, 0);
	EXPECT_OK(backup_restore(&sum, "b.tar", "new", &o));
	EXPECT_INT(SQLITE_OK, sqlite3_open("new/slipway.db", &s));
	EXPECT_INT(SQLITE_OK, sqlite3_prepare_v2(s, "PRAGMA integrity_check",
	    -1, &q, NULL));
	EXPECT_INT(SQLITE_ROW, sqlite3_step(q));
	EXPECT_STR("ok", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	/* 1 row from home_make, then whole transactions of 10 */
	EXPECT_INT(SQLITE_OK, sqlite3_prepare_v2(s, "SELECT count(*) FROM t",
	    -1, &q, NULL));
	EXPECT_INT(SQLITE_ROW, sqlite3_step(q));
	EXPECT_TRUE(sqlite3_column_int64(q, 0) > 1);
	EXPECT_INT(1, sqlite3_column_int64(q, 0) % 10);
	sqlite3_finalize(q);
	sqlite3_close(s);
}

TEST(backup__proxy_routes_travel_without_this_machines_backends)
{
	static const char routes[] = "{\"domain\":\"localhost\",\"routes\":"
	    "[{\"app\":\"hello\",\"backends\":[{\"addr\":\"127.0.0.1:20001\","
	    "\"idle\":0,\"inflight\":0}],\"domains\":[\"shop.example\"],"
	    "\"maintenance\":true}]}";
	struct backup_summary sum;
	struct backup_opts o = { 0 };
	struct buf b;

	home_make("home");
	EXPECT_OK(fs_write_atomic("home/proxy-routes.json", routes,
	    strlen(routes), 0600));
	EXPECT_OK(backup_create(&sum, "home", "b.tar", &o));
	EXPECT_OK(backup_restore(&sum, "b.tar", "new", &o));
	EXPECT_OK(fs_read_file(&b, "new/proxy-routes.json", 65536));
	EXPECT_TRUE(strstr(b.ptr, "127.0.0.1:20001") == NULL);
	EXPECT_TRUE(strstr(b.ptr, "\"backends\": []") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "\"app\": \"hello\"") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "shop.example") != NULL);
	EXPECT_TRUE(strstr(b.ptr, "\"maintenance\": true") != NULL);
	buf_free(&b);
	/* the home's own file is untouched */
	EXPECT_OK(fs_read_file(&b, "home/proxy-routes.json", 65536));
	EXPECT_STR(routes, b.ptr);
	buf_free(&b);
}

TEST(backup__repositories_without_quarantines_or_locks)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };

	home_make("home");
	SH("git init -q --bare home/git/shop.git && git init -q -b main w && "
	    "git -C w -c user.name=a -c user.email=a@b commit -q "
	    "--allow-empty -m one && git -C w push -q ../home/git/shop.git "
	    "main && mkdir -p home/git/shop.git/objects/incoming-abc && "
	    "echo x >home/git/shop.git/objects/incoming-abc/o && "
	    "echo x >home/git/shop.git/objects/tmp_obj_x && "
	    "echo x >home/git/shop.git/HEAD.lock && touch home/git/shop.lock");
	EXPECT_OK(backup_create(&sum, "home", "b.tar", &o));
	EXPECT_OK(backup_restore(&sum, "b.tar", "new", &o));
	SH("git --git-dir=new/git/shop.git fsck --no-dangling && "
	    "test \"$(git --git-dir=new/git/shop.git rev-parse main)\" = "
	    "\"$(git -C w rev-parse main)\"");
	EXPECT_TRUE(!fs_exists("new/git/shop.git/objects/incoming-abc"));
	EXPECT_TRUE(!fs_exists("new/git/shop.git/objects/tmp_obj_x"));
	EXPECT_TRUE(!fs_exists("new/git/shop.git/HEAD.lock"));
	EXPECT_TRUE(!fs_exists("new/git/shop.lock"));
}

TEST(backup__refuses_a_damaged_registry_and_leaves_no_file)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };

	home_make("home");
	/* a blob whose bytes are not its digest */
	SH("mkdir -p home/registry/blobs/sha256/aa && echo bad >home/registry/"
	    "blobs/sha256/aa/aa00000000000000000000000000000000000000000000000"
	    "00000000000000");
	EXPECT_TRUE(backup_create(&sum, "home", "b.tar", &o) < 0);
	EXPECT_ERR_HAS("does not match its digest");
	EXPECT_TRUE(!fs_exists("b.tar") && !fs_exists("b.tar.tmp"));
	SH("! ls -a home | grep -q backup");
	/* a revision whose manifest blob is missing */
	SH("rm -r home/registry/blobs/sha256/aa && mkdir -p home/registry/"
	    "repositories/shop/_manifests/revisions/sha256 && echo t >home/"
	    "registry/repositories/shop/_manifests/revisions/sha256/"
	    "bb00000000000000000000000000000000000000000000000000000000000000");
	EXPECT_TRUE(backup_create(&sum, "home", "b.tar", &o) < 0);
	EXPECT_ERR_HAS("has no blob of it");
	EXPECT_TRUE(!fs_exists("b.tar") && !fs_exists("b.tar.tmp"));
}

TEST(backup__refuses_a_repository_with_no_objects)
{
	struct backup_summary sum;
	struct backup_opts o = { 0 };

	home_make("home");
	SH("mkdir -p home/git/shop.git && echo 'ref: refs/heads/main' "
	    ">home/git/shop.git/HEAD");
	EXPECT_TRUE(backup_create(&sum, "home", "b.tar", &o) < 0);
	EXPECT_ERR_HAS("app 'shop': 'git/shop.git' has no objects");
	EXPECT_TRUE(!fs_exists("b.tar"));
}
