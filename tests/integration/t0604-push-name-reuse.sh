#!/usr/bin/env bash
# Nothing of a destroyed app reaches the next owner of its name (issue
# 18, break 8): the admin's `shop` leaves a secret in its build cache and
# images in the registry; after apps:destroy, a member's new `shop`
# builds with an empty cache, and the registry has none of the old tags
# or manifests.  The cache, the git repository and the logs of the old
# app are gone from disk.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients
at_exit push_cleanup_sandbox

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user boss --admin && push_user mallory || ctl_start_failed
mkdir -p "$SLIPWAY_HOME/buildpacks" &&
	cp -r "$SLIPWAY_TOP/tests/fixtures/buildpacks/shell" "$SLIPWAY_HOME/buildpacks/shell"
SECRET=cache-secret-$RANDOM$RANDOM

# An app the shell buildpack builds, in DIR, with extra files.
bp_app() { # DIR [FILE CONTENT]
	rm -rf "$1" && mkdir -p "$1" && (cd "$1" && git init -q -b main &&
		echo 'echo built' >build.sh &&
		{ [ $# -lt 3 ] || printf '%s\n' "$3" >"$2"; } &&
		git add -A && git commit -q -m one)
}
push() { (cd "$2" && as "$1" git push "$(app_url shop)" main 2>&1); }
uid() { api GET /v1/apps/shop | sed '$d' | jq -r .uid; }
# The registry, as the admin: METHOD PATH -> status, body on stdout.
reg() {
	local tok
	tok=$(curl -s -u "admin:$ADMIN" "$CTL_URL/v1/registry/token?service=slipway-registry&scope=repository:shop:pull" | jq -r .token) &&
	curl -s -X "$1" -H "Authorization: Bearer $tok" \
		-H "Accept: application/vnd.oci.image.manifest.v1+json" \
		-w '\n%{http_code}' "http://$REG$2"
}

expect_success 'the admin'"'"'s shop leaves a secret in its cache and two images' '
	bp_app a CACHE_SECRET "$SECRET" &&
	out=$(push boss a) && expect_contains "$out" "cached secret: $SECRET" &&
	(cd a && git commit -q --allow-empty -m two) &&
	out=$(push boss a) && expect_contains "$out" "builds so far: 2" &&
	expect_eq "v1 v2" "$(reg GET /v2/shop/tags/list | sed "\$d" | jq -r ".tags | sort | join(\" \")")"
'
OLD_UID=$(uid)
OLD_V1=$(reg GET /v2/shop/manifests/v1 | sed '$d' | sha256sum | cut -d' ' -f1)
expect_success 'apps:destroy takes its cache, repository, logs and images' '
	[ -d "$SLIPWAY_HOME/cache/$OLD_UID" ] && [ -d "$SLIPWAY_HOME/git/shop.git" ] &&
	slipway apps:destroy shop --confirm shop >/dev/null &&
	! test -e "$SLIPWAY_HOME/cache/$OLD_UID" &&
	! test -e "$SLIPWAY_HOME/git/shop.git" &&
	! test -e "$SLIPWAY_HOME/builds/$OLD_UID" &&
	! grep -rqs "$SECRET" "$SLIPWAY_HOME/cache" &&
	expect_eq 404 "$(reg GET /v2/shop/manifests/v2 | tail -n 1)" &&
	expect_eq 404 "$(reg GET "/v2/shop/manifests/sha256:$OLD_V1" | tail -n 1)"
'
expect_success 'a member'"'"'s new shop builds with an empty cache' '
	bp_app m &&
	out=$(push mallory m) &&
	expect_contains "$out" "Created app '"'"'shop'"'"'" &&
	expect_contains "$out" "builds so far: 1" &&
	! expect_contains "$out" "$SECRET" >/dev/null &&
	! expect_contains "$out" "cached secret" >/dev/null &&
	[ "$(uid)" != "$OLD_UID" ]
'
expect_success 'and its registry repository holds its own image only' '
	expect_eq "v1" "$(reg GET /v2/shop/tags/list | sed "\$d" | jq -r ".tags | join(\" \")")" &&
	expect_eq 404 "$(reg GET /v2/shop/manifests/v2 | tail -n 1)"
'
expect_success 'nor can the member clone the old history' '
	rm -rf c && as mallory git clone -q "$(app_url shop)" c 2>/dev/null &&
	expect_eq 1 "$(git -C c rev-list --count HEAD)" &&
	! git -C c log --all --format=%B | grep -q two
'

test_done
