/*
 * Slugs: a gzip'd tar of an app tree under "app/", made reproducibly (the
 * same tree gives the same bytes and the same sha256 on any machine with
 * the same compressor library, at any time).
 *
 * A slug is written as a stream: a git commit's tree (slug_write_tree,
 * straight from the object database, no checkout) or a directory
 * (slug_write_dir) goes through libarchive's tar writer into our own
 * gzip stage, and every compressed byte is handed to a sink callback.  On
 * the way both digests are computed, so nobody has to read the slug again:
 *   digest   sha256 of the .tar.gz (what the slug is named by; the OCI layer
 *            blob digest)
 *   diff_id  sha256 of the uncompressed tar (the OCI image config's
 *            rootfs.diff_ids entry)
 *
 * The tar: entries in a fixed order (git tree order: names compared
 * bytewise, a directory as if its name ended in '/'), the root "app/"
 * first; mtime the commit's committer time (or SLUG_DIR_EPOCH for a
 * directory); uid/gid 0, owner names empty; files 0644 or 0755, directories
 * 0755, symlinks kept as symlinks; pax headers only where ustar cannot say
 * it (long or non-ASCII names).  The gzip: header without name or time.
 * Paths matched by the root's .slugignore (see slug_ignore_parse) and
 * every ".git" never enter the slug.
 *
 * Procfiles (slug_procfile_parse) and slug inspection (slug_inspect_file)
 * live here too, for the builder and the runner.
 */
#ifndef SLIPWAY_SLUG_H
#define SLIPWAY_SLUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2/oid.h>
#include <git2/types.h>

#include "slipway/digest.h"

/* Default cap on the compressed slug (Heroku's). */
#define SLUG_MAX_SIZE_DEFAULT ((uint64_t)500 << 20)
/* The uncompressed tar may be at most this many times the cap: checked
 * from object and file sizes before any content is read, so a small push
 * of a huge, very compressible file cannot exhaust memory. */
#define SLUG_TAR_FACTOR 4
/* mtime of every entry of a directory slug unless told otherwise:
 * 1980-01-01T00:00:00Z, the earliest time zip can store, and not 0, which
 * some tools read as "unknown". */
#define SLUG_DIR_EPOCH 315532800
/* Largest .slugignore and Procfile read. */
#define SLUG_SMALL_FILE_MAX (64 << 10)

/* How the tar is compressed.  Both write standard gzip (RFC 1952) that
 * gzip, tar, libarchive, Go and Python read. */
enum slug_gzip {
	/* libdeflate, one gzip member per 1 MiB of tar (a multi-member
	 * gzip file); levels 0-12.  The default: see docs/slug.md. */
	SLUG_GZIP_LIBDEFLATE = 0,
	/* zlib, one gzip member for the whole tar; levels 0-9. */
	SLUG_GZIP_ZLIB = 1,
};

/* The default engine and level, chosen by bench/slug.sh (docs/slug.md). */
#define SLUG_GZIP_DEFAULT SLUG_GZIP_LIBDEFLATE
#define SLUG_LEVEL_DEFAULT 6

struct slug_opts {
	uint64_t max_size;      /* cap on the .tar.gz; 0: the default */
	enum slug_gzip gzip;
	int level;              /* compression level; -1: the default */
	int64_t mtime;          /* slug_write_dir only; <0: SLUG_DIR_EPOCH */
	bool no_slugignore;     /* do not read the root's .slugignore */
};

#define SLUG_OPTS_INIT { 0, SLUG_GZIP_DEFAULT, -1, -1, false }

/* What a slug write produced. */
struct slug_info {
	char digest[DIGEST_STR_MAX];    /* sha256 of the .tar.gz */
	char diff_id[DIGEST_STR_MAX];   /* sha256 of the tar */
	uint64_t size;                  /* bytes of .tar.gz */
	uint64_t tar_size;              /* bytes of tar */
	uint64_t entries;               /* tar entries, "app/" included */
	uint64_t ignored;               /* paths left out by .slugignore */
	int64_t mtime;                  /* of every entry */
	char commit[GIT_OID_HEXSZ + 1]; /* "" for a directory slug */
};

