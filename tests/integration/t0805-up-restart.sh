#!/usr/bin/env bash
# Upgrades refuse no connection (docs/upgrade.md).  Under a client that
# opens a new connection for every request and counts every answer:
# (1) SIGHUP to `slipway up`, three times, once after the binary was
# replaced on disk (cp and mv, as an upgrade does): every service is
# started again from the new file, the proxy on the socket `up` holds;
# (2) kill -9 of the proxy alone: `up` restarts it on the same socket;
# (3) `up` stopped and started three times under a holder of its
# sockets, as systemd's slipway.socket does.  Never a refused
# connection, a reset or an answer that is not 2xx.
# test-timeout: 600
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || skip_all "no C compiler for the helpers"
for h in hammer sockhold pxpeer; do
	extra=; [ $h = pxpeer ] && extra="-lcrypto"
	cc -std=gnu11 -O1 -o "$T_DIR/$h" "$SLIPWAY_TOP/tests/helpers/$h.c" \
		-lpthread $extra 2>"$T_DIR/cc.log" || { cat "$T_DIR/cc.log"; exit 1; }
done

# up runs from a file of its own, which the test replaces as an upgrade
# would (the shared build stays as it is).
rm -f "$T_DIR/bin/slipway"
cp "$SLIPWAY_BIN" "$T_DIR/bin/slipway"

. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
get() { curl -s -H "Host: hello.localhost" "http://127.0.0.1:$PP/"; }
expect_success 'hello is deployed and answers through the proxy' '
	(cd app && git push ssh://git@127.0.0.1:$SP/hello.git main 2>&1) | tail -2 &&
	wait_for "get | grep -q \"hello from slipway\"" 60
'

# The counting client: load_start, then load_check prints its line and
# fails unless every answer was a 2xx and no connection was refused,
# reset or left without an answer.
load_start() {
	rm -f "$T_DIR/stop"
	"$T_DIR/hammer" $PP hello.localhost 2 "$T_DIR/stop" >"$1" 2>&1 &
	LOAD=$!
	at_exit "touch $T_DIR/stop"
	wait_for "get | grep -q hello" 10
}
load_check() {
	touch "$T_DIR/stop"
	wait_for "! kill -0 $LOAD" 60 || return 1
	out=$(cat "$1") && echo "$out" &&
	case $out in answers=0\ *) echo "no answer at all"; return 1;; esac &&
	case $out in *" non2xx=0 refused=0 reset=0 timeout=0 other=0 "*) ;;
		*) return 1;; esac
}
reloads() { up_log_all | grep -c "^up         | reloaded"; }
proxy_pid() { pgrep -f -- "proxy --listen 127.0.0.1:$PP" | head -1; }

load_start hup.out
expect_success 'SIGHUP restarts every service, the proxy on the same socket' '
	before=$(proxy_pid) &&
	kill -HUP $UP_PID && wait_for "[ \$(reloads) -ge 1 ]" 120 &&
	after=$(proxy_pid) && [ -n "$after" ] && [ "$before" != "$after" ] &&
	expect_eq 5 "$(services | wc -l)" "services after the reload"
'
expect_success 'an upgrade: the binary replaced on disk, then SIGHUP' '
	cp "$T_DIR/bin/slipway" "$T_DIR/bin/slipway.new" &&
	mv "$T_DIR/bin/slipway.new" "$T_DIR/bin/slipway" &&
	kill -HUP $UP_PID && wait_for "[ \$(reloads) -ge 2 ]" 120 &&
	for p in $(services); do
		exe=$(readlink /proc/$p/exe) &&
		case $exe in *deleted*) echo "$p still runs the old file"; exit 1;; esac
	done
'
expect_success 'a third SIGHUP' '
	kill -HUP $UP_PID && wait_for "[ \$(reloads) -ge 3 ]" 120
'
expect_success 'each new proxy took the control socket over, with the routes' '
	expect_eq 3 "$(up_log_all | grep -c "proxy      | .*took the control socket")" &&
	out=$(slipway proxy routes --control "$SLIPWAY_HOME/proxy.sock") &&
	expect_contains "$out" hello
'
expect_success 'through three reloads: no refused connection, no error' '
	load_check hup.out
'
echo "# SIGHUP x3: $(cat hup.out)"

load_start kill.out
expect_success 'kill -9 of the proxy: up restarts it on the socket it holds' '
	kill -9 $(proxy_pid) &&
	wait_for "up_log_all | grep -q \"proxy      | killed by signal 9\"" 20 &&
	wait_for "[ -n \"\$(proxy_pid)\" ]" 30 && wait_for "get | grep -q hello" 30
'
# Requests the killed process had in hand are lost with it (resets);
# connections that arrived while no proxy ran waited in the backlog.
expect_success 'through the proxy killed: no refused connection, no non-2xx' '
	load_check kill.out ||
	case $out in *" non2xx=0 refused=0 "*" timeout=0 other=0 "*) ;; *) false;; esac
'
echo "# proxy kill -9: $(cat kill.out)"

# Stop and start of up itself: only a holder of the sockets across the
# gap makes that refuse nothing (systemd's slipway.socket; here sockhold).
# (started here, not in a test body: a body's output is read to its end)
expect_eq 0 "$(up_stop)" "up's exit status" || T_FAIL=$((T_FAIL + 1))
"$T_DIR/sockhold" up.pid http=127.0.0.1:$PP ssh=127.0.0.1:$SP -- \
	slipway up --controller-port $CP --registry-port $RP --ssh-port $SP \
	--proxy-port $PP >>up.log 2>&1 </dev/null &
HOLD=$!
at_exit "kill $HOLD"
expect_success 'up stopped; started again under a holder of its sockets' '
	wait_for "get | grep -q hello" 60
'
starts() { grep -c "^up: starting" up.log; }
load_start hold.out
expect_success 'up stopped and started three times under the holder' '
	for i in 1 2 3; do
		n=$(starts) && kill -HUP $HOLD &&
		wait_for "[ \$(starts) -gt $n ]" 60 &&
		wait_for "get | grep -q hello" 60 || exit 1
	done
'
expect_success 'through three stops and starts: no refused connection, no error' '
	load_check hold.out
'
echo "# up stop+start x3 under the holder: $(cat hold.out)"
expect_success 'a bad socket handed over is one clear line' '
	out=$(LISTEN_PID=$$ LISTEN_FDS=1 slipway proxy --listen-fd 0 2>&1); rc=$?
	expect_eq 1 $rc && expect_eq 1 "$(echo "$out" | wc -l)" &&
	expect_contains "$out" "descriptor 0 (--listen-fd) is not a listening TCP socket"
'
kill $HOLD; wait_for "! kill -0 $HOLD" 30
test_done
