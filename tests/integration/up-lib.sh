# `slipway up` for tests: source after lib.sh.  Free ports in CP RP SP PP
# and a HOME with an SSH key (the admin's, as up takes ~/.ssh/id_*.pub).
CP=$(free_port) RP=$(free_port) SP=$(free_port) PP=$(free_port)
export HOME=$T_DIR/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519"

# Runs up in the background, its output to $1: up.pid has its pid (and
# UP_PID), up.rc its exit status once it ends; waits for every port.
up_start() {
	rm -f up.pid up.rc
	( slipway up --controller-port $CP --registry-port $RP --ssh-port $SP \
		--proxy-port $PP >"$1" 2>&1 & echo $! >up.pid; wait $!
	  echo $? >up.rc ) 2>/dev/null &
	wait_for "[ -s up.pid ]" 30 || return 1
	UP_PID=$(cat up.pid)
	at_exit "kill $UP_PID"
	wait_port $CP 60 && wait_port $RP 60 && wait_port $SP 60 && wait_port $PP 60
}
# SIGTERM to up; prints its exit status.
up_stop() {
	kill -TERM $UP_PID
	wait_for "[ -s up.rc ]" 30
	cat up.rc
}

# Processes whose command line names this test's home (the services).
services() { pgrep -f -- "$SLIPWAY_HOME" | grep -v "^$UP_PID\$" || true; }
