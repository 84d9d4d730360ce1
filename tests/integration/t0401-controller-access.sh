#!/usr/bin/env bash
# Who may do what: members and admins, collaborators, deployment groups,
# runners that see only their group (and lose containers when they stop
# heartbeating), the desired-state long-poll, and registry tokens scoped to
# app permissions.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

command -v jq >/dev/null || skip_all "jq is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
export SLIPWAY_CONFIG=$T_DIR/client.json

# A short runner timeout so a silent runner is noticed within the test.
ctl_start --runner-timeout 3 || ctl_start_failed

as() { local t=$1; shift; SLIPWAY_TOKEN=$t slipway "$@"; }
# The claims of a JWT (its middle part), as JSON.
jwt_claims() {
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p"
}

# ---- users and tokens ----
slipway users:add alice >/dev/null && slipway users:add bob >/dev/null
ALICE=$(slipway tokens:create --user alice --label test 2>/dev/null)
BOB=$(slipway tokens:create --user bob 2>/dev/null)

expect_success 'admins add users and make their tokens' '
	expect_contains "$ALICE" slw_ && expect_contains "$BOB" slw_ &&
	out=$(slipway users) && expect_contains "$out" alice &&
	expect_eq member "$(slipway users --json | jq -r ".[] | select(.name==\"alice\") | .role")"
'
expect_failure 'a member cannot add users' 'as "$ALICE" users:add mallory'
expect_failure 'a member cannot list users' 'as "$ALICE" users'
expect_failure 'a member cannot make a token for someone else' 'as "$ALICE" tokens:create --user bob'
expect_success 'a member makes and revokes their own tokens' '
	t=$(as "$ALICE" tokens:create --label second 2>/dev/null) &&
	as "$t" apps >/dev/null &&
	id=$(as "$ALICE" tokens --json | jq -r ".[] | select(.label==\"second\") | .id") &&
	as "$ALICE" tokens:revoke "$id" >/dev/null &&
	! as "$t" apps 2>/dev/null
'
expect_failure 'a member cannot revoke another user'"'"'s token' '
	id=$(slipway tokens --user bob --json | jq -r ".[0].id") &&
	as "$ALICE" tokens:revoke "$id"
'

# ---- apps: owners, collaborators ----
as "$ALICE" apps:create alice-app >/dev/null
slipway apps:create admin-app >/dev/null
expect_success 'a member sees only their apps' '
	expect_eq alice-app "$(as "$ALICE" apps --json | jq -r "[.[].name] | join(\" \")")" &&
	expect_eq "admin-app alice-app" "$(slipway apps --json | jq -r "[.[].name] | join(\" \")")"
