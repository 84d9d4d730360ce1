/*
 * Unit tests for slug/: Procfile and .slugignore parsing, slugs of git
 * trees (real repos made with the git CLI) and directories, the gzip
 * engines, reading slugs back, and the hostile cases of each.
 */
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <git2.h>

#include "harness.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/proc.h"
#include "slipway/slug.h"

/* ---- helpers */

/* git with a fixed identity and clock, and no user or system config. */
static void
fixed_git_env(void)
{
	setenv("HOME", harness_tmpdir(), 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "t", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "t", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
	setenv("GIT_AUTHOR_DATE", "2024-05-06T07:08:09Z", 1);
	setenv("GIT_COMMITTER_DATE", "2024-05-06T07:08:09Z", 1);
}

/* A repo "r" with a small app in it, committed. */
static void
make_app_repo(void)
{
	fixed_git_env();
	SH("git init -q -b main r");
	harness_write("r/Procfile", "web: ./bin/web\nworker: ./bin/w\n", 31,
	    0644);
	harness_write("r/bin/web", "#!/bin/sh\necho web\n", 19, 0755);
	harness_write("r/bin/w", "#!/bin/sh\n", 10, 0755);
	harness_write("r/lib/deep/er/x.txt", "x\n", 2, 0644);
	harness_write("r/empty", "", 0, 0644);
	SH("ln -s lib/deep/er/x.txt r/link && cd r && git add -A && "
	    "git commit -qm one");
}

static git_repository *
open_repo(const char *path)
{
	git_repository *repo = NULL;

	EXPECT_OK(slug_repo_open(&repo, path, NULL));
	return repo;
}

/* Slug of rev in repo written to file; returns its info. */
static struct slug_info
tree_slug(const char *repo_path, const char *rev, const char *file,
    const struct slug_opts *opts)
{
	git_repository *repo = open_repo(repo_path);
	struct slug_info info;
	git_oid oid;

	EXPECT_OK(slug_rev_resolve(&oid, repo, rev));
	EXPECT_OK(slug_create_tree_file(&info, repo, &oid, file, opts));
	slug_repo_free(repo);
	return info;
}

/* The process's stdout of a shell command, trailing newline dropped. */
static char *
sh_out(const char *cmd)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	struct buf out;

	buf_init(&out, 1 << 20);
	EXPECT_INT(0, proc_run(&out, argv, 0, 1 << 20));
	if (out.len && out.ptr[out.len - 1] == '\n')
		out.ptr[--out.len] = '\0';
	return buf_detach(&out, NULL);
}

/* ---- Procfile */

TEST(slug__procfile_valid)
{
	static const char text[] =
	    "\xef\xbb\xbf# a comment\r\n"
	    "web: bundle exec puma -p $PORT   \r\n"
	    "\n"
	    "   \t\n"
	    "  # indented comment\n"
	    "worker:sleep 1\n"
	    "clock_2-x:\t./clock --every 5m";
	struct slug_procfile *pf = NULL;

	EXPECT_OK(slug_procfile_parse(&pf, text, sizeof(text) - 1));
	EXPECT_INT(3, pf->n);
	EXPECT_STR("web", pf->procs[0].type);
	EXPECT_STR("bundle exec puma -p $PORT", pf->procs[0].command);
	EXPECT_STR("worker", pf->procs[1].type);
	EXPECT_STR("sleep 1", pf->procs[1].command);
	EXPECT_STR("./clock --every 5m", slug_procfile_get(pf, "clock_2-x"));
	EXPECT_TRUE(slug_procfile_get(pf, "nope") == NULL);
	slug_procfile_free(pf);

	EXPECT_OK(slug_procfile_parse(&pf, "# only comments\n", 16));
	EXPECT_INT(0, pf->n);
	slug_procfile_free(pf);
}

static void
expect_procfile_error(const char *text, size_t len, const char *needle)
{
	struct slug_procfile *pf = NULL;

	err_clear();
	EXPECT_INT(ERR_INVALID, slug_procfile_parse(&pf, text, len));
	EXPECT_TRUE(pf == NULL);
	EXPECT_ERR_HAS(needle);
}

TEST(slug__procfile_hostile_lines)
{
	char big[SLUG_PROC_LINE_MAX + 32];
	struct buf many;
	struct slug_procfile *pf = NULL;

	expect_procfile_error("web: a\nnot a process line\n", 26, "line 2:");
	expect_procfile_error("web: a\nworker:\n", 15, "line 2: process "
	    "type 'worker' has no command");
	expect_procfile_error("web: a\n\nweb: b\n", 15, "line 3: process "
	    "type 'web' is defined twice");
	expect_procfile_error("w.eb: a\n", 8, "line 1: process type may "
	    "only have");
	expect_procfile_error(" web: a\n", 8, "line 1: the process type "
	    "must start");
	expect_procfile_error(": a\n", 4, "line 1: expected 'type: command'");
	expect_procfile_error("web: a\0b\n", 9, "line 1: has a NUL byte");
	expect_procfile_error("web: a\x1b[31m\n", 11, "line 1: the command "
	    "has a control character");
	expect_procfile_error("web: a\rb\n", 9, "control character");
	expect_procfile_error("x\n", 2, "line 1:");

	memset(big, 'a', 70);
	memcpy(big + 70, ": x\n", 4);
	expect_procfile_error(big, 74, "longer than 63 characters");
	memcpy(big, "web: ", 5);
	memset(big + 5, 'x', sizeof(big) - 5);
	expect_procfile_error(big, sizeof(big), "line 1: longer than");

	buf_init(&many, 0);
	for (int i = 0; i <= SLUG_PROC_MAX; i++)
		buf_printf(&many, "p%d: run\n", i);
	expect_procfile_error(many.ptr, many.len, "line 101: more than 100");
	buf_free(&many);

	err_clear();
	EXPECT_INT(ERR_TOOBIG, slug_procfile_parse(&pf, big,
	    SLUG_SMALL_FILE_MAX + 1));
}

