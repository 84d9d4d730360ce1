#!/usr/bin/env bash
# Failover time: two runners of one group on 127.0.0.1 (each its own home
# and proxy, process driver), an app with web=4 spread over both.  Each
# run kills runner r2 and every process of its containers with SIGKILL,
# then times until every slot of the app is on r1 and r1 reports each one
# up (the controller's `ps`, polled every 0.1 s): the lease lapsing (the
# controller's --runner-lease, 5 s by default), the schedule moving the
# slots, r1 starting and health-checking the new containers, and its
# report.  r2 is started again between runs and takes its share back.
# Prints each run, the median of RUNS, and the ratio to the 26 s issue 17
# measured before leases (a 30 s runner timeout, 10 s heartbeats).
#   bench/failover.sh [RUNS] [LEASE]
# Not a test: it asserts nothing.
set -eu
runs=${1:-5} lease=${2:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=${SLIPWAY_BIN:-$top/build/slipway}
for t in jq curl "$bin"; do
	command -v "$t" >/dev/null || { echo "bench/failover.sh: needs $t (make; scripts/deps.sh)" >&2; exit 1; }
done
bb=$(command -v busybox || echo /bin/busybox)
file "$bb" 2>/dev/null | grep -q 'statically linked' ||
	{ echo "bench/failover.sh: needs a static busybox (busybox-static)" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/fobench.XXXXXX")
pids=() r1= r2=
slipway() { "$bin" "$@"; }
cleanup() {
	local h id
	for p in $r1 $r2 "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for h in h1 h2; do
		[ -d "$dir/$h/runner/containers" ] || continue
		for id in $(ls "$dir/$h/runner/containers"); do
			SLIPWAY_HOME=$dir/$h slipway runner destroy "$id" >/dev/null 2>&1 || true
		done
	done
	wait 2>/dev/null || true
	rm -rf "${dir:?}"
}
trap cleanup EXIT
export SLIPWAY_CONFIG=$dir/client.json SLIPWAY_HOME=$dir/ctl
base=$(( 30000 + (RANDOM % 250) * 100 ))

cp=$(free_port) rp=$(free_port) p1=$(free_port) p2=$(free_port)
mkdir -p "$dir/ctl" "$dir/h1" "$dir/h2"
slipway controller --listen "127.0.0.1:$cp" --runner-lease "$lease" >"$dir/ctl.log" 2>&1 &
pids+=($!)
wait_port "$cp"
export SLIPWAY_URL=http://127.0.0.1:$cp
SLIPWAY_TOKEN=$(sed -n 's/.*shown only now, save it): \(slw_[0-9a-f]*\)$/\1/p' "$dir/ctl.log")
export SLIPWAY_TOKEN
slipway registry --listen "127.0.0.1:$rp" --root "$dir/registry" \
	--realm "$SLIPWAY_URL/v1/registry/token" --service slipway-registry >"$dir/reg.log" 2>&1 &
pids+=($!)
for i in 1 2; do
	port=$([ $i = 1 ] && echo "$p1" || echo "$p2")
	slipway proxy --listen "127.0.0.1:$port" --control "$dir/px$i.sock" >"$dir/px$i.log" 2>&1 &
	pids+=($!)
	wait_port "$port"
done
wait_port "$rp"
k1=$(slipway runners:add r1 2>/dev/null) k2=$(slipway runners:add r2 2>/dev/null)
start_runner() { # N: prints its pid
	local n=$1 key port
	key=$([ "$n" = 1 ] && echo "$k1" || echo "$k2")
	port=$([ "$n" = 1 ] && echo "$p1" || echo "$p2")
	SLIPWAY_HOME=$dir/h$n "$bin" runner --controller "$SLIPWAY_URL" --group default \
		--key "$key" --driver process --proxy-control "$dir/px$n.sock" \
		--proxy-port "$port" --health-interval 0.2 --grace 2 --drain 2 \
		--port-base $((base + n * 200)) >>"$dir/r$n.log" 2>&1 &
	echo $!
}
r1=$(start_runner 1)
r2=$(start_runner 2)

# one image of an app answering on $PORT
slipway stack import --busybox --busybox-path "$bb" -o "$dir/stack" --tag latest >/dev/null
mkdir -p "$dir/src/public" && echo ok >"$dir/src/public/index.html"
slipway slug create --dir "$dir/src" -o "$dir/slug.tgz" >/dev/null
slipway image build --slug "$dir/slug.tgz" --base "$dir/stack" -o "$dir/img" --tag v1 \
	--process 'web=busybox httpd -f -p $PORT -h public' >/dev/null
slipway image push --user "admin:$SLIPWAY_TOKEN" "$dir/img:v1" "127.0.0.1:$rp/shop:v1" >/dev/null 2>&1
digest=$(jq -r '.manifests[0].digest' "$dir/img/index.json")
slipway apps:create shop >/dev/null
api() { curl -sS -X "$1" -H "Authorization: Bearer $SLIPWAY_TOKEN" "$SLIPWAY_URL$2" "${@:3}"; }
n=$(api POST /v1/apps/shop/builds -d '{}' | jq -r .number)
api PATCH "/v1/apps/shop/builds/$n" -d "$(jq -n --arg i "127.0.0.1:$rp/shop:v1" --arg d "$digest" \
	'{status: "succeeded", image: $i, digest: $d, process_types: {web: "busybox httpd -f -p $PORT -h public"}}')" >/dev/null
slipway ps:scale shop web=4 >/dev/null

# "runner:state" of each slot, sorted
slots() {
	slipway ps shop --json 2>/dev/null | jq -r '[.containers[] | select(.lost != true) |
		"\(.runner):\(.reported.state // "-")"] | sort | join(" ")'
}
wait_slots() { # WANT SECONDS
	local end=$(( $(date +%s) + $2 ))
	while [ "$(slots)" != "$1" ]; do
		[ "$(date +%s)" -lt "$end" ] || { echo "bench/failover.sh: slots are '$(slots)', not '$1' after $2 s" >&2; exit 1; }
		sleep 0.1
	done
}
spread="r1:up r1:up r2:up r2:up"
moved="r1:up r1:up r1:up r1:up"
times=()
for run in $(seq 1 "$runs"); do
	wait_slots "$spread" 120
	ps2=$(SLIPWAY_HOME=$dir/h2 slipway runner ps --json | jq -r '.[] | select(.pid > 0) | .pid')
	t0=$(date +%s.%N)
	kill -KILL "$r2" $ps2
	wait_slots "$moved" 120
	t1=$(date +%s.%N)
	t=$(echo "$t1 - $t0" | bc)
	times+=("$t")
	printf 'run %d: %.2f s\n' "$run" "$t"
	r2=$(start_runner 2)
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
printf 'failover (kill -9 of a runner to all its slots up elsewhere), lease %ss: median %.2f s of %d runs\n' \
	"$lease" "$median" "$runs"
printf 'before leases (issue 17, 30 s runner timeout): ~26 s; ratio %.1fx faster\n' \
	"$(echo "26 / $median" | bc -l)"
