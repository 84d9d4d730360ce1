/* Unit tests for image layouts, documents, layers, build and stacks. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"

#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c" \
	"a495991b7852b855"

/* Read the first line of a file into a static buffer (test helper). */
static const char *
first_line(const char *path)
{
	static char line[512];
	FILE *f = fopen(path, "r");

	line[0] = '\0';
	if (f) {
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n ")] = '\0';
	return line;
}

/* A small slug: app/ with two files, made by tar and gzip. */
static void
make_slug(const char *name, const char *content)
{
	harness_write("slugsrc/app/index.html", content, strlen(content), 0644);
	harness_write("slugsrc/app/Procfile", "web: httpd\n", 11, 0644);
	SH("tar --sort=name --owner=0 --group=0 --mtime=@0 -C slugsrc -cf - "
	    "app | gzip -n > %s", name);
}

static void
write_layout(const char *dir, const char *index)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/blobs/sha256/.keep", dir);
	harness_write(path, "", 0, 0644);
	snprintf(path, sizeof(path), "%s/oci-layout", dir);
	harness_write(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644);
	snprintf(path, sizeof(path), "%s/index.json", dir);
	harness_write(path, index, strlen(index), 0644);
}

TEST(image__layout_roundtrip)
{
	struct image_layout *l;
	struct image_desc d, got;
	struct buf b;

	EXPECT_OK(image_layout_init(&l, "lay"));
	EXPECT_OK(image_layout_blob_put(&d, l, IMAGE_MT_OCI_MANIFEST,
	    "{\"x\":1}", 7));
	EXPECT_TRUE(fs_exists("lay/oci-layout"));
	EXPECT_OK(image_layout_tag(l, &d, "v1"));
	EXPECT_OK(image_layout_tag(l, &d, "v1"));       /* replaces */
	EXPECT_OK(image_layout_tag(l, &d, "v2"));
	image_layout_free(l);

	EXPECT_OK(image_layout_open(&l, "lay/"));
	EXPECT_INT(2, image_layout_count(l));
	EXPECT_OK(image_layout_resolve(&got, l, "v1"));
	EXPECT_STR(d.digest, got.digest);
	EXPECT_STR("v1", got.ref_name);
	EXPECT_INT(7, got.size);
	EXPECT_OK(image_layout_blob_read(&b, l, &got, 100));
	EXPECT_STR("{\"x\":1}", b.ptr);
	buf_free(&b);
	image_desc_clear(&got);
	EXPECT_INT(ERR_NOTFOUND, image_layout_resolve(&got, l, "v3"));
	EXPECT_INT(ERR_INVALID, image_layout_resolve(&got, l, NULL));
	EXPECT_INT(ERR_INVALID, image_layout_tag(l, &d, "../x"));
	/* no temp files left in the layout */
	SH("test -z \"$(find lay -name '*.tmp.*')\"");
	image_desc_clear(&d);
	image_layout_free(l);
}

TEST(image__layout_init_refuses_a_full_directory)
{
	struct image_layout *l;

	harness_write("notalayout/file", "x", 1, 0644);
	EXPECT_INT(ERR_EXISTS, image_layout_init(&l, "notalayout"));
	EXPECT_TRUE(!fs_exists("notalayout/blobs"));
	EXPECT_INT(ERR_NOTFOUND, image_layout_open(&l, "nowhere"));
}

