/*
 * The release phase (Procfile `release: CMD`), run by the ticker: for
 * each pending release waiting for its phase (store/store_phase.c) a
 * one-off of that release is queued on a live runner of the app's groups
 * (the runner unpacks the release's image and runs CMD with its config,
 * its output in the app's logs as run.N); when it exits 0 the release
 * becomes the app's target and its containers start, else the release
 * fails with the exit status and the one before keeps serving.  The
 * pusher sees the one-off's output: the rollout answer names the run
 * (api_rollout.c) and the builder follows it.  A run the controller no
 * longer knows (a restart) is started again.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl_int.h"
#include "slipway/err.h"
#include "slipway/log.h"

static void
phase_start(struct ctl *ctl, struct store *s, json_t *x, const char *app,
    int64_t v)
{
	json_t *runner = NULL, *rel;
	char id[33];
	unsigned index;

	if (store_run_runner(&runner, s, app, ctl_live_after(ctl)) < 0)
		return;         /* waits for a runner; the rollout says so */
	rel = json_pack("{sIsOsO}", "version", (json_int_t)v, "image",
	    json_object_get(x, "image"), "digest", json_object_get(x,
	    "digest"));
	if (ctl_run_start(id, &index, app, json_string_value(json_object_get(runner,
	    "name")), "release phase", rel, json_string_value(
	    json_object_get(x, "command")), json_object_get(x, "config")) < 0 ||
	    store_release_phase_start(s, app, v, id) < 0)
		log_warnx("%s: cannot start the release phase of v%lld: %s",
		    app, (long long)v, err_last());
	else
		log_info("%s: release phase of v%lld runs as one-off %s on "
		    "runner '%s'", app, (long long)v, id,
		    json_string_value(json_object_get(runner, "name")));
	json_decref(rel);
	json_decref(runner);
}

void
ctl_release_phases(struct ctl *ctl, struct store *s)
{
	json_t *list = NULL, *x;
	bool wake = false;
	size_t i;

	if (store_release_phase_list(&list, s) < 0) {
		log_warnx("cannot read the release phases: %s", err_last());
		return;
	}
	json_array_foreach(list, i, x) {
		const char *app = json_string_value(json_object_get(x, "app"));
		const char *run = json_string_value(json_object_get(x, "run"));
		int64_t v = json_integer_value(json_object_get(x, "release"));
		char err[1100], why[1200];
		int code, st;
		bool changed = false;

		if (run == NULL) {
			phase_start(ctl, s, x, app, v);
			ctl_desired_changed(ctl);
			continue;
		}
		st = ctl_run_status(run, &code, err, sizeof(err));
		if (st == 0 || st == 1)
			continue;
		if (st < 0) {
			/* forgotten (a restart): run it again */
			store_release_phase_start(s, app, v, NULL);
			continue;
		}
		if (st == 2 && code == 0) {
			snprintf(why, sizeof(why), "ok");
		} else if (st == 2) {
			snprintf(why, sizeof(why), "the release phase exited "
			    "with status %d", code);
		} else {
			snprintf(why, sizeof(why), "the release phase could "
			    "not run: %s", err);
		}
		if (store_release_phase_end(&changed, s, app, v,
		    st == 2 && code == 0, why) < 0) {
			log_warnx("%s: cannot end the release phase of v%lld: "
			    "%s", app, (long long)v, err_last());
			continue;
		}
		if (changed)
			log_info("%s: release phase of v%lld: %s", app,
			    (long long)v, why);
		wake |= changed;
	}
	json_decref(list);
	if (wake) {
		ctl_schedule_kick(ctl, s);
		ctl_live_notify();
	}
}
