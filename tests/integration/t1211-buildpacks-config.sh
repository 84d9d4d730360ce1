#!/usr/bin/env bash
# test-timeout: 400
# An app's own buildpacks and where buildpacks may come from: a path (or
# a file:// URL) is refused wherever it is named (.buildpacks,
# slipway.yml, BUILDPACK_URL, buildpacks:add over the CLI and SSH) with
# one clear line, and nothing of the host directory reaches the build;
# buildpacks:add/set/remove/clear (Heroku's names, --index, --json) keep
# a list per app that builds use when the tree names none; CACHE_DIR
# survives builds and repo:purge-cache drops it; STACK is the stack's
# name and stack:set picks the stack (a missing one is refused).
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients
at_exit push_cleanup_sandbox
push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed

mkbp() { # DIR NAME COMPILE
	mkdir -p "$1/bin" &&
	printf '#!/bin/sh\necho %s\n' "$2" >"$1/bin/detect" &&
	printf '#!/bin/sh\n%s\n' "$3" >"$1/bin/compile" &&
	chmod +x "$1/bin/detect" "$1/bin/compile"
}
BPS=$SLIPWAY_HOME/buildpacks
# counts its builds in CACHE_DIR; says STACK and what the app's env had
mkbp "$BPS/counter" Counter 'n=$(cat "$2/n" 2>/dev/null || echo 0); n=$((n+1)); echo $n >"$2/n"; echo "build number $n in the cache"; echo "stack is $STACK"'
mkbp "$BPS/second" Second 'echo "second ran"'
# a host directory with a buildpack and a secret in it: never copied in
SECRET=host-secret-$RANDOM$RANDOM
HOSTBP=$T_DIR/hostbp
mkbp "$HOSTBP" Host "cat \"\$(dirname \"\$0\")/../secret\""
printf '%s\n' "$SECRET" >"$HOSTBP/secret"
chmod -R go-w "$BPS"

app_dir() { # DIR [FILE CONTENT]
	rm -rf "$1" && mkdir "$1" && (cd "$1" && git init -q -b main &&
		printf 'web: sh -c "echo hi"\n' >Procfile &&
		if [ -n "${2:-}" ]; then printf '%s\n' "$3" >"$2"; fi &&
		git add -A && git commit -q -m one)
}
push() { (cd "$2" && as alice git push "$(app_url "$1")" main 2>&1); }
bump() { (cd "$1" && git commit -q --allow-empty -m again); }
no_secret() { # OUTPUT
	! expect_contains "$1" "$SECRET" >/dev/null &&
	! grep -rqs "$SECRET" "$SLIPWAY_HOME/builds" "$SLIPWAY_HOME/cache"
}

expect_success 'a path in .buildpacks is refused, naming the line' '
	app_dir p1 .buildpacks "$(printf "counter\n%s" "$HOSTBP")" &&
	! out=$(push p1 p1) &&
	expect_contains "$out" ".buildpacks line 2: buildpack '"'"'$HOSTBP'"'"' is a path: name an installed buildpack" &&
	no_secret "$out"
'
expect_success 'a path in slipway.yml is refused' '
	app_dir p2 slipway.yml "$(printf "buildpacks:\n  - %s" "$HOSTBP")" &&
	! out=$(push p2 p2) &&
	expect_contains "$out" "slipway.yml line 2: buildpack '"'"'$HOSTBP'"'"' is a path" &&
	no_secret "$out"
'
expect_success 'a relative path and a file:// URL are refused too' '
	app_dir p3 .buildpacks "../../hostbp" &&
	! out=$(push p3 p3) && expect_contains "$out" "is a path" &&
	app_dir p4 .buildpacks "file://$T_DIR/hostbp" &&
	! out=$(push p4 p4) && expect_contains "$out" "is a path" &&
	no_secret "$out"
'
expect_success 'BUILDPACK_URL naming a path is refused at build time' '
	app_dir p5 && sshx alice apps:create p5cfg >/dev/null &&
	sshx alice config:set p5cfg "BUILDPACK_URL=$HOSTBP" >/dev/null &&
	! out=$(push p5cfg p5) &&
	expect_contains "$out" "Build failed: buildpack '"'"'$HOSTBP'"'"' is a path" &&
	no_secret "$out"
'
expect_success 'buildpacks:add refuses a path over the CLI, SSH and the API' '
	sshx alice apps:create mine >/dev/null &&
	! out=$(SLIPWAY_TOKEN=$ADMIN slipway buildpacks:add mine "$HOSTBP" 2>&1) &&
	expect_contains "$out" "is a path" &&
	! out=$(sshx alice buildpacks:add mine /etc 2>&1) &&
	expect_contains "$out" "is a path" &&
	r=$(api PATCH /v1/apps/mine/buildpacks "$ADMIN" -d "{\"op\":\"add\",\"url\":\"$HOSTBP\"}") &&
	expect_eq 422 "$(api_status "$r")" &&
	expect_eq "[]" "$(sshx alice buildpacks mine --json | jq -c .buildpacks)"
