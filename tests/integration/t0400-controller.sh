#!/usr/bin/env bash
# The controller through the real CLI and curl: first start, tokens, apps,
# release arithmetic (rollback of a rollback), env keys, builds, hostile
# requests, a restart that keeps everything, and concurrent writers.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

command -v jq >/dev/null || skip_all "jq is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
export SLIPWAY_CONFIG=$T_DIR/client.json

ctl_start || ctl_start_failed

expect_success 'first start makes admin and prints its token once, on stderr' '
	expect_contains "$ADMIN" slw_ &&
	expect_eq 1 "$(grep -c "shown only now" "$CTL_LOG")" &&
	! grep -q "${ADMIN#slw_}" "$SLIPWAY_HOME"/slipway.db*
'
expect_success 'the store is SQLite in WAL mode, the secret is 0600' '
	expect_eq wal "$(sqlite3 "$SLIPWAY_HOME/slipway.db" "PRAGMA journal_mode")" &&
	expect_eq 600 "$(stat -c %a "$SLIPWAY_HOME/secret")" &&
	expect_eq 32 "$(stat -c %s "$SLIPWAY_HOME/secret")"
'
expect_success 'health needs no token' '
	out=$(curl -sf "$CTL_URL/v1/health") && expect_eq ok "$(jq -r .status <<<"$out")"
'
expect_success 'no token: 401 with a JSON error' '
	out=$(curl -s -w "\n%{http_code}" "$CTL_URL/v1/apps") &&
	expect_eq 401 "$(api_status "$out")" &&
	expect_eq unauthorized "$(api_body "$out" | jq -r .code)"
'
expect_success 'a wrong or malformed token: 401' '
	out=$(api GET /v1/apps "slw_$(printf "%064d" 0)") &&
	expect_eq 401 "$(api_status "$out")" &&
	out=$(api GET /v1/apps "garbage") && expect_eq 401 "$(api_status "$out")"
'
expect_failure 'the CLI with a bad token fails' '
	SLIPWAY_TOKEN=slw_nope slipway apps
'
expect_success 'login checks the token and writes the config 0600' '
	out=$(env -u SLIPWAY_TOKEN -u SLIPWAY_URL slipway login "$CTL_URL" "$ADMIN") &&
	expect_contains "$out" "as admin" &&
	expect_eq 600 "$(stat -c %a "$SLIPWAY_CONFIG")" &&
	env -u SLIPWAY_TOKEN -u SLIPWAY_URL slipway apps >/dev/null
'
expect_failure 'login with a bad token writes nothing' '
	SLIPWAY_CONFIG=$T_DIR/other.json slipway login "$CTL_URL" slw_bad;
	[ -e "$T_DIR/other.json" ] && exit 0; exit 1
'

# ---- apps ----
expect_success 'apps:create and apps' '
	slipway apps:create shop >/dev/null &&
	out=$(slipway apps) && expect_contains "$out" shop &&
	expect_eq shop "$(slipway apps --json | jq -r ".[0].name")" &&
	expect_eq default "$(slipway apps:info shop --json | jq -r ".groups[0]")"
'
expect_failure 'a second app of the same name is refused' 'slipway apps:create shop'
for bad in Shop 1shop shop_x shop.x -shop abcdefghijklmnopqrstuvwxyz01234 "sh op" "../x"; do
	expect_failure "invalid app name '$bad' refused by the CLI" "slipway apps:create '$bad'"
	expect_success "invalid app name '$bad' refused by the API with 422" '
		out=$(api POST /v1/apps "" -d "$(jq -n --arg n "$bad" "{name:\$n}")") &&
		expect_eq 422 "$(api_status "$out")" &&
		expect_eq invalid "$(api_body "$out" | jq -r .code)"
	'
done
expect_success 'apps:info on an app that does not exist: 404' '
	out=$(api GET /v1/apps/nope) && expect_eq 404 "$(api_status "$out")"
'

# ---- release arithmetic ----
expect_success 'config:set makes v1 "set FOO, BAR"' '
	out=$(slipway config:set shop FOO=1 BAR=b) && expect_contains "$out" "v1 set FOO, BAR"
