# `slipway up` for tests: source after lib.sh.  Free ports in CP RP SP PP
# and a HOME with an SSH key (the admin's, as up takes ~/.ssh/id_*.pub).
CP=$(free_port) RP=$(free_port) SP=$(free_port) PP=$(free_port)
export HOME=$T_DIR/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519"

# The services' merged log: every file of it (up rotates it by size),
# oldest first; up_log, only what came since the last up_start.
UP_LOGS=$SLIPWAY_HOME/logs
up_log_all() {
	local k
	for k in $(ls "$UP_LOGS" 2>/dev/null | sed -n 's/^slipway\.log\.\([0-9]*\)$/\1/p' | sort -rn); do
		cat "$UP_LOGS/slipway.log.$k"
	done
	cat "$UP_LOGS/slipway.log" 2>/dev/null
	return 0
}
UP_LOG_FROM=0
up_log() { up_log_all | tail -n +$((UP_LOG_FROM + 1)); }
# No sanitizer report in up's own output (the files named) nor in any
# service's (the merged log).
no_sanitizer_report() {
	! { cat "$@"; up_log_all; } | grep -E "Sanitizer|runtime error"
}

# Runs up in the background with more options in $2..., its own output
# (stdout and stderr) to $1, the services' to the merged log (not the
# journal, whatever the environment says; UP_ENV may add NAME=VALUE
# words to it): up.pid has its pid (and UP_PID), up.rc its exit status
# once it ends; waits for every port.
up_start() {
	rm -f up.pid up.rc
	UP_LOG_FROM=$(up_log_all | wc -l)
	( env -u JOURNAL_STREAM ${UP_ENV:-} slipway up --controller-port $CP \
		--registry-port $RP --ssh-port $SP --proxy-port $PP "${@:2}" \
		>"$1" 2>&1 & echo $! >up.pid; wait $!
	  echo $? >up.rc ) 2>/dev/null &
	wait_for "[ -s up.pid ]" 30 || return 1
	UP_PID=$(cat up.pid)
	at_exit "kill $UP_PID"
	at_exit "up_firewall_remove $UP_PID '$SLIPWAY_HOME'"
	wait_port $CP 60 && wait_port $RP 60 && wait_port $SP 60 && wait_port $PP 60
}
# SIGTERM to up; prints its exit status.
up_stop() {
	kill -TERM $UP_PID
	wait_for "[ -s up.rc ]" 30
	cat up.rc
}

# The runner's firewall table stays when the runner exits, as its
# containers do: once up PID is gone, remove the table of HOME, the home
# that start used (a test may start up again in another home, as a
# restore does: each start's table goes, not only the last one's).
up_firewall_remove() { # pid home
	wait_for "! kill -0 $1" 15
	SLIPWAY_HOME=$2 slipway runner firewall --remove >/dev/null 2>&1
}

# Processes whose command line names this test's home (the services).
services() { pgrep -f -- "$SLIPWAY_HOME" | grep -v "^$UP_PID\$" || true; }

# git over OpenSSH with the key up made the admin's, and an author.
export GIT_SSH_COMMAND="ssh -i $HOME/.ssh/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com

# Containers outlive their runner by design: stop up, then remove the
# containers, runc's state and the mounts under this test's home (for
# at_exit in tests that deploy).
up_cleanup() {
	local id m pid
	pid=$(cat up.pid 2>/dev/null)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$pid" ] && wait_for "! kill -0 $pid" 15
	for id in $(ls "$SLIPWAY_HOME/runner/containers" 2>/dev/null); do
		slipway runner destroy "$id" >/dev/null 2>&1
	done
	if command -v runc >/dev/null && [ -d "$SLIPWAY_HOME/runner/runc" ]; then
		for id in $(runc --root "$SLIPWAY_HOME/runner/runc" list -q 2>/dev/null); do
			runc --root "$SLIPWAY_HOME/runner/runc" delete --force "$id"
		done
	fi
	for m in $(awk -v h="$SLIPWAY_HOME" 'index($2, h) == 1 { print $2 }' /proc/mounts); do
		umount -l "$m"
	done
}
# up_start for tests that deploy: up's output in up.log, the cleanup above at exit, and
# SLIPWAY_URL and SLIPWAY_TOKEN for the client commands.
up_start_deploy() {
	at_exit up_cleanup
	up_start up.log || { cat up.log; return 1; }
	export SLIPWAY_URL=http://127.0.0.1:$CP
	SLIPWAY_TOKEN=$(sed -n 's/^  admin API token: //p' up.log)
	export SLIPWAY_TOKEN
}
