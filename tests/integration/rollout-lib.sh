# Shared by the rollout tests (t070x), sourced after lib.sh and
# controller.sh: a whole slipway on free ports (controller, registry with
# the controller as token realm, proxy, runner daemon), images of an app
# whose versions answer differently, and helpers to deploy and look.
#
#   rl_need DRIVER            skip the script unless it can run here
#   rl_start DRIVER           start everything (call at the top level)
#   rl_images APP FIRST LAST  build and push images v FIRST..LAST of APP
#   rl_deploy APP N           make build N succeed with image vN: prints vR
#   rl_get APP                one GET through the proxy: the body
#   rl_runner_start / rl_runner_reap / rl_rps (runner ps --json)
#
# Apps serve public/index.html ("APP version N") with busybox httpd -vv,
# which logs each request's path and status.

RL_RHOME=$T_DIR/rhome
RL_CTLSOCK=$T_DIR/proxy.sock
RL_RUNNER_PID=
RL_DRIVER=

rl_need() { # DRIVER
	local p
	for p in curl jq cc; do
		command -v "$p" >/dev/null || skip_all "$p is not installed"
	done
	BB=$(command -v busybox || echo /bin/busybox)
	file "$BB" 2>/dev/null | grep -q 'statically linked' ||
		skip_all "no static busybox (package busybox-static)"
	if [ "$1" = runc ]; then
		[ "$(id -u)" = 0 ] || skip_all "the runc driver needs root"
		command -v runc >/dev/null || skip_all "runc is not installed"
	fi
	cc -std=gnu11 -O1 -o "$T_DIR/pxpeer" "$SLIPWAY_TOP/tests/helpers/pxpeer.c" \
		-lpthread -lcrypto 2>"$T_DIR/cc.log" ||
		skip_all "cannot build tests/helpers/pxpeer.c: $(head -c 300 "$T_DIR/cc.log")"
}

