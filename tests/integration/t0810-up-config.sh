#!/usr/bin/env bash
# slipway up's configuration: slipway.conf and --config, a flag for every
# key, hostile files refused with one line naming the line, and the
# services started where the file says (the API and the registry on the
# private address, the proxy and sshd on the public one).
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"

# One line on stderr, exit status not 0, nothing made in the home.
refused() { # FILE NEEDLE
	local out rc
	out=$(slipway up --config "$1" --show-config 2>&1 >/dev/null); rc=$?
	[ $rc -ne 0 ] || { echo "accepted $1"; return 1; }
	expect_eq 1 "$(printf '%s\n' "$out" | grep -c .)" "lines of '$out'" &&
	expect_contains "$out" "$2"
}

expect_success 'an unknown key is refused with its line number' '
	printf "domain: apps.example.com\npublic:\n  htp_port: 80\n" >c1.conf &&
	refused c1.conf "c1.conf line 3: unknown key '\''public.htp_port'\''" &&
	refused c1.conf "http_port" &&
	printf "# a comment\ncolour: blue\n" >c2.conf &&
	refused c2.conf "c2.conf line 2: unknown key '\''colour'\''"
'
expect_success 'a bad port is refused with its line number' '
	printf "public:\n  ssh_port: 70000\n" >p1.conf &&
	refused p1.conf "p1.conf line 2: public.ssh_port: '\''70000'\'' is not a port" &&
	printf "controller:\n  port: -1\n" >p2.conf &&
	refused p2.conf "p2.conf line 2: controller.port" &&
	printf "public:\n  http_port: [80]\n" >p3.conf &&
	refused p3.conf "p3.conf line 2: public.http_port takes one value"
'
expect_success 'a bad URL is refused with its line number' '
	for u in "http://10.0.0.1:5000/v2" "ftp://10.0.0.1" "10.0.0.1:5000" \
	    "http://user@10.0.0.1"; do
		printf "registry:\n  url: \"%s\"\n" "$u" >u.conf &&
		refused u.conf "u.conf line 2: registry.url" || return 1
	done
'
expect_success 'hostile files are refused: not YAML, aliases, a section as a value, too big' '
	printf "public: [\n" >y1.conf && refused y1.conf "y1.conf line" &&
	printf "a: &x 1\nb: *x\n" >y2.conf && refused y2.conf "aliases" &&
	printf "public: 8080\n" >y3.conf &&
	refused y3.conf "y3.conf line 1: '\''public'\'' is a section" &&
	printf "domain: a\ndomain: b\n" >y4.conf && refused y4.conf "given twice" &&
	head -c 70000 /dev/zero | tr "\0" "#" >y5.conf && refused y5.conf "y5.conf" &&
	printf "domain: \"Evil\\x1b[2J\"\n" >y6.conf && refused y6.conf "y6.conf line 1" &&
	printf "domain: Evil.Example\n" >y7.conf && refused y7.conf "not a domain" &&
	! ls "$SLIPWAY_HOME" | grep -q .
'
expect_success 'a missing --config file is an error, a missing slipway.conf is not' '
	! slipway up --config nope.conf --show-config 2>err &&
	expect_contains "$(cat err)" "nope.conf" &&
	slipway up --show-config >/dev/null
'
expect_success 'bad flags get one line each, as bad keys do' '
	! slipway up --proxy-port 0 --show-config 2>e1 &&
	expect_contains "$(head -1 e1)" "--proxy-port: '\''0'\'' is not a port" &&
	! slipway up --host example.com --show-config 2>e2 &&
	expect_contains "$(head -1 e2)" "not an IPv4 address" &&
	! slipway up --controller-url http://x/y --show-config 2>e3 &&
	expect_contains "$(head -1 e3)" "--controller-url" &&
	! slipway up --proxy-port 7000 --ssh-port 7000 --show-config 2>e4 &&
	expect_contains "$(cat e4)" "both port 7000"
'
expect_success 'TLS is refused plainly until the proxy has it' '
	! slipway up --https-port 8443 --show-config 2>e &&
	expect_contains "$(cat e)" "no TLS listener yet"
'
expect_success 'up --help names every option of the configuration, each key too' '
	help=$(slipway up --help) &&
	slipway up --show-config >all.conf &&
	for f in $(grep -o "# --[a-z-]*" all.conf | cut -c3-); do
		expect_contains "$help" "$f " || return 1
	done &&
	for k in hostname domain public.address public.http_port \
	    public.https_port public.ssh_port private.address \
	    controller.address controller.port controller.url controller.runner_lease \
	    registry.address registry.port registry.url registry.keep_releases runner.driver \
	    runner.publish_ports logs.dir logs.max_size logs.keep; do
		expect_contains "$help" "$k" || return 1
	done &&
	expect_eq 20 "$(grep -c "# --" all.conf)" "keys shown"