'
expect_success 'a deploy makes v2 "deploy 3f2a9c1" and scales web to 1' '
	ctl_deploy shop 3f2a9c1d0e5b7a8c9d0e1f2a3b4c5d6e7f8a9b0c &&
	out=$(slipway releases shop) && expect_contains "$out" "deploy 3f2a9c1" &&
	expect_eq 1 "$(slipway ps shop --json | jq .formation.web)"
'
expect_success 'config:set FOO=2 makes v3; unset BAR makes v4 "unset BAR"' '
	out=$(slipway config:set shop FOO=2) && expect_contains "$out" "v3 set FOO" &&
	out=$(slipway config:unset shop BAR) && expect_contains "$out" "v4 unset BAR"
'
expect_success 'setting the same value makes no release' '
	out=$(slipway config:set shop FOO=2) && expect_contains "$out" "no change" &&
	expect_eq 4 "$(slipway apps:info shop --json | jq .release)"
'
expect_success 'rollback v2 makes v5 with v2 build and config' '
	out=$(slipway rollback shop v2) && expect_contains "$out" "v5 rollback to v2" &&
	cfg=$(slipway config shop) && expect_contains "$cfg" "FOO=1" &&
	expect_contains "$cfg" "BAR=b" &&
	expect_eq 1 "$(slipway releases:info shop v5 --json | jq .build)"
'
expect_success 'rollback with no version goes to the one before (v4)' '
	out=$(slipway rollback shop) && expect_contains "$out" "v6 rollback to v4" &&
	cfg=$(slipway config shop) && expect_eq "FOO=2" "$cfg"
'
expect_success 'rollback of a rollback: v7 = v5 = v2' '
	out=$(slipway rollback shop v5) && expect_contains "$out" "v7 rollback to v5" &&
	cfg=$(slipway config shop) && expect_contains "$cfg" "FOO=1" &&
	expect_contains "$cfg" "BAR=b"
'
expect_success 'the next change starts from the rolled-back config' '
	slipway config:set shop NEW=x >/dev/null &&
	cfg=$(slipway config shop --json) &&
	expect_eq "b x 4" "$(jq -r "[.values.BAR, .values.NEW, .version] | join(\" \")" <<<"$cfg")"
'
expect_success 'releases are dense, newest first, with who and summary' '
	expect_eq "8 7 6 5 4 3 2 1" "$(slipway releases shop --json | jq -r "[.[].version] | join(\" \")")" &&
	expect_eq admin "$(slipway releases shop --json | jq -r ".[0].created_by")" &&
	out=$(slipway releases shop) && expect_contains "$out" "rollback to v5"
'
expect_failure 'rollback to the current release is refused' 'slipway rollback shop v8'
expect_failure 'rollback to a release that does not exist is refused' 'slipway rollback shop v99'
expect_failure 'rollback to v0 is a usage error' 'slipway rollback shop v0'
expect_success 'releases:info shows the config of that release' '
	out=$(slipway releases:info shop v3) && expect_contains "$out" "FOO=2" &&
	expect_contains "$out" "BAR=b"
'
expect_success 'releases:info of a release that does not exist: 404' '
	out=$(api GET /v1/apps/shop/releases/v99) && expect_eq 404 "$(api_status "$out")"
'

