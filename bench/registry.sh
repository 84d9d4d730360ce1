#!/usr/bin/env bash
# slipway's registry against the CNCF Distribution registry (Debian's
# docker-registry), side by side in one run, same client for both:
#   - push of a random layer (200 MiB), a new blob every time:
#     monolithic (POST + one PUT, curl) and chunked (POST + PATCHes of
#     10 MiB + PUT on one connection, libcurl: bench/registry_chunked.c)
#   - pull of the blob just pushed: with curl, with a client that only
#     receives (bench/registry_pull.c: curl's own CPU is the bound on
#     loopback), and PULLERS such pulls at once (runners of a group
#     pulling a new release)
#   - manifest GET by tag with wrk
# Rounds alternate between the two servers; each figure is the median.
# Also the server's and the client's CPU time per operation: on loopback
# the client can be the bottleneck rather than the server.
#
#   make && bench/registry.sh
#   ROUNDS=7 SIZE_MIB=200 CHUNK_MIB=10 PULLERS=4 WRK_SECS=10 WRK_CONNS=32 bench/registry.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=$top/build/slipway
ROUNDS=${ROUNDS:-7}
SIZE_MIB=${SIZE_MIB:-200}
CHUNK_MIB=${CHUNK_MIB:-10}
WRK_SECS=${WRK_SECS:-10}
WRK_CONNS=${WRK_CONNS:-32}
PULLERS=${PULLERS:-4}

[ -x "$BIN" ] || { echo "bench/registry.sh: build/slipway missing; run make" >&2; exit 1; }
for p in docker-registry curl wrk jq sha256sum split cc awk; do
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


# ---- the two servers ----
DR_PORT=$(free_port)
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

SW_PORT=$(free_port)
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

cc -O2 -o registry_chunked "$top/bench/registry_chunked.c" -lcurl ||
	{ echo "bench/registry.sh: cannot build bench/registry_chunked.c" >&2; exit 1; }
cc -O2 -o registry_pull "$top/bench/registry_pull.c" ||
	{ echo "bench/registry.sh: cannot build bench/registry_pull.c" >&2; exit 1; }
echo "making a ${SIZE_MIB} MiB random layer..."
head -c $((SIZE_MIB << 20)) /dev/urandom >layer
split -b $((CHUNK_MIB << 20)) -a 4 layer chunk.
CHUNKS=(chunk.*)
NCHUNKS=${#CHUNKS[@]}
# Every push stores a new blob, as a real push does (a blob the registry
# has already is skipped by clients after a HEAD): before each push the
# first 32 bytes of the layer (and of its first chunk) are made new.
DIGEST=
new_layer() {
	head -c 32 /dev/urandom >head32
	dd if=head32 of=layer conv=notrunc status=none
	dd if=head32 of=chunk.aaaa conv=notrunc status=none
	DIGEST=sha256:$(sha256sum layer | cut -d' ' -f1)
}

cpu() { # utime+stime of a process, in clock ticks
	awk '{print $14 + $15}' /proc/$1/stat
}
# Absolute upload URL from a response's Location (relative or not), into
# LOC; read with builtins, so the client side of a push is curl and
# nothing else.
loc_of() { # srv headers-file
	local line l=
	while IFS= read -r line; do
		line=${line%$'\r'}
		case ${line,,} in location:*) l=${line#*:}; l=${l# } ;; esac
	done <"$2"
	case $l in http*) LOC=$l ;; *) LOC=${BASE[$1]}$l ;; esac
}
with_digest() { # url: into URL
	case $1 in *\?*) URL="$1&digest=$DIGEST" ;; *) URL="$1?digest=$DIGEST" ;; esac
}
fail() { echo "bench/registry.sh: $*" >&2; exit 1; }

push_mono() { # srv
	local s=$1 st
	st=$(curl -s -o /dev/null -D h -w '%{http_code}' -X POST -H "${AUTH[$s]}" \
		"${BASE[$s]}/v2/bench/blobs/uploads/")
	[ "$st" = 202 ] || fail "${NAME[$s]}: POST gave $st"
	loc_of $s h
	with_digest "$LOC"
	st=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "${AUTH[$s]}" \
		-H 'Content-Type: application/octet-stream' -T layer "$URL")
	[ "$st" = 201 ] || fail "${NAME[$s]}: PUT gave $st"
}

push_chunked() { # srv: one client process, one connection (libcurl)
	./registry_chunked "${BASE[$1]}" "${AUTH[$1]}" "$DIGEST" bench "${CHUNKS[@]}" ||
		fail "${NAME[$1]}: chunked push failed"
}

pull_curl() { # srv
	local s=$1 st
	st=$(curl -s -o /dev/null -w '%{http_code}' -H "${AUTH[$s]}" \
		"${BASE[$s]}/v2/bench/blobs/$PULL_DIGEST")
	[ "$st" = 200 ] || fail "${NAME[$s]}: GET blob gave $st"
}
pull_one() { # srv
	./registry_pull "${BASE[$1]}/v2/bench/blobs/$PULL_DIGEST" "${AUTH[$1]}" 1 ||
		fail "${NAME[$1]}: pull failed"
}
pull_many() { # srv: PULLERS at once
	./registry_pull "${BASE[$1]}/v2/bench/blobs/$PULL_DIGEST" "${AUTH[$1]}" "$PULLERS" ||
		fail "${NAME[$1]}: $PULLERS pulls at once failed"
}

