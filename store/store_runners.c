/*
 * Runners (name, group, hashed server key, heartbeat, last report) and the
 * stored schedule: the assignments table is the last plan of
 * store/scheduler.c, recomputed by store_schedule_refresh.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "slipway/alloc.h"
#include "slipway/err.h"
#include "slipway/name.h"
#include "store_int.h"

#define TS(col) "strftime('%Y-%m-%dT%H:%M:%SZ', " col ", 'unixepoch')"

int
store_runner_create(char key[STORE_TOKEN_LEN], json_t **out, struct store *s,
    const char *name, const char *group)
{
	char secret[STORE_TOKEN_LEN], hash[65];
	int64_t gid;
	int rc;

	*out = NULL;
	if (!name_runner_is_valid(name))
		return err_set(ERR_INVALID, "invalid runner name '%.64s': use "
		    "a-z 0-9 . - (a host name), up to 63", name ? name : "");
	if ((rc = store_secret_new(secret, hash, STORE_RUNNER_KEY_PREFIX)) < 0)
		return rc;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_group_id(&gid, s, group)) < 0)
		goto done;
	rc = store_exec(s, NULL, "INSERT INTO runners (name, group_id,"
	    " key_hash, created_at) VALUES (?, ?, ?, ?)", "sisi", name, gid,
	    hash, (int64_t)time(NULL));
	if (rc == ERR_EXISTS)
		rc = err_set(rc, "runner '%s' exists already", name);
	if (rc < 0)
		goto done;
	rc = store_query_row(out, s, "SELECT r.name AS name, g.name AS"
	    " \"group\", " TS("r.created_at") " AS created_at FROM runners r"
	    " JOIN deploy_groups g ON g.id = r.group_id WHERE r.name = ?", "s",
	    name);
done:
	if ((rc = store_tx_end_json(s, rc, out)) == 0)
		memcpy(key, secret, STORE_TOKEN_LEN);
	return rc;
}

int
store_runner_delete(struct store *s, const char *name)
{
	int changes = 0, rc;

	rc = store_exec(s, &changes, "DELETE FROM runners WHERE name = ?", "s",
	    name);
	if (rc == 0 && changes == 0)
		return err_set(ERR_NOTFOUND, "no such runner '%s'", name);
	return rc;
}

/* "live", "dead 12s" (seconds since its last renewal) or "never seen". */
#define RUNNER_STATE(live) "CASE WHEN " live " THEN 'live'" \
	" WHEN r.last_heartbeat IS NULL THEN 'never seen'" \
	" ELSE 'dead ' || (CAST(strftime('%s', 'now') AS INTEGER)" \
	" - r.last_heartbeat) || 's' END"

int
store_runner_list(json_t **out, struct store *s, time_t live_after)
{
	return store_query_rows(out, s, "SELECT r.name AS name,"
	    " g.name AS \"group\","
	    " coalesce(r.last_heartbeat >= ?1, 0) AS live_bool,"
	    " " RUNNER_STATE("r.last_heartbeat >= ?1") " AS state,"
	    " " TS("r.last_heartbeat") " AS last_heartbeat,"
	    " r.session_addr AS address,"
	    " " TS("r.session_since") " AS session_since,"
	    " r.epoch AS epoch,"
	    " (SELECT count(*) FROM assignments x WHERE x.runner_id = r.id)"
	    "  AS assigned,"
	    " r.report AS report_json,"
	    " " TS("r.reported_at") " AS reported_at,"
	    " " TS("r.created_at") " AS created_at"
	    " FROM runners r JOIN deploy_groups g ON g.id = r.group_id"
	    " ORDER BY r.name", "i", (int64_t)live_after);
}

int
store_runner_heartbeat(struct store *s, int64_t runner_id, time_t now)
{
	return store_exec(s, NULL, "UPDATE runners SET last_heartbeat = ?"
	    " WHERE id = ?", "ii", (int64_t)now, runner_id);
}

