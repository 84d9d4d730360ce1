#!/usr/bin/env bash
# Every header docs/proxy.md says the proxy sets or strips, one by one,
# against a real backend (tests/helpers/pxpeer.c): what the client sends,
# what reaches the app, what comes back.  X-Forwarded-Host once reached the
# app beside the proxy's own (it was filed under the wrong name length).
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || skip_all "no C compiler for the test backend"
command -v curl >/dev/null || skip_all "curl is not installed"
cc -std=gnu11 -O1 -o "$T_DIR/pxpeer" "$SLIPWAY_TOP/tests/helpers/pxpeer.c" \
	-lpthread -lcrypto 2>"$T_DIR/cc.log" ||
	skip_all "cannot build tests/helpers/pxpeer.c: $(head -c 300 "$T_DIR/cc.log")"

be=$(free_port); px=$(free_port)
"$T_DIR/pxpeer" serve "$be" app & at_exit "kill $!"
slipway proxy --listen "127.0.0.1:$px" --access-log off 2>>"$T_DIR/proxy.err" &
at_exit "kill $!"
wait_port "$px"; wait_port "$be"
slipway proxy route set web "127.0.0.1:$be" >/dev/null

# What the app received for a request with the given extra curl args.
seen() { curl -s --max-time 10 -H "Host: web.localhost" "$@" \
	"http://127.0.0.1:$px/headers"; }
# The value of field $1 in the head on stdin, one line per occurrence.
field() { tr -d '\r' | grep -i "^$1:" | sed 's/^[^:]*: *//'; }

expect_success 'the backend sees requests through the proxy' '
	expect_contains "$(seen)" "GET /headers HTTP/1.1"
'

# Set by the proxy: the client's value never reaches the app, ours does,
# exactly once.
for f in "X-Forwarded-For:127.0.0.1" "X-Forwarded-Proto:http" "X-Forwarded-Port:$px" \
	"X-Forwarded-Host:web.localhost"; do
	name=${f%%:*} want=${f#*:}
	expect_success "$name from the client is replaced by the proxy's" '
		got=$(seen -H "$name: forged.example" | field "$name") &&
		expect_eq "$want" "$got" "$name values"
	'
done

# Dropped from requests: the other X-Forwarded-* fields, Forwarded,
# X-Real-IP (client claims about who it is), and the hop-by-hop fields,
# among them those Connection names, of any length (a 7-byte one once
# passed: it hit the length case of "upgrade" and never the Connection
# list).
for name in X-Forwarded-Server X-Forwarded-Prefix \
	Forwarded X-Real-IP Keep-Alive Proxy-Connection Proxy-Authorization \
	TE Upgrade X-Named-By-Connection X-Seven X-Ab; do
	expect_success "$name from the client does not reach the app" '
		out=$(seen -H "$name: forged" \
			-H "Connection: X-Named-By-Connection, X-Seven, X-Ab") &&
		expect_contains "$out" "GET /headers" &&
		expect_eq "" "$(field "$name" <<<"$out")" "$name at the app"
	'
done

expect_success 'Connection from the client does not reach the app' '
	out=$(seen -H "Connection: X-Other") &&
	expect_contains "$out" "GET /headers" &&
	expect_eq "" "$(field Connection <<<"$out")" "Connection at the app"
'
expect_success 'Transfer-Encoding is written by the proxy, once, for chunked' '
	out=$(curl -s --max-time 10 -H "Host: web.localhost" \
		-H "Transfer-Encoding: chunked" --data-binary abc \
		"http://127.0.0.1:$px/headers") &&
	expect_eq chunked "$(field Transfer-Encoding <<<"$out")"
'
expect_success 'Host reaches the app once, as asked' '
	expect_eq web.localhost "$(seen | field Host)"
'
expect_success 'a plain X-Request-Id is kept, once' '
	expect_eq trace-42 "$(seen -H "X-Request-Id: trace-42" | field X-Request-Id)"
'
expect_success 'a hostile X-Request-Id is replaced by a new id' '
	got=$(seen -H "X-Request-Id: a b<script>" | field X-Request-Id) &&
	[[ $got =~ ^[0-9a-f]{32}$ ]] || { echo "got: $got"; false; }
'
expect_success 'end-to-end fields pass untouched (Authorization, Trailer)' '
	out=$(seen -H "Authorization: Bearer t" -H "Trailer: X-Sum") &&
	expect_eq "Bearer t" "$(field Authorization <<<"$out")" &&
	expect_eq X-Sum "$(field Trailer <<<"$out")"
'

# The answer's way down: the backend's /hop sends every hop-by-hop field.
curl -s --max-time 10 -D "$T_DIR/hop.txt" -o /dev/null \
	-H "Host: web.localhost" "http://127.0.0.1:$px/hop"
for name in Keep-Alive Proxy-Connection Proxy-Authenticate TE Upgrade \
	X-Named; do
	expect_success "$name from the backend does not reach the client" '
		expect_contains "$(cat "$T_DIR/hop.txt")" "200 OK" &&
		expect_eq "" "$(field "$name" <"$T_DIR/hop.txt")" "$name"
	'
done
expect_success 'the backend'"'"'s Connection is replaced, Trailer kept' '
	expect_eq "" "$(field Connection <"$T_DIR/hop.txt" | grep -iv "keep-alive\|close")" &&
	expect_eq X-Sum "$(field Trailer <"$T_DIR/hop.txt")" &&
	expect_eq from-app "$(field X-Forwarded-Host <"$T_DIR/hop.txt")"
'
expect_success 'the proxy ran with no sanitizer report' '
	! grep -q "Sanitizer\|runtime error" "$T_DIR/proxy.err"
'
test_done
