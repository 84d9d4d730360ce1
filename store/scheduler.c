/*
 * The scheduler: which runner runs which container.  A pure function of
 * the apps (groups, formation), the runners (group, live) and the previous
 * plan; no I/O, no clock.  See store_sched_plan in include/slipway/store.h.
 *
 * Within one group with m live runners and n containers, every runner ends
 * with at most ceil(n/m) containers, and at most ceil(k/m) of an app that
 * has k containers there, whenever such a spread exists; slots that may
 * stay where they were do.
 */
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/store.h"

static int
sched_slot_cmp(const void *a, const void *b)
{
	const struct store_sched_slot *x = a, *y = b;
	int c;

	if ((c = strcmp(x->group, y->group)) != 0)
		return c;
	if ((c = strcmp(x->app, y->app)) != 0)
		return c;
	if ((c = strcmp(x->type, y->type)) != 0)
		return c;
	return (x->index > y->index) - (x->index < y->index);
}

static int
sched_slot_pcmp(const void *a, const void *b)
{
	return sched_slot_cmp(*(const struct store_sched_slot *const *)a,
	    *(const struct store_sched_slot *const *)b);
}

static int
sched_runner_pcmp(const void *a, const void *b)
{
	const struct store_sched_runner *x =
	    *(const struct store_sched_runner *const *)a;
	const struct store_sched_runner *y =
	    *(const struct store_sched_runner *const *)b;
	int c = strcmp(x->group, y->group);

	return c ? c : strcmp(x->name, y->name);
}

void
store_sched_slots_free(struct store_sched_slot *slots, size_t n)
{
	if (slots == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(slots[i].app);
		free(slots[i].type);
		free(slots[i].group);
		free(slots[i].runner);
	}
	free(slots);
}

/* Every container the apps want, sorted, with no runner yet. */
static struct store_sched_slot *
sched_wanted(size_t *nout, const struct store_sched_app *apps, size_t napps)
{
	struct store_sched_slot *slots = NULL;
	size_t n = 0, cap = 0;

	for (size_t a = 0; a < napps; a++) {
		for (size_t g = 0; g < apps[a].ngroups; g++) {
			bool dup = false;
			/* An app listed twice in a group runs there once. */
			for (size_t h = 0; h < g; h++)
				dup = dup || !strcmp(apps[a].groups[h],
				    apps[a].groups[g]);
			if (dup)
				continue;
			for (size_t p = 0; p < apps[a].nprocs; p++) {
				for (int i = 1; i <= apps[a].procs[p].quantity;
				    i++) {
					if (n == cap) {
						cap = cap ? cap * 2 : 16;
						slots = xrealloc(slots,
						    cap * sizeof(*slots));
					}
					slots[n++] = (struct store_sched_slot){
						.app = xstrdup(apps[a].name),
						.type = xstrdup(
						    apps[a].procs[p].type),
						.index = i,
						.group = xstrdup(
						    apps[a].groups[g]),
					};
				}
			}
		}
	}
	if (n)
		qsort(slots, n, sizeof(*slots), sched_slot_cmp);
	*nout = n;
	return slots;
}

/* The runner prev gave this slot, or NULL. */
static const char *
sched_prev_runner(const struct store_sched_slot *slot,
    const struct store_sched_slot *const *prev, size_t nprev)
{
	const struct store_sched_slot *key = slot;
	const struct store_sched_slot *const *hit;

	if (nprev == 0)
		return NULL;
	hit = bsearch(&key, prev, nprev, sizeof(*prev), sched_slot_pcmp);
	return hit ? (*hit)->runner : NULL;
}

