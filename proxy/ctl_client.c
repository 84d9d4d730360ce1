/*
 * The client side of the control socket, for the CLI and the runner: one
 * connection per call, one JSON line out, one JSON line back.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/err.h"
#include "slipway/home.h"
#include "slipway/proc.h"
#include "slipway/proxy.h"

#define PROXY_CTL_ANSWER_MAX ((size_t)8 << 20)
#define PROXY_CTL_TIMEOUT_MS 10000
#define PROXY_CTL_HANDOVER_MS 1000

char *
proxy_ctl_default_path(void)
{
	return home_proxy_socket_path(home_dir());
}

/* Map the proxy's "code" word back to an ERR_* code. */
static int
proxy_code(const char *word)
{
	static const int codes[] = { ERR_NOTFOUND, ERR_EXISTS, ERR_INVALID,
	    ERR_AUTH, ERR_TIMEOUT, ERR_CONFLICT, ERR_TOOBIG, ERR_UNSUPPORTED,
	    ERR_IO };

	for (size_t i = 0; word && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(word, err_name(codes[i])) == 0)
			return codes[i];
	return ERR_IO;
}

/*
 * Connect to the control socket.  While one proxy hands over to the next
 * (docs/upgrade.md) the socket is missing or refuses for a moment (the old
 * one let go at its SIGTERM, the new one takes it within ~100 ms): that is
 * tried again for PROXY_CTL_HANDOVER_MS before it counts as no proxy.
 */
static int
proxy_ctl_connect(const struct sockaddr_un *sa)
{
	for (int waited = 0;; waited += 50) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

		if (fd < 0)
			return -1;
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		errno = e;
		if ((e != ENOENT && e != ECONNREFUSED) ||
		    waited >= PROXY_CTL_HANDOVER_MS)
			return -1;
		usleep(50 * 1000);
	}
}

/*
 * Send req (consumed) and return the answer object in *out (caller
 * decrefs).  An answer with "ok": false becomes its error code and
 * message.
 */
static int
proxy_ctl_call(json_t **out, const char *ctl, json_t *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct buf line, ans;
	json_t *o = NULL;
	json_error_t je;
	int fd = -1, rc;

	buf_init(&line, 0);
	buf_init(&ans, PROXY_CTL_ANSWER_MAX);
	if (strlen(ctl) >= sizeof(sa.sun_path)) {
		rc = err_set(ERR_INVALID, "control socket path '%s' is too "
		    "long", ctl);
		goto done;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ctl);
	if ((fd = proxy_ctl_connect(&sa)) < 0) {
		rc = err_sys("cannot reach the proxy at '%s' (is 'slipway "
		    "proxy' running?)", ctl);
		rc = ERR_IO;
		goto done;
	}
	{
		char *s = json_dumps(req, JSON_COMPACT);

		buf_puts(&line, s);
		buf_putc(&line, '\n');
		free(s);
	}
	if ((rc = proc_write_all(fd, line.ptr, line.len)) < 0)
		goto done;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char tmp[4096];
		ssize_t n;

		if (ans.len && ans.ptr[ans.len - 1] == '\n')
			break;
		if (poll(&p, 1, PROXY_CTL_TIMEOUT_MS) == 0) {
			rc = err_set(ERR_TIMEOUT, "the proxy at '%s' did not "
			    "answer within %d s", ctl, PROXY_CTL_TIMEOUT_MS / 1000);
			goto done;
		}
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(ERR_IO, "the proxy at '%s' hung up without "
			    "an answer", ctl);
			goto done;
		}
		if ((rc = buf_put(&ans, tmp, (size_t)n)) < 0)
			goto done;
	}
	o = json_loadb(ans.ptr, ans.len, 0, &je);
	if (!json_is_object(o)) {
		rc = err_set(ERR_IO, "the proxy's answer is not JSON: %s",
		    je.text);
		goto done;
	}
	if (!json_is_true(json_object_get(o, "ok"))) {
		const char *msg = json_string_value(json_object_get(o, "error"));

		rc = err_set(proxy_code(json_string_value(json_object_get(o,
		    "code"))), "%s", msg ? msg : "the proxy refused");
		goto done;
	}
	*out = o;
	o = NULL;
	rc = 0;
done:
	json_decref(o);
	json_decref(req);
	if (fd >= 0)
		close(fd);
	buf_free(&line);
	buf_free(&ans);
	return rc;
}

static int
proxy_ctl_simple(const char *ctl, json_t *req)
{
	json_t *o = NULL;
	int rc = proxy_ctl_call(&o, ctl, req);

	json_decref(o);
	return rc;
}

int
proxy_ctl_route_set(const char *ctl, const char *app,
    const char *const *backends, size_t nbackends,
    const char *const *domains, size_t ndomains)
{
	json_t *bs = json_array(), *ds = json_array();

	for (size_t i = 0; i < nbackends; i++)
		json_array_append_new(bs, json_string(backends[i]));
	for (size_t i = 0; i < ndomains; i++)
		json_array_append_new(ds, json_string(domains[i]));
	return proxy_ctl_simple(ctl, json_pack("{s:s,s:s,s:o,s:o}", "op", "set",
	    "app", app, "backends", bs, "domains", ds));
}

int
proxy_ctl_route_rm(const char *ctl, const char *app)
{
	return proxy_ctl_simple(ctl, json_pack("{s:s,s:s}", "op", "rm", "app",
	    app));
}

int
proxy_ctl_maintenance(const char *ctl, const char *app, bool on)
{
	return proxy_ctl_simple(ctl, json_pack("{s:s,s:s,s:b}", "op",
	    "maintenance", "app", app, "on", on));
}

int
proxy_ctl_drain(unsigned *out, bool *routed, const char *ctl,
    const char *backend)
{
	json_t *o = NULL;
	int rc;

	if ((rc = proxy_ctl_call(&o, ctl, json_pack("{s:s,s:s}", "op", "drain",
	    "backend", backend))) < 0)
		return rc;
	*out = (unsigned)json_integer_value(json_object_get(o, "inflight"));
	if (routed)
		*routed = json_is_true(json_object_get(o, "routed"));
	json_decref(o);
	return 0;
}

int
proxy_ctl_drain_wait(unsigned *out, const char *ctl, const char *backend,
    unsigned wait_ms)
{
	struct timespec t0, t;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long long ms;

		if ((rc = proxy_ctl_drain(out, NULL, ctl, backend)) < 0)
			return rc;
		if (*out == 0)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000LL +
		    (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= wait_ms)
			return err_set(ERR_TIMEOUT, "backend %s still has %u "
			    "request%s in flight after %u ms", backend, *out,
			    *out == 1 ? "" : "s", wait_ms);
		usleep(50000);
	}
}

int
proxy_ctl_router(json_t **out, const char *ctl)
{
	return proxy_ctl_call(out, ctl, json_pack("{s:s}", "op", "router"));
}

int
proxy_ctl_routes(char **out, const char *ctl)
{
	json_t *o = NULL;
	int rc;

	if ((rc = proxy_ctl_call(&o, ctl, json_pack("{s:s}", "op", "routes"))) < 0)
		return rc;
	json_object_del(o, "ok");
	*out = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	return 0;
}
