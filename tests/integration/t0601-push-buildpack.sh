#!/usr/bin/env bash
# Buildpacks in a real push: a buildpack written in shell
# (tests/fixtures/buildpacks/shell) is detected, compiles in a runc
# container of the stack as the stack's user, gets the config in ENV_DIR,
# keeps its cache between builds, and its bin/release fills in process
# types; BUILDPACK_URL (an installed name or a git URL) and slipway.yml pick
# buildpacks; a failing build rejects the push and the branch stays; two
# pushes at once: the second is turned away; a push cut off mid-build
# stops its build; the compile time limit holds.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients
BP=$SLIPWAY_TOP/tests/fixtures/buildpacks/shell
# Builds run in runc when root with runc; elsewhere on the host.
SANDBOX=no
[ "$(id -u)" = 0 ] && command -v runc >/dev/null && SANDBOX=yes

at_exit push_cleanup_sandbox
at_exit '[ ! -f "$T_DIR/gitd.pid" ] || kill "$(cat "$T_DIR/gitd.pid")"'

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed
mkdir -p "$SLIPWAY_HOME/buildpacks" && cp -r "$BP" "$SLIPWAY_HOME/buildpacks/shell"

# An app the shell buildpack applies to: build.sh makes bin/web.
mkdir app && (cd app && git init -q -b main &&
	printf 'mkdir -p bin\nprintf "#!/bin/sh\\necho web\\n" >bin/web\nchmod +x bin/web\necho built by build.sh\n' >build.sh &&
	printf '*.log\n' >.slugignore && echo noise >debug.log &&
	git add -A && git commit -q -m one)
push() { (cd "${2:-app}" && as alice git push "$(app_url "$1")" "${3:-main}" 2>&1); }

expect_success 'the installed buildpack is detected, compiles and releases' '
	out=$(push bp) &&
	expect_contains "$out" "remote: -----> Shell app detected" &&
	expect_contains "$out" "remote: -----> Running build.sh" &&
	expect_contains "$out" "remote:        built by build.sh" &&
	expect_contains "$out" "remote:        builds so far: 1" &&
	expect_contains "$out" "Process types: web, worker" &&
	expect_contains "$out" "Release v1" &&
	b=$(api GET /v1/apps/bp/builds/1 | sed "\$d") &&
	expect_eq "./bin/worker --loop" "$(echo "$b" | jq -r .process_types.worker)"
'
if [ "$SANDBOX" = yes ]; then
	expect_success 'it compiled in a container, as the stack'"'"'s user' '
		out=$(SLIPWAY_TOKEN=$ADMIN slipway builds:log bp 1) &&
		expect_contains "$out" "running as uid 1000" &&
		! expect_contains "$out" "no isolation" >/dev/null
	'
	expect_success 'no container, bundle or mount is left behind' '
		expect_eq "" "$(runc --root "$SLIPWAY_HOME/sandbox/runc" list -q 2>/dev/null)" &&
		expect_eq "" "$(ls "$SLIPWAY_HOME/sandbox" | grep -v "^runc$")" &&
		! grep -q "$SLIPWAY_HOME/sandbox" /proc/mounts &&
		expect_eq "" "$(ls "$SLIPWAY_HOME/builds/work")"
	'
else
	skip 'compile in a container' "needs root and runc"
fi
expect_success '.slugignore went before the compile' '
	out=$(SLIPWAY_TOKEN=$ADMIN slipway builds:log bp 1) &&
	expect_contains "$out" "files: .slugignore build.sh" &&
	! expect_contains "$out" "debug.log" >/dev/null
'
expect_success 'the cache survives and config vars arrive in ENV_DIR' '
	SLIPWAY_TOKEN=$ADMIN slipway config:set bp "GREETING=hello there" >/dev/null &&
	(cd app && git commit -q --allow-empty -m two) &&
	out=$(push bp) &&
	expect_contains "$out" "builds so far: 2" &&
	expect_contains "$out" "greeting: hello there" &&
	expect_contains "$out" "Release v3"
'
expect_success 'the build sees no credential of the push' '
	(cd app && touch PRINT_ENV && git add PRINT_ENV && git commit -q -m env) &&
	out=$(push bp) && expect_contains "$out" "env: SOURCE_VERSION=$(git -C app rev-parse HEAD)" &&
	! expect_contains "$out" "SLIPWAY_" >/dev/null &&
	! expect_contains "$out" "slw_" >/dev/null &&
	(cd app && git rm -q PRINT_ENV && git commit -q -m noenv)
