/*
 * Shared pieces of the client commands (see client/client_int.h), and
 * `slipway login`.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "slipway/alloc.h"
#include "slipway/buf.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"

bool
client_open(struct apiclient **out, const char *name)
{
	if (apiclient_open(out) < 0) {
		cmdline_fail(name);
		return false;
	}
	if (apiclient_need_token(*out) < 0) {
		apiclient_free(*out);
		*out = NULL;
		cmdline_fail(name);
		return false;
	}
	return true;
}

static char *
cmd_vpath(const char *fmt, va_list ap)
{
	struct buf b;

	buf_init(&b, 0);
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			buf_putc(&b, *p);
			continue;
		}
		p++;
		if (*p == 's') {
			char *e = apiclient_escape(va_arg(ap, const char *));
			buf_puts(&b, e);
			free(e);
		} else if (*p == 'r') {
			buf_puts(&b, va_arg(ap, const char *));
		} else if (*p == 'd') {
			buf_printf(&b, "%d", va_arg(ap, int));
		} else {
			buf_putc(&b, *p);
		}
	}
	return buf_detach(&b, NULL);
}

bool
client_call(json_t **out, struct apiclient *c, const char *name,
    const char *method, json_t *body, const char *fmt, ...)
{
	va_list ap;
	char *path;
	int rc;

	va_start(ap, fmt);
	path = cmd_vpath(fmt, ap);
	va_end(ap);
	rc = apiclient_call(out, c, method, path, body);
	free(path);
	if (rc < 0) {
		cmdline_fail(name);
		return false;
	}
	return true;
}

int
client_opts_json(bool *json, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*json = false;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'j')
			return cmdline_usage_error(argv[0], "unknown option");
		*json = true;
	}
	return 0;
}

int
client_opts_user(bool *json, const char **user, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	*json = false;
	*user = NULL;
	while ((o = getopt_long(argc, argv, "u:", opts, NULL)) != -1) {
		if (o == 'j')
			*json = true;
		else if (o == 'u')
			*user = optarg;
		else
			return cmdline_usage_error(argv[0], "unknown option");
	}
	return 0;
}

int
client_nargs(int argc, char **argv, int want, const char *what)
{
	if (argc - optind < want)
		return cmdline_usage_error(argv[0], "missing %s", what);
	if (argc - optind > want)
		return cmdline_usage_error(argv[0], "unexpected argument '%s'",
		    argv[optind + want]);
	return 0;
}

int
client_parse_timeout(unsigned *out, const char *name, const char *s)
{
	unsigned long long v;

	if (parse_uint(&v, s, 1, 86400) < 0)
		return cmdline_usage_error(name, "--timeout is 1 to 86400 seconds");
	*out = (unsigned)v;
	return 0;
}

int
client_check_app(const char *name, const char *app)
{
	if (name_app_is_valid(app))
		return 0;
	return cmdline_usage_error(name, "invalid app name '%.64s': use a "
	    "lower-case letter, then up to 29 of a-z 0-9 -", app);
}

int
client_show(int argc, char **argv, const struct client_view *v)
{
	struct apiclient *c = NULL;
	const char *user = NULL;
	json_t *j = NULL;
	bool json, ok;
	int rc;

	if ((rc = v->user ? client_opts_user(&json, &user, argc, argv) :
	    client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, v->nargs, v->what)) ||
	    (v->nargs > 0 && (rc = client_check_app(argv[0], argv[optind]))))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	if (user)
		ok = client_call(&j, c, argv[0], "GET", NULL, "%r?user=%s",
		    v->path, user);
	else
		ok = client_call(&j, c, argv[0], "GET", NULL, v->path,
		    argv[optind], v->nargs > 1 ? argv[optind + 1] : "");
	if (ok && json)
		client_print_json(j);
	else if (ok && v->print)
		v->print(j, argv + optind);
	else if (ok)
		client_print_columns(j, v->cols, v->ncols);
	json_decref(j);
	apiclient_free(c);
	return ok ? 0 : 1;
}

int
client_change_run(int argc, char **argv, const struct client_change *ch)
{
	struct apiclient *c = NULL;
	json_t *body = NULL;
	const char *first, *last;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, ch->nargs, ch->what)) ||
	    (ch->app && (rc = client_check_app(argv[0], argv[optind]))))
		return rc;
	if (!client_open(&c, argv[0]))
		return 1;
	first = argv[optind];
	last = argv[optind + ch->nargs - 1];
	if (ch->key)
		body = json_pack("{ss}", ch->key, last);
	rc = 1;
	if (client_call(NULL, c, argv[0], ch->method, body, ch->path, first,
	    last)) {
		printf(ch->done, last, first);
		putchar('\n');
		rc = 0;
	}
	json_decref(body);
	apiclient_free(c);
	return rc;
}

void
client_print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

void
client_table_init(struct client_table *t, size_t ncols, ...)
{
	va_list ap;

	t->ncols = ncols;
	t->nrows = 1;
	t->cells = xcalloc(ncols, sizeof(*t->cells));
	va_start(ap, ncols);
	for (size_t i = 0; i < ncols; i++)
		t->cells[i] = xstrdup(va_arg(ap, const char *));
	va_end(ap);
}

/* Room for one more row; its cells are the ncols returned. */
static char **
cmd_table_grow(struct client_table *t)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols *
	    sizeof(*t->cells));
	return t->cells + t->nrows++ * t->ncols;
}