/* ---- .slugignore */

static struct slug_ignore *
ignore_of(const char *text)
{
	struct slug_ignore *ig = NULL;

	EXPECT_OK(slug_ignore_parse(&ig, text, strlen(text)));
	return ig;
}

TEST(slug__ignore_patterns)
{
	struct slug_ignore *ig = ignore_of(
	    "# comment\n"
	    "*.log\n"
	    "/build\n"
	    "docs/\n"
	    "src/*.o\n"
	    "a/**/z\n"
	    "**/cache\n"
	    "vendor/**\n"
	    "tmp?\n"
	    "[Tt]est[0-9].dat\n"
	    "\\#hash\n"
	    "\\!bang\n"
	    "trail\\ \n"
	    "spaces   \n");

	EXPECT_INT(13, slug_ignore_count(ig));
	/* no slash: any depth, basename */
	EXPECT_TRUE(slug_ignore_match(ig, "x.log", false));
	EXPECT_TRUE(slug_ignore_match(ig, "d/e/x.log", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "x.logs", false));
	/* leading slash: root only */
	EXPECT_TRUE(slug_ignore_match(ig, "build", true));
	EXPECT_TRUE(slug_ignore_match(ig, "build/out.bin", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "src/build", true));
	/* trailing slash: directories only, at any depth */
	EXPECT_TRUE(slug_ignore_match(ig, "docs", true));
	EXPECT_TRUE(slug_ignore_match(ig, "x/docs", true));
	EXPECT_TRUE(slug_ignore_match(ig, "docs/index.md", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "docs", false));
	/* a middle slash anchors; '*' stays in its component */
	EXPECT_TRUE(slug_ignore_match(ig, "src/a.o", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "src/sub/a.o", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "x/src/a.o", false));
	/* "**" */
	EXPECT_TRUE(slug_ignore_match(ig, "a/z", false));
	EXPECT_TRUE(slug_ignore_match(ig, "a/b/c/z", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "b/a/z", false));
	EXPECT_TRUE(slug_ignore_match(ig, "cache", true));
	EXPECT_TRUE(slug_ignore_match(ig, "p/q/cache", false));
	EXPECT_TRUE(slug_ignore_match(ig, "vendor/a/b.rb", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "vendor", true));
	/* ? and brackets */
	EXPECT_TRUE(slug_ignore_match(ig, "tmp1", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "tmp", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "tmp12", false));
	EXPECT_TRUE(slug_ignore_match(ig, "x/Test7.dat", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "best7.dat", false));
	/* escapes and spaces */
	EXPECT_TRUE(slug_ignore_match(ig, "#hash", false));
	EXPECT_TRUE(slug_ignore_match(ig, "!bang", false));
	EXPECT_TRUE(slug_ignore_match(ig, "trail ", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "trail", false));
	EXPECT_TRUE(slug_ignore_match(ig, "spaces", false));
	/* untouched */
	EXPECT_TRUE(!slug_ignore_match(ig, "app.rb", false));
	EXPECT_TRUE(!slug_ignore_match(ig, "Procfile", false));
	slug_ignore_free(ig);
}

TEST(slug__ignore_errors_name_the_line)
{
	struct slug_ignore *ig = NULL;

	EXPECT_INT(ERR_INVALID, slug_ignore_parse(&ig, "a\n# x\n!keep.log\n",
	    16));
	EXPECT_ERR_HAS("line 3: negation ('!keep.log') is not supported");
	EXPECT_INT(ERR_INVALID, slug_ignore_parse(&ig, "[abc\n", 5));
	EXPECT_ERR_HAS("line 1: '[abc' is not a valid pattern");
	EXPECT_INT(ERR_INVALID, slug_ignore_parse(&ig, "ok\nx\\", 5));
	EXPECT_ERR_HAS("line 2:");
	EXPECT_INT(ERR_INVALID, slug_ignore_parse(&ig, "[[:nope:]]\n", 11));
	EXPECT_ERR_HAS("line 1:");
	EXPECT_INT(ERR_INVALID, slug_ignore_parse(&ig, "a\0b\n", 4));
	EXPECT_ERR_HAS("NUL");
	EXPECT_TRUE(ig == NULL);
}

TEST(slug__ignore_hostile_pattern_ends)
{
	/* Exponential without the abort rule: 40 a's, 14 stars. */
	struct slug_ignore *ig = ignore_of("*a*a*a*a*a*a*a*a*a*a*a*a*a*b\n"
	    "**/**/**/**/**/**/**/**/**/**/x\n");
	char text[64];

	memset(text, 'a', 40);
	text[40] = '\0';
	EXPECT_TRUE(!slug_ignore_match(ig, text, false));
	EXPECT_TRUE(!slug_ignore_match(ig, "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/y",
	    false));
	EXPECT_TRUE(slug_ignore_match(ig, "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/x",
	    false));
	slug_ignore_free(ig);
}

