# Helpers for the push tests (t06xx), sourced after lib.sh and
# controller.sh:
#   push_need_clients   skip without git, ssh, curl, jq; own HOME, config
#   push_start          controller + registry (realm: the controller) +
#                       `slipway sshd` with an admin service token, on free
#                       ports; sets SSH_PORT, REG, SSHD_LOG, REG_LOG
#   push_user NAME      a user with an ed25519 key ($T_DIR/keys/NAME) added
#                       through the API; prints nothing
#   as NAME CMD...      run CMD with git/ssh using NAME's key
#   sshx NAME ARGS...   ssh to slipway's sshd as NAME
#   push_cleanup_sandbox  remove build containers and mounts left under
#                       SLIPWAY_HOME (for at_exit in tests that build)
# Daemons are started outside test bodies (a daemon started in one would
# hold the body's captured output open) and stopped at exit.
SSH_PORT= REG= SSHD_PID= REG_PID= SSHD_LOG= REG_LOG=

# The clients a push test drives (the test is skipped without one), and a
# client config and HOME of the test's own.
push_need_clients() {
	local p
	for p in git ssh ssh-keygen curl jq; do
		command -v "$p" >/dev/null || skip_all "$p is not installed"
	done
	export SLIPWAY_CONFIG=$T_DIR/client.json HOME=$T_DIR
}

push_start() {
	# The builds the controller runs push to the registry it is told of
	# (SLIPWAY_REGISTRY), and the registry needs the secret the controller
	# makes: pick the registry's port first, start the controller, then
	# the registry; if another process took the port meanwhile, again.
	local rport try
	REG_LOG=$T_DIR/registry.log
	for try in 1 2 3 4 5; do
		rport=$(free_port) || return 1
		REG=127.0.0.1:$rport
		export SLIPWAY_REGISTRY=$REG
		ctl_start >/dev/null 2>&1 || continue
		if [ "$CTL_PORT" = "$rport" ]; then ctl_stop; continue; fi
		slipway registry --listen "$REG" --root "$SLIPWAY_HOME/registry" \
			--realm "$CTL_URL/v1/registry/token" --service slipway-registry \
			>"$REG_LOG" 2>&1 &
		REG_PID=$!
		at_exit "kill $REG_PID"
		wait_port "$rport" 20 >/dev/null && break
		kill "$REG_PID" 2>/dev/null
		ctl_stop
	done
	[ -n "$REG_PID" ] && kill -0 "$REG_PID" 2>/dev/null ||
		{ cat "$CTL_LOG" "$REG_LOG" 2>/dev/null; return 1; }
	# A controller that made the store but lost its port printed the
	# admin's token in its own log.
	if [ -z "${ADMIN:-}" ]; then
		ADMIN=$(cat "$T_DIR"/controller.*.log | sed -n 's/.*shown only now, save it): \(slw_[0-9a-f]*\)$/\1/p' | head -n 1)
		export SLIPWAY_TOKEN=$ADMIN
	fi
	# The service token: an admin's, in a 0600 file.
	mkdir -p "$SLIPWAY_HOME/ssh" && chmod 700 "$SLIPWAY_HOME/ssh"
	slipway tokens:create --label sshd >"$SLIPWAY_HOME/ssh/service-token" 2>/dev/null &&
		chmod 600 "$SLIPWAY_HOME/ssh/service-token" || return 1
	SSHD_LOG=$T_DIR/sshd.log
	for try in 1 2 3 4 5; do
		SSH_PORT=$(free_port) || return 1
		slipway sshd --listen "127.0.0.1:$SSH_PORT" --controller "$CTL_URL" \
			--registry "$REG" >"$SSHD_LOG" 2>&1 &
		SSHD_PID=$!
		at_exit "kill $SSHD_PID"
		# up, or gone because another process took the port first
		for _ in $(seq 1 200); do
			(exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null && break
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$SSHD_PID" 2>/dev/null && wait_port "$SSH_PORT" 1 >/dev/null && break
		kill "$SSHD_PID" 2>/dev/null
		[ "$try" = 5 ] && { cat "$SSHD_LOG"; return 1; }
	done
	mkdir -p "$T_DIR/keys"
	git config --global user.email test@example.com 2>/dev/null
	git config --global user.name test 2>/dev/null
	git config --global init.defaultBranch main 2>/dev/null
	return 0
}

push_user() { # NAME [--admin]
	slipway users:add "$@" >/dev/null 2>&1
	ssh-keygen -q -t ed25519 -N '' -C "$1@test" -f "$T_DIR/keys/$1" </dev/null >/dev/null &&
		slipway keys:add --user "$1" "$T_DIR/keys/$1.pub" >/dev/null
}

ssh_opts() { # NAME
	echo "-i $T_DIR/keys/$1 -p $SSH_PORT -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR"
}

as() { # NAME CMD...
	local who=$1
	shift
	GIT_SSH_COMMAND="ssh $(ssh_opts "$who")" "$@"
}

sshx() { # NAME ARGS...
	local who=$1
	shift
	# shellcheck disable=SC2046
	ssh $(ssh_opts "$who") git@127.0.0.1 "$@"
}

# The remote URL of an app.
app_url() { echo "ssh://git@127.0.0.1:$SSH_PORT/$1.git"; }

# A fresh app checkout in dir with a Procfile and a file; one commit.
app_init() { # DIR
	rm -rf "$1" && mkdir -p "$1" && (
		cd "$1" && git init -q -b main &&
		printf 'web: httpd -f -p $PORT -h public\n' >Procfile &&
		mkdir public && echo "hello $RANDOM" >public/index.html &&
		git add -A && git commit -q -m first
	)
}

# A release field of an app: rel APP FIELD (of the newest release).
rel() {
	api GET "/v1/apps/$1/releases?limit=1" | sed '$d' | jq -r ".[0].$2"
}

push_cleanup_sandbox() {
	local id m
	if command -v runc >/dev/null && [ -d "$SLIPWAY_HOME/sandbox/runc" ]; then
		for id in $(runc --root "$SLIPWAY_HOME/sandbox/runc" list -q 2>/dev/null); do
			runc --root "$SLIPWAY_HOME/sandbox/runc" delete --force "$id"
		done
	fi
	for m in $(awk -v h="$SLIPWAY_HOME" 'index($2, h) == 1 { print $2 }' /proc/mounts); do
		umount -l "$m"
	done
}
