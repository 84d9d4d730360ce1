/*
 * Apps (owner, collaborators, deploy branch, domains), deployment groups,
 * and who may do what on an app.  An app is always in at least one group;
 * `default` always exists and cannot be removed.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

#define TS(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"
#define APP_GROUPS_MAX 16

static int
store_app_name_check(const char *name)
{
	if (!name_app_is_valid(name))
		return err_set(ERR_INVALID, "invalid app name '%.64s': use a "
		    "lower-case letter, then up to 29 of a-z 0-9 -",
		    name ? name : "");
	return 0;
}

int
store_app_create(struct store *s, const char *name, const char *owner,
    const char *const *groups, size_t ngroups)
{
	int64_t uid, gid;
	int rc;

	if ((rc = store_app_name_check(name)) < 0)
		return rc;
	if (ngroups == 0 || ngroups > APP_GROUPS_MAX)
		return err_set(ERR_INVALID, "an app is in 1 to %d groups",
		    APP_GROUPS_MAX);
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_user_id(&uid, s, owner)) < 0)
		goto done;
	rc = store_exec(s, NULL, "INSERT INTO apps (name, owner_id,"
	    " created_at, uid) VALUES (?, ?, ?, lower(hex(randomblob(16))))",
	    "sii", name, uid,
	    (int64_t)time(NULL));
	if (rc == ERR_EXISTS)
		rc = err_set(ERR_EXISTS, "app '%s' exists already", name);
	if (rc < 0)
		goto done;
	for (size_t i = 0; i < ngroups; i++) {
		if ((rc = store_group_id(&gid, s, groups[i])) < 0)
			goto done;
		if ((rc = store_exec(s, NULL, "INSERT OR IGNORE INTO app_groups"
		    " (app_id, group_id) SELECT id, ? FROM apps WHERE name = ?",
		    "is", gid, name)) < 0)
			goto done;
	}
done:
	return store_tx_end(s, rc);
}

int
store_app_destroy(struct store *s, const char *name)
{
	int64_t id;
	int rc;

	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_app_id(&id, s, name)) < 0)
		goto done;
	/* Releases point at builds and configs; drop them first so the
	 * foreign keys hold at every step. */
	if ((rc = store_exec(s, NULL, "DELETE FROM releases WHERE app_id = ?",
	    "i", id)) < 0)
		goto done;
	rc = store_exec(s, NULL, "DELETE FROM apps WHERE id = ?", "i", id);
done:
	return store_tx_end(s, rc);
}

#define APP_COLUMNS \
	"a.name AS name, u.name AS owner, a.deploy_branch AS deploy_branch," \
	" a.buildpacks AS buildpacks_json, a.stack AS stack," \
	" (SELECT json_group_array(name) FROM (SELECT g.name AS name" \
	"  FROM app_groups ag JOIN deploy_groups g ON g.id = ag.group_id" \
	"  WHERE ag.app_id = a.id ORDER BY g.name)) AS groups_json," \
	" (SELECT json_group_array(name) FROM (SELECT cu.name AS name" \
	"  FROM collaborators c JOIN users cu ON cu.id = c.user_id" \
	"  WHERE c.app_id = a.id ORDER BY cu.name)) AS collaborators_json," \
	" (SELECT json_group_array(domain) FROM (SELECT domain FROM domains" \
	"  WHERE app_id = a.id ORDER BY domain)) AS domains_json," \
	" (SELECT json_group_object(type, quantity) FROM (SELECT type," \
	"  quantity FROM formations WHERE app_id = a.id ORDER BY type))" \
	"  AS formation_json," \
	" nullif(a.last_release, 0) AS release," \
	" nullif(a.current_release, 0) AS current_release, a.uid AS uid," \
	" " TS("a.created_at") " AS created_at"

int
store_app_get(json_t **out, struct store *s, const char *name)
{
	int rc = store_query_row(out, s, "SELECT " APP_COLUMNS " FROM apps a"
	    " JOIN users u ON u.id = a.owner_id WHERE a.name = ?", "s", name);

	if (rc == ERR_NOTFOUND)
		return err_set(rc, "no such app '%s'", name);
	return rc;
}

