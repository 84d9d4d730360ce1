#!/usr/bin/env bash
# `git push deploy main` for real: OpenSSH's client and git against
# `slipway sshd` tied to a controller and a registry on 127.0.0.1.  The
# first push makes the app and v1, the second v2 with only the new layer
# sent, clones follow app permissions, other branches build nothing, the
# deploy branch cannot be deleted, slipway.yml is honoured and checked,
# CI builds run on the server, and admin commands work over SSH.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

push_need_clients

# The controller on a loopback address other than 127.0.0.1: nothing may
# assume it is there (builds the controller runs once called it back at
# 127.0.0.1, whatever it listened on).
CTL_HOST=127.0.0.2
push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user alice && push_user bob || ctl_start_failed
app_init app

# GET a registry path of REPO with an admin's pull token.
reg_get() { # REPO PATH [curl args]
	local t r=$1 p=$2
	shift 2
	t=$(curl -s -u "admin:$ADMIN" "$CTL_URL/v1/registry/token?service=slipway-registry&scope=repository:$r:pull" | jq -r .token)
	curl -s -H "Authorization: Bearer $t" \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' "$@" "http://$REG/v2/$r/$p"
}
# The manifest digest of REPO:TAG.
reg_digest() { reg_get "$1" "manifests/$2" -o /dev/null -w '%header{docker-content-digest}'; }
# A label of the image config of REPO:TAG.
reg_label() { # REPO TAG LABEL
	local cfg
	cfg=$(reg_get "$1" "manifests/$2" | jq -r .config.digest) &&
	reg_get "$1" "blobs/$cfg" -L | jq -r ".config.Labels[\"$3\"]"
}

