#!/usr/bin/env bash
# slipway proxy with real backends (tests/helpers/pxpeer.c, busybox httpd)
# and real clients (curl, raw sockets): routing by Host, keep-alive on both
# sides, chunked and streamed bodies, SSE, WebSocket, smuggling and oversize
# rejections, error pages, slow clients, route swaps under load, draining.
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || skip_all "no C compiler for the test backend"
command -v curl >/dev/null || skip_all "curl is not installed"
cc -std=gnu11 -O1 -o "$T_DIR/pxpeer" "$SLIPWAY_TOP/tests/helpers/pxpeer.c" \
	-lpthread -lcrypto 2>"$T_DIR/cc.log" ||
	skip_all "cannot build tests/helpers/pxpeer.c: $(head -c 300 "$T_DIR/cc.log")"
peer=$T_DIR/pxpeer

p1=$(free_port); p2=$(free_port); p3=$(free_port); dead=$(free_port)
px=$(free_port)
ctl=$SLIPWAY_HOME/proxy.sock
gate=$T_DIR/gate

"$peer" serve "$p1" v1 "$gate" & at_exit "kill $!"
"$peer" serve "$p2" v2 "$gate" & at_exit "kill $!"
mkdir -p www && echo "static from busybox" > www/index.html
if command -v busybox >/dev/null; then
	busybox httpd -f -p "127.0.0.1:$p3" -h www & at_exit "kill $!"
fi

start_proxy() { # extra args...
	slipway proxy --listen "127.0.0.1:$px" --routes "$T_DIR/routes.json" \
		--access-log "$T_DIR/access.log" --header-timeout 1 \
		--upstream-timeout 2 --connect-timeout 2 "$@" \
		2>>"$T_DIR/proxy.err" &
	proxy_pid=$!
	at_exit "kill $proxy_pid"
	wait_port "$px"
}
start_proxy
wait_port "$p1"; wait_port "$p2"

url=http://127.0.0.1:$px
get() { # host path [curl args]
	local h=$1 p=$2; shift 2
	curl -s --max-time 10 -H "Host: $h" "$@" "$url$p"
}
code() { # host path [curl args]
	local h=$1 p=$2; shift 2
	curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: $h" "$@" "$url$p"
}
# Send raw bytes (printf format) and print the status line of the answer.
raw_status() {
	exec 3<>"/dev/tcp/127.0.0.1/$px" || return 1
	printf "$1" >&3
	timeout 5 head -n 1 <&3 | tr -d '\r'
	exec 3<&-
}

expect_success 'the control socket is private (0600)' '
	expect_eq 600 "$(stat -c %a "$ctl")" "control socket mode"
'
expect_success 'a second proxy on the same control socket is refused' '
	timeout 10 slipway proxy --listen 127.0.0.1:$(free_port) --control "$ctl" 2>err.txt
	rc=$?
	expect_eq 1 "$rc" "exit status" &&
	expect_contains "$(cat err.txt)" "another proxy uses the control socket"
'
expect_success 'route set installs an app' '
	slipway proxy route set web 127.0.0.1:$p1 --domain www.example.com &&
	out=$(slipway proxy routes) && expect_contains "$out" "127.0.0.1:$p1"
'
expect_success 'route set with a bad backend says why' '
	! slipway proxy route set web localhost:80 2>err.txt &&
	expect_contains "$(cat err.txt)" "not a backend address"
'
expect_success 'route set with a domain of another app is a conflict' '
	! slipway proxy route set api 127.0.0.1:$p2 --domain www.example.com 2>err.txt &&
	expect_contains "$(cat err.txt)" "routed to app '\''web'\''"
'
expect_success 'routes by Host: APP.localhost, any port, any case' '
	expect_eq v1 "$(get web.localhost /)" &&
	expect_eq v1 "$(get WEB.localhost:8080 /)"
'
expect_success 'routes by custom domain' '
	expect_eq v1 "$(get www.example.com /)"
