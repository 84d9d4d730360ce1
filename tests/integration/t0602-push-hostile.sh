#!/usr/bin/env bash
# Hostile input against the real `slipway sshd`: unknown keys, keys of
# users not allowed on the app, crafted exec commands (path traversal,
# shell words, substitutions, names with '/'), password logins, shells,
# ptys, port forwarding, and a push that dies in the middle of its pack.
# Each is refused with a clear message and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

for p in git ssh ssh-keygen curl jq head; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json HOME=$T_DIR

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice && push_user mallory || ctl_start_failed
ssh-keygen -q -t ed25519 -N '' -f "$T_DIR/keys/stranger" </dev/null >/dev/null
app_init app
(cd app && as alice git push -q "$(app_url shop)" main 2>/dev/null) || ctl_start_failed
HEAD1=$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main)
# A canary: nothing here may ever create it.
CANARY=$T_DIR/pwned

# The exec command sent as it is (one argument: no local word splitting).
raw() { # NAME COMMAND
	sshx "$1" "$2" 2>&1
}
# The pids of this test's `slipway ssh-exec` processes (the commands the
# sshd runs), one a line.
ssh_execs() {
	local c
	for c in $(pgrep -f "slipway ssh-exec" || true); do
		tr "\0" "\n" <"/proc/$c/environ" 2>/dev/null |
			grep -qx "SLIPWAY_HOME=$SLIPWAY_HOME" && echo "$c"
	done
	return 0
}

expect_success 'an unknown key is refused' '
	! out=$(ssh -i "$T_DIR/keys/stranger" $(ssh_opts alice | sed "s|-i [^ ]*||") git@127.0.0.1 apps 2>&1) &&
	expect_contains "$out" "Permission denied (publickey)"
