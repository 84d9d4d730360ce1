/*
 * Unit tests for the builder's parsers (slipway.yml, bin/release, the YAML
 * tree under both), the tree export, and the SSH admin command splitter:
 * good input read right, every kind of bad input refused with a message
 * that names the line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "../../builder/builder_int.h"
#include "../../hooks/hooks_int.h"
#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/builder.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/image.h"
#include "slipway/slug.h"

static struct builder_manifest *
manifest(const char *text)
{
	struct builder_manifest *m = NULL;

	if (builder_manifest_parse(&m, text, strlen(text)) < 0)
		harness_fail(__FILE__, __LINE__, "manifest: %s", err_last());
	return m;
}

/* The manifest must be refused with a message containing needle. */
#define MANIFEST_BAD(text, needle) do {					\
	struct builder_manifest *m_ = NULL;				\
	int rc_ = builder_manifest_parse(&m_, (text), strlen(text));	\
	if (rc_ >= 0)							\
		harness_fail(__FILE__, __LINE__, "accepted: %s", (text)); \
	EXPECT_INT(ERR_INVALID, rc_);					\
	EXPECT_TRUE(m_ == NULL);					\
	EXPECT_ERR_HAS(needle);						\
} while (0)

#define RELEASE_BAD(text, needle) do {					\
	struct builder_release *r_ = NULL;				\
	int rc_ = builder_release_parse(&r_, (text), strlen(text));	\
	if (rc_ >= 0)							\
		harness_fail(__FILE__, __LINE__, "accepted: %s", (text)); \
	EXPECT_TRUE(r_ == NULL);					\
	EXPECT_ERR_HAS(needle);						\
} while (0)

TEST(builder__manifest_full)
{
	struct builder_manifest *m = manifest(
	    "# the app's manifest\n"
	    "deploy_branch: production\n"
	    "buildpacks:\n"
	    "  - https://example.com/bp.git#v3\n"
	    "  - shell\n"
	    "stack: bookworm\n"
	    "healthcheck:\n"
	    "  path: /health\n"
	    "  interval: 2\n"
	    "  timeout: 5\n"
	    "  deadline: 90\n"
	    "processes:\n"
	    "  web: ./server --port $PORT\n"
	    "  worker: \"./work --queue 'a b'\"\n");
	char *h;

	EXPECT_STR("production", m->deploy_branch);
	EXPECT_STR("bookworm", m->stack);
	EXPECT_INT(2, m->nbuildpacks);
	EXPECT_STR("https://example.com/bp.git#v3", m->buildpacks[0]);
	EXPECT_STR("shell", m->buildpacks[1]);
	EXPECT_STR("/health", m->health_path);
	EXPECT_INT(2, m->health_interval);
	EXPECT_INT(5, m->health_timeout);
	EXPECT_INT(90, m->health_deadline);
	EXPECT_INT(2, m->processes->n);
	EXPECT_STR("web", m->processes->procs[0].type);
	EXPECT_STR("./server --port $PORT", m->processes->procs[0].command);
	EXPECT_STR("./work --queue 'a b'", m->processes->procs[1].command);
	h = builder_manifest_health_json(m);
	EXPECT_STR("{\"deadline\":90,\"interval\":2,\"path\":\"/health\","
	    "\"timeout\":5}", h);
	free(h);
	builder_manifest_free(m);
}

TEST(builder__manifest_empty_and_partial)
{
	struct builder_manifest *m = manifest("");

	EXPECT_TRUE(m->deploy_branch == NULL && m->nbuildpacks == 0 &&
	    m->health_path == NULL && m->processes == NULL);
	EXPECT_TRUE(builder_manifest_health_json(m) == NULL);
	builder_manifest_free(m);
	m = manifest("---\n# nothing but a comment\n");
	EXPECT_TRUE(m->deploy_branch == NULL);
	builder_manifest_free(m);
	/* a health check with only a timeout checks "/" */
	m = manifest("healthcheck:\n  timeout: 3\nbuildpacks: []\n");
	EXPECT_STR("/", m->health_path);
	EXPECT_INT(3, m->health_timeout);
	EXPECT_INT(0, m->nbuildpacks);
	builder_manifest_free(m);
	m = manifest("processes: {}\n");
	EXPECT_INT(0, m->processes->n);
	builder_manifest_free(m);
}

