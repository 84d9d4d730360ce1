#!/usr/bin/env bash
# slipway's registry against the CNCF Distribution registry (Debian's
# docker-registry), side by side in one run, same client for both:
#   - push of a random layer (200 MiB): monolithic (POST + one PUT) and
#     chunked (POST + PATCHes of 10 MiB + PUT), with curl
#   - pull of the same blob with curl
#   - manifest GET by tag with wrk
# Rounds alternate between the two servers; each figure is the median.
# Also the server CPU time per operation (from /proc), since on loopback
# the single curl client can be the bottleneck rather than the server.
#
#   make && bench/registry.sh
#   ROUNDS=5 SIZE_MIB=200 CHUNK_MIB=10 WRK_SECS=10 WRK_CONNS=32 bench/registry.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=$top/build/slipway
ROUNDS=${ROUNDS:-5}
SIZE_MIB=${SIZE_MIB:-200}
CHUNK_MIB=${CHUNK_MIB:-10}
WRK_SECS=${WRK_SECS:-10}
WRK_CONNS=${WRK_CONNS:-32}

[ -x "$BIN" ] || { echo "bench/registry.sh: build/slipway missing; run make" >&2; exit 1; }
for p in docker-registry curl wrk jq sha256sum split; do
	command -v $p >/dev/null || { echo "bench/registry.sh: $p is not installed" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench.XXXXXX")
pids=()
cleanup() {
	set +e          # a server's exit status must not stop the cleanup
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

port() { # a free port on 127.0.0.1
	local p
	while :; do
		p=$(( RANDOM % 20000 + 30000 ))
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
}
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench/registry.sh: nothing listens on $1" >&2; exit 1
}

# ---- the two servers ----
DR_PORT=$(port)
cat >dr.yml <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $tmp/dr
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$DR_PORT
EOF
docker-registry serve dr.yml >dr.log 2>&1 &
DR_PID=$!; pids+=($DR_PID)
wait_port $DR_PORT

SW_PORT=$(port)
export SLIPWAY_HOME=$tmp/home
SLIPWAY_LOG=warn "$BIN" registry --listen 127.0.0.1:$SW_PORT --root "$tmp/sw" \
	--anonymous-pull >sw.log 2>&1 &
SW_PID=$!; pids+=($SW_PID)
wait_port $SW_PORT
TOKEN=$("$BIN" registry token --repo bench --actions pull,push --ttl 3600)

declare -A BASE=([sw]=http://127.0.0.1:$SW_PORT [dr]=http://127.0.0.1:$DR_PORT)
declare -A AUTH=([sw]="Authorization: Bearer $TOKEN" [dr]="X-No-Auth: 1")
declare -A PID=([sw]=$SW_PID [dr]=$DR_PID)
declare -A NAME=([sw]="slipway" [dr]="docker-registry")

echo "making a ${SIZE_MIB} MiB random layer..."
head -c $((SIZE_MIB << 20)) /dev/urandom >layer
DIGEST=sha256:$(sha256sum layer | cut -d' ' -f1)
split -b $((CHUNK_MIB << 20)) -a 4 layer chunk.
NCHUNKS=$(ls chunk.* | wc -l)

now() { echo "$EPOCHREALTIME"; }
cpu() { # utime+stime of a process, in clock ticks
	awk '{print $14 + $15}' /proc/$1/stat
}
# Absolute upload URL from a response's Location (relative or not).
loc_of() { # srv headers-file
	local l
	l=$(grep -i '^location:' "$2" | tail -1 | cut -d' ' -f2- | tr -d '\r')
	case $l in http*) echo "$l" ;; *) echo "${BASE[$1]}$l" ;; esac
}
with_digest() { # url
	case $1 in *\?*) echo "$1&digest=$DIGEST" ;; *) echo "$1?digest=$DIGEST" ;; esac
}
fail() { echo "bench/registry.sh: $*" >&2; exit 1; }

push_mono() { # srv
	local s=$1 loc st
	st=$(curl -s -o /dev/null -D h -w '%{http_code}' -X POST -H "${AUTH[$s]}" \
		"${BASE[$s]}/v2/bench/blobs/uploads/")
	[ "$st" = 202 ] || fail "${NAME[$s]}: POST gave $st"
	loc=$(loc_of $s h)
	st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "${AUTH[$s]}" \
		-H 'Content-Type: application/octet-stream' -T layer "$(with_digest "$loc")")
	[ "$st" = 201 ] || fail "${NAME[$s]}: PUT gave $st"
}

push_chunked() { # srv
	local s=$1 loc st off=0 c n
	st=$(curl -s -o /dev/null -D h -w '%{http_code}' -X POST -H "${AUTH[$s]}" \
		-H 'Content-Length: 0' "${BASE[$s]}/v2/bench/blobs/uploads/")
	[ "$st" = 202 ] || fail "${NAME[$s]}: POST gave $st"
	loc=$(loc_of $s h)
	for c in chunk.*; do
		n=$(stat -c %s "$c")
		st=$(curl -s -o /dev/null -D h -w '%{http_code}' -X PATCH -H "${AUTH[$s]}" \
			-H 'Content-Type: application/octet-stream' \
			-H "Content-Range: $off-$((off + n - 1))" -T "$c" "$loc")
		[ "$st" = 202 ] || fail "${NAME[$s]}: PATCH gave $st"
		loc=$(loc_of $s h)
		off=$((off + n))
	done
	st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "${AUTH[$s]}" \
		-H 'Content-Length: 0' "$(with_digest "$loc")")
	[ "$st" = 201 ] || fail "${NAME[$s]}: closing PUT gave $st"
}

