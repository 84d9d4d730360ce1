# Helpers for the controller's integration tests (t04xx), sourced after
# lib.sh:  ctl_start [ARGS...]  starts `slipway controller` on a free port
# in $SLIPWAY_HOME, waits for it (call it outside test bodies: a daemon
# started in one would hold the body's captured output open), and sets CTL_PID, CTL_PORT, CTL_URL,
# CTL_LOG; on a fresh store ADMIN gets the token it printed.  It listens on
# $CTL_HOST (default 127.0.0.1).  The client
# commands find it through SLIPWAY_URL / SLIPWAY_TOKEN (exported here).
CTL_PID= CTL_PORT= CTL_URL= CTL_LOG=
ctl_start() {
	local host=${CTL_HOST:-127.0.0.1}
	CTL_PORT=$(free_port) || return 1
	CTL_LOG=$T_DIR/controller.$CTL_PORT.log
	slipway controller --listen "$host:$CTL_PORT" "$@" >>"$CTL_LOG" 2>&1 &
	CTL_PID=$!
	at_exit "kill $CTL_PID"
	wait_port "$CTL_PORT" 20 "$host" || { cat "$CTL_LOG"; return 1; }
	CTL_URL=http://$host:$CTL_PORT
	export SLIPWAY_URL=$CTL_URL
	local t
	t=$(sed -n 's/.*shown only now, save it): \(slw_[0-9a-f]*\)$/\1/p' "$CTL_LOG")
	if [ -n "$t" ]; then ADMIN=$t; export SLIPWAY_TOKEN=$t; fi
	return 0
}
# A controller that does not start fails the script (never a skip).
ctl_start_failed() {
	echo "FAIL the controller did not start"
	T_FAIL=$((T_FAIL + 1))
	test_done
}
# Stop the controller started last and wait for it to exit.
ctl_stop() {
	kill "$CTL_PID" 2>/dev/null
	wait "$CTL_PID" 2>/dev/null
	return 0
}
# curl against the API: api METHOD PATH [TOKEN] [curl args...]; prints the
# body and then the status on its own last line.
# With a runner key (slr_...), it sends the session the key's last
# register answered (kept in $T_DIR/session.*), as a runner does.
api() {
	local m=$1 p=$2 tok=${3:-$SLIPWAY_TOKEN} out sf
	shift; shift; [ $# -gt 0 ] && shift
	sf=$T_DIR/session.${tok:4:16}
	if [ "$p" = /v1/runner/register ]; then
		out=$(curl -sS -X "$m" -H "Authorization: Bearer $tok" \
			-w '\n%{http_code}\n' "$@" "$CTL_URL$p")
		printf '%s\n' "$out" | sed '$d' | jq -r '.session // empty' \
			2>/dev/null >"$sf.new" && [ -s "$sf.new" ] && mv "$sf.new" "$sf"
		printf '%s\n' "$out"
		return
	fi
	if [[ $tok == slr_* ]] && [ -s "$sf" ]; then
		set -- -H "X-Slipway-Session: $(cat "$sf")" "$@"
	fi
	curl -sS -X "$m" -H "Authorization: Bearer $tok" \
		-w '\n%{http_code}\n' "$@" "$CTL_URL$p"
}
# The status line of an `api` answer, and the body without it.
api_status() { printf '%s\n' "$1" | tail -n 1; }
api_body() { printf '%s\n' "$1" | sed '$d'; }
# Mark build N of APP succeeded with image, digest and process types, so
# it makes a deploy release (the builder does this in a full install).
ctl_deploy() { # APP REV [TOKEN]
	local n
	n=$(api POST "/v1/apps/$1/builds" "${3:-}" -d "{\"rev\":\"$2\"}" |
		sed '$d' | jq -r .number) || return 1
	api PATCH "/v1/apps/$1/builds/$n" "${3:-}" -d '{"status":"succeeded",
		"image":"127.0.0.1:5000/'"$1"':v'"$n"'",
		"digest":"sha256:'"$(printf '%064d' "$n")"'",
		"process_types":{"web":"./web","worker":"./work"}}' |
		tail -n 1 | grep -qx 200
}
# APP KEY N: set KEY to 1..N in turn (N config changes, N releases) on one
# keep-alive connection; prints one HTTP status per change.
ctl_config_burst() {
	local i
	for i in $(seq 1 "$3"); do
		[ "$i" = 1 ] || echo next
		printf 'url = "%s/v1/apps/%s/config"\nrequest = "PATCH"\n' "$CTL_URL" "$1"
		printf 'data = "{\\"%s\\":\\"%d\\"}"\n' "$2" "$i"
		printf 'header = "Authorization: Bearer %s"\noutput = "/dev/null"\n' "$SLIPWAY_TOKEN"
		printf 'write-out = "%%{http_code}\\n"\n'
	done >"$T_DIR/burst.cfg"
	curl -sS -K "$T_DIR/burst.cfg"
}