'
expect_success 'the file sets, flags win, addresses are derived from what is set' '
	printf "domain: apps.example.com\npublic:\n  address: 10.1.2.3\n  http_port: 80\nprivate:\n  address: 10.9.0.1\nregistry:\n  url: https://registry.example.com:5000\n" >$SLIPWAY_HOME/slipway.conf &&
	out=$(slipway up --show-config --json --proxy-port 8000) &&
	expect_eq apps.example.com "$(echo "$out" | jq -r .domain)" &&
	expect_eq 10.1.2.3 "$(echo "$out" | jq -r .hostname)" &&
	expect_eq 8000 "$(echo "$out" | jq -r .public.http_port)" &&
	expect_eq 10.9.0.1 "$(echo "$out" | jq -r .controller.address)" &&
	expect_eq http://10.9.0.1:7070 "$(echo "$out" | jq -r .controller.url)" &&
	expect_eq https://registry.example.com:5000 "$(echo "$out" | jq -r .registry.url)" &&
	expect_eq 10.9.0.1 "$(echo "$out" | jq -r .registry.address)"
'
expect_success '--show-config prints a file that reads back the same' '
	slipway up --show-config --hostname deploy.example.com --log-keep 3 >round.conf &&
	slipway up --config round.conf --show-config >round2.conf &&
	diff <(grep -v "^# slipway.conf" round.conf) <(grep -v "^# slipway.conf" round2.conf)
'
rm -f "$SLIPWAY_HOME/slipway.conf"

# The services where the file says: the public side on 127.0.0.1, the
# private side on 127.0.0.2 (both loopback here; t0811 does it with a
# real address in a network namespace).
cat >"$SLIPWAY_HOME/slipway.conf" <<EOF
# a slipway.conf as an admin writes it
public:
  address: 127.0.0.1
  http_port: $PP
  ssh_port: $SP
private:
  address: 127.0.0.2
controller:
  port: $CP
registry:
  port: $RP
logs:
  dir: "-"
EOF
( slipway up >up.log 2>&1 & echo $! >up.pid; wait $!; echo $? >up.rc ) 2>/dev/null &
wait_for "[ -s up.pid ]" 30
UP_PID=$(cat up.pid)
at_exit "kill $UP_PID"
# the runner's firewall table outlives up: remove it once up has gone
at_exit "up_firewall_remove $UP_PID '$SLIPWAY_HOME'"
wait_port $PP 60 && wait_port $SP 60 && wait_port $CP 60 127.0.0.2 &&
	wait_port $RP 60 127.0.0.2 || cat up.log
export SLIPWAY_URL=http://127.0.0.2:$CP
SLIPWAY_TOKEN=$(sed -n 's/^  admin API token: //p' up.log)
export SLIPWAY_TOKEN

expect_success 'the controller and the registry listen on the private address only' '
	! (exec 3<>/dev/tcp/127.0.0.1/$CP) 2>/dev/null &&
	! (exec 3<>/dev/tcp/127.0.0.1/$RP) 2>/dev/null &&
	slipway users >/dev/null
'
expect_success 'the proxy and sshd listen on the public address only' '
	! (exec 3<>/dev/tcp/127.0.0.2/$PP) 2>/dev/null &&
	! (exec 3<>/dev/tcp/127.0.0.2/$SP) 2>/dev/null &&
	(exec 3<>/dev/tcp/127.0.0.1/$SP) 2>/dev/null
'
expect_success 'the registry sends clients to the controller URL for tokens' '
	h=$(curl -si http://127.0.0.2:$RP/v2/ | tr -d "\r" | grep -i ^www-authenticate) &&
	expect_contains "$h" "realm=\"http://127.0.0.2:$CP/v1/registry/token\""
'
expect_success 'up prints the login URL it derived' '
	expect_contains "$(cat up.log)" "slipway login http://127.0.0.2:$CP slw_" &&
	expect_contains "$(cat up.log)" "ssh://git@127.0.0.1:$SP/hello.git"
'
expect_success 'the controller logs where it listens and how it is reached' '
	expect_contains "$(cat up.log)" "listening on 127.0.0.2:$CP, reached at http://127.0.0.2:$CP"
'
expect_success 'up stops cleanly' '
	expect_eq 0 "$(up_stop)"
'
test_done
