#!/usr/bin/env bash
# Records what a user sees from the client commands and the API: every
# command's help, a scripted session against a fresh controller (success
# and refusal of each listing and change, with --json), and the exit
# status of each.  Tokens, times, ports and temp paths are masked, so two
# builds give the same transcript when their behaviour is the same:
#   scripts/transcript.sh OLD-BIN >old.txt
#   scripts/transcript.sh NEW-BIN >new.txt && diff old.txt new.txt
# A restructuring shows it changed nothing a user sees this way.
set -u
bin=$(realpath "${1:?usage: scripts/transcript.sh SLIPWAY-BINARY}")
work=$(mktemp -d)
trap 'kill $ctl 2>/dev/null; wait $ctl 2>/dev/null; rm -rf "$work"' EXIT
export SLIPWAY_HOME=$work/home HOME=$work/user
mkdir -p "$HOME"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

mask() {
	sed -E -e "s#$work#WORK#g" -e "s#127\.0\.0\.1:$port#CTL#g" \
		-e 's/slw_[0-9a-zA-Z_]+/TOKEN/g' -e 's/slr_[0-9a-zA-Z_]+/RKEY/g' \
		-e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:]{8}(\.[0-9]+)?Z?/TIME/g' \
		-e 's/"(created|updated|expires|last_seen|started|finished)(_at)?": *[0-9]+/"\1": N/g' \
		-e 's/SHA256:[A-Za-z0-9+\/]{43}/SHA256:FP/g' \
		-e 's/[0-9]+(\.[0-9]+)? ?(s|seconds?|minutes?|hours?|days?) ago/AGO/g' \
		-e 's/"uid": ?"[0-9a-f]+"/"uid":"UID"/g' \
		-e 's/(ssh-ed25519 )[A-Za-z0-9+\/=]+/\1KEY/g' \
		-e 's/[0-9]+(\.[0-9]+)?ms$/Nms/'
}
# run ARGS...: the command line, its output (stdout and stderr), its status
run() {
	printf '$ slipway %s\n' "$*" | mask
	"$bin" "$@" </dev/null 2>&1 | mask
	printf '[exit %d]\n' "${PIPESTATUS[0]}"
}
api() { # METHOD PATH [BODY]
	printf '$ api %s %s %s\n' "$1" "$2" "${3:-}"
	curl -sS -X "$1" -H "Authorization: Bearer ${TOKEN:-none}" \
		${3:+-d "$3"} -w '\n[http %{http_code}]\n' "http://127.0.0.1:$port$2" | mask
}

echo "## help"
run help
"$bin" help 2>&1 | awk '/^  [a-z]/ {print $1}' | sort -u | while read -r c; do
	run help "$c"
done

echo "## session"
"$bin" controller --listen "127.0.0.1:$port" >"$work/ctl.log" 2>&1 &
ctl=$!
for _ in $(seq 100); do
	curl -s "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
	sleep 0.1
done
grep -v -i 'listening\|started\| GET / ' "$work/ctl.log" | mask || true
TOKEN=$(sed -n 's/.*shown only now, save it): \(slw_[0-9a-f]*\)$/\1/p' "$work/ctl.log")
export SLIPWAY_URL=http://127.0.0.1:$port SLIPWAY_TOKEN=$TOKEN

ssh-keygen -q -t ed25519 -N '' -C t -f "$work/k" >/dev/null
run apps
run apps --json
run apps:create shop
run apps:create shop
run apps:create 'Bad Name'
run apps:create
run apps:info shop
run apps:info shop --json
run apps:info nope
run config shop
run config:set shop A=1 B='two words'
run config:set shop 'bad key=1'
run config:set shop NOEQUALS
run config shop --json
run config:unset shop B
run config:unset shop NOPE
run releases shop
run releases shop --json
run releases shop --limit x
run releases:info shop v1
run releases:info shop v99
run releases:info shop banana
run rollback shop
run ps shop
run ps shop --json
run ps:scale shop web=2
run ps:scale shop web=-1
run ps:scale shop web=x
run domains shop
run domains:add shop shop.example.com
run domains:add shop 'bad domain'
run domains shop --json
run domains:remove shop shop.example.com
run builds shop
run builds shop --json
run builds:info shop 1
run builds:create shop
run builds:log shop 9
run users
run users --json
run users:add alice
run users:add alice
run users:add 'Bad!'
run apps:share shop alice
run apps:share shop nobody
run apps:unshare shop alice
run keys
run keys:add "$work/k.pub"
run keys:add "$work/k.pub"
run keys:add "$work/missing.pub"
run keys --json
run tokens
run tokens:create --user alice
run tokens:revoke 999
run groups
run groups --json
run groups:create staging
run groups:create staging
run groups:add-app staging shop
run groups:remove-app staging shop
run groups:add-user staging alice
run groups:remove-user staging alice
run runners
run runners:add r1 --group staging
run runners:add r1 --group staging
run runners --json
run runners:remove r1
run users:remove alice
run apps:destroy shop
run apps:destroy shop --confirm other
run apps:destroy shop --confirm shop
run apps --json
run nosuchcommand

echo "## api"
api GET /v1/apps
api GET /v1/apps/none
api POST /v1/apps '{"name":"a1"}'
api POST /v1/apps '{"name":"A1"}'
api POST /v1/apps '{bad json'
api PATCH /v1/apps/a1/config '{"K":"v"}'
api GET /v1/apps/a1/releases
api GET /v1/apps/a1/formation
api GET /v1/nope
TOKEN=wrong api GET /v1/apps
