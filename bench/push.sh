#!/usr/bin/env bash
# `git push` into slipway (sshd, hook, build, image, registry push,
# release) against the same push into a plain bare repository over
# OpenSSH's own sshd on the same machine: the floor slipway adds to.
#
# The app: FILES files making SIZE_MIB MiB (half base64 text, half
# repeated source-like lines), a Procfile, no buildpack, so the slug
# streams straight from git.  Two cases, ROUNDS rounds each, medians:
#   fresh   the whole app pushed to an app (and a repo) that has nothing
#   change  one file changed, pushed to an app that has the rest
# A push is timed from `git push` starting to it returning, which for
# slipway is after the release is recorded.  The hook's stage timings
# (its "Built in" line) are collected too.
#
# OpenSSH runs git-receive-pack through root's login shell, and bash reads
# ~/.bashrc when sshd starts it: a slow .bashrc (root's runs pyenv here,
# about 1 s a connection) would flatter slipway.  So the plain sshd runs in
# a mount namespace of its own where root's ~/.bashrc is an empty file;
# the script prints what one bare connection costs on each server.
#
#   make && bench/push.sh
#   ROUNDS=5 FILES=1000 SIZE_MIB=20 bench/push.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/lib.sh"
BIN=$top/build/slipway
ROUNDS=${ROUNDS:-5}
FILES=${FILES:-1000}
SIZE_MIB=${SIZE_MIB:-20}