TEST(image__index_json_hostile)
{
	static const char *const bad[] = {
		"{",
		"[]",
		"{\"schemaVersion\":1,\"manifests\":[]}",
		"{\"schemaVersion\":2}",
		"{\"schemaVersion\":2,\"manifests\":{}}",
		"{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}",
		"{\"schemaVersion\":2,\"mediaType\":\"text/plain\","
		    "\"manifests\":[]}",
		/* path tricks and bad descriptors */
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"sha256:../../../etc/passwd\",\"size\":1}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"sha256:/etc/passwd\",\"size\":1}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"SHA256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E"
		    "4649B934CA495991B7852B855\",\"size\":0}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"" EMPTY_SHA "\",\"size\":-1}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"" EMPTY_SHA "\",\"size\":1e3}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"../b\","
		    "\"digest\":\"" EMPTY_SHA "\",\"size\":0}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" EMPTY_SHA
		    "\",\"size\":0}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"" EMPTY_SHA "\",\"size\":0,\"annotations\":"
		    "{\"org.opencontainers.image.ref.name\":7}}]}",
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\","
		    "\"digest\":\"" EMPTY_SHA "\",\"size\":0,\"platform\":"
		    "{\"os\":\"linux\"}}]}",
	};
	struct image_layout *l;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_layout("lay", bad[i]);
		err_clear();
		if (image_layout_open(&l, "lay") >= 0)
			harness_fail(__FILE__, __LINE__, "index %zu was "
			    "accepted: %s", i, bad[i]);
		EXPECT_TRUE(err_last()[0] != '\0');
	}
	write_layout("lay", "{\"schemaVersion\":2,\"manifests\":[]}");
	harness_write("lay/oci-layout", "{\"imageLayoutVersion\":\"9\"}", 26,
	    0644);
	EXPECT_INT(ERR_UNSUPPORTED, image_layout_open(&l, "lay"));
	/* index.json through a symlink is not followed */
	harness_write("lay/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}",
	    30, 0644);
	SH("mv lay/index.json real.json && ln -s ../real.json lay/index.json");
	EXPECT_INT(ERR_INVALID, image_layout_open(&l, "lay"));
}

TEST(image__blob_hostile)
{
	struct image_layout *l;
	struct image_desc d;
	struct buf b;
	char *path;

	EXPECT_OK(image_layout_init(&l, "lay"));
	EXPECT_OK(image_layout_blob_put(&d, l, "a/b", "hello", 5));
	path = image_layout_blob_path(l, d.digest);
	/* same size, other bytes: a digest mismatch */
	SH("chmod u+w %s && printf HELLO > %s", path, path);
	EXPECT_INT(ERR_INVALID, image_layout_blob_read(&b, l, &d, 100));
	EXPECT_ERR_HAS("corrupt");
	EXPECT_INT(ERR_INVALID, image_layout_blob_verify(l, &d));
	/* other size */
	SH("printf hello! > %s", path);
	EXPECT_INT(ERR_INVALID, image_layout_blob_stat(l, &d));
	/* a symlink is not followed */
	SH("rm %s && printf hello > outside && ln -s $PWD/outside %s", path,
	    path);
	EXPECT_INT(ERR_INVALID, image_layout_blob_read(&b, l, &d, 100));
	EXPECT_ERR_HAS("symlink");
	/* missing */
	SH("rm %s", path);
	EXPECT_INT(ERR_NOTFOUND, image_layout_blob_stat(l, &d));
	EXPECT_INT(ERR_NOTFOUND, image_layout_tag(l, &d, "v1"));
	/* over the cap */
	image_desc_clear(&d);
	EXPECT_OK(image_layout_blob_put(&d, l, "a/b", "hello", 5));
	EXPECT_INT(ERR_TOOBIG, image_layout_blob_read(&b, l, &d, 4));
	free(path);
	image_desc_clear(&d);
	image_layout_free(l);
}