/* ---- slugs of git trees */

TEST(slug__tree_matches_git)
{
	struct slug_inspection *si = NULL;
	struct slug_info info;
	char digest[DIGEST_STR_MAX], *listing, *head;

	make_app_repo();
	info = tree_slug("r", "HEAD", "s.tgz", NULL);
	head = sh_out("git -C r rev-parse HEAD");
	EXPECT_STR(head, info.commit);
	EXPECT_INT(1714979289, info.mtime);       /* the commit's time */
	/* app/ app/Procfile app/bin/ app/bin/w app/bin/web app/empty
	 * app/lib/ app/lib/deep/ app/lib/deep/er/ app/lib/deep/er/x.txt
	 * app/link */
	EXPECT_INT(11, info.entries);
	EXPECT_OK(digest_file(digest, DIGEST_SHA256, "s.tgz"));
	EXPECT_STR(digest, info.digest);
	listing = sh_out("stat -c %s s.tgz");
	EXPECT_INT(strtoull(listing, NULL, 10), info.size);
	free(listing);
	/* diff_id is the sha256 of the tar inside */
	listing = sh_out("gzip -dc s.tgz | sha256sum | cut -d' ' -f1");
	EXPECT_STR(listing, info.diff_id + 7);
	/* what tar sees, in order, with owners and modes */
	free(listing);
	listing = sh_out("tar -tvzf s.tgz | awk '{print $1, $2, $3, $6, $7, "
	    "$8}'");
	EXPECT_STR(
	    "drwxr-xr-x 0/0 0 app/  \n"
	    "-rw-r--r-- 0/0 31 app/Procfile  \n"
	    "drwxr-xr-x 0/0 0 app/bin/  \n"
	    "-rwxr-xr-x 0/0 10 app/bin/w  \n"
	    "-rwxr-xr-x 0/0 19 app/bin/web  \n"
	    "-rw-r--r-- 0/0 0 app/empty  \n"
	    "drwxr-xr-x 0/0 0 app/lib/  \n"
	    "drwxr-xr-x 0/0 0 app/lib/deep/  \n"
	    "drwxr-xr-x 0/0 0 app/lib/deep/er/  \n"
	    "-rw-r--r-- 0/0 2 app/lib/deep/er/x.txt  \n"
	    "lrwxrwxrwx 0/0 0 app/link -> lib/deep/er/x.txt", listing);
	/* the gzip header: no name, no time, OS Unix */
	free(listing);
	listing = sh_out("head -c 10 s.tgz | od -An -tx1 | tr -d ' \\n'");
	EXPECT_STR("1f8b0800000000000003", listing);

	EXPECT_OK(slug_inspect_file(&si, "s.tgz", 0));
	EXPECT_STR(info.digest, si->digest);
	EXPECT_STR(info.diff_id, si->diff_id);
	EXPECT_INT(info.size, si->size);
	EXPECT_INT(info.tar_size, si->tar_size);
	EXPECT_INT(11, si->n_entries);
	EXPECT_TRUE(si->has_procfile && si->procfile);
	EXPECT_STR("./bin/web", slug_procfile_get(si->procfile, "web"));
	EXPECT_STR("app/link", si->entries[10].path);
	EXPECT_STR("lib/deep/er/x.txt", si->entries[10].link);
	EXPECT_INT(0755, si->entries[4].mode);
	EXPECT_INT(1714979289, si->entries[4].mtime);
	slug_inspection_free(si);
	free(listing);
	free(head);
}

TEST(slug__tree_reproducible_across_clones_and_locales)
{
	struct slug_info a, b, c;

	make_app_repo();
	harness_write("r/n\xc3\xa4me/\xe6\x97\xa5\xe6\x9c\xac.txt", "u\n", 2,
	    0644);
	harness_write("r/bad\xff" "name", "b\n", 2, 0644);
	SH("cd r && git add -A && git commit -qm two");
	a = tree_slug("r", "HEAD", "a.tgz", NULL);
	/* another clone, with its own pack, made later */
	SH("sleep 1 && git clone -q --no-local --bare r c.git && "
	    "git -C c.git repack -adfq");
	setlocale(LC_ALL, "C.UTF-8");
	setenv("TZ", "Pacific/Kiritimati", 1);
	b = tree_slug("c.git", "HEAD", "b.tgz", NULL);
	setlocale(LC_ALL, "C");
	c = tree_slug("c.git", "main", "c.tgz", NULL);
	setlocale(LC_ALL, "");
	EXPECT_STR(a.digest, b.digest);
	EXPECT_STR(a.digest, c.digest);
	SH("cmp a.tgz b.tgz && cmp a.tgz c.tgz");
	/* names kept byte for byte */
	SH("tar -tzf a.tgz | grep -qx 'app/n.*me/.*txt'");
	SH("tar -xzf a.tgz && test \"$(cat 'app/bad\xff" "name')\" = b && "
	    "test \"$(cat 'app/n\xc3\xa4me/\xe6\x97\xa5\xe6\x9c\xac.txt')\" = u");
}