TEST(builder__manifest_refuses_unknown_keys_with_lines)
{
	MANIFEST_BAD("deploy_branch: main\nbranch: main\n",
	    "slipway.yml line 2: unknown key 'branch'");
	MANIFEST_BAD("healthcheck:\n  path: /\n  retries: 3\n",
	    "line 3: unknown key 'healthcheck.retries'");
	MANIFEST_BAD("\n\n\nbuild: {}\n", "line 4");
}

TEST(builder__manifest_refuses_bad_values)
{
	MANIFEST_BAD("- a\n- b\n", "the top level must be a mapping");
	MANIFEST_BAD("just a string\n", "the top level must be a mapping");
	MANIFEST_BAD("deploy_branch: [a]\n", "'deploy_branch' must be");
	MANIFEST_BAD("deploy_branch: ../x\n", "'deploy_branch' must be");
	MANIFEST_BAD("deploy_branch: -x\n", "'deploy_branch' must be");
	MANIFEST_BAD("buildpacks: shell\n", "'buildpacks' must be a list");
	MANIFEST_BAD("buildpacks:\n  - {a: b}\n", "line 2: a buildpack is");
	MANIFEST_BAD("buildpacks:\n  - \"a b\"\n", "a buildpack is");
	MANIFEST_BAD("buildpacks: [a,b,c,d,e,f,g,h,i]\n", "at most 8");
	/* a path would have the builder (root) copy a host directory */
	MANIFEST_BAD("buildpacks:\n  - /etc\n", "line 2: buildpack '/etc' "
	    "is a path");
	MANIFEST_BAD("buildpacks:\n  - ./bp\n", "is a path");
	MANIFEST_BAD("buildpacks:\n  - x/../y\n", "is a path");
	MANIFEST_BAD("buildpacks:\n  - file:///srv/bp.git\n", "is a path");
	MANIFEST_BAD("stack: ../x\n", "'stack' must be a stack's name");
	MANIFEST_BAD("stack: [a]\n", "'stack' must be");
	MANIFEST_BAD("healthcheck: /health\n", "must be a mapping");
	MANIFEST_BAD("healthcheck:\n  path: health\n", "starting with '/'");
	MANIFEST_BAD("healthcheck:\n  path: \"/a b\"\n", "without spaces");
	MANIFEST_BAD("healthcheck:\n  timeout: 0\n", "1 to 600 seconds");
	MANIFEST_BAD("healthcheck:\n  timeout: -1\n", "1 to 600");
	MANIFEST_BAD("healthcheck:\n  timeout: 5s\n", "1 to 600");
	MANIFEST_BAD("healthcheck:\n  timeout: \"5\"\n", "a number");
	MANIFEST_BAD("healthcheck:\n  deadline: 99999999999999999999\n",
	    "1 to 3600");
	MANIFEST_BAD("processes: [web]\n", "must be a mapping of process type");
	MANIFEST_BAD("processes:\n  web:\n", "line 2: process type 'web' "
	    "needs a command");
	MANIFEST_BAD("processes:\n  \"we b\": x\n", "is not a process type");
	MANIFEST_BAD("processes:\n  web: [a]\n", "needs a command");
	MANIFEST_BAD("processes:\n  web: \"a\\nb\"\n", "must be one line");
}

