#!/usr/bin/env bash
# test-timeout: 180
# TLS termination in `slipway proxy` (docs/proxy.md, "HTTPS"): certificates
# made here with openssl (a test CA, one leaf per host), verified by curl
# with --cacert and --resolve; SNI picks each host's certificate; an unknown
# or missing name gets an unrecognized_name alert, never another app's
# certificate; plain HTTP is redirected (301/308) except the ACME challenge
# path; X-Forwarded-Proto/Port; reload when GENERATION changes and a bad
# pair keeps the old one; hostile handshakes leave everyone else served.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || skip_all "openssl is not installed"
command -v curl >/dev/null || skip_all "curl is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"
command -v cc >/dev/null || skip_all "no C compiler for the test backend"
cc -std=gnu11 -O1 -o "$T_DIR/pxpeer" "$SLIPWAY_TOP/tests/helpers/pxpeer.c" \
	-lpthread -lcrypto 2>"$T_DIR/cc.log" ||
	skip_all "cannot build tests/helpers/pxpeer.c: $(head -c 300 "$T_DIR/cc.log")"

C=$T_DIR/certs; P=$T_DIR/pki
mkdir -p "$C/live" "$C/challenges" "$P"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$P/ca.key" -out "$P/ca.pem" -days 2 -subj "/CN=slipway test CA" \
	2>/dev/null || skip_all "openssl cannot make a CA"
# leaf HOST DAYS OUTDIR: a certificate for HOST signed by the test CA.
leaf() {
	local host=$1 days=$2 out=$3
	mkdir -p "$out"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$out/key.pem" -out "$out/req.csr" -subj "/CN=$host" \
		2>/dev/null &&
	openssl x509 -req -in "$out/req.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
		-CAcreateserial -days "$days" -out "$out/leaf.pem" \
		-extfile <(printf 'subjectAltName=DNS:%s\n' "$host") 2>/dev/null &&
	cat "$out/leaf.pem" "$P/ca.pem" >"$out/fullchain.pem" &&
	rm -f "$out/req.csr" "$out/leaf.pem" && chmod 600 "$out/key.pem"
}
gen() { echo "$1" >"$C/live/.GEN.tmp" && mv "$C/live/.GEN.tmp" "$C/live/GENERATION"; }
leaf web.localhost 2 "$C/live/web.localhost"
leaf api.localhost 2 "$C/live/api.localhost"
printf 'redirect off\n' >"$C/live/api.localhost/options"
gen 1

be1=$(free_port); be2=$(free_port); be3=$(free_port); px=$(free_port); tx=$(free_port)
"$T_DIR/pxpeer" serve "$be1" web & at_exit "kill $!"
"$T_DIR/pxpeer" serve "$be2" api & at_exit "kill $!"
"$T_DIR/pxpeer" serve "$be3" other & at_exit "kill $!"
slipway proxy --listen "127.0.0.1:$px" --https-listen "127.0.0.1:$tx" \
	--certs "$C" --access-log off --max-conns-per-ip 100000 \
	--max-handshakes 200 --handshake-timeout 3 2>>"$T_DIR/proxy.err" &
at_exit "kill $!"
wait_port "$px"; wait_port "$tx"; wait_port "$be1"; wait_port "$be2"; wait_port "$be3"
slipway proxy route set web "127.0.0.1:$be1" >/dev/null
slipway proxy route set api "127.0.0.1:$be2" >/dev/null
slipway proxy route set other "127.0.0.1:$be3" >/dev/null

# https HOST PATH [curl args]: verified against the test CA.
https() { local h=$1 p=$2; shift 2; curl -sS --max-time 10 --cacert "$P/ca.pem" \
	--resolve "$h:$tx:127.0.0.1" "$@" "https://$h:$tx$p"; }
# The certificate subject the proxy shows for SNI $1 ("" when none).
subject() { openssl s_client -connect "127.0.0.1:$tx" ${1:+-servername "$1"} \
	</dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null; }

expect_success 'an HTTPS request verifies and reaches the app' '
	expect_eq "web" "$(https web.localhost /)" "body"
'
expect_success 'SNI picks each host its own certificate' '
	expect_eq "api" "$(https api.localhost /)" "body" &&
	expect_contains "$(subject web.localhost)" "web.localhost" &&
	expect_contains "$(subject api.localhost)" "api.localhost"
'
expect_success 'an unknown name gets an alert, never another certificate' '
	expect_eq "" "$(subject other.localhost)" "certificate shown" &&
	out=$(openssl s_client -connect "127.0.0.1:$tx" -servername other.localhost \
		</dev/null 2>&1) ; expect_contains "$out" "unrecognized name"