TEST(slug__tree_one_byte_changes_digest)
{
	struct slug_info a, b;

	make_app_repo();
	harness_write("r/data.bin", "0123456789", 10, 0644);
	SH("cd r && git add -A && git commit -qm a");
	a = tree_slug("r", "HEAD", "a.tgz", NULL);
	harness_write("r/data.bin", "0123456788", 10, 0644);
	SH("cd r && git commit -qam b");
	b = tree_slug("r", "HEAD", "b.tgz", NULL);
	EXPECT_TRUE(strcmp(a.digest, b.digest) != 0);
	EXPECT_TRUE(strcmp(a.diff_id, b.diff_id) != 0);
	EXPECT_INT(a.size > 0, 1);
	/* and back again gives the first slug exactly */
	b = tree_slug("r", "HEAD~1", "c.tgz", NULL);
	EXPECT_STR(a.digest, b.digest);
}

TEST(slug__tree_mode_change_changes_digest)
{
	struct slug_info a, b;

	make_app_repo();
	a = tree_slug("r", "HEAD", "a.tgz", NULL);
	SH("cd r && chmod +x Procfile && git commit -qam x");
	b = tree_slug("r", "HEAD", "b.tgz", NULL);
	EXPECT_TRUE(strcmp(a.digest, b.digest) != 0);
	SH("tar -tvzf b.tgz | grep -q '^-rwxr-xr-x .* app/Procfile$'");
}

TEST(slug__tree_empty)
{
	struct slug_info info;

	fixed_git_env();
	SH("git init -q r && cd r && git commit -q --allow-empty -m empty");
	info = tree_slug("r", "HEAD", "s.tgz", NULL);
	EXPECT_INT(1, info.entries);
	/* a header, two zero blocks */
	EXPECT_INT(3 * 512, info.tar_size);
	SH("test \"$(tar -tzf s.tgz)\" = app/");
}

TEST(slug__tree_slugignore_and_dotgit)
{
	struct slug_info info;
	char *listing;

	make_app_repo();
	harness_write("r/.slugignore", "*.log\n/docs\ntest/\n", 18, 0644);
	harness_write("r/a.log", "l", 1, 0644);
	harness_write("r/lib/b.log", "l", 1, 0644);
	harness_write("r/docs/x.md", "d", 1, 0644);
	harness_write("r/lib/docs/y.md", "d", 1, 0644);
	harness_write("r/test/t.rb", "t", 1, 0644);
	SH("cd r && git add -A && git commit -qm ign");
	info = tree_slug("r", "HEAD", "s.tgz", NULL);
	EXPECT_INT(4, info.ignored);    /* a.log docs lib/b.log test */
	listing = sh_out("tar -tzf s.tgz | grep -e log -e docs -e test | "
	    "tr '\\n' ' '");
	EXPECT_STR("app/lib/docs/ app/lib/docs/y.md ", listing);
	free(listing);

	/* --no-slugignore keeps them */
	struct slug_opts opts = SLUG_OPTS_INIT;
	opts.no_slugignore = true;
	info = tree_slug("r", "HEAD", "t.tgz", &opts);
	EXPECT_INT(0, info.ignored);
	SH("tar -tzf t.tgz | grep -qx app/a.log");

	/* a crafted tree holding ".git" never puts it in the slug */
	SH("cd r && blob=$(echo evil | git hash-object -w --stdin) && "
	    "tree=$(printf '100644 blob %%s\\t.git\\n100644 blob %%s\\tok\\n' "
	    "$blob $blob | git mktree) && "
	    "git update-ref refs/heads/dotgit $(git commit-tree -m d $tree)");
	info = tree_slug("r", "dotgit", "d.tgz", NULL);
	EXPECT_INT(2, info.entries);
	SH("test \"$(tar -tzf d.tgz | tr '\\n' ' ')\" = 'app/ app/ok '");
}

TEST(slug__tree_bad_slugignore_fails)
{
	git_repository *repo;
	git_oid oid;
	int fd;

	make_app_repo();
	harness_write("r/.slugignore", "*.log\n!important.log\n", 21, 0644);
	SH("cd r && git add -A && git commit -qm ign");
	repo = open_repo("r");
	EXPECT_OK(slug_rev_resolve(&oid, repo, "HEAD"));
	fd = open("/dev/null", O_WRONLY);
	EXPECT_INT(ERR_INVALID, slug_write_tree(NULL, repo, &oid, NULL,
	    slug_sink_fd, &fd));
	EXPECT_ERR_HAS(".slugignore: line 2: negation");
	close(fd);
	slug_repo_free(repo);
}