TEST(builder__yaml_refuses_hostile_documents)
{
	char *big;
	struct buf b;

	MANIFEST_BAD("deploy_branch: a\ndeploy_branch: b\n",
	    "line 2: 'deploy_branch' is given twice");
	MANIFEST_BAD("processes:\n  web: a\n  web: b\n", "given twice");
	MANIFEST_BAD("a: &x [1]\nb: *x\n", "aliases");
	MANIFEST_BAD("deploy_branch: a\n---\ndeploy_branch: b\n",
	    "only one YAML document");
	MANIFEST_BAD("deploy_branch: [a\n", "slipway.yml line");
	MANIFEST_BAD("\tdeploy_branch: a\n", "slipway.yml line 1");
	MANIFEST_BAD("? [a, b]\n: c\n", "a key must be a plain value");
	MANIFEST_BAD("processes:\n  web: \"a\\0b\"\n", "NUL");
	/* deeper than the cap */
	buf_init(&b, 0);
	for (int i = 0; i < 40; i++)
		buf_puts(&b, "[");
	for (int i = 0; i < 40; i++)
		buf_puts(&b, "]");
	buf_puts(&b, "\n");
	MANIFEST_BAD(b.ptr, "nested deeper");
	buf_free(&b);
	/* more values than the cap */
	buf_init(&b, 0);
	buf_puts(&b, "buildpacks: [");
	for (int i = 0; i < 5000; i++)
		buf_puts(&b, "a,");
	buf_puts(&b, "a]\n");
	MANIFEST_BAD(b.ptr, "more than 4096 values");
	buf_free(&b);
	/* a value longer than the cap */
	big = xmalloc(20000);
	memcpy(big, "deploy_branch: ", 15);
	memset(big + 15, 'a', 19000);
	strcpy(big + 19015, "\n");
	MANIFEST_BAD(big, "longer than");
	free(big);
	/* the file itself over the cap */
	{
		struct builder_manifest *m = NULL;
		char *huge = xcalloc(1, BUILDER_YAML_MAX + 2);
		memset(huge, '#', BUILDER_YAML_MAX + 1);
		EXPECT_INT(ERR_TOOBIG, builder_manifest_parse(&m, huge,
		    BUILDER_YAML_MAX + 1));
		free(huge);
	}
}

TEST(builder__release_yaml)
{
	const char *text = "---\naddons:\n  - heroku-postgresql\n"
	    "config_vars:\n  PATH: /app/bin\n  LANG: C\n"
	    "default_process_types:\n  web: bin/web --port $PORT\n"
	    "  worker: bin/worker\n"
	    "something_new: ignored\n";
	struct builder_release *r = NULL;

	EXPECT_OK(builder_release_parse(&r, text, strlen(text)));
	EXPECT_INT(2, r->default_process_types->n);
	EXPECT_STR("web", r->default_process_types->procs[0].type);
	EXPECT_STR("bin/web --port $PORT",
	    r->default_process_types->procs[0].command);
	EXPECT_STR("bin/worker", r->default_process_types->procs[1].command);
	EXPECT_INT(1, r->addons);
	EXPECT_INT(2, r->config_vars);
	builder_release_free(r);
	/* nothing printed, or no process types: an empty list */
	EXPECT_OK(builder_release_parse(&r, "", 0));
	EXPECT_INT(0, r->default_process_types->n);
	builder_release_free(r);
	EXPECT_OK(builder_release_parse(&r, "---\naddons: []\n", 15));
	EXPECT_INT(0, r->default_process_types->n);
	EXPECT_INT(0, r->addons);
	builder_release_free(r);
	EXPECT_OK(builder_release_parse(&r, "default_process_types:\n", 23));
	EXPECT_INT(0, r->default_process_types->n);
	builder_release_free(r);
}

TEST(builder__release_yaml_refused)
{
	RELEASE_BAD("- web\n", "bin/release line 1: the output must be a "
	    "YAML mapping");
	RELEASE_BAD("plain text from a broken buildpack\n", "must be a YAML "
	    "mapping");
	RELEASE_BAD("default_process_types: web\n", "must be a mapping of "
	    "process type");
	RELEASE_BAD("default_process_types:\n  web: [a, b]\n",
	    "bin/release line 2: process type 'web' needs a command");
	RELEASE_BAD("default_process_types:\n  web/x: a\n", "is not a process "
	    "type");
	RELEASE_BAD("default_process_types:\n  web: a\n  web: b\n",
	    "given twice");
	RELEASE_BAD("default_process_types: {web: a\n", "bin/release line");
	RELEASE_BAD("a: &x b\nc: *x\n", "aliases");
}

/* ---- export ---- */

