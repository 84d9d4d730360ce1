# The rollout suite, run by t0700-rollout.sh (runc driver) and
# t0701-rollout-process.sh (process driver): source after setting
# RL_SUITE_DRIVER.  Everything goes through the real daemons: the
# controller's API (builds recorded as the builder does), the registry,
# the proxy, the runner daemon; load from tests/helpers/pxpeer.c.
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/rollout-lib.sh"

DEPLOYS=${SLIPWAY_ROLLOUT_DEPLOYS:-20}
rl_need "$RL_SUITE_DRIVER"
export SLIPWAY_CONFIG=$T_DIR/client.json
rl_start "$RL_SUITE_DRIVER"

expect_success 'images of 20+ versions pushed to the registry' '
	slipway apps:create shop >/dev/null &&
	rl_images shop 1 $((DEPLOYS + 1))
'

expect_success 'the runner registers and reports (runners shows it live)' '
	wait_for "slipway runners --json | jq -e \".[0].live and .[0].reported_at != null\"" 30
'

expect_success 'first deploy: the release goes live and releases:wait prints the URL' '
	rel=$(rl_deploy shop 1) && expect_eq v1 "$rel" &&
	out=$(slipway releases:wait shop v1 --timeout 120) &&
	expect_contains "$out" "shop v1 is live at http://shop.localhost:$RL_PX/" &&
	rl_only shop "shop version 1"
'

expect_success "the driver is $RL_SUITE_DRIVER" '
	expect_eq "$RL_SUITE_DRIVER" "$(rl_rps | jq -r ".[0].driver")"
'

rl_load_start deploys shop 4
expect_success "$DEPLOYS deploys under load: each goes live, then only it answers" '
	for i in $(seq 2 $((DEPLOYS + 1))); do
		rel=$(rl_deploy shop $i) || { echo "deploy $i failed"; exit 1; }
		slipway releases:wait shop $rel --timeout 120 >/dev/null ||
			{ echo "release $rel (image v$i) did not go live"; exit 1; }
		rl_only shop "shop version $i" 10 || exit 1
	done
'
expect_success 'not one failed answer or connection error during the deploys' '
	rl_load_check deploys
'
expect_success 'the old containers are gone: one web container runs' '
	wait_for "[ \$(rl_rps | jq length) = 1 ]" 60 &&
	expect_eq "v$((DEPLOYS + 1))" "$(rl_rps | jq -r ".[0].release")"
'
expect_success 'unused images are collected (at most 3 kept for the app)' '
	n=$(ls "$RL_RHOME/runner/images" | grep -c "^[0-9a-f]\{64\}$") &&
	[ "$n" -le 3 ] || { echo "$n images kept"; false; }
'

LAST="shop version $((DEPLOYS + 1))"
rl_load_start sick shop 4
expect_success 'a release that never becomes healthy fails with the reason' '
	slipway config:set shop SLIPWAY_HEALTHCHECK_PATH=/missing \
		SLIPWAY_HEALTHCHECK_DEADLINE=3 >/dev/null &&
	rel=$(slipway releases --json shop | jq -r ".[0].version") &&
	out=$(slipway releases:wait shop v$rel --timeout 120 2>&1);
	rc=$?; [ $rc = 1 ] || { echo "exit $rc: $out"; false; } &&
	expect_contains "$out" "shop v$rel failed: runner r1: web.1 never became healthy in 3s" &&
	expect_contains "$out" "404"
'
expect_success 'the rollout endpoint says failed, with the reason' '
	rel=$(slipway releases --json shop | jq -r ".[0].version") &&
	out=$(api GET "/v1/apps/shop/releases/v$rel/rollout") &&
	expect_eq failed "$(api_body "$out" | jq -r .state)" &&
	expect_contains "$(api_body "$out" | jq -r .reason)" "404"
'
expect_success 'the old release keeps answering, and only it' '
	rl_only shop "$LAST" 10
