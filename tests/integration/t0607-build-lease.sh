#!/usr/bin/env bash
# Builds whose builder is gone end failed, with the reason, and never stay
# "running" for good: the builder renews a lease on its build while it
# works (SLIPWAY_BUILD_LEASE seconds, short here), the controller fails
# the builds whose lease ran out, at start and while it runs.  A real push
# (OpenSSH, git) is cut by kill -9 of the hook right after the controller
# recorded the build, and of the controller while the registry takes the
# image's blobs (each phase taken from the logs; a relay that slows the
# uploads keeps the build in that phase for seconds, so the kill lands
# there); after each, `builds` says why the build failed and the next
# push succeeds.
# test-timeout: 300
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients
export SLIPWAY_BUILD_LEASE=4
WHY="the builder stopped reporting (lease expired)"

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed
# Pushes reach the registry through a relay that takes 1.5 MB a second: a
# build stays seconds in its blob upload, where it is cut.
SLOW=$(free_port)
python3 "$SLIPWAY_TOP/tests/integration/slow-proxy.py" "$SLOW" "${REG#*:}" 1500000 &
at_exit "kill $!"
wait_port "$SLOW" 20 || ctl_start_failed
kill "$SSHD_PID"
SSH_PORT=$(free_port)
slipway sshd --listen "127.0.0.1:$SSH_PORT" --controller "$CTL_URL" \
	--registry "127.0.0.1:$SLOW" >>"$SSHD_LOG" 2>&1 &
SSHD_PID=$!
at_exit "kill $SSHD_PID"
wait_port "$SSH_PORT" 20 || ctl_start_failed
app_init app
# A few MB that do not compress: the push takes long enough to be cut.
head -c 6000000 /dev/urandom >app/public/noise.bin
(cd app && git add -A && git commit -q -m noise)

# Push in the background; push.out has what git said, push.rc its status.
push_bg() {
	rm -f push.out push.rc
	( cd app && as alice git push "$(app_url shop)" main >../push.out 2>&1
	  echo $? >../push.rc ) &
}
# The pids of this test's pre-receive hooks (under this sshd only).
hook_pids() {
	local p
	for p in $(pgrep -f -- "hook pre-receive"); do
		grep -qz "^SLIPWAY_HOME=$SLIPWAY_HOME\$" "/proc/$p/environ" 2>/dev/null &&
			echo "$p"
	done
}
# Build N of shop as `builds` shows it: "STATUS" (the table's column).
build_status() { # N
	slipway builds shop | awk -v n="$1" '$1 == n { $1 = $2 = ""; print }' |
		sed 's/^ *//; s/ *[^ ]* *[^ ]*$//'
}
build_json() { api GET "/v1/apps/shop/builds/$1" | sed '$d' | jq -r ".$2"; }
# Restart the controller on its port (the sshd and the registry know it).
ctl_restart() {
	slipway controller --listen "127.0.0.1:$CTL_PORT" >>"$CTL_LOG" 2>&1 &
	CTL_PID=$!
	at_exit "kill $CTL_PID"
	wait_port "$CTL_PORT" 30
}

push_bg
if wait_for "grep -q 'POST /v1/apps/shop/builds 201' '$CTL_LOG'" 60 &&
	pid=$(hook_pids) && [ -n "$pid" ]; then
	kill -9 $pid
fi
expect_success 'the hook killed after the build is recorded fails the push' '
	wait_for "[ -s push.rc ]" 60 &&
	expect_eq 1 "$(cat push.rc)" "push exit status" &&
	expect_contains "$(cat push.out)" "pre-receive hook declined"
'
expect_success 'and its build ends failed, saying why' '
	wait_for "[ \"\$(build_json 1 status)\" = failed ]" 60 &&
	expect_eq "$WHY" "$(build_json 1 error)" &&
	expect_eq "failed: $WHY" "$(build_status 1)"
'
expect_success 'the next push succeeds' '
	(cd app && as alice git push "$(app_url shop)" main >../push.out 2>&1) ||
		{ cat push.out; exit 1; }
	expect_contains "$(cat push.out)" "remote: -----> Release v1" &&
	expect_eq succeeded "$(build_json 2 status)"
'

(cd app && head -c 6000000 /dev/urandom >public/noise.bin && git commit -q -am more)
seen=$(wc -l <"$REG_LOG")
push_bg
if wait_for "tail -n +$((seen + 1)) '$REG_LOG' | grep -q 'POST /v2/shop/blobs/uploads/ 202'" 60; then
	kill -9 "$CTL_PID"
	wait "$CTL_PID" 2>/dev/null
fi
expect_success 'the controller killed while the registry takes the blobs fails the push' '
	wait_for "[ -s push.rc ]" 60 &&
	expect_eq 1 "$(cat push.rc)" "push exit status"
'
ctl_restart
expect_success 'and after its restart the build ends failed, saying why' '
	wait_for "[ \"\$(build_json 3 status)\" = failed ]" 60 &&
	expect_eq "$WHY" "$(build_json 3 error)" &&
	expect_eq "failed: $WHY" "$(build_status 3)" &&
	expect_contains "$(cat "$CTL_LOG")" "shop: build 3 failed: $WHY"
'
expect_success 'the next push succeeds' '
	(cd app && as alice git push "$(app_url shop)" main >../push.out 2>&1) ||
		{ cat push.out; exit 1; }
	expect_contains "$(cat push.out)" "remote: -----> Release v2" &&
	expect_eq succeeded "$(build_json 4 status)" &&
	expect_eq "" "$(hook_pids)" "hooks left running"
'
expect_success 'no daemon reported a sanitizer error' '
	! grep -E "Sanitizer|runtime error" "$T_DIR"/controller.*.log "$SSHD_LOG" "$REG_LOG"
'
test_done