[ -x "$BIN" ] || { echo "bench/push.sh: build/slipway missing; run make" >&2; exit 1; }
for p in git ssh ssh-keygen /usr/sbin/sshd curl jq base64 awk unshare; do
	command -v $p >/dev/null || { echo "bench/push.sh: $p is not installed" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/push.sh: OpenSSH's sshd needs root here" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slipway-bench-push.XXXXXX")
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
export HOME=$tmp SLIPWAY_HOME=$tmp/home SLIPWAY_CONFIG=$tmp/client.json
mkdir -p "$SLIPWAY_HOME"
git config --global user.email bench@example.com
git config --global user.name bench
git config --global init.defaultBranch main

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---- slipway: controller, registry, sshd ----
CPORT=$(free_port); RPORT=$(free_port); SPORT=$(free_port)
export SLIPWAY_REGISTRY=127.0.0.1:$RPORT SLIPWAY_URL=http://127.0.0.1:$CPORT
"$BIN" controller --listen "127.0.0.1:$CPORT" >ctl.log 2>&1 & pids+=($!)
wait_port "$CPORT"
ADMIN=$(sed -n 's/.*save it): \(slw_[0-9a-f]*\)$/\1/p' ctl.log)
export SLIPWAY_TOKEN=$ADMIN
"$BIN" registry --listen "127.0.0.1:$RPORT" --realm "$SLIPWAY_URL/v1/registry/token" \
	--service slipway-registry >reg.log 2>&1 & pids+=($!)
wait_port "$RPORT"
mkdir -p "$SLIPWAY_HOME/ssh"
"$BIN" tokens:create --label sshd >"$SLIPWAY_HOME/ssh/service-token" 2>/dev/null
chmod 600 "$SLIPWAY_HOME/ssh/service-token"
"$BIN" sshd --listen "127.0.0.1:$SPORT" >sshd.log 2>&1 & pids+=($!)
wait_port "$SPORT"
ssh-keygen -q -t ed25519 -N '' -f key </dev/null
"$BIN" users:add bench >/dev/null
"$BIN" keys:add --user bench key.pub >/dev/null

# ---- OpenSSH's sshd: the floor ----
OPORT=$(free_port)
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f ohostkey </dev/null
cp key.pub authorized_keys
chmod 644 authorized_keys
cat >sshd_config <<EOF
Port $OPORT
ListenAddress 127.0.0.1
HostKey $tmp/ohostkey
AuthorizedKeysFile $tmp/authorized_keys
PidFile $tmp/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin yes
PasswordAuthentication no
KbdInteractiveAuthentication no
GSSAPIAuthentication no
UseDNS no
AllowUsers root
LogLevel ERROR
EOF
mkdir plain
: >empty.rc
rc=$(getent passwd root | cut -d: -f6)/.bashrc
if [ -f "$rc" ]; then
	unshare -m sh -c 'mount --bind "$1" "$2" && exec /usr/sbin/sshd -D -e -f "$3"' \
		sh "$tmp/empty.rc" "$rc" "$tmp/sshd_config" >osshd.log 2>&1 & pids+=($!)
else
	/usr/sbin/sshd -D -e -f sshd_config >osshd.log 2>&1 & pids+=($!)
fi
wait_port "$OPORT"
SSHOPT="-i $tmp/key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR -o GSSAPIAuthentication=no"

# ---- the app ----
mkdir app && cd app && git init -q
echo 'web: httpd -f -p $PORT -h public' >Procfile
per=$(( SIZE_MIB * 1024 * 1024 / FILES ))
for i in $(seq 1 "$FILES"); do
	d=src/d$(( i % 40 ))
	mkdir -p "$d"
	if [ $(( i % 2 )) = 0 ]; then
		head -c $(( per * 3 / 4 )) /dev/urandom | base64 -w 76 >"$d/f$i.txt"
	else
		yes "    return compute_value(input, options, $i);  /* line */" |
			head -c "$per" >"$d/f$i.c"
	fi
done
git add -A && git commit -q -m app
cd ..
size=$(du -sb app --exclude=.git | cut -f1)
echo "app: $(git -C app ls-files | wc -l) files, $(( size / 1024 / 1024 )) MiB, Procfile, no buildpack"

slip_url() { echo "ssh://git@127.0.0.1:$SPORT/$1.git"; }
plain_url() { echo "ssh://root@127.0.0.1:$OPORT$tmp/plain/$1.git"; }
plain_init() { git init -q --bare "$tmp/plain/$1.git"; }

# warm-up: the stack is imported on the first build, not counted
(cd app && GIT_SSH_COMMAND="ssh $SSHOPT" git push -q "$(slip_url warmup)" main 2>/dev/null)

push_time() { # URL -> seconds; the push output is kept in push.out
	local t0 t1
	t0=$(now)
	(cd app && GIT_SSH_COMMAND="ssh $SSHOPT" git push "$1" main >../push.out 2>&1) ||
		{ echo "bench/push.sh: push to $1 failed:" >&2; cat push.out >&2; exit 1; }
	t1=$(now)
	calc "$t1 - $t0"
}
stages() { sed -n 's/.*Built in \([0-9.]*\)s (\(.*\));.*/\1|\2/p' push.out | head -1; }

# What one connection costs before any git runs.
ssh_cost() { # PORT USER CMD
	local t0 t1 v=""
	for _ in 1 2 3; do
		t0=$(now); ssh $SSHOPT -p "$1" "$2@127.0.0.1" "$3" >/dev/null; t1=$(now)
		v+="$(calc "$t1 - $t0") "
	done
	tr ' ' '\n' <<<"$v" | grep . | median
}
printf 'one connection: OpenSSH (true) %.3fs, slipway (help) %.3fs\n' \
	"$(ssh_cost "$OPORT" root true)" "$(ssh_cost "$SPORT" git help)"

declare -A T
for r in $(seq 1 "$ROUNDS"); do
	# fresh: a new app and a new bare repo each round
	plain_init "fresh$r"
	# which goes first alternates, so a load that comes and goes on a
	# shared machine falls on both
	for who in $( [ $(( r % 2 )) = 1 ] && echo "p s" || echo "s p"); do
		if [ "$who" = p ]; then
			T[pf]+="$(push_time "$(plain_url "fresh$r")") "
		else
			T[sf]+="$(push_time "$(slip_url "fresh$r")") "
			st=$(stages); T[sfs]+="${st#*|};"; T[sfb]+="${st%%|*} "
		fi
	done
	# change: one file edited on top of what both already have
	(cd app && echo "change $r" >>src/d1/f1.c && git commit -q -am "change $r")
	for who in $( [ $(( r % 2 )) = 1 ] && echo "p s" || echo "s p"); do
		if [ "$who" = p ]; then
			T[pc]+="$(push_time "$(plain_url "fresh$r")") "
		else
			T[sc]+="$(push_time "$(slip_url "fresh$r")") "
			st=$(stages); T[scs]+="${st#*|};"; T[scb]+="${st%%|*} "
		fi
	done
done

# the median of each stage over the rounds ("slug 0.20s, image 0.05s, ...")
stage_medians() {
	tr ';' '\n' <<<"$1" | tr ',' '\n' | sed -n 's/^ *\([a-z]*\) \([0-9.]*\)s$/\1 \2/p' |
		sort -k1,1 -s | awk '{ v[$1] = v[$1] " " $2 } END { for (k in v) print k v[k] }' |
		while read -r k vals; do
			printf '%s %s, ' "$k" "$(tr ' ' '\n' <<<"$vals" | median)"
		done | sed 's/, $//'
}
row() { # label plain slipway buildtimes stages
	local p s b
	p=$(tr ' ' '\n' <<<"$2" | grep . | median)
	s=$(tr ' ' '\n' <<<"$3" | grep . | median)
	b=$(tr ' ' '\n' <<<"$4" | grep . | median)
	printf '%-8s plain %.3fs  slipway %.3fs  ratio %.2f  added %.3fs  (hook build %.3fs: %s)\n' \
		"$1" "$p" "$s" "$(calc "$s / $p")" "$(calc "$s - $p")" "$b" \
		"$(stage_medians "$5")"
}
echo "medians of $ROUNDS rounds (push start to git push returning; slipway: release recorded)"
row fresh "${T[pf]}" "${T[sf]}" "${T[sfb]}" "${T[sfs]}"
row change "${T[pc]}" "${T[sc]}" "${T[scb]}" "${T[scs]}"
