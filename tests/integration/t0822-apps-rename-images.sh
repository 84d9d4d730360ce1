#!/usr/bin/env bash
# test-timeout: 300
# apps:rename of an app that has images (issue 16): the registry
# repository of the new name gets every tag (their blobs mounted, the
# manifests the same digests), the old one is emptied, the releases name
# the new repository, the git repository moves, the app serves at the
# new name's host and not at the old one's; a push to the new remote and
# a rollback to a release made before the rename both go live.  Refused
# in one line, changing nothing: a name taken, a name the registry
# cannot take.
. "$(dirname "$0")/lib.sh"

for p in jq curl ssh git skopeo; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"
up_start_deploy || exit 1

cp -r "$SLIPWAY_TOP/examples/hello" app
git -C app init -q -b main && git -C app add -A && git -C app commit -qm v1
code() { curl -s -o /dev/null -m 5 -w "%{http_code}" -H "Host: $1.localhost" "http://127.0.0.1:$PP/"; }
page() { curl -s -m 5 -H "Host: $1.localhost" "http://127.0.0.1:$PP/"; }
push() { (cd app && git push "ssh://git@127.0.0.1:$SP/$1.git" main 2>&1); }
# The tags of registry repository $1, one a line, sorted (none: empty).
tags() {
	skopeo list-tags --tls-verify=false --creds "admin:$SLIPWAY_TOKEN" \
		"docker://127.0.0.1:$RP/$1" 2>/dev/null | jq -r '.Tags[]?' | sort
}
digest() { # REPO TAG
	skopeo inspect --tls-verify=false --creds "admin:$SLIPWAY_TOKEN" \
		--raw "docker://127.0.0.1:$RP/$1:$2" | sha256sum | cut -d' ' -f1
}

expect_success 'two pushes make v1 and v2, tagged in repository hello' '
	push hello >/dev/null &&
	sed -i "s|<h1>.*</h1>|<h1>second</h1>|" app/public/index.html &&
	git -C app commit -qam second && push hello >/dev/null &&
	slipway releases:wait hello v2 --timeout 60 >/dev/null &&
	page hello | grep -q "<h1>second</h1>" &&
	expect_eq "v1 v2" "$(tags hello | tr "\n" " " | sed "s/ $//")"
'
d1=$(digest hello v1) d2=$(digest hello v2)
expect_success 'refused plainly, nothing changed: a name taken, a bad name' '
	slipway apps:create taken >/dev/null &&
	! out=$(slipway apps:rename hello taken 2>&1) &&
	expect_contains "$out" "an app named '"'"'taken'"'"' exists" &&
	! out=$(slipway apps:rename hello "No_Way" 2>&1) &&
	expect_contains "$out" "invalid app name" &&
	expect_eq "" "$(tags taken)" && expect_eq 2 "$(tags hello | wc -l)" &&
	expect_eq 200 "$(code hello)"
'
expect_success 'apps:rename hello hi: tags copied with the same digests, the old emptied' '
	out=$(slipway apps:rename hello hi) && expect_eq "Renamed hello to hi" "$out" &&
	expect_eq "v1 v2" "$(tags hi | tr "\n" " " | sed "s/ $//")" &&
	expect_eq "$d1" "$(digest hi v1)" && expect_eq "$d2" "$(digest hi v2)" &&
	expect_eq "" "$(tags hello)" &&
	slipway apps | grep -q "^hi " && ! slipway apps | grep -q "^hello "
'
expect_success 'the releases name the new repository; the git repository moved' '
	slipway releases hi --json | jq -r ".[].image" | grep -q "/hi:v2$" &&
	! slipway releases hi --json | jq -r ".[].image" | grep -q "/hello:" &&
	[ -d "$SLIPWAY_HOME/git/hi.git" ] && [ ! -e "$SLIPWAY_HOME/git/hello.git" ]
'
expect_success 'hi.localhost serves the app, hello.localhost does not' '
	wait_for "[ \"\$(code hi)\" = 200 ]" 60 &&
	page hi | grep -q "<h1>second</h1>" &&
	wait_for "[ \"\$(code hello)\" != 200 ]" 60
'
expect_success 'a push to the new remote goes live at the new name' '
	sed -i "s|<h1>.*</h1>|<h1>third</h1>|" app/public/index.html &&
	git -C app commit -qam third && out=$(push hi) &&
	expect_contains "$out" "Live at http://hi.localhost:$PP/" &&
	page hi | grep -q "<h1>third</h1>" &&
	expect_eq "v1 v2 v3" "$(tags hi | tr "\n" " " | sed "s/ $//")"
'
expect_success 'a rollback to v1, made before the rename, pulls from the new repository' '
	slipway releases:rollback hi v1 >/dev/null &&
	slipway releases:wait hi --timeout 60 >/dev/null &&
	wait_for "page hi | grep -q \"<h1>\"" 30 && ! page hi | grep -q "<h1>third</h1>"
'
expect_success 'no daemon reported a sanitizer error' '
	no_sanitizer_report up.log
'
test_done
