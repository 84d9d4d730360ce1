#!/usr/bin/env bash
# test-timeout: 600
# kill -9 at every phase of a push (issue 18, breaks 5 and 6): the git
# hooks, the controller and the proxy, each killed when the push's output
# (or the merged log of `slipway up`) says it reached a phase; kill-lib.sh
# has what is checked after each.  t0609 kills the other daemons.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/kill-lib.sh"

# The phases, in the order a push goes through them: compiling (the
# pre-receive hook), the build recorded and waiting for git to move the
# branch, the release made and its rollout followed (pre-receive still:
# a kill there rejects the push, and the controller takes the release
# back), the runner starting the new release (the proxy is next).
kill_test hook "compiling"
kill_test pre-receive "Process types"
kill_test hook "once the release is live"
kill_test hook "Release v"
kill_test controller "compiling"
kill_test controller "once the release is live"
kill_test controller "Release v"
kill_test proxy "log:hello: v[0-9]*: started web"
kill_test proxy-down "log:hello: v[0-9]*: started web"
kill_done
