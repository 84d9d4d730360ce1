#!/usr/bin/env bash
# Over SSH an admin command reads only the channel's stdin, never a path
# on the server (issue 18, break 1): `keys:add FILE` once read FILE as the
# server's user and echoed its first word ("unknown key type 'vm'" for
# /etc/hostname), registered a server key to the member, and told which
# paths exist.  Every admin command is tried with server paths as its
# arguments: none may show a byte of the file or whether it exists.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed
sshx alice apps:create shop </dev/null >/dev/null 2>&1 || ctl_start_failed

# Files only the server can read: a "secret" whose first word would be
# echoed as a key type, and a public key of the server's own.
mkdir -p "$T_DIR/server" && chmod 700 "$T_DIR/server"
printf 'S3CRETWORD rest of the secret\n' >"$T_DIR/server/secret"
ssh-keygen -q -t ed25519 -N '' -C root@server -f "$T_DIR/server/id_ed25519" </dev/null >/dev/null
SECRET=$T_DIR/server/secret SERVERKEY=$T_DIR/server/id_ed25519.pub
SERVERFP=$(ssh-keygen -lf "$SERVERKEY" | cut -d" " -f2)
# Does the answer lack the needle?  (expect_contains, the other way.)
lacks() { # haystack needle
	case $1 in *"$2"*) echo "the answer shows '$2': $1"; return 1 ;; esac
	return 0
}
# The secret there, or gone: the same path must get the same answer.
hide() { mv "$SECRET" "$SECRET.away"; }
unhide() { mv "$SECRET.away" "$SECRET"; }
alice_fps() { api GET "/v1/keys?user=alice" | sed '$d' | jq -r ".[].fingerprint"; }

expect_success 'keys:add FILE is refused with one line saying to pipe the key' '
	! out=$(sshx alice keys:add "$SECRET" </dev/null 2>&1) &&
	expect_eq 1 "$(printf "%s\n" "$out" | wc -l)" &&
	expect_contains "$out" "keys:add < key.pub" &&
	lacks "$out" "S3CRETWORD" && lacks "$out" "unknown key type"
'
expect_success 'a server public key named by path is not registered' '
	! out=$(sshx alice keys:add "$SERVERKEY" </dev/null 2>&1) &&
	expect_contains "$out" "keys:add < key.pub" &&
	! alice_fps | grep -qx "$SERVERFP" &&
	! out=$(sshx alice keys:add --user alice "$SERVERKEY" </dev/null 2>&1) &&
	! alice_fps | grep -qx "$SERVERFP"
'
expect_success 'a missing path and an existing one get the same answer' '
	! a=$(sshx alice keys:add "$SECRET" </dev/null 2>&1) &&
	hide && ! b=$(sshx alice keys:add "$SECRET" </dev/null 2>&1); unhide &&
	lacks "$b" "No such file" && expect_eq "$a" "$b"
'
expect_success 'a path after the key on stdin is refused too, and nothing is added' '
	ssh-keygen -q -t ed25519 -N "" -f both </dev/null >/dev/null &&
	! out=$(sshx alice keys:add "$SERVERKEY" <both.pub 2>&1) &&
	expect_contains "$out" "keys:add < key.pub" &&
	! alice_fps | grep -qx "$(ssh-keygen -lf both.pub | cut -d" " -f2)" &&
	! alice_fps | grep -qx "$SERVERFP"
'
expect_success 'keys:add reads the key from stdin, with or without -' '
	ssh-keygen -q -t ed25519 -N "" -f k1 </dev/null >/dev/null &&
	ssh-keygen -q -t ed25519 -N "" -f k2 </dev/null >/dev/null &&
	out=$(sshx alice keys:add <k1.pub 2>&1) &&
	expect_contains "$out" "$(ssh-keygen -lf k1.pub | cut -d" " -f2)" &&
	out=$(sshx alice keys:add - <k2.pub 2>&1) &&
	expect_contains "$out" "$(ssh-keygen -lf k2.pub | cut -d" " -f2)"
'
expect_success 'a key on stdin is capped' '
	head -c 100000 /dev/zero | tr "\0" A >huge.pub &&
	! out=$(sshx alice keys:add <huge.pub 2>&1) &&
	expect_contains "$out" "at most"
'
expect_success 'keys:add --help over SSH shows the stdin form' '
	out=$(sshx alice keys:add --help </dev/null 2>&1) &&
	expect_contains "$out" "keys:add [--user U] < KEY.pub" &&
	lacks "$out" "FILE" &&
	out=$(sshx alice help </dev/null 2>&1) &&
	expect_contains "$out" "from stdin" && lacks "$out" "FILE"
'
# Every command the sshd offers, with a server path where its arguments
# go: it may fail, but no answer may carry the secret, and the answer must
# be the same when the file is not there.
ARGS=("P" "shop P" "shop P P" "--user alice P")
admin_answers() { # prints one answer per command and argument list
	local c args
	for c in $CMDS; do
		for args in "${ARGS[@]}"; do
			printf '== %s %s\n' "$c" "$args"
			sshx alice "$c ${args//P/$SECRET}" </dev/null 2>&1
		done
	done
	return 0
}
CMDS=$(sshx alice help </dev/null | awk '/^  [a-z]/ && $1 != "help" {print $1}')
expect_success 'no admin command reads a server path given as an argument' '
	[ -n "$CMDS" ] && admin_answers >with.txt &&
	hide && admin_answers >without.txt && unhide &&
	lacks "$(cat with.txt)" "S3CRETWORD" &&
	diff with.txt without.txt
'
expect_success 'the sshd still serves' '
	out=$(sshx alice apps </dev/null) && expect_contains "$out" "shop"
'

test_done