TEST(slug__repo_and_rev_errors)
{
	git_repository *repo = NULL;
	git_oid oid;

	EXPECT_INT(ERR_NOTFOUND, slug_repo_open(&repo, "nope", NULL));
	EXPECT_ERR_HAS("'nope' is not a git repository");
	SH("mkdir plain");
	EXPECT_INT(ERR_NOTFOUND, slug_repo_open(&repo, "plain", NULL));
	/* not one of its parents either */
	make_app_repo();
	SH("mkdir r/sub");
	EXPECT_INT(ERR_NOTFOUND, slug_repo_open(&repo, "r/sub", NULL));

	SH("cd r && git tag -a -m v v1 && git tag -a -m t treetag "
	    "HEAD^{tree} && git tag light HEAD");
	repo = open_repo("r");
	EXPECT_INT(ERR_NOTFOUND, slug_rev_resolve(&oid, repo, "no-such"));
	EXPECT_ERR_HAS("unknown revision 'no-such'");
	EXPECT_INT(ERR_NOTFOUND, slug_rev_resolve(&oid, repo,
	    "0123456789012345678901234567890123456789"));
	EXPECT_INT(ERR_INVALID, slug_rev_resolve(&oid, repo, "HEAD^{tree}"));
	EXPECT_ERR_HAS("'HEAD^{tree}' is a tree, not a commit");
	EXPECT_INT(ERR_INVALID, slug_rev_resolve(&oid, repo, "HEAD:Procfile"));
	EXPECT_ERR_HAS("is a blob, not a commit");
	EXPECT_INT(ERR_INVALID, slug_rev_resolve(&oid, repo, "treetag"));
	EXPECT_ERR_HAS("is a tree, not a commit");
	EXPECT_INT(ERR_INVALID, slug_rev_resolve(&oid, repo, ""));
	EXPECT_INT(ERR_INVALID, slug_rev_resolve(&oid, repo, "HEAD@{"));
	EXPECT_OK(slug_rev_resolve(&oid, repo, "v1"));    /* peeled */
	EXPECT_OK(slug_rev_resolve(&oid, repo, "light"));
	slug_repo_free(repo);

	SH("git init -q --bare e.git");
	repo = open_repo("e.git");
	EXPECT_INT(ERR_NOTFOUND, slug_rev_resolve(&oid, repo, "HEAD"));
	EXPECT_ERR_HAS("no commits");
	slug_repo_free(repo);
}

TEST(slug__tree_gitlink_refused)
{
	git_repository *repo;
	git_oid oid;
	int fd;

	make_app_repo();
	SH("cd r && git update-index --add --cacheinfo "
	    "160000,1111111111111111111111111111111111111111,vendor/lib && "
	    "git commit -qm sub");
	repo = open_repo("r");
	EXPECT_OK(slug_rev_resolve(&oid, repo, "HEAD"));
	EXPECT_INT(ERR_UNSUPPORTED, slug_create_tree_file(NULL, repo, &oid,
	    "s.tgz", NULL));
	EXPECT_ERR_HAS("'vendor/lib' is a git submodule");
	EXPECT_ERR_HAS("not supported");
	EXPECT_TRUE(!fs_exists("s.tgz"));
	fd = open("/dev/null", O_WRONLY);
	EXPECT_INT(ERR_UNSUPPORTED, slug_write_tree(NULL, repo, &oid, NULL,
	    slug_sink_fd, &fd));
	close(fd);
	slug_repo_free(repo);
	SH("test -z \"$(ls -A | grep tmp)\"");

	/* one that .slugignore leaves out is no longer in the way */
	harness_write("r/.slugignore", "/vendor\n", 8, 0644);
	SH("cd r && git add .slugignore && git commit -qm ign");
	(void)tree_slug("r", "HEAD", "s.tgz", NULL);
	SH("! tar -tzf s.tgz | grep -q vendor");
}

TEST(slug__tree_unsafe_names_refused)
{
	git_repository *repo;
	git_oid oid;

	make_app_repo();
	/* git mktree will not write "..", so write the tree object by hand */
	SH("cd r && blob=$(echo x | git hash-object -w --stdin) && "
	    "tree=$( (printf '100644 ..\\0'; perl -e 'print pack(\"H*\", "
	    "shift)' $blob) | "
	    "git hash-object -t tree -w --literally --stdin) && "
	    "git update-ref refs/heads/evil $(git commit-tree -m e $tree)");
	repo = open_repo("r");
	EXPECT_OK(slug_rev_resolve(&oid, repo, "evil"));
	EXPECT_INT(ERR_INVALID, slug_create_tree_file(NULL, repo, &oid,
	    "s.tgz", NULL));
	EXPECT_ERR_HAS("unsafe entry '..'");
	EXPECT_TRUE(!fs_exists("s.tgz"));
	slug_repo_free(repo);
}

TEST(slug__tree_size_caps)
{
	struct slug_opts opts = SLUG_OPTS_INIT;
	git_repository *repo;
	git_oid oid;

	make_app_repo();
	SH("head -c 300000 /dev/urandom > r/random.bin && "
	    "head -c 2000000 /dev/zero > r/zeros.bin && "
	    "cd r && git add random.bin && git commit -qm random");
	repo = open_repo("r");
	EXPECT_OK(slug_rev_resolve(&oid, repo, "HEAD"));
	/* compressed past the cap */
	opts.max_size = 200000;
	EXPECT_INT(ERR_TOOBIG, slug_create_tree_file(NULL, repo, &oid,
	    "s.tgz", &opts));
	EXPECT_ERR_HAS("slug is larger than the cap of 200000 bytes");
	EXPECT_TRUE(!fs_exists("s.tgz"));
	opts.max_size = 400000;
	EXPECT_OK(slug_create_tree_file(NULL, repo, &oid, "s.tgz", &opts));
	slug_repo_free(repo);

	/* 2 MB of zeros compresses to nothing, but is past 4 x 400000
	 * uncompressed: refused before the blob is read */
	SH("cd r && git rm -q random.bin && git add zeros.bin && "
	    "git commit -qm zeros");
	repo = open_repo("r");
	EXPECT_OK(slug_rev_resolve(&oid, repo, "HEAD"));
	EXPECT_INT(ERR_TOOBIG, slug_create_tree_file(NULL, repo, &oid,
	    "z.tgz", &opts));
	EXPECT_ERR_HAS("uncompressed at 'zeros.bin'");
	EXPECT_TRUE(!fs_exists("z.tgz"));
	slug_repo_free(repo);
}

