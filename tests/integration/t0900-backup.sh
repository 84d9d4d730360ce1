#!/usr/bin/env bash
# slipway backup while everything runs, with a push in progress, and
# slipway restore onto a fresh home: `slipway up` there (new ports) brings
# the app back with the same releases, config and image digests, and its
# current release answers through the proxy.  A truncated, a flipped and
# a hostile backup are each refused with one line and leave nothing.
# test-timeout: 600
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null || skip_all "no python3 to write hostile archives"
command -v jq >/dev/null || skip_all "no jq"

. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1
HOME1=$SLIPWAY_HOME

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
push() { (cd app && git push "ssh://git@127.0.0.1:$SP/hello.git" main 2>&1); }
get() { curl -s -H "Host: hello.localhost" "http://127.0.0.1:$PP$1"; }
# The app's lock is held while a push builds (lib/repo.c).
pushing() { ! flock -n "$HOME1/git/hello.lock" true; }
# The releases as the store has them, without their rollout state: a
# release still rolling out when the backup is taken is pending in it,
# and goes live when the restored runner rolls it out.
rels() { slipway releases hello --json | jq -c '[.[] | del(.state, .reason, .current, .serving)]'; }

expect_success 'deploy hello and set its config (v1, v2)' '
	out=$(push) && expect_contains "$out" "Live at" &&
	slipway config:set hello GREETING=bonjour >/dev/null &&
	wait_for "get /cgi-bin/greeting | grep -q \"GREETING=bonjour release=v2\"" 60
'
rels >rel.before
slipway releases hello --json | jq -c '[.[] | {version, digest}]' >dig.before
slipway config hello >config.orig

# The second push carries 24 MB of random bytes, so that it is still
# building (its lock held) while the backup runs.
sed -i "s/hello from slipway</v2 from slipway</" app/public/index.html
head -c 24M /dev/urandom >app/public/big.bin
git -C app add -A && git -C app commit -qm v2
push >push2.out 2>&1 &
PUSH=$!
expect_success 'a backup taken while the second push builds' '
	wait_for pushing 60 &&
	slipway backup "$T_DIR/b.tar" --json >backup.json 2>backup.err &&
	cat backup.json && jq -e ".entries > 10 and .bytes > 0" backup.json &&
	[ ! -s backup.err ] && [ ! -e "$T_DIR/b.tar.tmp" ] &&
	[ "$(stat -c %a "$T_DIR/b.tar")" = 600 ] &&
	! ls -a "$HOME1" | grep -q "^\.backup"
'
expect_success 'the push finishes as if no backup ran' '
	wait_for "! kill -0 $PUSH 2>/dev/null" 120 && tail -3 push2.out &&
	expect_contains "$(cat push2.out)" "Release v3" &&
	expect_contains "$(get /)" "v2 from slipway"
'
rels >rel.after
slipway releases hello --json | jq -c '[.[] | {version, digest}]' >dig.after

expect_success 'the backup has the store, registry, repositories and secrets, and no runtime state' '
	tar -tf "$T_DIR/b.tar" >list &&
	expect_eq slipway-backup.json "$(head -1 list)" &&
	expect_eq slipway-backup.sha256 "$(tail -1 list)" &&
	grep -qx slipway.db list && grep -qx secret list &&
	grep -qx up/runner.key list && grep -qx ssh/host_ed25519_key list &&
	grep -qx proxy-routes.json list && grep -q "^git/hello.git/objects/" list &&
	grep -q "^registry/blobs/sha256/" list && grep -q "^stacks/default/" list &&
	! grep -Eq "^(runner|logs|builds|cache)/|slipway.db-wal|proxy.sock|\.lock$|^registry/(uploads|tmp)" list
'

expect_success 'stop up and remove its containers' '
	expect_eq 0 "$(up_stop)" && up_cleanup
'

# A fresh home on new ports.
export SLIPWAY_HOME=$T_DIR/restored
CP=$(free_port) RP=$(free_port) SP=$(free_port) PP=$(free_port)
export SLIPWAY_URL=http://127.0.0.1:$CP

expect_success 'a truncated backup is refused with one line and leaves nothing' '
	size=$(stat -c %s "$T_DIR/b.tar") &&
	for cut in 100 $((size / 2)) $((size - 10)); do
		head -c $cut "$T_DIR/b.tar" >cut.tar &&
		! slipway restore cut.tar 2>err && cat err &&
		expect_eq 1 "$(wc -l <err)" &&
		expect_contains "$(cat err)" "nothing was restored" &&
		[ ! -e "$SLIPWAY_HOME" ] &&
		! ls -a "$T_DIR" | grep -q "restore-" || return 1
	done
