/*
 * Unit tests for the registry server's parts: names, routes, ranges, the
 * store, upload sessions, manifest parsing, gc marking and token scopes.
 * (The HTTP behaviour is tested end to end in
 * tests/integration/t0250-registry.sh.)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/fs.h"
#include "slipway/jwt.h"
#include "slipway/registry.h"
#include "../../registry/registry_int.h"

static const unsigned char key[] = "0123456789abcdef0123456789abcdef";

TEST(registry__name_valid)
{
	char long_name[301];

	EXPECT_TRUE(registry_name_valid("app"));
	EXPECT_TRUE(registry_name_valid("a"));
	EXPECT_TRUE(registry_name_valid("library/ubuntu"));
	EXPECT_TRUE(registry_name_valid("a.b_c__d-e---f/g0/9"));
	EXPECT_TRUE(registry_name_valid("x/blobs/y"));
	EXPECT_TRUE(!registry_name_valid(""));
	EXPECT_TRUE(!registry_name_valid("App"));
	EXPECT_TRUE(!registry_name_valid("a/../b"));
	EXPECT_TRUE(!registry_name_valid(".."));
	EXPECT_TRUE(!registry_name_valid("a//b"));
	EXPECT_TRUE(!registry_name_valid("/a"));
	EXPECT_TRUE(!registry_name_valid("a/"));
	EXPECT_TRUE(!registry_name_valid("a___b"));
	EXPECT_TRUE(!registry_name_valid("a..b"));
	EXPECT_TRUE(!registry_name_valid("-a"));
	EXPECT_TRUE(!registry_name_valid("a-"));
	EXPECT_TRUE(!registry_name_valid("_layers"));
	EXPECT_TRUE(!registry_name_valid("a b"));
	EXPECT_TRUE(!registry_name_valid("a:b"));
	memset(long_name, 'a', 300);
	long_name[300] = '\0';
	EXPECT_TRUE(!registry_name_valid(long_name));
	long_name[255] = '\0';
	EXPECT_TRUE(registry_name_valid(long_name));
	long_name[255] = 'a';
	long_name[256] = '\0';
	EXPECT_TRUE(!registry_name_valid(long_name));
}

TEST(registry__tag_and_uuid_valid)
{
	char t[130];

	EXPECT_TRUE(registry_tag_valid("v1"));
	EXPECT_TRUE(registry_tag_valid("_x.Y-z"));
	EXPECT_TRUE(!registry_tag_valid(".hidden"));
	EXPECT_TRUE(!registry_tag_valid("-x"));
	EXPECT_TRUE(!registry_tag_valid("a/b"));
	EXPECT_TRUE(!registry_tag_valid(""));
	memset(t, 'a', 129);
	t[128] = '\0';
	EXPECT_TRUE(registry_tag_valid(t));
	t[128] = 'a';
	t[129] = '\0';
	EXPECT_TRUE(!registry_tag_valid(t));
	EXPECT_TRUE(registry_uuid_valid("0123456789abcdef0123456789abcdef"));
	EXPECT_TRUE(!registry_uuid_valid("0123456789abcdef0123456789abcde"));
	EXPECT_TRUE(!registry_uuid_valid("../456789abcdef0123456789abcdef0"));
}

TEST(registry__put_tags_parse)
{
	const char *ok[] = { "v1", "latest", "v1", "1.2.3" };
	const char *bad[] = { "v1", "-x" };
	const char *many[REGISTRY_PUT_TAGS_MAX + 1];
	struct registry_strv l = { 0 };

	/* in order, once each */
	EXPECT_OK(registry_put_tags_parse(&l, ok, 4));
	EXPECT_INT(3, (int)l.n);
	EXPECT_STR("v1", l.v[0]);
	EXPECT_STR("latest", l.v[1]);
	EXPECT_STR("1.2.3", l.v[2]);
	registry_strv_free(&l);
	memset(&l, 0, sizeof(l));
	/* one bad tag: nothing taken, the message names it */
	EXPECT_INT(ERR_INVALID, registry_put_tags_parse(&l, bad, 2));
	EXPECT_ERR_HAS("'-x' is not a valid tag");
	EXPECT_INT(0, (int)l.n);
	bad[1] = "";
	EXPECT_INT(ERR_INVALID, registry_put_tags_parse(&l, bad, 2));
	bad[1] = "a/b";
	EXPECT_INT(ERR_INVALID, registry_put_tags_parse(&l, bad, 2));
	bad[1] = "a\nb";
	EXPECT_INT(ERR_INVALID, registry_put_tags_parse(&l, bad, 2));
	EXPECT_INT(0, (int)l.n);
	/* the cap, and one past it */
	for (size_t i = 0; i <= REGISTRY_PUT_TAGS_MAX; i++)
		many[i] = "t";
	EXPECT_OK(registry_put_tags_parse(&l, many, REGISTRY_PUT_TAGS_MAX));
	EXPECT_INT(1, (int)l.n);
	registry_strv_free(&l);
	memset(&l, 0, sizeof(l));
	EXPECT_INT(ERR_TOOBIG, registry_put_tags_parse(&l, many,
	    REGISTRY_PUT_TAGS_MAX + 1));
	EXPECT_INT(0, (int)l.n);
	/* none at all is fine */
	EXPECT_OK(registry_put_tags_parse(&l, many, 0));
	EXPECT_INT(0, (int)l.n);
}