TEST(image__writer_mismatch_stores_nothing)
{
	struct image_layout *l;
	struct image_blob_writer *w;
	char got[DIGEST_STR_MAX];

	EXPECT_OK(image_layout_init(&l, "lay"));
	EXPECT_OK(image_blob_writer_open(&w, l));
	EXPECT_OK(image_blob_writer_write(w, "abc", 3));
	EXPECT_INT(ERR_INVALID, image_blob_writer_commit(w, EMPTY_SHA, -1,
	    got));
	image_blob_writer_free(w);
	EXPECT_OK(image_blob_writer_open(&w, l));
	image_blob_writer_set_limit(w, 2);
	EXPECT_INT(ERR_TOOBIG, image_blob_writer_write(w, "abc", 3));
	EXPECT_OK(image_blob_writer_write(w, "ab", 2));
	EXPECT_INT(ERR_INVALID, image_blob_writer_commit(w, NULL, 3, got));
	image_blob_writer_free(w);
	/* an abandoned writer leaves nothing either */
	EXPECT_OK(image_blob_writer_open(&w, l));
	EXPECT_OK(image_blob_writer_write(w, "ab", 2));
	image_blob_writer_free(w);
	SH("test -z \"$(ls -A lay/blobs/sha256)\"");
	SH("test \"$(ls -A lay)\" = \"$(printf 'blobs\\nindex.json\\n"
	    "oci-layout')\"");
	/* and a good one lands under its digest */
	EXPECT_OK(image_blob_writer_open(&w, l));
	EXPECT_OK(image_blob_writer_commit(w, EMPTY_SHA, 0, got));
	image_blob_writer_free(w);
	EXPECT_STR(EMPTY_SHA, got);
	EXPECT_TRUE(fs_exists("lay/blobs/sha256/e3b0c44298fc1c149afbf4c8996fb9"
	    "2427ae41e4649b934ca495991b7852b855"));
	image_layout_free(l);
}

TEST(image__diff_id_matches_gunzip)
{
	char digest[DIGEST_STR_MAX], diff_id[DIGEST_STR_MAX], want[80];
	int64_t size;
	int fd;

	make_slug("slug.tgz", "hello world\n");
	SH("gunzip -c slug.tgz | sha256sum > want && sha256sum slug.tgz > "
	    "wantz");
	fd = open("slug.tgz", O_RDONLY);
	EXPECT_OK(image_gzip_digests(digest, diff_id, &size, fd));
	close(fd);
	snprintf(want, sizeof(want), "sha256:%s", first_line("want"));
	EXPECT_STR(want, diff_id);
	snprintf(want, sizeof(want), "sha256:%s", first_line("wantz"));
	EXPECT_STR(want, digest);
	EXPECT_INT(fs_exists("slug.tgz"), 1);
}

TEST(image__diff_id_large_and_multi_member)
{
	char digest[DIGEST_STR_MAX], diff_id[DIGEST_STR_MAX], want[80];
	int64_t size;
	int fd;

	/* 3 MiB of incompressible bytes then a second gzip member: more
	 * than one read and one inflate buffer, and gzip's concatenation. */
	SH("head -c 3145728 /dev/urandom > big && gzip -nc big > two.gz && "
	    "printf tail | gzip -nc >> two.gz && gunzip -c two.gz | sha256sum "
	    "> want");
	fd = open("two.gz", O_RDONLY);
	EXPECT_OK(image_gzip_digests(digest, diff_id, &size, fd));
	close(fd);
	snprintf(want, sizeof(want), "sha256:%s", first_line("want"));
	EXPECT_STR(want, diff_id);
}

TEST(image__gzip_hostile)
{
	char digest[DIGEST_STR_MAX], diff_id[DIGEST_STR_MAX];
	int64_t size;
	int fd;

	SH("printf 'not gzip at all' > a; : > b; "
	    "head -c 100000 /dev/urandom | gzip -n | head -c 5000 > c; "
	    "printf x | gzip -n > d; printf garbage >> d");
	/* not gzip, empty, truncated, trailing garbage */
	for (const char *f = "abcd"; *f; f++) {
		char name[2] = { *f, '\0' };
		fd = open(name, O_RDONLY);
		EXPECT_INT(ERR_INVALID, image_gzip_digests(digest, diff_id,
		    &size, fd));
		close(fd);
	}
}