/* Blobs past SLUG_BLOB_CHUNK stream in pieces, from loose objects and
 * from a pack: the same slug either way, and the content intact. */
TEST(slug__tree_streams_large_blobs)
{
	struct slug_info loose, packed;

	make_app_repo();
	SH("head -c 3000000 /dev/urandom > r/big.bin && "
	    "truncate -s 9000000 r/big.bin && cd r && git add big.bin && "
	    "git commit -qm big");
	loose = tree_slug("r", "HEAD", "loose.tgz", NULL);
	SH("cd r && git repack -adq && git prune && test -z \"$(find "
	    ".git/objects -type f -path '*/objects/[0-9a-f][0-9a-f]/*')\"");
	packed = tree_slug("r", "HEAD", "packed.tgz", NULL);
	EXPECT_STR(loose.digest, packed.digest);
	SH("mkdir x && tar -xzf packed.tgz -C x && cmp r/big.bin x/app/big.bin");
}

TEST(slug__tree_quarantine_objects)
{
	git_repository *repo = NULL;
	const char *alts[] = { NULL, NULL };
	char *q, *commit;
	git_oid oid;

	make_app_repo();
	/* as pre-receive sees a push: new objects in a directory of their
	 * own, the repo's objects as an alternate */
	SH("mkdir q && cd r && echo new > new.txt && "
	    "GIT_OBJECT_DIRECTORY=../q GIT_ALTERNATE_OBJECT_DIRECTORIES=$PWD/"
	    ".git/objects sh -c 'git add new.txt && git write-tree > ../tree && "
	    "git commit-tree -p HEAD -m q $(cat ../tree) > ../commit'");
	commit = sh_out("cat commit");
	q = fs_join(harness_tmpdir(), "q");
	alts[0] = q;

	repo = open_repo("r");
	EXPECT_INT(ERR_NOTFOUND, slug_rev_resolve(&oid, repo, commit));
	slug_repo_free(repo);

	EXPECT_OK(slug_repo_open(&repo, "r", alts));
	EXPECT_OK(slug_rev_resolve(&oid, repo, commit));
	EXPECT_OK(slug_create_tree_file(NULL, repo, &oid, "s.tgz", NULL));
	SH("tar -tzf s.tgz | grep -qx app/new.txt");
	slug_repo_free(repo);

	alts[0] = "no-such-dir";
	EXPECT_INT(ERR_NOTFOUND, slug_repo_open(&repo, "r", alts));
	EXPECT_ERR_HAS("'no-such-dir'");
	free(q);
	free(commit);
}

/* ---- gzip engines */

TEST(slug__gzip_engines_same_tar)
{
	struct slug_opts opts = SLUG_OPTS_INIT;
	struct slug_info a, b, c;
	git_repository *repo;
	git_oid oid;

	make_app_repo();
	/* over two libdeflate chunks, so there are several members */
	SH("seq 1 400000 > r/numbers.txt && cd r && git add -A && "
	    "git commit -qm n");
	a = tree_slug("r", "HEAD", "a.tgz", &opts);
	opts.gzip = SLUG_GZIP_ZLIB;
	b = tree_slug("r", "HEAD", "b.tgz", &opts);
	opts.gzip = SLUG_GZIP_LIBDEFLATE;
	opts.level = 1;
	c = tree_slug("r", "HEAD", "c.tgz", &opts);
	/* the tar is the same whatever compresses it */
	EXPECT_STR(a.diff_id, b.diff_id);
	EXPECT_STR(a.diff_id, c.diff_id);
	EXPECT_TRUE(strcmp(a.digest, b.digest) != 0);
	SH("gzip -t a.tgz && gzip -t b.tgz && gzip -t c.tgz");
	SH("gzip -dc a.tgz | tar -xOf - app/numbers.txt | cmp - r/numbers.txt");
	SH("gzip -dc b.tgz | tar -xOf - app/numbers.txt | cmp - r/numbers.txt");
	/* libdeflate writes one member per MiB of tar, zlib one in all */
	SH("test $(od -An -tx1 -v a.tgz | tr -d ' \\n' | "
	    "grep -o 1f8b0800000000000003 | wc -l) -ge 2");
	SH("test $(od -An -tx1 -v b.tgz | tr -d ' \\n' | "
	    "grep -o 1f8b0800000000000003 | wc -l) -eq 1");

	repo = open_repo("r");
	EXPECT_OK(slug_rev_resolve(&oid, repo, "HEAD"));
	opts.level = 13;
	EXPECT_INT(ERR_INVALID, slug_create_tree_file(NULL, repo, &oid,
	    "x.tgz", &opts));
	EXPECT_ERR_HAS("compression level 13 is out of range");
	opts.gzip = SLUG_GZIP_ZLIB;
	opts.level = 10;
	EXPECT_INT(ERR_INVALID, slug_create_tree_file(NULL, repo, &oid,
	    "x.tgz", &opts));
	EXPECT_TRUE(!fs_exists("x.tgz"));
	slug_repo_free(repo);
}