'
expect_success 'a failing build rejects the push and the branch stays' '
	before=$(git --git-dir="$SLIPWAY_HOME/git/bp.git" rev-parse main) &&
	(cd app && touch FAIL && git add FAIL && git commit -q -m fail) &&
	! out=$(push bp) &&
	expect_contains "$out" "Build failed: bin/compile of '"'"'Shell'"'"' failed (exit status 3)" &&
	expect_contains "$out" "pre-receive hook declined" &&
	expect_eq "$before" "$(git --git-dir="$SLIPWAY_HOME/git/bp.git" rev-parse main)" &&
	expect_eq 4 "$(rel bp version)" &&
	n=$(api GET /v1/apps/bp/builds | sed "\$d" | jq -r ".[0].number") &&
	b=$(api GET "/v1/apps/bp/builds/$n" | sed "\$d") &&
	expect_eq failed "$(echo "$b" | jq -r .status)" &&
	expect_contains "$(echo "$b" | jq -r .error)" "exit status 3" &&
	(cd app && git reset -q --hard HEAD~1)
'
expect_success 'a configured buildpack that does not apply fails the build' '
	SLIPWAY_TOKEN=$ADMIN slipway apps:create other >/dev/null &&
	SLIPWAY_TOKEN=$ADMIN slipway apps:share other alice >/dev/null &&
	SLIPWAY_TOKEN=$ADMIN slipway config:set other "BUILDPACK_URL=shell" >/dev/null &&
	app_init plain &&
	! out=$(push other plain) &&
	expect_contains "$out" "not compatible with buildpack"
'
expect_success 'with no buildpack that applies, the Procfile says what runs' '
	out=$(push noapply plain) &&
	expect_contains "$out" "No buildpack applies; the Procfile says what runs" &&
	expect_contains "$out" "Release v1"
'
expect_success 'BUILDPACK_URL may name an installed buildpack' '
	SLIPWAY_TOKEN=$ADMIN slipway config:set bp "BUILDPACK_URL=shell" >/dev/null &&
	(cd app && git commit -q --allow-empty -m dir) &&
	out=$(push bp) && expect_contains "$out" "Shell app detected" &&
	expect_contains "$out" "builds so far: 5"
'
expect_success 'BUILDPACK_URL may be a git URL with a ref' '
	git init -q --bare bp.git && rm -rf bpsrc && cp -r "$BP" bpsrc &&
	(cd bpsrc && git init -q -b v1 && git add -A && git commit -q -m bp &&
		git push -q ../bp.git v1) &&
	gport=$(free_port) &&
	{ git daemon --export-all --base-path="$T_DIR" --listen=127.0.0.1 --port="$gport" --pid-file="$T_DIR/gitd.pid" --detach &&
		wait_port "$gport"; } &&
	SLIPWAY_TOKEN=$ADMIN slipway config:set bp "BUILDPACK_URL=git://127.0.0.1:$gport/bp.git#v1" >/dev/null &&
	(cd app && git commit -q --allow-empty -m git) &&
	out=$(push bp) && expect_contains "$out" "Fetching buildpack git://127.0.0.1:$gport/bp.git#v1" &&
	expect_contains "$out" "Shell app detected" && expect_contains "$out" "Release"
'
expect_success 'a BUILDPACK_URL that is neither fails plainly' '
	SLIPWAY_TOKEN=$ADMIN slipway config:set bp "BUILDPACK_URL=nonsense here" >/dev/null &&
	(cd app && git commit -q --allow-empty -m bad) &&
	! out=$(push bp) &&
	expect_contains "$out" "is neither an installed buildpack" &&
	(cd app && git reset -q --hard HEAD~1) &&
	SLIPWAY_TOKEN=$ADMIN slipway config:unset bp BUILDPACK_URL >/dev/null
'
expect_success 'slipway.yml names buildpacks by installed name' '
	(cd plain && printf "buildpacks:\n  - shell\n" >slipway.yml && touch build.sh &&
		git add -A && git commit -q -m yml) &&
	out=$(push ymlbp plain) && expect_contains "$out" "Shell app detected"
'
if [ "$(id -u)" = 0 ]; then
expect_success 'where runc cannot run, root does not run a buildpack on the host' '
	mkdir -p norunc && ln -sf "$SLIPWAY_BIN" norunc/slipway &&
	! out=$(PATH=$T_DIR/norunc SLIPWAY_TOKEN=$ADMIN slipway hook build bp 2>&1) &&
	expect_contains "$out" "cannot build in a container here (runc is not installed); a buildpack is not run on the host as root: install runc, or set SLIPWAY_BUILD_ON_HOST=1" &&
	! expect_contains "$out" "Release" >/dev/null
