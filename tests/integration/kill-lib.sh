# kill -9 during a push under `slipway up` (issue 18, breaks 5 and 6), for
# t0606 (the hooks, the controller, the proxy) and t0609 (the registry,
# sshd, ssh-exec, the runner); source after lib.sh.  Starts up on free
# ports with a short build lease, pushes the app `hello` once, and gives
#   kill_case WHO PHASE   push a commit; when PHASE shows, kill -9 WHO;
#                         then check the four things below
#   push_next NAME        the next push: it must go through and serve
# After each kill:
#   - git's verdict, the server's branch and slipway's releases agree: a
#     push git rejected (or whose branch did not move) ends with no
#     release of it but a failed one, and the previous release serving
#     (the pre-receive hook releases before git moves the branch; the
#     controller takes back what a killed one made); one that moved the
#     branch ends live (the controller and the runner repair what the
#     kill interrupted);
#   - the previous release keeps serving until then;
#   - no build stays `running` (the lease ends a builder's that is gone),
#     and no git or hook process of the push is left;
#   - a killed daemon of up is running again (up restarted it).
# docs/push.md, "Crash consistency", has the order this checks.

for p in git ssh ssh-keygen curl jq pgrep; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done

. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
# A builder killed with its hook stops renewing its build's lease: the
# controller fails the build this many seconds later.
export SLIPWAY_BUILD_LEASE=4
up_start_deploy || exit 1

# The shell buildpack runs the app's build.sh: a build with a compile
# phase long enough to be killed in.
mkdir -p "$SLIPWAY_HOME/buildpacks" &&
	cp -r "$SLIPWAY_TOP/tests/fixtures/buildpacks/shell" "$SLIPWAY_HOME/buildpacks/shell"
cp -r "$SLIPWAY_TOP/examples/hello" app
printf 'echo compiling; sleep 2; echo compiled\n' >app/build.sh
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
get() { curl -s -m 5 -H "Host: hello.localhost" "http://127.0.0.1:$PP/"; }
commit() { # NAME: a commit whose page says NAME
	sed -i "s|<h1>.*</h1>|<h1>$1</h1>|" app/public/index.html &&
	git -C app commit -qam "$1"
}
serves() { get | grep -q "<h1>$1</h1>"; }

# Processes of this test's `up` only (other tests on the machine run the
# same commands): its services are its children (each in a session of
# its own), everything a push runs has this test's SLIPWAY_HOME.
parent() { awk '{print $4}' "/proc/$1/stat" 2>/dev/null; }
mine() { grep -qz "^SLIPWAY_HOME=$SLIPWAY_HOME\$" "/proc/$1/environ" 2>/dev/null; }
# svc_pid NAME: up's service NAME (controller, registry, sshd, runner,
# proxy).
svc_pid() {
	local p
	for p in $(pgrep -f -- "slipway $1 "); do
		[ "$(parent "$p")" = "$UP_PID" ] && { echo "$p"; return 0; }
	done
	return 1
}
# push_pid PATTERN: a process of a push (a hook, ssh-exec, sshd's
# process for the connection) whose command line matches PATTERN.
push_pid() {
	local p
	for p in $(pgrep -f -- "$1"); do
		[ "$p" != "$UP_PID" ] && mine "$p" && { echo "$p"; return 0; }
	done
	return 1
}
# The processes a push leaves behind, if any.
push_left() {
	local p
	for p in $(pgrep -f -- "^git-receive-pack|slipway hook|slipway ssh-exec"); do
		mine "$p" && echo "$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80)"
	done
	return 0
}
# The pid of WHO (see kill_case).
who_pid() {
	local l
	case $1 in
	hook) push_pid "slipway hook p[a-z]*-receive";;
	pre-receive) push_pid "slipway hook pre-receive";;
	ssh-exec) push_pid "slipway ssh-exec";;
	sshd-conn) # the listener's child that serves the push
		l=$(svc_pid sshd) || return 1
		for p in $(pgrep -P "$l"); do echo "$p"; return 0; done
		return 1;;
	proxy-down) svc_pid proxy;;
	*) svc_pid "$1";;
	esac
}
api() { curl -s -m 5 -H "Authorization: Bearer $SLIPWAY_TOKEN" "$SLIPWAY_URL$1"; }
# The releases of the app as "vN REV" lines, newest first, but those
# that failed (a push git rejected may have made one: the rollout it
# followed failed, or the controller took it back).
releases() { api /v1/apps/hello/releases | jq -r '.[] | select(.state != "failed") | "v\(.version) \(.rev)"'; }
# The app's builds still `running`, as "N" lines.
builds_running() { api /v1/apps/hello/builds | jq -r '.[] | select(.status == "running") | .number // .id'; }
# The app's running containers as "APP.TYPE.INDEX" lines, sorted (their
# ids end with a random part).
containers() {
	runc --root "$SLIPWAY_HOME/runner/runc" list -f json 2>/dev/null |
		jq -r '.[]? | select(.status == "running") | .id' | cut -d. -f1-3 | sort
}
ctl_up() { curl -s -m 2 "$SLIPWAY_URL/v1/health" | grep -q ok; }
# The commit the server's deploy branch is at.
server_rev() { git -C app ls-remote "$REMOTE" refs/heads/main | cut -f1; }

