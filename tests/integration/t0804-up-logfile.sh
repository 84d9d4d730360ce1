#!/usr/bin/env bash
# slipway up's merged log goes to $SLIPWAY_HOME/logs/slipway.log and is
# rotated by size: under load through the proxy (a line per request) the
# files never pass --log-keep + 1, nor their sum (keep + 1) * max, and
# every line stays whole.  Under systemd (JOURNAL_STREAM) or with
# --log-dir - the lines go to stdout; a log dir that cannot be made is
# one error line, and nothing starts.
# test-timeout: 300
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip_all "no curl"
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"

MAX=4096 KEEP=2
LOGS=$SLIPWAY_HOME/logs
up_start up.log --log-max-size 4K --log-keep $KEEP || { cat up.log; exit 1; }

expect_success 'up says where the log is, on stderr' '
	expect_contains "$(cat up.log)" "up: the log is $LOGS/slipway.log (a new file every 4K, 2 kept)"
'
expect_success 'the services'\'' lines are in the file, not on stdout (not a terminal)' '
	wait_for "grep -q \"^proxy      | \" $LOGS/slipway.log" 10 &&
	! grep -q "^proxy      | " up.log
'
expect_success 'the directory is 0750, the file 0640' '
	expect_eq 750 "$(stat -c %a "$LOGS")" &&
	expect_eq 640 "$(stat -c %a "$LOGS/slipway.log")"
'

# How many log files there are and their total size, as "N BYTES".
log_usage() {
	local n=0 sum=0 f
	for f in "$LOGS"/slipway.log*; do
		[ -e "$f" ] || continue
		n=$((n + 1)); sum=$((sum + $(stat -c %s "$f" 2>/dev/null || echo 0)))
	done
	echo "$n $sum"
}
# Requests through the proxy (each one an access line of the proxy),
# 200 at a time, until the file "stop" exists.
( while [ ! -e stop ]; do
	curl -s -H "Host: nothere.localhost" "http://127.0.0.1:$PP/[1-200]" >/dev/null
  done ) &
LOAD=$!
at_exit "touch $T_DIR/stop"
# A line is at most a few hundred bytes here: "plus one line" is 1 KiB.
LIMIT=$(( (KEEP + 1) * MAX + 1024 ))
# At least 150 samples, and on until two rotations happened (a loaded
# machine writes fewer lines a second; at most 1200 samples, about 60 s).
for i in $(seq 1 1200); do
	read -r n sum <<<"$(log_usage)"
	[ "$n" -le $((KEEP + 1)) ] && [ "$sum" -le $LIMIT ] ||
		echo "sample $i: $n files, $sum bytes" >>over
	[ "$i" -ge 150 ] && [ -s "$LOGS/slipway.log.2" ] && break
	sleep 0.05
done
touch stop
wait $LOAD
# The supervisor may still hold a backlog of proxy lines that the load
# wrote; with 12 KiB of log in all, the line "stopping" written now could
# be rotated out by that backlog.  Wait until the log is quiet (the same
# size and last line for half a second), at most 30 s.
log_mark() { echo "$(log_usage) $(tail -n 1 "$LOGS/slipway.log" 2>/dev/null)"; }
prev=$(log_mark)
for i in $(seq 1 60); do
	sleep 0.5
	cur=$(log_mark)
	[ "$cur" = "$prev" ] && break
	prev=$cur
done

expect_success 'under load the log was rotated, and never passed its bounds' '
	[ ! -e over ] || { cat over; ls -l "$LOGS"; false; } &&
	[ -s "$LOGS/slipway.log.1" ] && [ -s "$LOGS/slipway.log.2" ] &&
	[ ! -e "$LOGS/slipway.log.3" ] &&
	expect_eq 3 "$(ls "$LOGS" | wc -l)" "files in the log dir"
'
expect_success 'each rotated file is whole lines, within the cap, of access lines' '
	for f in "$LOGS/slipway.log.1" "$LOGS/slipway.log.2"; do
		[ "$(stat -c %s "$f")" -le $MAX ] || { ls -l "$f"; exit 1; }
		[ "$(tail -c 1 "$f" | od -An -c | tr -d " ")" = "\\n" ] || exit 1
		! grep -v "^[a-z]* *| " "$f" || exit 1
		grep -q "^proxy      | .* access .*host=nothere.localhost" "$f" || exit 1
	done
'
expect_success 'up stops cleanly, and says so in the log' '
	expect_eq 0 "$(up_stop)" &&
	expect_contains "$(up_log_all)" "up         | stopping" &&
	no_sanitizer_report up.log
'

# The journal keeps and rotates what it is given: under systemd the
# lines go to stdout, and no file grows.
before=$(log_usage)
UP_ENV=JOURNAL_STREAM=8:12345 up_start journal.log || { cat journal.log; exit 1; }
expect_success 'with JOURNAL_STREAM set, the lines go to stdout' '
	expect_contains "$(cat journal.log)" "up: the log goes to stdout" &&
	wait_for "grep -q \"^proxy      | \" journal.log" 10 &&
	expect_eq 0 "$(up_stop)" &&
	expect_eq "$before" "$(log_usage)" "log files and their size"
'
up_start dash.log --log-dir - || { cat dash.log; exit 1; }
expect_success 'with --log-dir -, the lines go to stdout' '
	expect_contains "$(cat dash.log)" "up: the log goes to stdout" &&
	wait_for "grep -q \"^proxy      | \" dash.log" 10 &&
	expect_eq 0 "$(up_stop)" &&
	expect_eq "$before" "$(log_usage)" "log files and their size"
'

echo x >afile
expect_success 'a log dir that is a file: one error line, nothing started' '
	! env -u JOURNAL_STREAM slipway up --controller-port $CP --registry-port $RP \
		--ssh-port $SP --proxy-port $PP --log-dir "$T_DIR/afile" \
		>file.out 2>file.err &&
	expect_eq "slipway up: cannot open the log: '\''$T_DIR/afile'\'' exists and is not a directory" \
		"$(cat file.err)" &&
	[ ! -s file.out ] &&
	expect_eq "" "$(services)" "services running"
'
expect_failure 'a log size that is not one is a usage error' \
	'slipway up --log-max-size 10X'
expect_failure 'a log size of 0 is a usage error' 'slipway up --log-max-size 0'
expect_failure 'a keep count that is not a number is a usage error' \
	'slipway up --log-keep -1'
test_done