'
expect_success 'a member cannot touch another'"'"'s app: 403' '
	for r in "GET /v1/apps/admin-app" "GET /v1/apps/admin-app/config" \
	    "GET /v1/apps/admin-app/releases" "POST /v1/apps/admin-app/rollback" \
	    "PATCH /v1/apps/admin-app/formation" "POST /v1/apps/admin-app/builds"; do
		out=$(api ${r% *} ${r#* } "$ALICE" -d "{\"web\":1}") &&
		expect_eq 403 "$(api_status "$out")" "$r" || exit 1
	done &&
	out=$(api PATCH /v1/apps/admin-app/config "$ALICE" -d "{\"X\":\"1\"}") &&
	expect_eq 403 "$(api_status "$out")" &&
	expect_eq forbidden "$(api_body "$out" | jq -r .code)"
'
expect_failure 'a member cannot config:set another'"'"'s app' 'as "$ALICE" config:set admin-app X=1'
expect_failure 'a member cannot destroy another'"'"'s app' 'as "$ALICE" apps:destroy admin-app --confirm admin-app'
expect_success 'names match exactly: alice-ap is not alice-app' '
	out=$(api GET /v1/apps/alice-ap "$ALICE") && expect_eq 404 "$(api_status "$out")"
'
expect_success 'a collaborator may read and deploy, not destroy or share' '
	as "$ALICE" apps:share alice-app bob >/dev/null &&
	as "$BOB" config:set alice-app FROM=bob >/dev/null &&
	expect_eq bob "$(as "$BOB" releases alice-app --json | jq -r ".[0].created_by")" &&
	! as "$BOB" apps:destroy alice-app --confirm alice-app 2>/dev/null &&
	! as "$BOB" apps:share alice-app admin 2>/dev/null
'
expect_success 'unshared, bob loses it' '
	as "$ALICE" apps:unshare alice-app bob >/dev/null &&
	! as "$BOB" config alice-app 2>/dev/null
'

# ---- deployment groups ----
slipway groups:create production >/dev/null
expect_success 'default always exists; groups lists members' '
	out=$(slipway groups --json) &&
	expect_eq "default production" "$(jq -r "[.[].name] | join(\" \")" <<<"$out")" &&
	expect_contains "$(jq -r ".[0].users | join(\" \")" <<<"$out")" alice
'
expect_failure 'default cannot be removed' 'api DELETE /v1/groups/default | tail -n 1 | grep -qx 200'
expect_failure 'a member cannot create groups' 'as "$ALICE" groups:create mine'
expect_failure 'a member cannot create an app in a group not granted' '
	as "$ALICE" apps:create prod-app --group production
'
expect_success 'the refusal says which group' '
	out=$(as "$ALICE" apps:create prod-app --group production 2>&1); expect_contains "$out" "production"
'
expect_failure 'a member cannot put their app into a group not granted' '
	as "$ALICE" groups:add-app production alice-app
'
expect_success 'an app in a group the owner is not granted: read yes, deploy no' '
	slipway groups:add-app production alice-app >/dev/null &&
	as "$ALICE" config alice-app >/dev/null &&
	out=$(as "$ALICE" config:set alice-app X=1 2>&1); rc=$?; expect_eq 1 $rc &&
	expect_contains "$out" "group '"'"'production'"'"'" &&
	out=$(as "$ALICE" rollback alice-app 2>&1); expect_contains "$out" "production" &&
	out=$(as "$ALICE" ps:scale alice-app web=1 2>&1); expect_contains "$out" "production"
'
expect_success 'granted the group, the member deploys' '
	slipway groups:add-user production alice >/dev/null &&
	as "$ALICE" config:set alice-app X=1 >/dev/null &&
	slipway groups:remove-user production alice >/dev/null &&
	! as "$ALICE" config:set alice-app X=2 2>/dev/null
'
expect_failure 'an app keeps at least one group' '
	slipway groups:remove-app production alice-app >/dev/null &&
	slipway groups:remove-app default alice-app
'

# ---- runners ----
slipway apps:create web-default >/dev/null
slipway apps:create web-prod --group production >/dev/null
ctl_deploy web-default abc1234
ctl_deploy web-prod def5678
slipway ps:scale web-default web=2 >/dev/null
RD1=$(slipway runners:add d1 2>/dev/null)
RD2=$(slipway runners:add d2 2>/dev/null)
RP1=$(slipway runners:add p1 --group production 2>/dev/null)
for k in "$RD1" "$RD2" "$RP1"; do api POST /v1/runner/register "$k" >/dev/null; done

expect_success 'runners:add prints a server key; runners lists them live' '
	expect_contains "$RD1" slr_ &&
	expect_eq "d1 d2 p1" "$(slipway runners --json | jq -r "[.[] | select(.live) | .name] | join(\" \")")"
'
expect_failure 'a member cannot add runners' 'as "$ALICE" runners:add evil'
expect_success 'a runner sees only its group'"'"'s apps' '
	d=$( { api GET /v1/runner/desired "$RD1"; api GET /v1/runner/desired "$RD2"; } | grep "^{" | jq -r ".containers[].app" | sort -u) &&
	expect_eq web-default "$d" &&
	p=$(api GET /v1/runner/desired "$RP1" | sed "\$d" | jq -r "[.containers[] | .app + \".\" + .type] | join(\" \")") &&
	expect_eq web-prod.web "$p"
'
expect_success 'containers spread across the group: one web on each of d1, d2' '
	out=$(slipway ps web-default --json) &&
	expect_eq "d1 d2" "$(jq -r "[.containers[].runner] | sort | join(\" \")" <<<"$out")"
'
expect_success 'desired state carries image, digest, command and env' '
	slipway config:set web-default GREETING=hi >/dev/null &&
	c=$(api GET /v1/runner/desired "$RD1" | sed "\$d" | jq ".containers[0]") &&
	expect_eq "./web hi" "$(jq -r ".command + \" \" + .env.GREETING" <<<"$c")" &&
	expect_contains "$(jq -r .digest <<<"$c")" sha256: &&
	expect_contains "$(jq -r .image <<<"$c")" web-default
'
expect_success 'a runner key cannot use user endpoints, a user token cannot poll' '
	out=$(api GET /v1/apps "$RD1") && expect_eq 403 "$(api_status "$out")" &&
	out=$(api GET /v1/apps/web-default/config "$RD1") && expect_eq 403 "$(api_status "$out")" &&
	out=$(api GET /v1/runner/desired "$ADMIN") && expect_eq 403 "$(api_status "$out")"
'
expect_success 'a runner key asking for a user is told it needs a user token' '
	for u in alice d1; do
		out=$(api GET "/v1/users/$u" "$RD1") &&
		expect_eq 403 "$(api_status "$out")" &&
		expect_eq "this needs a user'"'"'s API token, not a runner key" \
			"$(api_body "$out" | jq -r .error)" || exit 1
	done
'
expect_success 'the desired-state poll takes ?wait as the other long-polls do' '
	for w in "" x -1 56; do
		out=$(api GET "/v1/runner/desired?wait=$w" "$RD1") &&
		expect_eq 422 "$(api_status "$out")" || exit 1
	done &&
	out=$(api GET "/v1/runner/desired?wait=0" "$RD1") &&
	expect_eq 200 "$(api_status "$out")"
'
expect_success 'the long-poll answers when the schedule changes' '
	v=$(api GET /v1/runner/desired "$RP1" | sed "\$d" | jq -r .version) &&
	{ api GET "/v1/runner/desired?version=$v&wait=50" "$RP1" >poll.out & } &&
	sleep 0.5 && slipway ps:scale web-prod web=2 >/dev/null && wait &&
	expect_eq 200 "$(tail -n 1 poll.out)" &&
	nv=$(sed "\$d" poll.out | jq -r .version) && [ "$nv" != "$v" ] &&
	expect_eq 2 "$(sed "\$d" poll.out | jq ".containers | length")"
'
expect_success 'a long-poll with no change answers with the same version when wait ends' '
	v=$(api GET /v1/runner/desired "$RP1" | sed "\$d" | jq -r .version) &&
	out=$(api GET "/v1/runner/desired?version=$v&wait=1" "$RP1") &&
	expect_eq "$v" "$(api_body "$out" | jq -r .version)"
'
expect_success 'status reports show in ps' '
	out=$(api POST /v1/runner/status "$RP1" -d "{\"containers\":[{\"app\":\"web-prod\",\"type\":\"web\",\"index\":1,\"state\":\"up\",\"healthy\":true}]}") &&
	expect_eq 200 "$(api_status "$out")" &&
	out=$(slipway ps web-prod) && expect_contains "$out" "up"
'
expect_success 'a runner that stops heartbeating loses its containers to its group' '
	for i in $(seq 1 100); do
		api POST /v1/runner/heartbeat "$RD1" >/dev/null
		api POST /v1/runner/heartbeat "$RP1" >/dev/null
		r=$(slipway ps web-default --json | jq -r "[.containers[].runner] | join(\" \")")
		[ "$r" = "d1 d1" ] && break
		sleep 0.2
	done &&
	expect_eq "d1 d1" "$r" &&
	expect_eq "false" "$(slipway runners --json | jq ".[] | select(.name==\"d2\") | .live")" &&
	expect_contains "$(slipway runners --json | jq -r ".[] | select(.name==\"d2\") | .state")" "dead " &&
	expect_contains "$(slipway runners)" "dead " &&
	p=$(slipway ps web-prod --json | jq -r "[.containers[].runner] | unique | join(\" \")") &&
	expect_eq p1 "$p"
'
expect_success 'back, it takes its share again' '
	for i in $(seq 1 100); do
		api POST /v1/runner/heartbeat "$RD2" >/dev/null
		api POST /v1/runner/heartbeat "$RD1" >/dev/null
		r=$(slipway ps web-default --json | jq -r "[.containers[].runner] | sort | join(\" \")")
		[ "$r" = "d1 d2" ] && break
		sleep 0.2
	done && expect_eq "d1 d2" "$r"
'
expect_success 'a removed runner key stops working' '
	slipway runners:remove p1 >/dev/null &&
	out=$(api GET /v1/runner/desired "$RP1") && expect_eq 401 "$(api_status "$out")"
'

# ---- registry tokens ----
expect_success 'registry token for the owner: pull and push on their app' '
	out=$(curl -sf -u "x:$ALICE" "$CTL_URL/v1/registry/token?service=slipway-registry&scope=repository:alice-app:pull,push") &&
	c=$(jwt_claims "$(jq -r .token <<<"$out")") &&
	expect_eq "slipway alice slipway-registry" "$(jq -r "[.iss, .sub, .aud] | join(\" \")" <<<"$c")" &&
	expect_eq "alice-app pull,push" "$(jq -r ".access[0] | .name + \" \" + (.actions | join(\",\"))" <<<"$c")" &&
	expect_eq 300 "$(jq ".exp - .iat" <<<"$c")" &&
	expect_eq "$(jq -r .token <<<"$out")" "$(jq -r .access_token <<<"$out")"