/* Where the compressed bytes go.  Returns 0, or a negative ERR_* with
 * err_set; the write then stops with that error. */
typedef int (*slug_sink_fn)(void *payload, const void *data, size_t len);

/* A sink writing to a file descriptor; payload points to the int fd. */
int slug_sink_fd(void *payload, const void *data, size_t len);

/*
 * Open the git repository at path (a bare repo, or a work tree's top, whose
 * .git is used; never a parent directory's).  alt_odb_dirs, NULL or a
 * NULL-terminated list, are object directories made visible as alternates:
 * git's quarantine directory (GIT_QUARANTINE_PATH) during pre-receive.
 * Fails with ERR_NOTFOUND when there is no repository there.  The caller
 * owns *out and frees it with slug_repo_free.
 */
int slug_repo_open(git_repository **out, const char *path,
    const char *const *alt_odb_dirs);
void slug_repo_free(git_repository *repo);

/*
 * Resolve rev (a name, ref, sha or revision expression; annotated tags are
 * peeled) to a commit.  ERR_NOTFOUND for an unknown rev, ERR_INVALID for a
 * rev that names something other than a commit (a tree, a blob, a tag of
 * one) or is not a valid revision.
 */
int slug_rev_resolve(git_oid *out, git_repository *repo, const char *rev);

/* Blobs are read in pieces of at most this size (and whole only when no
 * larger), so memory stays flat whatever a file's size. */
#define SLUG_BLOB_CHUNK ((size_t)1 << 20)

/* The size of the object id from its header, without reading it; path
 * names it in messages.  ERR_INVALID when it is not a blob, ERR_NOTFOUND
 * when it is missing. */
int slug_blob_size(uint64_t *out, git_odb *odb, const git_oid *id,
    const char *path);

/*
 * Hand the size bytes of blob id (size from slug_blob_size) to fn in
 * pieces of at most SLUG_BLOB_CHUNK.  Loose objects stream through
 * libgit2; large packed ones, which libgit2 can only inflate whole,
 * through `git cat-file blob` (git must be on PATH; it inherits the
 * environment, so in pre-receive it sees git's quarantine).  ERR_INVALID
 * when the blob does not hold exactly size bytes; fn's error stops it.
 */
int slug_blob_stream(git_repository *repo, git_odb *odb, const git_oid *id,
    uint64_t size, const char *path, slug_sink_fn fn, void *payload);

/*
 * Write the slug of commit's tree to sink, reading blobs straight from the
 * object database.  Fails with ERR_UNSUPPORTED naming the path of a gitlink
 * (submodule), ERR_TOOBIG past the size cap, ERR_INVALID for an unsafe or
 * malformed tree or .slugignore, ERR_NOTFOUND for a missing object.  On
 * failure the sink may have received part of a slug: the caller discards
 * it (slug_create_tree_file does).  out may be NULL.
 */
int slug_write_tree(struct slug_info *out, git_repository *repo,
    const git_oid *commit, const struct slug_opts *opts,
    slug_sink_fn sink, void *payload);

/*
 * Write the slug of the directory dir.  Symlinks are stored as links and
 * never followed (wherever they point); regular files are 0755 when their
 * owner may execute them, else 0644; any other kind of file (fifo, socket,
 * device) is ERR_UNSUPPORTED naming it.  A file that changes size while it
 * is read is ERR_CONFLICT.  As slug_write_tree otherwise.
 */
int slug_write_dir(struct slug_info *out, const char *dir,
    const struct slug_opts *opts, slug_sink_fn sink, void *payload);

/* The same, written atomically to the file path (temp file, fsync,
 * rename): on failure path is untouched and no temp file is left. */
int slug_create_tree_file(struct slug_info *out, git_repository *repo,
    const git_oid *commit, const char *path, const struct slug_opts *opts);
int slug_create_dir_file(struct slug_info *out, const char *dir,
    const char *path, const struct slug_opts *opts);

