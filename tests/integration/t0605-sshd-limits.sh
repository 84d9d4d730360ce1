#!/usr/bin/env bash
# What a stranger can hold of the real `slipway sshd` before authenticating
# (issue 18, break 2): seventy connections from one address that send only
# a client banner used to fill the 64-connection cap for the 30 s login
# grace and lock everyone out.  Now that address holds at most 8, the
# refusals make one log line, a user with a key gets in and pushes beside
# them, and the held connections are ended after the 10 s grace.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

for p in git ssh ssh-keygen curl jq python3; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json HOME=$T_DIR

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice || ctl_start_failed
ATTACKER=127.0.0.2

# hold PORT N SRC: N connections from SRC that each send "SSH-2.0-x\r\n"
# and nothing more.  Prints "admitted=A refused=R" once the server has
# answered every one (its banner, or a refusal: a line and a close), then
# "closed=C" when the server has closed C of the admitted ones (60 s at
# most), unless a fourth argument "nowait" says to stop there.
cat >hold.py <<'PY'
import socket, sys, select, time
port, n, src = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held, refused = [], 0
for _ in range(n):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(b"SSH-2.0-x\r\n")
    s.settimeout(10)
    try:
        first = s.recv(4)
    except OSError:
        first = b""
    if first == b"SSH-":
        held.append(s)
    else:
        refused += 1
        s.close()
print("admitted=%d refused=%d" % (len(held), refused), flush=True)
if sys.argv[4:] == ["nowait"]:
    sys.exit(0)
closed, deadline = 0, time.monotonic() + 60
while held and time.monotonic() < deadline:
    r, _, _ = select.select(held, [], [], 1)
    for s in r:
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            held.remove(s)
            closed += 1
print("closed=%d" % closed, flush=True)
PY
python3 hold.py "$SSH_PORT" 70 "$ATTACKER" >hold.out 2>&1 &
HOLD_PID=$!
at_exit "kill $HOLD_PID"

expect_success 'seventy banner-only connections from one address: it holds 8' '
	wait_for "grep -q admitted= hold.out" 60 &&
	expect_contains "$(cat hold.out)" "admitted=8 refused=62"
'
expect_success 'meanwhile a user with a key gets in' '
	out=$(sshx alice help </dev/null 2>&1) &&
	expect_contains "$out" "Commands (ssh git@HOST COMMAND"
'
expect_success 'and pushes' '
	app_init app &&
	out=$(cd app && as alice git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "Release v1"
'
# At most one line per 10 s (the throttle itself is a unit test): far
# fewer lines than refusals, however slow the machine.
expect_success 'the 62 refusals made a line or two, naming the address and the limit' '
	n=$(grep -c "refused a connection from $ATTACKER" "$SSHD_LOG") &&
	[ "$n" -ge 1 ] && [ "$n" -le 6 ] || { echo "$n refusal lines"; false; } &&
	expect_contains "$(grep "refused a connection" "$SSHD_LOG")" "--max-per-source"
'
expect_success 'the held connections are ended after the grace' '
	wait_for "grep -q closed= hold.out" 60 &&
	expect_contains "$(cat hold.out)" "closed=8"
'
expect_success 'and the address may connect again' '
	python3 hold.py "$SSH_PORT" 1 "$ATTACKER" nowait >again.out 2>&1 &&
	expect_contains "$(cat again.out)" "admitted=1 refused=0"
'

# slipway up starts sshd and the controller together: an sshd whose
# controller does not answer yet waits for it (it once exited, and up
# restarted it, on every start).
ctl_stop
P2=$(free_port)
slipway sshd --listen "127.0.0.1:$P2" --controller "$CTL_URL" \
	--registry "$REG" >sshd2.log 2>&1 &
SSHD2=$!
at_exit "kill $SSHD2"
wait_for "grep -q 'waiting for the controller' sshd2.log" 30
slipway controller --listen "127.0.0.1:$CTL_PORT" >>"$CTL_LOG" 2>&1 &
at_exit "kill $!"
expect_success 'an sshd started before its controller waits for it, then serves' '
	wait_for "grep -q \"listening on 127.0.0.1:$P2\" sshd2.log" 30 &&
	kill -0 $SSHD2 &&
	out=$(ssh -p "$P2" -i "$T_DIR/keys/alice" -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o BatchMode=yes \
		-o IdentitiesOnly=yes -o LogLevel=ERROR git@127.0.0.1 help 2>&1) &&
	expect_contains "$out" "apps:create"
'
test_done