'
expect_success 'buildpacks:add, --index, :set, :remove, :clear keep the list in order' '
	sshx alice buildpacks:add mine second >/dev/null &&
	sshx alice buildpacks:add mine counter --index 1 >/dev/null &&
	expect_eq "1. counter
2. second" "$(sshx alice buildpacks mine)" &&
	! out=$(sshx alice buildpacks:add mine counter 2>&1) &&
	expect_contains "$out" "already buildpack 1" &&
	SLIPWAY_TOKEN=$ADMIN slipway buildpacks:set mine https://example.com/bp.git#v1 --index 2 >/dev/null &&
	expect_eq "[\"counter\",\"https://example.com/bp.git#v1\"]" "$(SLIPWAY_TOKEN=$ADMIN slipway buildpacks mine --json | jq -c .buildpacks)" &&
	SLIPWAY_TOKEN=$ADMIN slipway buildpacks:remove mine --index 2 >/dev/null &&
	sshx alice buildpacks:add mine second >/dev/null &&
	sshx alice buildpacks:remove mine second >/dev/null &&
	expect_eq "[\"counter\"]" "$(sshx alice buildpacks:add mine second --json | jq -c ".buildpacks[:1]")" &&
	sshx alice buildpacks:clear mine >/dev/null &&
	expect_contains "$(sshx alice buildpacks mine)" "has no buildpacks of its own"
'
expect_success 'the app list builds an app whose tree names none; .buildpacks wins over it' '
	sshx alice buildpacks:add mine counter >/dev/null &&
	sshx alice buildpacks:add mine second >/dev/null &&
	app_dir m && out=$(push mine m) &&
	expect_contains "$out" "Buildpacks (buildpacks:add): 2" &&
	expect_contains "$out" "Counter app detected" && expect_contains "$out" "second ran" &&
	expect_contains "$out" "build number 1 in the cache" &&
	(cd m && echo second >.buildpacks && git add -A && git commit -q -m bp) &&
	out=$(push mine m) &&
	expect_contains "$out" "Buildpacks (.buildpacks): 1" &&
	! expect_contains "$out" "Counter app detected" >/dev/null &&
	(cd m && git rm -q .buildpacks && git commit -q -m nobp)
'
expect_success 'CACHE_DIR survives builds; repo:purge-cache drops it' '
	out=$(push mine m) && expect_contains "$out" "build number 2 in the cache" &&
	expect_contains "$(sshx alice repo:purge-cache mine)" "Build cache of mine purged" &&
	bump m && out=$(push mine m) && expect_contains "$out" "build number 1 in the cache" &&
	expect_eq true "$(SLIPWAY_TOKEN=$ADMIN slipway repo:purge-cache mine --json | jq .purged)"
'
expect_success 'STACK is the stack'"'"'s name; stack:set refuses a stack the home lacks' '
	bump m && out=$(push mine m) && expect_contains "$out" "stack is default" &&
	expect_contains "$out" "Stack default" &&
	! out=$(sshx alice stack:set mine nosuch 2>&1) &&
	expect_contains "$out" "no stack '"'"'nosuch'"'"'" &&
	! out=$(SLIPWAY_TOKEN=$ADMIN slipway stack:set mine ../x 2>&1) &&
	expect_contains "$out" "not a stack name" &&
	expect_eq null "$(api GET /v1/apps/mine | sed "\$d" | jq -r .stack)"
'
expect_success 'stack:set an imported stack: builds run on it and STACK names it' '
	slipway stack import --busybox -o "$SLIPWAY_HOME/stacks/tiny" >/dev/null &&
	expect_eq tiny "$(SLIPWAY_TOKEN=$ADMIN slipway stack:set mine tiny --json | jq -r .stack)" &&
	expect_eq tiny "$(api GET /v1/apps/mine | sed "\$d" | jq -r .stack)" &&
	bump m && out=$(push mine m) &&
	expect_contains "$out" "Stack tiny (stack:set)" && expect_contains "$out" "stack is tiny" &&
	(cd m && printf "stack: default\n" >slipway.yml && git add -A && git commit -q -m yml) &&
	out=$(push mine m) && expect_contains "$out" "Stack default (slipway.yml)" &&
	sshx alice stack:set mine --default >/dev/null &&
	expect_eq null "$(api GET /v1/apps/mine | sed "\$d" | jq -r .stack)"
'
test_done
