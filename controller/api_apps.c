/*
 * API handlers for apps and what hangs off them: collaborators, domains,
 * config, builds, releases, formation and ps.  Reading needs the app
 * (owner, collaborator or admin); anything that makes a release or changes
 * what runs also needs every group the app is deployed to.
 */
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl_int.h"
#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/fs.h"
#include "slipway/home.h"
#include "slipway/log.h"
#include "slipway/parse.h"
#include "slipway/repo.h"

#define APP_GROUPS_MAX 16
#define RELEASES_DEFAULT 100
#define RELEASES_MAX 1000

/* Log the release rel the caller made of the app seg[1] names, and
 * schedule it. */
static void
ctl_release_made(struct ctl_call *c, json_t *rel)
{
	log_info("%s: %s: v%" JSON_INTEGER_FORMAT " %s", c->actor.name,
	    c->seg[1], json_integer_value(json_object_get(rel, "version")),
	    json_string_value(json_object_get(rel, "summary")));
	ctl_schedule_kick(c->ctl, c->st);
	ctl_retain_kick(c->ctl);
}

/* ---- apps ---- */

void
ctl_apps_list(struct ctl_call *c)
{
	json_t *list;

	if (ctl_need_user(c) &&
	    ctl_check(c, store_app_list(&list, c->st, &c->actor)))
		ctl_reply(c, 200, list);
}

void
ctl_apps_create(struct ctl_call *c)
{
	const char *groups[APP_GROUPS_MAX];
	const char *name, *branch, *one;
	const struct ctl_field fields[] = {
		{ "name", &name, "'name' is required" },
		{ "deploy_branch", &branch, NULL },
		{ "group", &one, NULL },
	};
	json_t *gl, *v, *app;
	size_t ng = 0, i;
	int rc;

	if (!ctl_need_user(c) || !ctl_body_fields(c, fields, 3))
		return;
	if (one)
		groups[ng++] = one;
	if ((gl = json_object_get(c->body, "groups")) != NULL) {
		if (!json_is_array(gl) || json_array_size(gl) + ng >
		    APP_GROUPS_MAX) {
			ctl_error(c, 422, "invalid", "'groups' is a "
			    "list of up to %d group names", APP_GROUPS_MAX);
			return;
		}
		json_array_foreach(gl, i, v) {
			if (!json_is_string(v)) {
				ctl_error(c, 422, "invalid", "'groups' "
				    "is a list of group names");
				return;
			}
			groups[ng++] = json_string_value(v);
		}
	}
	if (ng == 0)
		groups[ng++] = "default";
	/* A member may only put an app where they may deploy. */
	for (i = 0; i < ng && !c->actor.admin; i++) {
		bool in = false;
		if (!ctl_check(c, store_group_has_user(&in, c->st, groups[i],
		    c->actor.user_id)))
			return;
		if (!in) {
			ctl_error(c, 403, "forbidden", "you may not "
			    "deploy to group '%s'; ask an admin to grant it "
			    "(groups:add-user)", groups[i]);
			return;
		}
	}
	if (!ctl_check(c, store_app_create(c->st, name, c->actor.name,
	    groups, ng)))
		return;
	if (branch && (rc = store_app_set_branch(c->st, name, branch)) < 0) {
		/* all or nothing: an app with a refused branch is not made */
		char msg[256];
		snprintf(msg, sizeof(msg), "%s", err_last());
		store_app_destroy(c->st, name);
		ctl_error(c, 422, "invalid", "%s", msg);
		return;
	}
	if (!ctl_check(c, store_app_get(&app, c->st, name)))
		return;
	log_info("%s created app '%s'", c->actor.name, name);
	ctl_reply(c, 201, app);
}

