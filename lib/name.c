/* The rules for slipway's names; see include/slipway/name.h. */
#include <stdint.h>
#include <string.h>

#include "slipway/err.h"

#include "slipway/name.h"
#include "slipway/parse.h"

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT "0123456789"

/* 1 to max bytes, the first from first, the others from rest.  strchr
 * would also find the terminating NUL, so the first byte is checked
 * against "" apart. */
static bool
name_chars(const char *s, size_t max, const char *first, const char *rest)
{
	size_t n;

	if (s == NULL || s[0] == '\0' || strchr(first, s[0]) == NULL)
		return false;
	n = 1 + strspn(s + 1, rest);
	return s[n] == '\0' && n <= max;
}

bool
name_app_is_valid(const char *s)
{
	return name_chars(s, NAME_APP_MAX, LOWER, LOWER DIGIT "-");
}

bool
name_group_is_valid(const char *s)
{
	return name_app_is_valid(s);
}

bool
name_user_is_valid(const char *s)
{
	return name_chars(s, NAME_USER_MAX, LOWER, LOWER DIGIT "_.-");
}

bool
name_runner_is_valid(const char *s)
{
	return name_chars(s, NAME_RUNNER_MAX, LOWER DIGIT, LOWER DIGIT ".-");
}

bool
name_env_key_is_valid(const char *s)
{
	return name_chars(s, NAME_ENV_KEY_MAX, LOWER UPPER "_",
	    LOWER UPPER DIGIT "_");
}

bool
name_proc_type_is_valid(const char *s)
{
	return name_chars(s, NAME_PROC_TYPE_MAX, LOWER, LOWER DIGIT "_-");
}

int
name_release_parse(int64_t *out, const char *s)
{
	const char *p = s;
	unsigned long long v;

	if (p == NULL)
		return err_set(ERR_INVALID, "missing release version");
	if (*p == 'v' || *p == 'V')
		p++;
	if (*p < '1' || *p > '9')
		return err_set(ERR_INVALID, "'%.32s' is not a release "
		    "version (v1, v2, ...)", s);
	if (parse_uint(&v, p, 1, INT64_MAX) < 0)
		return err_set(ERR_INVALID, "'%.32s' is not a release "
		    "version (v1, v2, ...)", s);
	*out = (int64_t)v;
	return 0;
}

bool
name_domain_is_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

bool
name_buildpack_is_installed(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("._-", *s)))
			return false;
	return true;
}

bool
name_buildpack_is_url(const char *s)
{
	/* never file://: the builder (root) would clone a host path */
	return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0
	    || strncmp(s, "git://", 6) == 0;
}

bool
name_buildpack_is_valid(const char *s)
{
	const char *hash, *host;
	size_t n = strlen(s);

	if (n == 0 || n > NAME_BUILDPACK_MAX)
		return false;
	if (name_buildpack_is_installed(s))
		return true;
	if (!name_buildpack_is_url(s))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '\\' ||
		    *p == '"' || *p == '\'')
			return false;
	/* something after the scheme: a host */
	host = strstr(s, "://") + 3;
	if (*host == '\0' || *host == '#')
		return false;
	if ((hash = strchr(s, '#')) != NULL) {
		const char *ref = hash + 1;
		if (*ref == '\0' || *ref == '-' || strchr(ref, '#') ||
		    strstr(ref, "..") || strspn(ref, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") != strlen(ref))
			return false;
	}
	return true;
}

int
name_buildpack_check(const char *src)
{
	if (name_buildpack_is_valid(src))
		return 0;
	if (src[0] == '/' || src[0] == '.' || src[0] == '~' ||
	    strncmp(src, "file:", 5) == 0 || (strchr(src, '/') &&
	    strstr(src, "://") == NULL))
		return err_set(ERR_INVALID, "buildpack '%.200s' is a path: "
		    "name an installed buildpack (a directory of "
		    "$SLIPWAY_HOME/buildpacks), a git URL (https://host/bp.git"
		    "#ref) or an http(s) tarball URL", src);
	return err_set(ERR_INVALID, "buildpack '%.200s' is neither an "
	    "installed buildpack's name nor a URL (https://host/bp.git#ref, "
	    "https://host/bp.tgz)", src);
}
