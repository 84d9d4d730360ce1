#!/usr/bin/env bash
# Benchmark: the controller's API against nginx serving a static file (the
# ceiling for this machine), in the same run.
#
#   reads   wrk on GET /v1/apps/bench/releases (the app has 1,000 releases;
#           default page of 100 and ?limit=1000), authenticated, versus
#           nginx serving the very same bytes as a static file.
#   writes  C parallel curl clients, each sending N config changes (each a
#           release) on one keep-alive connection, versus the same curl
#           clients fetching nginx's static file.  Every answer is checked:
#           every change made a release, no number twice, none skipped,
#           every key in the final config.
#
# Several rounds; prints medians and ratios.  Uses the release build
# (make build/slipway).  Environment: ROUNDS (3), DURATION (5 s), CONNS
# (16), WRITERS (4), WRITES (250 per writer).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=$top/build/slipway
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-16}
WRITERS=${WRITERS:-4} WRITES=${WRITES:-250}

for t in wrk nginx curl jq sqlite3; do
	command -v "$t" >/dev/null || { echo "bench/controller.sh: needs $t" >&2; exit 1; }
done
[ -x "$bin" ] || make -C "$top" build/slipway >/dev/null

dir=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")
# nginx's workers run as nobody: they must be able to read www/ (a 0700
# temp dir would make every "ceiling" answer a 403)
chmod 755 "$dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Requests per second from wrk's output; a run with any non-2xx answer is
# not a measurement.
rps() {
	local out
	out=$(cat)
	if grep -q 'Non-2xx' <<<"$out"; then
		echo "bench/controller.sh: wrk: $(grep Non-2xx <<<"$out")" >&2
		exit 1
	fi
	awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

# ---- the controller, quiet (no access log), with 1,000 releases ----
cport=$(free_port)
SLIPWAY_LOG=warn "$bin" controller --listen "127.0.0.1:$cport" --home "$dir/home" \
	2>"$dir/controller.log" &
pids+=($!)
wait_port "$cport"
token=$(sed -n 's/.*save it): \(slw_[0-9a-f]*\)$/\1/p' "$dir/controller.log")
api=http://127.0.0.1:$cport/v1
curl -sf -H "Authorization: Bearer $token" -d '{"name":"bench"}' "$api/apps" >/dev/null

seed() { # FIRST COUNT KEY: set KEY to FIRST..FIRST+COUNT-1 in turn, each a
	# config change (a release), on one keep-alive connection
	local first=$1 count=$2 key=$3 f i
	f=$dir/seed.$key.cfg
	: >"$f"
	for i in $(seq "$first" $((first + count - 1))); do
		[ "$i" = "$first" ] || echo next >>"$f"
		printf 'url = "%s/apps/bench/config"\nrequest = "PATCH"\ndata = "{\\"%s\\":\\"%d\\"}"\nheader = "Authorization: Bearer %s"\nwrite-out = "%%{http_code}\\n"\n' \
			"$api" "$key" "$i" "$token" >>"$f"
	done
	curl -s -K "$f"
}
seed 1 1000 SEED >"$dir/seed.out"
[ "$(grep -c '"version"' "$dir/seed.out")" -ge 1000 ] || {
	echo "seeding 1,000 releases failed" >&2; exit 1; }
rel=$(curl -sf -H "Authorization: Bearer $token" "$api/apps/bench" | jq .release)
echo "controller: app 'bench' has $rel releases"

# ---- nginx with the same bytes as static files ----
nport=$(free_port)
mkdir -p "$dir/www" "$dir/nginx"
curl -sf -H "Authorization: Bearer $token" "$api/apps/bench/releases" >"$dir/www/page100.json"
curl -sf -H "Authorization: Bearer $token" "$api/apps/bench/releases?limit=1000" >"$dir/www/page1000.json"
cat >"$dir/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $dir/nginx;
	proxy_temp_path $dir/nginx;
	fastcgi_temp_path $dir/nginx;
	uwsgi_temp_path $dir/nginx;
	scgi_temp_path $dir/nginx;
	default_type application/json;
	sendfile on;
	server { listen 127.0.0.1:$nport; root $dir/www; }
}
EOF
nginx -c "$dir/nginx/nginx.conf" -p "$dir/nginx" -g 'daemon off;' 2>"$dir/nginx/stderr" &
pids+=($!)
wait_port "$nport"
nginx_url=http://127.0.0.1:$nport
for page in 100 1000; do
	curl -sf "$nginx_url/page$page.json" | cmp -s - "$dir/www/page$page.json" || {
		echo "bench/controller.sh: nginx does not serve page$page.json" >&2; exit 1; }
done

