#!/usr/bin/env bash
# The restart gap: a client opening a new connection per request
# (tests/helpers/hammer.c) counts refused connections, errors and the
# slowest answer while the proxy in front of one nginx backend is
# reloaded N times: slipway (`slipway up`, SIGHUP: a new proxy on the
# socket up holds, then SIGTERM to the old one) and nginx (`nginx -s
# reload`: new workers, old ones finish), in the same run.  Prints both
# lines and the ratio of the slowest answers.
#   bench/restart.sh [RELOADS] [SECONDS_BETWEEN]
# Not a test: it asserts nothing.
set -eu
reloads=${1:-5} gap=${2:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=${SLIPWAY_BIN:-$top/build/slipway}
for t in nginx cc "$bin"; do
	command -v "$t" >/dev/null || { echo "bench/restart.sh: needs $t (make; scripts/deps.sh)" >&2; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/rsbench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
cc -std=gnu11 -O2 -o "$dir/hammer" "$top/tests/helpers/hammer.c" -lpthread

backend=$(free_port) ngx=$(free_port) pp=$(free_port)
cp_=$(free_port) rp=$(free_port) sp=$(free_port)
mkdir -p "$dir/www" "$dir/be" "$dir/px" "$dir/home"
echo hello > "$dir/www/index.html"
cat > "$dir/be/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; user root;
pid $dir/be/nginx.pid; error_log $dir/be/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $dir/be; proxy_temp_path $dir/be;
  fastcgi_temp_path $dir/be; uwsgi_temp_path $dir/be; scgi_temp_path $dir/be;
  server { listen 127.0.0.1:$backend; root $dir/www; } }
CONF
# The nginx proxy runs as a daemon with its master, so -s reload works.
cat > "$dir/px/nginx.conf" <<CONF
worker_processes 1; user root;
pid $dir/px/nginx.pid; error_log $dir/px/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $dir/px; proxy_temp_path $dir/px;
  fastcgi_temp_path $dir/px; uwsgi_temp_path $dir/px; scgi_temp_path $dir/px;
  upstream app { server 127.0.0.1:$backend; keepalive 64; }
  server { listen 127.0.0.1:$ngx backlog=4096;
    location / { proxy_pass http://app; proxy_http_version 1.1;
      proxy_set_header Connection ""; } } }
CONF
nginx -c "$dir/be/nginx.conf" & pids+=($!)
nginx -c "$dir/px/nginx.conf"
pids+=("$(cat "$dir/px/nginx.pid" 2>/dev/null || true)")
wait_port "$backend"; wait_port "$ngx"

SLIPWAY_HOME=$dir/home HOME=$dir "$bin" up --home "$dir/home" \
	--controller-port "$cp_" --registry-port "$rp" --ssh-port "$sp" \
	--proxy-port "$pp" >"$dir/up.log" 2>&1 & up=$!
pids+=($up)
wait_port "$pp"
for _ in $(seq 1 100); do
	SLIPWAY_HOME=$dir/home "$bin" proxy route set bench "127.0.0.1:$backend" \
		>/dev/null 2>&1 && break
	sleep 0.1
done

# measure NAME PORT RELOAD-COMMAND
measure() {
	rm -f "$dir/stop"
	"$dir/hammer" "$2" bench.localhost 2 "$dir/stop" >"$dir/$1.out" &
	local h=$!
	sleep 1
	for _ in $(seq 1 "$reloads"); do eval "$3"; sleep "$gap"; done
	touch "$dir/stop"; wait "$h"
	echo "$1: $reloads reloads: $(cat "$dir/$1.out")"
}
reloaded() { grep -c "^up         | reloaded" "$dir/up.log" || true; }
slipway_reload() {
	local n; n=$(reloaded)
	kill -HUP "$up"
	for _ in $(seq 1 600); do [ "$(reloaded)" -gt "$n" ] && return; sleep 0.1; done
}
measure slipway "$pp" slipway_reload
measure nginx "$ngx" "nginx -c $dir/px/nginx.conf -s reload 2>/dev/null"
ms() { sed -n 's/.*max_ms=\([0-9]*\).*/\1/p' "$dir/$1.out"; }
echo "slowest answer slipway/nginx: $(awk -v a="$(ms slipway)" -v b="$(ms nginx)" \
	'BEGIN { printf "%.2f", (b ? a / b : 0) }')"
nginx -c "$dir/px/nginx.conf" -s stop 2>/dev/null || true
