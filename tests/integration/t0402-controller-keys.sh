#!/usr/bin/env bash
# SSH keys through keys:add / keys / keys:remove: ed25519, rsa and ecdsa
# keys made by ssh-keygen get the fingerprint `ssh-keygen -lf` prints;
# garbage, truncated, private, weak and duplicate keys are refused with
# the reason; one key belongs to one user.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

command -v jq >/dev/null || skip_all "jq is not installed"
command -v ssh-keygen >/dev/null || skip_all "ssh-keygen is not installed"
export SLIPWAY_CONFIG=$T_DIR/client.json

ctl_start || ctl_start_failed
slipway users:add alice >/dev/null
ALICE=$(slipway tokens:create --user alice 2>/dev/null)
as() { local t=$1; shift; SLIPWAY_TOKEN=$t slipway "$@"; }
fp() { ssh-keygen -lf "$1" | cut -d" " -f2; }

ssh-keygen -q -t ed25519 -N "" -C alice@laptop -f ed
ssh-keygen -q -t rsa -b 3072 -N "" -C alice@rsa -f rsa
ssh-keygen -q -t ecdsa -b 384 -N "" -C alice@ecdsa -f ecdsa
ssh-keygen -q -t rsa -b 1024 -N "" -f weak 2>/dev/null

for k in ed rsa ecdsa; do
	expect_success "a $k key is added with ssh-keygen's fingerprint" '
		out=$(as "$ALICE" keys:add "$k.pub") &&
		expect_contains "$out" "$(fp "$k.pub")" &&
		expect_contains "$(as "$ALICE" keys)" "$(fp "$k.pub")"
	'
done
expect_success 'keys --json lists type, comment and owner' '
	out=$(as "$ALICE" keys --json) &&
	expect_eq 3 "$(jq length <<<"$out")" &&
	expect_eq "alice alice@laptop ssh-ed25519" \
		"$(jq -r ".[] | select(.type==\"ssh-ed25519\") | [.user, .comment, .type] | join(\" \")" <<<"$out")"
'
expect_success 'a duplicate is refused, for the same user and for another' '
	out=$(as "$ALICE" keys:add ed.pub 2>&1); expect_eq 1 $? &&
	expect_contains "$out" "already registered" &&
	out=$(slipway keys:add ed.pub 2>&1); expect_contains "$out" "already registered"
'
expect_success 'keys from stdin' '
	ssh-keygen -q -t ed25519 -N "" -f stdin_key &&
	out=$(as "$ALICE" keys:add - <stdin_key.pub) && expect_contains "$out" "$(fp stdin_key.pub)"
'
expect_success 'garbage is refused with the reason' '
	echo "hello world" >garbage.pub &&
	out=$(as "$ALICE" keys:add garbage.pub 2>&1); expect_eq 1 $? &&
	expect_contains "$out" "unknown key type"
'
expect_success 'a truncated key is refused' '
	head -c 60 ed.pub >trunc.pub &&
	out=$(as "$ALICE" keys:add trunc.pub 2>&1); expect_eq 1 $? &&
	expect_contains "$out" "malformed"
'
expect_success 'a key with bytes appended to its data is refused' '
	awk "{ print \$1, \$2 \"AAAA\", \$3 }" rsa.pub >long.pub &&
	out=$(as "$ALICE" keys:add long.pub 2>&1); expect_eq 1 $? &&
	expect_contains "$out" "malformed"
'
expect_success 'a private key is refused' '
	out=$(as "$ALICE" keys:add ed 2>&1); expect_eq 1 $? && expect_contains "$out" "key"
'
expect_success 'an empty file is refused' '
	: >empty.pub && out=$(as "$ALICE" keys:add empty.pub 2>&1); expect_eq 1 $? &&
	expect_contains "$out" "empty"
'
expect_success 'a 1024-bit RSA key is refused as weak' '
	out=$(as "$ALICE" keys:add weak.pub 2>&1); expect_eq 1 $? && expect_contains "$out" "1024 bits"
'
expect_success 'two keys in one file are refused' '
	cat ed.pub rsa.pub >two.pub &&
	out=$(as "$ALICE" keys:add two.pub 2>&1); expect_eq 1 $? && expect_contains "$out" "one line"
'
expect_success 'a huge file is refused before upload' '
	head -c 100000 /dev/zero | tr "\0" A >huge.pub &&
	out=$(as "$ALICE" keys:add huge.pub 2>&1); expect_eq 1 $?
'
expect_success 'the API says 422 for a bad key and 409 for a duplicate' '
	out=$(api POST /v1/keys "$ALICE" -d "{\"public_key\":\"ssh-ed25519 AAAA\"}") &&
	expect_eq 422 "$(api_status "$out")" &&
	out=$(api POST /v1/keys "$ALICE" -d "$(jq -n --rawfile k ed.pub "{public_key:\$k}")") &&
	expect_eq 409 "$(api_status "$out")"
'
expect_success 'a member sees only their keys; an admin sees all' '
	ssh-keygen -q -t ed25519 -N "" -C admin -f admin_key &&
	slipway keys:add admin_key.pub >/dev/null &&
	expect_eq 4 "$(as "$ALICE" keys --json | jq length)" &&
	expect_eq 5 "$(slipway keys --json | jq length)"
'
expect_failure 'a member cannot remove another user'"'"'s key' '
	as "$ALICE" keys:remove "$(fp admin_key.pub)"
'
expect_failure 'a member cannot add a key for another user' '
	ssh-keygen -q -t ed25519 -N "" -f other && as "$ALICE" keys:add --user admin other.pub
'
expect_success 'an admin adds a key for a user' '
	out=$(slipway keys:add --user alice other.pub) && expect_contains "$out" "for alice"
'
expect_success 'keys:remove, then the key can be added again' '
	f=$(fp ed.pub) && as "$ALICE" keys:remove "$f" >/dev/null &&
	! as "$ALICE" keys --json | jq -r ".[].fingerprint" | grep -qx "$f" &&
	out=$(slipway keys:add --user alice ed.pub) && expect_contains "$out" "$f"
'
expect_failure 'keys:remove of an unknown fingerprint fails' '
	slipway keys:remove "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
'
expect_success 'the key lookup the SSH server uses: fingerprint to user' '
	f=$(fp rsa.pub) && out=$(api GET "/v1/keys/$f") &&
	expect_eq 200 "$(api_status "$out")" &&
	expect_eq alice "$(api_body "$out" | jq -r .user)"
'

test_done