'
expect_success 'registry token on another'"'"'s app grants nothing' '
	out=$(curl -sf -u "x:$ALICE" "$CTL_URL/v1/registry/token?service=r&scope=repository:admin-app:pull,push") &&
	expect_eq 0 "$(jwt_claims "$(jq -r .token <<<"$out")" | jq ".access | length")"
'
expect_success 'pull only where the user may read but not deploy' '
	slipway groups:add-app production alice-app >/dev/null &&
	out=$(curl -sf -u "x:$ALICE" "$CTL_URL/v1/registry/token?service=r&scope=repository:alice-app:pull,push") &&
	expect_eq pull "$(jwt_claims "$(jq -r .token <<<"$out")" | jq -r ".access[0].actions | join(\",\")")"
'
expect_success 'a runner gets pull on its group'"'"'s apps only (Bearer)' '
	out=$(curl -sf -H "Authorization: Bearer $RD1" "$CTL_URL/v1/registry/token?service=r&scope=repository:web-default:pull,push%20repository:web-prod:pull") &&
	c=$(jwt_claims "$(jq -r .token <<<"$out")") &&
	expect_eq "web-default:pull" "$(jq -r "[.access[] | .name + \":\" + (.actions | join(\",\"))] | join(\" \")" <<<"$c")" &&
	expect_eq "runner:d1" "$(jq -r .sub <<<"$c")"
'
expect_success 'registry token without or with bad credentials: 401' '
	expect_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" "$CTL_URL/v1/registry/token?service=r")" &&
	expect_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" -u x:slw_bad "$CTL_URL/v1/registry/token?service=r")" &&
	expect_eq 400 "$(curl -s -o /dev/null -w "%{http_code}" -u "x:$ALICE" "$CTL_URL/v1/registry/token?service=r&scope=bogus")"
'
expect_success 'the token verifies with $SLIPWAY_HOME/secret (HS256)' '
	out=$(curl -sf -u "x:$ADMIN" "$CTL_URL/v1/registry/token?service=r&scope=repository:shop/x:pull") &&
	t=$(jq -r .token <<<"$out") &&
	sig=$(printf %s "${t%.*}" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(xxd -p -c 64 "$SLIPWAY_HOME/secret")" -binary | base64 -w0 | tr "+/" "-_" | tr -d =) &&
	expect_eq "$sig" "${t##*.}"
'

test_done