static enum registry_route
t_route(const char *path, char *name, char **ref)
{
	bool ok;
	enum registry_route r = registry_route_parse(path, name, &ok, ref);

	if (!ok)
		name[0] = '!';
	return r;
}

TEST(registry__route_parse)
{
	char name[REGISTRY_NAME_MAX + 1], *ref = NULL, big[400];

	EXPECT_INT(ROUTE_BASE, t_route("/v2/", name, &ref));
	EXPECT_INT(ROUTE_CATALOG, t_route("/v2/_catalog", name, &ref));
	EXPECT_INT(ROUTE_TOKEN, t_route("/token", name, &ref));
	EXPECT_INT(ROUTE_NONE, t_route("/v1/x", name, &ref));
	EXPECT_INT(ROUTE_NONE, t_route("/v2/app", name, &ref));
	EXPECT_INT(ROUTE_TAGS, t_route("/v2/a/b/tags/list", name, &ref));
	EXPECT_STR("a/b", name);
	EXPECT_INT(ROUTE_MANIFEST, t_route("/v2/a/manifests/v1", name, &ref));
	EXPECT_STR("a", name);
	EXPECT_STR("v1", ref);
	free(ref);
	/* names may hold the route words: read from the end */
	EXPECT_INT(ROUTE_MANIFEST, t_route("/v2/x/blobs/manifests/latest",
	    name, &ref));
	EXPECT_STR("x/blobs", name);
	free(ref);
	EXPECT_INT(ROUTE_BLOB, t_route("/v2/a/blobs/sha256:00", name, &ref));
	EXPECT_STR("sha256:00", ref);
	free(ref);
	EXPECT_INT(ROUTE_UPLOADS, t_route("/v2/a/b/blobs/uploads/", name,
	    &ref));
	EXPECT_STR("a/b", name);
	EXPECT_TRUE(ref == NULL);
	EXPECT_INT(ROUTE_UPLOAD, t_route("/v2/a/blobs/uploads/abc", name,
	    &ref));
	EXPECT_STR("a", name);
	EXPECT_STR("abc", ref);
	free(ref);
	EXPECT_INT(ROUTE_REFERRERS, t_route("/v2/a/referrers/sha256:1", name,
	    &ref));
	free(ref);
	EXPECT_INT(ROUTE_MANIFEST, t_route("/v2/A/manifests/v1", name, &ref));
	EXPECT_TRUE(name[0] == '!');
	free(ref);
	EXPECT_INT(ROUTE_MANIFEST, t_route("/v2/a/../b/manifests/v1", name,
	    &ref));
	EXPECT_TRUE(name[0] == '!');
	free(ref);
	EXPECT_INT(ROUTE_MANIFEST, t_route("/v2//a/manifests/v1", name, &ref));
	EXPECT_TRUE(name[0] == '!');
	free(ref);
	snprintf(big, sizeof(big), "/v2/%0300d/manifests/v1", 0);
	EXPECT_INT(ROUTE_MANIFEST, t_route(big, name, &ref));
	EXPECT_TRUE(name[0] == '!');
	free(ref);
	EXPECT_INT(ROUTE_NONE, t_route("/v2/a/manifests/", name, &ref));
}