void
ctl_apps_get(struct ctl_call *c)
{
	json_t *app;

	if (!ctl_app_read(c, c->seg[1]) ||
	    !ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		return;
	/* only when asked (apps:info): the push path reads the app too, and
	 * measuring asks the registry and walks two trees */
	if (httpd_req_query(c->req, "disk"))
		json_object_set_new(app, "disk", ctl_app_disk(c->ctl,
		    c->seg[1], json_string_value(json_object_get(app,
		    "uid"))));
	if (c->ctl->git_url)
		json_object_set_new(app, "git_url", json_sprintf("%s/%s.git",
		    c->ctl->git_url, c->seg[1]));
	ctl_reply(c, 200, app);
}

void
ctl_apps_update(struct ctl_call *c)
{
	const char *branch;
	const struct ctl_field field = { "deploy_branch", &branch,
	    "only 'deploy_branch' can be changed" };
	json_t *app;

	if (ctl_app_deploy(c, c->seg[1]) && ctl_body_fields(c, &field, 1) &&
	    ctl_check(c, store_app_set_branch(c->st, c->seg[1], branch)) &&
	    ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		ctl_reply(c, 200, app);
}

/*
 * What a destroyed app leaves on disk and in the registry goes with it,
 * so that nothing of it reaches the next owner of the name: its images
 * (the registry repository is named after the app), its build cache and
 * logs, its git repository (all three keyed by its uid, so even what a
 * failure here leaves is never handed to another app).  Each part is
 * tried; what fails is logged for the operator.
 */
static void
apps_purge(struct ctl_call *c, const char *name, const char *uid)
{
	char *cache = home_cache_path(c->ctl->home, uid);
	char *logs = home_builds_dir(c->ctl->home, uid);
	char *repo = NULL;

	if (fs_remove_tree(cache) < 0 || fs_remove_tree(logs) < 0)
		log_warnx("app '%s' destroyed; %s", name, err_last());
	if (repo_find(&repo, c->ctl->home, name, uid) == 0 &&
	    fs_remove_tree(repo) < 0)
		log_warnx("app '%s' destroyed; its repository stays: %s", name,
		    err_last());
	free(repo);
	free(logs);
	free(cache);
}

void
ctl_apps_destroy(struct ctl_call *c)
{
	const char *confirm = httpd_req_query(c->req, "confirm");
	const char *registry = c->ctl->registry_url;
	char uid[33];
	json_t *app = NULL;

	if (!ctl_app_owner(c, c->seg[1]))
		return;
	if (confirm == NULL || strcmp(confirm, c->seg[1]) != 0) {
		ctl_error(c, 422, "invalid", "destroying '%s' needs "
		    "?confirm=%s", c->seg[1], c->seg[1]);
		return;
	}
	if (!ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		return;
	snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(
	    app, "uid")) ? json_string_value(json_object_get(app, "uid")) :
	    "");
	json_decref(app);
	/* The images first: while the app exists no one else can have its
	 * name, so none of what is deleted can be another's. */
	if (ctl_registry_purge(c->ctl, registry, c->seg[1]) < 0)
		log_warnx("app '%s': its images stay in the registry at %s: %s",
		    c->seg[1], registry, err_last());
	if (!ctl_check(c, store_app_destroy(c->st, c->seg[1])))
		return;
	if (strlen(uid) == 32)
		apps_purge(c, c->seg[1], uid);
	log_info("%s destroyed app '%s'", c->actor.name, c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{ss}", "destroyed", c->seg[1]));
}

/*
 * POST /v1/apps/APP/rename {"name"}, under the app's lock, in an order a
 * kill anywhere leaves whole (docs/controller.md, "Rename"):
 *   1. the store says the rename may go (name free, no build running);
 *   2. the images are tagged into the new registry repository, their
 *      blobs mounted from the old (nothing is uploaded); a failure purges
 *      what was copied and changes nothing else;
 *   3. the git repository moves to the new name (a retry after a kill
 *      here finds it there: it carries the app's uid);
 *   4. the store renames the app and its builds' image references in one
 *      transaction: from here the runners pull from the new repository
 *      and route the new name;
 *   5. the old repository's tags are deleted (a kill just before leaves
 *      them there, as a purge that fails at destroy does; logged).
 */
static bool
rename_repo(struct ctl_call *c, const char *uid, const char *from,
    const char *to)
{
	char *src = home_repo_path(c->ctl->home, from), *dst = NULL;
	char *have = NULL;
	bool ok = true;

	dst = home_repo_path(c->ctl->home, to);
	if (fs_exists(src)) {
		/* what is at the new name is a destroyed app's: not ours */
		if (fs_remove_tree(dst) < 0 || rename(src, dst) < 0) {
			ctl_error(c, 500, "io", "cannot move the repository of "
			    "'%s' to '%s': %s", from, dst, err_last());
			ok = false;
		}
	} else if (uid[0] && fs_exists(dst) && (have = repo_uid(dst)) &&
	    strcmp(have, uid) == 0) {
		log_info("app '%s': its repository is at %s already (a rename "
		    "cut off before)", from, dst);
	}
	free(have);
	free(src);
	free(dst);
	return ok;
}

void
ctl_apps_rename(struct ctl_call *c)
{
	const char *name, *registry = c->ctl->registry_url;
	char uid[33];
	json_t *app = NULL;
	int lock = -1, rc;

	if (!ctl_app_owner(c, c->seg[1]) || !ctl_body_need(c, "name", &name))
		return;
	if ((rc = repo_lock(&lock, c->ctl->home, c->seg[1],
	    c->actor.name)) < 0) {
		ctl_fail(c, rc);
		return;
	}
	if (!ctl_check(c, store_app_rename_check(c->st, c->seg[1], name)) ||
	    !ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		goto done;
	snprintf(uid, sizeof(uid), "%s", json_string_value(json_object_get(
	    app, "uid")) ? json_string_value(json_object_get(app, "uid")) :
	    "");
	/* No app has the new name: whatever its repository holds is a
	 * destroyed one's, and goes before ours is copied in. */
	if ((rc = ctl_registry_purge(c->ctl, registry, name)) < 0 ||
	    (rc = ctl_registry_copy(c->ctl, registry, c->seg[1], name)) < 0) {
		ctl_error(c, 502, "registry", "cannot rename '%s': its images "
		    "could not be tagged into '%s' at the registry (%s); "
		    "nothing was renamed", c->seg[1], name, err_last());
		if (ctl_registry_purge(c->ctl, registry, name) < 0)
			log_warnx("app '%s': a partial copy stays in registry "
			    "repository '%s': %s", c->seg[1], name, err_last());
		goto done;
	}
	if (!rename_repo(c, uid, c->seg[1], name))
		goto done;
	if (!ctl_check(c, store_app_rename(c->st, c->seg[1], name))) {
		/* the store refused after all: the repository goes back */
		if (!rename_repo(c, uid, name, c->seg[1]))
			log_warnx("app '%s': its repository stays at the name "
			    "'%s'", c->seg[1], name);
		goto done;
	}
	if (ctl_registry_purge(c->ctl, registry, c->seg[1]) < 0)
		log_warnx("app '%s' renamed '%s'; its old images stay in "
		    "registry repository '%s': %s", c->seg[1], name, c->seg[1],
		    err_last());
	log_info("%s renamed app '%s' to '%s'", c->actor.name, c->seg[1],
	    name);
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{ssss}", "app", name, "was", c->seg[1]));
done:
	json_decref(app);
	close(lock);
}

void
ctl_collab_add(struct ctl_call *c)
{
	const char *user;

	if (!ctl_app_owner(c, c->seg[1]) || !ctl_body_need(c, "user", &user) ||
	    !ctl_check(c, store_app_collaborator_add(c->st, c->seg[1], user)))
		return;
	log_info("%s shared app '%s' with '%s'", c->actor.name, c->seg[1],
	    user);
	ctl_reply(c, 201, json_pack("{ssss}", "app", c->seg[1], "user", user));
}

void
ctl_collab_remove(struct ctl_call *c)
{
	if (!ctl_app_owner(c, c->seg[1]) ||
	    !ctl_check(c, store_app_collaborator_remove(c->st, c->seg[1],
	    c->seg[3])))
		return;
	ctl_reply(c, 200, json_pack("{ssss}", "app", c->seg[1], "removed",
	    c->seg[3]));
}

/* ---- domains ---- */

void
ctl_domains_list(struct ctl_call *c)
{
	json_t *app;

	if (!ctl_app_read(c, c->seg[1]) ||
	    !ctl_check(c, store_app_get(&app, c->st, c->seg[1])))
		return;
	ctl_reply(c, 200, json_incref(json_object_get(app, "domains")));
	json_decref(app);
}

void
ctl_domains_add(struct ctl_call *c)
{
	const char *domain;

	if (!ctl_app_deploy(c, c->seg[1]) ||
	    !ctl_body_need(c, "domain", &domain) ||
	    !ctl_check(c, store_app_domain_add(c->st, c->seg[1], domain)))
		return;
	ctl_schedule_kick(c->ctl, c->st);   /* runners route the domain */
	ctl_reply(c, 201, json_pack("{ssss}", "app", c->seg[1], "domain",
	    domain));
}

void
ctl_domains_remove(struct ctl_call *c)
{
	if (!ctl_app_deploy(c, c->seg[1]) ||
	    !ctl_check(c, store_app_domain_remove(c->st, c->seg[1],
	    c->seg[3])))
		return;
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, json_pack("{ssss}", "app", c->seg[1], "removed",
	    c->seg[3]));
}

/* ---- config ---- */

void
ctl_config_get(struct ctl_call *c)
{
	json_t *cfg;

	if (ctl_app_read(c, c->seg[1]) &&
	    ctl_check(c, store_config_get(&cfg, c->st, c->seg[1])))
		ctl_reply(c, 200, cfg);
}

void
ctl_config_change(struct ctl_call *c)
{
	json_t *rel = NULL, *cfg = NULL;
	int rc;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_need_body(c))
		return;
	if (json_object_size(c->body) == 0) {
		ctl_error(c, 422, "invalid", "nothing to change: send "
		    "{\"KEY\": \"value\"} (or null to unset)");
		return;
	}
	if ((rc = store_config_change(&rel, c->st, c->seg[1], c->body,
	    c->actor.name)) < 0 ||
	    (rc = store_config_get(&cfg, c->st, c->seg[1])) < 0) {
		json_decref(rel);
		ctl_fail(c, rc);
		return;
	}
	if (rel)
		ctl_release_made(c, rel);
	json_object_set_new(cfg, "release", rel ? rel : json_null());
	ctl_reply(c, rel ? 201 : 200, cfg);
}

/* ---- builds ---- */

static bool
ctl_number(struct ctl_call *c, int64_t *out, const char *s, const char *what)
{
	unsigned long long v;

	if (parse_uint(&v, s, 1, INT64_MAX) < 0) {
		ctl_error(c, 404, "not_found", "no %s '%.40s'", what, s);
		return false;
	}
	*out = (int64_t)v;
	return true;
}

void
ctl_builds_list(struct ctl_call *c)
{
	json_t *list;

	if (ctl_app_read(c, c->seg[1]) &&
	    ctl_check(c, store_build_list(&list, c->st, c->seg[1])))
		ctl_reply(c, 200, list);
}

void
ctl_builds_get(struct ctl_call *c)
{
	json_t *b;
	int64_t n;

	if (ctl_app_read(c, c->seg[1]) &&
	    ctl_number(c, &n, c->seg[3], "build") &&
	    ctl_check(c, store_build_get(&b, c->st, c->seg[1], n)))
		ctl_reply(c, 200, b);
}

void
ctl_builds_update(struct ctl_call *c)
{
	json_t *out;
	int64_t n;

	if (!ctl_app_deploy(c, c->seg[1]) ||
	    !ctl_number(c, &n, c->seg[3], "build") || !ctl_need_body(c) ||
	    !ctl_check(c, store_build_update(&out, c->st, c->seg[1], n,
	    c->body, c->actor.name)))
		return;
	if (!json_is_null(json_object_get(out, "release")))
		ctl_release_made(c, json_object_get(out, "release"));
	ctl_reply(c, 200, out);
}

/* ---- releases ---- */

void
ctl_releases_list(struct ctl_call *c)
{
	const char *q = httpd_req_query(c->req, "limit");
	int64_t limit = RELEASES_DEFAULT;
	struct store_access acc;
	struct ctl_page *page;
	json_t *list;
	char *text;

	if (!ctl_app_access(c, c->seg[1], 0, &acc))
		return;
	if (q) {
		unsigned long long v;

		if (parse_uint(&v, q, 1, RELEASES_MAX) < 0) {
			ctl_error(c, 422, "invalid", "limit is 1 to %d",
			    RELEASES_MAX);
			return;
		}
		limit = (int64_t)v;
	}
	/* The access check and the list read the same snapshot (GETs run
	 * in one), so acc.release_seq names this list: it grows with every
	 * release made and every state a release reaches. */
	page = ctl_page_get(c->ctl, acc.uid, acc.release_seq, limit);
	if (page == NULL) {
		if (!ctl_check(c, store_release_list(&list, c->st, c->seg[1],
		    limit)))
			return;
		text = json_dumps(list, JSON_COMPACT);
		json_decref(list);
		if (text == NULL) {
			ctl_error(c, 500, "internal", "cannot encode releases");
			return;
		}
		page = ctl_page_add(c->ctl, acc.uid, acc.release_seq, limit, text,
		    strlen(text));
		free(text);
	}
	ctl_reply_page(c, page);
	ctl_page_put(c->ctl, page);
}

void
ctl_releases_get(struct ctl_call *c)
{
	json_t *r;
	int64_t v;

	if (!ctl_app_read(c, c->seg[1]))
		return;
	if (name_release_parse(&v, c->seg[3]) < 0) {
		ctl_error(c, 404, "not_found", "%s", err_last());
		return;
	}
	if (ctl_check(c, store_release_get(&r, c->st, c->seg[1], v)))
		ctl_reply(c, 200, r);
}

void
ctl_rollback(struct ctl_call *c)
{
	json_t *v, *rel;
	int64_t to = 0;

	if (!ctl_app_deploy(c, c->seg[1]))
		return;
	if (c->body) {
		if (!ctl_need_body(c))
			return;
		v = json_object_get(c->body, "version");
		if (json_is_integer(v)) {
			to = json_integer_value(v);
			if (to <= 0) {
				ctl_error(c, 422, "invalid", "'version' "
				    "is a release number (1, 2, ...)");
				return;
			}
		} else if (json_is_string(v)) {
			if (name_release_parse(&to,
			    json_string_value(v)) < 0) {
				ctl_error(c, 422, "invalid", "%s",
				    err_last());
				return;
			}
		} else if (v && !json_is_null(v)) {
			ctl_error(c, 422, "invalid", "'version' is a "
			    "release number or \"vN\"");
			return;
		}
	}
	if (!ctl_retain_rollback_ok(c, c->seg[1], to) ||
	    !ctl_check(c, store_release_rollback(&rel, c->st, c->seg[1], to,
	    c->actor.name)))
		return;
	ctl_release_made(c, rel);
	ctl_reply(c, 201, rel);
}

/* ---- formation and ps ---- */

void
ctl_formation_get(struct ctl_call *c)
{
	json_t *f;

	if (ctl_app_read(c, c->seg[1]) &&
	    ctl_check(c, store_formation_get(&f, c->st, c->seg[1])))
		ctl_reply(c, 200, f);
}

void
ctl_formation_scale(struct ctl_call *c)
{
	json_t *f;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_need_body(c) ||
	    !ctl_check(c, store_formation_scale(&f, c->st, c->seg[1],
	    c->body)))
		return;
	log_info("%s scaled '%s'", c->actor.name, c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, f);
}