commit first
expect_success 'the first push ends live' '
	out=$(cd app && git push "$REMOTE" main 2>&1) && echo "$out" | tail -3 &&
	expect_contains "$out" "Live at http://hello.localhost:$PP/" && serves first
'
# The page that serves now (test bodies run in subshells: a file).
echo first >serving

# kill_case WHO PHASE [MB]: push a commit whose page names it (and MB of
# noise); when PHASE
# matches the push's output (or, as log:PATTERN, a line `up` logs from
# now on), kill -9 WHO: hook (the running git hook), pre-receive (that
# hook only, the instant PHASE shows), controller,
# registry, sshd (the listener), sshd-conn (its process serving the
# push), ssh-exec, runner, proxy, or proxy-down (the proxy, and again
# as soon as up brings it back, so it is down when the runner swaps).
kill_case() {
	local who=$1 pat=$2 name=k$KILLS${KILL_RETRY:+r$KILL_RETRY} pid rev rc said landed src="cat push.out"
	# MB of noise (that does not compress) in the app: a longer upload
	if [ -n "${3:-}" ]; then
		head -c "$3"M /dev/urandom >app/public/noise.bin &&
			git -C app add public/noise.bin || return 1
	fi
	commit "$name" || return 1
	rev=$(git -C app rev-parse HEAD)
	case $pat in log:*)
		pat=${pat#log:}
		src="up_log | tail -n +$(($(up_log | wc -l) + 1))";;
	esac
	(cd app && exec git push "$REMOTE" main >../push.out 2>&1; ) & local gp=$!
	if [ "$who" = hook ]; then
		wait_for "$src | grep -q -- \"$pat\"" 120 || { kill $gp; cat push.out; return 1; }
		# (it may be between two: git runs post-receive after
		# pre-receive)
		wait_for "who_pid $who >/dev/null" 5
		pid=$(who_pid "$who")
	else
		# Some phases last milliseconds (a hook's last lines, a small
		# image's upload): know the pid beforehand, and look for the
		# phase without a pause.
		wait_for "who_pid $who >/dev/null" 60 || { kill $gp; cat push.out; return 1; }
		pid=$(who_pid "$who")
		local end=$((SECONDS + 120))
		until eval "$src" | grep -q -- "$pat"; do
			[ $SECONDS -lt $end ] || { echo "no '$pat' in 120 s"; kill $gp; cat push.out; return 1; }
			sleep 0.005
		done
		if ! kill -0 "$pid" 2>/dev/null; then
			# The phase passed between two looks: this push tested
			# nothing.  Let it end (it holds the app's lock), then try
			# the case again with a new commit, twice at most.
			echo "the $who ended before '$pat'"
			wait $gp
			KILL_RETRY=$((${KILL_RETRY:-0} + 1))
			[ $KILL_RETRY -le 2 ] || { KILL_RETRY=; return 1; }
			echo "trying again ($KILL_RETRY)"
			kill_case "$@"; rc=$?; KILL_RETRY=
			return $rc
		fi
	fi
	[ -n "$pid" ] || { echo "no $who process to kill"; kill $gp; return 1; }
	local args=$(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-60)
	kill -9 "$pid"
	if [ "$who" = proxy-down ]; then
		wait_for "svc_pid proxy | grep -qv '^$pid\$'" 60 &&
			kill -9 "$(svc_pid proxy)" || return 1
	fi
	wait $gp; rc=$?
	said=$(grep -o '\[remote rejected\]\|main -> main' push.out | head -1)
	{ echo "at '$pat': killed $args; git said ${said:-nothing} ($rc)"
	  grep -v "^remote:  *[a-z]" push.out | sed 's/^/    /'; } >>kills.log
	echo "git push exit $rc:"; tail -n 6 push.out
	# A daemon of up is back (with a new pid) before anything is judged.
	case $who in
	hook|pre-receive|ssh-exec|sshd-conn) ;;
	*)	wait_for "who_pid $who | grep -qv '^$pid\$'" 60 ||
			{ echo "up did not restart the $who"; return 1; }
		up_log | grep -q "^${who%-down} *| killed by signal 9; restarting" ||
			{ echo "the log does not say up restarted the $who"; return 1; }
	esac
	wait_for ctl_up 60 && wait_port $SP 30 || return 1
	# The push is over on the server too: no git or hook of it runs on.
	wait_for '[ -z "$(push_left)" ]' 60 || { echo "left running:"; push_left; return 1; }
	landed=$(server_rev) || return 1
	# git prints "main -> main" once the server said it moved the branch
	# (a connection cut after that still makes its exit status 1).
	case $said in
	"main -> main") [ "$landed" = "$rev" ] ||
		{ echo "git took the push, the branch is at $landed"; return 1; };;
	"[remote rejected]") [ "$landed" != "$rev" ] ||
		{ echo "git rejected the push, the branch is at it"; return 1; };;
	esac
	if [ "$landed" = "$rev" ]; then
		# It moved the branch: it must end live, with nobody asking again.
		wait_for "serves $name" 90 || { releases | head -3; return 1; }
		echo "$name" >serving
	else
		# Not landed: no release of it but a failed one, and the old
		# page serving, once the repair (every second) has taken back
		# a release pre-receive made before it was killed; then so
		# throughout.
		wait_for "! releases | grep -q \" $rev\$\"" 30 &&
			wait_for "serves $(cat serving)" 30 ||
			{ echo "a release of the rejected $rev:"; releases | head -3; return 1; }
		for _ in $(seq 1 10); do
			releases | grep -q " $rev$" && { echo "a release of the rejected $rev:"; releases | head -3; return 1; }
			serves "$(cat serving)" || { echo "the page is not $(cat serving) any more: $(get | head -3)"; return 1; }
			sleep 0.5
		done
		git -C app reset -q --hard HEAD~1
	fi
	# No build stays running: the lease fails a builder's that is gone.
	wait_for '[ -z "$(builds_running)" ]' $((SLIPWAY_BUILD_LEASE * 5)) ||
		{ echo "builds still running: $(builds_running | tr '\n' ' ')"; return 1; }
}
# The next push after a kill: it must go through and serve.
push_next() {
	local out
	if [ -e app/public/noise.bin ]; then git -C app rm -q public/noise.bin || return 1; fi
	commit "$1" && out=$(cd app && git push "$REMOTE" main 2>&1) ||
		{ echo "$out" | grep -v "^remote:  *[a-z]" | tail -12; return 1; }
	wait_for "serves $1" 60 && echo "$1" >serving
}
# One case and the push after it.
KILLS=0
kill_test() { # WHO PHASE [MB]
	KILLS=$((KILLS + 1))
	expect_success "kill -9 of the $1 at '${2#log:}': git and slipway agree, the old release serves, no build runs on" "
		kill_case $1 '$2' ${3:-}
	"
	expect_success "after it, the next push succeeds" "push_next n$KILLS"
}
# The end of a script: what happened, with T0606_DEBUG set.
kill_done() {
	if [ -n "${T0606_DEBUG:-}" ]; then
		cat kills.log
		up_log | grep -E "failed|cannot|landed|did not land|killed"
	fi
	# A runner killed while it started or swapped a release leaves no
	# container behind: in the end each process of the app runs once.
	expect_success 'no container outlives the release it ran' '
		wait_for "[ -z \"\$(containers | uniq -d)\" ]" 90 ||
			{ containers; exit 1; }
		[ -n "$(containers)" ]
	'
	expect_success 'no daemon reported a sanitizer error' '
		no_sanitizer_report up.log
	'
	test_done
}