# Stop the runner first (so it restarts nothing), then every container it
# left, every runc container of its home and every mount under it.
rl_cleanup() {
	local id m p
	if [ -n "${SLIPWAY_TEST_KEEP:-}" ]; then
		mkdir -p "$SLIPWAY_TEST_KEEP" && cp "$T_DIR"/*.log "$SLIPWAY_TEST_KEEP/"
	fi
	if [ -n "$RL_RUNNER_PID" ]; then
		kill "$RL_RUNNER_PID" 2>/dev/null
		for _ in $(seq 1 150); do kill -0 "$RL_RUNNER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$RL_RUNNER_PID" 2>/dev/null
	fi
	# its firewall table outlives it, as its containers do
	SLIPWAY_HOME=$RL_RHOME slipway runner firewall --remove >/dev/null 2>&1
	if [ -d "$RL_RHOME/runner/containers" ]; then
		for id in $(ls "$RL_RHOME/runner/containers"); do
			SLIPWAY_HOME=$RL_RHOME slipway runner destroy "$id" >/dev/null 2>&1
		done
	fi
	if command -v runc >/dev/null && [ -d "$RL_RHOME/runner/runc" ]; then
		for id in $(runc --root "$RL_RHOME/runner/runc" list -q 2>/dev/null); do
			runc --root "$RL_RHOME/runner/runc" delete --force "$id"
		done
	fi
	for m in $(awk -v h="$RL_RHOME" 'index($2, h) == 1 { print $2 }' /proc/mounts); do
		umount -l "$m"
	done
}

rl_start() { # DRIVER
	RL_DRIVER=$1
	# container ports of their own, away from other runs on this machine
	RL_PORT_BASE=$(( 30000 + (RANDOM % 250) * 100 ))
	ctl_start || ctl_start_failed
	RL_REG_PORT=$(free_port)
	slipway registry --listen "127.0.0.1:$RL_REG_PORT" --root "$T_DIR/registry" \
		--realm "$CTL_URL/v1/registry/token" --service slipway-registry \
		>"$T_DIR/registry.log" 2>&1 &
	at_exit "kill $!"
	wait_port "$RL_REG_PORT" 20 || { cat "$T_DIR/registry.log"; ctl_start_failed; }
	RL_REG=127.0.0.1:$RL_REG_PORT
	RL_PX=$(free_port)
	slipway proxy --listen "127.0.0.1:$RL_PX" --control "$RL_CTLSOCK" \
		--access-log "$T_DIR/access.log" >"$T_DIR/proxy.log" 2>&1 &
	at_exit "kill $!"
	wait_port "$RL_PX" 20 || { cat "$T_DIR/proxy.log"; ctl_start_failed; }
	RL_KEY=$(slipway runners:add r1 2>/dev/null)
	mkdir -p "$RL_RHOME"
	at_exit rl_cleanup
	slipway stack import --busybox --busybox-path "$BB" -o "$T_DIR/stack" \
		--tag latest >/dev/null || ctl_start_failed
	rl_runner_start
}

# At the top level only: the runner must be a child of the script.
# $RL_RUNNER_ARGS (words) come last and win (--grace 90).
rl_runner_start() {
	# shellcheck disable=SC2086
	SLIPWAY_HOME=$RL_RHOME slipway runner --controller "$CTL_URL" --group default \
		--key "$RL_KEY" --driver "$RL_DRIVER" --proxy-control "$RL_CTLSOCK" \
		--proxy-port "$RL_PX" --health-interval 0.2 --grace 3 --drain 10 \
		--port-base "$RL_PORT_BASE" ${RL_RUNNER_ARGS:-} \
		>>"$T_DIR/runner.log" 2>&1 &
	RL_RUNNER_PID=$!
	# not a job: bash would report its kill -9 on stderr
	disown "$RL_RUNNER_PID"
}

# At the top level, after a test body killed it: wait until it is gone.
rl_runner_reap() {
	wait_for "! kill -0 $RL_RUNNER_PID" 60
	RL_RUNNER_PID=
}

# Images vFIRST..vLAST of APP, each answering "APP version N"; more
# arguments go to `image build` (--healthcheck ...).
rl_images() { # APP FIRST LAST [image build args...]
	local app=$1 first=$2 last=$3 v
	shift 3
	for v in $(seq "$first" "$last"); do
		rm -rf "$T_DIR/src" && mkdir -p "$T_DIR/src/public" &&
		echo "$app version $v" >"$T_DIR/src/public/index.html" &&
		slipway slug create --dir "$T_DIR/src" -o "$T_DIR/slug.tgz" >/dev/null &&
		slipway image build --slug "$T_DIR/slug.tgz" --base "$T_DIR/stack" \
			-o "$T_DIR/img-$app" --tag "v$v" \
			--process 'web=busybox httpd -f -vv -p $PORT -h public' \
			--process 'worker=while true; do sleep 1; done' "$@" >/dev/null &&
		slipway image push --user "admin:$ADMIN" "$T_DIR/img-$app:v$v" \
			"$RL_REG/$app:v$v" >/dev/null 2>&1 || return 1
	done
}

rl_digest() { # APP N
	jq -r --arg t "v$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t)
		| .digest' "$T_DIR/img-$1/index.json"
}

# A succeeded build with image vN (as the builder records one): prints
# the release it made, "vR".  TYPES defaults to web only.
rl_deploy() { # APP N [process_types JSON]
	local n types=${3:-'{"web":"busybox httpd -f -vv -p $PORT -h public"}'}
	n=$(api POST "/v1/apps/$1/builds" "" -d '{}' | sed '$d' | jq -r .number) || return 1
	api PATCH "/v1/apps/$1/builds/$n" "" -d "$(jq -n --arg i "$RL_REG/$1:v$2" \
		--arg d "$(rl_digest "$1" "$2")" --argjson t "$types" \
		'{status: "succeeded", image: $i, digest: $d, process_types: $t}')" |
		sed '$d' | jq -r '"v" + (.release.version | tostring)'
}

rl_get() { # APP [curl args]
	local app=$1; shift
	curl -sS --max-time 10 -H "Host: $app.localhost" "$@" "http://127.0.0.1:$RL_PX/"
}

# Every one of N answers (default 10) is exactly WANT.
rl_only() { # APP WANT [N]
	local i got
	for i in $(seq 1 "${3:-10}"); do
		got=$(rl_get "$1") || return 1
		[ "$got" = "$2" ] || { echo "answer $i: got '$got', want '$2'"; return 1; }
	done
}

rl_rps() { SLIPWAY_HOME=$RL_RHOME slipway runner ps --json; }

# Continuous load through the proxy until rl_load_stop; the counts go to
# $T_DIR/load-NAME.out.
rl_load_start() { # NAME APP [CONNS]
	rm -f "$T_DIR/stop-$1"
	"$T_DIR/pxpeer" load "$RL_PX" "$2.localhost" "${3:-4}" "$T_DIR/stop-$1" \
		"$T_DIR/never" x >"$T_DIR/load-$1.out" 2>"$T_DIR/load-$1.err" &
	eval "RL_LOAD_$1=$!"
	at_exit "touch $T_DIR/stop-$1"
}

# Stop the load and check: answers > 0, no non-200, no connection error.
# (Test bodies run in subshells: the load is not their child to wait for.)
rl_load_check() { # NAME
	local pid out
	eval "pid=\$RL_LOAD_$1"
	touch "$T_DIR/stop-$1"
	wait_for "! kill -0 $pid" 60 || return 1
	out=$(cat "$T_DIR/load-$1.out")
	echo "load $1: $out"
	case $out in *" non200=0 errors=0 "*) ;; *)
		head -c 2000 "$T_DIR/load-$1.err"; return 1;; esac
	case $out in answers=0\ *) echo "no answers at all"; return 1;; esac
	return 0
}

