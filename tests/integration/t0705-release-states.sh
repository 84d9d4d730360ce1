#!/usr/bin/env bash
# Release states through `slipway up`, git over OpenSSH and the CLI: a
# push whose web never listens on $PORT fails and stays failed; the
# release before it stays current and serving, and every later command
# (ps:scale, config:set) acts on that one; a runner restart does not bring
# the failed release back.  A new app's first failure says nothing was
# live before.  A crash-looping process is crashed in ps and not live.
# Scale to zero and apps:destroy stop the app at once, not
# after the runner's 30 s orphan delay.
. "$(dirname "$0")/lib.sh"

for p in jq curl ssh git; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
get() { curl -s -H "Host: hello.localhost" "http://127.0.0.1:$PP$1"; }
code() { curl -s -o /dev/null -w "%{http_code}" -H "Host: hello.localhost" "http://127.0.0.1:$PP/"; }
push() { (cd app && git push "$REMOTE" main 2>&1); }
rel() { slipway releases hello --json | jq -r "$1"; }
# the release of each hello container ps shows, one a line
ps_releases() { slipway ps hello | awk '$1 ~ /^web\./ { print $4 }'; }

expect_success 'the first push goes live; a short health deadline is v2' '
	out=$(push) && expect_contains "$out" "Live at http://hello.localhost:$PP/" &&
	slipway config:set hello SLIPWAY_HEALTHCHECK_DEADLINE=4 >/dev/null &&
	slipway releases:wait hello v2 --timeout 60 >/dev/null &&
	expect_eq "live (current)" "$(slipway releases hello | awk "\$1 == \"v2\"" | sed "s/.*  //")"
'
expect_success 'a push whose web never listens on $PORT fails, says so, and v2 keeps serving' '
	printf "web: sleep 600\n" >app/Procfile &&
	git -C app commit -qam "no port" &&
	out=$(push); echo "$out" | grep "!" &&
	{ expect_contains "$out" "the app must listen on \$PORT (it was given PORT=" ||
	  # the port it never bound is free for another slipway on this
	  # machine (tests run side by side) to take
	  expect_contains "$out" "answers, but another process listens on it"; } &&
	expect_contains "$out" "v2 keeps serving" &&
	expect_eq "3 failed" "$(rel ".[0] | \"\(.version) \(.state)\"")" &&
	expect_contains "$(rel ".[0].reason")" "never became healthy" &&
	expect_eq "2 true" "$(rel ".[1] | \"\(.version) \(.current)\"")" &&
	expect_contains "$(slipway releases hello | grep "^v3 ")" "failed: runner local: web.1 never became healthy" &&
	expect_contains "$(get /)" "hello from slipway"
'
expect_success 'ps shows v2, not v3 (no "wants")' '
	wait_for "[ \"\$(ps_releases)\" = v2 ]" 30 &&
	! slipway ps hello | grep -q wants
'
expect_success 'ps:scale web=2 runs two of v2' '
	slipway ps:scale hello web=2 >/dev/null &&
	wait_for "[ \"\$(slipway ps hello | grep -c \"^web\\..* v2 .* up\")\" -eq 2 ]" 60 &&
	expect_eq "v2 v2" "$(ps_releases | tr "\n" " " | sed "s/ $//")"
'
expect_success 'config:set makes v4 of v2'\''s build, and it goes live' '
	out=$(slipway config:set hello GREETING=bonjour) && expect_contains "$out" v4 &&
	slipway releases:wait hello v4 --timeout 60 >/dev/null &&
	expect_eq "4 live true 1" "$(rel ".[0] | \"\(.version) \(.state) \(.current) \(.build)\"")" &&
	expect_eq 1 "$(rel ".[] | select(.version == 2) | .build")" &&
	wait_for "get /cgi-bin/greeting | grep -q \"GREETING=bonjour release=v4\"" 30