pull() { # srv
	local s=$1 st
	st=$(curl -s -o /dev/null -w '%{http_code}' -H "${AUTH[$s]}" \
		"${BASE[$s]}/v2/bench/blobs/$DIGEST")
	[ "$st" = 200 ] || fail "${NAME[$s]}: GET blob gave $st"
}

# measure OP SRV: seconds and server CPU ticks appended to results
measure() {
	local op=$1 s=$2 t0 t1 c0 c1
	c0=$(cpu ${PID[$s]}); t0=$(now)
	$op $s
	t1=$(now); c1=$(cpu ${PID[$s]})
	echo "$op $s $(echo "$t1 - $t0" | bc -l) $((c1 - c0))" >>results
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
col() { # op srv column
	awk -v o=$1 -v s=$2 -v c=$3 '$1==o && $2==s {print $c}' results | median
}

echo "rounds: $ROUNDS, layer ${SIZE_MIB} MiB, chunks ${CHUNK_MIB} MiB ($NCHUNKS)"
: >results
for r in $(seq "$ROUNDS"); do
	for s in sw dr; do
		measure push_mono $s
		measure push_chunked $s
		measure pull $s
	done
	echo "  round $r done"
done

# ---- manifest GET by tag ----
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >cfg.json
CFG=sha256:$(sha256sum cfg.json | cut -d' ' -f1)
jq -n --arg c "$CFG" --argjson cs "$(stat -c %s cfg.json)" --arg l "$DIGEST" \
	--argjson ls $((SIZE_MIB << 20)) \
	'{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
	  config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},
	  layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$l,size:$ls}]}' >man.json
for s in sw dr; do
	st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "${AUTH[$s]}" \
		-H 'Content-Type: application/octet-stream' --data-binary @cfg.json \
		"${BASE[$s]}/v2/bench/blobs/uploads/?digest=$CFG")
	if [ "$st" = 202 ]; then   # no single-POST upload: POST then PUT
		curl -s -o /dev/null -D h -X POST -H "${AUTH[$s]}" "${BASE[$s]}/v2/bench/blobs/uploads/"
		loc=$(loc_of $s h); loc=${loc/digest=*/}
		case $loc in *\?*) loc="$loc&digest=$CFG" ;; *) loc="$loc?digest=$CFG" ;; esac
		st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "${AUTH[$s]}" \
			-H 'Content-Type: application/octet-stream' --data-binary @cfg.json "$loc")
	fi
	[ "$st" = 201 ] || fail "${NAME[$s]}: config upload gave $st"
	st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "${AUTH[$s]}" \
		-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary @man.json "${BASE[$s]}/v2/bench/manifests/v1")
	[ "$st" = 201 ] || fail "${NAME[$s]}: manifest PUT gave $st"
done
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
wrk_rps() { # url [header]
	local out
	out=$(wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECS}s" -H "$ACCEPT" ${2:+-H "$2"} "$1")
	if grep -q 'Non-2xx' <<<"$out"; then fail "wrk on $1: $(grep Non-2xx <<<"$out")"; fi
	awk '/Requests\/sec/ {print $2}' <<<"$out"
}
: >rps
WRK_ROUNDS=${WRK_ROUNDS:-3}
echo "manifest GET: wrk -t2 -c$WRK_CONNS -d${WRK_SECS}s, $WRK_ROUNDS rounds"
for r in $(seq "$WRK_ROUNDS"); do
	echo "sw $(wrk_rps "${BASE[sw]}/v2/bench/manifests/v1")" >>rps
	echo "swtok $(wrk_rps "${BASE[sw]}/v2/bench/manifests/v1" "${AUTH[sw]}")" >>rps
	echo "dr $(wrk_rps "${BASE[dr]}/v2/bench/manifests/v1")" >>rps
done

# ---- report ----
mibs() { echo "scale=1; $SIZE_MIB / $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
tick=$(getconf CLK_TCK)
echo
printf '%-22s %15s %16s %8s   %s\n' "" "slipway" "docker-registry" "ratio" "server CPU ms (slipway / docker-registry)"
for op in push_mono push_chunked pull; do
	ts=$(col $op sw 3); td=$(col $op dr 3)
	cs=$(col $op sw 4); cd=$(col $op dr 4)
	printf '%-22s %9s MiB/s %10s MiB/s %7sx   %s / %s\n' "$op" "$(mibs "$ts")" "$(mibs "$td")" \
		"$(ratio "$td" "$ts")" $((cs * 1000 / tick)) $((cd * 1000 / tick))
done
rs=$(awk '$1=="sw" {print $2}' rps | median)
rt=$(awk '$1=="swtok" {print $2}' rps | median)
rd=$(awk '$1=="dr" {print $2}' rps | median)
printf '%-22s %11s r/s %12s r/s %7sx\n' "manifest GET (anon)" "$rs" "$rd" "$(ratio "$rs" "$rd")"
printf '%-22s %11s r/s %12s r/s %7sx\n' "manifest GET (token)" "$rt" "$rd" "$(ratio "$rt" "$rd")"
echo
echo "medians of $ROUNDS rounds (push/pull) and $WRK_ROUNDS rounds (wrk); goals: 1.5x push and pull, 10x manifest GET"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
