#!/usr/bin/env bash
# The controller's side of rollouts, one-offs and logs, driven with curl
# as the runner would (its server key) and as clients would: the rollout
# endpoint's states and long-poll, restart tokens and one-offs in the
# desired state, the one-off and log protocols, and hostile requests to
# each endpoint.  Also: a body ended by the backend's close goes through
# the proxy at once (a drain must not wait for it).
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for p in curl jq; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json
ctl_start || ctl_start_failed

slipway users:add alice >/dev/null
ALICE=$(slipway tokens:create --user alice 2>/dev/null)
slipway apps:create shop >/dev/null
slipway apps:create other >/dev/null
slipway groups:create production >/dev/null
slipway apps:create prod --group production >/dev/null
RK=$(slipway runners:add r1 2>/dev/null)
# as the runner: rk METHOD PATH [curl args]
rk() { local m=$1 p=$2; shift 2; api "$m" "$p" "$RK" "$@"; }
st() { api_status "$1"; }
body() { api_body "$1"; }
DIGEST=sha256:$(printf '%064d' 7)
build() { # APP: a succeeded build, prints the release number
	local n
	n=$(api POST "/v1/apps/$1/builds" "" -d '{}' | sed '$d' | jq -r .number)
	api PATCH "/v1/apps/$1/builds/$n" "" -d '{"status":"succeeded",
		"image":"127.0.0.1:5000/'"$1"':v1","digest":"'"$DIGEST"'",
		"process_types":{"web":"./web"}}' | sed '$d' | jq -r .release.version
}
# The runner holding v2's first slot ("null" before the schedule gives it one).
v2_runner() { api_body "$(api GET /v1/apps/shop/releases/v2/rollout)" | jq -r ".runners[0].runner"; }
report() { # JSON of the "apps" member
	rk POST /v1/runner/status -d "{\"containers\":[],\"apps\":$1}" | tail -n 1
}

# ---- the rollout endpoint ----

expect_success 'rollout: unknown app, release or bad version is 404' '
	expect_eq 404 "$(st "$(api GET /v1/apps/nope/releases/v1/rollout)")" &&
	expect_eq 404 "$(st "$(api GET /v1/apps/shop/releases/v1/rollout)")" &&
	expect_eq 404 "$(st "$(api GET /v1/apps/shop/releases/vx/rollout)")"
'
expect_success 'rollout: a release without a build is idle' '
	slipway config:set shop A=1 >/dev/null &&
	out=$(api GET /v1/apps/shop/releases/v1/rollout) &&
	expect_eq 200 "$(st "$out")" &&
	expect_eq idle "$(body "$out" | jq -r .state)" &&
	expect_contains "$(body "$out" | jq -r .reason)" "no build"
'
expect_success 'rollout: bad wait and restart values are refused' '
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/releases/v1/rollout?wait=abc")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/releases/v1/rollout?wait=56")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/releases/v1/rollout?wait=-1")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/releases/v1/rollout?restart=XYZ")")"
'
expect_success 'rollout: others may not read it; a runner key is not a user' '
	expect_eq 403 "$(st "$(api GET /v1/apps/shop/releases/v1/rollout "$ALICE")")" &&
	expect_eq 403 "$(st "$(rk GET /v1/apps/shop/releases/v1/rollout)")" &&
	expect_eq 401 "$(st "$(api GET /v1/apps/shop/releases/v1/rollout slw_nope)")"
'
expect_success 'rollout: pending while no runner is live, saying so' '
	rel=$(build shop) && expect_eq 2 "$rel" &&
	out=$(api GET /v1/apps/shop/releases/v2/rollout) &&
	expect_eq pending "$(body "$out" | jq -r .state)" &&
	expect_contains "$(body "$out" | jq -r .reason)" "no live runner in group '"'"'default'"'"'"
'
expect_success 'rollout: a live runner that has not reported is waited for' '
	expect_eq 200 "$(st "$(rk POST /v1/runner/register)")" &&
	wait_for "[ \"\$(v2_runner)\" = r1 ]" 30 &&
	out=$(api GET /v1/apps/shop/releases/v2/rollout) &&
	expect_eq pending "$(body "$out" | jq -r .state)" &&
	expect_eq r1 "$(body "$out" | jq -r ".runners[0].runner")" &&
	expect_contains "$(body "$out" | jq -r .reason)" "runner r1: the runner has not started this release"
'
expect_success 'rollout: the long-poll wakes when the runner reports live' '
	{ sleep 1; report "{\"shop\":{\"release\":2,\"restart\":\"\",\"state\":\"live\",\"url\":\"http://shop.localhost:8080/\"}}" >/dev/null; } &
	out=$(api GET "/v1/apps/shop/releases/v2/rollout?wait=30") &&
	expect_eq live "$(body "$out" | jq -r .state)" &&
	expect_eq "http://shop.localhost:8080/" "$(body "$out" | jq -r ".urls[0]")" &&
	out=$(slipway releases:wait shop v2) &&
	expect_contains "$out" "shop v2 is live at http://shop.localhost:8080/"
