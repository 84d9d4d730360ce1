/*
 * The control socket: a unix stream socket (mode 0600, so only its owner
 * can change routes) speaking JSON lines, one request object per line and
 * one answer object per line (docs/proxy.md).  It runs in the proxy's own
 * event loop, so a change lands between two events: atomic for every
 * request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/log.h"
#include "slipway/proxy.h"
#include "proxy_int.h"

#define PROXY_CTL_LINE_MAX ((size_t)64 << 10)
#define PROXY_CTL_MAX 32

/* A control connection.  Lines are read into in and answered into out. */
struct proxy_control_conn {
	struct proxy_sock s;
	struct buf in;
	struct buf out;
	size_t out_off;
	struct proxy_control_conn *next, *prev;
};

static char *
proxy_answer_err(int code, const char *msg)
{
	json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 0, "error", msg,
	    "code", err_name(code));
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static char *
proxy_answer(json_t *o)
{
	char *s;

	json_object_set_new(o, "ok", json_true());
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return s;
}

/* Collect an array of strings; ERR_INVALID if it is anything else. */
static int
proxy_strings(const char **v, size_t *n, size_t max, json_t *a,
    const char *what)
{
	size_t i;
	json_t *e;

	*n = 0;
	if (a == NULL)
		return 0;
	if (!json_is_array(a))
		return err_set(ERR_INVALID, "\"%s\" must be an array", what);
	if (json_array_size(a) > max)
		return err_set(ERR_TOOBIG, "more than %zu %s", max, what);
	json_array_foreach(a, i, e) {
		if ((v[i] = json_string_value(e)) == NULL)
			return err_set(ERR_INVALID, "\"%s\" must hold strings",
			    what);
		(*n)++;
	}
	return 0;
}

static char *
proxy_op_drain(struct proxy_routes *r, const char *addr)
{
	struct proxy_backend parsed, *b;

	if (addr == NULL || proxy_backend_parse(&parsed, addr) < 0)
		return proxy_answer_err(ERR_INVALID, addr ? err_last() :
		    "\"backend\" is missing");
	b = proxy_routes_backend(r, parsed.addr);
	return proxy_answer(json_pack("{s:s,s:I,s:b,s:I,s:I}", "backend",
	    parsed.addr, "inflight", (json_int_t)(b ? b->inflight : 0),
	    "routed", b && b->refs > 0, "idle", (json_int_t)(b ? b->nidle : 0),
	    "served", (json_int_t)(b ? b->served : 0)));
}

char *
proxy_control_handle(struct proxy_routes *r, const char *line, size_t n,
    bool *changed)
{
	const char *bv[256], *dv[64];
	size_t nb, nd;
	json_error_t je;
	json_t *req;
	const char *op, *app;
	char *ans;
	int rc;

	*changed = false;
	req = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(req)) {
		json_decref(req);
		return proxy_answer_err(ERR_INVALID, "not a JSON object");
	}
	op = json_string_value(json_object_get(req, "op"));
	app = json_string_value(json_object_get(req, "app"));
	if (op == NULL) {
		ans = proxy_answer_err(ERR_INVALID, "\"op\" is missing");
	} else if (strcmp(op, "routes") == 0) {
		ans = proxy_answer(proxy_routes_json(r));
	} else if (strcmp(op, "router") == 0) {
		ans = proxy_answer(proxy_router_take());
	} else if (strcmp(op, "drain") == 0) {
		ans = proxy_op_drain(r, json_string_value(json_object_get(req,
		    "backend")));
	} else if (app == NULL) {
		ans = proxy_answer_err(ERR_INVALID, "\"app\" is missing");
	} else if (strcmp(op, "set") == 0) {
		if ((rc = proxy_strings(bv, &nb, 256, json_object_get(req,
		    "backends"), "backends")) < 0 ||
		    (rc = proxy_strings(dv, &nd, 64, json_object_get(req,
		    "domains"), "domains")) < 0 ||
		    (rc = proxy_routes_set(r, app, bv, nb, dv, nd)) < 0) {
			ans = proxy_answer_err(rc, err_last());
		} else {
			*changed = true;
			ans = proxy_answer(json_object());
		}
	} else if (strcmp(op, "rm") == 0) {
		if ((rc = proxy_routes_rm(r, app)) < 0) {
			ans = proxy_answer_err(rc, err_last());
		} else {
			*changed = true;
			ans = proxy_answer(json_object());
		}
	} else if (strcmp(op, "maintenance") == 0) {
		json_t *on = json_object_get(req, "on");

		if (!json_is_boolean(on))
			ans = proxy_answer_err(ERR_INVALID,
			    "\"on\" must be true or false");
		else if ((rc = proxy_routes_maintenance(r, app,
		    json_is_true(on))) < 0)
			ans = proxy_answer_err(rc, err_last());
		else {
			*changed = true;
			ans = proxy_answer(json_object());
		}
	} else {
		ans = proxy_answer_err(ERR_UNSUPPORTED, "unknown \"op\"");
	}
	json_decref(req);
	return ans;
}