TEST(builder__export_tree_minus_slugignore)
{
	git_repository *repo = NULL;
	git_oid commit;
	uint64_t files = 0;
	struct stat st;
	char link[64];
	ssize_t n;

	SH("git init -q -b main src && cd src && mkdir -p lib/deep logs && "
	    "echo a > lib/a.rb && echo b > lib/deep/b.rb && echo x > "
	    "logs/x.log && echo secret > notes.txt && printf '#!/bin/sh\\n' "
	    "> run && chmod +x run && ln -s lib/a.rb link && "
	    "printf '*.log\\n/notes.txt\\n' > .slugignore && git add -A && "
	    "git -c user.email=t@t -c user.name=t commit -q -m one");
	EXPECT_OK(slug_repo_open(&repo, "src", NULL));
	EXPECT_OK(slug_rev_resolve(&commit, repo, "HEAD"));
	EXPECT_TRUE(mkdir("out", 0755) == 0);
	EXPECT_OK(builder_export_tree(&files, repo, &commit, "out", 1 << 20));
	EXPECT_TRUE(fs_exists("out/lib/a.rb") && fs_exists("out/lib/deep/b.rb"));
	EXPECT_TRUE(!fs_exists("out/logs/x.log") && fs_is_dir("out/logs"));
	EXPECT_TRUE(!fs_exists("out/notes.txt"));
	EXPECT_TRUE(fs_exists("out/.slugignore"));
	EXPECT_TRUE(!fs_exists("out/.git"));
	EXPECT_TRUE(stat("out/run", &st) == 0 && (st.st_mode & 0111));
	EXPECT_TRUE(stat("out/lib/a.rb", &st) == 0 && !(st.st_mode & 0111));
	n = readlink("out/link", link, sizeof(link) - 1);
	EXPECT_TRUE(n > 0);
	link[n] = '\0';
	EXPECT_STR("lib/a.rb", link);
	EXPECT_INT(4, files);   /* a.rb, b.rb, run, .slugignore */
	/* a cap below the tree's size */
	EXPECT_TRUE(mkdir("small", 0755) == 0);
	EXPECT_INT(ERR_TOOBIG, builder_export_tree(&files, repo, &commit,
	    "small", 4));
	slug_repo_free(repo);
}

TEST(builder__export_refuses_submodules)
{
	git_repository *repo = NULL;
	git_oid commit;
	uint64_t files = 0;

	SH("git init -q -b main src && cd src && echo a > a && "
	    "git update-index --add --cacheinfo "
	    "160000,1234567890123456789012345678901234567890,vendor/lib && "
	    "git add a && git -c user.email=t@t -c user.name=t commit -q -m x");
	EXPECT_OK(slug_repo_open(&repo, "src", NULL));
	EXPECT_OK(slug_rev_resolve(&commit, repo, "HEAD"));
	EXPECT_TRUE(mkdir("out", 0755) == 0);
	EXPECT_INT(ERR_UNSUPPORTED, builder_export_tree(&files, repo, &commit,
	    "out", 1 << 20));
	EXPECT_ERR_HAS("'vendor/lib' is a submodule");
	slug_repo_free(repo);
}

/* Sparse files: git stores them in almost nothing, the caps count their
 * full size each time a tree names them. */