TEST(image__manifest_parse)
{
	static const char good[] = "{\"schemaVersion\":2,\"mediaType\":"
	    "\"application/vnd.oci.image.manifest.v1+json\",\"config\":"
	    "{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
	    "\"digest\":\"" EMPTY_SHA "\",\"size\":0},\"layers\":[{"
	    "\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
	    "\"digest\":\"" EMPTY_SHA "\",\"size\":0}],\"unknown\":1}";
	static const char docker[] = "{\"schemaVersion\":2,\"mediaType\":"
	    "\"application/vnd.docker.distribution.manifest.v2+json\","
	    "\"config\":{\"mediaType\":\"application/vnd.docker.container."
	    "image.v1+json\",\"digest\":\"" EMPTY_SHA "\",\"size\":0},"
	    "\"layers\":[]}";
	static const char index[] = "{\"schemaVersion\":2,\"manifests\":["
	    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"digest\":\"" EMPTY_SHA "\",\"size\":1,\"platform\":{\"os\":"
	    "\"linux\",\"architecture\":\"arm64\"}},{\"mediaType\":"
	    "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\""
	    EMPTY_SHA "\",\"size\":2,\"platform\":{\"os\":\"linux\","
	    "\"architecture\":\"amd64\"}}]}";
	struct image_manifest *m;
	const struct image_desc *pick;
	char want[DIGEST_STR_MAX];
	char *big;

	EXPECT_OK(image_manifest_parse(&m, NULL, good, sizeof(good) - 1));
	EXPECT_TRUE(!m->is_index);
	EXPECT_INT(1, m->nlayers);
	digest_buf(want, DIGEST_SHA256, good, sizeof(good) - 1);
	EXPECT_STR(want, m->digest);
	EXPECT_INT(sizeof(good) - 1, m->raw_len);
	image_manifest_free(m);
	/* the transport's type must agree with the document's */
	EXPECT_INT(ERR_INVALID, image_manifest_parse(&m,
	    IMAGE_MT_DOCKER_MANIFEST, good, sizeof(good) - 1));
	EXPECT_OK(image_manifest_parse(&m, NULL, docker, sizeof(docker) - 1));
	EXPECT_STR(IMAGE_MT_DOCKER_MANIFEST, m->media_type);
	image_manifest_free(m);
	EXPECT_OK(image_manifest_parse(&m, NULL, index, sizeof(index) - 1));
	EXPECT_TRUE(m->is_index);
	EXPECT_OK(image_index_pick(&pick, m, NULL, NULL));
	EXPECT_INT(2, pick->size);
	EXPECT_OK(image_index_pick(&pick, m, "linux", "arm64"));
	EXPECT_INT(1, pick->size);
	EXPECT_INT(ERR_NOTFOUND, image_index_pick(&pick, m, "linux", "s390x"));
	image_manifest_free(m);

	EXPECT_INT(ERR_UNSUPPORTED, image_manifest_parse(&m, NULL,
	    "{\"schemaVersion\":1}", 19));
	EXPECT_INT(ERR_INVALID, image_manifest_parse(&m, NULL, "{}", 2));
	EXPECT_INT(ERR_INVALID, image_manifest_parse(&m, NULL, "nope", 4));
	EXPECT_INT(ERR_INVALID, image_manifest_parse(&m, NULL,
	    "{\"schemaVersion\":2,\"config\":{}}", 31));
	EXPECT_INT(ERR_UNSUPPORTED, image_manifest_parse(&m, "text/html",
	    "{\"schemaVersion\":2}", 19));
	big = xcalloc(IMAGE_MANIFEST_MAX + 2, 1);
	memset(big, ' ', IMAGE_MANIFEST_MAX + 1);
	EXPECT_INT(ERR_TOOBIG, image_manifest_parse(&m, NULL, big,
	    IMAGE_MANIFEST_MAX + 1));
	free(big);
}

