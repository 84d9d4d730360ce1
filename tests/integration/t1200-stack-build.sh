#!/usr/bin/env bash
# test-timeout: 900
# `stack build`: a real Debian stack from the mirror this machine reaches
# (mmdebstrap as root), read back by umoci: the run image has bash and
# curl and no compiler, the build image has gcc; a second build with the
# same --created is unchanged; bad names, suites and mirrors, and a
# mirror nobody answers on, fail with one line and leave nothing under
# stacks/; `stacks` lists the stack.
. "$(dirname "$0")/lib.sh"

MIRROR=http://deb.debian.org/debian
[ "$(id -u)" = 0 ] || skip_all "mmdebstrap --mode=root needs root"
for t in mmdebstrap umoci jq; do
	command -v $t >/dev/null || skip_all "$t is not installed"
done
curl -fsS -m 10 -o /dev/null "$MIRROR/dists/bookworm/Release" ||
	skip_all "deb.debian.org cannot be reached"
unset SOURCE_DATE_EPOCH

H=$T_DIR/home
CREATED=2026-12-01T00:00:00Z
mkdir -p "$H"

# Nothing but the lock files and the .debs cache under stacks/.
no_leftovers() { # name
	test ! -e "$H/stacks/$1" && test ! -e "$H/stacks/.$1.tmp" &&
	test ! -e "$H/stacks/.$1.old"
}
# One line on stderr, the one that says why.
fails_one_line() { # expected-substring args...
	local want=$1 err
	shift
	! slipway stack build "$@" --home "$H" >out 2>err || return 1
	err=$(grep -v "^stack [a-z0-9-]*: " err)
	echo "$err"
	expect_eq 1 "$(printf '%s\n' "$err" | wc -l)" &&
	expect_contains "$err" "$want"
}

expect_success 'a stack builds from the Debian mirror' '
	slipway stack build deb --home "$H" --created $CREATED --json \
		>b1.json 2>b1.log || { tail -20 b1.log; false; }
	expect_eq false "$(jq -r .unchanged b1.json)" &&
	test -f "$H/stacks/deb/index.json" &&
	test ! -e "$H/stacks/.deb.tmp"
'
expect_success 'the layout tags run and build, as its digests say' '
	expect_eq "$(jq -r .run_digest b1.json)" "$(jq -r ".manifests[] |
		select(.annotations[\"org.opencontainers.image.ref.name\"] ==
		\"run\") | .digest" "$H/stacks/deb/index.json")" &&
	expect_eq "$(jq -r .build_digest b1.json)" "$(jq -r ".manifests[] |
		select(.annotations[\"org.opencontainers.image.ref.name\"] ==
		\"build\") | .digest" "$H/stacks/deb/index.json")"
'
expect_success 'umoci unpacks both images' '
	umoci unpack --image "$H/stacks/deb:run" urun >/dev/null &&
	umoci unpack --image "$H/stacks/deb:build" ubuild >/dev/null
'
expect_success 'the run image has bash and curl and no compiler' '
	test -x urun/rootfs/usr/bin/bash && test -x urun/rootfs/usr/bin/curl &&
	test ! -e urun/rootfs/usr/bin/gcc && test ! -e urun/rootfs/usr/bin/cc &&
	grep -q "^app:x:1000:1000:" urun/rootfs/etc/passwd
'
expect_success 'the build image has that and gcc, make, git' '
	test -x ubuild/rootfs/usr/bin/bash && test -x ubuild/rootfs/usr/bin/curl &&
	test -e ubuild/rootfs/usr/bin/gcc && test -x ubuild/rootfs/usr/bin/make &&
	test -x ubuild/rootfs/usr/bin/git
'
expect_success 'the images name the stack: STACK, labels, the app user' '
	env=$(jq -r ".process.env[]" urun/config.json) &&
	expect_contains "$env" "STACK=deb" &&
	expect_eq 1000 "$(jq -r .process.user.uid urun/config.json)"
'
expect_success 'a second build with the same --created is unchanged' '
	slipway stack build deb --home "$H" --created $CREATED --json \
		>b2.json 2>b2.log || { tail -20 b2.log; false; }
	expect_eq true "$(jq -r .unchanged b2.json)" &&
	expect_eq "$(jq -r .run_digest b1.json)" "$(jq -r .run_digest b2.json)" &&
	expect_eq "$(jq -r .build_digest b1.json)" "$(jq -r .build_digest b2.json)" &&
	test ! -e "$H/stacks/.deb.tmp"
'
expect_success 'stacks lists it with its digest, size and created' '
	slipway stacks --home "$H" --json >st.json &&
	expect_eq deb "$(jq -r ".[0].name" st.json)" &&
	expect_eq 1 "$(jq length st.json)" &&
	expect_eq "$(jq -r .run_digest b1.json)" "$(jq -r ".[0].digest" st.json)" &&
	expect_eq "$(jq -r .build_digest b1.json)" "$(jq -r ".[0].build_digest" st.json)" &&
	expect_eq $CREATED "$(jq -r ".[0].created" st.json)" &&
	expect_eq bookworm "$(jq -r ".[0].suite" st.json)" &&
	expect_eq false "$(jq -r ".[0].default" st.json)" &&
	test "$(jq -r ".[0].size" st.json)" -gt 100000000 &&
	printf "deb\n" >"$H/stacks/.default" &&
	out=$(slipway stacks --home "$H") &&
	expect_contains "$out" "deb " && expect_contains "$out" " default" &&
	expect_contains "$out" "$(jq -r .run_digest b1.json)"
'

expect_success 'a name with a slash is refused' '
	fails_one_line "is not a stack name" a/b && no_leftovers a &&
	test ! -e "$H/stacks/a"
'
expect_success 'the busybox stack name is refused' '
	fails_one_line "is the busybox stack" default &&
	test ! -e "$H/stacks/.default.tmp"
'
expect_success 'a bad suite is refused' '
	fails_one_line "is not a Debian suite name" s1 --suite "Book;worm" &&
	no_leftovers s1
'
expect_success 'a bad mirror URL is refused' '
	fails_one_line "is not a mirror URL" s2 --mirror "ftp://x/debian" &&
	no_leftovers s2 &&
	fails_one_line "is not a mirror URL" s2 --mirror "http://h/a b" &&
	no_leftovers s2
'
expect_success 'a mirror nobody answers on fails with one line, nothing made' '
	fails_one_line "mmdebstrap failed" s3 --mirror http://127.0.0.1:1/debian &&
	no_leftovers s3
'
expect_success 'the failures left the built stack as it was' '
	test -f "$H/stacks/deb/index.json" &&
	umoci unpack --image "$H/stacks/deb:run" urun2 >/dev/null
'

test_done