int
store_runner_session_open(json_t **out, struct store *s, int64_t runner_id,
    const char *presented, const char *addr, time_t now, time_t live_after)
{
	char fresh[STORE_TOKEN_LEN], hash[65];
	const char *held;
	json_t *row = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_query_row(&row, s, "SELECT session,"
	    " coalesce(session_addr, '?') AS addr,"
	    " " TS("session_since") " AS since,"
	    " coalesce(last_heartbeat >= ?, 0) AS live_bool"
	    " FROM runners WHERE id = ?", "ii", (int64_t)live_after,
	    runner_id)) == ERR_NOTFOUND)
		rc = err_set(rc, "the runner was removed");
	if (rc < 0)
		goto done;
	held = json_string_value(json_object_get(row, "session"));
	if (held && json_is_true(json_object_get(row, "live")) &&
	    (presented == NULL || strcmp(presented, held) != 0)) {
		rc = err_set(ERR_CONFLICT, "runner key already in use by a "
		    "live runner at %s since %s", json_string_value(
		    json_object_get(row, "addr")), json_string_value(
		    json_object_get(row, "since")));
		goto done;
	}
	if (held && presented && strcmp(presented, held) == 0) {
		/* the same runner again (a restart): its session, its start */
		rc = store_exec(s, NULL, "UPDATE runners SET session_addr = ?,"
		    " epoch = epoch + 1, last_heartbeat = ? WHERE id = ?", "sii",
		    addr, (int64_t)now, runner_id);
	} else {
		/* 64 random hex digits after a prefix nobody takes for a key */
		if ((rc = store_secret_new(fresh, hash, "rs1_")) < 0)
			goto done;
		rc = store_exec(s, NULL, "UPDATE runners SET session = ?,"
		    " session_addr = ?, session_since = ?, epoch = epoch + 1,"
		    " last_heartbeat = ? WHERE id = ?", "ssiii", fresh, addr,
		    (int64_t)now, (int64_t)now, runner_id);
	}
	if (rc < 0)
		goto done;
	rc = store_query_row(out, s, "SELECT session, epoch,"
	    " " TS("session_since") " AS since FROM runners WHERE id = ?", "i",
	    runner_id);
done:
	json_decref(row);
	return store_tx_end_json(s, rc, out);
}

int
store_runner_renew(bool *was_live, int64_t *epoch, struct store *s,
    int64_t runner_id, const char *session, time_t now, time_t live_after)
{
	json_t *row = NULL;
	const char *held;
	int rc;

	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = store_query_row(&row, s, "SELECT session, epoch,"
	    " coalesce(session_addr, '?') AS addr,"
	    " " TS("session_since") " AS since,"
	    " coalesce(last_heartbeat >= ?, 0) AS live_bool"
	    " FROM runners WHERE id = ?", "ii", (int64_t)live_after,
	    runner_id)) == ERR_NOTFOUND)
		rc = err_set(rc, "the runner was removed");
	if (rc < 0)
		goto done;
	held = json_string_value(json_object_get(row, "session"));
	if (held == NULL || session == NULL || strcmp(held, session) != 0) {
		rc = held == NULL ? err_set(ERR_CONFLICT, "this runner has no "
		    "session: register first") : err_set(ERR_CONFLICT,
		    "this runner's session ended: its key was registered "
		    "again, by the runner at %s since %s",
		    json_string_value(json_object_get(row, "addr")),
		    json_string_value(json_object_get(row, "since")));
		goto done;
	}
	if (was_live)
		*was_live = json_is_true(json_object_get(row, "live"));
	if (epoch)
		*epoch = json_integer_value(json_object_get(row, "epoch"));
	rc = store_exec(s, NULL, "UPDATE runners SET last_heartbeat = ?"
	    " WHERE id = ?", "ii", (int64_t)now, runner_id);
done:
	json_decref(row);
	return store_tx_end(s, rc);
}

int
store_runner_lease_grace(struct store *s, time_t now)
{
	int64_t last = 0;
	int rc;

	if ((rc = store_tx_write(s)) < 0)
		return rc;
	/* The newest renewal is about when the controller stopped: shift
	 * every lease by the outage, so those live then are live now and
	 * those dead then stay dead. */
	if ((rc = store_query_int(&last, s, "SELECT coalesce("
	    "max(last_heartbeat), 0) FROM runners", NULL)) >= 0 && last > 0 &&
	    last < (int64_t)now)
		rc = store_exec(s, NULL, "UPDATE runners SET last_heartbeat ="
		    " last_heartbeat + ? WHERE last_heartbeat IS NOT NULL", "i",
		    (int64_t)now - last);
	return store_tx_end(s, rc < 0 ? rc : 0);
}

