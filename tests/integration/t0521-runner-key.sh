#!/usr/bin/env bash
# test-timeout: 240
# One runner key, one host: a runner key holds one session; a second
# runner with the same key is refused while the first's lease is live, a
# restart of the same runner (same home) takes its session back, and
# after the first's lease lapses the key may move.  A runner started with
# a wrong group or a refused key exits non-zero with a clear message, not
# forever and not with a hint about user tokens.  The lease endpoints
# refuse calls without the key's current session.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/rollout-lib.sh"
# Each runner home here gets a firewall table that outlives its runner.
fw_cleanup() {
	local h
	for h in h2 h3 h4 h5; do
		[ -d "$T_DIR/$h" ] && SLIPWAY_HOME=$T_DIR/$h \
			slipway runner firewall --remove >/dev/null 2>&1
	done
	return 0
}
at_exit fw_cleanup

rl_need process
export SLIPWAY_CONFIG=$T_DIR/client.json
rl_start process

# A second runner over its own home, in the foreground; prints its log.
# Its exit status is the script's.
other() { # HOME [runner args...]
	local h=$1; shift
	mkdir -p "$h"
	SLIPWAY_HOME=$h timeout 60 slipway runner --controller "$CTL_URL" \
		--driver process --proxy-control "$RL_CTLSOCK" \
		--port-base $((RL_PORT_BASE + 500)) "$@" >"$h.log" 2>&1
	local rc=$?
	cat "$h.log"
	return $rc
}
runner_json() { slipway runners --json | jq -r ".[] | select(.name==\"r1\") | $1"; }

expect_success 'the runner registers: runners shows one session (address, since)' '
	wait_for "[ \"\$(runner_json .state)\" = live ]" 30 &&
	expect_eq 127.0.0.1 "$(runner_json .address)" &&
	expect_contains "$(runner_json .session_since)" "T" &&
	out=$(slipway runners) && expect_contains "$out" ADDRESS &&
	expect_contains "$out" 127.0.0.1
'
SINCE=$(runner_json .session_since)
EPOCH=$(runner_json .epoch)

expect_success 'the same key from a second runner is refused while the first is live' '
	! out=$(other "$T_DIR/h2" --group default --key "$RL_KEY") &&
	expect_contains "$out" "runner key already in use by a live runner at 127.0.0.1 since $SINCE" &&
	expect_eq "$SINCE" "$(runner_json .session_since)" &&
	expect_eq 1 "$(slipway runners --json | jq length)" &&
	grep -q "register from 127.0.0.1 refused: runner key already in use" "$CTL_LOG"
'
expect_success 'the first runner keeps its lease meanwhile' '
	sleep 2 && expect_eq live "$(runner_json .state)" &&
	! grep -q "lease: this runner.s session ended" "$T_DIR/runner.log"
'

expect_success 'a wrong group exits non-zero, naming the key'"'"'s group' '
	slipway groups:create staging >/dev/null &&
	k=$(slipway runners:add s1 --group staging 2>/dev/null) &&
	! out=$(other "$T_DIR/h3" --group default --key "$k") &&
	expect_contains "$out" "this key belongs to runner '"'"'s1'"'"' of group '"'"'staging'"'"', not of group '"'"'default'"'"'"
'
expect_success 'a wrong key says it is a runner key that was refused, and gives up' '
	bad=slr_$(printf "%064d" 0) &&
	! out=$(other "$T_DIR/h4" --group default --key "$bad") &&
	expect_contains "$out" "refused this runner key" &&
	expect_contains "$out" "stopping" &&
	case "$out" in *"slipway login"*|*SLIPWAY_TOKEN*) false ;; esac
'

# ---- the lease endpoints, by hand ----
st() { api_status "$1"; }
expect_success 'a renewal without the session, or with another, is refused (409)' '
	expect_eq 409 "$(st "$(curl -sS -w "\n%{http_code}\n" -X POST -H "Authorization: Bearer $RL_KEY" "$CTL_URL/v1/runner/heartbeat")")" &&
	out=$(curl -sS -w "\n%{http_code}\n" -X POST -H "Authorization: Bearer $RL_KEY" \
		-H "X-Slipway-Session: rs1_forged" "$CTL_URL/v1/runner/heartbeat") &&
	expect_eq 409 "$(st "$out")" &&
	expect_contains "$out" "registered again, by the runner at 127.0.0.1" &&
	long=$(head -c 5000 /dev/zero | tr "\0" a) &&
	expect_eq 409 "$(st "$(curl -sS -w "\n%{http_code}\n" -H "Authorization: Bearer $RL_KEY" \
		-H "X-Slipway-Session: $long" "$CTL_URL/v1/runner/desired")")" &&
	expect_eq 409 "$(st "$(curl -sS -w "\n%{http_code}\n" -X POST -H "Authorization: Bearer $RL_KEY" \
		-d "{\"containers\":[]}" "$CTL_URL/v1/runner/status")")"
'
expect_success 'a malformed register body is refused whole (422), the session kept' '
	for b in "{\"session\":7}" "{\"session\":\"$(head -c 200 /dev/zero | tr "\0" a)\"}"; do
		expect_eq 422 "$(st "$(curl -sS -w "\n%{http_code}\n" -X POST -H "Authorization: Bearer $RL_KEY" \
			-d "$b" "$CTL_URL/v1/runner/register")")" || return 1
	done &&
	expect_eq "$SINCE" "$(runner_json .session_since)" &&
	expect_eq "$EPOCH" "$(runner_json .epoch)"
'

# ---- the same runner again, then the key moving ----
kill "$RL_RUNNER_PID"
rl_runner_reap
rl_runner_start
expect_success 'a restart of the same runner (its home) takes its session back at once' '
	wait_for "[ \"\$(runner_json .epoch)\" -gt $EPOCH ]" 30 &&
	expect_eq "$SINCE" "$(runner_json .session_since)" &&
	expect_eq live "$(runner_json .state)"
'
kill -KILL "$RL_RUNNER_PID"
rl_runner_reap
expect_success 'once its lease lapsed, runners says dead' '
	wait_for "runner_json .state | grep -q \"^dead \"" 20 &&
	expect_contains "$(slipway runners)" "dead "
'
mkdir -p "$T_DIR/h5"
SLIPWAY_HOME=$T_DIR/h5 slipway runner --controller "$CTL_URL" --driver process \
	--proxy-control "$RL_CTLSOCK" --port-base $((RL_PORT_BASE + 500)) \
	--group default --key "$RL_KEY" >"$T_DIR/h5.log" 2>&1 &
H5=$!
at_exit "kill $H5"
expect_success 'then the key may move to another runner: a new session' '
	wait_for "[ \"\$(runner_json .state)\" = live ]" 20 &&
	wait_for "grep -q \"registered as runner\" $T_DIR/h5.log" 10 &&
	[ "$(runner_json .session_since)" != "$SINCE" ]
'
test_done