int
proxy_control_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *dir, *slash;
	char *lock;
	mode_t old;
	int fd, probe, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(ERR_INVALID, "control socket path '%s' is too "
		    "long", path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((rc = fs_mkdir_p(dir, 0755)) < 0) {
			free(dir);
			return rc;
		}
	}
	free(dir);
	/* One proxy per control socket: the lock is held for the proxy's
	 * life (the kernel drops it when the process dies), so the socket
	 * file of a live proxy is never replaced. */
	lock = xasprintf("%s.lock", path);
	proxy_srv.ctl_lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (proxy_srv.ctl_lock < 0) {
		rc = err_sys("cannot open '%s'", lock);
		free(lock);
		return rc;
	}
	free(lock);
	if (flock(proxy_srv.ctl_lock, LOCK_EX | LOCK_NB) < 0) {
		close(proxy_srv.ctl_lock);
		proxy_srv.ctl_lock = -1;
		return err_set(ERR_CONFLICT, "another proxy uses the control "
		    "socket '%s'", path);
	}
	/* A socket file left by a proxy that died is removed; one a live
	 * proxy answers on is not. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			return err_set(ERR_EXISTS, "a proxy already answers on "
			    "'%s'", path);
		}
		close(probe);
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys("cannot make a socket");
	old = umask(077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 64) < 0) {
		rc = err_sys("cannot listen on '%s'", path);
		close(fd);
		return rc;
	}
	return fd;
}

/*
 * Open the control socket and watch it.  A proxy handed its listener
 * (a restart under `slipway up`) may start while the one before it still
 * drains and holds the control socket: it serves at once with the routes
 * file as it was, and proxy_control_retry takes the socket when the old
 * one lets go.  Anyone else gets the error: two proxies on one socket are
 * a mistake.
 */
int
proxy_control_take(bool may_wait)
{
	int fd = proxy_control_open(proxy_srv.o->control), rc;

	if (fd == ERR_CONFLICT && may_wait) {
		if (!proxy_srv.ctl_waiting)
			log_info("the proxy before this one still holds '%s': "
			    "serving, and taking it when that one stops",
			    proxy_srv.o->control);
		proxy_srv.ctl_waiting = true;
		return 0;
	}
	if (fd < 0)
		return fd;
	proxy_sock_init(&proxy_srv.csock, PROXY_K_CTL_LISTEN, fd, false);
	if ((rc = proxy_sock_add(&proxy_srv.csock)) < 0)
		return rc;
	return 0;
}

/*
 * Waiting for the control socket: try again (a few times a second).  Once
 * it is ours, the routes file is read again: the proxy before this one
 * may have changed routes after we loaded it, and saved each change
 * before it let go (proxy_control_release), so the file is now the truth.
 */
void
proxy_control_retry(void)
{
	const char *file = proxy_srv.o->routes_file;

	if (!proxy_srv.ctl_waiting)
		return;
	if (proxy_control_take(true) < 0) {
		log_warnx("cannot take the control socket: %s", err_last());
		return;
	}
	if (proxy_srv.csock.fd < 0)
		return;
	proxy_srv.ctl_waiting = false;
	if (file && access(file, F_OK) == 0 &&
	    proxy_routes_load(&proxy_srv.routes, file, true) < 0)
		log_warnx("routes file not read again: %s", err_last());
	log_info("took the control socket %s", proxy_srv.o->control);
}

/* Stopping: give the control socket up now, not when the last request
 * has drained, so that the proxy after this one takes it at once.  From
 * here on this proxy changes no route. */
