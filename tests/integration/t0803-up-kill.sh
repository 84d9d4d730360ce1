#!/usr/bin/env bash
# slipway up killed with -9: it cannot stop its services, so they must die
# with it (a parent-death signal), or they keep the ports and the next
# `up` on the same ports crash-loops.  The next `up` comes up whole.
# test-timeout: 300
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"

# Whatever this test left running goes at exit, fixed or not.
at_exit 'kill -9 $(services)'

# Is anything listening on port $1?
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up_start up1.log || { cat up1.log; echo "FAIL up did not start"; T_FAIL=1; test_done; }
expect_success 'up runs five services' '
	expect_eq 5 "$(services | wc -l)"
'
expect_success 'up killed with -9 takes its services with it' '
	kill -9 $UP_PID &&
	wait_for "[ -s up.rc ]" 30 &&
	wait_for "[ -z \"\$(services)\" ]" 30
'
expect_success 'no port of theirs is held' '
	for p in $CP $RP $SP $PP; do
		wait_for "! listening $p" 10 || exit 1
	done
'

up_start up2.log
expect_success 'a new up on the same ports comes up' '
	expect_eq 5 "$(services | wc -l)" &&
	TOKEN=$(cat "$SLIPWAY_HOME/up/service.token") &&
	SLIPWAY_URL=http://127.0.0.1:$CP SLIPWAY_TOKEN=$TOKEN slipway runners >/dev/null &&
	h=$(curl -si http://127.0.0.1:$RP/v2/ | tr -d "\r" | grep -i ^www-authenticate) &&
	expect_contains "$h" "realm=\"http://127.0.0.1:$CP/v1/registry/token\""
'
expect_success 'and no service of it is crash-looping' '
	! up_log | grep -E "exited with status|killed by signal|cannot start" ||
		{ cat up2.log; up_log; exit 1; }
'
expect_success 'it stops cleanly' '
	kill -TERM $UP_PID &&
	wait_for "[ -s up.rc ]" 30 &&
	expect_eq 0 "$(cat up.rc)" &&
	expect_eq "" "$(services)" "services left running" &&
	no_sanitizer_report up1.log up2.log
'
test_done
