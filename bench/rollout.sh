#!/usr/bin/env bash
# How long a deploy takes to show: from "release recorded" (the build's
# PATCH to succeeded has answered) to the first answer of the new version
# through the proxy, for the sample app (examples/hello: busybox httpd).
# A whole slipway runs on free ports: controller, registry (token realm:
# the controller), proxy, runner daemon.  Each round deploys a new image.
#
# The peer is the floor: the same app's process started by hand and
# polled until it answers (what no orchestration can beat).  Medians of
# each and their ratio are printed, per driver (process; runc too when
# root and runc are there).
#
# Back to back: each round also deploys twice in a row (the second as
# soon as the first answers, as a developer pushing again at once) and
# times the second.  Its old containers are still being retired then
# (drained, stopped within the runner's default --grace 10): the median
# of "right after another" over "at rest" says what that costs (about 1
# when the runner retires in the background).
#   bench/rollout.sh [ROUNDS]
#   SLIPWAY_BENCH_BIN=/path/to/slipway bench/rollout.sh   (another build)
set -eu
rounds=${1:-7}
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
bin=${SLIPWAY_BENCH_BIN:-$top/build/slipway}
bb=$(command -v busybox || echo /bin/busybox)
for t in curl jq "$bin" "$bb"; do
	command -v "$t" >/dev/null || { echo "bench/rollout.sh: needs $t (make; scripts/deps.sh)" >&2; exit 1; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/rlbench.XXXXXX")
pids=()
runner_pid=
cleanup() {
	[ -n "$runner_pid" ] && kill "$runner_pid" 2>/dev/null || true
	for _ in $(seq 100); do [ -n "$runner_pid" ] && kill -0 "$runner_pid" 2>/dev/null && sleep 0.1; done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for h in "$dir"/rhome-*; do
		[ -d "$h/runner/containers" ] || continue
		for id in $(ls "$h/runner/containers"); do
			SLIPWAY_HOME=$h "$bin" runner destroy "$id" >/dev/null 2>&1 || true
		done
	done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

export SLIPWAY_HOME=$dir/ctl SLIPWAY_CONFIG=$dir/client.json
mkdir -p "$SLIPWAY_HOME"
ctl=$(free_port) reg=$(free_port) px=$(free_port)
"$bin" controller --listen "127.0.0.1:$ctl" >"$dir/ctl.log" 2>&1 & pids+=($!)
wait_port "$ctl"
export SLIPWAY_URL=http://127.0.0.1:$ctl
export SLIPWAY_TOKEN=$(sed -n 's/.*save it): \(slw_[0-9a-f]*\)$/\1/p' "$dir/ctl.log")
"$bin" registry --listen "127.0.0.1:$reg" --root "$dir/registry" \
	--realm "$SLIPWAY_URL/v1/registry/token" --service slipway-registry \
	>"$dir/reg.log" 2>&1 & pids+=($!)
"$bin" proxy --listen "127.0.0.1:$px" --control "$dir/proxy.sock" \
	--access-log off >"$dir/proxy.log" 2>&1 & pids+=($!)
wait_port "$reg"; wait_port "$px"
"$bin" stack import --busybox -o "$dir/stack" --tag latest >/dev/null

cmd=$(sed -n 's/^web: //p' "$top/examples/hello/Procfile")
# One image per round and driver, each page naming its version.
images() { # APP N
	for v in $(seq 1 "$2"); do
		rm -rf "$dir/src" && cp -r "$top/examples/hello" "$dir/src" &&
		echo "$1 version $v" >"$dir/src/public/index.html"
		"$bin" slug create --dir "$dir/src" -o "$dir/slug.tgz" >/dev/null
		"$bin" image build --slug "$dir/slug.tgz" --base "$dir/stack" \
			-o "$dir/img-$1" --tag "v$v" --process "web=$cmd" >/dev/null
		"$bin" image push --user "admin:$SLIPWAY_TOKEN" "$dir/img-$1:v$v" \
			"127.0.0.1:$reg/$1:v$v" >/dev/null 2>&1
	done
}
deploy() { # APP N: PATCH the build; returns when the release is recorded
	local n d
	d=$(jq -r --arg t "v$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$dir/img-$1/index.json")
	n=$(curl -sf -X POST -H "Authorization: Bearer $SLIPWAY_TOKEN" "$SLIPWAY_URL/v1/apps/$1/builds" -d '{}' | jq -r .number)
	curl -sf -X PATCH -H "Authorization: Bearer $SLIPWAY_TOKEN" \
		"$SLIPWAY_URL/v1/apps/$1/builds/$n" -d "$(jq -n --arg i "127.0.0.1:$reg/$1:v$2" \
		--arg d "$d" --arg c "$cmd" '{status: "succeeded", image: $i, digest: $d,
		process_types: {web: $c}}')" >/dev/null
}
until_answers() { # APP WANT
	while [ "$(curl -s --max-time 2 -H "Host: $1.localhost" "http://127.0.0.1:$px/" 2>/dev/null)" != "$2" ]; do :; done
}

# The floor: the app's process started by hand, polled the same way.
floor() {
	local p t0 pid
	p=$(free_port)
	t0=$(now_ms)
	(cd "$top/examples/hello" && PORT=$p exec "$bb" httpd -f -p "127.0.0.1:$p" -h public) &
	pid=$!
	while ! curl -s -o /dev/null "http://127.0.0.1:$p/" 2>/dev/null; do :; done
	echo $(( $(now_ms) - t0 ))
	kill "$pid"; wait "$pid" 2>/dev/null || true
}

# Until the app runs one container only: nothing of before is retiring.
at_rest() { # DRIVER
	for _ in $(seq 600); do
		[ "$(SLIPWAY_HOME=$dir/rhome-$1 "$bin" runner ps --json | jq length)" = 1 ] && return 0
		sleep 0.1
	done
	echo "bench/rollout.sh: old containers still there after 60s" >&2; exit 1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }

key=$("$bin" runners:add r1 2>/dev/null)
drivers=process
if [ "$(id -u)" = 0 ] && command -v runc >/dev/null; then drivers="process runc"; fi
printf '%-8s %-6s %12s %16s %12s\n' driver round "at rest (ms)" "right after (ms)" "floor (ms)"
for drv in $drivers; do
	app=hello-$drv
	"$bin" apps:create "$app" >/dev/null
	images "$app" $((3 * rounds + 1))
	mkdir -p "$dir/rhome-$drv"
	SLIPWAY_HOME=$dir/rhome-$drv "$bin" runner --controller "$SLIPWAY_URL" \
		--group default --key "$key" --driver "$drv" \
		--proxy-control "$dir/proxy.sock" --proxy-port "$px" \
		--health-interval 0.1 >"$dir/runner-$drv.log" 2>&1 &
	runner_pid=$!
	deploy "$app" 1 && until_answers "$app" "$app version 1"  # warm: first pull
	: >"$dir/d.txt"; : >"$dir/b.txt"; : >"$dir/f.txt"
	v=1
	for r in $(seq 1 "$rounds"); do
		# at rest: the previous release's containers are gone
		at_rest "$drv"
		v=$((v + 1))
		deploy "$app" "$v"
		t0=$(now_ms)
		until_answers "$app" "$app version $v"
		d=$(( $(now_ms) - t0 ))
		# back to back: again as soon as that one answers
		at_rest "$drv"
		v=$((v + 1))
		deploy "$app" "$v"
		until_answers "$app" "$app version $v"
		v=$((v + 1))
		deploy "$app" "$v"
		t0=$(now_ms)
		until_answers "$app" "$app version $v"
		b=$(( $(now_ms) - t0 ))
		f=$(floor)
		echo "$d" >>"$dir/d.txt"; echo "$b" >>"$dir/b.txt"; echo "$f" >>"$dir/f.txt"
		printf '%-8s %-6s %12s %16s %12s\n' "$drv" "$r" "$d" "$b" "$f"
	done
	md=$(median <"$dir/d.txt") mb=$(median <"$dir/b.txt") mf=$(median <"$dir/f.txt")
	printf '%-8s %-6s %12s %16s %12s   at rest/floor %s, right after/at rest %s\n' \
		"$drv" median "$md" "$mb" "$mf" "$(ratio "$md" "$mf")" "$(ratio "$mb" "$md")"
	at_rest "$drv"
	kill "$runner_pid"
	for _ in $(seq 150); do kill -0 "$runner_pid" 2>/dev/null || break; sleep 0.1; done
	runner_pid=
	for id in $(ls "$dir/rhome-$drv/runner/containers"); do
		SLIPWAY_HOME=$dir/rhome-$drv "$bin" runner destroy "$id" >/dev/null 2>&1 || true
	done
	"$bin" apps:destroy "$app" --confirm "$app" >/dev/null
done
