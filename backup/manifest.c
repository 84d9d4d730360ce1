/*
 * The backup's manifest and trailer, and the path rules restore applies
 * (include/slipway/backup.h).  The manifest is JSON:
 *   {"format":1,"slipway":"0.1.0","created":"2026-12-03T18:00:00Z",
 *    "entries":[{"path":"git","type":"dir","mode":448},
 *               {"path":"secret","type":"file","mode":384,"size":32,
 *                "sha256":"<64 hex>"},
 *               {"path":"a/l","type":"symlink","mode":511,"target":"b"}]}
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/digest.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "backup_int.h"

struct backup_entry *
backup_list_add(struct backup_list *l, enum backup_type type,
    const char *path, unsigned mode)
{
	struct backup_entry *e;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	e = &l->v[l->n++];
	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	e->type = type;
	e->mode = mode & 0777;
	return e;
}

void
backup_list_free(struct backup_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

bool
backup_path_is_safe(const char *path)
{
	return fs_path_is_safe(path) &&
	    strcmp(path, BACKUP_MANIFEST_NAME) != 0 &&
	    strcmp(path, BACKUP_TRAILER_NAME) != 0;
}

/*
 * Every ".." must lead the target: a ".." after a name would be read by
 * the kernel from where that name points, which may be a symlink too,
 * so only leading ones can be counted against path's directories (all
 * real directories: the manifest puts none under a symlink).
 */
bool
backup_symlink_is_safe(const char *path, const char *target)
{
	const char *p;
	long depth = 0;
	bool named = false;

	if (path == NULL || target == NULL || *target == '\0' ||
	    *target == '/' || strlen(target) >= 4096)
		return false;
	for (p = path; *p; p++)
		if (*p == '/')
			depth++;
	for (p = target; *p; ) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 0 || (n == 1 && p[0] == '.'))
			return false;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (named || --depth < 0)
				return false;
		} else {
			named = true;
		}
		p = *end ? end + 1 : end;
	}
	return true;
}

static bool
backup_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static const char *
backup_type_name(enum backup_type t)
{
	return t == BACKUP_DIR ? "dir" : t == BACKUP_FILE ? "file" :
	    "symlink";
}

char *
backup_manifest_dump(const struct backup_list *list, time_t created,
    size_t *len)
{
	json_t *entries = json_array(), *root;
	char when[32], *s;
	struct tm tm;

	for (size_t i = 0; i < list->n; i++) {
		const struct backup_entry *e = &list->v[i];
		json_t *o = json_pack("{sssssi}", "path", e->path, "type",
		    backup_type_name(e->type), "mode", (json_int_t)e->mode);

		if (e->type == BACKUP_FILE) {
			json_object_set_new(o, "size",
			    json_integer((json_int_t)e->size));
			json_object_set_new(o, "sha256", json_string(e->sha256));
		} else if (e->type == BACKUP_SYMLINK) {
			json_object_set_new(o, "target", json_string(e->target));
		}
		json_array_append_new(entries, o);
	}
	gmtime_r(&created, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	root = json_pack("{sisssssO}", "format", BACKUP_FORMAT, "slipway",
	    SLIPWAY_VERSION, "created", when, "entries", entries);
	s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	json_decref(entries);
	if (s == NULL)
		abort();        /* only on allocation failure */
	*len = strlen(s);
	return s;
}

/* For the parse's duplicate and parent checks: entries by path. */
struct backup_ref {
	const char *path;
	size_t index;
};

static int
backup_ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct backup_ref *)a)->path,
	    ((const struct backup_ref *)b)->path);
}

static int
backup_entry_parse(struct backup_list *l, json_t *o, size_t i)
{
	json_t *jp = json_object_get(o, "path"), *jt = json_object_get(o,
	    "type"), *jm = json_object_get(o, "mode");
	const char *path = json_string_value(jp), *type = json_string_value(jt);
	struct backup_entry *e;
	enum backup_type t;

	if (!json_is_object(o) || path == NULL || type == NULL ||
	    !json_is_integer(jm) || json_integer_value(jm) < 0 ||
	    json_integer_value(jm) > 0777)
		return err_set(ERR_INVALID, "entry %zu is malformed", i);
	if (!backup_path_is_safe(path))
		return err_set(ERR_INVALID, "entry %zu has an unsafe path "
		    "'%.200s'", i, path);
	if (strcmp(type, "dir") == 0)
		t = BACKUP_DIR;
	else if (strcmp(type, "file") == 0)
		t = BACKUP_FILE;
	else if (strcmp(type, "symlink") == 0)
		t = BACKUP_SYMLINK;
	else
		return err_set(ERR_INVALID, "entry '%.200s' has the type "
		    "'%.20s': only files, directories and symlinks are "
		    "restored", path, type);
	e = backup_list_add(l, t, path, (unsigned)json_integer_value(jm));
	if (t == BACKUP_FILE) {
		json_t *js = json_object_get(o, "size");
		const char *h = json_string_value(json_object_get(o, "sha256"));

		if (!json_is_integer(js) || json_integer_value(js) < 0 ||
		    !backup_hex64(h))
			return err_set(ERR_INVALID, "file entry '%.200s' has "
			    "no valid size and sha256", path);
		e->size = (uint64_t)json_integer_value(js);
		memcpy(e->sha256, h, 65);
	} else if (t == BACKUP_SYMLINK) {
		const char *target = json_string_value(json_object_get(o,
		    "target"));

		if (!backup_symlink_is_safe(path, target))
			return err_set(ERR_INVALID, "symlink '%.200s' points "
			    "out of the home: refused", path);
		e->target = xstrdup(target);
	}
	return 0;
}