TEST(builder__tree_check_caps)
{
	struct builder_limits l;
	git_repository *repo = NULL;
	git_oid commit;

	SH("git init -q -b main src && cd src && mkdir d && "
	    "truncate -s 5M a.bin && truncate -s 5M d/b.bin && echo x > x && "
	    "git add -A && git -c user.email=t@t -c user.name=t commit -q -m x");
	EXPECT_OK(slug_repo_open(&repo, "src", NULL));
	EXPECT_OK(slug_rev_resolve(&commit, repo, "HEAD"));
	unsetenv("SLIPWAY_PUSH_MAX_SIZE");
	unsetenv("SLIPWAY_PUSH_MAX_FILE");
	EXPECT_OK(builder_limits_get(&l));
	EXPECT_INT(BUILDER_PUSH_MAX_SIZE_DEFAULT, l.max_size);
	EXPECT_OK(builder_tree_check(&l, repo, &commit));

	setenv("SLIPWAY_PUSH_MAX_FILE", "4M", 1);
	EXPECT_OK(builder_limits_get(&l));
	EXPECT_INT(ERR_TOOBIG, builder_tree_check(&l, repo, &commit));
	EXPECT_ERR_HAS("'a.bin' is 5 MiB; one file may be at most 4 MiB, set "
	    "by SLIPWAY_PUSH_MAX_FILE");
	/* the same blob twice is 10 MiB */
	setenv("SLIPWAY_PUSH_MAX_FILE", "8M", 1);
	setenv("SLIPWAY_PUSH_MAX_SIZE", "8M", 1);
	EXPECT_OK(builder_limits_get(&l));
	EXPECT_INT(ERR_TOOBIG, builder_tree_check(&l, repo, &commit));
	EXPECT_ERR_HAS("the pushed tree expands to more than 8 MiB; the limit "
	    "is 8 MiB, set by SLIPWAY_PUSH_MAX_SIZE");
	/* the defaults say so, and how to change them */
	unsetenv("SLIPWAY_PUSH_MAX_SIZE");
	l.max_size = 8 << 20;
	l.size_set = false;
	EXPECT_INT(ERR_TOOBIG, builder_tree_check(&l, repo, &commit));
	EXPECT_ERR_HAS("the limit is 8 MiB, the default "
	    "(SLIPWAY_PUSH_MAX_SIZE in the server's environment changes it)");
	setenv("SLIPWAY_PUSH_MAX_SIZE", "12x", 1);
	EXPECT_INT(ERR_INVALID, builder_limits_get(&l));
	EXPECT_ERR_HAS("SLIPWAY_PUSH_MAX_SIZE='12x' is not a size");
	setenv("SLIPWAY_PUSH_MAX_SIZE", "0", 1);
	EXPECT_INT(ERR_INVALID, builder_limits_get(&l));
	unsetenv("SLIPWAY_PUSH_MAX_SIZE");
	unsetenv("SLIPWAY_PUSH_MAX_FILE");
	slug_repo_free(repo);
}

/* One tree named a hundred times in a tree named a hundred times...: a
 * few hundred bytes that expand to millions of entries. */
TEST(builder__tree_check_refuses_tree_bombs)
{
	struct builder_limits l;
	git_repository *repo = NULL;
	git_oid commit;

	SH("git init -q -b main src && cd src && "
	    "t=$(git mktree </dev/null) && "
	    "for level in 1 2 3; do "
	    "t=$(for i in $(seq 1 101); do printf '040000 tree %%s\\td%%s\\n' "
	    "$t $i; done | git mktree); done && "
	    "c=$(git -c user.email=t@t -c user.name=t commit-tree -m x $t) && "
	    "git update-ref refs/heads/main $c");
	EXPECT_OK(slug_repo_open(&repo, "src", NULL));
	EXPECT_OK(slug_rev_resolve(&commit, repo, "HEAD"));
	EXPECT_OK(builder_limits_get(&l));
	EXPECT_INT(ERR_TOOBIG, builder_tree_check(&l, repo, &commit));
	EXPECT_ERR_HAS("the pushed tree has more than 1000000 files and "
	    "directories");
	slug_repo_free(repo);
}

