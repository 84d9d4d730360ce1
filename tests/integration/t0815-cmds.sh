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
	wait_for "slipway runners --json | jq -e \".[0].live and .[0].reported_at != null\"" 30 &&
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
	expect_eq "--help" "$out" &&
	out=$(sshx "run hello -- '"'"'echo one; echo two'"'"'" </dev/null 2>/dev/null) &&
	expect_eq "one two" "$(echo $out)"
'

expect_success 'git:remote adds the remote deploy, and points it again' '
	out=$(cd app && slipway git:remote hello) &&
	expect_eq "set git remote deploy to ssh://git@127.0.0.1:$SP/hello.git" "$out" &&
	expect_eq "ssh://git@127.0.0.1:$SP/hello.git" "$(git -C app remote get-url deploy)" &&
	out=$(cd app && slipway git:remote -a hello -r other) &&
	expect_eq "ssh://git@127.0.0.1:$SP/hello.git" "$(git -C app remote get-url other)" &&
	git -C app remote set-url other nowhere &&
	(cd app && slipway git:remote hello -r other >/dev/null) &&
	expect_eq "ssh://git@127.0.0.1:$SP/hello.git" "$(git -C app remote get-url other)" &&
	git -C app remote remove other &&
	! out=$(cd "$T_DIR" && slipway git:remote hello 2>&1) &&
	expect_contains "$out" "cannot set git remote"
'
expect_success 'in the repository the app comes from its remote' '
	(cd app && slipway config:set GREETING=bonjour >/dev/null) &&
	out=$(cd app && slipway config:get GREETING) && expect_eq bonjour "$out" &&
	out=$(cd app/public && slipway ps) && expect_contains "$out" "web" &&
	out=$(cd app && slipway releases --limit 1) && expect_contains "$out" "v2" &&
	out=$(cd app && slipway releases:info v1) && expect_contains "$out" "v1" &&
	! out=$(cd "$T_DIR" && slipway config:get GREETING 2>&1) &&
	expect_contains "$out" "usage: slipway config:get APP KEY"
'
expect_success 'a remote named deploy wins; several others and none named deploy say -a' '
	slipway apps:create other >/dev/null &&
	git -C app remote add x "ssh://git@127.0.0.1:$SP/other.git" &&
	out=$(cd app && slipway config:get GREETING) && expect_eq bonjour "$out" &&
	git -C app remote rename deploy y &&
	! out=$(cd app && slipway config:get GREETING 2>&1) &&
	expect_contains "$out" "several apps here and none named deploy: give -a APP" &&
	out=$(cd app && slipway config:get -a hello GREETING) && expect_eq bonjour "$out" &&
	git -C app remote remove x && git -C app remote rename y deploy &&
	git -C app remote add gh "git@github.com:someone/hello.git" &&
	out=$(cd app && slipway config:get GREETING) && expect_eq bonjour "$out"
'
expect_success '-a APP on app commands, from the CLI and over SSH' '
	out=$(slipway config:get -a hello GREETING) && expect_eq bonjour "$out" &&
	out=$(slipway config:get GREETING --app=hello) && expect_eq bonjour "$out" &&
	out=$(sshx config:get -a hello GREETING </dev/null) && expect_eq bonjour "$out" &&
	out=$(sshx run -a hello -- echo \$GREETING </dev/null 2>/dev/null) && expect_eq bonjour "$out" &&
	! out=$(slipway apps -a hello 2>&1) && expect_contains "$out" "takes no app"
'
expect_success 'config:get of an unset var prints nothing and exits 1' '
	! out=$(slipway config:get hello NOPE) && expect_eq "" "$out" &&
	out=$(slipway config:get hello GREETING --json) && expect_eq "\"bonjour\"" "$out"
'
expect_success 'releases:rollback is Heroku'"'"'s rollback' '
	out=$(slipway releases:rollback hello v1) && expect_contains "$out" "v3" &&
	! slipway config:get hello GREETING &&
	out=$(cd app && slipway releases:rollback v2) && expect_contains "$out" "v4" &&
	expect_eq bonjour "$(slipway config:get hello GREETING)"
'
expect_success 'logs --tail follows' '
	timeout 5 slipway logs hello --tail >tail.out 2>&1; rc=$? &&
	expect_eq 124 "$rc" && [ -s tail.out ]
'

expect_success 'run --detach prints the id and returns; run:output shows the output' '
	id=$(slipway run --detach hello -- "sleep 1; echo later" 2>err.txt) &&
	expect_contains "$(cat err.txt)" "detached" &&
	expect_contains "$(cat err.txt)" "slipway run:output hello $id" &&
	out=$(slipway run:output hello "$id" 2>/dev/null) && expect_eq later "$out" &&
	id=$(sshx run:detached hello -- echo \$PORT\; exit 3 </dev/null 2>/dev/null) &&
	! out=$(cd app && slipway run:output "$id" 2>&1) &&
	expect_contains "$out" "Exited with status 3" &&
	! out=$(slipway run:output hello nothex 2>&1) &&
	expect_contains "$out" "is not a one-off"
