#!/usr/bin/env bash
# What a stranger can hold of the HTTP servers before authenticating (issue
# 18, the class behind break 2): the proxy, the controller API and the
# registry.  One address that opens more connections than a server takes in
# all must not lock the others out (a per-source cap), a slowloris that
# trickles a request head must be cut within the head deadline (10 s), and
# a slow but real body upload after the head must still succeed.
# See docs/security-http.md.
# test-timeout: 300
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for p in curl python3 jq; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
ip addr show lo 2>/dev/null | grep -q '127.0.0.1/8' ||
	skip_all "loopback is not 127.0.0.0/8 (the test needs 127.0.0.2-5 as sources)"
ulimit -n 8192 2>/dev/null
export SLIPWAY_CONFIG=$T_DIR/client.json HOME=$T_DIR

# The sources: each part of the test has its own loopback address, so one
# part's connections never count against another's per-source cap.
FLOOD=127.0.0.2 OTHER=127.0.0.3 LORIS=127.0.0.4 UPLOADER=127.0.0.5

cat >slow.py <<'PY'
import socket, sys, time, select

def conn(src, port):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def refused(socks, wait):
    """The sockets the server answered or closed within wait seconds."""
    gone, end = set(), time.monotonic() + wait
    while time.monotonic() < end and len(gone) < len(socks):
        r, _, _ = select.select([s for s in socks if s not in gone], [], [],
                                0.2)
        gone.update(r)
    return gone

mode = sys.argv[1]
if mode == "flood":
    # flood PORT SRC N OUT: N connections from SRC, each sending the start
    # of a head and then a header byte every 2 s, as a slowloris does.
    # Writes "held=H refused=R busy=B" to OUT once every connection is
    # either held or refused (B of the refusals were a 503), then keeps the
    # pressure up, reopening every connection the server cuts, until killed.
    port, src, n, out = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), \
        sys.argv[5]
    socks = []
    for _ in range(n):
        try:
            s = conn(src, port)
            s.sendall(b"POST /v1/apps HTTP/1.1\r\nHost: reg.localhost\r\n")
            socks.append(s)
        except OSError:
            pass
    gone = refused(socks, 2)
    busy = 0
    for s in gone:
        try:
            busy += s.recv(64).startswith(b"HTTP/1.1 503")
        except OSError:
            pass
        s.close()
    held = [s for s in socks if s not in gone]
    with open(out, "w") as f:
        f.write("held=%d refused=%d busy=%d\n" % (len(held), n - len(held),
                                                 busy))
    missing = n - len(held)
    while True:
        time.sleep(2)
        for s in list(held):
            try:
                s.sendall(b"X")
                r, _, _ = select.select([s], [], [], 0)
                if r and not s.recv(64):
                    raise OSError
            except OSError:
                held.remove(s)
                s.close()
                missing += 1
        for _ in range(missing):
            try:
                s = conn(src, port)
                s.sendall(b"POST /v1/apps HTTP/1.1\r\n")
                held.append(s)
                missing -= 1
            except OSError:
                break
elif mode == "loris":
    # loris PORT SRC PAUSE: connect, stay silent PAUSE seconds, then send a
    # head one byte every 2 s.  Prints the seconds from connect to the
    # server's cut and what it said ("cut 10.1 HTTP/1.1 408"), or "never".
    port, src, pause = int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    head = b"GET /v2/ HTTP/1.1\r\nHost: reg.localhost\r\nX-Slow: " + \
        b"y" * 40 + b"\r\n\r\n"
    s = conn(src, port)
    t0 = time.monotonic()
    i, said = 0, b""
    nxt = t0 + pause
    while time.monotonic() - t0 < 40:
        r, _, _ = select.select([s], [], [], max(0, nxt - time.monotonic()))
        if r:
            try:
                data = s.recv(256)
            except OSError:
                data = b""
            if data:
                said += data
                continue
            print("cut %.1f %s" % (time.monotonic() - t0,
                                   said[:12].decode(errors="replace")))
            sys.exit(0)
        if time.monotonic() >= nxt and i < len(head) - 4:
            try:
                s.sendall(head[i:i + 1])
            except OSError:
                pass
            i += 1
            nxt += 2
    print("never")