int
store_app_list(json_t **out, struct store *s, const struct store_actor *actor)
{
	return store_query_rows(out, s, "SELECT " APP_COLUMNS " FROM apps a"
	    " JOIN users u ON u.id = a.owner_id"
	    " WHERE ?1 OR a.owner_id = ?2 OR EXISTS (SELECT 1 FROM"
	    "  collaborators c WHERE c.app_id = a.id AND c.user_id = ?2)"
	    " ORDER BY a.name", "ni", actor->admin ? 1 : 0, actor->user_id);
}

int
store_app_set_branch(struct store *s, const char *app, const char *branch)
{
	int changes = 0, rc;
	size_t n = branch ? strlen(branch) : 0;

	/* A branch name as git check-ref-format allows, minus the rare
	 * corners: no spaces, control characters, "..", or leading '-'. */
	if (n == 0 || n > 200 || branch[0] == '-' || branch[0] == '/' ||
	    strstr(branch, "..") || strpbrk(branch, " ~^:?*[\\") ||
	    branch[n - 1] == '/' || branch[n - 1] == '.')
		return err_set(ERR_INVALID, "invalid branch name '%.64s'",
		    branch ? branch : "");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)branch[i] < 0x21 || branch[i] == 0x7f)
			return err_set(ERR_INVALID, "invalid branch name");
	rc = store_exec(s, &changes, "UPDATE apps SET deploy_branch = ?"
	    " WHERE name = ?", "ss", branch, app);
	if (rc == 0 && changes == 0)
		rc = err_set(ERR_NOTFOUND, "no such app '%s'", app);
	return rc;
}

/* Run sql with (app id, user id) after resolving both names. */
static int
store_app_user_exec(struct store *s, const char *sql, const char *app,
    const char *user, int *changes)
{
	int64_t aid, uid;
	int rc;

	if ((rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_user_id(&uid, s, user)) < 0)
		return rc;
	return store_exec(s, changes, sql, "ii", aid, uid);
}

int
store_app_collaborator_add(struct store *s, const char *app, const char *user)
{
	int rc = store_app_user_exec(s, "INSERT INTO collaborators (app_id,"
	    " user_id) VALUES (?, ?)", app, user, NULL);

	if (rc == ERR_EXISTS)
		return err_set(rc, "user '%s' is already a collaborator on "
		    "'%s'", user, app);
	return rc;
}

int
store_app_collaborator_remove(struct store *s, const char *app,
    const char *user)
{
	int changes = 0;
	int rc = store_app_user_exec(s, "DELETE FROM collaborators"
	    " WHERE app_id = ? AND user_id = ?", app, user, &changes);

	if (rc == 0 && changes == 0)
		return err_set(ERR_NOTFOUND, "user '%s' is not a collaborator "
		    "on '%s'", user, app);
	return rc;
}

