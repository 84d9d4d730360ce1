/*
 * Waiting for a rollout from the client side (lib/rollout.c, API client
 * code beside lib/apiclient.c): what the git hook calls after "Release
 * vN" and what `slipway releases:wait` and `ps:restart` run.  It long-polls GET /v1/apps/APP/releases/vN/rollout (the contract
 * is in docs/rollout.md) until every runner assigned to the app reports
 * the release live, or one reports it failed, or the time is up.
 */
#ifndef SLIPWAY_ROLLOUT_H
#define SLIPWAY_ROLLOUT_H

#include <stdint.h>

#include <jansson.h>

struct apiclient;

/* How long rollout_wait waits when not told (s). */
#define ROLLOUT_WAIT_DEFAULT 300
/* How long one long-poll asks the controller to hold an answer (s); the
 * client's other long-polls (run, logs) ask the same. */
#define ROLLOUT_POLL_SECS 25

/* Called with each answer whose state or reason differs from the last
 * one (for "waiting for runner r1: deploying" lines). */
typedef void (*rollout_progress_fn)(json_t *answer, void *ctx);

/*
 * Wait up to timeout_sec (0: 300) for release version of app to be live
 * on every runner assigned to it.  restart (may be NULL) is a token from
 * POST .../ps/restart: then wait for that restart instead.
 *
 * 0 when it is live, or "idle" (the formation runs nothing of it).
 * ERR_CONFLICT when it failed (the message names the runner and gives
 * the health check's last answer) or a later release replaced it;
 * ERR_TIMEOUT when it is still rolling out, with what it waits for; the
 * API client's codes when the controller cannot answer.  *out (may be
 * NULL) gets the last answer (caller decrefs); its "urls" hold the
 * app's addresses once live.
 */
int rollout_wait(json_t **out, struct apiclient *c, const char *app,
    int64_t version, const char *restart, unsigned timeout_sec,
    rollout_progress_fn progress, void *ctx);

#endif