'
expect_success 'its failed containers are stopped' '
	expect_eq 1 "$(rl_rps | jq "[.[] | select(.app == \"shop\")] | length")"
'
expect_success 'no failed answer while the release failed' 'rl_load_check sick'

expect_success 'a release whose process dies at once fails with its last output' '
	slipway config:unset shop SLIPWAY_HEALTHCHECK_PATH SLIPWAY_HEALTHCHECK_DEADLINE >/dev/null &&
	rel=$(rl_deploy shop 2 "{\"web\":\"echo cannot start: no database; exit 3\"}") &&
	out=$(slipway releases:wait shop $rel --timeout 120 2>&1);
	[ $? = 1 ] && expect_contains "$out" "keeps exiting (last status 3" &&
	expect_contains "$out" "cannot start: no database" &&
	rl_only shop "$LAST" 5
'

expect_success 'the image'"'"'s health check (slipway.yml, as the builder labels it) is used' '
	slipway config:unset shop SLIPWAY_HEALTHCHECK_PATH SLIPWAY_HEALTHCHECK_DEADLINE >/dev/null;
	rl_images shop 900 900 --healthcheck "{\"path\":\"/nope\",\"deadline\":2}" &&
	rel=$(rl_deploy shop 900) &&
	out=$(slipway releases:wait shop $rel --timeout 120 2>&1);
	[ $? = 1 ] && expect_contains "$out" "never became healthy in 2s: HTTP/1.1 404" &&
	rl_only shop "$LAST" 5 &&
	rl_images shop 901 901 --healthcheck /index.html &&
	rel=$(rl_deploy shop 901) &&
	slipway releases:wait shop $rel --timeout 120 >/dev/null &&
	rl_only shop "shop version 901" 5 &&
	grep -q "url:/index.html" "$RL_RHOME/logs/apps/shop.log"
'

expect_success 'a fixed release goes live again' '
	rel=$(rl_deploy shop 1) &&
	slipway releases:wait shop $rel --timeout 120 >/dev/null &&
	rl_only shop "shop version 1"
'

expect_success 'a crashed container is restarted' '
	wait_for "[ \$(rl_rps | jq length) = 1 ]" 60 &&
	pid=$(rl_rps | jq -r ".[] | select(.process == \"web.1\") | .pid") &&
	id=$(rl_rps | jq -r ".[] | select(.process == \"web.1\") | .id") &&
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid";
	wait_for "rl_rps | jq -e \".[] | select(.id == \\\"$id\\\" and .restarts >= 1 and .state == \\\"up\\\")\"" 60 &&
	wait_for "rl_only shop \"shop version 1\" 3" 30
'
expect_success 'ps shows the restart as the runner reported it' '
	wait_for "slipway ps shop --json | jq -e \".containers[0].reported.restarts >= 1\"" 30
'

rl_load_start kill9 shop 4
expect_success 'kill -9 of the runner: the containers keep serving' '
	rl_rps | jq -r "[.[].id] | sort | join(\",\")" >$T_DIR/ids.before &&
	kill -KILL $RL_RUNNER_PID &&
	wait_for "! ps -o stat= -p $RL_RUNNER_PID | grep -qv Z" 10 &&
	rl_only shop "shop version 1" 5
'
rl_runner_reap
rl_runner_start
expect_success 'the restarted runner adopts the same containers' '
	wait_for "grep -q \"adopted\" $T_DIR/runner.log" 30 &&
	wait_for "slipway releases:wait shop --timeout 5" 60 &&
	expect_eq "$(cat $T_DIR/ids.before)" "$(rl_rps | jq -r "[.[].id] | sort | join(\",\")")" &&
	rl_only shop "shop version 1" 5
'
expect_success 'after the restart it rolls out again' '
	rel=$(rl_deploy shop 2) &&
	slipway releases:wait shop $rel --timeout 120 >/dev/null &&
	rl_only shop "shop version 2"
'
expect_success 'no failed answer through the runner'"'"'s kill and restart' 'rl_load_check kill9'

expect_success 'ps:scale web=3 runs three, all routed' '
	slipway ps:scale shop web=3 >/dev/null &&
	wait_for "[ \$(rl_rps | jq \"[.[] | select(.state == \\\"up\\\")] | length\") = 3 ]" 60 &&
	wait_for "[ \$(slipway proxy routes --json --control $RL_CTLSOCK | jq \".routes[0].backends | length\") = 3 ]" 60
'
expect_success 'scaling changed only the count: web.1 is the same container' '
	grep -c "started web" $T_DIR/runner.log >/dev/null &&
	expect_eq 1 "$(rl_rps | jq "[.[] | select(.process == \"web.1\")] | length")"
'

rl_load_start restart shop 4
expect_success 'ps:restart rolls through the three containers' '
	before=$(rl_rps | jq -r "[.[].id] | sort | join(\",\")") &&
	out=$(slipway ps:restart shop --timeout 120) &&
	expect_contains "$out" "Restarted shop" &&
	wait_for "[ \$(rl_rps | jq length) = 3 ]" 60 &&
	after=$(rl_rps | jq -r "[.[].id] | sort | join(\",\")") &&
	[ "$before" != "$after" ] &&
	for id in $(echo "$before" | tr , " "); do
		case ",$after," in *",$id,"*) echo "$id was not restarted"; exit 1;; esac
	done
'
expect_success 'no failed answer during the restart' 'rl_load_check restart'

expect_success 'ps:scale web=1 drains and stops the extra two' '
	slipway ps:scale shop web=1 >/dev/null &&
	wait_for "[ \$(rl_rps | jq length) = 1 ]" 60 &&
	rl_only shop "shop version 2" 5
'

expect_success 'a worker type starts after web and is left alone by web changes' '
	rel=$(rl_deploy shop 3 "{\"web\":\"busybox httpd -f -vv -p \$PORT -h public\",\"worker\":\"while true; do sleep 1; done\"}") &&
	slipway ps:scale shop worker=1 >/dev/null &&
	wait_for "rl_rps | jq -e \".[] | select(.process == \\\"worker.1\\\" and .state == \\\"up\\\")\"" 60 &&
	w=$(rl_rps | jq -r ".[] | select(.process == \"worker.1\") | .id") &&
	slipway ps:restart shop web --timeout 120 >/dev/null &&
	expect_eq "$w" "$(rl_rps | jq -r ".[] | select(.process == \"worker.1\") | .id")"
'

expect_success 'logs shows the requests, through the controller' '
	wait_for "slipway logs shop -n 200 --process web | grep -q response:200" 30 &&
	out=$(slipway logs shop -n 5 --process web) &&
	[ $(printf "%s\n" "$out" | wc -l) = 5 ] &&
	! expect_contains "$out" "worker." >/dev/null
'
slipway logs shop -n 1 -f >"$T_DIR/follow.out" 2>&1 &
FOLLOW_PID=$!
expect_success 'logs -f follows new lines' '
	wait_for "[ -s $T_DIR/follow.out ]" 30 &&
	curl -s -o /dev/null -H "Host: shop.localhost" "http://127.0.0.1:$RL_PX/followed-$$" &&
	wait_for "grep -q url:/followed-$$ $T_DIR/follow.out" 30 ||
		{ tail -5 $T_DIR/follow.out; false; }
'
kill "$FOLLOW_PID"
{ wait "$FOLLOW_PID"; } 2>/dev/null
expect_success 'run prints the output and exits with the status' '
	out=$(slipway run shop -- "cat public/index.html; echo to stderr >&2; exit 7" 2>$T_DIR/run.err);
	rc=$?; expect_eq 7 "$rc" &&
	expect_contains "$out" "shop version 3" &&
	expect_contains "$out" "to stderr" &&
	expect_contains "$(cat $T_DIR/run.err)" "Exited with status 7"
'
expect_success 'run with several words quotes them' '
	out=$(slipway run shop -- sh -c "echo \"a  b\"") &&
	expect_eq "a  b" "$out"
'
expect_success 'the one-off container is gone after it ran' '
	wait_for "[ \$(rl_rps | jq \"[.[] | select(.process | startswith(\\\"run.\\\"))] | length\") = 0 ]" 30
'

# ---- stopping: SIGTERM reaches the app; retiring in the background ----

# Under runc the app runs under slipway-init, PID 1 of the container: a
# PID 1 without a handler (busybox httpd) would never see SIGTERM and
# every stop would wait out the grace and end in SIGKILL.
expect_success 'every container of shop that was stopped ended on SIGTERM, none waited out the grace' '
	grep -q "slipway\[web\.[0-9]*\]: stopped (status 143)" "$RL_RHOME/logs/apps/shop.log" &&
	! grep "did not stop in" "$RL_RHOME/logs/apps/shop.log"
'
if [ "$RL_SUITE_DRIVER" = runc ]; then
	expect_success 'runc: PID 1 of a container is slipway-init, with the command under it' '
		pid=$(rl_rps | jq -r ".[] | select(.app == \"shop\" and .process == \"web.1\") | .pid") &&
		cmd=$(tr "\0" " " </proc/$pid/cmdline) &&
		expect_contains "$cmd" "/dev/slipway-init -- /bin/sh -c for slipway_f in .profile.d" && expect_contains "$cmd" "slipway busybox httpd" &&
		expect_eq 1 "$(awk "/^NSpid:/ { print \$NF }" /proc/$pid/status)" &&
		out=$(slipway run shop -- "cat /proc/1/cmdline; echo; echo pid \$\$") &&
		expect_contains "$out" "/dev/slipway-init" &&
		! printf "%s\n" "$out" | grep -qx "pid 1"
	'
fi

# App "slow" v1 ignores SIGTERM (as an app busy finishing its work
# would), so with --grace 90 it is retiring, still up, for a minute and
# a half after v2 is live.  v3 right after v2 must not wait for that.
DEAF='{"web":"trap \"\" TERM; exec busybox httpd -f -vv -p $PORT -h public"}'
expect_success 'the runner restarts with --grace 90' '
	slipway apps:create slow >/dev/null && rl_images slow 1 3 &&
	kill "$RL_RUNNER_PID"
'
rl_runner_reap
RL_RUNNER_ARGS="--grace 90"
rl_runner_start
expect_success 'slow v1 (deaf to SIGTERM) goes live' '
	rel=$(rl_deploy slow 1 "$DEAF") &&
	slipway releases:wait slow $rel --timeout 120 >/dev/null &&
	rl_only slow "slow version 1" 3 &&
	rl_rps | jq -r ".[] | select(.app == \"slow\") | .id" >$T_DIR/slow.v1
'
expect_success 'slow v2 goes live; v1 is retiring: up, marked, routed out' '
	rel=$(rl_deploy slow 2) &&
	slipway releases:wait slow $rel --timeout 120 >/dev/null &&
	v1=$(cat $T_DIR/slow.v1) &&
	wait_for "rl_rps | jq -e \".[] | select(.id == \\\"$v1\\\" and .retiring and .state == \\\"up\\\" and (.want_up | not))\"" 30 &&
	rl_only slow "slow version 2" 5
'
expect_success 'slow v3 right after v2 goes live while v1 still waits out its grace' '
	v1=$(cat $T_DIR/slow.v1) &&
	rel=$(rl_deploy slow 3) &&
	slipway releases:wait slow $rel --timeout 120 >/dev/null &&
	rl_only slow "slow version 3" 5 &&
	{ rl_rps | jq -e ".[] | select(.id == \"$v1\" and .retiring and .state == \"up\")" >/dev/null ||
		{ echo "v1 ($v1) is gone: v3 waited for its retirement"; false; }; } &&
	echo "$rel" >$T_DIR/slow.v3
'
expect_success 'the retiring container keeps its port; only v3 is routed, on another port' '
	v1=$(cat $T_DIR/slow.v1) &&
	p1=$(rl_rps | jq -r ".[] | select(.id == \"$v1\") | .port") &&
	p3=$(rl_rps | jq -r ".[] | select(.app == \"slow\" and .release == \"$(cat $T_DIR/slow.v3)\") | .port") &&
	[ -n "$p3" ] && [ "$p1" != "$p3" ] &&
	b=$(slipway proxy routes --json --control $RL_CTLSOCK | jq -c "[.routes[] | select(.app == \"slow\") | .backends[].addr]") &&
	expect_eq "[\"127.0.0.1:$p3\"]" "$b"
'
expect_success 'ps marks it retiring; the controller shows v3 for web.1' '
	v1=$(cat $T_DIR/slow.v1) && v3=$(cat $T_DIR/slow.v3) &&
	SLIPWAY_HOME=$RL_RHOME slipway runner ps | grep "id=$v1" | grep -q "^web.1 *retiring " &&
	wait_for "slipway ps slow --json | jq -e \".containers[0].reported.release == ${v3#v} and (.containers[0].reported.retiring | not)\"" 30
'
expect_success 'the runner stops at once mid-grace; the retiring container is left, marked' '
	v1=$(cat $T_DIR/slow.v1) &&
	kill "$RL_RUNNER_PID" && wait_for "! kill -0 $RL_RUNNER_PID" 30 &&
	rl_rps | jq -e ".[] | select(.id == \"$v1\" and .retiring and .state == \"up\")" >/dev/null &&
	rl_only slow "slow version 3" 3
'
rl_runner_reap
RL_RUNNER_ARGS=
rl_runner_start
expect_success 'the next runner finishes the retirement, and keeps v3 as it was' '
	v1=$(cat $T_DIR/slow.v1) &&
	before=$(rl_rps | jq -r ".[] | select(.app == \"slow\" and (.retiring | not)) | .id") &&
	wait_for "! rl_rps | jq -e \".[] | select(.id == \\\"$v1\\\")\"" 60 &&
	expect_eq "$before" "$(rl_rps | jq -r ".[] | select(.app == \"slow\") | .id")" &&
	grep -q "did not stop in 3s" "$RL_RHOME/logs/apps/slow.log" &&
	rl_only slow "slow version 3" 5
'

expect_success 'the runner stops on SIGTERM and leaves the app running' '
	kill "$RL_RUNNER_PID" && wait_for "! kill -0 $RL_RUNNER_PID" 60 &&
	rl_only shop "shop version 3" 3
'
rl_runner_reap
ctl_stop
expect_success 'no sanitizer report from the runner or the controller' '
	! grep -E "Sanitizer|runtime error" "$T_DIR/runner.log" "$CTL_LOG"
'