expect_success 'the first push makes the app and release v1' '
	out=$(cd app && as alice git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "Created app '"'"'shop'"'"'" &&
	expect_contains "$out" "remote: -----> Building $(git -C app rev-parse --short=7 HEAD) (build 1 of shop)" &&
	expect_contains "$out" "straight from git" &&
	expect_contains "$out" "remote: -----> Release v1" &&
	expect_contains "$out" "Released; not rolled out: no live runner in group" &&
	expect_contains "$out" "main -> main" &&
	expect_eq 1 "$(rel shop version)" && expect_eq alice "$(rel shop created_by)" &&
	expect_eq "deploy $(git -C app rev-parse --short=7 HEAD)" "$(rel shop summary)"
'
expect_success 'the app belongs to the pusher, in group default' '
	a=$(api GET /v1/apps/shop | sed "\$d") &&
	expect_eq alice "$(echo "$a" | jq -r .owner)" &&
	expect_eq default "$(echo "$a" | jq -r ".groups[0]")"
'
expect_success 'the build is recorded with the image the registry has' '
	b=$(api GET /v1/apps/shop/builds/1 | sed "\$d") &&
	expect_eq succeeded "$(echo "$b" | jq -r .status)" &&
	expect_eq "$(git -C app rev-parse HEAD)" "$(echo "$b" | jq -r .rev)" &&
	expect_eq "$REG/shop:v1" "$(echo "$b" | jq -r .image)" &&
	expect_eq web "$(echo "$b" | jq -r ".process_types | keys[0]")" &&
	expect_eq "$(echo "$b" | jq -r .digest)" "$(reg_digest shop v1)"
'
expect_success 'the repository is bare, with the hook, and holds the commit' '
	r=$SLIPWAY_HOME/git/shop.git &&
	test -x "$r/hooks/pre-receive" &&
	expect_contains "$(cat "$r/hooks/pre-receive")" "hook pre-receive" &&
	expect_eq "$(git -C app rev-parse HEAD)" "$(git --git-dir="$r" rev-parse main)"
'
expect_success 'the build log is kept and readable' '
	out=$(SLIPWAY_TOKEN=$ADMIN slipway builds:log shop 1) &&
	expect_contains "$out" "-----> Built in " && expect_contains "$out" "git moves main once the release is live"
'
expect_success 'the second push makes v2 and sends only the new layer' '
	(cd app && echo two >public/two.html && git add -A && git commit -q -m two) &&
	out=$(cd app && as alice git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "(build 2 of shop)" &&
	expect_contains "$out" "2 blob(s) sent" &&
	expect_contains "$out" "1 already in the registry" &&
	expect_contains "$out" "remote: -----> Release v2" &&
	expect_eq 2 "$(rel shop version)"
'
expect_success 'the owner clones the app' '
	rm -rf clone && as alice git clone -q "$(app_url shop)" clone &&
	expect_eq "$(cat app/public/two.html)" "$(cat clone/public/two.html)"
'
expect_success 'someone not on the app can neither clone nor push it' '
	rm -rf nope && ! out=$(as bob git clone -q "$(app_url shop)" nope 2>&1) &&
	expect_contains "$out" "may not use app '"'"'shop'"'"'" &&
	! out=$(cd app && as bob git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "may not use app" && expect_eq 2 "$(rel shop version)"
'
expect_success 'a collaborator clones and pushes' '
	SLIPWAY_TOKEN=$ADMIN slipway apps:share shop bob >/dev/null &&
	rm -rf bobs && as bob git clone -q "$(app_url shop)" bobs &&
	(cd bobs && echo bob >bob.txt && git add bob.txt && git commit -q -m bob) &&
	out=$(cd bobs && as bob git push origin main 2>&1) &&
	expect_contains "$out" "Release v3" && expect_eq bob "$(rel shop created_by)"
'
expect_success 'a collaborator without the app'"'"'s group may clone but not push' '
	slipway groups:create staging >/dev/null &&
	slipway groups:add-app staging shop >/dev/null &&
	rm -rf b2 && as bob git clone -q "$(app_url shop)" b2 &&
	(cd b2 && git commit -q --allow-empty -m x) &&
	! out=$(cd b2 && as bob git push origin main 2>&1) &&
	expect_contains "$out" "group '"'"'staging'"'"', which you are not granted" &&
	slipway groups:remove-app staging shop >/dev/null
'
expect_success 'a clone of an app nobody pushed to, or of no app, says so' '
	SLIPWAY_TOKEN=$ADMIN slipway apps:create empty >/dev/null &&
	SLIPWAY_TOKEN=$ADMIN slipway apps:share empty alice >/dev/null &&
	! out=$(as alice git clone -q "$(app_url empty)" e 2>&1) &&
	expect_contains "$out" "app '"'"'empty'"'"' has no code yet" &&
	! out=$(as alice git clone -q "$(app_url nothere)" e 2>&1) &&
	expect_contains "$out" "no such app '"'"'nothere'"'"'"
'
expect_success 'a push of another branch is refused with the commands that fix it' '
	(cd app && as alice git pull -q --no-rebase "$(app_url shop)" main) &&
	(cd app && git checkout -q -b feature && echo f >f.txt && git add f.txt && git commit -q -m f) &&
	! out=$(cd app && as alice git push "$(app_url shop)" feature 2>&1) &&
	expect_contains "$out" "'"'"'feature'"'"' is not the deploy branch of '"'"'shop'"'"', '"'"'main'"'"' is: push it with '"'"'git push REMOTE feature:main'"'"', or deploy '"'"'feature'"'"' with '"'"'slipway git:set shop deploy-branch feature'"'"'" &&
	expect_contains "$out" "[remote rejected] feature -> feature" &&
	! expect_contains "$out" "Building" >/dev/null &&
	expect_eq 3 "$(rel shop version)" &&
	! git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse -q --verify feature >/dev/null &&
	(cd app && git checkout -q main)
'
expect_success 'a tag goes in untouched, and builds nothing' '
	(cd app && git tag t1 && as alice git push -q "$(app_url shop)" t1 2>/dev/null) &&
	expect_eq "$(git -C app rev-parse t1)" "$(git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse t1)" &&
	expect_eq 3 "$(rel shop version)"
'
expect_success 'deleting the deploy branch is refused, another branch may go' '
	! out=$(cd app && as alice git push "$(app_url shop)" :main 2>&1) &&
	expect_contains "$out" "deleting the deploy branch '"'"'main'"'"' is not allowed" &&
	git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse -q --verify main >/dev/null &&
	git --git-dir="$SLIPWAY_HOME/git/shop.git" update-ref refs/heads/feature main &&
	(cd app && as alice git push -q "$(app_url shop)" :feature 2>/dev/null) &&
	! git --git-dir="$SLIPWAY_HOME/git/shop.git" rev-parse -q --verify feature >/dev/null
'
expect_success 'a new app takes master when its first push brings master, and says so' '
	app_init ms && (cd ms && git branch -q -m master) &&
	out=$(cd ms && as alice git push "$(app_url mast)" master 2>&1) &&
	expect_contains "$out" "App '"'"'mast'"'"' has no code yet: its deploy branch is now '"'"'master'"'"' (was '"'"'main'"'"')" &&
	expect_contains "$out" "remote: -----> Release v1" &&
	expect_eq master "$(api GET /v1/apps/mast | sed "\$d" | jq -r .deploy_branch)" &&
	expect_eq refs/heads/master "$(git --git-dir="$SLIPWAY_HOME/git/mast.git" symbolic-ref HEAD)" &&
	! out=$(cd ms && as alice git push "$(app_url mast)" master:main 2>&1) &&
	expect_contains "$out" "'"'"'main'"'"' is not the deploy branch of '"'"'mast'"'"', '"'"'master'"'"' is"
'
expect_success 'git:set moves the deploy branch, and that branch then deploys' '
	out=$(SLIPWAY_TOKEN=$ADMIN slipway git:set mast deploy-branch main) &&
	expect_eq "Deploy branch of mast is now main" "$out" &&
	out=$(cd ms && as alice git push "$(app_url mast)" master:main 2>&1) &&
	expect_contains "$out" "remote: -----> Release v2" &&
	! out=$(SLIPWAY_TOKEN=$ADMIN slipway git:set mast branch x 2>&1) &&
	expect_contains "$out" "'"'"'branch'"'"' is not a setting"
'
expect_success 'a push without a Procfile or buildpack is declined with the reason' '
	app_init np && (cd np && git rm -q Procfile && git commit -q -m noproc) &&
	! out=$(cd np && as alice git push "$(app_url noproc)" main 2>&1) &&
	expect_contains "$out" "Build failed: no Procfile and no buildpack" &&
	expect_contains "$out" "pre-receive hook declined" &&
	expect_eq failed "$(api GET /v1/apps/noproc/builds/1 | sed "\$d" | jq -r .status)" &&
	! git --git-dir="$SLIPWAY_HOME/git/noproc.git" rev-parse -q --verify main >/dev/null
'

# slipway.yml: processes beside the Procfile, a health check, and the deploy
# branch it names becomes the app's.
expect_success 'slipway.yml adds process types and moves the deploy branch' '
	(cd app && printf "processes:\n  worker: ./work\nhealthcheck:\n  path: /up\ndeploy_branch: release\n" >slipway.yml &&
		git add slipway.yml && git commit -q -m yml) &&
	out=$(cd app && as alice git push "$(app_url shop)" main 2>&1) &&
	expect_contains "$out" "Process types: web, worker" &&
	expect_contains "$out" "Deploy branch is now '"'"'release'"'"' (slipway.yml)" &&
	expect_eq release "$(api GET /v1/apps/shop | sed "\$d" | jq -r .deploy_branch)" &&
	expect_eq "{\"path\":\"/up\"}" "$(reg_label shop v4 io.slipway.healthcheck)" &&
	expect_eq "{\"web\":\"httpd -f -p \$PORT -h public\",\"worker\":\"./work\"}" \
		"$(reg_label shop v4 io.slipway.process-types)" &&
	out=$(cd app && as alice git push "$(app_url shop)" main:release 2>&1) &&
	expect_contains "$out" "Release v5"
'
expect_success 'a slipway.yml with an unknown key is refused with its line' '
	(cd app && printf "deploy_branch: release\nbuild_command: make\n" >slipway.yml &&
		git commit -q -am bad) &&
	! out=$(cd app && as alice git push "$(app_url shop)" main:release 2>&1) &&
	expect_contains "$out" "slipway.yml line 2: unknown key '"'"'build_command'"'"'" &&
	expect_eq 5 "$(rel shop version)" &&
	(cd app && git reset -q --hard HEAD~1)
'

# CI: the controller runs the same pipeline and streams the log back.
expect_success 'builds:create builds on the server and follows the log' '
	out=$(SLIPWAY_TOKEN=$ADMIN slipway builds:create shop 2>&1) &&
	expect_contains "$out" "-----> Building" &&
	expect_contains "$out" "Release v6" &&
	expect_eq 6 "$(rel shop version)" && expect_eq admin "$(rel shop created_by)"
'
expect_success 'builds:create of a revision that is not there fails plainly' '
	! out=$(SLIPWAY_TOKEN=$ADMIN slipway builds:create shop --rev nosuchbranch 2>&1) &&
	expect_contains "$out" "unknown revision" &&
	expect_contains "$out" "failed" && expect_eq 6 "$(rel shop version)"
'
expect_success 'a member may not build an app they cannot deploy' '
	bt=$(slipway tokens:create --user bob 2>/dev/null) &&
	! out=$(SLIPWAY_TOKEN=$bt slipway builds:create noproc 2>&1) &&
	expect_contains "$out" "neither its owner nor a collaborator"
'
expect_success 'the session and build tokens are gone once they are done' '
	n=$(api GET "/v1/tokens?user=alice" | sed "\$d" | jq "[.[] | select(.label | startswith(\"ssh session\"))] | length") &&
	expect_eq 0 "$n" &&
	n=$(api GET "/v1/tokens?user=admin" | sed "\$d" | jq "[.[] | select(.label | startswith(\"build \"))] | length") &&
	expect_eq 0 "$n"
'

# Admin commands over SSH, Dokku-style.
expect_success 'help lists the commands' '
	out=$(sshx alice help) && expect_contains "$out" "apps:create" &&
	expect_contains "$out" "config:set"
'
expect_success 'apps:create, config:set with quoted values, config, releases' '
	sshx alice apps:create blog >/dev/null &&
	sshx alice "config:set blog '"'"'GREETING=hello world'"'"' \"Q=\\\"quoted\\\"\"" >/dev/null &&
	out=$(sshx alice config blog) &&
	expect_contains "$out" "GREETING=hello world" &&
	expect_contains "$out" "Q=\"quoted\"" &&
	out=$(sshx alice releases blog) && expect_contains "$out" "set GREETING, Q"
'
expect_success 'ps:scale, rollback and apps:info run as the user' '
	out=$(sshx alice rollback shop v5) && expect_contains "$out" "v7" &&
	out=$(sshx alice ps:scale shop web=2) &&
	out=$(sshx alice apps:info shop) && expect_contains "$out" "shop" &&
	! out=$(sshx bob config blog 2>&1) &&
	expect_contains "$out" "neither its owner nor a collaborator"
'
expect_success 'keys:add reads the key from stdin' '
	ssh-keygen -q -t ed25519 -N "" -f "$T_DIR/keys/alice2" </dev/null &&
	sshx alice keys:add <"$T_DIR/keys/alice2.pub" >/dev/null &&
	out=$(sshx alice keys) &&
	expect_contains "$out" "$(ssh-keygen -lf "$T_DIR/keys/alice2.pub" | cut -d" " -f2)" &&
	out=$(ssh -i "$T_DIR/keys/alice2" $(ssh_opts alice | sed "s|-i [^ ]*||") git@127.0.0.1 apps) &&
	expect_contains "$out" "shop"
'
expect_success 'apps:destroy over SSH takes the repository with it' '
	test -d "$SLIPWAY_HOME/git/shop.git" &&
	sshx alice apps:destroy shop --confirm shop >/dev/null &&
	! test -e "$SLIPWAY_HOME/git/shop.git"
'
expect_success 'an app made again under the name starts with no code' '
	SLIPWAY_TOKEN=$ADMIN slipway apps:create shop >/dev/null &&
	SLIPWAY_TOKEN=$ADMIN slipway apps:share shop alice >/dev/null &&
	! out=$(as alice git clone -q "$(app_url shop)" again 2>&1) &&
	expect_contains "$out" "no code yet"
'
expect_success 'commands outside the table are refused, never run' '
	! out=$(sshx alice runner 2>&1) &&
	expect_contains "$out" "is not a command here" &&
	! out=$(sshx alice login http://127.0.0.1:1 x 2>&1) &&
	expect_contains "$out" "is not a command here" &&
	! out=$(sshx alice users:add mallory 2>&1) &&
	expect_contains "$out" "only an admin may do this" &&
	! out=$(sshx alice "\$(id)" 2>&1) && ! expect_contains "$out" "uid=" >/dev/null &&
	! out=$(sshx alice "apps; id" 2>&1) && ! expect_contains "$out" "uid=" >/dev/null &&
	! out=$(sshx alice "config:set blog \"A=\$(id)" 2>&1) &&
	expect_contains "$out" "not closed"
'

test_done
