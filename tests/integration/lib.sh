# Shared shell for integration tests, git t/-style:
#   . "$(dirname "$0")/lib.sh"
#   expect_success 'what it shows' 'commands'
#   expect_failure 'what it shows' 'commands that must fail'
#   test_done
# Each script gets its own temp dir (cwd) and SLIPWAY_HOME, `slipway` on PATH
# (the sanitizer build), and free_port.  A script that cannot run here calls
# skip_all "reason"; one test that cannot run calls skip 'desc' "reason".
set -u
: "${SLIPWAY_TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${SLIPWAY_BIN:=$SLIPWAY_TOP/build/san/slipway}"
export SLIPWAY_TOP SLIPWAY_BIN

T_PASS=0 T_FAIL=0 T_SKIP=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/slipway-it.XXXXXX")
export SLIPWAY_HOME=$T_DIR/home
mkdir -p "$SLIPWAY_HOME" "$T_DIR/bin"
ln -s "$SLIPWAY_BIN" "$T_DIR/bin/slipway"
export PATH=$T_DIR/bin:$PATH
T_CLEANUP=()
cd "$T_DIR" || exit 1

# Register a command to run when the script ends (stop daemons, ...).
at_exit() { T_CLEANUP+=("$1"); }
t_cleanup() {
	local c
	for c in "${T_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1; done
	cd / && rm -rf "$T_DIR"
}
trap t_cleanup EXIT

t_run() { # desc body: run body in a subshell with -e off, output captured
	local out rc
	out=$( (eval "$2") 2>&1 ); rc=$?
	T_OUT=$out
	return $rc
}

expect_success() {
	if t_run "$1" "$2"; then
		T_PASS=$((T_PASS + 1)); echo "ok $1"
	else
		T_FAIL=$((T_FAIL + 1)); echo "FAIL $1"
		printf '%s\n' "$T_OUT" | tail -n 25 | sed 's/^/    /'
	fi
}

expect_failure() {
	if t_run "$1" "$2"; then
		T_FAIL=$((T_FAIL + 1)); echo "FAIL $1 (expected a failure, it succeeded)"
		printf '%s\n' "$T_OUT" | tail -n 25 | sed 's/^/    /'
	else
		T_PASS=$((T_PASS + 1)); echo "ok $1"
	fi
}

skip() { T_SKIP=$((T_SKIP + 1)); echo "skip $1: $2"; }

# Skip the rest of the script; what already ran still counts.
skip_all() {
	echo "skip all: $1"
	echo "# $T_PASS passed, $T_FAIL failed, $((T_SKIP + 1)) skipped"
	[ $T_FAIL -eq 0 ]
	exit $?
}

test_done() {
	echo "# $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
	[ $T_FAIL -eq 0 ]
	exit $?
}

# A TCP port on 127.0.0.1 that nothing listens on now, below the range
# the kernel hands out to outgoing connections (a busy client elsewhere on
# the machine could hold one of those, and then the bind fails).
free_port() {
	local p i lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	[ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
	for i in $(seq 1 200); do
		p=$(( (RANDOM << 1 | RANDOM & 1) % (lo - 10000) + 10000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"; return 0
		fi
	done
	return 1
}

# Wait until a TCP port accepts connections (up to $2 seconds, default 10).
wait_port() { # PORT [SECONDS, default 10] [HOST, default 127.0.0.1]
	local i n=$(( ${2:-10} * 20 )) h=${3:-127.0.0.1}
	for i in $(seq 1 "$n"); do
		(exec 3<>"/dev/tcp/$h/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on $h:$1"; return 1
}

# Wait until a command succeeds: wait_for 'CMD' [SECONDS, default 30].
# CMD is eval'd in the caller's shell every 0.1 s (so it may set variables);
# its output is kept out of the way.  On timeout, says what it waited for
# and what CMD printed the last time, and fails.  Wait on this, never on a
# fixed sleep: under load a sleep is too short, and when idle too long.
wait_for() {
	# Odd local names: CMD is eval'd here and may use $i, $n, ... of its own.
	local _wf_i _wf_n=$(( ${2:-30} * 10 )) _wf_log=$T_DIR/.wait_for.$BASHPID
	for ((_wf_i = 0; _wf_i < _wf_n; _wf_i++)); do
		if eval "$1" >"$_wf_log" 2>&1; then rm -f "$_wf_log"; return 0; fi
		sleep 0.1
	done
	echo "timed out after ${2:-30} s waiting for: $1"
	[ -s "$_wf_log" ] && tail -n 5 "$_wf_log" | sed 's/^/    it said: /'
	rm -f "$_wf_log"
	return 1
}

# Helpers for bodies: fail with a message saying what was expected.
expect_eq() { # want got [what]
	[ "$1" = "$2" ] && return 0
	echo "${3:-value}: expected '$1', got '$2'"; return 1
}
expect_contains() { # haystack needle
	case $1 in *"$2"*) return 0;; esac
	echo "expected output to contain '$2', got:"; printf '%s\n' "$1" | head -20
	return 1
}
