#!/usr/bin/env bash
# bench/slug-sparse.sh: peak memory (max RSS) of `slipway slug create`
# against `git archive --format=tar.gz` for a commit holding one large
# sparse file, packed as a push arrives (issue 18: a 1 MB push of a 1 GB
# sparse file cost the hook 1.07 GB of memory).  Both stream; the goal is
# slipway's memory flat, about git's.  SIZE_MB (default 1024) sets the
# file, ROUNDS (default 3) the rounds; prints medians and their ratio, and
# the disk the slug takes.  Asserts nothing.  Run `make` first.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLIPWAY_BENCH_BIN:-$top/build/slipway}
size=${SIZE_MB:-1024}
rounds=${ROUNDS:-3}
[ -x "$bin" ] || { echo "bench/slug-sparse.sh: no $bin; run make first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/slug-sparse.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-sparse.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# rss FILE CMD...: append CMD's max RSS in KiB to FILE
rss() {
	local out=$1; shift
	/usr/bin/time -f '%M' -o rss.out "$@" > /dev/null
	cat rss.out >> "$out"
}

echo "making a repository with a ${size} MiB sparse file (git hashes it: a while)"
git init -q src
truncate -s "${size}M" src/big.bin
echo hello > src/index.html
git -C src add -A
git -C src -c user.name=b -c user.email=b@b commit -qm sparse
git -C src repack -adq      # packed, as a push of a real app arrives
echo "pack: $(du -sh src/.git/objects/pack | cut -f1)"

: > slipway.rss; : > git.rss
for r in $(seq 1 "$rounds"); do
	rss slipway.rss env SLIPWAY_PUSH_MAX_FILE=$((size + 1))M \
		SLIPWAY_PUSH_MAX_SIZE=$((size + 1))M \
		"$bin" slug create --repo src -o slug.tgz --max-size $((size + 1))M
	rss git.rss git -C src archive --format=tar.gz -o "$work/git.tgz" HEAD
done
s=$(median < slipway.rss) g=$(median < git.rss)
printf 'max RSS, median of %d: slipway %d KiB, git archive %d KiB, ratio %.2f\n' \
	"$rounds" "$s" "$g" "$(awk -v a="$s" -v b="$g" 'BEGIN { print a / b }')"
printf 'slug on disk: %d KiB (git archive: %d KiB)\n' \
	"$(du -k slug.tgz | cut -f1)" "$(du -k git.tgz | cut -f1)"
