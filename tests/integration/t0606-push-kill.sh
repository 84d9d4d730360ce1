#!/usr/bin/env bash
# test-timeout: 600
# kill -9 at every phase of a push (issue 18, break 5): the git hook, the
# controller and the proxy, each killed when the push's output (or the
# merged log of `slipway up`) says it reached a phase.  After each:
#   - git's verdict and slipway's agree: a push git reports as rejected
#     made no release and its commit never serves; one git accepted
#     ends live (the controller repairs what the kill interrupted);
#   - the previous release keeps serving until then;
#   - the next push succeeds and serves its page.
# docs/push.md, "Crash consistency", has the order this checks.
. "$(dirname "$0")/lib.sh"

for p in git ssh ssh-keygen curl jq pgrep; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done

CP=$(free_port) RP=$(free_port) SP=$(free_port) PP=$(free_port)
export HOME=$T_DIR/user
mkdir -p "$HOME/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$HOME/.ssh/id_ed25519"
export GIT_SSH_COMMAND="ssh -i $HOME/.ssh/id_ed25519 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
export GIT_AUTHOR_NAME=dev GIT_AUTHOR_EMAIL=dev@example.com
export GIT_COMMITTER_NAME=dev GIT_COMMITTER_EMAIL=dev@example.com

( slipway up --controller-port $CP --registry-port $RP --ssh-port $SP \
	--proxy-port $PP >up.log 2>&1 & echo $! >up.pid; wait ) &