# measure OP SRV: seconds, server CPU ticks and the client's CPU in ms
# (every process the op ran: curl) appended to results
TIMEFORMAT='%3R %3U %3S'
measure() {
	local op=$1 s=$2 c0 c1
	c0=$(cpu ${PID[$s]})
	{ time $op $s 2>&3; } 3>&2 2>elapsed
	c1=$(cpu ${PID[$s]})
	read -r real user sys <elapsed
	echo "$op $s $real $((c1 - c0)) $(awk -v u="$user" -v s="$sys" 'BEGIN {print (u + s) * 1000}') $ROUND" >>results
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }
# The median over rounds of docker-registry's time / slipway's in the same
# round: the load on this shared machine drifts between rounds, less
# within one.
paired() { # op
	awk -v o=$1 '$1==o && $2=="sw" {s[$6]=$3} $1==o && $2=="dr" {d[$6]=$3}
		END {for (r in s) if (r in d) print d[r] / s[r]}' results | median
}
col() { # op srv column
	awk -v o=$1 -v s=$2 -v c=$3 '$1==o && $2==s {print $c}' results | median
}

echo "rounds: $ROUNDS, layer ${SIZE_MIB} MiB, chunks ${CHUNK_MIB} MiB ($NCHUNKS), a new blob for every push"
: >results
for ROUND in $(seq "$ROUNDS"); do
	# who goes first alternates, so neither always meets the other's
	# writeback or a warmer cache
	if [ $((ROUND % 2)) = 1 ]; then order="sw dr"; else order="dr sw"; fi
	new_layer
	for s in $order; do measure push_mono $s; done
	PULL_DIGEST=$DIGEST
	new_layer
	for s in $order; do measure push_chunked $s; done
	for s in $order; do measure pull_curl $s; done
	for s in $order; do measure pull_one $s; done
	for s in $order; do measure pull_many $s; done
	echo "  round $ROUND done"
done

# ---- manifest GET by tag ----
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >cfg.json
CFG=sha256:$(sha256sum cfg.json | cut -d' ' -f1)
jq -n --arg c "$CFG" --argjson cs "$(stat -c %s cfg.json)" --arg l "$PULL_DIGEST" \
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
		loc_of $s h; loc=${LOC/digest=*/}
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
mibs() { # seconds [blobs]
	awk -v t="$1" -v n="${2:-1}" -v m="$SIZE_MIB" 'BEGIN {printf "%.1f", n * m / t}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
tick=$(getconf CLK_TCK)
echo
printf '%-22s %15s %16s %8s %8s   %-24s %s\n' "" "slipway" "docker-registry" "ratio" "paired" "server CPU ms (sw / dr)" "client CPU ms (sw / dr)"
for op in push_mono push_chunked pull_curl pull_one pull_many; do
	n=1; [ $op = pull_many ] && n=$PULLERS
	ts=$(col $op sw 3); td=$(col $op dr 3)
	cs=$(col $op sw 4); cd=$(col $op dr 4)
	ks=$(col $op sw 5); kd=$(col $op dr 5)
	printf '%-22s %9s MiB/s %10s MiB/s %7sx %7.2fx   %-24s %s\n' "$op" "$(mibs "$ts" $n)" "$(mibs "$td" $n)" \
		"$(ratio "$td" "$ts")" "$(paired $op)" "$((cs * 1000 / tick)) / $((cd * 1000 / tick))" \
		"$(printf '%.0f / %.0f' "$ks" "$kd")"
done
rs=$(awk '$1=="sw" {print $2}' rps | median)
rt=$(awk '$1=="swtok" {print $2}' rps | median)
rd=$(awk '$1=="dr" {print $2}' rps | median)
printf '%-22s %11s r/s %12s r/s %7sx\n' "manifest GET (anon)" "$rs" "$rd" "$(ratio "$rs" "$rd")"
printf '%-22s %11s r/s %12s r/s %7sx\n' "manifest GET (token)" "$rt" "$rd" "$(ratio "$rt" "$rd")"
# A client needs its own CPU time whatever the server does.  On free cores
# a pull takes at least that long; on busy ones its wall time tracks the
# CPU time of client and server together.  Either way that bounds the
# ratio any server can show: printed for curl and for registry_pull.
echo
for op in pull_curl pull_one; do
	kp=$(col $op sw 5); td=$(col $op dr 3); cs=$(col $op sw 4); cd=$(col $op dr 4)
	cs=$((cs * 1000 / tick)); cd=$((cd * 1000 / tick))
	awk -v op=$op -v kp="$kp" -v td="$td" -v cs=$cs -v cd=$cd 'BEGIN {
		printf "%s: the client used %.0f ms of CPU per pull, docker-registry %d ms, slipway %d ms;", op, kp, cd, cs
		printf " bound with free cores %.2fx, with busy cores %.2fx (a server using no CPU), %.2fx (ours)\n",
			td * 1000 / kp, (kp + cd) / kp, (kp + cd) / (kp + cs) }'
done
echo "medians of $ROUNDS rounds (push/pull; paired: median of the per-round ratios) and $WRK_ROUNDS rounds (wrk)"
echo "goals: 1.5x push and pull, 10x manifest GET; pull_many is $PULLERS pulls at once (MiB/s of all)"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