TEST(registry__range_parse)
{
	uint64_t off = 0, len = 0;

	EXPECT_INT(0, registry_range_parse(NULL, 10, &off, &len));
	EXPECT_INT(1, registry_range_parse("bytes=2-4", 10, &off, &len));
	EXPECT_INT(2, off);
	EXPECT_INT(3, len);
	EXPECT_INT(1, registry_range_parse("bytes=2-", 10, &off, &len));
	EXPECT_INT(8, len);
	EXPECT_INT(1, registry_range_parse("bytes=5-100", 10, &off, &len));
	EXPECT_INT(5, len);
	EXPECT_INT(1, registry_range_parse("bytes=-3", 10, &off, &len));
	EXPECT_INT(7, off);
	EXPECT_INT(3, len);
	EXPECT_INT(1, registry_range_parse("bytes=-30", 10, &off, &len));
	EXPECT_INT(0, off);
	EXPECT_INT(10, len);
	/* past the end: 416 */
	EXPECT_INT(ERR_INVALID, registry_range_parse("bytes=10-", 10, &off,
	    &len));
	EXPECT_INT(ERR_INVALID, registry_range_parse("bytes=11-20", 10, &off,
	    &len));
	EXPECT_INT(ERR_INVALID, registry_range_parse("bytes=-0", 10, &off,
	    &len));
	EXPECT_INT(ERR_INVALID, registry_range_parse("bytes=0-", 0, &off,
	    &len));
	/* not understood: ignored, the whole blob */
	EXPECT_INT(0, registry_range_parse("bytes=4-2", 10, &off, &len));
	EXPECT_INT(0, registry_range_parse("items=1-2", 10, &off, &len));
	EXPECT_INT(0, registry_range_parse("bytes=1-2,4-5", 10, &off, &len));
	EXPECT_INT(0, registry_range_parse("bytes=x-2", 10, &off, &len));
	EXPECT_INT(0, registry_range_parse("bytes=99999999999999999999999-",
	    10, &off, &len));
}

TEST(registry__content_range_parse)
{
	uint64_t a = 0, b = 0;

	EXPECT_OK(registry_content_range_parse("0-99", &a, &b));
	EXPECT_INT(0, a);
	EXPECT_INT(99, b);
	EXPECT_OK(registry_content_range_parse("bytes 100-199/*", &a, &b));
	EXPECT_INT(100, a);
	EXPECT_INT(ERR_INVALID, registry_content_range_parse("5-4", &a, &b));
	EXPECT_INT(ERR_INVALID, registry_content_range_parse("-4", &a, &b));
	EXPECT_INT(ERR_INVALID, registry_content_range_parse("1-2x", &a, &b));
	EXPECT_INT(ERR_INVALID, registry_content_range_parse("", &a, &b));
}

static struct registry_store *
t_store(void)
{
	struct registry_store *s = NULL;

	EXPECT_OK(registry_store_open(&s, "reg"));
	return s;
}

/* Put data as a blob (through a file renamed into place); its digest
 * into d. */
static void
t_blob(struct registry_store *s, const char *data, char d[DIGEST_STR_MAX])
{
	digest_buf(d, DIGEST_SHA256, data, strlen(data));
	harness_write("incoming", data, strlen(data), 0644);
	EXPECT_OK(registry_blob_commit(s, d, "incoming"));
}

static void
t_age(struct registry_store *s, const char *digest, time_t secs)
{
	char *p = registry_blob_path(s, digest);
	struct timespec ts[2] = { { time(NULL) - secs, 0 },
	    { time(NULL) - secs, 0 } };

	EXPECT_INT(0, utimensat(AT_FDCWD, p, ts, 0));
	free(p);
}