echo "reads: wrk -t2 -c$CONNS -d${DURATION}s, $ROUNDS rounds, medians"
for page in 100 1000; do
	q=; [ $page = 1000 ] && q='?limit=1000'
	bytes=$(stat -c %s "$dir/www/page$page.json")
	: >"$dir/c.$page" ; : >"$dir/n.$page"
	for r in $(seq 1 "$ROUNDS"); do
		wrk -t2 -c"$CONNS" -d"${DURATION}s" -H "Authorization: Bearer $token" \
			"$api/apps/bench/releases$q" | rps >>"$dir/c.$page"
		wrk -t2 -c"$CONNS" -d"${DURATION}s" "$nginx_url/page$page.json" | rps >>"$dir/n.$page"
	done
	c=$(median <"$dir/c.$page") n=$(median <"$dir/n.$page")
	printf '  GET releases (%4d of 1000, %6d bytes)  slipway %9.0f req/s  nginx %9.0f req/s  ratio %.2f\n' \
		"$page" "$bytes" "$c" "$n" "$(echo "$c / $n" | bc -l)"
done

echo "writes: $WRITERS parallel curl clients x $WRITES config:set each (keep-alive), $ROUNDS rounds"
next=1001 ok=1
: >"$dir/w" ; : >"$dir/nw"
for r in $(seq 1 "$ROUNDS"); do
	base=$(curl -sf -H "Authorization: Bearer $token" "$api/apps/bench" | jq .release)
	start=$(date +%s.%N)
	wp=()
	for w in $(seq 1 "$WRITERS"); do
		seed $((next + (w - 1) * WRITES)) "$WRITES" "R${r}W$w" >"$dir/w.$r.$w" &
		wp+=($!)
	done
	wait "${wp[@]}"
	end=$(date +%s.%N)
	echo "$WRITERS * $WRITES / ($end - $start)" | bc -l >>"$dir/w"
	# Every answer a new release; versions base+1..base+N, none twice.
	total=$((WRITERS * WRITES))
	got=$(cat "$dir"/w.$r.* | grep -c '^201$' || true)
	vs=$(cat "$dir"/w.$r.* | grep -o '"release":{"version":[0-9]*' | grep -o '[0-9]*$' | sort -n)
	uniq=$(sort -nu <<<"$vs" | wc -l)
	want=$(seq $((base + 1)) $((base + total)) | tr '\n' ' ')
	have=$(tr '\n' ' ' <<<"$vs")
	last=$(curl -sf -H "Authorization: Bearer $token" "$api/apps/bench" | jq .release)
	# every value each writer sent is in some config version
	keys=0
	for w in $(seq 1 "$WRITERS"); do
		keys=$((keys + $(sqlite3 "$dir/home/slipway.db" \
			"SELECT count(DISTINCT json_extract(vars, '\$.R${r}W$w')) FROM configs")))
	done
	if [ "$got" != "$total" ] || [ "$uniq" != "$total" ] || [ "$want" != "$have" ] ||
	    [ "$last" != $((base + total)) ] || [ "$keys" != "$total" ]; then
		echo "  round $r: LOST OR DUPLICATED: $got/$total answered 201, $uniq distinct versions, last v$last (want v$((base + total))), $keys/$total values in the store" >&2
		ok=0
	fi
	next=$((next + total))
	# the same clients, the same number of requests, against nginx
	wp=()
	start=$(date +%s.%N)
	for w in $(seq 1 "$WRITERS"); do
		( f=$dir/nginx.$w.cfg; : >"$f"
		  for i in $(seq 1 "$WRITES"); do
			[ "$i" = 1 ] || echo next >>"$f"
			printf 'url = "%s/page100.json"\noutput = "/dev/null"\n' "$nginx_url" >>"$f"
		  done
		  curl -s -K "$f" ) &
		wp+=($!)
	done
	wait "${wp[@]}"
	end=$(date +%s.%N)
	echo "$WRITERS * $WRITES / ($end - $start)" | bc -l >>"$dir/nw"
done
c=$(median <"$dir/w") n=$(median <"$dir/nw")
printf '  config:set (one release each)  slipway %9.0f req/s  nginx GET %9.0f req/s  ratio %.2f\n' \
	"$c" "$n" "$(echo "$c / $n" | bc -l)"
db=$dir/home/slipway.db
read -r cnt distinct mx < <(sqlite3 -separator ' ' "$db" \
	"SELECT count(*), count(DISTINCT version), max(version) FROM releases")
echo "  store: $cnt releases, $distinct distinct numbers, highest v$mx"
if [ "$ok" = 1 ] && [ "$cnt" = "$distinct" ] && [ "$cnt" = "$mx" ]; then
	echo "  no write lost, none numbered twice, no gap"
else
	echo "  WRITES LOST OR NUMBERED TWICE" >&2
	exit 1
fi
