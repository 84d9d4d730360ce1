#!/usr/bin/env bash
# test-timeout: 600
# kill -9 during a push of the daemons t0606 leaves alone (issue 18,
# breaks 5 and 6): the registry, sshd (its listener, its process for the
# push's connection, and the ssh-exec that runs git), and the runner,
# each when the push's output or `slipway up`'s log says the push reached
# the phase where it matters; kill-lib.sh has what is checked after each.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/kill-lib.sh"

# The registry while the build uploads the image's blobs, and while the
# runner pulls the new release: with 20 MB that do not compress, each
# takes a second or more (the clients retry: both pushes go through).
kill_test registry "log:POST /v2/hello/blobs/uploads/ 202" 20
kill_test registry "log:runner: pulling" 20
# sshd: the listener mid-push, then what serves the push: the
# connection's process and ssh-exec, while the build compiles, as the
# pre-receive hook ends (ssh-exec holds the app's lock) and once the
# release is made.
kill_test sshd "compiling"
kill_test sshd-conn "compiling"
kill_test sshd-conn "Release v"
kill_test ssh-exec "compiling"
kill_test ssh-exec "Process types"
kill_test ssh-exec "Release v"
# The runner: while the new release's container starts, while its health
# is checked before the swap, just after the proxy took the swap, and
# while it retires the old release's containers (the restarted runner
# must retire them: kill_done checks that none is left).
kill_test runner "log:runner: image sha256:[0-9a-f]* unpacked"
kill_test runner "log:hello: v[0-9]*: started web"
kill_test runner "log:control: .*hello"
kill_test runner "log:hello: retiring"
kill_done
