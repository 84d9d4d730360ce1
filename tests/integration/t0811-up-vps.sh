#!/usr/bin/env bash
# slipway on a "VPS": the server in one network namespace with an address
# on a veth pair, "the internet" in another.  From the internet side,
# `git push` over SSH to the public address deploys and the app answers
# through the proxy; the controller, the registry and the container's
# port refuse.  The API stays private, so builds:create runs on the
# server side (as an admin logged in over SSH would run it).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root for network namespaces"
command -v runc >/dev/null || skip_all "needs runc"
command -v nsenter >/dev/null || skip_all "needs nsenter"

VPS=slwvps$$ NET=slwnet$$ VA=slwva$$ VB=slwvb$$
NETPFX=10.213.$((RANDOM % 200 + 20))
PUB=$NETPFX.1 CLIENT=$NETPFX.2
ip netns add $VPS && ip netns add $NET || skip_all "cannot make network namespaces"
at_exit "ip netns del $VPS; ip netns del $NET"
ip link add $VA type veth peer name $VB || skip_all "cannot make a veth pair"
ip link set $VA netns $VPS && ip link set $VB netns $NET
in_vps() { nsenter --net=/run/netns/$VPS "$@"; }
in_net() { nsenter --net=/run/netns/$NET "$@"; }
in_vps ip link set lo up && in_vps ip addr add $PUB/24 dev $VA && in_vps ip link set $VA up
in_net ip link set lo up && in_net ip addr add $CLIENT/24 dev $VB && in_net ip link set $VB up

. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
# Inside its own namespace the server gets the ports an admin would.
CP=7070 RP=5000 SP=2222 PP=8080
at_exit up_cleanup
( nsenter --net=/run/netns/$VPS slipway up --host $PUB --log-dir - >up.log 2>&1 & echo $! >up.pid
  wait $!; echo $? >up.rc ) 2>/dev/null &
wait_for "[ -s up.pid ]" 30
UP_PID=$(cat up.pid)
# from inside the VPS, with bash's /dev/tcp
port_open() { in_vps bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
net_open() { in_net timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
wait_for "port_open $PUB $PP && port_open $PUB $SP && port_open 127.0.0.1 $CP && port_open 127.0.0.1 $RP" 90 ||
	{ cat up.log; exit 1; }
SLIPWAY_TOKEN=$(sed -n 's/^  admin API token: //p' up.log)
export SLIPWAY_TOKEN SLIPWAY_URL=http://127.0.0.1:$CP

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
get() { in_net curl -s -m 10 -H "Host: hello.localhost" "http://$PUB:$PP$1"; }

expect_success 'up printed the public address for the remote, and the private API URL' '
	expect_contains "$(cat up.log)" "ssh://git@$PUB:$SP/hello.git" &&
	expect_contains "$(cat up.log)" "slipway login http://127.0.0.1:$CP"
'
expect_success 'git push from the internet to the public address deploys' '
	out=$(cd app && in_net git push ssh://git@$PUB:$SP/hello.git main 2>&1) &&
	echo "$out" | tail -3 &&
	expect_contains "$out" "Live at http://hello.localhost:$PP/"
'
expect_success 'the app answers through the proxy on the public address' '
	expect_contains "$(get /)" "hello from slipway"
'
expect_success 'SSH admin commands work from the internet' '
	out=$(in_net $GIT_SSH_COMMAND -p $SP git@$PUB apps) &&
	expect_contains "$out" hello
'
expect_success 'the controller API and the registry are not reachable from the internet' '
	! net_open $PUB $CP && ! net_open $PUB $RP &&
	! in_net curl -s -m 5 http://$PUB:$CP/v1/apps >/dev/null
'
expect_success 'the container'\''s own port is not reachable from the internet' '
	port=$(jq -r "select(.app == \"hello\") | .port" \
	    "$SLIPWAY_HOME"/runner/containers/*/state.json | head -1) &&
	[ -n "$port" ] && [ "$port" != null ] &&
	port_open 127.0.0.1 $port && ! net_open $PUB $port
'
expect_success 'builds:create on the server side builds and releases v2' '
	out=$(in_vps slipway builds:create hello 2>&1) &&
	echo "$out" | tail -3 && expect_contains "$out" "Release v2" &&
	wait_for "in_vps slipway releases hello | grep -q \"^v2\"" 60 &&
	expect_contains "$(get /)" "hello from slipway"
'
expect_success 'up stops cleanly' '
	kill -TERM $UP_PID && wait_for "[ -s up.rc ]" 30 && expect_eq 0 "$(cat up.rc)"
'
test_done