/* ---- slugs of directories */

static struct slug_info
dir_slug(const char *dir, const char *file, const struct slug_opts *opts)
{
	struct slug_info info;

	EXPECT_OK(slug_create_dir_file(&info, dir, file, opts));
	return info;
}

TEST(slug__dir_links_stored_not_followed)
{
	struct slug_inspection *si = NULL;
	struct slug_info info;
	char *listing;

	harness_write("secret/passwd", "root:x:0:0\n", 11, 0600);
	harness_write("d/app.rb", "puts 1\n", 7, 0640);
	harness_write("d/bin/run", "#!/bin/sh\n", 10, 0700);
	harness_write("d/.git/config", "[core]\n", 7, 0644);
	SH("ln -s ../secret/passwd d/out && ln -s /etc/passwd d/abs && "
	    "ln -s ../secret d/outdir && ln -s nowhere d/dangling && "
	    "mkdir d/emptydir");
	info = dir_slug("d", "s.tgz", NULL);
	EXPECT_INT(SLUG_DIR_EPOCH, info.mtime);
	EXPECT_STR("", info.commit);
	listing = sh_out("tar -tvzf s.tgz | awk '{print $1, $3, $6, $7, $8}'");
	EXPECT_STR(
	    "drwxr-xr-x 0 app/  \n"
	    "lrwxrwxrwx 0 app/abs -> /etc/passwd\n"
	    "-rw-r--r-- 7 app/app.rb  \n"
	    "drwxr-xr-x 0 app/bin/  \n"
	    "-rwxr-xr-x 10 app/bin/run  \n"
	    "lrwxrwxrwx 0 app/dangling -> nowhere\n"
	    "drwxr-xr-x 0 app/emptydir/  \n"
	    "lrwxrwxrwx 0 app/out -> ../secret/passwd\n"
	    "lrwxrwxrwx 0 app/outdir -> ../secret", listing);
	free(listing);
	/* nothing of the secret went in */
	SH("! gzip -dc s.tgz | grep -q root:x");
	EXPECT_OK(slug_inspect_file(&si, "s.tgz", 0));
	EXPECT_INT(SLUG_DIR_EPOCH, si->entries[0].mtime);
	EXPECT_TRUE(!si->has_procfile);
	slug_inspection_free(si);
}

TEST(slug__dir_reproducible)
{
	struct slug_opts opts = SLUG_OPTS_INIT;
	struct slug_info a, b, c;

	/* same content, made in another order, other times and modes */
	harness_write("a/z.txt", "z", 1, 0644);
	harness_write("a/m/x", "x", 1, 0600);
	harness_write("a/m.txt", "m", 1, 0664);
	harness_write("a/m-/y", "y", 1, 0644);
	SH("sleep 1");
	harness_write("b/m-/y", "y", 1, 0600);
	harness_write("b/m.txt", "m", 1, 0600);
	harness_write("b/m/x", "x", 1, 0644);
	harness_write("b/z.txt", "z", 1, 0444);
	SH("touch -d 2001-01-01 b/z.txt b/m && chmod 0700 b/m");
	a = dir_slug("a", "a.tgz", NULL);
	b = dir_slug("b", "b.tgz", NULL);
	EXPECT_STR(a.digest, b.digest);
	/* git order: "m-" < "m.txt" < "m/" < "z.txt" */
	SH("test \"$(tar -tzf a.tgz | tr '\\n' ' ')\" = "
	    "'app/ app/m-/ app/m-/y app/m.txt app/m/ app/m/x app/z.txt '");
	opts.mtime = 1700000000;
	c = dir_slug("a", "c.tgz", &opts);
	EXPECT_TRUE(strcmp(a.digest, c.digest) != 0);
	EXPECT_STR(a.diff_id, a.diff_id);
	EXPECT_INT(1700000000, c.mtime);
}

TEST(slug__dir_special_files_refused)
{
	harness_write("d/ok", "k", 1, 0644);
	SH("mkfifo d/pipe");
	EXPECT_INT(ERR_UNSUPPORTED, slug_create_dir_file(NULL, "d", "s.tgz",
	    NULL));
	EXPECT_ERR_HAS("'pipe' is a fifo");
	EXPECT_TRUE(!fs_exists("s.tgz"));
	EXPECT_INT(ERR_NOTFOUND, slug_create_dir_file(NULL, "nope", "s.tgz",
	    NULL));
	EXPECT_ERR_HAS("cannot open directory 'nope'");
}

TEST(slug__dir_output_inside_itself)
{
	struct slug_info info;

	harness_write("d/Procfile", "web: x\n", 7, 0644);
	harness_write("d/.slugignore", "*.tmp\n", 6, 0644);
	harness_write("d/cache.tmp", "c", 1, 0644);
	info = dir_slug("d", "d/slug.tgz", NULL);
	EXPECT_INT(3, info.entries);    /* app/ .slugignore Procfile */
	EXPECT_INT(1, info.ignored);
	SH("test \"$(tar -tzf d/slug.tgz | tr '\\n' ' ')\" = "
	    "'app/ app/.slugignore app/Procfile '");
}

/* ---- reading slugs back */

/* Write a gzip'd tar by hand with the given entries. */
struct fake_entry {
	const char *path;
	unsigned type;
	const char *data;
	const char *link;
};