'
expect_success 'a key whose user is not on the app cannot push or clone it' '
	! out=$(cd app && as mallory git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "you (mallory) may not use app '"'"'shop'"'"'" &&
	! out=$(as mallory git clone -q "$(app_url shop)" m 2>&1) &&
	expect_contains "$out" "may not use app" && ! test -d m &&
	expect_eq 1 "$(rel shop version)"
'
expect_success 'names match exactly: an app of ones own named like another is not it' '
	sshx mallory apps:create shopping </dev/null >/dev/null &&
	! out=$(cd app && as mallory git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "may not use app '"'"'shop'"'"'" &&
	! out=$(cd app && as mallory git push "$(app_url sho)" main 2>&1 </dev/null) ; true &&
	expect_eq "$HEAD1" "$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main)"
'
expect_success "git-receive-pack '../other.git' is refused" '
	! out=$(raw alice "git-receive-pack '"'"'../other.git'"'"'" </dev/null) &&
	expect_contains "$out" "is not a valid app name" &&
	! test -e "$SLIPWAY_HOME/other.git" && ! test -e "$SLIPWAY_HOME/git/../other.git"
'
expect_success "git-receive-pack 'foo.git; id' is refused" '
	! out=$(raw alice "git-receive-pack '"'"'foo.git; touch $CANARY'"'"'" </dev/null) &&
	expect_contains "$out" "is not a valid app name" && ! test -e "$CANARY" &&
	! out=$(raw alice "git-receive-pack '"'"'foo.git'"'"'; touch $CANARY" </dev/null) &&
	! test -e "$CANARY"
'
expect_success 'a command substitution is never run' '
	! out=$(raw alice "\$(touch $CANARY)" </dev/null) &&
	expect_contains "$out" "is not a command here" && ! test -e "$CANARY" &&
	! out=$(raw alice "git-upload-pack \"\$(touch $CANARY)\"" </dev/null) &&
	! test -e "$CANARY" &&
	! out=$(raw alice "\`touch $CANARY\`" </dev/null) && ! test -e "$CANARY" &&
	! out=$(raw alice "apps && touch $CANARY" </dev/null) && ! test -e "$CANARY"
'
expect_success 'an app name with / is refused' '
	! out=$(raw alice "git-receive-pack '"'"'a/b.git'"'"'" </dev/null) &&
	expect_contains "$out" "is not a valid app name" &&
	! out=$(raw alice "git-upload-pack '"'"'/srv/git/shop.git'"'"'" </dev/null) &&
	expect_contains "$out" "is not a valid app name" &&
	! out=$(cd app && as alice git push "ssh://git@127.0.0.1:$SSH_PORT/a/shop.git" main 2>&1)
'
expect_success 'upper case, long and empty names are refused' '
	! out=$(raw alice "git-receive-pack '"'"'Shop.git'"'"'" </dev/null) &&
	! out=$(raw alice "git-receive-pack '"'"'$(printf "a%.0s" $(seq 1 40)).git'"'"'" </dev/null) &&
	! out=$(raw alice "git-receive-pack '"'"''"'"'" </dev/null) &&
	expect_eq "sho shop shopping" "$(api GET /v1/apps | sed "\$d" | jq -r ".[].name" | sort | tr "\n" " " | sed "s/ \$//")"
'
expect_success 'a password login is refused' '
	! out=$(ssh -p "$SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o BatchMode=yes -o PubkeyAuthentication=no \
		-o PreferredAuthentications=password,keyboard-interactive git@127.0.0.1 apps 2>&1) &&
	expect_contains "$out" "Permission denied"
'
expect_success 'a shell request gets no shell, but the help' '
	out=$(sshx alice </dev/null 2>&1) &&
	! expect_contains "$out" "\$ " >/dev/null &&
	! expect_contains "$out" "shell request failed" >/dev/null &&
	expect_contains "$out" "Commands (ssh git@HOST COMMAND" &&
	wait_for "grep -q \"user .alice. runs .help.\" $SSHD_LOG" 10
'
expect_success 'a pty is refused (the command runs without one)' '
	out=$(sshx alice -tt apps </dev/null 2>&1); true &&
	expect_contains "$out" "PTY allocation request failed"
'
expect_success 'remote port forwarding is refused' '
	! out=$(sshx alice -N -o ExitOnForwardFailure=yes -R 0:127.0.0.1:1 </dev/null 2>&1) &&
	expect_contains "$out" "forwarding failed"
'
expect_success 'local port forwarding carries nothing' '
	lp=$(free_port) &&
	{ sshx alice -N -L "$lp:127.0.0.1:$CTL_PORT" </dev/null >fwd.out 2>&1 & } &&
	fpid=$! && wait_port "$lp" 10 &&
	! curl -s -m 5 -o /dev/null "http://127.0.0.1:$lp/v1/health" &&
	kill $fpid
'
expect_success 'a push that dies mid-pack leaves the repository and releases as they were' '
	(cd app && head -c 3000000 /dev/urandom >big.bin && git add big.bin && git commit -q -m big) &&
	printf "#!/bin/sh\nhead -c 200000 | ssh %s \"\$@\"\n" "$(ssh_opts alice)" >cutwrap && chmod +x cutwrap &&
	! out=$(cd app && GIT_SSH_COMMAND=$T_DIR/cutwrap git push "$(app_url shop)" main 2>&1) &&
	wait_for "[ -z \"\$(ssh_execs)\" ]" 30 &&
	expect_eq "$HEAD1" "$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main)" &&
	! git --git-dir="$SLIPWAY_HOME/git/shop.git" cat-file -e "$(git -C app rev-parse HEAD)" 2>/dev/null &&
	expect_eq "" "$(ls -d "$SLIPWAY_HOME"/git/shop.git/objects/tmp_objdir* 2>/dev/null)" &&
	expect_eq 1 "$(rel shop version)" &&
	expect_eq 1 "$(api GET /v1/apps/shop/builds | sed "\$d" | jq length)"
'
expect_success 'and the next whole push goes through' '
	out=$(cd app && as alice git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "Release v2"
'
expect_success 'a command longer than the cap is refused' '
	long=$(printf "x%.0s" $(seq 1 5000)) &&
	! out=$(raw alice "apps $long" </dev/null) &&
	expect_contains "$out" "exec request failed" &&
	wait_for "grep -q \"refused a command of 5005 bytes\" $SSHD_LOG" 10
'
expect_success 'a command runs with the user'"'"'s session token only, gone after' '
	svc=$(cat "$SLIPWAY_HOME/ssh/service-token") &&
	mkfifo hold && { (sshx alice keys:add <hold >/dev/null 2>&1) & } &&
	exec 5>hold &&
	wait_for "p=\$(ssh_execs) && [ -n \"\$p\" ]" 30 &&
	env=$(tr "\0" "\n" <"/proc/$p/environ") &&
	expect_contains "$env" "SLIPWAY_SSH_USER=alice" &&
	expect_contains "$env" "SLIPWAY_CONFIG=/dev/null" &&
	tok=$(echo "$env" | sed -n "s/^SLIPWAY_TOKEN=//p") &&
	[ -n "$tok" ] && [ "$tok" != "$svc" ] &&
	! expect_contains "$env" "$svc" >/dev/null &&
	expect_eq alice "$(curl -s -H "Authorization: Bearer $tok" "$CTL_URL/v1/me" | jq -r .name)" &&
	exec 5>&- && wait &&
	wait_for "[ \$(curl -s -o /dev/null -w %{http_code} -H \"Authorization: Bearer $tok\" $CTL_URL/v1/me) = 401 ]" 10
'
expect_success 'the sshd is still serving after all that' '
	out=$(sshx alice apps </dev/null) && expect_contains "$out" "shop" &&
	kill -0 "$SSHD_PID"
'

test_done