/* Big files go out in pieces, loose or packed, and zeros stay holes. */
TEST(builder__export_streams_big_files)
{
	git_repository *repo = NULL;
	git_oid commit;
	uint64_t files = 0;
	struct stat st;

	SH("git init -q -b main src && cd src && "
	    "head -c 1500000 /dev/urandom > mixed && "
	    "truncate -s 5000000 mixed && head -c 1000 /dev/urandom >> mixed && "
	    "truncate -s 8M zeros && git add -A && "
	    "git -c user.email=t@t -c user.name=t commit -q -m x");
	for (int packed = 0; packed < 2; packed++) {
		const char *out = packed ? "out2" : "out1";
		char cmd[128];

		if (packed)
			SH("cd src && git repack -adq && git prune && "
			    "test -z \"$(find .git/objects -type f -path "
			    "'*/objects/[0-9a-f][0-9a-f]/*')\"");
		EXPECT_OK(slug_repo_open(&repo, "src", NULL));
		EXPECT_OK(slug_rev_resolve(&commit, repo, "HEAD"));
		EXPECT_TRUE(mkdir(out, 0755) == 0);
		EXPECT_OK(builder_export_tree(&files, repo, &commit, out,
		    64 << 20));
		EXPECT_INT(2, files);
		snprintf(cmd, sizeof(cmd), "cmp src/mixed %s/mixed && "
		    "cmp src/zeros %s/zeros", out, out);
		SH("%s", cmd);
		snprintf(cmd, sizeof(cmd), "%s/zeros", out);
		EXPECT_TRUE(stat(cmd, &st) == 0 && st.st_size == 8 << 20);
		EXPECT_TRUE(st.st_blocks * 512 < (1 << 20));
		slug_repo_free(repo);
		repo = NULL;
	}
}

/* A full disk, however it was worded below, is one line a person can
 * act on. */
TEST(builder__disk_full_line)
{
	errno = ENOSPC;
	err_sys("cannot write '/h/builds/work/x/slug.tgz'");
	err_wrap(ERR_IO, "cannot make the slug");
	EXPECT_TRUE(builder_disk_full("/h/builds/work/x"));
	EXPECT_STR("the server's disk is full (cannot make the slug: cannot "
	    "write '/h/builds/work/x/slug.tgz' at /h/builds/work/x); free "
	    "space and push again", err_last());
	errno = EDQUOT;
	err_sys("cannot write the slug");
	EXPECT_TRUE(builder_disk_full("/h"));
	EXPECT_STR("the server's disk is full (cannot write the slug at /h); "
	    "free space and push again", err_last());
	/* the registry names its own disk: no local path */
	err_set(ERR_IO, "cannot push the image: registry answered 507 "
	    "UNKNOWN: cannot store the upload: no space left on the "
	    "registry's disk");
	EXPECT_TRUE(builder_disk_full("/h"));
	EXPECT_STR("the server's disk is full (cannot push the image: "
	    "registry answered 507 UNKNOWN: cannot store the upload: no space "
	    "left on the registry's disk); free space and push again",
	    err_last());
	err_set(ERR_IO, "cannot write the slug: Broken pipe");
	EXPECT_TRUE(!builder_disk_full("/h"));
	EXPECT_STR("cannot write the slug: Broken pipe", err_last());
}

TEST(builder__tree_file)
{
	git_repository *repo = NULL;
	git_oid commit;
	struct buf b;

	SH("git init -q -b main src && cd src && printf 'web: x\\n' > "
	    "Procfile && mkdir slipway.yml && touch slipway.yml/x && "
	    "git add -A && git -c user.email=t@t -c user.name=t commit -q "
	    "-m x");
	EXPECT_OK(slug_repo_open(&repo, "src", NULL));
	EXPECT_OK(slug_rev_resolve(&commit, repo, "HEAD"));
	EXPECT_OK(builder_tree_file(&b, repo, &commit, "Procfile", 100));
	EXPECT_STR("web: x\n", b.ptr);
	buf_free(&b);
	EXPECT_INT(ERR_TOOBIG, builder_tree_file(&b, repo, &commit,
	    "Procfile", 3));
	/* a directory is not the file */
	EXPECT_INT(ERR_NOTFOUND, builder_tree_file(&b, repo, &commit,
	    "slipway.yml", 100));
	EXPECT_INT(ERR_NOTFOUND, builder_tree_file(&b, repo, &commit,
	    "nothing", 100));
	slug_repo_free(repo);
}

/* ---- the SSH admin command splitter ---- */

static char **
words(const char *line, size_t *n)
{
	char **w = NULL;

	if (hooks_words_split(&w, n, line, 8) < 0)
		harness_fail(__FILE__, __LINE__, "split '%s': %s", line,
		    err_last());
	return w;
}