# ---- env keys ----
for bad in 1FOO FOO-BAR "FOO BAR" "" "FOO.X"; do
	expect_failure "config key '$bad' refused by the CLI" "slipway config:set shop '$bad=x'"
	expect_success "config key '$bad' refused by the API with 422" '
		out=$(api PATCH /v1/apps/shop/config "" -d "$(jq -n --arg k "$bad" "{(\$k):\"x\"}")") &&
		expect_eq 422 "$(api_status "$out")"
	'
done
expect_failure 'config:set without = is a usage error' 'slipway config:set shop FOO'
expect_success 'a non-string value is refused with 422, nothing written' '
	out=$(api PATCH /v1/apps/shop/config "" -d "{\"OK\":\"1\",\"NUM\":5}") &&
	expect_eq 422 "$(api_status "$out")" &&
	expect_eq 8 "$(slipway apps:info shop --json | jq .release)"
'
expect_success 'values with =, spaces and unicode survive' '
	slipway config:set shop "URL=postgres://u:p@h/db?x=1" "MSG=héllo wörld" >/dev/null &&
	expect_eq "postgres://u:p@h/db?x=1" "$(slipway config shop --json | jq -r .values.URL)" &&
	expect_eq "héllo wörld" "$(slipway config shop --json | jq -r .values.MSG)"
'
expect_success 'a value that is not UTF-8 is a usage error, and nothing is set' '
	r=$(slipway apps:info shop --json | jq .release) &&
	out=$(slipway config:set shop OTHER=1 "BAD=$(printf "\377")" 2>&1); rc=$? &&
	expect_eq 2 "$rc" && expect_contains "$out" "value of BAD is not text" &&
	expect_eq "$r" "$(slipway apps:info shop --json | jq .release)" &&
	expect_eq null "$(slipway config shop --json | jq .values.OTHER)"
'

# ---- builds and scale ----
expect_success 'builds:create runs a build, which fails plainly with no code pushed' '
	! out=$(slipway builds:create shop --rev v1.2 2>&1) &&
	expect_contains "$out" "has no code yet: push to it first" &&
	expect_eq "failed v1.2" "$(slipway builds shop --json | jq -r ".[0] | .status + \" \" + .rev")"
'
expect_failure 'builds:create with a hostile rev is refused' 'slipway builds:create shop --rev "--upload-pack=x"'
expect_success 'ps:scale and ps' '
	slipway ps:scale shop web=2 worker=1 >/dev/null &&
	expect_eq "2 1" "$(slipway ps shop --json | jq -r "[.formation.web, .formation.worker] | join(\" \")")"
'
expect_failure 'ps:scale of a type the release does not have is refused' 'slipway ps:scale shop clock=1'
expect_failure 'ps:scale beyond the cap is refused' 'slipway ps:scale shop web=101'

# ---- hostile requests ----
expect_success 'a body over 1 MiB: 413' '
	head -c 1100000 /dev/zero | tr "\0" a >big &&
	out=$(api PATCH /v1/apps/shop/config "" --data-binary @big) &&
	expect_eq 413 "$(api_status "$out")"
'
expect_success 'malformed JSON: 400; duplicate keys: 400; not an object: 400' '
	out=$(api PATCH /v1/apps/shop/config "" -d "{\"A\":") && expect_eq 400 "$(api_status "$out")" &&
	out=$(api PATCH /v1/apps/shop/config "" -d "{\"A\":\"1\",\"A\":\"2\"}") && expect_eq 400 "$(api_status "$out")" &&
	out=$(api PATCH /v1/apps/shop/config "" -d "[1]") && expect_eq 400 "$(api_status "$out")"
'
expect_success 'odd paths: 404, wrong method: 405' '
	for p in /v1/apps//config /v1/apps/shop/ /v1/ /v2/apps /v1/apps/shop/releases/vx /v1/apps/shop/builds/-1; do
		out=$(api GET "$p") && expect_eq 404 "$(api_status "$out")" "$p" || exit 1
	done &&
	out=$(api PUT /v1/apps) && expect_eq 405 "$(api_status "$out")"
'
expect_success 'encoded slashes do not reach other apps' '
	out=$(api GET "/v1/apps/..%2Fusers/config") && expect_eq 404 "$(api_status "$out")"
'

# ---- destroy ----
expect_success 'apps:destroy needs --confirm NAME' '
	slipway apps:create gone >/dev/null &&
	{ slipway apps:destroy gone; expect_eq 2 $?; } &&
	{ slipway apps:destroy gone --confirm shop; expect_eq 2 $?; } &&
	out=$(api DELETE /v1/apps/gone) && expect_eq 422 "$(api_status "$out")" &&
	slipway apps:destroy gone --confirm gone >/dev/null &&
	out=$(api GET /v1/apps/gone) && expect_eq 404 "$(api_status "$out")"