TEST(registry__store_blob_link_tag)
{
	struct registry_store *s = t_store();
	char d[DIGEST_STR_MAX], got[DIGEST_STR_MAX], *mt = NULL;
	struct registry_strv l;
	uint64_t size = 0;
	struct buf b;
	int fd = -1;

	t_blob(s, "hello", d);
	EXPECT_TRUE(fs_exists("reg/blobs/sha256/2c/2cf24dba5fb0a30e26e83b2ac5b9"
	    "e29e1b161e5c1fa7425e73043362938b9824"));
	EXPECT_OK(registry_blob_stat(s, d, &size));
	EXPECT_INT(5, size);
	EXPECT_OK(registry_blob_open(s, d, &fd, &size));
	close(fd);
	EXPECT_OK(registry_blob_read(&b, s, d, 100));
	EXPECT_STR("hello", b.ptr);
	buf_free(&b);
	EXPECT_INT(ERR_TOOBIG, registry_blob_read(&b, s, d, 3));
	EXPECT_INT(ERR_NOTFOUND, registry_blob_stat(s, "sha256:"
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    NULL));
	EXPECT_INT(ERR_INVALID, registry_blob_stat(s, "md5:00", NULL));

	EXPECT_TRUE(!registry_link_has(s, "app", d));
	EXPECT_TRUE(!registry_repo_exists(s, "app"));
	EXPECT_OK(registry_link_add(s, "app", d));
	EXPECT_OK(registry_link_add(s, "app", d));      /* idempotent */
	EXPECT_TRUE(registry_link_has(s, "app", d));
	EXPECT_TRUE(!registry_link_has(s, "app2", d));
	EXPECT_TRUE(registry_repo_exists(s, "app"));

	EXPECT_OK(registry_revision_put(s, "app", d, MT_OCI_MANIFEST));
	EXPECT_OK(registry_revision_get(&mt, s, "app", d));
	EXPECT_STR(MT_OCI_MANIFEST, mt);
	free(mt);
	EXPECT_OK(registry_tag_set(s, "app", "v2", d));
	EXPECT_OK(registry_tag_set(s, "app", "v1", d));
	EXPECT_OK(registry_tag_get(got, s, "app", "v1"));
	EXPECT_STR(d, got);
	EXPECT_OK(registry_tag_list(&l, s, "app"));
	EXPECT_INT(2, l.n);
	EXPECT_STR("v1", l.v[0]);
	EXPECT_STR("v2", l.v[1]);
	registry_strv_free(&l);
	EXPECT_INT(ERR_NOTFOUND, registry_tag_list(&l, s, "nope"));
	/* no temp file ever sits among the tags */
	EXPECT_INT(0, system("test -z \"$(ls reg/tmp)\""));

	EXPECT_OK(registry_link_add(s, "team/web", d));
	EXPECT_OK(registry_repo_list(&l, s));
	EXPECT_INT(2, l.n);
	EXPECT_STR("app", l.v[0]);
	EXPECT_STR("team/web", l.v[1]);
	registry_strv_free(&l);

	EXPECT_OK(registry_tag_remove(s, "app", "v1"));
	EXPECT_INT(ERR_NOTFOUND, registry_tag_remove(s, "app", "v1"));
	EXPECT_OK(registry_link_remove(s, "app", d));
	EXPECT_INT(ERR_NOTFOUND, registry_link_remove(s, "app", d));
	registry_store_free(s);
}

