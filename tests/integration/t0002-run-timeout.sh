#!/usr/bin/env bash
# tests/run.sh itself: a hung unit test and a hung script fail by name with
# "timed out", and what a script leaves running is killed.  The hung tests
# exist only here: a unit test the harness registers when
# SLIPWAY_UNIT_SELFTEST_HANG is set, and scripts in a directory of our own.
# test-timeout: 120
. "$(dirname "$0")/lib.sh"

mkdir scripts
cat >scripts/t9000-selftest-hang.sh <<'SCRIPT'
# test-timeout: 3
setsid sh -c 'echo $$ >"$0/hang.pid"; exec sleep 1000' "$(dirname "$0")" &
exec sleep 1000
SCRIPT
cat >scripts/t9001-selftest-leftover.sh <<'SCRIPT'
setsid sh -c 'echo $$ >"$0/left.pid"; exec sleep 1000' "$(dirname "$0")" &
while [ ! -s "$(dirname "$0")/left.pid" ]; do sleep 0.05; done
echo "# 1 passed, 0 failed, 0 skipped"
SCRIPT

expect_success 'run.sh names the hung unit test and the hung script, and fails' '
	! SLIPWAY_UNIT_SELFTEST_HANG=1 SLIPWAY_UNIT_TIMEOUT=2 \
		SLIPWAY_TEST_SCRIPTS=$T_DIR/scripts \
		bash "$SLIPWAY_TOP/tests/run.sh" selftest >run.out 2>&1 &&
	out=$(cat run.out) && echo "$out" &&
	expect_contains "$out" "FAIL test_harness__selftest_hang: timed out after 2 s" &&
	expect_contains "$out" "FAIL t9000-selftest-hang: timed out after 3 s" &&
	expect_contains "$out" "failing: unit t9000-selftest-hang" &&
	expect_contains "$out" "2 passed, 2 failed, 0 skipped"
'
# Killed is enough: a zombie waits for pid 1, which reaps when it will.
running() { local s; s=$(ps -o stat= -p "$1") && case $s in Z*) false;; esac; }
expect_success 'what the scripts left running is gone, setsid or not' '
	for f in scripts/hang.pid scripts/left.pid; do
		test -s "$f" || { echo "$f was not written"; exit 1; }
		! running "$(cat "$f")" || { echo "$f: still running"; exit 1; }
	done
'
expect_success 'a unit test that leaves a child behind: the child is killed with it' '
	SLIPWAY_UNIT_SELFTEST_HANG=1 SLIPWAY_UNIT_SELFTEST_PIDFILE=$T_DIR/child.pid \
		timeout 30 "$SLIPWAY_TOP/build/san/unit" selftest_leftover >unit.out &&
	expect_contains "$(cat unit.out)" "ok   test_harness__selftest_leftover" &&
	test -s child.pid &&
	wait_for "! running $(cat child.pid)" 10
'

# A runner's firewall table that a script left, its home gone, fails that
# script by name and is removed.
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
	mkdir scripts2
	cat >scripts2/t9002-selftest-table.sh <<'SCRIPT'
h=$(mktemp -d "${TMPDIR:-/tmp}/slipway-it.XXXXXX")
SLIPWAY_HOME=$h "$SLIPWAY_BIN" runner firewall | nft -f - || exit 1
echo "${h:?}" >"$(dirname "$0")/table.home"
rm -rf "${h:?}"
echo "# 1 passed, 0 failed, 0 skipped"
SCRIPT
	expect_success 'a firewall table whose home is gone fails its script, and is removed' '
		! SLIPWAY_TEST_SCRIPTS=$T_DIR/scripts2 \
			bash "$SLIPWAY_TOP/tests/run.sh" t9002 >run2.out 2>&1 &&
		out=$(cat run2.out) && echo "$out" &&
		h=$(cat scripts2/table.home) &&
		expect_contains "$out" "FAIL t9002-selftest-table: left the nft table inet slipway_" &&
		expect_contains "$out" "of the gone home $h" &&
		expect_contains "$out" "1 passed, 1 failed, 0 skipped" &&
		! nft list tables | grep -q "$(echo "$out" | sed -n "s/.*nft table inet \([a-z0-9_]*\) .*/\1/p")"
	'
else
	skip 'a firewall table whose home is gone fails its script' 'needs root and nft'
fi
test_done