'

get() { curl -s -H "Host: hello.localhost" "http://127.0.0.1:$PP$1"; }
expect_success 'each request is a router line in the app'"'"'s log; --source selects' '
	get /router-probe >/dev/null &&
	wait_for "slipway logs hello --source router | grep -q router-probe" 20 &&
	out=$(slipway logs hello --source router | grep router-probe) &&
	expect_contains "$out" " router: at=info method=GET path=\"/router-probe\" host=hello.localhost" &&
	expect_contains "$out" "status=404" &&
	expect_contains "$out" "fwd=\"127.0.0.1\"" &&
	printf "%s\n" "$out" | grep -Eq "service=[0-9]+ms" &&
	printf "%s\n" "$out" | grep -Eq "bytes=[0-9]+" &&
	! slipway logs hello --source router -n 1000 | grep -v " router: " &&
	! slipway logs hello --source app -n 1000 | grep -E " (router|slipway[^ ]*): " &&
	out=$(sshx logs hello --source router </dev/null) && expect_contains "$out" router-probe &&
	! out=$(slipway logs hello --source nginx 2>&1) &&
	expect_contains "$out" "--source is router"
'

code() { curl -s -o /dev/null -w "%{http_code}" -H "Host: hello.localhost" "http://127.0.0.1:$PP/"; }
expect_success 'maintenance:on answers 503 with the page; :off serves again' '
	expect_eq 200 "$(code)" && expect_eq off "$(slipway maintenance hello)" &&
	out=$(slipway maintenance:on hello) && expect_eq "Maintenance mode on for hello" "$out" &&
	expect_eq on "$(slipway maintenance hello)" &&
	wait_for "[ \"\$(code)\" = 503 ]" 10 &&
	expect_contains "$(get /)" "maintenance" &&
	out=$(cd app && sshx maintenance:off -a hello </dev/null) &&
	expect_eq "Maintenance mode off for hello" "$out" &&
	wait_for "[ \"\$(code)\" = 200 ]" 10 &&
	expect_eq "{\"app\":\"hello\",\"maintenance\":false}" "$(slipway maintenance hello --json | jq -c .)"
'
expect_success 'maintenance stays on across a new release' '
	slipway maintenance:on hello >/dev/null &&
	wait_for "[ \"\$(code)\" = 503 ]" 10 &&
	slipway config:set hello M=1 >/dev/null && slipway releases:wait hello >/dev/null &&
	expect_eq 503 "$(code)" &&
	slipway maintenance:off hello >/dev/null &&
	wait_for "[ \"\$(code)\" = 200 ]" 10
'

ncont() { slipway ps hello --json | jq ".containers | length"; }
expect_success 'ps:stop scales every type to 0 and ps:start brings the counts back' '
	slipway ps:scale hello web=2 >/dev/null &&
	out=$(slipway ps:stop hello) && expect_eq "Stopped hello: web=2" "$out" &&
	expect_eq 0 "$(slipway ps hello --json | jq .formation.web)" &&
	wait_for "[ \"\$(ncont)\" = 0 ]" 30 &&
	! out=$(slipway ps:stop hello 2>&1) && expect_contains "$out" "stopped already; ps:start starts it" &&
	out=$(cd app && slipway ps:start) && expect_eq "Started hello: web=2" "$out" &&
	! out=$(slipway ps:start hello 2>&1) && expect_contains "$out" "is not stopped" &&
	wait_for "[ \"\$(code)\" = 200 ]" 30 &&
	slipway ps:scale hello web=1 >/dev/null
'

expect_success 'apps:rename renames an app without builds (t0822: one with images)' '
	slipway apps:create fresh >/dev/null &&
	(cd "$T_DIR" && rm -rf f && mkdir f && cd f && git init -q -b main && git commit -q --allow-empty -m x &&
		! git push "ssh://git@127.0.0.1:$SP/fresh.git" main >/dev/null 2>&1) &&
	out=$(slipway apps:rename fresh newer) && expect_eq "Renamed fresh to newer" "$out" &&
	slipway apps | grep -q "^newer " && ! slipway apps | grep -q "^fresh " &&
	[ -d "$SLIPWAY_HOME/git/newer.git" ] && [ ! -e "$SLIPWAY_HOME/git/fresh.git" ] &&
	! out=$(slipway apps:rename newer other 2>&1) && expect_contains "$out" "an app named '"'"'other'"'"' exists" &&
	! out=$(slipway apps:rename newer "Bad/Name" 2>&1) && expect_contains "$out" "invalid app name" &&
	expect_eq 200 "$(code)"
'

expect_success 'Dokku'"'"'s names where they differ: apps:list, config:show, logs -t' '
	expect_eq "$(slipway apps)" "$(slipway apps:list)" &&
	expect_eq "$(slipway config hello)" "$(sshx config:show hello </dev/null)" &&
	timeout 3 slipway logs hello -t >t.out 2>&1; expect_eq 124 $? && [ -s t.out ]
'

test_done
