#!/usr/bin/env bash
# The rollout suite (rollout-suite.sh) with the process driver, so it
# means something on machines without runc or root.
. "$(dirname "$0")/lib.sh"
RL_SUITE_DRIVER=process
. "$SLIPWAY_TOP/tests/integration/rollout-suite.sh"
test_done
