/*
 * Which app a command is for, as Heroku's CLI finds it (see
 * include/slipway/client.h): `-a APP` / `--app APP` on every command whose
 * synopsis starts with APP, and without it, in a git repository, the app
 * its remote names when that remote points at this server: the remote
 * named `deploy`, or else the only one that does.  The row's synopsis is
 * the one description of a command's arguments, so it is read here
 * rather than each command learning -a: its options that take a value,
 * and how many arguments it needs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>
#include <jansson.h>

#include "client_int.h"
#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/cmdline.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "slipway/parse.h"
#include "slipway/client.h"

#define SYN_OPTS_MAX 16

/* What a synopsis says ("APP vN [--limit N] [--json]"). */
struct app_syn {
	bool takes_app;         /* its first argument is APP */
	bool then_version;      /* and the next one vN ([vN]) */
	bool dashdash;          /* it has "-- COMMAND..." */
	int required;           /* arguments outside brackets */
	int nopts;
	char opts[SYN_OPTS_MAX][32];    /* options that take a value */
};

static void
syn_parse(struct app_syn *s, const char *args)
{
	char *copy = xstrdup(args), *save = NULL, *prev_opt = NULL;
	int depth = 0, npos = 0;

	memset(s, 0, sizeof(*s));
	for (char *w = strtok_r(copy, " ", &save); w;
	    w = strtok_r(NULL, " ", &save)) {
		int opens = 0, closes = 0;
		char *t = w;

		for (char *p = w; *p; p++) {
			opens += *p == '[';
			closes += *p == ']';
		}
		while (*t == '[')
			t++;
		t[strcspn(t, "]")] = '\0';
		if (strcmp(t, "--") == 0) {
			s->dashdash = true;
		} else if (t[0] == '-') {
			prev_opt = closes ? NULL : t;
		} else if (prev_opt) {          /* its value: N, router|app */
			if (s->nopts < SYN_OPTS_MAX)
				snprintf(s->opts[s->nopts++], sizeof(s->opts[0]),
				    "%s", prev_opt);
			prev_opt = NULL;
		} else {
			if (npos == 0 && depth == 0 && opens == 0)
				s->takes_app = strcmp(t, "APP") == 0;
			if (npos == 1 && s->takes_app)
				s->then_version = strcmp(t, "vN") == 0;
			if (depth == 0 && opens == 0)
				s->required++;
			npos++;
			prev_opt = NULL;
		}
		depth += opens - closes;
	}
	free(copy);
}

static bool
syn_takes_value(const struct app_syn *s, const char *opt)
{
	for (int i = 0; i < s->nopts; i++)
		if (strcmp(s->opts[i], opt) == 0)
			return true;
	return false;
}

/* The app the remote URL names when it is base/APP(.git). */
static char *
app_from_url(const char *url, const char *base)
{
	size_t n = strlen(base);
	char *app;

	if (strncmp(url, base, n) != 0 || url[n] != '/')
		return NULL;
	app = xstrdup(url + n + 1);
	n = strlen(app);
	if (n > 4 && strcmp(app + n - 4, ".git") == 0)
		app[n - 4] = '\0';
	if (!name_app_is_valid(app)) {
		free(app);
		return NULL;
	}
	return app;
}

/* The app of the current directory's repository: ERR_NOTFOUND when no
 * remote of it points here, ERR_CONFLICT when several do and none is
 * named deploy. */
static int
app_from_remote(char **out, const char *base)
{
	git_repository *repo = NULL;
	git_strarray names = { 0 };
	char *found = NULL, *deploy = NULL;
	int n = 0, rc = ERR_NOTFOUND;

	git_libgit2_init();
	if (git_repository_open_ext(&repo, ".", 0, NULL) < 0 ||
	    git_remote_list(&names, repo) < 0)
		goto done;
	for (size_t i = 0; i < names.count; i++) {
		git_remote *r = NULL;
		char *app;

		if (git_remote_lookup(&r, repo, names.strings[i]) < 0)
			continue;
		app = git_remote_url(r) ? app_from_url(git_remote_url(r), base) :
		    NULL;
		git_remote_free(r);
		if (app == NULL)
			continue;
		if (strcmp(names.strings[i], "deploy") == 0 && deploy == NULL)
			deploy = xstrdup(app);
		if (found == NULL || strcmp(found, app) != 0)
			n++;
		free(found);
		found = app;
	}
	if (deploy) {
		*out = deploy;
		deploy = NULL;
		rc = 0;
	} else if (n == 1) {
		*out = found;
		found = NULL;
		rc = 0;
	} else if (n > 1) {
		rc = err_set(ERR_CONFLICT, "this repository has remotes of "
		    "several apps here and none named deploy: give -a APP");
	}
done:
	free(found);
	free(deploy);
	git_strarray_dispose(&names);
	git_repository_free(repo);
	git_libgit2_shutdown();
	return rc;
}

