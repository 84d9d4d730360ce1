#!/usr/bin/env bash
# The registry client beside skopeo, against docker-registry, in one run:
# push and pull of an image with one large random layer.  Prints the median
# of several rounds for each and the ratio (skopeo time / slipway time:
# above 1 means slipway is faster).  Uses the release build.
#   bench/image-client.sh [SIZE_MIB] [ROUNDS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=$top/build/slipway
size=${1:-200}
rounds=${2:-5}
[ -x "$bin" ] || { echo "build first: make" >&2; exit 1; }
for t in docker-registry skopeo python3 bc; do
	command -v $t >/dev/null || { echo "$t is not installed" >&2; exit 1; }
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cd "$dir"

# A fresh docker-registry (empty storage, new port) for each client and
# round, so no client finds the blobs there already (skopeo remembers, across
# runs, where it saw blobs, and would mount them).
start_registry() {
	if [ -n "$pid" ]; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	rm -rf "$dir/data"
	printf '%s\n' 'version: 0.1' 'log:' '  level: error' '  accesslog:' \
		'    disabled: true' 'storage:' '  filesystem:' \
		"    rootdirectory: $dir/data" 'http:' "  addr: 127.0.0.1:$port" > reg.yml
	docker-registry serve reg.yml >reg.log 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0
		sleep 0.1
	done
	echo "docker-registry did not start" >&2
	exit 1
}

# One layer of random (incompressible) bytes, so gzip does not shrink it.
mkdir -p src/app
head -c $((size << 20)) /dev/urandom > src/app/blob
tar -C src -cf - app | gzip -1 -n > slug.tgz
"$bin" image build --slug slug.tgz -o img --tag v1 >/dev/null
layer=$(stat -c %s slug.tgz)

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() { # file command...
	local f=$1 t0 t1
	shift
	t0=$(now); "$@" >/dev/null; t1=$(now)
	echo "$t1 - $t0" | bc >> "$f"
}

for i in $(seq "$rounds"); do
	start_registry
	timed push.slipway "$bin" image push img:v1 "127.0.0.1:$port/app:v1" --json
	timed pull.slipway "$bin" image pull "127.0.0.1:$port/app:v1" -o "ps$i" --json
	start_registry
	timed push.skopeo skopeo copy --quiet --dest-tls-verify=false oci:img:v1 \
		"docker://127.0.0.1:$port/app:v1"
	timed pull.skopeo skopeo copy --quiet --src-tls-verify=false \
		"docker://127.0.0.1:$port/app:v1" "oci:pk$i:v1"
	rm -rf "ps$i" "pk$i"
done

echo "layer: $((layer >> 20)) MiB, $rounds rounds, docker-registry on 127.0.0.1"
for op in push pull; do
	s=$(median < $op.slipway) k=$(median < $op.skopeo)
	printf '%s: slipway %.2fs (%.0f MiB/s)  skopeo %.2fs (%.0f MiB/s)  ratio %.2fx\n' \
		"$op" "$s" "$(echo "$layer / 1048576 / $s" | bc -l)" \
		"$k" "$(echo "$layer / 1048576 / $k" | bc -l)" \
		"$(echo "$k / $s" | bc -l)"
done