/* Place the slots [lo, hi) of one group on its m live runners. */
static void
sched_place_group(struct store_sched_slot *slots, size_t lo, size_t hi,
    const struct store_sched_runner *const *runners, size_t m,
    const struct store_sched_slot *const *prev, size_t nprev)
{
	size_t n = hi - lo, napps = 0, cap;
	size_t *load, *app_of, *app_cap, *counts;
	int *chosen;

	if (m == 0)
		return;
	load = xcalloc(m, sizeof(*load));
	app_of = xcalloc(n, sizeof(*app_of));
	app_cap = xcalloc(n, sizeof(*app_cap));
	chosen = xcalloc(n, sizeof(*chosen));
	/* Apps are contiguous within a group (slots are sorted). */
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(slots[lo + i].app, slots[lo + i - 1].app))
			napps++;
		app_of[i] = napps;
		app_cap[napps]++;
	}
	napps++;
	for (size_t a = 0; a < napps; a++)
		app_cap[a] = (app_cap[a] + m - 1) / m;
	counts = xcalloc(napps * m, sizeof(*counts));
	cap = (n + m - 1) / m;

	/* Keep what may stay. */
	for (size_t i = 0; i < n; i++) {
		const char *was = sched_prev_runner(&slots[lo + i], prev,
		    nprev);
		size_t a = app_of[i];

		chosen[i] = -1;
		if (was == NULL)
			continue;
		for (size_t r = 0; r < m; r++) {
			if (strcmp(runners[r]->name, was) != 0)
				continue;
			if (load[r] < cap && counts[a * m + r] < app_cap[a]) {
				chosen[i] = (int)r;
				load[r]++;
				counts[a * m + r]++;
			}
			break;
		}
	}
	/* Spread the rest: fewest of this app, then least load, then name. */
	for (size_t i = 0; i < n; i++) {
		size_t a = app_of[i], best = 0;

		if (chosen[i] >= 0)
			continue;
		for (size_t r = 1; r < m; r++) {
			size_t cr = counts[a * m + r];
			size_t cb = counts[a * m + best];
			if (cr < cb || (cr == cb && load[r] < load[best]))
				best = r;
		}
		chosen[i] = (int)best;
		load[best]++;
		counts[a * m + best]++;
	}
	for (size_t i = 0; i < n; i++)
		slots[lo + i].runner = xstrdup(runners[chosen[i]]->name);
	free(counts);
	free(chosen);
	free(app_cap);
	free(app_of);
	free(load);
}

void
store_sched_plan(struct store_sched_slot **out, size_t *nout,
    const struct store_sched_app *apps, size_t napps,
    const struct store_sched_runner *runners, size_t nrunners,
    const struct store_sched_slot *prev, size_t nprev)
{
	const struct store_sched_runner **live =
	    xcalloc(nrunners + 1, sizeof(*live));
	const struct store_sched_slot **pv = xcalloc(nprev + 1, sizeof(*pv));
	struct store_sched_slot *slots;
	size_t n, nlive = 0, np = 0, lo, hi, r0, r1;

	slots = sched_wanted(&n, apps, napps);
	for (size_t i = 0; i < nrunners; i++)
		if (runners[i].live)
			live[nlive++] = &runners[i];
	if (nlive)
		qsort(live, nlive, sizeof(*live), sched_runner_pcmp);
	for (size_t i = 0; i < nprev; i++)
		if (prev[i].runner && prev[i].app && prev[i].type &&
		    prev[i].group)
			pv[np++] = &prev[i];
	if (np)
		qsort(pv, np, sizeof(*pv), sched_slot_pcmp);

	for (lo = 0; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && !strcmp(slots[hi].group,
		    slots[lo].group); hi++)
			;
		/* The live runners of this group: a contiguous run. */
		for (r0 = 0; r0 < nlive && strcmp(live[r0]->group,
		    slots[lo].group) < 0; r0++)
			;
		for (r1 = r0; r1 < nlive && !strcmp(live[r1]->group,
		    slots[lo].group); r1++)
			;
		sched_place_group(slots, lo, hi, live + r0, r1 - r0, pv, np);
	}
	free(pv);
	free(live);
	*out = slots;
	*nout = n;
}
