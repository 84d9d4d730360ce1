#!/usr/bin/env bash
# test-timeout: 300
# A push whose release does not go live is rejected, as on Heroku: the
# pre-receive hook releases the build and follows the rollout, so git
# reports the push as rejected and exits non-zero, says why in one line,
# the repository's branch does not move, `releases` shows the release
# failed and the previous release keeps serving.  Both ways a web fails:
# it never binds $PORT, and it exits at once.  A push that goes live
# still moves the branch and ends with the URL.
. "$(dirname "$0")/lib.sh"

for p in jq curl ssh git; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
get() { curl -s -m 5 -H "Host: hello.localhost" "http://127.0.0.1:$PP$1"; }
push() { (cd app && git push "$REMOTE" main 2>&1); }
rel() { slipway releases hello --json | jq -r "$1"; }
server_rev() { git -C app ls-remote "$REMOTE" refs/heads/main | cut -f1; }

expect_success 'the first push goes live and moves main; a short health deadline is v2' '
	out=$(push) && expect_contains "$out" "Live at http://hello.localhost:$PP/" &&
	expect_contains "$out" "main -> main" &&
	expect_eq "$(git -C app rev-parse HEAD)" "$(server_rev)" &&
	slipway config:set hello SLIPWAY_HEALTHCHECK_DEADLINE=4 >/dev/null &&
	slipway releases:wait hello v2 --timeout 60 >/dev/null
'
# fails_push WHAT: commit a Procfile whose web fails WHAT; the push must
# be rejected with the release failed and main where it was.
fails_push() {
	local before out rc
	before=$(server_rev) &&
	git -C app commit -qam "$1" || return 1
	out=$(push); rc=$?
	echo "$out" | grep -E "!|rejected|Release"
	[ $rc -ne 0 ] || { echo "git push exited 0"; return 1; }
	expect_contains "$out" "! [remote rejected] main -> main (pre-receive hook declined)" &&
	expect_contains "$out" "Push rejected: main stays where it was" &&
	expect_eq 1 "$(echo "$out" | grep -c "is not live: ")" &&
	expect_eq "$before" "$(server_rev)"
}
expect_success 'a push whose web never binds $PORT is rejected: non-zero, why in one line, main not moved' '
	printf "web: sleep 600\n" >app/Procfile &&
	fails_push "no port" >out.txt; rc=$?; cat out.txt; [ $rc -eq 0 ] &&
	expect_contains "$(cat out.txt)" "web.1 never became healthy"
'
expect_success 'releases shows v3 failed, v2 current; v2 keeps serving' '
	expect_eq "3 failed" "$(rel ".[0] | \"\(.version) \(.state)\"")" &&
	expect_contains "$(rel ".[0].reason")" "never became healthy" &&
	expect_eq "2 true" "$(rel ".[1] | \"\(.version) \(.current)\"")" &&
	expect_contains "$(get /)" "hello from slipway"
'
expect_success 'a push whose web exits at once is rejected the same way' '
	printf "web: sh -c \"echo bye; exit 7\"\n" >app/Procfile &&
	fails_push "web exits" >out.txt; rc=$?; cat out.txt; [ $rc -eq 0 ] &&
	expect_eq "4 failed" "$(rel ".[0] | \"\(.version) \(.state)\"")" &&
	expect_eq "2 true" "$(rel ".[] | select(.version == 2) | \"\(.version) \(.current)\"")" &&
	expect_contains "$(get /)" "hello from slipway"
'
expect_success 'the failed pushes left no landing waiting and no running build' '
	wait_for "[ -z \"\$(slipway builds hello --json | jq -r \".[] | select(.status == \\\"running\\\") | .number\")\" ]" 30 &&
	sleep 2 && expect_eq "4 failed" "$(rel ".[0] | \"\(.version) \(.state)\"")"
'
expect_success 'a good push after them goes live, moves main, and says so once' '
	git -C app checkout -q HEAD~2 -- Procfile &&
	sed -i "s|<h1>.*</h1>|<h1>again</h1>|" app/public/index.html &&
	git -C app commit -qam again &&
	out=$(push) && expect_contains "$out" "main -> main" &&
	expect_eq 1 "$(echo "$out" | grep -c "Live at http://hello.localhost:$PP/")" &&
	expect_eq "$(git -C app rev-parse HEAD)" "$(server_rev)" &&
	expect_eq "5 live true" "$(rel ".[0] | \"\(.version) \(.state) \(.current)\"")" &&
	expect_contains "$(get /)" "<h1>again</h1>"
'
expect_success 'no sanitizer report' 'no_sanitizer_report up.log'
test_done