TEST(registry__store_referrers)
{
	struct registry_store *s = t_store();
	const char *sub = "sha256:"
	    "1111111111111111111111111111111111111111111111111111111111111111";
	const char *r1 = "sha256:"
	    "2222222222222222222222222222222222222222222222222222222222222222";
	const char *r2 = "sha256:"
	    "3333333333333333333333333333333333333333333333333333333333333333";
	json_t *l = NULL;

	EXPECT_OK(registry_referrer_list(&l, s, "app", sub, NULL));
	EXPECT_INT(0, json_array_size(l));
	json_decref(l);
	EXPECT_OK(registry_referrer_put(s, "app", sub, r2, "{\"digest\":\""
	    "sha256:3333333333333333333333333333333333333333333333333333333333"
	    "333333\",\"artifactType\":\"application/sig\"}"));
	EXPECT_OK(registry_referrer_put(s, "app", sub, r1, "{\"digest\":\""
	    "sha256:2222222222222222222222222222222222222222222222222222222222"
	    "222222\",\"artifactType\":\"application/sbom\"}"));
	EXPECT_OK(registry_referrer_list(&l, s, "app", sub, NULL));
	EXPECT_INT(2, json_array_size(l));
	EXPECT_STR(r1, json_string_value(json_object_get(json_array_get(l, 0),
	    "digest")));
	json_decref(l);
	EXPECT_OK(registry_referrer_list(&l, s, "app", sub, "application/sig"));
	EXPECT_INT(1, json_array_size(l));
	EXPECT_STR(r2, json_string_value(json_object_get(json_array_get(l, 0),
	    "digest")));
	json_decref(l);
	EXPECT_OK(registry_referrer_list(&l, s, "other", sub, NULL));
	EXPECT_INT(0, json_array_size(l));
	json_decref(l);
	EXPECT_OK(registry_referrer_remove(s, "app", sub, r2));
	EXPECT_OK(registry_referrer_list(&l, s, "app", sub, NULL));
	EXPECT_INT(1, json_array_size(l));
	json_decref(l);
	registry_store_free(s);
}

TEST(registry__upload_sessions)
{
	struct registry_store *s = t_store();
	char u1[REGISTRY_UUID_LEN + 1], u2[REGISTRY_UUID_LEN + 1], *p;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	unsigned removed = 99;
	int fd;

	EXPECT_OK(registry_upload_create(u1, s, "app"));
	EXPECT_OK(registry_upload_create(u2, s, "app"));
	EXPECT_TRUE(registry_uuid_valid(u1));
	EXPECT_TRUE(strcmp(u1, u2) != 0);
	EXPECT_OK(registry_upload_check(s, u1, "app"));
	/* a session answers only in its own repository */
	EXPECT_INT(ERR_NOTFOUND, registry_upload_check(s, u1, "app2"));
	EXPECT_INT(ERR_NOTFOUND, registry_upload_check(s, "../../etc", "app"));

	/* fresh sessions are not stale */
	EXPECT_OK(registry_upload_sweep(&removed, s, 3600, false));
	EXPECT_INT(0, removed);
	/* both old; u2 is being written (its data is flocked): kept */
	p = registry_upload_data(s, u1);
	EXPECT_INT(0, utimensat(AT_FDCWD, p, old, 0));
	free(p);
	p = registry_upload_data(s, u2);
	EXPECT_INT(0, utimensat(AT_FDCWD, p, old, 0));
	fd = open(p, O_WRONLY);
	EXPECT_INT(0, flock(fd, LOCK_SH));
	free(p);
	EXPECT_OK(registry_upload_sweep(&removed, s, 3600, true));
	EXPECT_INT(1, removed);
	EXPECT_OK(registry_upload_check(s, u1, "app"));         /* dry run */
	EXPECT_OK(registry_upload_sweep(&removed, s, 3600, false));
	EXPECT_INT(1, removed);
	EXPECT_INT(ERR_NOTFOUND, registry_upload_check(s, u1, "app"));
	EXPECT_OK(registry_upload_check(s, u2, "app"));
	close(fd);
	EXPECT_OK(registry_upload_remove(s, u2));
	EXPECT_INT(ERR_NOTFOUND, registry_upload_check(s, u2, "app"));
	registry_store_free(s);
}