'
expect_success 'unknown host gets 404 naming the host' '
	out=$(get nope.localhost / -i) &&
	expect_contains "$out" "HTTP/1.1 404" &&
	expect_contains "$out" "no app is routed at host '\''nope.localhost'\''"
'
expect_success 'round-robin over two backends' '
	slipway proxy route set web 127.0.0.1:$p1 127.0.0.1:$p2 &&
	out=$(for i in 1 2 3 4; do get web.localhost /; done | sort | uniq -c | tr -s " ") &&
	expect_contains "$out" "2 v1" && expect_contains "$out" "2 v2"
'
if command -v busybox >/dev/null; then
	expect_success 'serves a busybox httpd backend' '
		slipway proxy route set static 127.0.0.1:$p3 &&
		expect_eq "static from busybox" "$(get static.localhost /index.html)"
	'
else
	skip 'serves a busybox httpd backend' "busybox is not installed"
fi
expect_success 'keep-alive to the client: one connection for two requests' '
	slipway proxy route set web 127.0.0.1:$p1 &&
	out=$(curl -sv --max-time 10 -H "Host: web.localhost" "$url/" "$url/" 2>&1) &&
	expect_contains "$out" "Re-using existing connection"
'
expect_success 'keep-alive to the backend: the pool reuses its connection' '
	a=$(get web.localhost /conn) && b=$(get web.localhost /conn) &&
	c=$(get web.localhost /conn) &&
	expect_eq "$a" "$b" "upstream connection" && expect_eq "$b" "$c"
'
expect_success 'chunked response passes through' '
	expect_eq "onetwov1" "$(get web.localhost /chunked | tr -d "\n")"
'
expect_success 'chunked request body streams to the backend intact' '
	head -c 50000 /dev/urandom | base64 > body.txt &&
	head -c 40000 body.txt > body4.txt &&
	got=$(get web.localhost /echo -H "Transfer-Encoding: chunked" --data-binary @body4.txt | md5sum) &&
	expect_eq "$(md5sum < body4.txt)" "$got"
'
expect_success 'Content-Length request body streams intact' '
	got=$(get web.localhost /echo --data-binary @body4.txt | md5sum) &&
	expect_eq "$(md5sum < body4.txt)" "$got"
'
expect_success 'Expect: 100-continue gets the backend'"'"'s 100 Continue' '
	out=$(curl -sv --max-time 10 -H "Host: web.localhost" -H "Expect: 100-continue" \
		--data-binary @body4.txt "$url/echo" 2>err.txt | md5sum) &&
	expect_eq "$(md5sum < body4.txt)" "$out" &&
	expect_contains "$(cat err.txt)" "HTTP/1.1 100 Continue"
'
expect_success 'large response streams intact' '
	expect_eq 8388608 "$(get web.localhost /big | wc -c)"
'
expect_success 'body ended by close reaches the client' '
	expect_eq "v1 closed" "$(get web.localhost /close)"
'
expect_success 'HEAD gets headers and no body' '
	out=$(curl -s -I --max-time 10 -H "Host: web.localhost" "$url/") &&
	expect_contains "$out" "Content-Length: 3"
'
expect_success 'pipelined requests are answered in order' '
	exec 3<>"/dev/tcp/127.0.0.1/$px" &&
	printf "GET /chunked HTTP/1.1\r\nHost: web.localhost\r\n\r\nGET / HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n" >&3 &&
	out=$(timeout 5 cat <&3 | tr -d "\r"); exec 3<&-
	expect_eq 2 "$(grep -c "^HTTP/1.1 200" <<<"$out")" "answers" &&
	expect_contains "$out" "two" && expect_eq v1 "$(tail -n 1 <<<"$out")"
'
expect_success 'HTTP/1.0 clients are served' '
	out=$(curl -s -0 -i --max-time 10 -H "Host: web.localhost" "$url/headers" | tr -d "\r") &&
	expect_contains "$out" "HTTP/1.1 200" &&
	expect_contains "$out" "GET /headers HTTP/1.0" &&
	expect_contains "$out" "Connection: close"