int
store_app_domain_add(struct store *s, const char *app, const char *domain)
{
	int64_t aid;
	int rc;

	if (!name_domain_is_valid(domain))
		return err_set(ERR_INVALID, "invalid domain '%.80s': use "
		    "lower-case labels of a-z 0-9 - separated by dots",
		    domain);
	if ((rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	rc = store_exec(s, NULL, "INSERT INTO domains (app_id, domain)"
	    " VALUES (?, ?)", "is", aid, domain);
	if (rc == ERR_EXISTS)
		return err_set(rc, "domain '%s' is already in use", domain);
	return rc;
}

int
store_app_domain_remove(struct store *s, const char *app, const char *domain)
{
	int changes = 0, rc;

	rc = store_exec(s, &changes, "DELETE FROM domains WHERE domain = ?"
	    " AND app_id = (SELECT id FROM apps WHERE name = ?)", "ss",
	    domain, app);
	if (rc == 0 && changes == 0)
		return err_set(ERR_NOTFOUND, "app '%s' has no domain '%.80s'",
		    app, domain);
	return rc;
}

int
store_app_access(struct store_access *out, struct store *s,
    const struct store_actor *actor, const char *app)
{
	sqlite3_stmt *st;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_prep(&st, s, "SELECT a.id,"
	    " a.owner_id = ?2 OR EXISTS (SELECT 1 FROM collaborators c"
	    "  WHERE c.app_id = a.id AND c.user_id = ?2),"
	    " (SELECT g.name FROM app_groups ag JOIN deploy_groups g"
	    "  ON g.id = ag.group_id WHERE ag.app_id = a.id AND NOT EXISTS"
	    "  (SELECT 1 FROM group_users gu WHERE gu.group_id = ag.group_id"
	    "   AND gu.user_id = ?2) ORDER BY g.name LIMIT 1),"
	    " a.uid, a.target_release, a.release_seq"
	    " FROM apps a WHERE a.name = ?1", "si", app, actor->user_id)) < 0)
		return rc;
	rc = store_step(s, st);
	if (rc > 0) {
		const char *denied = (const char *)sqlite3_column_text(st, 2);

		out->app_id = sqlite3_column_int64(st, 0);
		out->read = actor->admin || (actor->user_id != 0 &&
		    sqlite3_column_int(st, 1) != 0);
		out->deploy = actor->admin || (out->read && denied == NULL);
		if (!actor->admin && denied)
			snprintf(out->denied_group, sizeof(out->denied_group),
			    "%s", denied);
		snprintf(out->uid, sizeof(out->uid), "%s",
		    (const char *)sqlite3_column_text(st, 3));
		out->release = sqlite3_column_int64(st, 4);
		out->release_seq = sqlite3_column_int64(st, 5);
		rc = 0;
	} else if (rc == 0) {
		rc = err_set(ERR_NOTFOUND, "no such app '%s'", app);
	}
	store_done(st);
	return rc;
}

/* ---- deployment groups ---- */

int
store_group_create(struct store *s, const char *name)
{
	int rc;

	if (!name_group_is_valid(name))
		return err_set(ERR_INVALID, "invalid group name '%.64s': use a "
		    "lower-case letter, then up to 29 of a-z 0-9 -",
		    name ? name : "");
	rc = store_exec(s, NULL, "INSERT INTO deploy_groups (name, created_at)"
	    " VALUES (?, ?)", "si", name, (int64_t)time(NULL));
	if (rc == ERR_EXISTS)
		return err_set(rc, "group '%s' exists already", name);
	return rc;
}

int
store_group_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st;
	int64_t gid, runners = 0;
	char only[STORE_NAME_MAX + 1] = "";
	int rc;

	if (strcmp(name, "default") == 0)
		return err_set(ERR_CONFLICT, "the 'default' group cannot be "
		    "removed");
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_group_id(&gid, s, name)) < 0)
		goto done;
	if ((rc = store_prep(&st, s, "SELECT"
	    " (SELECT count(*) FROM runners WHERE group_id = ?1),"
	    " (SELECT a.name FROM apps a JOIN app_groups ag ON ag.app_id = a.id"
	    "  WHERE ag.group_id = ?1 AND (SELECT count(*) FROM app_groups x"
	    "  WHERE x.app_id = a.id) = 1 ORDER BY a.name LIMIT 1)", "i",
	    gid)) < 0)
		goto done;
	if ((rc = store_step(s, st)) > 0) {
		runners = sqlite3_column_int64(st, 0);
		if (sqlite3_column_text(st, 1))
			snprintf(only, sizeof(only), "%s",
			    (const char *)sqlite3_column_text(st, 1));
		rc = 0;
	}
	store_done(st);
	if (rc < 0)
		goto done;
	if (runners > 0)
		rc = err_set(ERR_CONFLICT, "cannot remove group '%s': it has "
		    "%lld runner(s)", name, (long long)runners);
	else if (only[0])
		rc = err_set(ERR_CONFLICT, "cannot remove group '%s': it is "
		    "the only group of app '%s'", name, only);
	/* Its apps (each in another group too) leave it first: app_groups
	 * does not cascade, so a group made again under this name, maybe
	 * with this row id, must not find them. */
	else if ((rc = store_exec(s, NULL, "DELETE FROM app_groups"
	    " WHERE group_id = ?", "i", gid)) == 0)
		rc = store_exec(s, NULL, "DELETE FROM deploy_groups"
		    " WHERE id = ?", "i", gid);
done:
	return store_tx_end(s, rc);
}