TEST(image__config_parse)
{
	static const char good[] = "{\"architecture\":\"amd64\",\"os\":"
	    "\"linux\",\"config\":{\"Env\":[\"A=1\"],\"Cmd\":[\"sh\"],"
	    "\"Labels\":{\"b\":\"2\",\"a\":\"1\"},\"WorkingDir\":\"/app\"},"
	    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" EMPTY_SHA
	    "\"]}}";
	struct image_config *c;

	EXPECT_OK(image_config_parse(&c, good, sizeof(good) - 1));
	EXPECT_STR("A=1", c->env[0]);
	EXPECT_TRUE(c->env[1] == NULL);
	EXPECT_STR("a", c->label_keys[0]);
	EXPECT_STR("2", image_config_label(c, "b"));
	EXPECT_STR("/app", c->workdir);
	EXPECT_INT(1, c->ndiff_ids);
	image_config_free(c);
	EXPECT_INT(ERR_INVALID, image_config_parse(&c, "{\"os\":\"linux\"}",
	    15));
	EXPECT_INT(ERR_INVALID, image_config_parse(&c, "{\"os\":\"linux\","
	    "\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\","
	    "\"diff_ids\":[\"sha256:xyz\"]}}", 87));
	EXPECT_INT(ERR_INVALID, image_config_parse(&c, "{\"os\":\"linux\","
	    "\"architecture\":\"amd64\",\"rootfs\":{\"type\":\"layers\","
	    "\"diff_ids\":[]},\"config\":{\"Env\":[1]}}", 92));
}

TEST(image__small_parsers)
{
	char *p, *t;
	int64_t s;

	EXPECT_TRUE(image_tag_is_valid("v1"));
	EXPECT_TRUE(image_tag_is_valid("_x.Y-1"));
	EXPECT_TRUE(!image_tag_is_valid(".x"));
	EXPECT_TRUE(!image_tag_is_valid("a/b"));
	EXPECT_TRUE(!image_tag_is_valid(""));
	p = xcalloc(130, 1);
	memset(p, 'a', 129);
	EXPECT_TRUE(!image_tag_is_valid(p));
	p[128] = '\0';
	EXPECT_TRUE(image_tag_is_valid(p));
	free(p);

	EXPECT_OK(image_ref_split(&p, &t, "dir/lay:v2"));
	EXPECT_STR("dir/lay", p);
	EXPECT_STR("v2", t);
	free(p); free(t);
	EXPECT_OK(image_ref_split(&p, &t, "a:b/lay"));
	EXPECT_STR("a:b/lay", p);
	EXPECT_TRUE(t == NULL);
	free(p);
	EXPECT_INT(ERR_INVALID, image_ref_split(&p, &t, "lay:x y"));
	EXPECT_INT(ERR_INVALID, image_ref_split(&p, &t, ":v1"));

	EXPECT_OK(image_time_parse(&s, "1970-01-01T00:00:00Z"));
	EXPECT_INT(0, s);
	EXPECT_OK(image_time_parse(&s, "2026-11-22T12:00:00.5+01:00"));
	EXPECT_INT(1795345200LL, s);
	EXPECT_INT(ERR_INVALID, image_time_parse(&s, "2026-02-30T00:00:00Z"));
	EXPECT_INT(ERR_INVALID, image_time_parse(&s, "2026-11-22 12:00:00Z"));
	EXPECT_INT(ERR_INVALID, image_time_parse(&s, "2026-11-22T12:00:00"));
	EXPECT_INT(ERR_INVALID, image_time_parse(&s, "yesterday"));

	unsetenv("SOURCE_DATE_EPOCH");
	EXPECT_OK(image_created_pick(&p, NULL));
	EXPECT_STR(IMAGE_CREATED_DEFAULT, p);
	free(p);
	setenv("SOURCE_DATE_EPOCH", "86400", 1);
	EXPECT_OK(image_created_pick(&p, NULL));
	EXPECT_STR("1970-01-02T00:00:00Z", p);
	free(p);
	setenv("SOURCE_DATE_EPOCH", "-5", 1);
	EXPECT_INT(ERR_INVALID, image_created_pick(&p, NULL));
	unsetenv("SOURCE_DATE_EPOCH");
}

static void
build_one(struct image_desc *out, const char *dir, const char *rev)
{
	static const struct image_process procs[] = {
		{ "web", "httpd -f -p $PORT -h /app" },
		{ "worker", "sleep 100" },
	};
	struct image_build_opts o = {
		.slug = "slug.tgz", .base = "stack", .base_tag = "latest",
		.out = dir, .tag = "v1", .procs = procs, .nprocs = 2,
		.revision = rev, .source = "https://example.com/app.git",
	};

	EXPECT_OK(image_build(out, &o));
}

