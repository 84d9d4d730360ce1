#!/usr/bin/env bash
# The runner's core, driven through `slipway runner ...`: a real busybox
# image unpacked from a tar.gz layer, hostile layers refused, a container
# under the process driver and under runc (overlay rootfs, crash restart,
# ephemeral upper dir gone on destroy), health-check failures explained.
. "$(dirname "$0")/lib.sh"

BB=$(command -v busybox || echo /bin/busybox)
file "$BB" 2>/dev/null | grep -q 'statically linked' ||
	skip_all "no static busybox (package busybox-static)"
command -v curl >/dev/null || skip_all "no curl"

RUNC_ROOT=$SLIPWAY_HOME/runner/runc
RL_PIDS=()

# Stop what we started, even when a test failed: run-local processes by
# pid, then every runc container of this SLIPWAY_HOME, then its mounts.
cleanup_runner() {
	local p id m
	for p in "${RL_PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	for p in "${RL_PIDS[@]}"; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	if command -v runc >/dev/null && [ -d "$RUNC_ROOT" ]; then
		for id in $(runc --root "$RUNC_ROOT" list -q 2>/dev/null); do
			runc --root "$RUNC_ROOT" delete --force "$id"
		done
	fi
	for m in $(awk -v h="$SLIPWAY_HOME" 'index($2, h) == 1 { print $2 }' /proc/mounts); do
		umount -l "$m"
	done
}
at_exit cleanup_runner

# The image: busybox with relative applet links, and an app that serves
# public/ (what examples/hello does).
mkdir -p img/bin img/app/public
cp "$BB" img/bin/busybox
for a in $("$BB" --list); do
	[ "$a" = busybox ] || ln -s busybox "img/bin/$a"