'
expect_success 'no SNI at all gets the alert too' '
	expect_eq "" "$(subject "")" "certificate shown"
'
expect_success 'TLS 1.1 is refused, 1.2 and 1.3 are served' '
	! https web.localhost / --tls-max 1.1 >/dev/null 2>&1 &&
	expect_eq web "$(https web.localhost / --tlsv1.2 --tls-max 1.2)" "1.2" &&
	expect_eq web "$(https web.localhost / --tlsv1.3)" "1.3"
'
expect_success 'ALPN says http/1.1' '
	out=$(openssl s_client -connect "127.0.0.1:$tx" -servername web.localhost \
		-alpn "h2,http/1.1" </dev/null 2>&1) &&
	expect_contains "$out" "ALPN protocol: http/1.1"
'
expect_success 'the app sees X-Forwarded-Proto https and the https port' '
	out=$(https web.localhost /headers | tr -d "\r") &&
	expect_contains "$out" "X-Forwarded-Proto: https" &&
	expect_contains "$out" "X-Forwarded-Port: $tx"
'
expect_success 'keep-alive: two requests on one TLS connection' '
	out=$(https web.localhost /conn -o /dev/null --next --cacert "$P/ca.pem" \
		--resolve "web.localhost:$tx:127.0.0.1" "https://web.localhost:$tx/conn" -v 2>&1) &&
	expect_contains "$out" "Re-using existing connection"
'
expect_success 'a Host other than the SNI name is misdirected (421)' '
	code=$(https web.localhost / -o /dev/null -w "%{http_code}" -H "Host: api.localhost") &&
	expect_eq 421 "$code" "status"
'
expect_success 'a large body streams through TLS whole' '
	n=$(https web.localhost /big | wc -c) && expect_eq 8388608 "$n" "bytes"
'
expect_success 'plain GET is redirected with 301, POST with 308' '
	out=$(curl -s -o /dev/null -w "%{http_code} %{redirect_url}" \
		-H "Host: web.localhost" "http://127.0.0.1:$px/a/b?c=d") &&
	expect_eq "301 https://web.localhost:$tx/a/b?c=d" "$out" "GET" &&
	out=$(curl -s -o /dev/null -w "%{http_code}" -X POST -d x \
		-H "Host: web.localhost" "http://127.0.0.1:$px/") &&
	expect_eq 308 "$out" "POST"
'
expect_success 'redirect off and hosts without a certificate stay plain' '
	expect_eq api "$(curl -s -H "Host: api.localhost" "http://127.0.0.1:$px/")" "api" &&
	expect_eq other "$(curl -s -H "Host: other.localhost" "http://127.0.0.1:$px/")" "other"
'
expect_success 'the ACME challenge path is answered from the file, not redirected' '
	printf "tok-1.keyauth" >"$C/challenges/tok-1_A" &&
	out=$(curl -s -w " %{http_code}" -H "Host: web.localhost" \
		"http://127.0.0.1:$px/.well-known/acme-challenge/tok-1_A") &&
	expect_eq "tok-1.keyauth 200" "$out" "challenge" &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "Host: web.localhost" \
		"http://127.0.0.1:$px/.well-known/acme-challenge/missing") &&
	expect_eq 404 "$code" "missing token" &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -H "Host: web.localhost" \
		"http://127.0.0.1:$px/.well-known/acme-challenge/..%2Fsecret") &&
	expect_eq 404 "$code" "bad token"
'
expect_success 'hsts in options adds Strict-Transport-Security to HTTPS only' '
	printf "hsts 600\n" >"$C/live/web.localhost/options" && gen 2 &&
	wait_for "https web.localhost / -D - -o /dev/null | grep -qi max-age=600" &&
	! curl -s -D - -o /dev/null -H "Host: api.localhost" "http://127.0.0.1:$px/" |
		grep -qi strict-transport
'
expect_success 'a new certificate is served once GENERATION changes' '
	leaf other.localhost 2 "$C/live/other.localhost" && gen 3 &&
	wait_for "https other.localhost / >/dev/null 2>&1" &&
	expect_eq other "$(https other.localhost /)" "body"