wait_for "[ -s up.pid ]" 30 || exit 1
up_cleanup() {
	local id m pid=$(cat up.pid)
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
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
at_exit up_cleanup
wait_port $CP 30 && wait_port $SP 30 && wait_port $PP 30 || { cat up.log; exit 1; }
export SLIPWAY_URL=http://127.0.0.1:$CP
export SLIPWAY_TOKEN=$(sed -n 's/^  admin API token: //p' up.log)

# The shell buildpack runs the app's build.sh: a build with a compile
# phase long enough to be killed in.
mkdir -p "$SLIPWAY_HOME/buildpacks" &&
	cp -r "$SLIPWAY_TOP/tests/fixtures/buildpacks/shell" "$SLIPWAY_HOME/buildpacks/shell"
cp -r "$SLIPWAY_TOP/examples/hello" app
printf 'echo compiling; sleep 2; echo compiled\n' >app/build.sh
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
REMOTE=ssh://git@127.0.0.1:$SP/hello.git
get() { curl -s -m 5 -H "Host: hello.localhost" "http://127.0.0.1:$PP/"; }
# The page a commit serves names it.
page() { sed -n 's/.*<h1>\(.*\)<\/h1>.*/\1/p' app/public/index.html; }
commit() { # NAME: a commit whose page says NAME
	sed -i "s|<h1>.*</h1>|<h1>$1</h1>|" app/public/index.html &&
	git -C app commit -qam "$1"
}
serves() { get | grep -q "<h1>$1</h1>"; }
# The pid of a process of this test's `up` (its descendants only: other
# tests on the machine run the same commands), by its command line.
svc_pid() {
	local p q up=$(cat up.pid)
	for p in $(pgrep -f -- "$1"); do
		q=$p
		while [ -n "$q" ] && [ "$q" -gt 1 ] && [ "$q" != "$up" ]; do
			q=$(awk '{print $4}' "/proc/$q/stat" 2>/dev/null)
		done
		[ "$q" = "$up" ] && { echo "$p"; return 0; }
	done
	return 1
}
# The releases of the app as "vN REV" lines, newest first.
releases() { curl -s -H "Authorization: Bearer $SLIPWAY_TOKEN" "$SLIPWAY_URL/v1/apps/hello/releases" | jq -r '.[] | "v\(.version) \(.rev)"'; }
ctl_up() { curl -s -m 2 "$SLIPWAY_URL/v1/health" | grep -q ok; }

commit first
expect_success 'the first push ends live' '
	out=$(cd app && git push "$REMOTE" main 2>&1) && echo "$out" | tail -3 &&
	expect_contains "$out" "Live at http://hello.localhost:$PP/" && serves first
'
SERVING=first

# push_kill NAME PATTERN WHO: push a commit whose page says NAME; when the
# push's output (or up.log, for WHO=proxy) matches PATTERN, kill -9 WHO
# (hook, controller or proxy); then check git's verdict against slipway's.
push_kill() {
	local name=$1 pat=$2 who=$3 pid rev rc src="cat push.out"
	commit "$name" || return 1
	rev=$(git -C app rev-parse HEAD)
	# up.log's lines from here on
	local since="tail -n +$(($(wc -l <up.log) + 1)) up.log"
	case $who in proxy*) src=$since;; esac
	(cd app && exec git push "$REMOTE" main >../push.out 2>&1; ) & local gp=$!
	wait_for "$src | grep -q -- \"$pat\"" 120 || { kill $gp; cat push.out; return 1; }
	case $who in
	hook) pid=$(svc_pid "slipway hook p[a-z]*-receive");;
	controller) pid=$(svc_pid "slipway controller");;
	proxy*) pid=$(svc_pid "slipway proxy");;
	esac
	[ -n "$pid" ] || { echo "no $who process to kill"; kill $gp; return 1; }
	local args=$(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-60)
	kill -9 "$pid"
	# proxy-down: once up has brought the proxy back, again, so it is
	# down for longer (up waits twice as long each time) when the
	# runner swaps the route.
	if [ "$who" = proxy-down ]; then
		wait_for "svc_pid 'slipway proxy' | grep -q ." 60 &&
			kill -9 "$(svc_pid 'slipway proxy')" || return 1
	fi
	wait $gp; rc=$?
	echo "at '$pat': killed $args; git said $(grep -o '\[remote rejected\]\|main -> main' push.out | head -1)" >>kills.log
	echo "git push exit $rc:"; tail -n 6 push.out
	# Whatever was killed is back (up restarts it) before anything is judged.
	wait_for ctl_up 60 || return 1
	if [ $rc = 0 ] && ! grep -q "remote rejected" push.out; then
		# Accepted: it must end live, with nobody asking again.
		wait_for "serves $name" 90 || { releases; return 1; }
		SERVING=$name
	else
		expect_contains "$(cat push.out)" "[remote rejected]" || return 1
		[ "$(git -C app ls-remote "$REMOTE" refs/heads/main | cut -f1)" != "$rev" ] || return 1
		# Rejected: no release of it, now or after the repairs (every
		# second), and the old page serves throughout.
		for _ in $(seq 1 10); do
			releases | grep -q " $rev$" && { echo "a release of the rejected $rev:"; releases | head -3; return 1; }
			serves "$SERVING" || { echo "the page is not $SERVING any more: $(get | head -3)"; return 1; }
			sleep 0.5
		done
		git -C app reset -q --hard HEAD~1
	fi
}
# The next push after a kill: it must go through and serve.
push_next() {
	commit "$1" && out=$(cd app && git push "$REMOTE" main 2>&1) ||
		{ echo "$out" | tail -5; return 1; }
	wait_for "serves $1" 60 && SERVING=$1
}

n=0
# The phases, in the order a push goes through them: compiling (the
# pre-receive hook), the build recorded and waiting for git to move the
# branch (pre-receive ending, or post-receive starting), the release
# made and its rollout followed (post-receive), the runner starting the
# new release (the proxy is next).
for c in \
	"hook|compiling" \
	"hook|released once git has moved" \
	"hook|Release v" \
	"controller|compiling" \
	"controller|released once git has moved" \
	"controller|Release v" \
	"proxy|hello: v[0-9]*: started web" \
	"proxy-down|hello: v[0-9]*: started web" \
	; do
	who=${c%%|*} pat=${c#*|}
	n=$((n + 1))
	expect_success "kill -9 of the $who at '$pat': git and slipway agree, the old release serves" '
		push_kill k$n "$pat" $who
	'
	expect_success "after it, the next push succeeds" 'push_next n$n'
done
[ -n "${T0606_DEBUG:-}" ] && cat kills.log && grep -E "failed|cannot|landed|did not land|killed" up.log
test_done
