#!/usr/bin/env bash
# A small push of a huge file (issue 18): git compresses a sparse file to
# almost nothing, so the caps must be on what the tree expands to.  With
# SLIPWAY_PUSH_MAX_SIZE and SLIPWAY_PUSH_MAX_FILE in sshd's environment, a
# tree past either is refused with one line naming the limit and where it
# is set, before anything is written: no build directory, no slug, the
# build failed with the reason, main not moved.  A file under the caps is
# streamed: the builder's peak memory does not grow with the file.  A push
# on a full disk (a small tmpfs over the build directory, the registry's
# store, the git repositories) says so in one line: "the server's disk is
# full (... at PATH); free space and push again".
# test-timeout: 400
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

for p in git ssh ssh-keygen curl jq truncate /usr/bin/time; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json HOME=$T_DIR
export SLIPWAY_PUSH_MAX_SIZE=96M SLIPWAY_PUSH_MAX_FILE=64M
BIG=${T0608_BIG:-60M}   # under the caps: pushed, and must not cost memory

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed
app_init app

push() { (cd app && as alice git push "$(app_url shop)" main 2>&1); }
# Commit sparse files: commit NAME SIZE [NAME SIZE]...
commit() {
	(cd app && git rm -q --cached --ignore-unmatch '*.bin' >/dev/null &&
		rm -f ./*.bin &&
		while [ $# -gt 0 ]; do truncate -s "$2" "$1.bin"; shift 2; done &&
		git add -A && git commit -q -m "big $RANDOM")
}
# The peak resident memory (KiB) of the builder on REV of shop: the build
# the pre-receive hook runs, as `slipway hook build` (the controller's
# builds:create) runs it, under /usr/bin/time: a hook that lasts 50 ms
# is too quick to sample from /proc.
build_peak() { # REV
	/usr/bin/time -f '%M' -o "$T_DIR/peak" slipway hook build --rev "$1" shop \
		>"$T_DIR/build.out" 2>&1 || { cat "$T_DIR/build.out"; return 1; }
	cat "$T_DIR/peak"
}
last_build() { api GET "/v1/apps/shop/builds?limit=1" | sed '$d' | jq -r ".[0].$1"; }
# Nothing of a refused build left on disk, and main where it was.
nothing_left() { # OLD_MAIN
	expect_eq "$1" "$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main)" &&
	expect_eq "" "$(ls -A "$SLIPWAY_HOME/builds/work" 2>/dev/null)" &&
	expect_eq "" "$(find "$SLIPWAY_HOME" -name 'slug.tgz*')"
}

expect_success 'a small push builds' '
	push >out && expect_contains "$(cat out)" "remote: -----> Release v1"
'
expect_success "a $BIG sparse file under the caps streams: the builder's memory stays flat" '
	small=$(git -C app rev-parse HEAD) && commit big "$BIG" && push >out &&
	expect_contains "$(cat out)" "remote: -----> Release v2" &&
	base=$(build_peak "$small") && peak=$(build_peak "$(git -C app rev-parse HEAD)") &&
	echo "builder peak: $peak KiB with the $BIG file, $base KiB without" &&
	test $((peak - base)) -lt 24576
'
# A push of 100 objects or more stays a pack on the server (git's
# receive.unpackLimit), and git reads a packed blob under its
# core.bigFileThreshold (512 MiB) whole unless told otherwise.
expect_success "the same file packed, as a big app's push arrives: still flat" '
	small=$(git -C app rev-parse HEAD~1) &&
	git --git-dir="$SLIPWAY_HOME/git/shop.git" repack -adq &&
	base=$(build_peak "$small") && peak=$(build_peak "$(git -C app rev-parse HEAD)") &&
	echo "builder peak: $peak KiB with the $BIG file packed, $base KiB without" &&
	test $((peak - base)) -lt 24576
'
expect_success 'one file past SLIPWAY_PUSH_MAX_FILE is refused with one line' '
	old=$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main) &&
	commit big 70M && ! push >out && cat out &&
	expect_contains "$(cat out)" "remote:  !     Build failed: '"'"'big.bin'"'"' is 70 MiB; one file may be at most 64 MiB, set by SLIPWAY_PUSH_MAX_FILE" &&
	expect_contains "$(cat out)" "[remote rejected] main -> main" &&
	expect_eq failed "$(last_build status)" &&
	expect_contains "$(last_build error)" "one file may be at most 64 MiB" &&
	nothing_left "$old"
'
expect_success 'a tree past SLIPWAY_PUSH_MAX_SIZE is refused with one line' '
	old=$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main) &&
	commit a 50M b 48M && ! push >out && cat out &&
	expect_contains "$(cat out)" "remote:  !     Build failed: the pushed tree expands to more than 96 MiB; the limit is 96 MiB, set by SLIPWAY_PUSH_MAX_SIZE" &&
	expect_eq failed "$(last_build status)" &&
	expect_contains "$(last_build error)" "the pushed tree expands to more than 96 MiB" &&
	nothing_left "$old"
'
expect_success 'the same blob under three names counts three times' '
	old=$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main) &&
	commit a 40M b 40M c 40M && ! push >out &&
	expect_contains "$(cat out)" "the pushed tree expands to more than 96 MiB" &&
	nothing_left "$old"
'
expect_success 'under the caps again, the next push builds' '
	commit small 1M && push >out && expect_contains "$(cat out)" "remote: -----> Release v"
'

# ---- a full disk
# A tmpfs of SIZE over DIR (what DIR held copied in): mount_small DIR SIZE
mount_small() {
	local keep=$T_DIR/keep.$RANDOM
	mkdir -p "$1" && cp -a "$1" "$keep" &&
	mount -t tmpfs -o "size=$2" tmpfs "$1" &&
	cp -a "$keep/." "$1/" && rm -rf "$keep"
}
full_msg() { # OUT: the one line
	expect_contains "$1" "the server's disk is full (" &&
	expect_contains "$1" "); free space and push again" &&
	! expect_contains "$1" "No space left on device" >/dev/null 2>&1
}
if [ "$(id -u)" != 0 ] || ! mount_small "$T_DIR/probe" 1m; then
	skip 'a full disk' 'needs root to mount a tmpfs'
	test_done
fi
umount "$T_DIR/probe"
# test bodies unmount what they mount; this is for a body cut short
for d in builds/work registry git; do
	at_exit "mountpoint -q '$SLIPWAY_HOME/$d' && umount -l '$SLIPWAY_HOME/$d'"
done
(cd app && git rm -q --cached '*.bin' && rm -f ./*.bin && head -c 6000000 /dev/urandom >rand.dat &&
	git add -A && git commit -q -m incompressible)

expect_success 'a full build directory: the push says the disk is full, and where' '
	old=$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main) &&
	mount_small "$SLIPWAY_HOME/builds/work" 4m &&
	! push >out; cat out; umount "$SLIPWAY_HOME/builds/work" &&
	full_msg "$(cat out)" &&
	expect_contains "$(cat out)" "at $SLIPWAY_HOME/builds/work/" &&
	expect_contains "$(last_build error)" "the server'"'"'s disk is full" &&
	nothing_left "$old"
'
expect_success 'a full registry: the push says the disk is full' '
	old=$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse main) &&
	mount_small "$SLIPWAY_HOME/registry" 4m &&
	! push >out; cat out; umount "$SLIPWAY_HOME/registry" &&
	full_msg "$(cat out)" &&
	expect_contains "$(cat out)" "no space left on the registry'"'"'s disk" &&
	nothing_left "$old"
'
expect_success 'no room for a new repository: the push says the disk is full' '
	mount -t tmpfs -o size=64k tmpfs "$SLIPWAY_HOME/git" &&
	dd if=/dev/zero of="$SLIPWAY_HOME/git/fill" bs=4k 2>/dev/null;
	out=$(cd app && as alice git push "$(app_url cart)" main 2>&1);
	umount "$SLIPWAY_HOME/git";
	echo "$out" && full_msg "$out" &&
	! test -e "$SLIPWAY_HOME/git/cart.git"
'
expect_success 'with room again, the push builds' '
	push >out; cat out; expect_contains "$(cat out)" "remote: -----> Release v"
'

test_done