static const char t_manifest_fmt[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
    "\"digest\":\"%s\",\"size\":%d},"
    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar"
    "+gzip\",\"digest\":\"%s\",\"size\":%d}]%s}";

TEST(registry__manifest_parse)
{
	const char *d1 = "sha256:"
	    "1111111111111111111111111111111111111111111111111111111111111111";
	struct registry_manifest *m = NULL;
	char body[2048];
	json_t *desc;

	snprintf(body, sizeof(body), t_manifest_fmt, d1, 3, d1, 4,
	    ",\"subject\":{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":"
	    "\"sha256:2222222222222222222222222222222222222222222222222222222222"
	    "222222\",\"size\":9},\"annotations\":{\"k\":\"v\"}");
	EXPECT_OK(registry_manifest_parse(&m, body, strlen(body),
	    MT_OCI_MANIFEST));
	EXPECT_STR(MT_OCI_MANIFEST, m->media_type);
	EXPECT_INT(2, m->nrefs);
	EXPECT_INT(4, m->refs[1].size);
	EXPECT_TRUE(m->subject[0] == 's');
	desc = registry_manifest_descriptor(m, d1, 99);
	EXPECT_STR("application/vnd.oci.image.config.v1+json",
	    json_string_value(json_object_get(desc, "artifactType")));
	EXPECT_STR("v", json_string_value(json_object_get(json_object_get(desc,
	    "annotations"), "k")));
	json_decref(desc);
	registry_manifest_free(m);

	/* no Content-Type: the body's mediaType decides */
	EXPECT_OK(registry_manifest_parse(&m, body, strlen(body), NULL));
	registry_manifest_free(m);
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m, body, strlen(body),
	    MT_DOCKER_MANIFEST));
	EXPECT_ERR_HAS("mediaType");

	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m, "{not json", 9,
	    MT_OCI_MANIFEST));
	EXPECT_ERR_HAS("JSON");
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m, "[]", 2,
	    MT_OCI_MANIFEST));
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m,
	    "{\"schemaVersion\":1}", 19, MT_OCI_MANIFEST));
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m,
	    "{\"schemaVersion\":2}", 19, "text/plain"));
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m,
	    "{\"schemaVersion\":2,\"layers\":[]}", 31, MT_OCI_MANIFEST));
	EXPECT_ERR_HAS("config");
	snprintf(body, sizeof(body), t_manifest_fmt, "sha256:abc", 3, d1, 4,
	    "");
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m, body, strlen(body),
	    MT_OCI_MANIFEST));
	EXPECT_ERR_HAS("config");
	snprintf(body, sizeof(body), t_manifest_fmt, d1, -3, d1, 4, "");
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m, body, strlen(body),
	    MT_OCI_MANIFEST));
	/* duplicate keys are refused */
	EXPECT_INT(ERR_INVALID, registry_manifest_parse(&m,
	    "{\"schemaVersion\":2,\"schemaVersion\":2}", 38, MT_OCI_INDEX));

	snprintf(body, sizeof(body), "{\"schemaVersion\":2,\"mediaType\":\""
	    MT_DOCKER_LIST "\",\"manifests\":[{\"mediaType\":\""
	    MT_DOCKER_MANIFEST "\",\"digest\":\"%s\",\"size\":7}]}", d1);
	EXPECT_OK(registry_manifest_parse(&m, body, strlen(body),
	    MT_DOCKER_LIST));
	EXPECT_INT(1, m->nrefs);
	EXPECT_INT(REF_MANIFEST, m->refs[0].kind);
	desc = registry_manifest_descriptor(m, d1, 99);
	EXPECT_TRUE(json_object_get(desc, "artifactType") == NULL);
	json_decref(desc);
	registry_manifest_free(m);
}

/* Push a manifest naming cfg and layer into repo as the server would. */
static void
t_push_manifest(struct registry_store *s, const char *repo, const char *cfg,
    const char *layer, char d[DIGEST_STR_MAX])
{
	char body[2048];

	snprintf(body, sizeof(body), t_manifest_fmt, cfg, 1, layer, 1, "");
	digest_buf(d, DIGEST_SHA256, body, strlen(body));
	EXPECT_OK(registry_blob_write(s, d, body, strlen(body)));
	EXPECT_OK(registry_revision_put(s, repo, d, MT_OCI_MANIFEST));
}