'
expect_success 'a flipped byte is refused with one line and leaves nothing' '
	size=$(stat -c %s "$T_DIR/b.tar") &&
	for at in 600 $((size / 3)) $((size - 600)); do
		cp "$T_DIR/b.tar" flip.tar &&
		python3 -c "import sys; f=open(\"flip.tar\",\"r+b\"); f.seek($at); b=f.read(1); f.seek($at); f.write(bytes([b[0]^255]))" &&
		! slipway restore flip.tar 2>err && cat err &&
		expect_eq 1 "$(wc -l <err)" &&
		[ ! -e "$SLIPWAY_HOME" ] &&
		! ls -a "$T_DIR" | grep -q "restore-" || return 1
	done
'

# A tar with a manifest, NAME as one entry (a file, or a symlink to
# TARGET) and the manifest's true trailer: only the path is wrong.
hostile() { # out name [symlink-target]
	python3 - "$@" <<'PY'
import hashlib, io, json, sys, tarfile
out, name = sys.argv[1], sys.argv[2]
target = sys.argv[3] if len(sys.argv) > 3 else None
if target:
    e = {"path": name, "type": "symlink", "mode": 511, "target": target}
else:
    e = {"path": name, "type": "file", "mode": 420, "size": 3,
         "sha256": hashlib.sha256(b"hi\n").hexdigest()}
m = json.dumps({"format": 1, "slipway": "x", "created": "x",
                "entries": [e]}).encode()
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def add(n, data):
        i = tarfile.TarInfo(n); i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    add("slipway-backup.json", m)
    if target:
        i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target
        t.addfile(i)
    else:
        add(name, b"hi\n")
    add("slipway-backup.sha256", (hashlib.sha256(m).hexdigest() + "\n").encode())
PY
}
expect_success 'hostile archives (../x, an absolute path, a symlink out) are refused' '
	hostile dotdot.tar ../x && hostile abs.tar "$T_DIR/abs-x" &&
	hostile link.tar l /etc &&
	for f in dotdot abs link; do
		! slipway restore $f.tar 2>err && cat err &&
		expect_eq 1 "$(wc -l <err)" &&
		expect_contains "$(cat err)" "not a valid backup" || return 1
	done &&
	[ ! -e "$SLIPWAY_HOME" ] && [ ! -e "$T_DIR/x" ] && [ ! -e "$T_DIR/abs-x" ] &&
	! ls -a "$T_DIR" | grep -q "restore-"
'

expect_success 'restore onto the fresh home' '
	slipway restore "$T_DIR/b.tar" && [ -s "$SLIPWAY_HOME/slipway.db" ] &&
	[ ! -e "$SLIPWAY_HOME/runner" ] &&
	git --git-dir="$SLIPWAY_HOME/git/hello.git" fsck --no-dangling &&
	jq -e "[.routes[] | select(.app == \"hello\")] | length == 1" "$SLIPWAY_HOME/proxy-routes.json" &&
	jq -e "[.routes[].backends[]] | length == 0" "$SLIPWAY_HOME/proxy-routes.json" &&
	! slipway restore "$T_DIR/b.tar" 2>err && cat err &&
	expect_eq 1 "$(wc -l <err)" && expect_contains "$(cat err)" "not empty"
'
# At the top level: up's output must not hold a test's capture open.
up_start up2.log || { tail -20 up2.log; exit 1; }
expect_success 'up on the restored home (new ports) serves the current release' '
	if cmp -s rel.before <(rels); then page="hello from slipway"
	else page="v2 from slipway"; fi &&
	echo "restored with: $(slipway releases hello --limit 1 | tail -1)" &&
	wait_for "get / | grep -q \"$page\"" 120 &&
	expect_contains "$(get /cgi-bin/greeting)" "GREETING=bonjour"
'
expect_success 'same releases, config and image digests as when the backup was taken' '
	rels >rel.restored &&
	slipway releases hello --json | jq -c "[.[] | {version, digest}]" >dig.restored &&
	slipway config hello >config.restored &&
	{ { cmp -s rel.before rel.restored && cmp -s dig.before dig.restored; } ||
	  { cmp -s rel.after rel.restored && cmp -s dig.after dig.restored; } ||
	  { cat rel.before rel.after rel.restored; false; }; } &&
	cmp config.orig config.restored &&
	for t in "$SLIPWAY_HOME"/registry/repositories/hello/_manifests/tags/*; do
		cmp "$t" "$HOME1/registry/repositories/hello/_manifests/tags/${t##*/}" || return 1
	done
'
expect_success 'a push to the restored home deploys' '
	sed -i "s/v2 from slipway</v3 from slipway</" app/public/index.html &&
	rm app/public/big.bin && git -C app commit -qam v3 &&
	out=$(push) && expect_contains "$out" "Live at http://hello.localhost:$PP/" &&
	expect_contains "$(get /)" "v3 from slipway"
'
test_done