int
store_runner_report(struct store *s, int64_t runner_id, json_t *report,
    time_t now)
{
	char *text;
	int rc;

	if (!json_is_object(report))
		return err_set(ERR_INVALID, "a runner report is a JSON object");
	text = json_dumps(report, JSON_COMPACT);
	rc = store_exec(s, NULL, "UPDATE runners SET report = ?,"
	    " reported_at = ?, last_heartbeat = ? WHERE id = ?", "siii", text,
	    (int64_t)now, (int64_t)now, runner_id);
	free(text);
	return rc;
}

/* ---- the schedule ---- */

/* What the scheduler reads, with the strings it points at. */
struct sched_input {
	struct store_sched_app *apps;
	size_t napps;
	struct store_sched_runner *runners;
	size_t nrunners;
	struct store_sched_slot *prev;
	size_t nprev;
	char **strings;         /* everything the structs point at */
	size_t nstrings;
	struct store_sched_proc *procs;
	const char **groups;
};

static const char *
sched_keep(struct sched_input *in, const unsigned char *text)
{
	char *s = xstrdup(text ? (const char *)text : "");

	in->strings = xrealloc(in->strings,
	    (in->nstrings + 1) * sizeof(*in->strings));
	in->strings[in->nstrings++] = s;
	return s;
}

static void
sched_input_free(struct sched_input *in)
{
	for (size_t i = 0; i < in->nstrings; i++)
		free(in->strings[i]);
	free(in->strings);
	free(in->apps);
	free(in->runners);
	free(in->procs);
	free(in->groups);
	/* prev's strings are in in->strings */
	free(in->prev);
}

/*
 * Read the scheduler's input.  An app takes part only when its current
 * release has a build, and then only with the process types that build
 * has.  Rows come sorted by app, so each app's procs and groups are
 * contiguous runs of the shared arrays.
 */
