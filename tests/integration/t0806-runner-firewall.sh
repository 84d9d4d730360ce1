#!/usr/bin/env bash
# Container ports stay off the internet.  Containers run in the host's
# network namespace and an app binds $PORT on every address, so on a real
# server each backend port was public and bypassed the proxy.  A "VPS"
# network namespace runs slipway up with its public address on a veth;
# "the internet" is the namespace at the other end.  From there the app
# answers through the proxy, and its container port (IPv4 and IPv6) does
# not; on the VPS it answers on 127.0.0.1.  The runner's nftables table
# stays when the runner stops (the containers do), --publish-ports opts
# out, `slipway runner firewall --remove` deletes it; without root or nft
# the runner says in one line that the ports are public.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "network namespaces and nftables need root"
command -v runc >/dev/null || skip_all "runc is not installed"
command -v nft >/dev/null || skip_all "nftables is not installed (scripts/deps.sh)"
command -v nsenter >/dev/null && command -v ip >/dev/null ||
	skip_all "no nsenter or ip"

. "$SLIPWAY_TOP/tests/integration/up-lib.sh"

# The two namespaces and the veth between them.  runc must not run under
# `ip netns exec` (it remounts /sys): enter with nsenter.
VPS=slipway-fw-vps-$$ NET=slipway-fw-net-$$
VPS_IP=10.213.77.1 NET_IP=10.213.77.2
VPS_IP6=fd5c:fb::1 NET_IP6=fd5c:fb::2
vps() { nsenter --net=/run/netns/$VPS "$@"; }
inet() { nsenter --net=/run/netns/$NET "$@"; }
# Cleanup, in order: up and the containers (they hold the VPS namespace),
# the runner's table (it outlives them all), then the namespaces.
at_exit up_cleanup
at_exit "vps slipway runner firewall --remove"
at_exit "ip netns del $NET; ip netns del $VPS"
ip netns add $VPS && ip netns add $NET || skip_all "cannot make network namespaces"
ip link add swfv$$ type veth peer name swfn$$ &&
ip link set swfv$$ netns $VPS && ip link set swfn$$ netns $NET &&
vps ip link set lo up && inet ip link set lo up &&
vps ip addr add $VPS_IP/24 dev swfv$$ && inet ip addr add $NET_IP/24 dev swfn$$ &&
vps ip addr add $VPS_IP6/64 dev swfv$$ nodad &&
inet ip addr add $NET_IP6/64 dev swfn$$ nodad &&
vps ip link set swfv$$ up && inet ip link set swfn$$ up ||
	skip_all "cannot make the veth pair"

# up with --host as the public address: the proxy and sshd listen there,
# the controller and the registry on loopback.
# --log-dir -: the services' lines in up's own output, which the test reads
UP_ARGS="--host $VPS_IP --log-dir -" LISTEN_IP=$VPS_IP

# Start up in the VPS namespace, its output to $1 (extra flags after).
# At the top level only: inside a test body, the command substitution
# would wait for up to end.
vps_up() {
	local log=$1; shift
	rm -f up.pid up.rc
	# shellcheck disable=SC2086
	# nsenter itself (not the vps function) so that $! is slipway up:
	# nsenter execs it
	( nsenter --net=/run/netns/$VPS slipway up $UP_ARGS --controller-port $CP --registry-port $RP \
		--ssh-port $SP --proxy-port $PP "$@" >"$log" 2>&1 & echo $! >up.pid
	  wait $!; echo $? >up.rc ) 2>/dev/null &
	wait_for "[ -s up.pid ]" 30 || return 1
	UP_PID=$(cat up.pid)
	wait_for "vps bash -c 'exec 3<>/dev/tcp/$LISTEN_IP/$PP'" 60 &&
	wait_for "vps bash -c 'exec 3<>/dev/tcp/$LISTEN_IP/$SP'" 60
}
# The runner's line about its ports, once it has started.
ports_line() { wait_for "grep -q 'container ports' $1" 60 && grep 'container ports' "$1"; }
vps_down() {
	kill -TERM "$UP_PID" && wait_for "[ -s up.rc ]" 30
}

# From the internet: through the proxy, and straight to a port.
get() { inet curl -s --max-time 10 -H "Host: hello.localhost" "http://$VPS_IP:$PP/"; }
direct() { inet curl -s -g --connect-timeout 2 --max-time 4 "http://$1:$PORT/"; }

TABLE=$(slipway runner firewall | sed -n '1s/^table inet //p')
HOST_TABLES_BEFORE=$(nft list tables)

vps_up up1.log; UP1=$?
expect_success 'up in the VPS namespace; a push from the internet deploys hello' '
	[ $UP1 = 0 ] || { cat up1.log; false; } &&
	cp -r "$SLIPWAY_TOP/examples/hello" app &&
	git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1 &&
	out=$(cd app && inet git push "ssh://git@$VPS_IP:$SP/hello.git" main 2>&1) ||
		{ echo "$out" | tail -20; false; } &&
	expect_contains "$out" "Live at http://hello.localhost:$PP/"
