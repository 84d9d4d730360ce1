#!/usr/bin/env bash
# Paths of the controller's API with empty segments: a key fingerprint is
# base64 and may hold "/" or "//" (keys:remove failed for such keys with
# "no such endpoint"), while "apps//x" or a trailing slash are still no
# endpoint.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for p in curl jq ssh-keygen; do
	command -v $p >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json
ctl_start || ctl_start || ctl_start_failed
slipway apps:create shop >/dev/null

err() { api_body "$1" | jq -r .error; }

expect_success 'a fingerprint with "//" reaches the key lookup (not found, not "no such endpoint")' '
	out=$(api GET "/v1/keys/SHA256:ab//cd/ef") &&
	expect_eq 404 "$(api_status "$out")" &&
	expect_contains "$(err "$out")" "SHA256:ab//cd/ef" &&
	case $(err "$out") in *endpoint*) false ;; esac
'
expect_success 'a key whose fingerprint holds "/" is shown and removed' '
	for i in $(seq 400); do
		rm -f k k.pub && ssh-keygen -q -t ed25519 -N "" -C t -f k &&
		f=$(ssh-keygen -lf k.pub | cut -d" " -f2) &&
		case $f in *//*) break ;; esac
		case $f in *SHA256:*/*) [ $i -gt 40 ] && break ;; esac
	done &&
	case $f in */*) ;; *) echo "no fingerprint with a slash in 400 keys"; false ;; esac &&
	slipway keys:add k.pub >/dev/null &&
	out=$(api GET "/v1/keys/$f") && expect_eq 200 "$(api_status "$out")" &&
	slipway keys:remove "$f" >/dev/null &&
	out=$(api GET "/v1/keys/$f") && expect_eq 404 "$(api_status "$out")"
'
expect_success 'empty segments where a name goes are still no endpoint' '
	for p in /v1/apps//shop /v1/apps/shop/ /v1//apps /v1/apps/shop//config /v1/; do
		out=$(api GET "$p") && expect_eq 404 "$(api_status "$out")" &&
		expect_contains "$(err "$out")" "no such endpoint" || exit 1
	done
'
expect_success 'the named app still answers' '
	out=$(api GET /v1/apps/shop) && expect_eq 200 "$(api_status "$out")"
'
test_done
