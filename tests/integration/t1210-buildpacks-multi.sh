#!/usr/bin/env bash
# test-timeout: 300
# The buildpack contract in a real push: a .buildpacks file runs two
# buildpacks in order and the second sources the first's export (the
# buildpack dirs are copies the build owns; the installed one is left
# as it was); an http(s) tarball buildpack served on loopback; a bash
# buildpack on the busybox stack fails saying bash is missing, not
# "detect said no"; a detect that says no names what it looked for.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients
command -v python3 >/dev/null || skip_all "needs python3 (the tarball server)"
http_stop() { [ -f "$T_DIR/http.pid" ] && kill "$(cat "$T_DIR/http.pid")" 2>/dev/null; push_cleanup_sandbox; }
at_exit http_stop
push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed

# first: writes export (FIRST_SAW=yes) into its own dir; second: prints it.
mkbp() { # DIR DETECT COMPILE
	mkdir -p "$1/bin" &&
	printf '#!/bin/sh\n%s\n' "$2" >"$1/bin/detect" &&
	printf '#!/bin/sh\n%s\n' "$3" >"$1/bin/compile" &&
	chmod +x "$1/bin/detect" "$1/bin/compile"
}
BPS=$SLIPWAY_HOME/buildpacks
mkbp "$BPS/first" 'echo First' 'echo "export FIRST_SAW=yes" >"$(dirname "$0")/../export"; echo first compiled'
mkbp "$BPS/second" 'echo Second' 'echo "second sees FIRST_SAW=${FIRST_SAW:-nothing}"'
mkbp "$BPS/bashy" 'echo Bashy' 'true' && sed -i '1s|.*|#!/usr/bin/env bash|' "$BPS/bashy/bin/detect"
mkbp "$BPS/picky" '[ -f "$1/package.json" ] && echo Picky && exit 0; echo "no package.json"; exit 1' 'true'
chmod -R go-w "$BPS"

app_dir() { rm -rf "$1" && mkdir "$1" && (cd "$1" && git init -q -b main &&
	printf 'web: sh -c "echo hi"\n' >Procfile && printf '%s\n' "$2" >.buildpacks &&
	git add -A && git commit -q -m one); }
push() { (cd "$2" && as alice git push "$(app_url "$1")" main 2>&1); }

expect_success '.buildpacks runs both in order; the second sources the first export' '
	app_dir two "$(printf "first\nsecond")" &&
	out=$(push two two) &&
	expect_contains "$out" "Buildpacks (.buildpacks): 2" &&
	expect_contains "$out" "First app detected" &&
	expect_contains "$out" "second sees FIRST_SAW=yes" &&
	test ! -e "$BPS/first/export"
'
expect_success 'a bash buildpack on the busybox stack says bash is missing' '
	app_dir bsh bashy &&
	! out=$(push bsh bsh) &&
	expect_contains "$out" "bin/detect of buildpack '"'"'bashy'"'"' needs bash, which this stack does not have" &&
	! expect_contains "$out" "said no" >/dev/null
'
expect_success 'a detect that says no names what it looked for' '
	app_dir pk picky &&
	! out=$(push pk pk) &&
	expect_contains "$out" "its bin/detect said no: no package.json"
'
expect_success 'an http tarball buildpack is downloaded and unpacked' '
	mkdir -p srv && tar -C "$BPS" -czf srv/second.tgz second &&
	port=$(free_port) &&
	{ (cd srv && exec python3 -m http.server --bind 127.0.0.1 "$port" >../http.log 2>&1) & echo $! >http.pid; } &&
	wait_for "curl -fs http://127.0.0.1:$port/second.tgz -o /dev/null" &&
	app_dir tb "http://127.0.0.1:$port/second.tgz" &&
	out=$(push tb tb) &&
	expect_contains "$out" "Fetching buildpack http://127.0.0.1:$port/second.tgz" &&
	expect_contains "$out" "second sees FIRST_SAW=nothing" &&
	app_dir tb404 "http://127.0.0.1:$port/none.tgz" &&
	! out=$(push tb404 tb404) &&
	expect_contains "$out" "cannot download buildpack" &&
	expect_contains "$out" "HTTP 404"
'
test_done
