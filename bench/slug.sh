#!/usr/bin/env bash
# bench/slug.sh: `slipway slug create` against `git archive --format=tar.gz`
# of the same commit, in the same run.
#
# Builds a repo of ~3,000 files / ~150 MB: C headers from /usr/include
# (text), shared libraries from /usr/lib (binary), and 16 MB of
# incompressible bytes (as images or archives would be); packs it as a
# pushed repo is.  Then:
#   1. ROUNDS rounds (default 5) of both, alternating which goes first; the
#      medians, their ratio and both output sizes.  Goal: slipway >= 1.5x
#      faster at <= 5% larger output.
#   2. slipway at other engines/levels (SWEEP_ROUNDS, default 3): the
#      numbers the default was chosen from (docs/slug.md).
#   3. The compressors alone on the same tar, no I/O (bench/slug_gzip.c):
#      libarchive's gzip filter vs zlib straight vs libdeflate chunked.
# Wall time and CPU time (user+sys, from /usr/bin/time) are both kept: on a
# shared machine wall time swings with the neighbours, CPU time much less.
# Prints medians; asserts nothing.  Run `make` first (release build).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLIPWAY_BENCH_BIN:-$top/build/slipway}
rounds=${ROUNDS:-5}
sweep_rounds=${SWEEP_ROUNDS:-3}
[ -x "$bin" ] || { echo "bench/slug.sh: no $bin; run make first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/slug.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-slug.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# timed FILE CMD...: run CMD (stdout to /dev/null unless redirected inside),
# append "wall cpu" seconds to FILE
timed() {
	local out=$1; shift
	/usr/bin/time -f '%e %U %S' -o time.out "$@" > /dev/null
	awk '{ printf "%.2f %.2f\n", $1, $2 + $3 }' time.out >> "$out"
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# ---- the repo
mkdir -p repo/src repo/lib repo/media
find /usr/include -type f -size +2k | LC_ALL=C sort | head -n 2800 |
	sed 's|^/usr/include/||' > text.list
tar -C /usr/include -cf - -T text.list | tar -C repo/src -xf -
total=0
find /usr/lib/x86_64-linux-gnu /usr/lib -maxdepth 1 -type f -name '*.so*' \
	-size +64k -size -4M | LC_ALL=C sort | while read -r f; do
	cp "$f" repo/lib/
	total=$((total + $(stat -c %s "$f")))
	[ $total -lt $((90 << 20)) ] || break
done
for i in 1 2 3 4 5 6 7 8; do
	# deterministic incompressible bytes: AES-CTR of zeros
	openssl enc -aes-128-ctr -K "000102030405060708090a0b0c0d0e0$i" \
		-iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null |
		head -c $((2 << 20)) > "repo/media/blob$i.bin"
done
(
	cd repo
	git init -q .
	git add -A
	GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z' \
		git -c user.name=bench -c user.email=bench@example.com commit -qm bench
	git repack -adq
)
files=$(git -C repo ls-files | wc -l)
bytes=$(git -C repo ls-files -z | (cd repo && xargs -0 cat) | wc -c)
echo "repo: $files files, $(mb "$bytes") MB ($(wc -l < text.list) text," \
	"$(ls repo/lib | wc -l) binary, 8 random), packed"

# ---- 1. slipway vs git archive
git_archive() { git -C repo archive --format=tar.gz HEAD > git.tgz; }
slug_create() { "$bin" slug create --repo repo -o slug.tgz > /dev/null; }
export -f git_archive slug_create; export bin
: > git.t; : > slug.t
for r in $(seq 1 "$rounds"); do
	for who in $( [ $((r % 2)) = 1 ] && echo "git slug" || echo "slug git"); do
		if [ "$who" = git ]; then
			timed git.t bash -c git_archive
		else
			timed slug.t bash -c slug_create
		fi
	done
	echo "round $r: git archive $(tail -n 1 git.t | awk '{print $1 " s (cpu " $2 " s)"}')," \
		"slipway $(tail -n 1 slug.t | awk '{print $1 " s (cpu " $2 " s)"}')"
done
gt=$(cut -d' ' -f1 git.t | median); st=$(cut -d' ' -f1 slug.t | median)
gc=$(cut -d' ' -f2 git.t | median); sc=$(cut -d' ' -f2 slug.t | median)
gs=$(stat -c %s git.tgz); ss=$(stat -c %s slug.tgz)
echo "median wall: git archive $gt s, slipway $st s"
echo "median cpu:  git archive $gc s, slipway $sc s"
echo "sizes: git archive $gs bytes, slipway $ss bytes"
awk -v g="$gt" -v s="$st" -v gc="$gc" -v sc="$sc" -v gs="$gs" -v ss="$ss" 'BEGIN {
	printf "ratio: slipway %.2fx faster (wall), %.2fx (cpu); output %+.2f%% " \
	    "(goal: >= 1.50x, <= +5%%)\n", g / s, gc / sc, (ss - gs) * 100 / gs }'

# ---- 2. engines and levels
echo
echo "slipway by engine and level (median of $sweep_rounds; size vs git archive):"
printf '  %-10s %5s %8s %8s %12s %8s\n' engine level wall_s cpu_s bytes size
for el in libdeflate:1 libdeflate:3 libdeflate:4 libdeflate:5 libdeflate:6 \
	libdeflate:7 libdeflate:9 zlib:1 zlib:6; do
	eng=${el%:*} lvl=${el#*:}
	: > sweep.t
	for r in $(seq 1 "$sweep_rounds"); do
		timed sweep.t "$bin" slug create --repo repo --gzip "$eng" \
			--level "$lvl" -o sweep.tgz
	done
	sz=$(stat -c %s sweep.tgz)
	printf '  %-10s %5s %8s %8s %12s %+7.2f%%\n' "$eng" "$lvl" \
		"$(cut -d' ' -f1 sweep.t | median)" "$(cut -d' ' -f2 sweep.t | median)" \
		"$sz" "$(awk -v a="$sz" -v b="$gs" 'BEGIN { print (a - b) * 100 / b }')"
done

# ---- 3. the compressors alone
echo
echo "compressors alone on the slug's tar ($(mb "$(gzip -dc slug.tgz | wc -c)") MB," \
	"in memory, cpu s, median of $sweep_rounds):"
gzip -dc slug.tgz > slug.tar
cc -O2 -o slug_gzip "$top/bench/slug_gzip.c" \
	$(pkg-config --cflags --libs libarchive zlib libdeflate)
printf '  %-10s %5s %6s %8s %12s\n' way level chunk_k seconds bytes
for lvl in 1 6; do
	./slug_gzip slug.tar "$lvl" "$sweep_rounds" | sed 's/^/  /'
done
echo "libdeflate member size:"
./slug_gzip slug.tar 6 "$sweep_rounds" 256 1024 4096 | sed 's/^/  /'