elif mode == "slowput":
    # slowput PORT SRC METHOD PATH HOST AUTH BODYFILE SECS: the head at
    # once, then the body in pieces over SECS seconds.  Prints the status
    # line of the answer.
    port, src, method, path, host, auth, bodyfile, secs = sys.argv[2:10]
    body = open(bodyfile, "rb").read()
    s = conn(src, int(port))
    s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n"
               "Content-Type: application/octet-stream\r\n"
               "Content-Length: %d\r\nConnection: close\r\n\r\n" %
               (method, path, host, auth, len(body))).encode())
    pieces = 15
    step = (len(body) + pieces - 1) // pieces
    for k in range(pieces):
        time.sleep(float(secs) / pieces)
        try:
            s.sendall(body[k * step:(k + 1) * step])
        except OSError as e:
            print("cut after %d of %d pieces of the body: %s" %
                  (k, pieces, e))
            sys.exit(0)
    s.settimeout(30)
    ans = b""
    try:
        while b"\r\n" not in ans:
            d = s.recv(4096)
            if not d:
                break
            ans += d
    except OSError:
        pass
    print(ans.split(b"\r\n")[0].decode(errors="replace") or "no answer")
PY

# The three servers, with their defaults but for the proxy's total cap
# (10000 by default: lowered so one address can fill it in a test).
ctl_start || ctl_start_failed
REG_PORT=$(free_port)
slipway registry --listen "127.0.0.1:$REG_PORT" >registry.log 2>&1 &
at_exit "kill $!"
wait_port "$REG_PORT" 20 || { cat registry.log; skip_all "the registry did not start"; }
PX_PORT=$(free_port)
PX_CTL=$SLIPWAY_HOME/proxy.sock
slipway proxy --listen "127.0.0.1:$PX_PORT" --control "$PX_CTL" \
	--max-conns 300 --access-log "$T_DIR/access.log" 2>proxy.log &
at_exit "kill $!"
wait_port "$PX_PORT" 20 || { cat proxy.log; skip_all "the proxy did not start"; }
slipway proxy route set reg "127.0.0.1:$REG_PORT" --control "$PX_CTL" >/dev/null ||
	skip_all "cannot set the proxy's route"

# status SRC URL [curl args]: the HTTP status a client from SRC gets.
status() {
	local src=$1 url=$2; shift 2
	curl -s -o /dev/null -m 10 --interface "$src" -w '%{http_code}' "$@" "$url"
}
# flood NAME PORT N: start a flood from $FLOOD and wait for its report.
flood() {
	python3 slow.py flood "$2" "$FLOOD" "$3" "$1.flood" 2>"$1.flood.err" &
	FLOOD_PID=$!
	at_exit "kill $FLOOD_PID"
	wait_for "test -s $1.flood" 90
}
held() { sed -n 's/.*held=\([0-9]*\).*/\1/p' "$1.flood"; }

# ---- (a) one address cannot take every slot ------------------------------
flood api "$CTL_PORT" 520
expect_success 'API: 520 connections from one address; it holds 64 (--max-conns-per-ip)' '
	cat api.flood && expect_eq 64 "$(held api)" "connections held"
'
expect_success 'API: meanwhile a client from another address is served' '
	expect_eq 200 "$(status $OTHER "$CTL_URL/v1/apps" -H "Authorization: Bearer $ADMIN")"
'
expect_success 'API: the refusals are logged, naming the address and the limit' '
	wait_for "grep -q \"refused a connection from $FLOOD\" \"$CTL_LOG\"" 10 &&
	expect_contains "$(cat "$CTL_LOG")" "(--max-conns-per-ip)"
'
kill "$FLOOD_PID"

flood reg "$REG_PORT" 520
expect_success 'registry: 520 connections from one address; it holds 64' '
	cat reg.flood && expect_eq 64 "$(held reg)" "connections held"
'
expect_success 'registry: meanwhile a client from another address is served' '
	expect_eq 401 "$(status $OTHER "http://127.0.0.1:$REG_PORT/v2/")"
'
kill "$FLOOD_PID"

flood px "$PX_PORT" 310
expect_success 'proxy: 310 connections from one address (--max-conns 300); it holds 256, the rest get 503' '
	cat px.flood && expect_eq 256 "$(held px)" "connections held" &&
	expect_contains "$(cat px.flood)" "refused=54 busy=54" &&
	wait_for "grep -q \"refused a connection from $FLOOD\" proxy.log" 10 &&
	expect_contains "$(cat proxy.log)" "(--max-conns-per-ip)"