'
fi
expect_success 'where runc cannot run, the build runs on the host and says so' '
	mkdir -p norunc && ln -sf "$SLIPWAY_BIN" norunc/slipway &&
	out=$(PATH=$T_DIR/norunc SLIPWAY_BUILD_ON_HOST=1 SLIPWAY_TOKEN=$ADMIN slipway hook build bp 2>&1) &&
	expect_contains "$out" "cannot build in a container here (runc is not installed); building on the host" &&
	expect_contains "$out" "running as uid $(id -u)" &&
	expect_contains "$out" "Release"
'

# Two pushes at once: the first is held in its compile until told to go.
# The app's cache is keyed by its uid.
CACHE=$SLIPWAY_HOME/cache/$(api GET /v1/apps/bp | sed '$d' | jq -r .uid)
expect_success 'a second push while one builds is turned away' '
	(cd app && echo go >WAIT_FOR && git add WAIT_FOR && git commit -q -m wait) &&
	rm -f "$CACHE/waiting" &&
	{ (push bp >push1.out 2>&1; echo $? >push1.rc) & } &&
	for i in $(seq 1 300); do test -e "$CACHE/waiting" && break; sleep 0.1; done &&
	test -e "$CACHE/waiting" &&
	rm -rf app2 && cp -r app app2 && (cd app2 && git commit -q --allow-empty -m second) &&
	! out=$(push bp app2) &&
	expect_contains "$out" "app '"'"'bp'"'"' is busy: a push or build by alice is running" &&
	! out=$(SLIPWAY_TOKEN=$ADMIN slipway builds:create bp 2>&1) &&
	expect_contains "$out" "is busy" &&
	touch "$CACHE/go" &&
	for i in $(seq 1 300); do test -e push1.rc && break; sleep 0.1; done &&
	expect_eq 0 "$(cat push1.rc)" && expect_contains "$(cat push1.out)" "Release"
'
expect_success 'a push cut off mid-build stops the build and releases nothing' '
	before=$(rel bp version) &&
	(cd app && git commit -q --allow-empty -m cut) &&
	rm -f "$CACHE/waiting" ssh.pid &&
	printf "#!/bin/sh\necho \$\$ >%s/ssh.pid\nexec ssh %s \"\$@\"\n" "$T_DIR" "$(ssh_opts alice)" >sshwrap &&
	chmod +x sshwrap &&
	{ (cd app && GIT_SSH_COMMAND=$T_DIR/sshwrap git push "$(app_url bp)" main >../cut.out 2>&1; echo $? >../cut.rc) & } &&
	for i in $(seq 1 300); do test -e "$CACHE/waiting" && break; sleep 0.1; done &&
	test -e "$CACHE/waiting" && kill -9 "$(cat ssh.pid)" &&
	for i in $(seq 1 300); do test -e cut.rc && break; sleep 0.1; done &&
	test -e cut.rc && [ "$(cat cut.rc)" != 0 ] &&
	n=$(api GET /v1/apps/bp/builds | sed "\$d" | jq -r ".[0].number") &&
	for i in $(seq 1 300); do
		s=$(api GET "/v1/apps/bp/builds/$n" | sed "\$d" | jq -r .status)
		[ "$s" = failed ] && break; sleep 0.1
	done &&
	expect_eq failed "$s" &&
	expect_contains "$(api GET "/v1/apps/bp/builds/$n" | sed "\$d" | jq -r .error)" "cancelled" &&
	expect_eq "$before" "$(rel bp version)" &&
	expect_eq "" "$(runc --root "$SLIPWAY_HOME/sandbox/runc" list -q 2>/dev/null)" &&
	(cd app && git reset -q --hard HEAD~2)
'
expect_success 'the compile time limit stops a build that runs too long' '
	(cd app && echo never >WAIT_FOR && git add WAIT_FOR && git commit -q -m slow) &&
	(cd app && as alice git push -q "$(app_url bp)" HEAD:refs/tags/slow 2>/dev/null) &&
	! out=$(SLIPWAY_TOKEN=$ADMIN SLIPWAY_BUILD_TIMEOUT=2 slipway hook build bp --rev slow 2>&1) &&
	expect_contains "$out" "ran longer than 2 s and was stopped" &&
	expect_eq "" "$(runc --root "$SLIPWAY_HOME/sandbox/runc" list -q 2>/dev/null)"
'

test_done