/* Every path once; every parent a directory listed before its child. */
static int
backup_manifest_tree_check(const struct backup_list *l)
{
	struct backup_ref *refs = xcalloc(l->n ? l->n : 1, sizeof(*refs));
	int rc = 0;

	for (size_t i = 0; i < l->n; i++)
		refs[i] = (struct backup_ref){ l->v[i].path, i };
	qsort(refs, l->n, sizeof(*refs), backup_ref_cmp);
	for (size_t i = 1; i < l->n && rc == 0; i++)
		if (strcmp(refs[i - 1].path, refs[i].path) == 0)
			rc = err_set(ERR_INVALID, "'%.200s' is listed twice",
			    refs[i].path);
	for (size_t i = 0; i < l->n && rc == 0; i++) {
		const char *path = l->v[i].path, *slash = strrchr(path, '/');
		struct backup_ref key, *parent;
		char *dir;

		if (slash == NULL)
			continue;
		dir = xstrndup(path, (size_t)(slash - path));
		key.path = dir;
		parent = bsearch(&key, refs, l->n, sizeof(*refs),
		    backup_ref_cmp);
		if (parent == NULL || parent->index > i ||
		    l->v[parent->index].type != BACKUP_DIR)
			rc = err_set(ERR_INVALID, "'%.200s' is not under a "
			    "directory listed before it", path);
		free(dir);
	}
	free(refs);
	return rc;
}

int
backup_manifest_parse(struct backup_list *out, const void *data, size_t len)
{
	struct backup_list l = { 0 };
	json_error_t je;
	json_t *root, *entries, *fmt;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return err_set(ERR_INVALID, "the manifest is not JSON: %s",
		    je.text);
	fmt = json_object_get(root, "format");
	entries = json_object_get(root, "entries");
	if (!json_is_integer(fmt) || !json_is_array(entries)) {
		rc = err_set(ERR_INVALID, "the manifest has no format or "
		    "entries");
		goto done;
	}
	if (json_integer_value(fmt) != BACKUP_FORMAT) {
		rc = err_set(ERR_UNSUPPORTED, "backup format %lld: this "
		    "slipway reads format %d", (long long)json_integer_value(
		    fmt), BACKUP_FORMAT);
		goto done;
	}
	if (json_array_size(entries) > BACKUP_ENTRIES_MAX) {
		rc = err_set(ERR_TOOBIG, "the manifest lists more than %u "
		    "entries", BACKUP_ENTRIES_MAX);
		goto done;
	}
	for (i = 0; i < json_array_size(entries) && rc == 0; i++)
		rc = backup_entry_parse(&l, json_array_get(entries, i), i);
	if (rc == 0)
		rc = backup_manifest_tree_check(&l);
	if (rc == 0) {
		*out = l;
		memset(&l, 0, sizeof(l));
	}
done:
	backup_list_free(&l);
	json_decref(root);
	return rc;
}

void
backup_trailer_make(char out[66], const void *manifest, size_t len)
{
	char d[DIGEST_STR_MAX];

	digest_buf(d, DIGEST_SHA256, manifest, len);
	memcpy(out, d + strlen("sha256:"), 64);
	out[64] = '\n';
	out[65] = '\0';
}

int
backup_trailer_check(const void *manifest, size_t len, const void *trailer,
    size_t tlen)
{
	char want[66];

	backup_trailer_make(want, manifest, len);
	if (tlen == 65 && memcmp(trailer, want, 65) == 0)
		return 0;
	if (tlen == 64 && memcmp(trailer, want, 64) == 0)
		return 0;
	return err_set(ERR_INVALID, "the trailer does not match the manifest");
}