'
expect_success 'X-Forwarded-* set, hop-by-hop fields dropped' '
	out=$(get web.localhost /headers -H "X-Forwarded-For: 6.6.6.6" \
		-H "Connection: X-Secret" -H "X-Secret: s" -H "Keep-Alive: 5") &&
	expect_contains "$out" "X-Forwarded-For: 127.0.0.1" &&
	expect_contains "$out" "X-Forwarded-Proto: http" &&
	expect_contains "$out" "X-Forwarded-Host: web.localhost" &&
	expect_contains "$out" "X-Request-Id: " &&
	! grep -q "6.6.6.6\|X-Secret\|Keep-Alive" <<<"$out"
'
expect_success 'X-Request-Id: kept from the client, echoed to it' '
	out=$(get web.localhost /headers -H "X-Request-Id: trace-42" -D hdr.txt) &&
	expect_contains "$out" "X-Request-Id: trace-42" &&
	expect_contains "$(cat hdr.txt)" "X-Request-Id: trace-42"
'
expect_success 'server-sent events arrive before the backend finishes' '
	rm -f "$gate" sse.txt
	curl -sN --max-time 20 -H "Host: web.localhost" "$url/sse" > sse.txt &
	c=$!
	for i in $(seq 100); do grep -q "data: 1" sse.txt && break; sleep 0.1; done
	first=$(cat sse.txt)
	touch "$gate"; wait $c
	expect_contains "$first" "data: 1" &&
	! grep -q "data: 2" <<<"$first" &&
	expect_contains "$(cat sse.txt)" "data: 2"
'
expect_success 'WebSocket upgrade and echo' '
	expect_eq "hello-ws" "$("$peer" ws "$px" web.localhost hello-ws)"
'

H='Host: web.localhost\r\n'
expect_success 'smuggling: Content-Length with Transfer-Encoding is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "POST /echo HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")"
'
expect_success 'smuggling: two different Content-Lengths is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "POST /echo HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")"
'
expect_success 'smuggling: Transfer-Encoding other than chunked is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")"
'
expect_success 'smuggling: malformed chunk size is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "POST /echo HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n")"
'
expect_success 'smuggling: bare CR in a header is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "GET / HTTP/1.1\r\n${H}X: a\rb\r\n\r\n")"
'
expect_success 'smuggling: bare LF line ends are 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "GET / HTTP/1.1\nHost: web.localhost\n\n")"
'
expect_success 'smuggling: obs-fold is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n")"
'
expect_success 'smuggling: space before the colon is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n")"
'
expect_success 'smuggling: invalid header name is 400' '
	expect_eq "HTTP/1.1 400 Bad Request" "$(raw_status "GET / HTTP/1.1\r\n${H}X(y): z\r\n\r\n")"
'
expect_success 'a request line over the limit is 414' '
	long=$(head -c 9000 /dev/zero | tr "\0" a) &&
	expect_eq 414 "$(code web.localhost "/$long")"
'
expect_success 'a header over the size limit is 431' '
	big=$(head -c 17000 /dev/zero | tr "\0" a) &&
	expect_eq 431 "$(code web.localhost / -H "X-Big: $big")"
'
expect_success 'too many header fields is 431' '
	args=(); for i in $(seq 110); do args+=(-H "X-H$i: v"); done &&
	expect_eq 431 "$(code web.localhost / "${args[@]}")"
'
expect_success 'a request head that never finishes gets 408' '
	expect_eq "HTTP/1.1 408 Request Timeout" "$(raw_status "GET / HTTP/1.1\r\n${H}X-Slow: ")"
'
expect_success 'a request body that stalls gets 408' '
	expect_eq "HTTP/1.1 408 Request Timeout" "$(raw_status "POST /echo HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc")"
'
expect_success 'client commands say when no proxy answers' '
	! slipway proxy routes --control "$T_DIR/none.sock" 2>err.txt &&
	expect_contains "$(cat err.txt)" "cannot reach the proxy"