'
expect_success 'an app made again under a destroyed name starts afresh' '
	slipway apps:create again >/dev/null && slipway config:set again OLD=1 >/dev/null &&
	expect_eq "set OLD" "$(slipway releases again --json | jq -r ".[0].summary")" &&
	slipway apps:destroy again --confirm again >/dev/null &&
	slipway apps:create again >/dev/null && slipway config:set again NEW=1 >/dev/null &&
	expect_eq "1 set NEW" "$(slipway releases again --json | jq -r ".[] | \"\(.version) \(.summary)\"")"
'
expect_success 'the release list follows new releases (page cache keyed on the newest)' '
	a=$(slipway releases shop --limit 3 --json | jq -r ".[0].version") &&
	slipway config:set shop CACHE=$RANDOM >/dev/null &&
	expect_eq $((a + 1)) "$(slipway releases shop --limit 3 --json | jq -r ".[0].version")"
'

# ---- restart ----
# (stopped and started out here: a daemon started inside a test body
# would be the body's child and hold its output open)
before=$(slipway releases shop --json) cfg=$(slipway config shop --json)
keys_before=$(slipway apps:info shop --json)
ctl_stop
ctl_start --home "$SLIPWAY_HOME" || ctl_start_failed
expect_success 'a restart keeps everything and prints no new token' '
	! grep -q "shown only now" "$CTL_LOG" &&
	expect_eq "$before" "$(slipway releases shop --json)" &&
	expect_eq "$cfg" "$(slipway config shop --json)" &&
	expect_eq "$keys_before" "$(slipway apps:info shop --json)" &&
	n=$(jq ".[0].version" <<<"$before") &&
	out=$(slipway config:set shop AFTER=restart) && expect_contains "$out" "v$((n + 1)) "
'

# ---- concurrent writers ----
expect_success 'parallel config:set: every change a release, numbers dense, none lost' '
	base=$(slipway apps:info shop --json | jq .release) &&
	for i in $(seq 1 24); do slipway config:set shop "PAR_$i=$i" >"out.$i" 2>&1 & done; wait &&
	expect_eq $((base + 24)) "$(slipway apps:info shop --json | jq .release)" &&
	vs=$(slipway releases shop --limit 1000 --json | jq -r "[.[].version] | sort | join(\" \")") &&
	expect_eq "$(seq -s " " 1 $((base + 24)))" "$vs" &&
	expect_eq 24 "$(slipway config shop --json | jq "[.values | keys[] | select(startswith(\"PAR_\"))] | length")" &&
	expect_eq 24 "$(cat out.* | grep -c "set PAR_")"
'

expect_success 'parallel readers of a big release page all get the same bytes' '
	expect_eq 200 "$(ctl_config_burst shop BIG 200 | grep -cx 201)" &&
	for i in $(seq 1 16); do
		curl -sf -H "Authorization: Bearer $ADMIN" "$CTL_URL/v1/apps/shop/releases?limit=1000" >"page.$i" &
	done; wait &&
	{ [ "$(stat -c %s page.1)" -gt 40000 ] || { echo "page too small"; exit 1; }; } &&
	expect_eq 1 "$(sha256sum page.* | cut -d" " -f1 | sort -u | wc -l)" &&
	expect_eq "$(slipway apps:info shop --json | jq .release)" "$(jq length page.1)" &&
	out=$(curl -sfI -H "Authorization: Bearer $ADMIN" "$CTL_URL/v1/apps/shop/releases?limit=1000") &&
	expect_contains "$out" "Content-Length: $(stat -c %s page.1)"
'

expect_success 'the controller logs the address it listens on and the URL it is reached at' '
	p=$(free_port) &&
	{ slipway controller --listen "127.0.0.2:$p" --home "$T_DIR/h2" \
	    --url http://ctl.example.com:$p 2>h2.log & } &&
	h2=$! && wait_for "grep -q \"listening on 127.0.0.2:$p, reached at http://ctl.example.com:$p \" h2.log" 30; rc=$?
	kill $h2; wait $h2 2>/dev/null
	[ $rc = 0 ] || { cat h2.log; false; }
'

test_done
