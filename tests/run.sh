#!/usr/bin/env bash
# Runs the unit tests and every tests/integration/t*.sh, and ends with the
# line "N passed, N failed, N skipped".  Arguments filter by substring:
#   tests/run.sh            everything
#   tests/run.sh slug       unit tests and scripts whose names contain "slug"
# Run from the top of the tree after `make build/san/slipway build/san/unit`.
#
# Every test has a timeout, and a timeout is a failure with the test's name:
# a unit test SLIPWAY_UNIT_TIMEOUT seconds (default 120, the harness enforces
# it), a script 600 s, or N for a script with a line "# test-timeout: N".
# What a script leaves running when it ends (daemons, clients, even those
# that made themselves a session of their own) is killed.
# SLIPWAY_TEST_SCRIPTS names another directory of t*.sh scripts (the test
# of this runner uses it).
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

script_timeout() { # script: its "# test-timeout: N", else 600
	local n
	n=$(sed -n 's/^# test-timeout: *\([0-9][0-9]*\) *$/\1/p' "$1" | head -n 1)
	echo "${n:-600}"
}

# Kill what a script started and left running: everything with its tag in
# the environment (inherited by whatever it ran, through setsid too).
kill_leftovers() { # tag
	local p left=()
	for p in /proc/[0-9]*; do
		grep -qzx "SLIPWAY_TEST_RUN=$1" "$p/environ" 2>/dev/null &&
			left+=("${p#/proc/}")
	done
	[ ${#left[@]} -eq 0 ] || kill -KILL "${left[@]}" 2>/dev/null
	return 0
}

# Run a test program with its tag, output to a file: a leftover that holds
# the output open must not keep the run waiting.
run_tagged() { # name command...
	local tag="$1.$$.$RANDOM" log
	log=$(mktemp "${TMPDIR:-/tmp}/slipway-run.XXXXXX")
	shift
	SLIPWAY_TEST_RUN=$tag "$@" >"$log" 2>&1; rc=$?
	kill_leftovers "$tag"
	out=$(cat "$log"); rm -f "$log"
}

# A runner's firewall table outlives its runner by design, so a test that
# forgot to remove one leaves it in the host's ruleset.  The table's
# comment names its home: one whose home (a test's temp dir) is gone and
# that was not there before the test is that test's leftover.
gone_home_tables() {
	command -v nft >/dev/null && [ "$(id -u)" = 0 ] || return 0
	local t h
	for t in $(nft list tables 2>/dev/null |
	    sed -n 's/^table inet \(slipway_[0-9a-f_]*\)$/\1/p'); do
		h=$(nft list table inet "$t" 2>/dev/null |
		    sed -n 's/^\tcomment "slipway runner home \(.*\)"$/\1/p')
		case $h in
		"${TMPDIR:-/tmp}"/slipway-it.*) [ -e "$h" ] || echo "$t $h";;
		esac
	done
}

check_tables() { # name tables-before
	local t h
	while read -r t h; do
		[ -n "$t" ] || continue
		grep -qx "$t $h" <<<"$2" && continue
		echo "FAIL $1: left the nft table inet $t of the gone home $h"
		nft delete table inet "$t" 2>/dev/null
		fail=$((fail + 1)); failed+=("$1")
	done <<<"$(gone_home_tables)"
}

echo "== unit"
run_tagged unit build/san/unit "$@"
printf '%s\n' "$out" | grep -v '^ok  ' || true
last=$(printf '%s\n' "$out" | tail -n 1)
if ! count_line "$last"; then
	echo "unit: the test binary died (status $rc) before its summary"
	fail=$((fail + 1)); failed+=("unit")
elif [ $rc -ne 0 ]; then
	failed+=("unit")
fi

for t in "${SLIPWAY_TEST_SCRIPTS:-tests/integration}"/t[0-9]*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t" .sh)
	if [ $# -gt 0 ]; then
		sel=0
		for f in "$@"; do case $name in *"$f"*) sel=1;; esac; done
		[ $sel = 1 ] || continue
	fi
	echo "== $name"
	secs=$(script_timeout "$t") start=$SECONDS
	tables=$(gone_home_tables)
	run_tagged "$name" timeout --kill-after=10 "$secs" bash "$t"
	printf '%s\n' "$out" | grep -v '^ok ' || true
	last=$(printf '%s\n' "$out" | grep '^# .* passed, .* failed, .* skipped$' | tail -n 1)
	if { [ $rc = 124 ] || [ $rc = 137 ]; } && [ $((SECONDS - start)) -ge "$secs" ]; then
		echo "FAIL $name: timed out after $secs s"
		fail=$((fail + 1)); failed+=("$name")
	elif ! count_line "$last"; then
		echo "$name: the script died (status $rc) before its summary"
		fail=$((fail + 1)); failed+=("$name")
	elif [ $rc -ne 0 ]; then
		failed+=("$name")
	fi
	check_tables "$name" "$tables"
done

[ ${#failed[@]} -eq 0 ] || echo "failing: ${failed[*]}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