'
expect_success 'maintenance mode answers 503 saying so, and ends' '
	slipway proxy maintenance web on &&
	out=$(get web.localhost / -i) &&
	expect_contains "$out" "HTTP/1.1 503" &&
	expect_contains "$out" "maintenance mode" &&
	slipway proxy maintenance web off &&
	expect_eq v1 "$(get web.localhost /)"
'
expect_success 'an app with no backend answers 503 no backend' '
	slipway proxy route set empty &&
	out=$(get empty.localhost / -i) &&
	expect_contains "$out" "HTTP/1.1 503" &&
	expect_contains "$out" "has no backend up"
'
expect_success 'a backend that refuses answers 502 naming it' '
	slipway proxy route set down 127.0.0.1:$dead &&
	out=$(get down.localhost / -i) &&
	expect_contains "$out" "HTTP/1.1 502" &&
	expect_contains "$out" "refused the connection" &&
	expect_contains "$out" "127.0.0.1:$dead"
'
expect_success 'a dead backend is skipped while another answers' '
	slipway proxy route set mixed 127.0.0.1:$dead 127.0.0.1:$p2 &&
	expect_eq "v2 v2 v2 v2" "$(for i in 1 2 3 4; do get mixed.localhost /; done | tr "\n" " " | sed "s/ $//")"
'
expect_success 'a backend too slow to answer gives 504' '
	out=$(get web.localhost /slow/4000 -i) &&
	expect_contains "$out" "HTTP/1.1 504" &&
	expect_contains "$out" "did not answer"
'
expect_success 'slow clients do not stall others' '
	exec 4<>"/dev/tcp/127.0.0.1/$px" 5<>"/dev/tcp/127.0.0.1/$px" &&
	printf "GET / HTTP/1.1\r\nHost: web.lo" >&4 &&
	printf "GET /big HTTP/1.1\r\nHost: web.localhost\r\n\r\n" >&5 &&
	n=0; for i in $(seq 20); do [ "$(get web.localhost /)" = v1 ] && n=$((n+1)); done
	exec 4<&- 5<&-
	expect_eq 20 "$n" "answers while two clients stall"
'

# Route swaps under continuous load: every answer counted.
swap_under_load() { # from_port to_port to_name
	rm -f stop mark
	slipway proxy route set web 127.0.0.1:$1 || return 1
	timeout 60 "$peer" load "$px" web.localhost 4 "$T_DIR/stop" "$T_DIR/mark" "$3" > load.txt 2> load.err &
	local lp=$! rc=0
	sleep 0.5
	slipway proxy route set web 127.0.0.1:$2 && touch mark &&
	slipway proxy drain 127.0.0.1:$1 --wait 10 >/dev/null || rc=1
	sleep 0.5; touch stop; wait $lp
	cat load.txt; head -n 5 load.err
	[ $rc = 0 ] && grep -q " non200=0 errors=0 " load.txt &&
		! grep -q "after_mark=0 " load.txt &&
		grep -q "after_mark_other=0$" load.txt
}
expect_success 'route swap under load: zero errors, then only the new backend' '
	swap_under_load "$p1" "$p2" v2 && swap_under_load "$p2" "$p1" v1 &&
	swap_under_load "$p1" "$p2" v2
'
# A /drip request stays in flight until the gate file appears.
wait_inflight() { # backend port
	local i
	for i in $(seq 100); do
		case $(slipway proxy drain 127.0.0.1:$1) in *"1 request in flight"*) return 0;; esac
		sleep 0.1
	done
	echo "the /drip request never showed as in flight on $1"; return 1
}
expect_success 'drain reports in-flight requests until they finish on the old backend' '
	rm -f "$gate" &&
	slipway proxy route set web 127.0.0.1:$p1 &&
	get web.localhost /drip > drip.txt &
	c=$!
	wait_inflight $p1 &&
	slipway proxy route set web 127.0.0.1:$p2 &&
	busy=$(slipway proxy drain 127.0.0.1:$p1) &&
	touch "$gate" &&
	done_=$(slipway proxy drain 127.0.0.1:$p1 --wait 10) &&
	wait $c &&
	expect_contains "$busy" "1 request in flight" &&
	expect_contains "$done_" "drained" &&
	expect_eq v1 "$(tail -n 1 drip.txt | tr -d .)" &&
	expect_eq v2 "$(get web.localhost /)"
