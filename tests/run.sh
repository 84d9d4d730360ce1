#!/usr/bin/env bash
# Runs the unit tests and every tests/integration/t*.sh, and ends with the
# line "N passed, N failed, N skipped".  Arguments filter by substring:
#   tests/run.sh            everything
#   tests/run.sh slug       unit tests and scripts whose names contain "slug"
# Run from the top of the tree after `make build/san/slipway build/san/unit`.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export SLIPWAY_TOP=$top
export SLIPWAY_BIN=$top/build/san/slipway
# Leaks fail a test; sanitizer reports are fatal and name the place.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}

pass=0 fail=0 skip=0
failed=()

count_line() { # "... N passed, N failed, N skipped"
	local p f s
	p=$(sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1/p' <<<"$1")
	f=$(sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\2/p' <<<"$1")
	s=$(sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\3/p' <<<"$1")
	[ -n "$p" ] || return 1
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}

echo "== unit"
out=$(build/san/unit "$@" 2>&1); rc=$?
printf '%s\n' "$out" | grep -v '^ok  ' || true
last=$(printf '%s\n' "$out" | tail -n 1)
if ! count_line "$last"; then
	echo "unit: the test binary died (status $rc) before its summary"
	fail=$((fail + 1)); failed+=("unit")
elif [ $rc -ne 0 ]; then
	failed+=("unit")
fi

for t in tests/integration/t[0-9]*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		sel=0
		for f in "$@"; do case $name in *"$f"*) sel=1;; esac; done
		[ $sel = 1 ] || continue
	fi
	echo "== $name"
	out=$(bash "$t" 2>&1); rc=$?
	printf '%s\n' "$out" | grep -v '^ok ' || true
	last=$(printf '%s\n' "$out" | grep '^# .* passed, .* failed, .* skipped$' | tail -n 1)
	if ! count_line "$last"; then
		echo "$name: the script died (status $rc) before its summary"
		fail=$((fail + 1)); failed+=("$name")
	elif [ $rc -ne 0 ]; then
		failed+=("$name")
	fi
done

[ ${#failed[@]} -eq 0 ] || echo "failing: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
