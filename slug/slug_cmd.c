/*
 * The slug commands:
 *   slipway slug create --repo PATH [--rev REV] | --dir DIR  [-o FILE] ...
 *   slipway slug inspect FILE [--json]
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/parse.h"
#include "slipway/slug.h"

/* Most --objects directories. */
#define SLUG_CMD_MAX_ODB 8

/* Print s with bytes that could drive a terminal as \ooo. */
static void
slug_put_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(f, "\\%03o", *p);
		else
			fputc(*p, f);
	}
}

/* A JSON string of s; bytes that are not UTF-8 become \ooo escapes. */
static json_t *
slug_json_str(const char *s)
{
	json_t *j = json_string(s);
	char *esc;
	size_t n = 0;

	if (j)
		return j;
	esc = xmalloc(4 * strlen(s) + 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80 || *p == '\\')
			n += (size_t)sprintf(esc + n, "\\%03o", *p);
		else
			esc[n++] = (char)*p;
	}
	esc[n] = '\0';
	j = json_string(esc);
	free(esc);
	return j;
}

static int
slug_print_json(FILE *f, json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	json_decref(j);
	if (s == NULL)
		return err_set(ERR_IO, "cannot format JSON");
	fprintf(f, "%s\n", s);
	free(s);
	return 0;
}

static int
slug_parse_level(int *out, const char *s)
{
	unsigned long long v;

	if (parse_uint(&v, s, 0, 12) < 0)
		return err_set(ERR_INVALID, "'%s' is not a compression level "
		    "(0-12)", s);
	*out = (int)v;
	return 0;
}

static void
slug_print_created(FILE *f, const struct slug_info *info, const char *file)
{
	fprintf(f, "digest   %s\n", info->digest);
	fprintf(f, "size     %llu\n", (unsigned long long)info->size);
	fprintf(f, "diff_id  %s\n", info->diff_id);
	fprintf(f, "tar_size %llu\n", (unsigned long long)info->tar_size);
	fprintf(f, "entries  %llu\n", (unsigned long long)info->entries);
	if (info->ignored)
		fprintf(f, "ignored  %llu (.slugignore)\n",
		    (unsigned long long)info->ignored);
	if (info->commit[0])
		fprintf(f, "commit   %s\n", info->commit);
	if (file)
		fprintf(f, "file     %s\n", file);
}

static json_t *
slug_created_json(const struct slug_info *info, const char *file)
{
	return json_pack("{s:o, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:o}",
	    "file", file ? slug_json_str(file) : json_null(),
	    "digest", info->digest,
	    "size", (json_int_t)info->size,
	    "diff_id", info->diff_id,
	    "tar_size", (json_int_t)info->tar_size,
	    "entries", (json_int_t)info->entries,
	    "ignored", (json_int_t)info->ignored,
	    "mtime", (json_int_t)info->mtime,
	    "commit", info->commit[0] ? json_string(info->commit) :
	    json_null());
}