'
expect_success 'a runner restart does not bring v3 back' '
	before=$(slipway logs hello -n 2000 | grep -c "v3: started") &&
	pid=$(pgrep -f -- "runner --controller http://127.0.0.1:$CP") &&
	kill -9 $pid &&
	wait_for "up_log | grep -q \"runner     | killed by signal 9\"" 20 &&
	wait_for "pgrep -f -- \"runner --controller http://127.0.0.1:$CP\"" 30 &&
	wait_for "slipway runners --json | jq -e \".[0].live\"" 30 &&
	sleep 4 &&
	expect_eq "v4 v4" "$(ps_releases | tr "\n" " " | sed "s/ $//")" &&
	expect_eq "$before" "$(slipway logs hello -n 2000 | grep -c "v3: started")" &&
	expect_eq "3 failed" "$(rel ".[] | select(.version == 3) | \"\(.version) \(.state)\"")" &&
	expect_contains "$(get /cgi-bin/greeting)" "release=v4"
'
expect_success 'rollback to the failed v3 is refused in one line' '
	! out=$(slipway rollback hello v3 2>&1) && echo "$out" &&
	expect_eq 1 "$(echo "$out" | wc -l)" &&
	expect_contains "$out" "v3 failed (runner local: web.1 never became healthy"
'
expect_success 'rollback with no version passes over the failed v3 to v2' '
	out=$(slipway rollback hello) && expect_contains "$out" "v5 rollback to v2" &&
	slipway releases:wait hello v5 --timeout 60 >/dev/null &&
	expect_eq "5 live true 1" "$(rel ".[0] | \"\(.version) \(.state) \(.current) \(.build)\"")"
'
expect_success 'a new app'\''s first failure says nothing was live before' '
	slipway apps:create fresh >/dev/null &&
	slipway config:set fresh SLIPWAY_HEALTHCHECK_DEADLINE=3 >/dev/null &&
	out=$(cd app && git push ssh://git@127.0.0.1:$SP/fresh.git main 2>&1); echo "$out" | grep "!" &&
	expect_contains "$out" "Nothing was live before it" &&
	! expect_contains "$out" "keeps serving" 2>/dev/null
'
expect_success 'a crash-looping worker is crashed in ps, with its restarts and last exit, and not live' '
	printf "web: busybox httpd -f -p \$PORT -h public\nworker: sh -c \"echo boom; exit 3\"\n" >app/Procfile &&
	git -C app commit -qam "a worker that crashes" &&
	(cd app && git push ssh://git@127.0.0.1:$SP/loop.git main >/dev/null 2>&1) &&
	slipway ps:scale loop worker=1 >/dev/null &&
	wait_for "slipway ps loop | grep -q \"^worker\.1 .*crashed ([0-9]* restarts, last exit 3)\"" 60 &&
	slipway ps loop &&
	! out=$(slipway releases:wait loop --timeout 5 2>&1) && echo "$out" &&
	expect_contains "$out" "worker.1 keeps crashing (last exit 3, "
'
hello_ctrs() { ls "$SLIPWAY_HOME/runner/containers" | grep -c "^hello\." || true; }
expect_success 'ps:scale web=0 stops the app at once (no 30 s orphan delay)' '
	[ "$(hello_ctrs)" -ge 2 ] &&
	slipway ps:scale hello web=0 >/dev/null &&
	wait_for "[ \$(code) != 200 ]" 8 && code &&
	wait_for "[ \$(hello_ctrs) -eq 0 ]" 12
'
expect_success 'apps:destroy stops the app at once' '
	slipway ps:scale hello web=1 >/dev/null &&
	wait_for "get / | grep -q \"hello from slipway\"" 60 &&
	slipway apps:destroy hello --confirm hello >/dev/null &&
	wait_for "[ \$(code) != 200 ]" 8 && code &&
	wait_for "[ \$(hello_ctrs) -eq 0 ]" 12
'
expect_success 'no sanitizer report' 'no_sanitizer_report up.log'
test_done