static int
sched_input_load(struct sched_input *in, struct store *s, time_t live_after)
{
	sqlite3_stmt *st;
	size_t nprocs = 0, ngroups = 0, cap_p = 0, cap_g = 0;
	size_t *pstart = NULL, *gstart = NULL;
	int rc;

	memset(in, 0, sizeof(*in));
	/* apps with something to run */
	if ((rc = store_prep(&st, s, "SELECT a.name, f.type, f.quantity"
	    " FROM apps a JOIN releases r ON r.app_id = a.id"
	    "  AND r.version = a.target_release"
	    " JOIN builds b ON b.id = r.build_id"
	    " JOIN formations f ON f.app_id = a.id AND f.quantity > 0"
	    " WHERE json_type(b.process_types, '$.\"' || f.type || '\"')"
	    "  IS NOT NULL"
	    " ORDER BY a.name, f.type", NULL)) < 0)
		return rc;
	while ((rc = store_step(s, st)) > 0) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		if (in->napps == 0 ||
		    strcmp(in->apps[in->napps - 1].name, name) != 0) {
			in->apps = xrealloc(in->apps,
			    (in->napps + 1) * sizeof(*in->apps));
			pstart = xrealloc(pstart,
			    (in->napps + 1) * sizeof(*pstart));
			memset(&in->apps[in->napps], 0, sizeof(*in->apps));
			in->apps[in->napps].name = sched_keep(in,
			    sqlite3_column_text(st, 0));
			pstart[in->napps++] = nprocs;
		}
		if (nprocs == cap_p) {
			cap_p = cap_p ? cap_p * 2 : 16;
			in->procs = xrealloc(in->procs,
			    cap_p * sizeof(*in->procs));
		}
		in->procs[nprocs].type = sched_keep(in,
		    sqlite3_column_text(st, 1));
		in->procs[nprocs].quantity = sqlite3_column_int(st, 2);
		nprocs++;
		in->apps[in->napps - 1].nprocs++;
	}
	store_done(st);
	if (rc < 0)
		goto done;
	for (size_t a = 0; a < in->napps; a++)
		in->apps[a].procs = in->procs + pstart[a];

	/* their groups */
	gstart = xcalloc(in->napps + 1, sizeof(*gstart));
	if ((rc = store_prep(&st, s, "SELECT a.name, g.name FROM apps a"
	    " JOIN app_groups ag ON ag.app_id = a.id"
	    " JOIN deploy_groups g ON g.id = ag.group_id"
	    " ORDER BY a.name, g.name", NULL)) < 0)
		goto done;
	for (size_t a = 0; (rc = store_step(s, st)) > 0;) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		while (a < in->napps && strcmp(in->apps[a].name, name) < 0)
			a++;
		if (a == in->napps || strcmp(in->apps[a].name, name) != 0)
			continue;
		if (in->apps[a].ngroups == 0)
			gstart[a] = ngroups;
		if (ngroups == cap_g) {
			cap_g = cap_g ? cap_g * 2 : 16;
			in->groups = xrealloc(in->groups,
			    cap_g * sizeof(*in->groups));
		}
		in->groups[ngroups++] = sched_keep(in,
		    sqlite3_column_text(st, 1));
		in->apps[a].ngroups++;
	}
	store_done(st);
	if (rc < 0)
		goto done;
	for (size_t a = 0; a < in->napps; a++)
		in->apps[a].groups = in->apps[a].ngroups ?
		    in->groups + gstart[a] : NULL;

	/* runners */
	if ((rc = store_prep(&st, s, "SELECT r.name, g.name,"
	    " coalesce(r.last_heartbeat >= ?, 0) FROM runners r"
	    " JOIN deploy_groups g ON g.id = r.group_id ORDER BY r.name", "i",
	    (int64_t)live_after)) < 0)
		goto done;
	while ((rc = store_step(s, st)) > 0) {
		in->runners = xrealloc(in->runners,
		    (in->nrunners + 1) * sizeof(*in->runners));
		in->runners[in->nrunners].name = sched_keep(in,
		    sqlite3_column_text(st, 0));
		in->runners[in->nrunners].group = sched_keep(in,
		    sqlite3_column_text(st, 1));
		in->runners[in->nrunners].live = sqlite3_column_int(st, 2) != 0;
		in->nrunners++;
	}
	store_done(st);
	if (rc < 0)
		goto done;

	/* the plan in force, in the scheduler's order */
	if ((rc = store_prep(&st, s, "SELECT a.name, x.type, x.idx, g.name,"
	    " r.name FROM assignments x JOIN apps a ON a.id = x.app_id"
	    " JOIN deploy_groups g ON g.id = x.group_id"
	    " LEFT JOIN runners r ON r.id = x.runner_id"
	    " ORDER BY g.name, a.name, x.type, x.idx", NULL)) < 0)
		goto done;
	while ((rc = store_step(s, st)) > 0) {
		struct store_sched_slot *p;
		in->prev = xrealloc(in->prev,
		    (in->nprev + 1) * sizeof(*in->prev));
		p = &in->prev[in->nprev++];
		p->app = (char *)sched_keep(in, sqlite3_column_text(st, 0));
		p->type = (char *)sched_keep(in, sqlite3_column_text(st, 1));
		p->index = sqlite3_column_int(st, 2);
		p->group = (char *)sched_keep(in, sqlite3_column_text(st, 3));
		p->runner = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL :
		    (char *)sched_keep(in, sqlite3_column_text(st, 4));
	}
	store_done(st);
done:
	free(pstart);
	free(gstart);
	return rc < 0 ? rc : 0;
}

static bool
sched_str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool
sched_same(const struct store_sched_slot *a, size_t na,
    const struct store_sched_slot *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].app, b[i].app) ||
		    strcmp(a[i].type, b[i].type) ||
		    a[i].index != b[i].index ||
		    strcmp(a[i].group, b[i].group) ||
		    !sched_str_eq(a[i].runner, b[i].runner))
			return false;
	return true;
}