done
echo "hello from slipway" > img/app/public/index.html
tar -czf layer1.tgz -C img .
mkdir -p l2/app/public
echo "second layer" > l2/app/public/two.html
touch l2/app/public/.wh.index.html
tar -cf layer2.tar -C l2 .
DIGEST=sha256:$(cat layer1.tgz layer2.tar | sha256sum | cut -d' ' -f1)
HEX=${DIGEST#sha256:}
ROOTFS=$SLIPWAY_HOME/runner/images/$HEX/rootfs

expect_success 'unpack: layers in order, whiteout applied' '
	out=$(slipway runner unpack --digest $DIGEST layer1.tgz layer2.tar) &&
	expect_eq "$ROOTFS" "$out" &&
	test -x "$ROOTFS/bin/busybox" && test -L "$ROOTFS/bin/sh" &&
	expect_eq "second layer" "$(cat $ROOTFS/app/public/two.html)" &&
	! test -e "$ROOTFS/app/public/index.html" &&
	! test -e "$ROOTFS/app/public/.wh.index.html"
'
expect_success 'unpack: a second unpack of the digest is a no-op' '
	touch "$ROOTFS/marker" &&
	slipway runner unpack --digest $DIGEST /nonexistent.tar &&
	test -e "$ROOTFS/marker"
'

# Hostile layers made with tar itself: absolute names (-P), ".." names
# (--transform), a symlink escape across two layers.
mkdir -p outside evil/x
echo victim > outside/victim
echo pwned > evil/x/pwned
tar -cPf abs.tar "$T_DIR/evil/x/pwned" 2>/dev/null
tar -cf dotdot.tar --transform 's,^x/,../../x/,' -C evil x/pwned
ln -s "$T_DIR/outside" esc
tar -cf link.tar esc
mkdir -p two/esc && echo pwned > two/esc/pwned
tar -cf through.tar -C two esc/pwned
BAD=sha256:$(printf bad | sha256sum | cut -d' ' -f1)

expect_failure 'hostile: an absolute path is refused' '
	slipway runner unpack --digest $BAD abs.tar
'
expect_success 'hostile: the error names the entry' '
	out=$(slipway runner unpack --digest $BAD abs.tar 2>&1);
	expect_contains "$out" "has an absolute path" &&
	expect_contains "$out" "evil/x/pwned"
'
expect_success 'hostile: ".." is refused, nothing written outside' '
	out=$(slipway runner unpack --digest $BAD dotdot.tar 2>&1);
	expect_contains "$out" "'"'"'..'"'"' component" &&
	! test -e "$SLIPWAY_HOME/x" && ! test -e "$SLIPWAY_HOME/runner/x"
'
expect_success 'hostile: a write through a symlink is refused' '
	out=$(slipway runner unpack --digest $BAD link.tar through.tar 2>&1);
	expect_contains "$out" "goes through symlink" &&
	! test -e outside/pwned && expect_eq victim "$(cat outside/victim)" &&
	! test -e "$SLIPWAY_HOME/runner/images/${BAD#sha256:}"
'

# run-local in the background; its stdout goes to $1.out.
run_local() { # name args...
	local name=$1; shift
	slipway runner run-local --image-layers "$T_DIR/layer1.tgz,$T_DIR/layer2.tar" \
		--digest "$DIGEST" --app hello --grace 2 "$@" \
		>"$name.out" 2>"$name.err" &
	RL_PIDS+=($!)
	disown $!
	eval "${name}_pid=$!"
}
port_of() { sed -n 's/^PORT=\([0-9]*\).*/\1/p' "$1.out"; }
id_of() { sed -n 's/^container \([^ ]*\) .*/\1/p' "$1.out"; }

SERVE='echo booting $SLIPWAY_PROCESS; busybox httpd -f -v -p $PORT -h public'

run_local proc --driver process --command "$SERVE" --health /two.html
expect_success 'process driver: healthy, PORT printed, curl answers' '
	wait_for "grep -q ^PORT= proc.out" 60 || { cat proc.out proc.err; false; }
	expect_contains "$(cat proc.out)" "healthy: HTTP/1." &&
	expect_eq "second layer" "$(curl -sf http://127.0.0.1:$(port_of proc)/two.html)"
'
expect_success 'process driver: ps says driver=process' '
	out=$(slipway runner ps) &&
	expect_contains "$out" "driver=process" &&
	expect_contains "$out" "port=$(port_of proc)" &&
	slipway runner ps --json | grep -q "\"driver\": \"process\""
'
expect_success 'process driver: stdout and stderr in the app log' '
	wait_for "slipway runner logs hello | grep -q response:200" 10 &&
	out=$(slipway runner logs hello --process web) &&
	expect_contains "$out" "web.1: booting web.1" &&
	expect_contains "$out" "slipway[web.1]: starting"
'
expect_success 'process driver: Ctrl-C stops and destroys it' '
	kill -INT $proc_pid && wait_for "! kill -0 $proc_pid" 30 &&
	expect_contains "$(cat proc.out)" "destroyed" &&
	! test -e "$SLIPWAY_HOME/runner/containers/$(id_of proc)" &&
	! curl -s http://127.0.0.1:$(port_of proc)/ >/dev/null
'

run_local sick --driver process --command "$SERVE" --health /missing \
	--health-deadline 2
expect_success 'health: never healthy says why, with the last answer' '
	wait_for "! kill -0 $sick_pid" 30 &&
	out=$(cat sick.err) &&
	expect_contains "$out" "never became healthy in 2s" &&
	expect_contains "$out" "404"
'

if [ "$(id -u)" != 0 ]; then
	skip 'runc driver' "needs root"
elif ! command -v runc >/dev/null; then
	skip 'runc driver' "runc is not installed"
elif ! grep -qw overlay /proc/filesystems; then
	skip 'runc driver' "no overlayfs in this kernel"
else
	run_local rc --driver runc --health /two.html \
		--command "echo scratch > /app/scratch; $SERVE"
	expect_success 'runc: container up, curl answers on PORT' '
		wait_for "grep -q ^PORT= rc.out" 60 || { cat rc.out rc.err; false; }
		expect_contains "$(cat rc.out)" "driver=runc" &&
		expect_eq "second layer" "$(curl -sf http://127.0.0.1:$(port_of rc)/two.html)" &&
		expect_eq running "$(runc --root $RUNC_ROOT state $(id_of rc) | jq -r .status)"
	'
	expect_success 'runc: writes go to the ephemeral upper dir, not the image' '
		up=$SLIPWAY_HOME/runner/containers/$(id_of rc)/upper &&
		expect_eq scratch "$(cat $up/app/scratch)" &&
		! test -e "$ROOTFS/app/scratch"
	'
	expect_success 'runc: isolated pid namespace, no new privileges' '
		pid=$(runc --root $RUNC_ROOT state $(id_of rc) | jq -r .pid) &&
		grep -q "^NoNewPrivs:.*1" /proc/$pid/status &&
		test "$(readlink /proc/$pid/ns/pid)" != "$(readlink /proc/self/ns/pid)" &&
		expect_eq "$(readlink /proc/self/ns/net)" "$(readlink /proc/$pid/ns/net)"
	'
	expect_success 'runc: memory and pids limits in its cgroup' '
		pid=$(runc --root $RUNC_ROOT state $(id_of rc) | jq -r .pid) &&
		mem=$(awk -F: "\$2 == \"memory\" { print \$3 }" /proc/$pid/cgroup) &&
		pids=$(awk -F: "\$2 == \"pids\" { print \$3 }" /proc/$pid/cgroup) &&
		if [ -n "$mem" ]; then
			expect_eq 536870912 "$(cat /sys/fs/cgroup/memory$mem/memory.limit_in_bytes)" &&
			expect_eq 256 "$(cat /sys/fs/cgroup/pids$pids/pids.max)"
		else
			cg=$(awk -F: "\$1 == \"0\" { print \$3 }" /proc/$pid/cgroup) &&
			expect_eq 536870912 "$(cat /sys/fs/cgroup$cg/memory.max)" &&
			expect_eq 256 "$(cat /sys/fs/cgroup$cg/pids.max)"
		fi
	'
	expect_success 'runc: a crashed process restarts (restart count 1)' '
		pid=$(runc --root $RUNC_ROOT state $(id_of rc) | jq -r .pid) &&
		kill -9 $pid &&
		wait_for "slipway runner ps | grep -q \"up .*restarts=1 exit=137\"" 30 &&
		wait_for "curl -sf http://127.0.0.1:$(port_of rc)/two.html" 30 &&
		expect_contains "$(cat rc.out)" "state=down port=$(port_of rc) restarts=1 exit=137"
	'
	expect_success 'runc: the restart got a fresh ephemeral filesystem' '
		slipway runner logs hello | grep -q "restarted (restart 1)"
	'
	expect_success 'runc: destroy removes container, mount and upper dir' '
		id=$(id_of rc) &&
		kill -INT $rc_pid && wait_for "! kill -0 $rc_pid" 60 &&
		expect_contains "$(cat rc.out)" "destroyed $id" &&
		! test -e "$SLIPWAY_HOME/runner/containers/$id" &&
		! grep -q "$SLIPWAY_HOME/runner/containers/$id" /proc/mounts &&
		test -z "$(runc --root $RUNC_ROOT list -q)"
	'

	# An image with a non-root user: the container runs as that user.
	mkdir -p l3/etc && printf "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n" > l3/etc/passwd
	tar -cf layer3.tar -C l3 .
	UDIGEST=sha256:$(cat layer1.tgz layer3.tar | sha256sum | cut -d' ' -f1)
	slipway runner run-local --image-layers "$T_DIR/layer1.tgz,$T_DIR/layer3.tar" \
		--digest "$UDIGEST" --app users --process worker --no-health --grace 1 \
		--command 'echo "uid=$(id -u) gid=$(id -g) home=$HOME"; echo x > /tmp/w && echo tmp-writable; exec sleep 600' \
		>user.out 2>user.err &
	user_pid=$!
	RL_PIDS+=($user_pid)
	disown $user_pid
	expect_success 'runc: a non-root user from the image runs the process' '
		wait_for "slipway runner logs users | grep -q \"worker.1: tmp-writable\"" 30 ||
			{ cat user.out user.err; slipway runner logs users; false; }
		expect_contains "$(slipway runner logs users)" "worker.1: uid=1000 gid=1000 home=/app"
	'
	kill -INT $user_pid
	wait_for "! kill -0 $user_pid" 30

	# The runner dies (kill -9); the container keeps serving; a new
	# runner adopts it and restarts it when it crashes.
	run_local ad --driver runc --health /two.html --command "$SERVE"
	expect_success 'runc: the container outlives a killed runner' '
		wait_for "grep -q ^PORT= ad.out" 60 || { cat ad.out ad.err; false; }
		kill -9 $ad_pid && wait_for "! kill -0 $ad_pid" 10 &&
		curl -sf http://127.0.0.1:$(port_of ad)/two.html >/dev/null
	'
	slipway runner supervise >sup.out 2>sup.err &
	sup_pid=$!
	disown $sup_pid
	RL_PIDS+=($sup_pid)
	expect_success 'runc: a new runner adopts it, then restarts its crash' '
		wait_for "grep -q \"adopted $(id_of ad)\" sup.err" 30 &&
		pid=$(runc --root $RUNC_ROOT state $(id_of ad) | jq -r .pid) &&
		kill -9 $pid &&
		wait_for "grep -q \"state=up .*restarts=1\" sup.out" 30 &&
		wait_for "curl -sf http://127.0.0.1:$(port_of ad)/two.html" 30
	'
	expect_success 'runc: destroy after the runner left' '
		kill -INT $sup_pid && wait_for "! kill -0 $sup_pid" 30 &&
		curl -sf http://127.0.0.1:$(port_of ad)/two.html >/dev/null &&
		slipway runner destroy $(id_of ad) &&
		test -z "$(runc --root $RUNC_ROOT list -q)" &&
		! grep -q "$SLIPWAY_HOME/runner/containers" /proc/mounts
	'
fi

expect_success 'gc: keeps what it is told and what containers use' '
	n=$(ls "$SLIPWAY_HOME/runner/images" | wc -l) &&
	out=$(slipway runner gc --keep $DIGEST) &&
	expect_contains "$out" "removed $((n - 1)) image" &&
	test -d "$ROOTFS" &&
	out=$(slipway runner gc) && expect_contains "$out" "removed 1 image" &&
	! test -e "$SLIPWAY_HOME/runner/images/$HEX"
'
test_done