/* POST .../ps/stop and .../ps/start: every process off, and back with
 * the counts it had (store_ps.c); then as a scale. */
static void
ps_stop_start(struct ctl_call *c, bool stop)
{
	json_t *f;

	if (!ctl_app_deploy(c, c->seg[1]) || !ctl_check(c, stop ?
	    store_ps_stop(&f, c->st, c->seg[1]) :
	    store_ps_start(&f, c->st, c->seg[1])))
		return;
	log_info("%s %s '%s'", c->actor.name, stop ? "stopped" : "started",
	    c->seg[1]);
	ctl_schedule_kick(c->ctl, c->st);
	ctl_reply(c, 200, f);
}

void
ctl_ps_stop(struct ctl_call *c)
{
	ps_stop_start(c, true);
}

void
ctl_ps_start(struct ctl_call *c)
{
	ps_stop_start(c, false);
}

void
ctl_ps(struct ctl_call *c)
{
	json_t *f, *list;

	if (!ctl_app_read(c, c->seg[1]) ||
	    !ctl_check(c, store_formation_get(&f, c->st, c->seg[1])))
		return;
	if (!ctl_check(c, store_schedule_for_app(&list, c->st, c->seg[1],
	    ctl_live_after(c->ctl)))) {
		json_decref(f);
		return;
	}
	ctl_reply(c, 200, json_pack("{soso}", "formation", f, "containers",
	    list));
}