'
expect_success 'rollout: a runner reporting failed fails it, with its reason' '
	rel=$(build shop) &&
	report "{\"shop\":{\"release\":$rel,\"restart\":\"\",\"state\":\"failed\",\"reason\":\"web.1 never became healthy in 60s: HTTP/1.1 500 Internal Server Error\"}}" >/dev/null &&
	out=$(api GET "/v1/apps/shop/releases/v$rel/rollout?wait=5") &&
	expect_eq failed "$(body "$out" | jq -r .state)" &&
	expect_eq "runner r1: web.1 never became healthy in 60s: HTTP/1.1 500 Internal Server Error" \
		"$(body "$out" | jq -r .reason)" &&
	out=$(slipway releases:wait shop v$rel 2>&1); [ $? = 1 ] &&
	expect_contains "$out" "failed: runner r1: web.1 never became healthy"
'
expect_success 'rollout: an older release is superseded' '
	out=$(api GET /v1/apps/shop/releases/v2/rollout) &&
	expect_eq superseded "$(body "$out" | jq -r .state)"
'
expect_success 'rollout: a runner still deploying keeps it pending' '
	rel=$(build shop) &&
	report "{\"shop\":{\"release\":$rel,\"restart\":\"\",\"state\":\"deploying\"}}" >/dev/null &&
	out=$(slipway releases:wait shop v$rel --timeout 2 2>&1); [ $? = 1 ] &&
	expect_contains "$out" "is not live after 2s: runner r1: deploying"
'

# ---- restarts and the desired state ----

