#!/usr/bin/env bash
# test-timeout: 300
# Failover by leases: two runners of one group on loopback (each with its
# own home and proxy, process driver).  A kill -9 of one runner and its
# containers: within a lease its slots run on the other, `runners` says it
# is dead and for how long, `ps` shows what it ran as lost, never up; a
# deploy during the loss completes on the runner that is left.  When it
# comes back, the containers it had are not restarted (they are not its
# any more): it stops them and takes its share of the new release.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/rollout-lib.sh"
# Each runner home here gets a firewall table that outlives its runner.
fw_cleanup() {
	local h
	for h in h2; do
		[ -d "$T_DIR/$h" ] && SLIPWAY_HOME=$T_DIR/$h \
			slipway runner firewall --remove >/dev/null 2>&1
	done
	return 0
}
at_exit fw_cleanup

rl_need process
export SLIPWAY_CONFIG=$T_DIR/client.json
rl_start process

H2=$T_DIR/h2
PX2=$(free_port)
slipway proxy --listen "127.0.0.1:$PX2" --control "$T_DIR/proxy2.sock" \
	>"$T_DIR/proxy2.log" 2>&1 &
at_exit "kill $!"
wait_port "$PX2" 20 || { cat "$T_DIR/proxy2.log"; ctl_start_failed; }
K2=$(slipway runners:add r2 2>/dev/null)
R2_PID=
r2_start() {
	mkdir -p "$H2"
	SLIPWAY_HOME=$H2 slipway runner --controller "$CTL_URL" --group default \
		--key "$K2" --driver process --proxy-control "$T_DIR/proxy2.sock" \
		--proxy-port "$PX2" --health-interval 0.2 --grace 3 --drain 2 \
		--port-base $((RL_PORT_BASE + 500)) >>"$T_DIR/r2.log" 2>&1 &
	R2_PID=$!
	disown "$R2_PID"
}
# r2's containers' processes (process driver: one session each)
r2_pids() { SLIPWAY_HOME=$H2 slipway runner ps --json 2>/dev/null | jq -r '.[] | select(.pid > 0) | .pid'; }
r2_cleanup() {
	local id
	[ -n "$R2_PID" ] && kill "$R2_PID" 2>/dev/null && sleep 1
	[ -n "$R2_PID" ] && kill -KILL "$R2_PID" 2>/dev/null
	if [ -d "$H2/runner/containers" ]; then
		for id in $(ls "$H2/runner/containers"); do
			SLIPWAY_HOME=$H2 slipway runner destroy "$id" >/dev/null 2>&1
		done
	fi
}
at_exit r2_cleanup
r2_start

# "runner:state:release" of each slot of shop, sorted
slots() {
	slipway ps shop --json | jq -r '[.containers[] | select(.lost != true) |
		"\(.runner):\(.reported.state // "-"):v\(.reported.release // 0)"] | sort | join(" ")'
}

expect_success 'two runners, web=2: one container on each, up' '
	slipway apps:create shop >/dev/null && rl_images shop 1 2 &&
	expect_eq v1 "$(rl_deploy shop 1)" &&
	slipway ps:scale shop web=2 >/dev/null &&
	wait_for "[ \"\$(slots)\" = \"r1:up:v1 r2:up:v1\" ]" 60
'

expect_success 'kill -9 of r2 and its containers: its slot runs on r1 within seconds' '
	pids=$(r2_pids) && [ -n "$pids" ] &&
	kill -KILL "$R2_PID" $pids &&
	wait_for "[ \"\$(slots)\" = \"r1:up:v1 r1:up:v1\" ]" 30
'
R2_PID=
expect_success 'runners says r2 is dead, and for how long' '
	st=$(slipway runners --json | jq -r ".[] | select(.name==\"r2\") | .state") &&
	expect_contains "$st" "dead " &&
	expect_contains "$(slipway runners)" "dead "
'
expect_success 'ps shows what r2 ran as lost, never up' '
	out=$(slipway ps shop) &&
	expect_contains "$out" "lost (runner silent" &&
	expect_eq 0 "$(slipway ps shop --json | jq "[.containers[] | select(.runner == \"r2\" and .reported.state == \"up\" and .lost != true)] | length")" &&
	expect_eq 1 "$(slipway ps shop --json | jq "[.containers[] | select(.lost == true and .runner == \"r2\")] | length")"
'
expect_success 'a deploy during the loss completes on the runner left' '
	expect_eq v2 "$(rl_deploy shop 2)" &&
	wait_for "[ \"\$(slots)\" = \"r1:up:v2 r1:up:v2\" ]" 60 &&
	wait_for "[ \"\$(rl_get shop)\" = \"shop version 2\" ]" 20
'

r2_start
expect_success 'r2 back: its old container is not restarted, and it takes its share of v2' '
	wait_for "[ \"\$(slots)\" = \"r1:up:v2 r2:up:v2\" ]" 60 &&
	grep -q "is not wanted here any more; left down" "$T_DIR/r2.log" &&
	! grep -q "is still wanted here; restarting" "$T_DIR/r2.log" &&
	! grep -q "restarted (restart" "$T_DIR/r2.log" &&
	expect_eq 0 "$(SLIPWAY_HOME=$H2 slipway runner ps --json | jq "[.[] | select(.release == \"v1\" and .state == \"up\")] | length")" &&
	expect_eq "shop version 2" "$(curl -sS --max-time 10 -H "Host: shop.localhost" "http://127.0.0.1:$PX2/")"
'
test_done
