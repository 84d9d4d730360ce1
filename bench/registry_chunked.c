/*
 * Chunked blob upload for bench/registry.sh, the same for both registries:
 *
 *   registry_chunked BASE_URL AUTH_HEADER DIGEST REPO CHUNK...
 *
 * POST BASE/v2/REPO/blobs/uploads/, one PATCH per chunk file
 * (Content-Range, in order, each to the Location the last answer gave),
 * then the closing PUT ?digest=: libcurl, as the curl tool, but one
 * process and one keep-alive connection for all of it, as a registry
 * client does.  (With the curl tool every request is a process of its
 * own, and 22 processes cost more CPU than either server spends on the
 * upload.)  Exits 1 naming the step that got an unexpected status.
 *
 *   cc -O2 -o registry_chunked bench/registry_chunked.c -lcurl
 */
#define _GNU_SOURCE             /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>

static char location[4096];

/* Keep the last Location header of an answer. */
static size_t
on_header(char *line, size_t size, size_t n, void *unused)
{
	size_t len = size * n, k = strlen("location:");

	(void)unused;
	if (len > k && strncasecmp(line, "location:", k) == 0) {
		const char *v = line + k;
		size_t vl = len - k;

		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		if (vl < sizeof(location)) {
			memcpy(location, v, vl);
			location[vl] = '\0';
		}
	}
	return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *unused)
{
	(void)data;
	(void)unused;
	return size * n;
}

/* One request; the status, or exit on a transport error. */
static long
request(CURL *c, const char *method, const char *url, const char *auth,
    const char *range, FILE *body, curl_off_t len)
{
	struct curl_slist *h = NULL;
	char rh[128];
	long status = 0;
	CURLcode rc;

	curl_easy_reset(c);     /* keeps the connection */
	h = curl_slist_append(h, auth);
	if (range) {
		snprintf(rh, sizeof(rh), "Content-Range: %s", range);
		h = curl_slist_append(h, rh);
		h = curl_slist_append(h, "Content-Type: application/octet-stream");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	if (body == NULL) {             /* POST, closing PUT: no body */
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_READDATA, body);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, len);
	}
	location[0] = '\0';
	rc = curl_easy_perform(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK) {
		fprintf(stderr, "registry_chunked: %s %s: %s\n", method, url,
		    curl_easy_strerror(rc));
		exit(1);
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The Location of the last answer as an absolute URL. */
static char *
next_url(const char *base)
{
	char *u;

	if (location[0] == '\0') {
		fprintf(stderr, "registry_chunked: no Location in the answer\n");
		exit(1);
	}
	if (strncmp(location, "http", 4) == 0)
		return strdup(location);
	if (asprintf(&u, "%s%s", base, location) < 0)
		abort();
	return u;
}

static void
expect(long got, long want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "registry_chunked: %s gave %ld, not %ld\n", what,
		    got, want);
		exit(1);
	}
}

int
main(int argc, char **argv)
{
	const char *base, *auth, *digest, *repo;
	char *url, *next, range[64];
	curl_off_t off = 0;
	CURL *c;

	if (argc < 6) {
		fprintf(stderr, "usage: registry_chunked BASE_URL AUTH_HEADER "
		    "DIGEST REPO CHUNK...\n");
		return 2;
	}
	base = argv[1], auth = argv[2], digest = argv[3], repo = argv[4];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (asprintf(&url, "%s/v2/%s/blobs/uploads/", base, repo) < 0)
		abort();
	expect(request(c, "POST", url, auth, NULL, NULL, 0), 202, "POST");
	free(url);
	url = next_url(base);
	for (int i = 5; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		struct stat st;

		if (f == NULL || fstat(fileno(f), &st) < 0) {
			perror(argv[i]);
			return 1;
		}
		snprintf(range, sizeof(range), "%lld-%lld", (long long)off,
		    (long long)(off + st.st_size - 1));
		expect(request(c, "PATCH", url, auth, range, f, st.st_size),
		    202, "PATCH");
		fclose(f);
		off += st.st_size;
		free(url);
		url = next_url(base);
	}
	if (asprintf(&next, "%s%cdigest=%s", url, strchr(url, '?') ? '&' : '?',
	    digest) < 0)
		abort();
	expect(request(c, "PUT", next, auth, NULL, NULL, 0), 201, "closing PUT");
	free(next);
	free(url);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	return 0;
}