TEST(image__build_reproducible)
{
	struct image_desc s1, s2, a, b, c;
	struct image_layout *l;
	struct image_manifest *m;
	struct image_config *cfg;

	if (access("/bin/busybox", X_OK) < 0)
		harness_skip("no /bin/busybox (busybox-static)");
	unsetenv("SOURCE_DATE_EPOCH");
	make_slug("slug.tgz", "v1\n");
	EXPECT_OK(image_stack_import_busybox(&s1, NULL, "stack", "latest",
	    NULL));
	EXPECT_OK(image_stack_import_busybox(&s2, NULL, "stack2", "latest",
	    NULL));
	EXPECT_STR(s1.digest, s2.digest);
	build_one(&a, "out1", "abc");
	build_one(&b, "out2", "abc");
	EXPECT_STR(a.digest, b.digest);
	build_one(&c, "out3", "def");
	EXPECT_TRUE(strcmp(a.digest, c.digest) != 0);

	/* what the image says */
	EXPECT_OK(image_layout_open(&l, "out1"));
	EXPECT_OK(image_layout_load(&m, &cfg, l, "v1"));
	EXPECT_INT(2, m->nlayers);
	EXPECT_STR("/app", cfg->workdir);
	EXPECT_STR("/bin/sh", cfg->cmd[0]);
	EXPECT_STR("httpd -f -p $PORT -h /app", cfg->cmd[2]);
	EXPECT_STR("PATH=/app/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:"
	    "/usr/bin:/sbin:/bin", cfg->env[0]);
	EXPECT_STR("PORT=5000", cfg->env[1]);
	EXPECT_STR("abc", image_config_label(cfg,
	    "org.opencontainers.image.revision"));
	EXPECT_STR(IMAGE_CREATED_DEFAULT, image_config_label(cfg,
	    "org.opencontainers.image.created"));
	EXPECT_STR("{\"web\":\"httpd -f -p $PORT -h /app\",\"worker\":"
	    "\"sleep 100\"}", image_config_label(cfg,
	    IMAGE_LABEL_PROCESS_TYPES));
	/* the stack layer is reused as it is */
	for (size_t i = 0; i < m->nlayers; i++)
		EXPECT_OK(image_layout_blob_verify(l, &m->layers[i]));
	image_manifest_free(m);
	image_config_free(cfg);
	image_layout_free(l);
	SH("big=$(ls -S stack/blobs/sha256 | head -1) && "
	    "cmp stack/blobs/sha256/$big out1/blobs/sha256/$big");

	/* the time comes from SOURCE_DATE_EPOCH, never the clock */
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	image_desc_clear(&c);
	build_one(&c, "out4", "abc");
	EXPECT_TRUE(strcmp(a.digest, c.digest) != 0);
	image_desc_clear(&c);
	build_one(&c, "out5", "abc");
	image_desc_clear(&b);
	build_one(&b, "out6", "abc");
	EXPECT_STR(b.digest, c.digest);
	unsetenv("SOURCE_DATE_EPOCH");
	image_desc_clear(&s1);
	image_desc_clear(&s2);
	image_desc_clear(&a);
	image_desc_clear(&b);
	image_desc_clear(&c);
}

TEST(image__build_rejects_bad_input)
{
	struct image_build_opts o = { .slug = "slug.tgz", .out = "out",
	    .tag = "v1" };
	struct image_process dup[] = { { "web", "a" }, { "web", "b" } };
	struct image_process bad[] = { { "we b", "a" } };
	struct image_desc d;

	harness_write("slug.tgz", "not gzip", 8, 0644);
	EXPECT_INT(ERR_INVALID, image_build(&d, &o));
	EXPECT_ERR_HAS("slug.tgz");
	/* nothing was tagged */
	SH("grep -q '\"manifests\":\\[\\]' out/index.json");
	o.procs = dup;
	o.nprocs = 2;
	EXPECT_INT(ERR_INVALID, image_build(&d, &o));
	o.procs = bad;
	o.nprocs = 1;
	EXPECT_INT(ERR_INVALID, image_build(&d, &o));
	o.nprocs = 0;
	o.tag = "a/b";
	EXPECT_INT(ERR_INVALID, image_build(&d, &o));
	o.tag = "v1";
	o.port = "99999";
	EXPECT_INT(ERR_INVALID, image_build(&d, &o));
	o.port = NULL;
	o.base = "nostack";
	make_slug("slug.tgz", "x");
	EXPECT_INT(ERR_NOTFOUND, image_build(&d, &o));
}