static void
write_fake(const char *file, const struct fake_entry *ents, size_t n)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_write_set_format_pax_restricted(a);
	archive_write_add_filter_gzip(a);
	EXPECT_INT(ARCHIVE_OK, archive_write_open_filename(a, file));
	for (size_t i = 0; i < n; i++) {
		size_t len = ents[i].data ? strlen(ents[i].data) : 0;
		archive_entry_clear(e);
		archive_entry_set_pathname(e, ents[i].path);
		archive_entry_set_filetype(e, ents[i].type);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)len);
		if (ents[i].link && ents[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, ents[i].link);
		else if (ents[i].link)
			archive_entry_set_hardlink(e, ents[i].link);
		if (ents[i].type == AE_IFCHR)
			archive_entry_set_rdev(e, 0x0101);
		EXPECT_TRUE(archive_write_header(a, e) >= ARCHIVE_WARN);
		if (len)
			archive_write_data(a, ents[i].data, len);
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
}

static void
expect_inspect_error(const char *file, int code, const char *needle)
{
	struct slug_inspection *si = NULL;

	err_clear();
	EXPECT_INT(code, slug_inspect_file(&si, file, 0));
	EXPECT_TRUE(si == NULL);
	EXPECT_ERR_HAS(needle);
}

TEST(slug__inspect_hostile_slugs)
{
	struct fake_entry root = { "app/", AE_IFDIR, NULL, NULL };
	struct fake_entry bad[][2] = {
		{ root, { "etc/passwd", AE_IFREG, "x", NULL } },
		{ root, { "app/../../etc/x", AE_IFREG, "x", NULL } },
		{ root, { "app/a//b", AE_IFREG, "x", NULL } },
		{ root, { "/app/x", AE_IFREG, "x", NULL } },
		{ root, { "app/dev", AE_IFCHR, NULL, NULL } },
		{ root, { "app/fifo", AE_IFIFO, NULL, NULL } },
		{ root, { "app/hard", AE_IFREG, NULL, "app/x" } },
	};
	const char *why[] = { "outside app/", "unsafe entry", "unsafe entry",
	    "outside app/", "not a file, directory or symlink",
	    "not a file, directory or symlink", "hard link" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_fake("bad.tgz", bad[i], 2);
		expect_inspect_error("bad.tgz", ERR_INVALID, why[i]);
	}
	expect_inspect_error("missing.tgz", ERR_NOTFOUND, "cannot open");
	harness_write("empty.tgz", "", 0, 0644);
	expect_inspect_error("empty.tgz", ERR_INVALID, "not gzip'd");
	harness_write("text.tgz", "hello, world\n", 13, 0644);
	expect_inspect_error("text.tgz", ERR_INVALID, "not gzip'd");
	SH("echo 'not a tar' | gzip -n > notar.tgz");
	expect_inspect_error("notar.tgz", ERR_INVALID, "not a valid slug");
	SH("printf '\\037\\213\\010\\000garbage-garbage' > badgz.tgz");
	expect_inspect_error("badgz.tgz", ERR_INVALID, "not a valid gzip");

	/* a good slug, cut short, or with junk after it */
	make_app_repo();
	(void)tree_slug("r", "HEAD", "good.tgz", NULL);
	SH("head -c $(( $(stat -c %%s good.tgz) - 9 )) good.tgz > cut.tgz");
	expect_inspect_error("cut.tgz", ERR_INVALID, "truncated");
	SH("cat good.tgz > junk.tgz && echo junk >> junk.tgz");
	expect_inspect_error("junk.tgz", ERR_INVALID, "not a valid gzip");
	/* a bomb: small file, too much tar */
	SH("head -c 3000000 /dev/zero > r/zeros && cd r && git add zeros && "
	    "git commit -qm z");
	(void)tree_slug("r", "HEAD", "bomb.tgz", NULL);
	struct slug_inspection *si = NULL;
	EXPECT_INT(ERR_TOOBIG, slug_inspect_file(&si, "bomb.tgz", 1 << 20));
	EXPECT_ERR_HAS("more than 1048576 bytes of tar");
	EXPECT_OK(slug_inspect_file(&si, "bomb.tgz", 0));
	slug_inspection_free(si);
}

TEST(slug__inspect_bad_procfile)
{
	struct fake_entry ents[] = {
		{ "app/", AE_IFDIR, NULL, NULL },
		{ "app/Procfile", AE_IFREG, "web: ok\n\nweb: again\n", NULL },
	};
	struct slug_inspection *si = NULL;

	write_fake("s.tgz", ents, 2);
	EXPECT_OK(slug_inspect_file(&si, "s.tgz", 0));
	EXPECT_TRUE(si->has_procfile);
	EXPECT_TRUE(si->procfile == NULL);
	EXPECT_STR("Procfile line 3: process type 'web' is defined twice",
	    si->procfile_error);
	/* a libarchive-made slug pads the tar: both digests still cover
	 * every byte */
	char *sum = sh_out("sha256sum < s.tgz | cut -d' ' -f1");
	EXPECT_STR(sum, si->digest + 7);
	free(sum);
	sum = sh_out("gzip -dc s.tgz | sha256sum | cut -d' ' -f1");
	EXPECT_STR(sum, si->diff_id + 7);
	free(sum);
	slug_inspection_free(si);
}