'
expect_success 'a bad pair keeps the previous certificate serving' '
	before=$(subject web.localhost | md5sum) &&
	cp "$C/live/api.localhost/key.pem" "$C/live/web.localhost/key.pem" && gen 4 &&
	wait_for "grep -q \"web.localhost.*not loaded.*previous\" \"$T_DIR/proxy.err\"" &&
	expect_eq "$before" "$(subject web.localhost | md5sum)" "certificate" &&
	expect_eq web "$(https web.localhost /)" "body"
'
expect_success 'an expired certificate is not served' '
	mkdir -p "$T_DIR/old" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T_DIR/old/key.pem" -out "$T_DIR/old/req.csr" -subj "/CN=old.localhost" 2>/dev/null &&
	openssl x509 -req -in "$T_DIR/old/req.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
		-CAcreateserial -not_before 20200101000000Z -not_after 20200102000000Z \
		-out "$T_DIR/old/fullchain.pem" \
		-extfile <(printf "subjectAltName=DNS:old.localhost\n") 2>/dev/null ||
	openssl x509 -req -in "$T_DIR/old/req.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
		-CAcreateserial -days -1 -out "$T_DIR/old/fullchain.pem" \
		-extfile <(printf "subjectAltName=DNS:old.localhost\n") 2>/dev/null
	mkdir -p "$C/live/old.localhost" && cp "$T_DIR/old/fullchain.pem" "$T_DIR/old/key.pem" \
		"$C/live/old.localhost/" && chmod 600 "$C/live/old.localhost/key.pem" && gen 5 &&
	wait_for "grep -q \"old.localhost.*expired\" \"$T_DIR/proxy.err\"" &&
	expect_eq "" "$(subject old.localhost)" "certificate shown"
'

# ---- hostile peers: each time, everyone else is still served ----
expect_success 'garbage instead of a ClientHello is closed, others served' '
	for i in 1 2 3 4 5; do head -c 3000 /dev/urandom |
		timeout 5 python3 -c "import socket,sys;s=socket.create_connection((\"127.0.0.1\",$tx));s.sendall(sys.stdin.buffer.read());s.settimeout(4);s.recv(100)" 2>/dev/null; done;
	expect_eq web "$(https web.localhost /)" "body"
'
expect_success 'an oversized SNI gets an alert, others served' '
	long=$(printf "a%.0s" $(seq 1 250)).localhost &&
	expect_eq "" "$(subject "$long")" "certificate shown" &&
	expect_eq web "$(https web.localhost /)" "body"
'
expect_success 'renegotiation is refused, the connection and others live on' '
	out=$( (printf "R\n"; sleep 1; printf "GET / HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n"; sleep 1) |
		openssl s_client -connect "127.0.0.1:$tx" -servername web.localhost -tls1_2 \
		-CAfile "$P/ca.pem" -ign_eof 2>&1) ;
	# A renegotiation that went through would verify the chain again.
	expect_eq 1 "$(grep -c "^depth=0" <<<"$out")" "handshakes seen" &&
	expect_eq web "$(https web.localhost /)" "body"
'
expect_success 'a ClientHello dribbled a byte at a time times out, others served' '
	python3 - "$tx" >"$T_DIR/dribble.out" 2>&1 <<PY &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
hello = bytes.fromhex("16030100a1010000") + b"\x00" * 200
t = time.time()
try:
    for b in hello:
        s.sendall(bytes([b])); time.sleep(0.5)
        if time.time() - t > 20: break
    print("sent all")
except OSError:
    print("closed after %.0f s" % (time.time() - t))
PY
	dp=$! &&
	expect_eq web "$(https web.localhost /)" "body while dribbling" &&
	wait $dp && expect_contains "$(cat "$T_DIR/dribble.out")" "closed after"
'
expect_success 'thousands of half-open handshakes: the oldest go, others served' '
	python3 - "$tx" >"$T_DIR/flood.out" 2>&1 <<PY &
import socket, sys, time
socks = []
for i in range(2000):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        s.sendall(b"\x16\x03\x01")
        socks.append(s)
    except OSError as e:
        print("connect failed", e); break
print("opened", len(socks)); sys.stdout.flush()
time.sleep(4)
PY
	fp=$! && sleep 2 &&
	expect_eq web "$(https web.localhost /)" "body during the flood" &&
	wait $fp && expect_contains "$(cat "$T_DIR/flood.out")" "opened 2000" &&
	grep -q "dropped the oldest TLS handshake" "$T_DIR/proxy.err"
'
expect_success 'the proxy is still up and serving both listeners' '
	expect_eq web "$(https web.localhost /)" "https" &&
	expect_eq api "$(curl -s -H "Host: api.localhost" "http://127.0.0.1:$px/")" "http"
'
test_done