expect_success 'ps/restart: a token that runners get in their desired state' '
	out=$(api POST /v1/apps/shop/ps/restart "" -d "{\"type\":\"web\"}") &&
	expect_eq 202 "$(st "$out")" &&
	tok=$(body "$out" | jq -r .restart) &&
	[ ${#tok} = 32 ] &&
	d=$(rk GET /v1/runner/desired | sed "\$d") &&
	expect_eq "$tok" "$(echo "$d" | jq -r ".containers[0].restart")" &&
	expect_eq web "$(echo "$d" | jq -r ".containers[0].restart_type")" &&
	echo "$tok" >$T_DIR/tok
'
expect_success 'ps/restart: waiting on the token needs the runner to report it' '
	rel=$(slipway releases --json shop | jq -r ".[0].version") &&
	tok=$(cat $T_DIR/tok) &&
	out=$(api GET "/v1/apps/shop/releases/v$rel/rollout?restart=$tok") &&
	expect_eq pending "$(body "$out" | jq -r .state)" &&
	report "{\"shop\":{\"release\":$rel,\"restart\":\"$tok\",\"state\":\"live\"}}" >/dev/null &&
	out=$(api GET "/v1/apps/shop/releases/v$rel/rollout?restart=$tok") &&
	expect_eq live "$(body "$out" | jq -r .state)"
'
expect_success 'ps/restart: refused for bad types, other people, apps without release' '
	expect_eq 422 "$(st "$(api POST /v1/apps/shop/ps/restart "" -d "{\"type\":\"Web!\"}")")" &&
	expect_eq 400 "$(st "$(api POST /v1/apps/shop/ps/restart "" -d "[1]")")" &&
	expect_eq 403 "$(st "$(api POST /v1/apps/shop/ps/restart "$ALICE")")" &&
	expect_eq 409 "$(st "$(api POST /v1/apps/other/ps/restart)")" &&
	expect_eq 403 "$(st "$(rk POST /v1/apps/shop/ps/restart)")"
'
expect_success 'the desired-state long-poll wakes on a new release' '
	v=$(rk GET /v1/runner/desired | sed "\$d" | jq -r .version) || exit 1
	{ sleep 1; build shop >/dev/null; } &
	d=$(rk GET "/v1/runner/desired?version=$v&wait=30" | sed "\$d") &&
	[ "$(echo "$d" | jq -r .version)" != "$v" ] &&
	expect_eq "$(slipway releases --json shop | jq -r ".[0].version")" \
		"$(echo "$d" | jq -r ".containers[0].release")"
'

# ---- one-offs ----

expect_success 'runs: bad commands are refused' '
	expect_eq 422 "$(st "$(api POST /v1/apps/shop/runs "" -d "{}")")" &&
	expect_eq 422 "$(st "$(api POST /v1/apps/shop/runs "" -d "{\"command\":\"\"}")")" &&
	expect_eq 400 "$(st "$(api POST /v1/apps/shop/runs "" -d "{\"command\":\"a\\u0000b\"}")")" &&
	expect_eq 422 "$(st "$(api POST /v1/apps/shop/runs "" -d "{\"command\":\"$(head -c 9000 /dev/zero | tr "\0" x)\"}")")" &&
	expect_eq 403 "$(st "$(api POST /v1/apps/shop/runs "$ALICE" -d "{\"command\":\"ls\"}")")" &&
	expect_eq 409 "$(st "$(api POST /v1/apps/other/runs "" -d "{\"command\":\"ls\"}")")"
'
expect_success 'runs: queued in the runner'"'"'s desired state' '
	out=$(api POST /v1/apps/shop/runs "" -d "{\"command\":\"echo hi\"}") &&
	expect_eq 201 "$(st "$out")" &&
	id=$(body "$out" | jq -r .id) && echo "$id" >$T_DIR/run &&
	expect_eq r1 "$(body "$out" | jq -r .runner)" &&
	d=$(rk GET /v1/runner/desired | sed "\$d") &&
	expect_eq "echo hi" "$(echo "$d" | jq -r ".runs[] | select(.id == \"$id\") | .command")" &&
	expect_eq "$DIGEST" "$(echo "$d" | jq -r ".runs[] | select(.id == \"$id\") | .digest")"
'
expect_success 'runs: output as the runner posts it, by offset, then the exit code' '
	id=$(cat $T_DIR/run) &&
	expect_eq 200 "$(st "$(rk POST /v1/runner/runs/$id -d "{\"state\":\"running\",\"output\":\"hello\\ncaf\u00e9\"}")")" &&
	out=$(api GET "/v1/apps/shop/runs/$id?offset=0") &&
	expect_eq running "$(body "$out" | jq -r .state)" &&
	expect_eq "hello
café" "$(body "$out" | jq -r .output)" &&
	off=$(body "$out" | jq -r .offset) || exit 1
	{ sleep 1; rk POST /v1/runner/runs/$id -d "{\"state\":\"exited\",\"exit_code\":7,\"output\":\"bye\\n\"}" >/dev/null; } &
	out=$(api GET "/v1/apps/shop/runs/$id?offset=$off&wait=30") &&
	expect_eq "bye" "$(body "$out" | jq -r .output)" &&
	out=$(api GET "/v1/apps/shop/runs/$id?offset=0") &&
	expect_eq exited "$(body "$out" | jq -r .state)" &&
	expect_eq 7 "$(body "$out" | jq -r .exit_code)"
'
expect_success 'runs: an ended run takes no more updates; it left the desired state' '
	id=$(cat $T_DIR/run) &&
	expect_eq 409 "$(st "$(rk POST /v1/runner/runs/$id -d "{\"state\":\"running\"}")")" &&
	expect_eq 0 "$(rk GET /v1/runner/desired | sed "\$d" | jq ".runs | length")"
'
expect_success 'runs: hostile updates are refused' '
	out=$(api POST /v1/apps/shop/runs "" -d "{\"command\":\"true\"}") &&
	id=$(body "$out" | jq -r .id) &&
	expect_eq 422 "$(st "$(rk POST /v1/runner/runs/$id -d "{\"state\":\"bogus\"}")")" &&
	expect_eq 422 "$(st "$(rk POST /v1/runner/runs/$id -d "{\"state\":\"exited\"}")")" &&
	expect_eq 422 "$(st "$(rk POST /v1/runner/runs/$id -d "{\"state\":\"running\",\"output\":5}")")" &&
	expect_eq 404 "$(st "$(rk POST /v1/runner/runs/nope -d "{\"state\":\"running\"}")")" &&
	expect_eq 403 "$(st "$(api POST /v1/runner/runs/$id "" -d "{\"state\":\"running\"}")")" &&
	expect_eq 404 "$(st "$(api GET "/v1/apps/other/runs/$id")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/runs/$id?offset=-1")")" &&
	expect_eq 200 "$(st "$(rk POST /v1/runner/runs/$id -d "{\"state\":\"failed\",\"error\":\"no image\"}")")" &&
	out=$(api GET "/v1/apps/shop/runs/$id") &&
	expect_eq failed "$(body "$out" | jq -r .state)" &&
	expect_eq "no image" "$(body "$out" | jq -r .error)"
'
expect_success 'run (the CLI) prints output and exits with the status' '
	(
		for i in $(seq 1 100); do
			id=$(rk GET /v1/runner/desired | sed "\$d" | jq -r ".runs[] | select(.command == \"echo hi\") | .id")
			[ -n "$id" ] && break; sleep 0.1
		done
		rk POST /v1/runner/runs/$id -d "{\"state\":\"exited\",\"exit_code\":3,\"output\":\"from the runner\\n\"}" >/dev/null
	) &
	out=$(slipway run shop -- echo hi 2>$T_DIR/run.err); rc=$?
	expect_eq 3 "$rc" && expect_eq "from the runner" "$out" &&
	expect_contains "$(cat $T_DIR/run.err)" "Exited with status 3"
'
expect_success 'run (the CLI): usage errors' '
	slipway run shop 2>/dev/null; [ $? = 2 ] &&
	slipway run shop -- 2>/dev/null; [ $? = 2 ] &&
	slipway run BAD -- ls 2>/dev/null; [ $? = 2 ]
'

# ---- logs ----

expect_success 'logs: only runners ship, in the right shape' '
	expect_eq 403 "$(st "$(api POST /v1/runner/logs "" -d "{\"lines\":[]}")")" &&
	expect_eq 422 "$(st "$(rk POST /v1/runner/logs -d "{\"lines\":5}")")" &&
	expect_eq 400 "$(st "$(rk POST /v1/runner/logs -d "not json")")" &&
	jq -n "{lines: [range(5001) | {app: \"shop\", line: \"x\"}]}" >$T_DIR/big.json &&
	expect_eq 422 "$(st "$(rk POST /v1/runner/logs --data-binary @$T_DIR/big.json)")"
'
expect_success 'logs: lines of apps outside the runner'"'"'s group are refused' '
	out=$(rk POST /v1/runner/logs -d "{\"lines\":[
		{\"app\":\"shop\",\"line\":\"2026-01-01T00:00:00.000Z web.1: one\"},
		{\"app\":\"prod\",\"line\":\"2026-01-01T00:00:00.000Z web.1: sneaky\"},
		{\"app\":\"../x\",\"line\":\"no\"},
		{\"app\":\"shop\",\"line\":\"2026-01-01T00:00:01.000Z worker.1: two\\u0007\\nthree\"}]}") &&
	expect_eq 2 "$(body "$out" | jq .accepted)" &&
	expect_eq 2 "$(body "$out" | jq .refused)" &&
	! test -e "$SLIPWAY_HOME/logs/controller/apps/prod.log" &&
	out=$(slipway logs shop) &&
	expect_contains "$out" "web.1: one" &&
	expect_contains "$out" "worker.1: two??three"
'
expect_success 'logs: filter by process, follow with a cursor' '
	out=$(slipway logs shop --process worker) &&
	! expect_contains "$out" "web.1" >/dev/null &&
	c=$(api GET "/v1/apps/shop/logs?lines=1" | sed "\$d" | jq -r .cursor) || exit 1
	{ sleep 1; rk POST /v1/runner/logs -d "{\"lines\":[{\"app\":\"shop\",\"line\":\"2026-01-01T00:00:02.000Z web.2: later\"}]}" >/dev/null; } &
	out=$(api GET "/v1/apps/shop/logs?cursor=$c&wait=30" | sed "\$d") &&
	expect_eq "2026-01-01T00:00:02.000Z web.2: later" "$(echo "$out" | jq -r ".lines[0]")" &&
	expect_eq 1 "$(echo "$out" | jq ".lines | length")"
'
expect_success 'logs: hostile queries are refused' '
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/logs?cursor=abc")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/logs?cursor=1-2")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/logs?lines=0")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/logs?lines=10001")")" &&
	expect_eq 422 "$(st "$(api GET "/v1/apps/shop/logs?process=../x")")" &&
	expect_eq 403 "$(st "$(api GET /v1/apps/shop/logs "$ALICE")")" &&
	expect_eq 200 "$(st "$(api GET /v1/apps/other/logs)")" &&
	slipway logs shop -n 0 2>/dev/null; [ $? = 2 ]
'

# ---- the proxy and bodies ended by close ----

if command -v busybox >/dev/null; then
	PX=$(free_port); BP=$(free_port)
	mkdir -p www && echo hi >www/index.html
	busybox httpd -f -p "127.0.0.1:$BP" -h www & at_exit "kill $!"
	slipway proxy --listen "127.0.0.1:$PX" --control "$T_DIR/px.sock" \
		--access-log off --upstream-timeout 20 2>"$T_DIR/px.log" &
	at_exit "kill $!"
	wait_port "$PX" 20 && wait_port "$BP" 20
	slipway proxy route set shop "127.0.0.1:$BP" --control "$T_DIR/px.sock" >/dev/null
	expect_success 'a body ended by the backend'"'"'s close is passed on at once' '
		out=$(curl -s --max-time 10 -w "%{http_code}" -o /dev/null \
			-H "Host: shop.localhost" "http://127.0.0.1:$PX/missing") &&
		expect_eq 404 "$out"
	'
else
	skip 'a body ended by the backend'"'"'s close is passed on at once' "no busybox"
fi

ctl_stop
expect_success 'no sanitizer report from the controller' '
	! grep -E "Sanitizer|runtime error" "$CTL_LOG"
'
test_done
