#!/usr/bin/env bash
# Zero-downtime rollouts with the runc driver (root and runc needed): 20
# deploys under load with no failed answer, a release that fails its
# health check, crash restarts, kill -9 of the runner, scale, rolling
# restart, logs and one-offs through the controller.  The same suite runs
# with the process driver in t0701.  See rollout-suite.sh.
. "$(dirname "$0")/lib.sh"
RL_SUITE_DRIVER=runc
. "$SLIPWAY_TOP/tests/integration/rollout-suite.sh"
expect_success 'every runc container and overlay mount is gone after destroy' '
	rl_cleanup &&
	[ -z "$(runc --root "$RL_RHOME/runner/runc" list -q 2>/dev/null)" ] &&
	! awk -v h="$RL_RHOME" "index(\$2, h) == 1" /proc/mounts | grep -q .
'
test_done