'
expect_success 'proxy: meanwhile a client from another address is served' '
	expect_eq 401 "$(status $OTHER "http://127.0.0.1:$PX_PORT/v2/" -H "Host: reg.localhost")"
'
kill "$FLOOD_PID"

# ---- (b) a slowloris is cut within the head deadline ---------------------
# Silent for 6 s, then a byte every 2 s: the 10 s count from the connect,
# not from the first byte (nor from the last one).
for s in api:$CTL_PORT reg:$REG_PORT px:$PX_PORT; do
	python3 slow.py loris "${s#*:}" "$LORIS" 6 >"${s%%:*}.loris" 2>&1 &
done
# ---- (c) while a slow but real upload of a body is not cut ---------------
head -c 300000 /dev/urandom >blob
BLOB_DIGEST=sha256:$(sha256sum blob | cut -d' ' -f1)
REG_TOKEN=$(slipway registry token --repo app --actions pull,push)
upload_start() { # base-url host: prints the upload's path
	curl -s -D - -o /dev/null --interface "$UPLOADER" -X POST \
		-H "Authorization: Bearer $REG_TOKEN" -H "Host: $2" \
		"$1/v2/app/blobs/uploads/" |
		sed -n 's/^Location: *\([^ ]*\).*/\1/ip' | tr -d '\r'
}
up_reg=$(upload_start "http://127.0.0.1:$REG_PORT" "127.0.0.1:$REG_PORT")
up_px=$(upload_start "http://127.0.0.1:$PX_PORT" reg.localhost)
slipway apps:create shop >/dev/null 2>&1
printf '{"GREETING":"%s"}' "$(head -c 3000 /dev/zero | tr '\0' y)" >config.json
python3 slow.py slowput "$CTL_PORT" "$UPLOADER" PATCH /v1/apps/shop/config \
	"127.0.0.1:$CTL_PORT" "Bearer $ADMIN" config.json 15 >api.put 2>&1 &
python3 slow.py slowput "$REG_PORT" "$UPLOADER" PUT "$up_reg?digest=$BLOB_DIGEST" \
	"127.0.0.1:$REG_PORT" "Bearer $REG_TOKEN" blob 15 >reg.put 2>&1 &
python3 slow.py slowput "$PX_PORT" "$UPLOADER" PUT "$up_px?digest=$BLOB_DIGEST" \
	reg.localhost "Bearer $REG_TOKEN" blob 15 >px.put 2>&1 &
wait_for 'test -s api.loris -a -s reg.loris -a -s px.loris -a -s api.put -a -s reg.put -a -s px.put' 90

# cut_within FILE SECS: the slowloris was cut, SECS after connecting at most
cut_within() {
	cat "$1"
	read -r what secs _ <"$1"
	expect_eq cut "$what" "the slowloris" &&
	python3 -c "import sys; sys.exit(0 if float('$secs') <= $2 else 1)" ||
	{ echo "cut after $secs s, more than $2"; return 1; }
}
expect_success 'API: a slowloris trickling a head is cut within the 10 s deadline' '
	cut_within api.loris 13
'
expect_success 'registry: a slowloris trickling a head is cut within the 10 s deadline' '
	cut_within reg.loris 13 &&
	expect_contains "$(cat registry.log)" "closed a connection from $LORIS: no complete request head within 10 s"
'
expect_success 'proxy: a slowloris trickling a head is cut within the 10 s deadline, with a 408' '
	cut_within px.loris 13 && expect_contains "$(cat px.loris)" "HTTP/1.1 408"
'
expect_success 'API: a body sent slowly over 15 s after the head is taken (a new release)' '
	cat api.put && expect_contains "$(cat api.put)" "HTTP/1.1 201"
'
expect_success 'registry: a blob sent slowly over 15 s after the head is taken' '
	cat reg.put && expect_contains "$(cat reg.put)" "HTTP/1.1 201"
'
expect_success 'proxy: a blob sent slowly over 15 s through the proxy is taken' '
	cat px.put && expect_contains "$(cat px.put)" "HTTP/1.1 201"
'
test_done