'
PORT=$(slipway runner ps --json | jq -r '[.[] | select(.app == "hello" and .state == "up")][0].port')

expect_success 'from the internet, the app answers through the proxy' '
	expect_contains "$(get)" "hello from slipway"
'
expect_success 'from the internet, its container port does not answer (IPv4 and IPv6)' '
	[ "$PORT" -ge 20000 ] && [ "$PORT" -le 20999 ] &&
	! direct $VPS_IP && ! direct "[$VPS_IP6]"
'
expect_success 'on the VPS, the container answers on 127.0.0.1 and on its own address' '
	expect_contains "$(vps curl -s --max-time 5 http://127.0.0.1:$PORT/)" "hello from slipway" &&
	expect_contains "$(vps curl -s --max-time 5 http://$VPS_IP:$PORT/)" "hello from slipway"
'
expect_success 'the runner logs its table; it is in the VPS namespace only, one rule for its ports' '
	expect_contains "$(ports_line up1.log)" "firewall: table inet $TABLE drops connections to container ports 20000-20999" &&
	rules=$(vps nft list table inet $TABLE) &&
	expect_eq 1 "$(echo "$rules" | grep -c drop)" &&
	expect_contains "$rules" "tcp dport 20000-20999" &&
	! nft list table inet $TABLE 2>/dev/null
'
vps_down
expect_success 'the table stays when up stops: the container still answers on the VPS only' '
	[ -s up.rc ] && vps nft list table inet $TABLE >/dev/null &&
	expect_contains "$(vps curl -s --max-time 5 http://127.0.0.1:$PORT/)" "hello from slipway" &&
	! direct $VPS_IP
'
vps_up up2.log --publish-ports; UP2=$?
expect_success 'up --publish-ports says so, drops the table, and the port answers from the internet' '
	[ $UP2 = 0 ] || { cat up2.log; false; } &&
	expect_contains "$(ports_line up2.log)" "--publish-ports: container ports 20000-20999 are reachable from every interface, as asked" &&
	! vps nft list table inet $TABLE 2>/dev/null &&
	expect_contains "$(direct $VPS_IP)" "hello from slipway" &&
	expect_contains "$(direct "[$VPS_IP6]")" "hello from slipway"
'
vps_down; vps_up up3.log; UP3=$?
expect_success 'the next start puts the table back, replaced whole' '
	[ $UP3 = 0 ] || { cat up3.log; false; } &&
	expect_contains "$(ports_line up3.log)" "firewall: table inet $TABLE" &&
	expect_eq 1 "$(vps nft list table inet $TABLE | grep -c drop)" &&
	! direct $VPS_IP && wait_for "get | grep -q \"hello from slipway\"" 30
'
expect_success 'slipway runner firewall --remove deletes it, and again is no error' '
	out=$(vps slipway runner firewall --remove) &&
	expect_eq "removed table inet $TABLE" "$out" &&
	! vps nft list table inet $TABLE 2>/dev/null &&
	expect_contains "$(direct $VPS_IP)" "hello from slipway" &&
	vps slipway runner firewall --remove >/dev/null
'
expect_success 'the host namespace has no table more or less than before' '
	expect_eq "$HOST_TABLES_BEFORE" "$(nft list tables)"
'

# A runner that cannot install the table says so in one line, and runs.
runner_warns() { # LOG WANT COMMAND...
	local log=$1 want=$2 pid rc; shift 2
	"$@" >"$log" 2>&1 &
	pid=$!
	wait_for "grep -q -- \"$want\" $log" 30; rc=$?
	kill $pid; wait $pid 2>/dev/null
	[ $rc = 0 ] && expect_eq 1 "$(grep -c 'reachable from every interface' "$log")"
}
RUNNER="runner --controller http://127.0.0.1:1 --group default --key slr_x --driver process"
# nobody cannot enter $T_DIR: a home of its own, and the binary itself
NOBODY=$(mktemp -d /tmp/slipway-fw-nobody.XXXXXX) && chown 65534:65534 "$NOBODY"
at_exit "rm -rf $NOBODY"
expect_success 'not root: one line says the ports are reachable from every interface' '
	runner_warns nobody.log "not root: container ports 20000-20999 are reachable from every interface" \
		vps env SLIPWAY_HOME=$NOBODY setpriv --reuid 65534 --regid 65534 \
		--clear-groups "$SLIPWAY_BIN" $RUNNER
'
expect_success 'no nft: one line says so and what to install' '
	runner_warns nonft.log "nft not found: .* install nftables" \
		vps env SLIPWAY_HOME=$T_DIR/nonft PATH="$T_DIR/bin:/usr/bin:/bin" slipway $RUNNER &&
	! vps nft list table inet "$(SLIPWAY_HOME=$T_DIR/nonft slipway runner firewall | sed -n "1s/^table inet //p")" 2>/dev/null
'
test_done