TEST(registry__gc_marks_and_sweeps)
{
	struct registry_store *s = t_store();
	struct registry_gc_opts o = { .upload_age = 3600 };
	struct registry_gc_report r;
	char cfg[DIGEST_STR_MAX], layer[DIGEST_STR_MAX], man[DIGEST_STR_MAX];
	char orphan[DIGEST_STR_MAX], young[DIGEST_STR_MAX];
	char child[DIGEST_STR_MAX], idx[DIGEST_STR_MAX], body[1024];

	t_blob(s, "config", cfg);
	t_blob(s, "layer", layer);
	t_blob(s, "orphan", orphan);
	t_blob(s, "young", young);
	EXPECT_OK(registry_link_add(s, "app", orphan));
	EXPECT_OK(registry_link_add(s, "app", layer));
	t_push_manifest(s, "app", cfg, layer, man);
	/* an index in another repo whose child manifest is only there */
	t_push_manifest(s, "other", cfg, cfg, child);
	snprintf(body, sizeof(body), "{\"schemaVersion\":2,\"mediaType\":\""
	    MT_OCI_INDEX "\",\"manifests\":[{\"mediaType\":\""
	    MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1}]}", child);
	digest_buf(idx, DIGEST_SHA256, body, strlen(body));
	EXPECT_OK(registry_blob_write(s, idx, body, strlen(body)));
	EXPECT_OK(registry_revision_put(s, "other", idx, MT_OCI_INDEX));
	/* all old but the young one, which a push may be about to name */
	t_age(s, cfg, 7200);
	t_age(s, layer, 7200);
	t_age(s, orphan, 7200);
	t_age(s, man, 7200);
	t_age(s, child, 7200);
	t_age(s, idx, 7200);

	o.dry_run = true;
	EXPECT_OK(registry_gc(&r, "reg", &o));
	EXPECT_INT(3, r.manifests);
	EXPECT_INT(1, r.blobs_removed);
	EXPECT_INT(1, r.links_removed);
	EXPECT_OK(registry_blob_stat(s, orphan, NULL));
	EXPECT_TRUE(registry_link_has(s, "app", orphan));

	o.dry_run = false;
	EXPECT_OK(registry_gc(&r, "reg", &o));
	EXPECT_INT(1, r.blobs_removed);
	EXPECT_INT(6, r.blobs_kept);
	EXPECT_INT(ERR_NOTFOUND, registry_blob_stat(s, orphan, NULL));
	EXPECT_TRUE(!registry_link_has(s, "app", orphan));
	EXPECT_TRUE(registry_link_has(s, "app", layer));
	EXPECT_OK(registry_blob_stat(s, young, NULL));
	EXPECT_OK(registry_blob_stat(s, cfg, NULL));
	EXPECT_OK(registry_blob_stat(s, child, NULL));
	EXPECT_OK(registry_blob_stat(s, idx, NULL));
	EXPECT_OK(registry_blob_stat(s, man, NULL));
	registry_store_free(s);
}

TEST(registry__gc_refuses_unreadable_manifest)
{
	struct registry_store *s = t_store();
	struct registry_gc_opts o = { .upload_age = 60 };
	struct registry_gc_report r;
	char bad[DIGEST_STR_MAX], orphan[DIGEST_STR_MAX];

	t_blob(s, "orphan", orphan);
	t_age(s, orphan, 7200);
	/* a revision whose bytes are not a manifest: gc cannot know what
	 * it references, so it removes nothing */
	t_blob(s, "garbage", bad);
	EXPECT_OK(registry_revision_put(s, "app", bad, MT_OCI_MANIFEST));
	EXPECT_INT(ERR_INVALID, registry_gc(&r, "reg", &o));
	EXPECT_ERR_HAS("nothing removed");
	EXPECT_OK(registry_blob_stat(s, orphan, NULL));
	EXPECT_INT(ERR_NOTFOUND, registry_gc(&r, "no-such-dir", &o));
	registry_store_free(s);
}

TEST(registry__actions_and_scopes)
{
	struct registry_grant g;
	unsigned bits = 0;
	char buf[32];

	EXPECT_OK(registry_actions_parse(&bits, "pull,push"));
	EXPECT_INT(ACT_PULL | ACT_PUSH, bits);
	EXPECT_OK(registry_actions_parse(&bits, "*"));
	EXPECT_INT(ACT_ALL, bits);
	EXPECT_INT(ERR_INVALID, registry_actions_parse(&bits, "pull,admin"));
	EXPECT_INT(ERR_INVALID, registry_actions_parse(&bits, ""));
	EXPECT_INT(ERR_INVALID, registry_actions_parse(&bits, "pul"));
	registry_actions_format(buf, sizeof(buf), ACT_PULL | ACT_DELETE);
	EXPECT_STR("pull,delete", buf);

	EXPECT_OK(registry_scope_parse(&g, "repository:team/app:pull,push"));
	EXPECT_STR("repository", g.type);
	EXPECT_STR("team/app", g.name);
	EXPECT_INT(ACT_PULL | ACT_PUSH, g.actions);
	free(g.type);
	free(g.name);
	EXPECT_OK(registry_scope_parse(&g, "registry:catalog:*"));
	free(g.type);
	free(g.name);
	EXPECT_INT(ERR_INVALID, registry_scope_parse(&g, "repository:app"));
	EXPECT_INT(ERR_INVALID, registry_scope_parse(&g,
	    "repository:../x:pull"));
	EXPECT_INT(ERR_INVALID, registry_scope_parse(&g, "file:/etc:pull"));
}