int
slug_cmd_create(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'r' },
		{ "rev", required_argument, NULL, 'R' },
		{ "objects", required_argument, NULL, 'O' },
		{ "dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "max-size", required_argument, NULL, 'm' },
		{ "level", required_argument, NULL, 'l' },
		{ "gzip", required_argument, NULL, 'g' },
		{ "mtime", required_argument, NULL, 't' },
		{ "no-slugignore", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct slug_opts opts = SLUG_OPTS_INIT;
	struct slug_info info;
	const char *repo_path = NULL, *rev = "HEAD", *dir = NULL;
	const char *output = "slug.tgz";
	const char *odb[SLUG_CMD_MAX_ODB + 1] = { NULL };
	git_repository *repo = NULL;
	unsigned long long size, mtime;
	bool json = false, to_stdout, rev_given = false;
	int c, n_odb = 0, rc, fd = 1;
	git_oid oid;

	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': repo_path = optarg; break;
		case 'R': rev = optarg; rev_given = true; break;
		case 'd': dir = optarg; break;
		case 'o': output = optarg; break;
		case 'n': opts.no_slugignore = true; break;
		case 'j': json = true; break;
		case 'O':
			if (n_odb == SLUG_CMD_MAX_ODB)
				return cmdline_usage_error(argv[0], "at most %d "
				    "--objects", SLUG_CMD_MAX_ODB);
			odb[n_odb++] = optarg;
			break;
		case 'm':
			if (parse_size(&size, optarg) < 0 || size == 0)
				return cmdline_usage_error(argv[0], "--max-size: "
				    "'%s' is not a size", optarg);
			opts.max_size = size;
			break;
		case 'l':
			if (slug_parse_level(&opts.level, optarg) < 0)
				return cmdline_usage_error(argv[0], "--level: %s",
				    err_last());
			break;
		case 'g':
			if (strcmp(optarg, "libdeflate") == 0)
				opts.gzip = SLUG_GZIP_LIBDEFLATE;
			else if (strcmp(optarg, "zlib") == 0)
				opts.gzip = SLUG_GZIP_ZLIB;
			else
				return cmdline_usage_error(argv[0], "--gzip: '%s' "
				    "is not libdeflate or zlib", optarg);
			break;
		case 't':
			if (parse_uint(&mtime, optarg, 0, INT64_MAX) < 0)
				return cmdline_usage_error(argv[0], "--mtime: "
				    "'%s' is not seconds since 1970", optarg);
			opts.mtime = (int64_t)mtime;
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (optind < argc)
		return cmdline_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind]);
	if ((repo_path == NULL) == (dir == NULL))
		return cmdline_usage_error(argv[0], "give one of --repo or --dir");
	if (dir && (n_odb > 0 || rev_given))
		return cmdline_usage_error(argv[0], "--rev and --objects go with "
		    "--repo");
	if (repo_path && opts.mtime >= 0)
		return cmdline_usage_error(argv[0], "--mtime goes with --dir (a "
		    "commit's slug has the commit's time)");
	if (opts.gzip == SLUG_GZIP_ZLIB && opts.level > 9)
		return cmdline_usage_error(argv[0], "--level %d is out of range "
		    "for zlib (0-9)", opts.level);
	to_stdout = strcmp(output, "-") == 0;
	if (to_stdout && isatty(1))
		return cmdline_usage_error(argv[0], "will not write a slug to a "
		    "terminal; give -o FILE");

	if (repo_path) {
		if ((rc = slug_repo_open(&repo, repo_path, odb)) < 0 ||
		    (rc = slug_rev_resolve(&oid, repo, rev)) < 0)
			goto done;
		/* Do not re-hash every blob read (as git archive does not):
		 * it costs ~12% of the time (bench/slug.sh), git index-pack
		 * checked each object when it arrived, and zlib's checksum
		 * still catches a damaged object.  Process-wide, so only the
		 * command sets it, never the library. */
		git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, 0);
		rc = to_stdout ?
		    slug_write_tree(&info, repo, &oid, &opts, slug_sink_fd,
		    &fd) :
		    slug_create_tree_file(&info, repo, &oid, output, &opts);
	} else {
		rc = to_stdout ?
		    slug_write_dir(&info, dir, &opts, slug_sink_fd, &fd) :
		    slug_create_dir_file(&info, dir, output, &opts);
	}
	if (rc < 0)
		goto done;
	/* when stdout is the slug, what we say goes to stderr */
	if (json)
		rc = slug_print_json(to_stdout ? stderr : stdout,
		    slug_created_json(&info, to_stdout ? NULL : output));
	else
		slug_print_created(to_stdout ? stderr : stdout, &info,
		    to_stdout ? NULL : output);
done:
	slug_repo_free(repo);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}

static const char *
slug_mode_string(const struct slug_entry *e, char buf[11])
{
	static const char rwx[] = "rwxrwxrwx";

	buf[0] = e->type == SLUG_ENTRY_DIR ? 'd' :
	    e->type == SLUG_ENTRY_SYMLINK ? 'l' : '-';
	for (int i = 0; i < 9; i++)
		buf[i + 1] = (e->mode & (0400u >> i)) ? rwx[i] : '-';
	buf[10] = '\0';
	return buf;
}