void
client_table_row(struct client_table *t, ...)
{
	char **row = cmd_table_grow(t);
	va_list ap;

	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		const char *v = va_arg(ap, const char *);
		row[i] = xstrdup(v ? v : "-");
	}
	va_end(ap);
}

/* obj's member key as text: a list joined, anything else as client_str. */
static char *
cmd_value(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_array(v) ? client_join(v) : xstrdup(client_str(obj, key));
}

void
client_print_columns(json_t *list, const struct client_column *cols,
    size_t ncols)
{
	struct client_table t = { ncols, 1, xcalloc(ncols, sizeof(char *)) };
	size_t i;
	json_t *obj;

	for (size_t c = 0; c < ncols; c++)
		t.cells[c] = xstrdup(cols[c].title);
	json_array_foreach(list, i, obj) {
		char **row = cmd_table_grow(&t);
		for (size_t c = 0; c < ncols; c++)
			row[c] = cmd_value(obj, cols[c].key);
	}
	client_table_print(&t);
}

void
client_print_record(json_t *obj, int width, const struct client_field *f,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *v = cmd_value(obj, f[i].key);
		printf("%s:%*s%s\n", f[i].label,
		    width - 1 - (int)strlen(f[i].label), "", v);
		free(v);
	}
}

void
client_table_print(struct client_table *t)
{
	size_t *w = xcalloc(t->ncols, sizeof(*w));

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t n = strlen(t->cells[r * t->ncols + i]);
			if (n > w[i])
				w[i] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *v = t->cells[r * t->ncols + i];
			if (i + 1 < t->ncols)
				printf("%-*s  ", (int)w[i], v);
			else
				printf("%s\n", v);
		}
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(w);
	t->cells = NULL;
	t->nrows = 0;
}

const char *
client_str(json_t *obj, const char *key)
{
	static _Thread_local char num[32];
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return num;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "yes" : "no";
	return "-";
}

char *
client_join(json_t *arr)
{
	struct buf b;
	size_t i;
	json_t *v;

	buf_init(&b, 0);
	json_array_foreach(arr, i, v) {
		if (i)
			buf_puts(&b, ", ");
		buf_puts(&b, json_is_string(v) ? json_string_value(v) : "?");
	}
	if (b.len == 0)
		buf_puts(&b, "-");
	return buf_detach(&b, NULL);
}

/* ---- login ---- */

int
client_cmd_login(int argc, char **argv)
{
	struct apiclient *c = NULL;
	json_t *me = NULL;
	char *path = NULL;
	bool json;
	int rc;

	if ((rc = client_opts_json(&json, argc, argv)) ||
	    (rc = client_nargs(argc, argv, 2, "URL and TOKEN")))
		return rc;
	if (apiclient_open_with(&c, argv[optind], argv[optind + 1]) < 0)
		return cmdline_fail(argv[0]);
	/* Check the pair before writing it down. */
	if (!client_call(&me, c, argv[0], "GET", NULL, "/v1/me")) {
		apiclient_free(c);
		return 1;
	}
	if (apiclient_config_write(&path, apiclient_url(c),
	    argv[optind + 1]) < 0) {
		json_decref(me);
		apiclient_free(c);
		return cmdline_fail(argv[0]);
	}
	printf("Logged in to %s as %s (%s); saved in %s\n", apiclient_url(c),
	    client_str(me, "name"), client_str(me, "role"), path);
	free(path);
	json_decref(me);
	apiclient_free(c);
	return 0;
}