static char *
t_token(const char *repo, const char *actions, unsigned ttl, time_t now)
{
	struct registry_token_access a = { "repository", repo, actions };
	char *tok = NULL;

	EXPECT_OK(registry_token_mint(&tok, key, 32, "svc", "alice", &a, 1,
	    ttl, now));
	return tok;
}

TEST(registry__token_scope_matching)
{
	struct registry_grants *g = NULL;
	char *tok = t_token("app", "pull,push", 300, 1000);

	EXPECT_OK(registry_token_verify(&g, tok, key, 32, "svc", 1100));
	EXPECT_STR("alice", g->sub);
	EXPECT_TRUE(registry_grants_allow(g, "repository", "app", ACT_PULL));
	EXPECT_TRUE(registry_grants_allow(g, "repository", "app",
	    ACT_PULL | ACT_PUSH));
	EXPECT_TRUE(!registry_grants_allow(g, "repository", "app",
	    ACT_DELETE));
	/* exact names only: no prefix, no suffix, no other type */
	EXPECT_TRUE(!registry_grants_allow(g, "repository", "ap", ACT_PULL));
	EXPECT_TRUE(!registry_grants_allow(g, "repository", "app2",
	    ACT_PULL));
	EXPECT_TRUE(!registry_grants_allow(g, "repository", "app/x",
	    ACT_PULL));
	EXPECT_TRUE(!registry_grants_allow(g, "registry", "app", ACT_PULL));
	EXPECT_TRUE(!registry_grants_allow(NULL, "repository", "app",
	    ACT_PULL));
	registry_grants_free(g);

	/* another audience, expired, not ours */
	EXPECT_INT(ERR_AUTH, registry_token_verify(&g, tok, key, 32, "other",
	    1100));
	EXPECT_ERR_HAS("service");
	EXPECT_INT(ERR_AUTH, registry_token_verify(&g, tok, key, 32, "svc",
	    5000));
	EXPECT_ERR_HAS("expired");
	EXPECT_INT(ERR_AUTH, registry_token_verify(&g, tok,
	    (const unsigned char *)"another key, quite different!!!!", 32,
	    "svc", 1100));
	free(tok);

	tok = t_token("app", "*", 300, 1000);
	EXPECT_OK(registry_token_verify(&g, tok, key, 32, "svc", 1100));
	EXPECT_TRUE(registry_grants_allow(g, "repository", "app", ACT_ALL));
	registry_grants_free(g);
	free(tok);
	EXPECT_INT(ERR_INVALID, registry_token_mint(&tok, key, 32, "svc", "a",
	    &(struct registry_token_access){ "repository", "Bad", "pull" }, 1,
	    300, 1000));
	EXPECT_INT(ERR_INVALID, registry_token_mint(&tok, key, 32, "svc", "a",
	    &(struct registry_token_access){ "repository", "app", "own" }, 1,
	    300, 1000));
}

TEST(registry__token_wrong_issuer)
{
	struct registry_grants *g = NULL;
	json_t *c = json_pack("{s:s,s:s,s:I,s:[{s:s,s:s,s:[s]}]}", "iss",
	    "someone", "aud", "svc", "exp", (json_int_t)2000, "access", "type",
	    "repository", "name", "app", "actions", "pull");
	char *tok = NULL;

	EXPECT_OK(jwt_mint(&tok, c, key, 32));
	EXPECT_INT(ERR_AUTH, registry_token_verify(&g, tok, key, 32, "svc",
	    1000));
	EXPECT_ERR_HAS("issued");
	json_decref(c);
	free(tok);
}