int
store_schedule_refresh(bool *changed, struct store *s, time_t live_after)
{
	struct sched_input in;
	struct store_sched_slot *plan = NULL;
	size_t n = 0;
	int rc;

	if (changed)
		*changed = false;
	if ((rc = store_tx_write(s)) < 0)
		return rc;
	if ((rc = sched_input_load(&in, s, live_after)) < 0)
		goto done;
	store_sched_plan(&plan, &n, in.apps, in.napps, in.runners, in.nrunners,
	    in.prev, in.nprev);
	if (sched_same(plan, n, in.prev, in.nprev))
		goto done;
	if ((rc = store_exec(s, NULL, "DELETE FROM assignments", NULL)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if ((rc = store_exec(s, NULL, "INSERT INTO assignments (app_id,"
		    " group_id, type, idx, runner_id) VALUES ("
		    " (SELECT id FROM apps WHERE name = ?),"
		    " (SELECT id FROM deploy_groups WHERE name = ?), ?, ?,"
		    " (SELECT id FROM runners WHERE name = ?))", "sssns",
		    plan[i].app, plan[i].group, plan[i].type, plan[i].index,
		    plan[i].runner)) < 0)
			goto done;
	}
	if (changed)
		*changed = true;
done:
	store_sched_slots_free(plan, n);
	sched_input_free(&in);
	return store_tx_end(s, rc);
}

int
store_schedule_for_runner(json_t **out, struct store *s, int64_t runner_id)
{
	json_t *containers = NULL;
	int rc;

	*out = NULL;
	if ((rc = store_tx_read(s)) < 0)
		return rc;
	if ((rc = store_query_row(out, s, "SELECT r.name AS runner,"
	    " g.name AS \"group\" FROM runners r JOIN deploy_groups g"
	    " ON g.id = r.group_id WHERE r.id = ?", "i",
	    runner_id)) == ERR_NOTFOUND)
		rc = err_set(rc, "the runner was removed");
	if (rc < 0)
		goto done;
	/* The group test repeats what the scheduler guarantees: a runner
	 * is never handed an app outside its group. */
	if ((rc = store_query_rows(&containers, s, "SELECT a.name AS app,"
	    " x.type AS type,"
	    " x.idx AS \"index\", rl.version AS release, b.rev AS rev,"
	    " b.image AS image, b.digest AS digest,"
	    " json_extract(b.process_types, '$.\"' || x.type || '\"')"
	    "  AS command,"
	    " coalesce(c.vars, '{}') AS env_json,"
	    " (SELECT json_group_array(domain) FROM (SELECT domain"
	    "  FROM domains WHERE app_id = a.id ORDER BY domain))"
	    "  AS domains_json"
	    " FROM assignments x JOIN runners rn ON rn.id = x.runner_id"
	    " JOIN apps a ON a.id = x.app_id"
	    " JOIN releases rl ON rl.app_id = a.id"
	    "  AND rl.version = a.target_release"
	    " JOIN builds b ON b.id = rl.build_id"
	    " LEFT JOIN configs c ON c.id = rl.config_id"
	    " WHERE x.runner_id = ? AND x.group_id = rn.group_id"
	    " ORDER BY a.name, x.type, x.idx", "i", runner_id)) < 0)
		goto done;
	json_object_set_new(*out, "containers", containers);
	/* Each app's release_seq (it grows with every release made or
	 * settled): the runner refuses a target older than one it had. */
	containers = NULL;
	if ((rc = store_query_row(&containers, s, "SELECT"
	    " json_group_object(a.name, a.release_seq) AS seq_json"
	    " FROM apps a WHERE a.id IN (SELECT x.app_id FROM assignments x"
	    "  WHERE x.runner_id = ?)", "i", runner_id)) < 0)
		goto done;
	json_object_set(*out, "seq", json_object_get(containers, "seq"));
	json_decref(containers);
	/* The apps this runner says it runs that run nowhere in its group
	 * now (scaled to nothing, destroyed, taken out of the group): it
	 * stops them at once.  An app that only moved to another runner is
	 * not here, nor is any app when the runner is thought dead (its
	 * slots stay in the group, unplaced): those wait out the runner's
	 * orphan delay.  From its own report, so no name of another group
	 * reaches it. */
	containers = NULL;
	if ((rc = store_query_rows(&containers, s, "SELECT u.n AS app FROM ("
	    " SELECT json_extract(j.value, '$.app') AS n"
	    "  FROM runners rn, json_each(rn.report, '$.containers') j"
	    "  WHERE rn.id = ?1"
	    "   AND coalesce(json_extract(j.value, '$.one_off'), 0) = 0"
	    " UNION SELECT j.key FROM runners rn,"
	    "  json_each(rn.report, '$.apps') j WHERE rn.id = ?1) u"
	    " WHERE u.n IS NOT NULL AND NOT EXISTS (SELECT 1"
	    "  FROM assignments x JOIN apps a ON a.id = x.app_id"
	    "  JOIN runners rn ON rn.id = ?1"
	    "  WHERE a.name = u.n AND x.group_id = rn.group_id)"
	    " ORDER BY u.n", "i", runner_id)) < 0)
		goto done;
	{
		json_t *names = json_array(), *x;
		size_t i;
		json_array_foreach(containers, i, x)
			json_array_append(names, json_object_get(x, "app"));
		json_object_set_new(*out, "stop", names);
		json_decref(containers);
	}
done:
	return store_tx_end_json(s, rc, out);
}

int
store_schedule_for_app(json_t **out, struct store *s, const char *app,
    time_t live_after)
{
	json_t *lost = NULL;
	int64_t aid;
	int rc;

	*out = NULL;
	if ((rc = store_tx_read(s)) < 0)
		return rc;
	if ((rc = store_app_id(&aid, s, app)) < 0)
		goto done;
	if ((rc = store_query_rows(out, s, "SELECT g.name AS \"group\","
	    " x.type AS type, x.idx AS \"index\", rn.name AS runner,"
	    " a.target_release AS release,"
	    " coalesce(rn.last_heartbeat >= ?2, 0) AS runner_live_bool,"
	    " CAST(strftime('%s', 'now') AS INTEGER) - rn.last_heartbeat"
	    "  AS silent_for,"
	    " (SELECT j.value FROM json_each(rn.report, '$.containers') j"
	    "  WHERE json_extract(j.value, '$.app') = a.name"
	    "  AND json_extract(j.value, '$.type') = x.type"
	    "  AND json_extract(j.value, '$.index') = x.idx LIMIT 1)"
	    "  AS reported_json"
	    " FROM assignments x JOIN apps a ON a.id = x.app_id"
	    " JOIN deploy_groups g ON g.id = x.group_id"
	    " LEFT JOIN runners rn ON rn.id = x.runner_id"
	    " WHERE x.app_id = ?1 ORDER BY x.type, x.idx, g.name", "ii", aid,
	    (int64_t)live_after)) < 0)
		goto done;
	/* What dead runners last said they ran of the app and that is not
	 * theirs any more: it may still run there, or not at all; nobody
	 * knows, so it is lost, never up. */
	if ((rc = store_query_rows(&lost, s, "SELECT rn.name AS runner,"
	    " g.name AS \"group\","
	    " json_extract(j.value, '$.type') AS type,"
	    " json_extract(j.value, '$.index') AS \"index\","
	    " json_extract(j.value, '$.release') AS release,"
	    " CAST(strftime('%s', 'now') AS INTEGER) - rn.last_heartbeat"
	    "  AS silent_for"
	    " FROM runners rn JOIN deploy_groups g ON g.id = rn.group_id,"
	    " json_each(rn.report, '$.containers') j"
	    " WHERE json_extract(j.value, '$.app') = (SELECT name FROM apps"
	    "  WHERE id = ?1)"
	    " AND coalesce(json_extract(j.value, '$.one_off'), 0) = 0"
	    " AND coalesce(rn.last_heartbeat >= ?2, 0) = 0"
	    " AND NOT EXISTS (SELECT 1 FROM assignments x WHERE x.app_id = ?1"
	    "  AND x.runner_id = rn.id"
	    "  AND x.type = json_extract(j.value, '$.type')"
	    "  AND x.idx = json_extract(j.value, '$.index'))"
	    " ORDER BY 3, 4, 1", "ii", aid, (int64_t)live_after)) < 0)
		goto done;
	{
		json_t *x;
		size_t i;
		json_array_foreach(lost, i, x) {
			json_object_set_new(x, "lost", json_true());
			json_array_append(*out, x);
		}
	}
done:
	json_decref(lost);
	return store_tx_end_json(s, rc, out);
}
