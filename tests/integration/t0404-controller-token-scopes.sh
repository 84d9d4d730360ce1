#!/usr/bin/env bash
# The controller's registry token endpoint with several scopes, as Docker
# clients ask them: repeated scope= parameters (one per repository, e.g. to
# mount a blob from another), space-separated scopes in one parameter, and
# both mixed.  Each scope is granted what the caller may have of it, no
# more; too many scopes or a bad one in any parameter is a 400.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for p in curl jq; do
	command -v $p >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json
ctl_start || ctl_start_failed

slipway users:add alice >/dev/null
ALICE=$(slipway tokens:create --user alice 2>/dev/null)
SLIPWAY_TOKEN=$ALICE slipway apps:create shop >/dev/null
SLIPWAY_TOKEN=$ALICE slipway apps:create base >/dev/null
slipway apps:create secret >/dev/null

jwt_claims() {
	local p
	p=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
	while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p"
}
# token QUERY: the access claim as "name:actions" words, sorted
token() {
	local out
	out=$(curl -sf -u "x:$ALICE" "$CTL_URL/v1/registry/token?service=slipway-registry&$1") &&
	jwt_claims "$(jq -r .token <<<"$out")" |
		jq -r '[.access[] | .name + ":" + (.actions | join(","))] | sort | join(" ")'
}
status() {
	curl -s -o /dev/null -w '%{http_code}' -u "x:$ALICE" \
		"$CTL_URL/v1/registry/token?service=slipway-registry&$1"
}

expect_success 'two scope= parameters: both granted (push here, pull from there)' '
	expect_eq "base:pull shop:pull,push" \
		"$(token "scope=repository:shop:pull,push&scope=repository:base:pull")"
'
expect_success 'the order of the parameters does not matter' '
	expect_eq "base:pull shop:pull,push" \
		"$(token "scope=repository:base:pull&scope=repository:shop:pull,push")"
'
expect_success 'repeated and space-separated scopes mixed' '
	expect_eq "base:pull shop:pull shop:push" \
		"$(token "scope=repository:shop:pull%20repository:base:pull&scope=repository:shop:push")"
'
expect_success 'a repeated scope for an app the caller may not touch grants nothing for it' '
	expect_eq "shop:pull,push" \
		"$(token "scope=repository:shop:pull,push&scope=repository:secret:pull")"
'
expect_success 'a bad scope in any parameter: 400' '
	expect_eq 400 "$(status "scope=repository:shop:pull&scope=bogus")"
'
expect_success 'at most 16 scopes, however they are sent' '
	q=$(for i in $(seq 16); do printf "scope=repository:shop:pull&"; done) &&
	expect_eq 200 "$(status "$q")" &&
	expect_eq 400 "$(status "${q}scope=repository:base:pull")" &&
	q=$(for i in $(seq 8); do printf "scope=repository:shop:pull%%20repository:base:pull&"; done) &&
	expect_eq 200 "$(status "$q")" &&
	expect_eq 400 "$(status "${q}scope=repository:shop:push")"
'
test_done
