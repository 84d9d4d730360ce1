/*
 * Waiting for a rollout from the client side (include/slipway/rollout.h):
 * API client code, beside lib/apiclient.c, so that the builder (the git
 * hook) and the client commands share it without calling each other.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "slipway/alloc.h"
#include "slipway/apiclient.h"
#include "slipway/clock.h"
#include "slipway/err.h"
#include "slipway/rollout.h"

int
rollout_wait(json_t **out, struct apiclient *c, const char *app,
    int64_t version, const char *restart, unsigned timeout_sec,
    rollout_progress_fn progress, void *ctx)
{
	double end = clock_mono() + (timeout_sec ? timeout_sec : ROLLOUT_WAIT_DEFAULT);
	char *eapp = apiclient_escape(app), *erst = NULL, *path;
	char *last = NULL;
	json_t *ans = NULL;
	const char *state = "pending", *reason = NULL;
	int rc = 0;

	if (restart)
		erst = apiclient_escape(restart);
	for (;;) {
		double left = end - clock_mono();
		long wait = left > ROLLOUT_POLL_SECS ? ROLLOUT_POLL_SECS :
		    left < 0 ? 0 : (long)left;
		char *sig;

		path = xasprintf("/v1/apps/%s/releases/v%" PRId64 "/rollout"
		    "?wait=%ld%s%s", eapp, version, wait, erst ? "&restart=" :
		    "", erst ? erst : "");
		json_decref(ans);
		rc = apiclient_call(&ans, c, "GET", path, NULL);
		free(path);
		if (rc < 0)
			goto done;
		state = json_string_value(json_object_get(ans, "state"));
		reason = json_string_value(json_object_get(ans, "reason"));
		if (state == NULL) {
			rc = err_set(ERR_IO, "the controller's rollout answer "
			    "has no state");
			goto done;
		}
		sig = xasprintf("%s\n%s", state, reason ? reason : "");
		if (progress && (last == NULL || strcmp(last, sig) != 0))
			progress(ans, ctx);
		free(last);
		last = sig;
		if (strcmp(state, "pending") != 0 || clock_mono() >= end)
			break;
	}
	if (strcmp(state, "live") == 0 || strcmp(state, "idle") == 0)
		rc = 0;
	else if (strcmp(state, "failed") == 0)
		rc = err_set(ERR_CONFLICT, "%s v%" PRId64 " failed: %s", app,
		    version, reason ? reason : "no reason given");
	else if (strcmp(state, "superseded") == 0)
		rc = err_set(ERR_CONFLICT, "%s v%" PRId64 " was superseded: %s",
		    app, version, reason ? reason : "a later release runs");
	else
		rc = err_set(ERR_TIMEOUT, "%s v%" PRId64 " is not live after "
		    "%us: %s", app, version, timeout_sec ? timeout_sec :
		    ROLLOUT_WAIT_DEFAULT, reason ? reason : state);
done:
	free(last);
	free(eapp);
	free(erst);
	if (out)
		*out = ans;
	else
		json_decref(ans);
	return rc;
}