/* Where people push, as the controller says (GET /v1/health), or NULL. */
static char *
app_git_base(void)
{
	struct apiclient *c = NULL;
	json_t *h = NULL;
	char *base = NULL;

	if (apiclient_open(&c) == 0 &&
	    apiclient_call(&h, c, "GET", "/v1/health", NULL) == 0 &&
	    json_is_string(json_object_get(h, "git_url")))
		base = xstrdup(json_string_value(json_object_get(h, "git_url")));
	json_decref(h);
	apiclient_free(c);
	return base;
}

void
client_app_args_free(struct client_app_args *a)
{
	free(a->argv);
	free(a->app);
	memset(a, 0, sizeof(*a));
}

int
client_app_args(struct client_app_args *out, int argc, char **argv,
    const struct cmdline_command *cmd, bool from_remote)
{
	struct app_syn syn;
	const char *given = NULL;
	int64_t version;
	int first = -1, dd = -1, npos = 0, k = 0;
	char **av = xcalloc((size_t)argc + 2, sizeof(*av));
	bool *drop = xcalloc((size_t)argc + 1, sizeof(*drop));
	int rc = 0;

	memset(out, 0, sizeof(*out));
	syn_parse(&syn, cmd->args);
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];

		if (strcmp(w, "--") == 0) {
			dd = i;
			break;
		}
		if (strcmp(w, "-a") == 0 || strcmp(w, "--app") == 0) {
			if (i + 1 >= argc) {
				rc = cmdline_usage_error(argv[0], "%s needs APP",
				    w);
				goto done;
			}
			given = argv[i + 1];
			drop[i] = drop[i + 1] = true;
			i++;
		} else if (strncmp(w, "--app=", 6) == 0) {
			given = w + 6;
			drop[i] = true;
		} else if (w[0] == '-' && w[1] == 'a' && w[2]) {
			given = w + 2;
			drop[i] = true;
		} else if (w[0] == '-' && w[1]) {
			if (!strchr(w, '=') && syn_takes_value(&syn, w))
				i++;
		} else {
			if (first < 0)
				first = i;
			npos++;
		}
	}
	if (dd >= 0 && dd + 1 < argc)
		npos++;         /* the COMMAND after -- */
	if (given && !syn.takes_app) {
		rc = cmdline_usage_error(argv[0], "takes no app: -a is for "
		    "commands whose first argument is APP");
		goto done;
	}
	if (given == NULL && syn.takes_app && from_remote &&
	    (npos < syn.required || (first >= 0 &&
	    (!name_app_is_valid(argv[first]) || (syn.then_version &&
	    name_release_parse(&version, argv[first]) == 0))))) {
		char *base = app_git_base();
		if (base) {
			rc = app_from_remote(&out->app, base);
			free(base);
			if (rc == ERR_CONFLICT) {
				rc = cmdline_fail(argv[0]);
				goto done;
			}
			rc = 0;
			given = out->app;
		}
	}
	/* APP goes where the command's first argument goes: before the
	 * first one, or the "--", or at the end. */
	if (first < 0)
		first = dd >= 0 ? dd : argc;
	for (int i = 0; i < argc; i++) {
		if (i == first && given)
			av[k++] = (char *)given;
		if (!drop[i])
			av[k++] = argv[i];
	}
	if (first == argc && given)
		av[k++] = (char *)given;
	out->argc = k;
	out->argv = av;
	av = NULL;
done:
	free(av);
	free(drop);
	if (rc)
		client_app_args_free(out);
	return rc;
}