int
store_group_list(json_t **out, struct store *s)
{
	return store_query_rows(out, s, "SELECT g.name AS name,"
	    " (SELECT json_group_array(name) FROM (SELECT a.name AS name"
	    "  FROM app_groups ag JOIN apps a ON a.id = ag.app_id"
	    "  WHERE ag.group_id = g.id ORDER BY a.name)) AS apps_json,"
	    " (SELECT json_group_array(name) FROM (SELECT u.name AS name"
	    "  FROM group_users gu JOIN users u ON u.id = gu.user_id"
	    "  WHERE gu.group_id = g.id ORDER BY u.name)) AS users_json,"
	    " (SELECT json_group_array(name) FROM (SELECT r.name AS name"
	    "  FROM runners r WHERE r.group_id = g.id ORDER BY r.name))"
	    "  AS runners_json,"
	    " " TS("g.created_at") " AS created_at"
	    " FROM deploy_groups g ORDER BY g.name", NULL);
}

int
store_group_add_app(struct store *s, const char *group, const char *app)
{
	int64_t gid, aid;
	int rc;

	if ((rc = store_group_id(&gid, s, group)) < 0 ||
	    (rc = store_app_id(&aid, s, app)) < 0)
		return rc;
	rc = store_exec(s, NULL, "INSERT INTO app_groups (app_id, group_id)"
	    " VALUES (?, ?)", "ii", aid, gid);
	if (rc == ERR_EXISTS)
		return err_set(rc, "app '%s' is already in group '%s'", app,
		    group);
	return rc;
}

int
store_group_remove_app(struct store *s, const char *group, const char *app)
{
	int64_t gid, aid, n = 0;
	int changes = 0, rc;

	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_group_id(&gid, s, group)) < 0 ||
	    (rc = store_app_id(&aid, s, app)) < 0 ||
	    (rc = store_query_int(&n, s, "SELECT count(*) FROM app_groups"
	    " WHERE app_id = ?", "i", aid)) < 0)
		goto done;
	if ((rc = store_exec(s, &changes, "DELETE FROM app_groups"
	    " WHERE app_id = ? AND group_id = ?", "ii", aid, gid)) < 0)
		goto done;
	if (changes == 0)
		rc = err_set(ERR_NOTFOUND, "app '%s' is not in group '%s'",
		    app, group);
	else if (n <= 1)
		rc = err_set(ERR_CONFLICT, "cannot remove app '%s' from group "
		    "'%s': it is the app's only group", app, group);
	else
		rc = store_exec(s, NULL, "DELETE FROM assignments"
		    " WHERE app_id = ? AND group_id = ?", "ii", aid, gid);
done:
	return store_tx_end(s, rc);
}

int
store_group_add_user(struct store *s, const char *group, const char *user)
{
	int64_t gid, uid;
	int rc;

	if ((rc = store_group_id(&gid, s, group)) < 0 ||
	    (rc = store_user_id(&uid, s, user)) < 0)
		return rc;
	rc = store_exec(s, NULL, "INSERT INTO group_users (group_id, user_id)"
	    " VALUES (?, ?)", "ii", gid, uid);
	if (rc == ERR_EXISTS)
		return err_set(rc, "user '%s' is already in group '%s'", user,
		    group);
	return rc;
}

int
store_group_remove_user(struct store *s, const char *group, const char *user)
{
	int64_t gid, uid;
	int changes = 0, rc;

	if ((rc = store_group_id(&gid, s, group)) < 0 ||
	    (rc = store_user_id(&uid, s, user)) < 0)
		return rc;
	rc = store_exec(s, &changes, "DELETE FROM group_users"
	    " WHERE group_id = ? AND user_id = ?", "ii", gid, uid);
	if (rc == 0 && changes == 0)
		return err_set(ERR_NOTFOUND, "user '%s' is not in group '%s'",
		    user, group);
	return rc;
}

int
store_group_has_user(bool *out, struct store *s, const char *group,
    int64_t user_id)
{
	int64_t gid;
	int rc;

	if ((rc = store_group_id(&gid, s, group)) < 0 ||
	    (rc = store_query_int(NULL, s, "SELECT 1 FROM group_users"
	    " WHERE group_id = ? AND user_id = ?", "ii", gid, user_id)) < 0)
		return rc;
	*out = rc > 0;
	return 0;
}