void
proxy_control_release(void)
{
	if (proxy_srv.csock.fd >= 0) {
		epoll_ctl(proxy_srv.ep, EPOLL_CTL_DEL, proxy_srv.csock.fd, NULL);
		close(proxy_srv.csock.fd);
		proxy_srv.csock.fd = -1;
		unlink(proxy_srv.o->control);
	}
	proxy_control_close_all();
	if (proxy_srv.ctl_lock >= 0) {
		close(proxy_srv.ctl_lock);
		proxy_srv.ctl_lock = -1;
	}
	proxy_srv.ctl_waiting = false;
}

static void
proxy_control_conn_close(struct proxy_control_conn *k)
{
	close(k->s.fd);
	if (k->prev)
		k->prev->next = k->next;
	else
		proxy_srv.ctls = k->next;
	if (k->next)
		k->next->prev = k->prev;
	proxy_srv.nctls--;
	buf_free(&k->in);
	buf_free(&k->out);
	/* Freed now: epoll reports an fd once per wait, and this one's
	 * event is the one being handled, so no later event points here. */
	free(k);
}

void
proxy_control_accept(void)
{
	for (;;) {
		int fd = accept4(proxy_srv.csock.fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct proxy_control_conn *k;

		if (fd < 0)
			return;
		if (proxy_srv.nctls >= PROXY_CTL_MAX) {
			close(fd);
			continue;
		}
		k = xcalloc(1, sizeof(*k));
		proxy_sock_init(&k->s, PROXY_K_CTL, fd, false);
		buf_init(&k->in, PROXY_CTL_LINE_MAX);
		buf_init(&k->out, (size_t)8 << 20);
		if (proxy_sock_add(&k->s) < 0) {
			close(fd);
			buf_free(&k->in);
			free(k);
			continue;
		}
		k->next = proxy_srv.ctls;
		if (k->next)
			k->next->prev = k;
		proxy_srv.ctls = k;
		proxy_srv.nctls++;
	}
}

static void
proxy_control_changed(void)
{
	if (proxy_srv.o->routes_file &&
	    proxy_routes_save(&proxy_srv.routes, proxy_srv.o->routes_file) < 0)
		log_warnx("routes changed but not saved: %s", err_last());
}

/* Answer every complete line in k->in. */
static void
proxy_control_conn_lines(struct proxy_control_conn *k)
{
	char *nl;

	while ((nl = memchr(k->in.ptr, '\n', k->in.len)) != NULL) {
		size_t n = (size_t)(nl - k->in.ptr);
		bool changed;
		char *ans;

		ans = proxy_control_handle(&proxy_srv.routes, k->in.ptr, n, &changed);
		if (changed) {
			log_info("control: %.*s", (int)(n > 300 ? 300 : n),
			    k->in.ptr);
			proxy_control_changed();
		}
		if (buf_puts(&k->out, ans) < 0 || buf_putc(&k->out, '\n') < 0)
			k->s.eof = true;
		free(ans);
		buf_consume(&k->in, n + 1);
	}
}

void
proxy_control_event(struct proxy_control_conn *k, uint32_t ev)
{
	char tmp[4096];

	while (k->s.rd && !k->s.eof) {
		ssize_t n = read(k->s.fd, tmp, sizeof(tmp));

		if (n > 0) {
			if (buf_put(&k->in, tmp, (size_t)n) < 0) {
				/* A line over the cap: answer and hang up. */
				char *ans = proxy_answer_err(ERR_TOOBIG,
				    "request line too long");
				buf_puts(&k->out, ans);
				buf_putc(&k->out, '\n');
				free(ans);
				k->s.eof = true;
				break;
			}
			proxy_control_conn_lines(k);
		} else if (n == 0) {
			k->s.eof = true;
		} else if (errno == EAGAIN || errno == EINTR) {
			k->s.rd = false;
		} else {
			proxy_control_conn_close(k);
			return;
		}
	}
	if (k->out_off < k->out.len) {
		ssize_t w = proxy_sock_send(&k->s, &k->out, &k->out_off, NULL, 0);

		if (w < 0) {
			proxy_control_conn_close(k);
			return;
		}
		if (k->out_off == k->out.len) {
			buf_reset(&k->out);
			k->out_off = 0;
		}
	}
	if (k->s.eof && k->out.len == 0)
		proxy_control_conn_close(k);
}

void
proxy_control_close_all(void)
{
	while (proxy_srv.ctls)
		proxy_control_conn_close(proxy_srv.ctls);
}
