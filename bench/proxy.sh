#!/usr/bin/env bash
# The same backend (nginx serving a small static file) behind slipway's proxy
# and behind nginx (proxy_pass to an upstream with a keepalive pool), driven
# by wrk in the same run, alternating, several rounds.  Prints requests/sec
# and p99 latency per round, their medians, and slipway/nginx ratios.
#   bench/proxy.sh [ROUNDS] [SECONDS] [CONNECTIONS]
# Both proxies run one worker (nginx: worker_processes 1; slipway: one
# event loop) and write a buffered access log to a file.
set -eu
rounds=${1:-5} secs=${2:-5} conns=${3:-64}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=$top/build/slipway
for t in nginx wrk "$bin"; do
	command -v "$t" >/dev/null || { echo "bench/proxy.sh: needs $t (make; scripts/deps.sh)" >&2; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/pxbench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT


backend=$(free_port) ngx=$(free_port) ours=$(free_port)
mkdir -p "$dir/www" "$dir/be" "$dir/px"
head -c 612 /dev/zero | tr '\0' 'x' > "$dir/www/index.html"

cat > "$dir/be/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; user root;
pid $dir/be/nginx.pid; error_log $dir/be/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/be; proxy_temp_path $dir/be;
  fastcgi_temp_path $dir/be; uwsgi_temp_path $dir/be; scgi_temp_path $dir/be;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$backend; root $dir/www; }
}
CONF
cat > "$dir/px/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; user root;
pid $dir/px/nginx.pid; error_log $dir/px/error.log;
events { worker_connections 4096; }
http {
  log_format main '\$remote_addr "\$request" \$status \$body_bytes_sent \$request_time \$upstream_response_time';
  access_log $dir/px/access.log main buffer=64k flush=1s;
  client_body_temp_path $dir/px; proxy_temp_path $dir/px;
  fastcgi_temp_path $dir/px; uwsgi_temp_path $dir/px; scgi_temp_path $dir/px;
  keepalive_requests 1000000;
  upstream app { server 127.0.0.1:$backend; keepalive 64; }
  server {
    listen 127.0.0.1:$ngx;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$remote_addr;
    }
  }
}
CONF
nginx -p "$dir/be" -c "$dir/be/nginx.conf" & pids+=($!)
nginx -p "$dir/px" -c "$dir/px/nginx.conf" & pids+=($!)
"$bin" proxy --listen "127.0.0.1:$ours" --control "$dir/proxy.sock" \
	--access-log "$dir/slipway-access.log" 2>"$dir/slipway.log" & pids+=($!)
wait_port "$backend"; wait_port "$ngx"; wait_port "$ours"
"$bin" proxy route set bench "127.0.0.1:$backend" --control "$dir/proxy.sock"
host=bench.localhost
for p in "$ngx" "$ours"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" "http://127.0.0.1:$p/")
	[ "$code" = 200 ] || { echo "bench/proxy.sh: proxy on $p answers $code" >&2; exit 1; }
done

# wrk's "Requests/sec" and its 99% latency in microseconds.
run() { # port
	local out rps p99 v unit
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Host: $host" "http://127.0.0.1:$1/")
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	v=$(awk '$1 == "99%" {print $2}' <<<"$out")
	unit=${v//[0-9.]/}; v=${v%$unit}
	case $unit in
	us) p99=$v ;; ms) p99=$(awk -v x="$v" 'BEGIN{print x*1000}') ;;
	s) p99=$(awk -v x="$v" 'BEGIN{print x*1000000}') ;; *) p99=0 ;;
	esac
	# A round with failed answers measures nothing: stop the bench.
	if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
		echo "bench/proxy.sh: errors from the proxy on :$1:" >&2
		grep 'Non-2xx\|Socket errors' <<<"$out" | sed 's/^/    /' >&2
		return 1
	fi
	echo "$rps $p99"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "backend: nginx static 612 B on :$backend; wrk -t2 -c$conns -d${secs}s; $rounds rounds"
printf '%-6s %14s %12s %14s %12s\n' round nginx_rps nginx_p99us slipway_rps slipway_p99us
: > "$dir/n"; : > "$dir/s"
# One short warm-up each, not counted.
wrk -t2 -c"$conns" -d1s -H "Host: $host" "http://127.0.0.1:$ngx/" >/dev/null
wrk -t2 -c"$conns" -d1s -H "Host: $host" "http://127.0.0.1:$ours/" >/dev/null
for r in $(seq "$rounds"); do
	if [ $((r % 2)) = 1 ]; then n=$(run "$ngx") && s=$(run "$ours")
	else s=$(run "$ours") && n=$(run "$ngx"); fi || exit 1
	echo "$n" >> "$dir/n"; echo "$s" >> "$dir/s"
	printf '%-6s %14s %12s %14s %12s\n' "$r" $n $s
done
nr=$(cut -d' ' -f1 "$dir/n" | median); np=$(cut -d' ' -f2 "$dir/n" | median)
sr=$(cut -d' ' -f1 "$dir/s" | median); sp=$(cut -d' ' -f2 "$dir/s" | median)
printf '%-6s %14s %12s %14s %12s\n' median "$nr" "$np" "$sr" "$sp"
awk -v nr="$nr" -v sr="$sr" -v np="$np" -v sp="$sp" 'BEGIN {
	printf "ratio slipway/nginx: throughput %.2fx, p99 latency %.2fx (lower is better)\n", sr/nr, sp/np }'
