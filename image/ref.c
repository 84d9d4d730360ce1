/*
 * Small parsers around images: tags, "LAYOUT:TAG" arguments, RFC 3339
 * times and the reproducible creation time, the host's architecture.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/image.h"
#include "slipway/parse.h"

#include "image_int.h"

bool
image_tag_is_valid(const char *tag)
{
	size_t n = 0;

	if (tag == NULL || !(isalnum((unsigned char)tag[0]) || tag[0] == '_'))
		return false;
	for (const char *p = tag; *p; p++, n++) {
		if (n >= IMAGE_TAG_MAX)
			return false;
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '.' ||
		    *p == '-'))
			return false;
	}
	return true;
}

int
image_ref_split(char **out_path, char **out_tag, const char *arg)
{
	const char *colon = strrchr(arg, ':');

	*out_path = NULL;
	*out_tag = NULL;
	if (arg[0] == '\0')
		return err_set(ERR_INVALID, "empty layout path");
	if (colon && strchr(colon, '/') == NULL) {
		if (!image_tag_is_valid(colon + 1))
			return err_set(ERR_INVALID, "'%.200s' is not a valid "
			    "tag", colon + 1);
		if (colon == arg)
			return err_set(ERR_INVALID, "'%.200s' has no layout path",
			    arg);
		*out_path = xstrndup(arg, (size_t)(colon - arg));
		*out_tag = xstrdup(colon + 1);
		return 0;
	}
	*out_path = xstrdup(arg);
	return 0;
}

/* Read exactly n digits. */
static bool
image_digits(int *out, const char **s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

int
image_time_parse(int64_t *out, const char *s)
{
	const char *p = s;
	struct tm tm;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!image_digits(&y, &p, 4) || *p++ != '-' ||
	    !image_digits(&mo, &p, 2) || *p++ != '-' ||
	    !image_digits(&d, &p, 2) || (*p != 'T' && *p != 't') ||
	    !(p++, image_digits(&h, &p, 2)) || *p++ != ':' ||
	    !image_digits(&mi, &p, 2) || *p++ != ':' ||
	    !image_digits(&sec, &p, 2))
		goto bad;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!image_digits(&oh, &p, 2) || *p++ != ':' ||
		    !image_digits(&om, &p, 2) || oh > 23 || om > 59)
			goto bad;
	} else {
		goto bad;
	}
	if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		goto bad;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm normalizes Feb 30 into March: refuse dates that moved. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		goto bad;
	*out = (int64_t)t - sign * (oh * 3600 + om * 60);
	return 0;
bad:
	return err_set(ERR_INVALID, "'%.80s' is not an RFC 3339 time", s);
}

int
image_created_pick(char **out, const char *s)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	char tmp[64];
	int64_t t;
	int rc;

	if (s) {
		if ((rc = image_time_parse(&t, s)) < 0)
			return rc;
		*out = xstrdup(s);
		return 0;
	}
	if (epoch && *epoch) {
		unsigned long long v;
		struct tm tm;
		time_t tt;

		if (parse_uint(&v, epoch, 0, INT64_MAX) < 0)
			return err_set(ERR_INVALID, "SOURCE_DATE_EPOCH '%.40s' is "
			    "not a number of seconds", epoch);
		tt = (time_t)v;
		if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999)
			return err_set(ERR_INVALID, "SOURCE_DATE_EPOCH '%.40s' is "
			    "out of range", epoch);
		strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		*out = xstrdup(tmp);
		return 0;
	}
	*out = xstrdup(IMAGE_CREATED_DEFAULT);
	return 0;
}

const char *
image_host_arch(void)
{
	static struct utsname u;

	if (uname(&u) < 0)
		return "amd64";
	if (strcmp(u.machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(u.machine, "aarch64") == 0)
		return "arm64";
	if (strncmp(u.machine, "armv7", 5) == 0)
		return "arm";
	if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
		return "386";
	/* ppc64le, s390x, riscv64: the kernel and OCI names agree. */
	return u.machine;
}
