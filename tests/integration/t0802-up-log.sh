#!/usr/bin/env bash
# The merged log of slipway up against hostile input: an SSH exec string
# with a newline once wrote a forged "sshd | ... authenticated" line, and
# its ESC bytes reached the operator's terminal raw.  Every line carrying
# input is one escaped line; the SSH client's error echo is escaped too.
. "$(dirname "$0")/lib.sh"

command -v ssh >/dev/null || skip_all "no ssh client"
CP=$(free_port) RP=$(free_port) SP=$(free_port) PP=$(free_port)
export HOME=$T_DIR/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519"

# up's own output in up.out; the services' lines in the merged log
LOG=$SLIPWAY_HOME/logs/slipway.log
( env -u JOURNAL_STREAM slipway up --controller-port $CP --registry-port $RP \
	--ssh-port $SP --proxy-port $PP >up.out 2>&1 & echo $! >up.pid; wait $! ) &
while [ ! -s up.pid ]; do sleep 0.05; done
UP_PID=$(cat up.pid)
at_exit "kill $UP_PID"
# the runner's firewall table outlives it
at_exit "wait_for '! kill -0 $UP_PID' 15; slipway runner firewall --remove"
wait_port $CP 30 && wait_port $SP 30 && wait_port $PP 30

sshx() {
	ssh -i "$HOME/.ssh/id_ed25519" -p "$SP" -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o BatchMode=yes -o LogLevel=ERROR git@127.0.0.1 "$@"
}
# Wait until the merged log has a line matching $1 (up to 20 s).
wait_log() {
	for i in $(seq 1 200); do grep -q -- "$1" "$LOG" && return 0; sleep 0.1; done
	echo "no line matching '$1' in $LOG:"; tail -n 20 "$LOG"; return 1
}

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
forged="x
$stamp info  sshd: user 'admin' authenticated with key SHA256:FORGED"$'\e[2J\e]0;pwned\a'
sshx "$forged" >ssh.out 2>ssh.err

expect_success 'the exec string is logged as one escaped line' '
	wait_log "SHA256:FORGED" &&
	expect_eq 1 "$(grep -c "SHA256:FORGED" "$LOG")" "lines naming the key" &&
	line=$(grep "SHA256:FORGED" "$LOG") &&
	expect_contains "$line" "sshd: user '"'"'admin'"'"' runs '"'"'x\\n$stamp info  sshd: user" &&
	expect_contains "$line" "SHA256:FORGED\\x1b[2J\\x1b]0;pwned\\x07" &&
	case $line in "sshd       | "*) ;; *) echo "not an sshd line: $line"; false;; esac
'
expect_success 'no control byte reaches the merged log' '
	! LC_ALL=C grep -q "[[:cntrl:]]" <(tr -d "\n" <"$LOG") ||
	{ LC_ALL=C grep -n "[[:cntrl:]]" "$LOG" | cat -v | head -5; false; }
'

# quoted or not, a control byte is refused by the command splitter, and
# the refusal does not echo it
sshx "'"$'\e[31mevil'"'" >ssh2.out 2>ssh2.err
expect_success 'a command with a control byte is refused, and not echoed raw' '
	expect_contains "$(cat ssh2.err)" "the command has a control character" &&
	! LC_ALL=C grep -q $'"'"'\e'"'"' ssh2.err
'
# bytes that are not UTF-8 get past the splitter to the "not a command" echo
sshx $'\xff\xfeevil' >ssh3.out 2>ssh3.err
expect_success 'an unknown command is echoed to the SSH client escaped' '
	expect_contains "$(cat ssh3.err)" "\\xff\\xfeevil" &&
	! LC_ALL=C grep -q $'"'"'\xff'"'"' ssh3.err
'
sshx "apps:info "$'\xff\xfeevil' >ssh4.out 2>ssh4.err
expect_success 'a command'"'"'s error quoting its argument is escaped too' '
	expect_contains "$(cat ssh4.err)" "\\xff\\xfeevil" &&
	! LC_ALL=C grep -q $'"'"'\xff'"'"' ssh4.err
'

expect_success 'up stops cleanly, with no sanitizer report' '
	kill -TERM $UP_PID &&
	for i in $(seq 1 300); do kill -0 $UP_PID 2>/dev/null || break; sleep 0.1; done &&
	! kill -0 $UP_PID 2>/dev/null &&
	! grep -E "Sanitizer|runtime error" up.out "$LOG"
'
test_done