TEST(hooks__words_split_like_a_shell_without_expansion)
{
	size_t n;
	char **w = words("config:set  shop 'A=b c' \"D=\\\"e\\\" $(id)\" "
	    "F=g\\ h", &n);

	EXPECT_INT(4 + 1, n);
	EXPECT_STR("config:set", w[0]);
	EXPECT_STR("shop", w[1]);
	EXPECT_STR("A=b c", w[2]);
	EXPECT_STR("D=\"e\" $(id)", w[3]);
	EXPECT_STR("F=g h", w[4]);
	EXPECT_TRUE(w[5] == NULL);
	hooks_words_free(w);
	w = words("   ", &n);
	EXPECT_INT(0, n);
	hooks_words_free(w);
	w = words("a'b'\"c\" ''", &n);
	EXPECT_INT(2, n);
	EXPECT_STR("abc", w[0]);
	EXPECT_STR("", w[1]);
	hooks_words_free(w);
}

TEST(hooks__words_split_refuses)
{
	char **w = NULL;
	size_t n;

	EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n, "a 'b", 8));
	EXPECT_ERR_HAS("not closed");
	EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n, "a \"b", 8));
	EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n, "a\nb", 8));
	EXPECT_ERR_HAS("control character");
	EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n, "a \"b\x01\"", 8));
	EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n, "a\\", 8));
	EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n,
	    "1 2 3 4 5 6 7 8 9", 8));
	EXPECT_ERR_HAS("more than 8 words");
	EXPECT_TRUE(w == NULL);
}

/* A control byte is refused wherever it stands: bare, inside either
 * quote, or after a backslash (issue 18: quotes once let them through). */
TEST(hooks__words_split_refuses_control_bytes_in_quotes)
{
	static const char *const lines[] = {
		"a 'b\nc'", "a 'b\x01'", "a 'b\x1b[2J'", "a 'b\x7f'",
		"a \"b\x7f\"", "a \"b\nc\"", "a \\\x7f", "a \\\x1b",
		"a \x7f", "a\tb 'c\td'",
	};
	char **w = NULL;
	size_t n;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		EXPECT_INT(ERR_INVALID, hooks_words_split(&w, &n, lines[i], 8));
		EXPECT_ERR_HAS("control character");
		EXPECT_TRUE(w == NULL);
	}
	/* a tab between words is a separator, not a control byte */
	w = words("a\tb", &n);
	EXPECT_INT(2, n);
	hooks_words_free(w);
}

/* ---- the image from a slug whose digests the builder already has ---- */

TEST(builder__image_from_known_slug_digests_is_the_same_image)
{
	struct slug_opts so = SLUG_OPTS_INIT;
	struct slug_info si;
	struct image_desc a = { 0 }, b = { 0 };
	struct image_process web = { "web", "./server" };
	struct stat s1, s2;
	char *blob;

	SH("mkdir -p src && echo hello > src/index.html");
	EXPECT_OK(slug_create_dir_file(&si, "src", "slug.tgz", &so));
	struct image_build_opts o = { .slug = "slug.tgz", .out = "one",
	    .tag = "v1", .procs = &web, .nprocs = 1 };
	EXPECT_OK(image_build(&a, &o));
	o.out = "two";
	o.slug_digest = si.digest;
	o.slug_diff_id = si.diff_id;
	EXPECT_OK(image_build(&b, &o));
	EXPECT_STR(a.digest, b.digest);
	/* the layer blob is the slug file itself, linked, not a copy */
	blob = xasprintf("two/blobs/sha256/%s", si.digest + 7);
	EXPECT_TRUE(stat("slug.tgz", &s1) == 0 && stat(blob, &s2) == 0);
	EXPECT_TRUE(s1.st_ino == s2.st_ino);
	free(blob);
	/* building again finds the blob there */
	image_desc_clear(&b);
	EXPECT_OK(image_build(&b, &o));
	image_desc_clear(&a);
	image_desc_clear(&b);
	/* digests that are not digests are refused */
	o.out = "three";
	o.slug_digest = "sha256:nope";
	EXPECT_INT(ERR_INVALID, image_build(&b, &o));
}