TEST(image__stack_dir_reproducible)
{
	struct image_desc a, b;

	harness_write("root/bin/tool", "#!/bin/sh\n", 10, 0755);
	harness_write("root/etc/conf", "x=1\n", 4, 0644);
	SH("ln -s tool root/bin/alias && touch -d 2001-01-01 root/etc/conf");
	EXPECT_OK(image_stack_import_dir(&a, "root", "s1", "base", NULL));
	SH("touch root/etc/conf root/bin/tool");
	EXPECT_OK(image_stack_import_dir(&b, "root", "s2", "base", NULL));
	EXPECT_STR(a.digest, b.digest);
	image_desc_clear(&b);
	/* content matters */
	harness_write("root/etc/conf", "x=2\n", 4, 0644);
	EXPECT_OK(image_stack_import_dir(&b, "root", "s3", "base", NULL));
	EXPECT_TRUE(strcmp(a.digest, b.digest) != 0);
	image_desc_clear(&b);
	/* what is in the layer */
	SH("for f in s1/blobs/sha256/*; do gzip -t $f 2>/dev/null && "
	    "tar -tvzf $f > list; done; grep -q 'bin/alias -> tool' list && "
	    "grep -q '^-rwxr-xr-x 0/0 .* bin/tool$' list");
	/* devices and fifos are refused */
	SH("mkfifo root/fifo");
	EXPECT_INT(ERR_UNSUPPORTED, image_stack_import_dir(&b, "root", "s4",
	    "base", NULL));
	EXPECT_INT(ERR_NOTFOUND, image_stack_import_dir(&b, "nodir", "s5",
	    "base", NULL));
	image_desc_clear(&a);
}

TEST(image__load_follows_index_and_checks_blobs)
{
	struct image_layout *l;
	struct image_manifest *m;
	struct image_config *c;
	struct image_desc st, idx;
	char *text, *path;

	if (access("/bin/busybox", X_OK) < 0)
		harness_skip("no /bin/busybox (busybox-static)");
	EXPECT_OK(image_stack_import_busybox(&st, NULL, "lay", "latest",
	    NULL));
	EXPECT_OK(image_layout_open(&l, "lay"));
	/* an index pointing at the stack, tagged "multi" */
	text = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
	    "\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":"
	    "%lld,\"platform\":{\"os\":\"linux\",\"architecture\":"
	    "\"amd64\"}}]}", IMAGE_MT_OCI_INDEX, IMAGE_MT_OCI_MANIFEST,
	    st.digest, (long long)st.size);
	EXPECT_OK(image_layout_blob_put(&idx, l, IMAGE_MT_OCI_INDEX, text,
	    strlen(text)));
	EXPECT_OK(image_layout_tag(l, &idx, "multi"));
	EXPECT_OK(image_layout_load(&m, &c, l, "multi"));
	EXPECT_STR(st.digest, m->digest);
	EXPECT_INT(1, c->ndiff_ids);
	image_manifest_free(m);
	image_config_free(c);
	/* a missing manifest blob */
	path = image_layout_blob_path(l, st.digest);
	SH("mv %s saved", path);
	EXPECT_INT(ERR_NOTFOUND, image_layout_load(&m, &c, l, "latest"));
	EXPECT_ERR_HAS("missing");
	SH("mv saved %s", path);
	EXPECT_OK(image_layout_load(&m, NULL, l, "latest"));
	image_manifest_free(m);
	free(path);
	free(text);
	image_desc_clear(&st);
	image_desc_clear(&idx);
	image_layout_free(l);
}
