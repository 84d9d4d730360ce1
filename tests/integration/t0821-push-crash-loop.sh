#!/usr/bin/env bash
# test-timeout: 300
# A process that crash-loops right after a deploy fails the release: a
# worker (no health check) that exits at once keeps exiting during the
# deploy's settle window (SLIPWAY_SETTLE), so the push is rejected with
# the worker named, the release is failed, and the previous release's web
# and worker keep running.
. "$(dirname "$0")/lib.sh"

for p in jq curl ssh git; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
printf 'web: busybox httpd -f -p $PORT -h public\nworker: sleep 600\n' >app/Procfile
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
get() { curl -s -m 5 -H "Host: hello.localhost" "http://127.0.0.1:$PP$1"; }
push() { (cd app && git push "$REMOTE" main 2>&1); }
rel() { slipway releases hello --json | jq -r "$1"; }
server_rev() { git -C app ls-remote "$REMOTE" refs/heads/main | cut -f1; }

expect_success 'v1 goes live; with a worker, v2 too' '
	push >/dev/null && slipway ps:scale hello worker=1 >/dev/null &&
	slipway releases:wait hello --timeout 60 >/dev/null &&
	slipway config:set hello SLIPWAY_SETTLE=8 >/dev/null &&
	slipway releases:wait hello v2 --timeout 60 >/dev/null &&
	wait_for "slipway ps hello | grep -q \"^worker\.1 .* up\"" 30
'
expect_success 'a push whose worker exits at once is rejected, naming it; main not moved' '
	before=$(server_rev) &&
	printf "web: busybox httpd -f -p \$PORT -h public\nworker: sh -c \"echo boom; exit 3\"\n" >app/Procfile &&
	git -C app commit -qam "a worker that crashes" &&
	! out=$(push) && echo "$out" | grep "!" &&
	expect_contains "$out" "worker.1 keeps crashing right after the deploy" &&
	expect_contains "$out" "boom" &&
	expect_contains "$out" "! [remote rejected] main -> main" &&
	expect_eq "$before" "$(server_rev)"
'
expect_success 'the release is failed, v2 current, and v2 serves and runs its worker' '
	expect_eq "3 failed" "$(rel ".[0] | \"\(.version) \(.state)\"")" &&
	expect_contains "$(rel ".[0].reason")" "worker.1 keeps crashing" &&
	expect_eq "2 true" "$(rel ".[1] | \"\(.version) \(.current)\"")" &&
	expect_contains "$(get /)" "hello from slipway" &&
	wait_for "[ \"\$(slipway ps hello | awk \"/^(web|worker)\\./ { print \\\$1, \\\$4 }\" | tr \"\\n\" \" \")\" = \"web.1 v2 worker.1 v2 \" ]" 60 ||
		{ slipway ps hello; exit 1; }
'
expect_success 'no sanitizer report' 'no_sanitizer_report up.log'
test_done