static void
slug_print_inspection(const struct slug_inspection *si, const char *file)
{
	char mode[11];

	printf("file     ");
	slug_put_escaped(stdout, file);
	printf("\ndigest   %s\n", si->digest);
	printf("size     %llu\n", (unsigned long long)si->size);
	printf("diff_id  %s\n", si->diff_id);
	printf("tar_size %llu\n", (unsigned long long)si->tar_size);
	printf("entries  %zu\n", si->n_entries);
	if (!si->has_procfile)
		printf("process types: none (no Procfile)\n");
	else if (si->procfile_error)
		printf("process types: none (%s)\n", si->procfile_error);
	else {
		printf("process types:\n");
		for (size_t i = 0; i < si->procfile->n; i++) {
			printf("  %s: ", si->procfile->procs[i].type);
			slug_put_escaped(stdout, si->procfile->procs[i].command);
			putchar('\n');
		}
	}
	printf("contents:\n");
	for (size_t i = 0; i < si->n_entries; i++) {
		const struct slug_entry *e = &si->entries[i];

		printf("  %s %10llu  ", slug_mode_string(e, mode),
		    (unsigned long long)e->size);
		slug_put_escaped(stdout, e->path);
		if (e->link) {
			printf(" -> ");
			slug_put_escaped(stdout, e->link);
		}
		putchar('\n');
	}
}

static json_t *
slug_inspection_json(const struct slug_inspection *si, const char *file)
{
	json_t *entries = json_array(), *procs = json_object();

	for (size_t i = 0; i < si->n_entries; i++) {
		const struct slug_entry *e = &si->entries[i];
		json_t *je = json_pack("{s:o, s:s, s:i, s:I}",
		    "path", slug_json_str(e->path),
		    "type", e->type == SLUG_ENTRY_DIR ? "dir" :
		    e->type == SLUG_ENTRY_SYMLINK ? "symlink" : "file",
		    "mode", (int)e->mode,
		    "size", (json_int_t)e->size);
		if (e->link)
			json_object_set_new(je, "link", slug_json_str(e->link));
		json_array_append_new(entries, je);
	}
	for (size_t i = 0; si->procfile && i < si->procfile->n; i++)
		json_object_set_new(procs, si->procfile->procs[i].type,
		    slug_json_str(si->procfile->procs[i].command));
	return json_pack("{s:o, s:s, s:I, s:s, s:I, s:b, s:o, s:o, s:o}",
	    "file", slug_json_str(file),
	    "digest", si->digest,
	    "size", (json_int_t)si->size,
	    "diff_id", si->diff_id,
	    "tar_size", (json_int_t)si->tar_size,
	    "procfile", si->has_procfile,
	    "process_types", procs,
	    "procfile_error", si->procfile_error ?
	    slug_json_str(si->procfile_error) : json_null(),
	    "entries", entries);
}

int
slug_cmd_inspect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "max-size", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct slug_inspection *si = NULL;
	unsigned long long size, max_tar = 0;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'm':
			if (parse_size(&size, optarg) < 0 || size == 0 ||
			    size > ~0ULL / SLUG_TAR_FACTOR)
				return cmdline_usage_error(argv[0], "--max-size: "
				    "'%s' is not a size", optarg);
			max_tar = size * SLUG_TAR_FACTOR;
			break;
		default:
			return cmdline_usage_error(argv[0], "unknown option");
		}
	}
	if (argc - optind != 1)
		return cmdline_usage_error(argv[0], "give one slug FILE");
	if ((rc = slug_inspect_file(&si, argv[optind], max_tar)) < 0)
		return cmdline_fail(argv[0]);
	if (json)
		rc = slug_print_json(stdout, slug_inspection_json(si,
		    argv[optind]));
	else
		slug_print_inspection(si, argv[optind]);
	if (rc == 0 && si->procfile_error) {
		fflush(stdout);
		rc = err_set(ERR_INVALID, "%s", si->procfile_error);
	}
	slug_inspection_free(si);
	return rc < 0 ? cmdline_fail(argv[0]) : 0;
}