/*
 * .slugignore: gitignore-style patterns, one a line, with Heroku's
 * semantics: no negation ("!pattern" is an error naming the line, so
 * nobody believes a file was kept when it was not).  '#' starts a comment
 * line, "\#" and "\!" escape; trailing spaces are dropped unless escaped.
 * A pattern without '/' (but a trailing one) matches a name at any depth;
 * with one it is anchored at the root; a trailing '/' matches directories
 * only; '*', '?', '[...]' never match '/', "**" matches across directories.
 * A matched directory leaves out everything under it.
 */
struct slug_ignore;

/* Parse text (len bytes, at most SLUG_SMALL_FILE_MAX).  ERR_INVALID with
 * "line N: ..." for a malformed line.  *out is the caller's. */
int slug_ignore_parse(struct slug_ignore **out, const char *text, size_t len);
/* Is the slash-separated relative path (no leading "app/") left out? */
bool slug_ignore_match(const struct slug_ignore *ig, const char *path,
    bool is_dir);
size_t slug_ignore_count(const struct slug_ignore *ig);
void slug_ignore_free(struct slug_ignore *ig);

/*
 * Procfile: "type: command" lines; type [A-Za-z0-9_-]+ (at most
 * SLUG_PROC_TYPE_MAX bytes) at the start of the line, then ':', optional
 * blanks, and a non-empty command.  Blank lines and lines whose first
 * non-blank is '#' are skipped; CRLF and a UTF-8 BOM are accepted.  A
 * malformed line, a repeated type, a control character or NUL, a line over
 * SLUG_PROC_LINE_MAX bytes or more than SLUG_PROC_MAX types is ERR_INVALID
 * with "Procfile line N: ...".
 */
#define SLUG_PROC_TYPE_MAX 63
#define SLUG_PROC_LINE_MAX 8192
#define SLUG_PROC_MAX 100

struct slug_proc {
	char *type;
	char *command;
};

/* Invariant: types are distinct, in file order. */
struct slug_procfile {
	size_t n;
	struct slug_proc *procs;
};

/* Parse len bytes of text (at most SLUG_SMALL_FILE_MAX); *out is the
 * caller's (an empty list for a file of only comments). */
int slug_procfile_parse(struct slug_procfile **out, const char *text,
    size_t len);
/* The command of type, or NULL. */
const char *slug_procfile_get(const struct slug_procfile *pf,
    const char *type);
void slug_procfile_free(struct slug_procfile *pf);

/*
 * Reading a slug back (slipway slug inspect; the runner checks a slug the
 * same way).  The file is read once: both digests, the entries and the
 * Procfile come out of one pass.  A slug is refused (ERR_INVALID, naming
 * the entry) when it is not gzip'd tar, an entry is not under "app/", has
 * an unsafe path ("..", empty or "." components), is not a file, directory
 * or symlink, or the uncompressed tar passes max_tar_size (0: the default
 * cap times SLUG_TAR_FACTOR).
 */
enum slug_entry_type {
	SLUG_ENTRY_FILE = 'f',
	SLUG_ENTRY_DIR = 'd',
	SLUG_ENTRY_SYMLINK = 'l',
};

struct slug_entry {
	char *path;             /* as in the tar: "app/..." */
	enum slug_entry_type type;
	unsigned mode;          /* permission bits */
	uint64_t size;
	int64_t mtime;
	char *link;             /* symlink target, else NULL */
};

/* Most entries slug_inspect_file keeps. */
#define SLUG_INSPECT_MAX_ENTRIES 1000000

struct slug_inspection {
	char digest[DIGEST_STR_MAX];
	char diff_id[DIGEST_STR_MAX];
	uint64_t size, tar_size;
	size_t n_entries;
	struct slug_entry *entries;
	bool has_procfile;              /* app/Procfile is a regular file */
	struct slug_procfile *procfile; /* NULL unless it parsed */
	char *procfile_error;           /* why it did not parse, else NULL */
};

int slug_inspect_file(struct slug_inspection **out, const char *path,
    uint64_t max_tar_size);
void slug_inspection_free(struct slug_inspection *si);

/* Commands (cli/commands.c). */
int slug_cmd_create(int argc, char **argv);
int slug_cmd_inspect(int argc, char **argv);

#endif