'
expect_success 'drain --wait fails when requests outlive it' '
	rm -f "$gate" &&
	get web.localhost /drip >/dev/null &
	c=$!
	wait_inflight $p2 &&
	! slipway proxy drain 127.0.0.1:$p2 --wait 0.1 2>err.txt; rc=$?
	touch "$gate"; wait $c
	[ $rc = 0 ] && expect_contains "$(cat err.txt)" "still has 1 request in flight"
'
expect_success 'routes --json lists apps, backends and in-flight counts' '
	out=$(slipway proxy routes --json) &&
	expect_eq "127.0.0.1:$p2" "$(jq -r ".routes[] | select(.app==\"web\") | .backends[0].addr" <<<"$out")" &&
	expect_eq 0 "$(jq -r ".routes[] | select(.app==\"web\") | .backends[0].inflight" <<<"$out")"
'
expect_success 'route rm removes the app; rm again fails' '
	slipway proxy route rm mixed &&
	expect_eq 404 "$(code mixed.localhost /)" &&
	! slipway proxy route rm mixed 2>err.txt &&
	expect_contains "$(cat err.txt)" "no route for app"
'
expect_success 'access log: one line per request with status, ids and timings' '
	get web.localhost /headers -H "X-Request-Id: logged-1" >/dev/null &&
	wait_for "grep -q rid=logged-1 access.log" 10 &&
	line=$(grep "rid=logged-1" access.log) &&
	expect_contains "$line" "\"GET /headers HTTP/1.1\" 200" &&
	expect_contains "$line" "app=web backend=127.0.0.1:$p2" &&
	expect_contains "$line" "total=" && expect_contains "$line" "head="
'
# Restarts happen at the top level: test bodies run in subshells.
kill "$proxy_pid"; wait "$proxy_pid"; stop_rc=$?
expect_success 'SIGTERM stops the proxy with status 0' 'expect_eq 0 "$stop_rc"'
start_proxy
expect_success 'the routes file brings routes back after a restart' '
	expect_eq v2 "$(get web.localhost /)" &&
	out=$(slipway proxy routes) && expect_contains "$out" "empty"
'
kill "$proxy_pid"; wait "$proxy_pid"
start_proxy --max-conns 1
# Hold the one connection, served: wait_port's probe may not have been
# seen closing yet, and then it is this one that is over the limit.
hold_conn() {
	exec 4<>"/dev/tcp/127.0.0.1/$px" &&
	printf "GET / HTTP/1.1\r\nHost: web.localhost\r\n\r\n" >&4 &&
	read -r -t 10 status <&4 && case $status in *" 200 "*) return 0;; esac
	exec 4<&-; return 1
}
expect_success 'over --max-conns a client gets 503' '
	wait_for hold_conn 10 &&
	out=$(curl -s --max-time 5 -H "Host: web.localhost" "$url/")
	exec 4<&-
	expect_contains "$out" "too many connections"
'
# SIGTERM while a request is in flight: it finishes, then the proxy exits.
curl -s --max-time 20 -H "Host: web.localhost" "$url/slow/1000" > graceful.txt &
slow_pid=$!
for i in $(seq 50); do
	case $(slipway proxy drain 127.0.0.1:$p2) in *"in flight"*) break;; esac
	sleep 0.05
done
kill "$proxy_pid"; wait "$proxy_pid"; stop_rc=$?
wait "$slow_pid"
expect_success 'SIGTERM lets the request in flight finish' '
	expect_eq "v2 slow" "$(cat graceful.txt)" &&
	expect_contains "$(cat proxy.err)" "stopping: 1 connection open"
'
expect_success 'the proxy stopped cleanly with no sanitizer report' '
	expect_eq 0 "$stop_rc" &&
	! grep -q "Sanitizer\|runtime error" proxy.err
'
test_done
