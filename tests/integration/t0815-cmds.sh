#!/usr/bin/env bash
# The commands people type without thinking (issue 16), on `slipway up`
# with examples/hello deployed over OpenSSH: the SSH command set is the
# CLI's, `ssh git@HOST` alone prints the help, `run` over SSH takes the
# rest of the line as the command, and the Heroku names and conventions
# (-a APP, the app from the git remote, config:get, releases:rollback,
# logs --tail) work from the CLI and over SSH alike.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
# shellcheck disable=SC2086
sshx() { ssh $GIT_SSH_COMMAND_OPTS -p "$SP" git@127.0.0.1 "$@"; }
GIT_SSH_COMMAND_OPTS=${GIT_SSH_COMMAND#ssh }

expect_success 'hello deploys' '
	out=$(cd app && git push "$REMOTE" main 2>&1) &&
	expect_contains "$out" "Live at http://hello.localhost:$PP/"
'

expect_success 'ssh git@HOST with no command prints the help' '
	out=$(sshx </dev/null 2>&1); rc=$? &&
	expect_contains "$out" "Commands (ssh git@HOST COMMAND" &&
	! expect_contains "$out" "shell request failed" >/dev/null &&
	expect_eq 0 "$rc"
'
expect_success 'over SSH the command set is the CLI'"'"'s (but login)' '
	ssh=$(sshx help </dev/null | awk "/^  [a-z]/ && \$1 != \"help\" {print \$1}" | sort) &&
	cli=$(slipway help | awk "/^  [a-z]/ {print \$1}" | grep -Fx -f <(echo "$ssh") | sort) &&
	expect_eq "$ssh" "$cli" &&
	for c in domains:add apps:share builds:log users groups:add-app runners tokens git:set; do
		expect_contains "$ssh" "$c" >/dev/null || { echo "no $c over SSH"; return 1; }
	done &&
	! expect_contains "$ssh" "login" >/dev/null
'
expect_success 'domains and builds:log work over SSH as from the CLI' '
	out=$(sshx domains:add hello www.example.test </dev/null) &&
	expect_eq "$(slipway domains hello)" "$(sshx domains hello </dev/null)" &&
	expect_contains "$(sshx domains hello </dev/null)" www.example.test &&
	sshx domains:remove hello www.example.test </dev/null >/dev/null &&
	out=$(sshx builds:log hello 1 </dev/null) &&
	expect_contains "$out" "Building"
'
expect_success 'run over SSH takes the rest of the line to the container'"'"'s shell' '
	out=$(sshx run hello -- echo \$PORT\; id -u </dev/null 2>/dev/null) &&
	expect_eq 2 "$(printf "%s\n" "$out" | wc -l)" &&
	expect_eq "$(printf "%s\n" "$out" | head -1 | tr -dc 0-9)" "$(printf "%s\n" "$out" | head -1)" &&
	out=$(sshx "run hello echo \"a  b\" | tr a x" </dev/null 2>/dev/null) &&
	expect_eq "x  b" "$out" &&
	out=$(sshx run --timeout 30 hello -- "echo --help" </dev/null 2>/dev/null) &&
	expect_eq "--help" "$out"
'

test_done
