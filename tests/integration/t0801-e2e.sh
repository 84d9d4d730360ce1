#!/usr/bin/env bash
# The whole path, as a newcomer meets it: `slipway up`, `git push` of
# examples/hello over OpenSSH, and the app answering through the proxy, with
# a client counting every answer across deploys, config changes, a
# rollback, scaling, a rejected push and a runner killed with -9.
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || skip_all "no C compiler for the load client"
cc -std=gnu11 -O1 -o "$T_DIR/pxpeer" "$SLIPWAY_TOP/tests/helpers/pxpeer.c" \
	-lpthread -lcrypto 2>"$T_DIR/cc.log" || { cat "$T_DIR/cc.log"; exit 1; }

. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
get() { curl -s -H "Host: hello.localhost" "http://127.0.0.1:$PP$1"; }
push() { (cd app && git push "$REMOTE" main 2>&1); }

expect_success 'the first push ends with the URL, and the page answers' '
	out=$(push) && echo "$out" | tail -5 &&
	expect_contains "$out" "Live at http://hello.localhost:$PP/" &&
	expect_contains "$(get /)" "hello from slipway"
'

# A client counting every answer through the rest of the test.
"$T_DIR/pxpeer" load $PP hello.localhost 2 "$T_DIR/stop" "$T_DIR/never" x \
	>load.out 2>load.err &
LOAD=$!
at_exit "touch $T_DIR/stop"

expect_success 'a second push serves v2' '
	sed -i "s/hello from slipway</v2 from slipway</" app/public/index.html &&
	git -C app commit -qam v2 && out=$(push) &&
	expect_contains "$out" "Release v2" && expect_contains "$(get /)" "v2 from slipway"
'
expect_success 'config:set makes v3 and the app sees the variable' '
	out=$(slipway config:set hello GREETING=bonjour) &&
	expect_contains "$out" v3 &&
	wait_for "get /cgi-bin/greeting | grep -q \"GREETING=bonjour release=v3\"" 60 &&
	expect_contains "$(get /)" "v2 from slipway"
'
expect_success 'rollback to v1 makes v4 serving v1'\''s page' '
	out=$(slipway rollback hello v1) && expect_contains "$out" v4 &&
	wait_for "get / | grep -q \"hello from slipway\"" 60 &&
	expect_contains "$(slipway releases hello)" "rollback to v1"
'
expect_success 'ps:scale web=3 runs three' '
	slipway ps:scale hello web=3 &&
	wait_for "[ \$(slipway ps hello | grep -c \" up\") -eq 3 ]" 90
'
expect_success 'logs show the requests' '
	out=$(slipway logs hello -n 200 --source app) && expect_contains "$out" "response:200"
'
SSH="$GIT_SSH_COMMAND -p $SP git@127.0.0.1"
expect_success 'over SSH: logs, releases:wait, and a one-off run passing its exit status' '
	out=$($SSH logs hello -n 200 --source app) && expect_contains "$out" "response:200" &&
	out=$($SSH releases:wait hello) && expect_contains "$out" "http://hello.localhost:$PP/" &&
	out=$($SSH "run hello -- '\''echo one-off \$PORT'\''") && echo "$out" | grep -q "^one-off [0-9]" &&
	{ $SSH "run hello -- '\''exit 3'\''"; st=$?; } && expect_eq 3 $st
'
expect_success 'a push with a broken build is rejected and v4 keeps serving' '
	printf "web busybox httpd\n" >app/Procfile &&
	git -C app commit -qam broken &&
	! out=$(push) && echo "$out" | tail -3 &&
	expect_contains "$out" "pre-receive hook declined" &&
	expect_contains "$out" "Procfile line 1" &&
	expect_eq v4 "$(slipway releases hello --json | jq -r ".[0].version" | sed "s/^/v/;s/^vv/v/")" &&
	expect_contains "$(get /)" "hello from slipway"
'
expect_success 'kill -9 of the runner: up restarts it and the app answers' '
	pid=$(pgrep -f -- "runner --controller http://127.0.0.1:$CP") &&
	kill -9 $pid &&
	wait_for "up_log | grep -q \"runner     | killed by signal 9\"" 20 &&
	wait_for "pgrep -f -- \"runner --controller http://127.0.0.1:$CP\"" 30 &&
	wait_for "get / | grep -q \"hello from slipway\"" 30
'
expect_success 'the counting client saw no error from first deploy to last' '
	touch "$T_DIR/stop" &&
	wait_for "! kill -0 $LOAD" 30 && out=$(cat load.out) && echo "$out" &&
	case $out in *" non200=0 errors=0 "*) ;; *) cat load.err | head -20; false;; esac &&
	case $out in answers=0\ *) false;; esac
'
test_done
