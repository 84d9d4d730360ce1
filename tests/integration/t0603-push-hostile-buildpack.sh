#!/usr/bin/env bash
# A member's buildpack that plays with what the builder reads back from
# the sandbox (issue 18, break 7): bin/detect or bin/release leave, where
# their output should be, a symlink to a file of the host or a fifo.  The
# push is refused with a clear line, and no byte of the host file reaches
# the person, the build's log or the build's record.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"
. "$SLIPWAY_TOP/tests/integration/push-lib.sh"

for p in git ssh ssh-keygen curl jq timeout; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json HOME=$T_DIR
at_exit push_cleanup_sandbox

push_start || { cat "$SSHD_LOG" 2>/dev/null; ctl_start_failed; }
push_user mallory || ctl_start_failed
# A file of the host only root may read, and one YAML-shaped, so that a
# builder that follows the link would show it as a name or run it.
SECRET=host-secret-$RANDOM$RANDOM
printf '%s\n' "$SECRET" >"$T_DIR/secret" && chmod 600 "$T_DIR/secret"
printf -- '---\ndefault_process_types:\n  web: echo %s\n' "$SECRET" >"$T_DIR/secret.yml"
chmod 600 "$T_DIR/secret.yml"
# Installed: a buildpack is never named by a path (the builder would
# copy any host directory).
mkdir -p "$SLIPWAY_HOME/buildpacks" &&
	cp -r "$SLIPWAY_TOP/tests/fixtures/buildpacks/hostile" "$SLIPWAY_HOME/buildpacks/" &&
	chmod -R go-w "$SLIPWAY_HOME/buildpacks"
BP=hostile

# An app of mallory's that names the hostile buildpack, with FLAG=target.
hostile_app() { # DIR FLAG TARGET
	rm -rf "$1" && mkdir -p "$1" && (cd "$1" && git init -q -b main &&
		printf 'buildpacks:\n  - %s\n' "$BP" >slipway.yml &&
		touch hostile && printf '%s' "$3" >"$2" &&
		git add -A && git commit -q -m hostile)
}
push() { # APP DIR
	(cd "$2" && as mallory timeout 120 git push "$(app_url "$1")" main 2>&1)
}
# Nothing of the secret anywhere the member can read it.
no_secret() { # APP OUTPUT
	! expect_contains "$2" "$SECRET" >/dev/null &&
	! expect_contains "$(api GET "/v1/apps/$1/builds" | sed '$d')" "$SECRET" >/dev/null &&
	! grep -rqs "$SECRET" "$SLIPWAY_HOME/builds"
}

expect_success 'bin/detect linking its output to a host file is refused' '
	hostile_app d1 LINK_DETECT "$T_DIR/secret" &&
	! out=$(push d1 d1) &&
	expect_contains "$out" "Build failed: bin/detect of '"'"'$BP'"'"': '"'"'detect.out'"'"' is a symlink, not a file: refused" &&
	no_secret d1 "$out" &&
	expect_eq failed "$(api GET /v1/apps/d1/builds/1 | sed "\$d" | jq -r .status)"
'
expect_success 'a link to /etc/hostname is refused the same' '
	hostile_app d2 LINK_DETECT /etc/hostname &&
	! out=$(push d2 d2) &&
	expect_contains "$out" "is a symlink, not a file: refused" &&
	! expect_contains "$out" "$(head -c 80 /etc/hostname) app detected" >/dev/null
'
expect_success 'bin/release linking its output to a host file is refused' '
	hostile_app r1 LINK_RELEASE "$T_DIR/secret.yml" &&
	! out=$(push r1 r1) &&
	expect_contains "$out" "Build failed: buildpack '"'"'Hostile'"'"': '"'"'release.out'"'"' is a symlink, not a file: refused" &&
	no_secret r1 "$out" && expect_eq null "$(rel r1 version)"
'
expect_success 'a fifo in place of the output neither hangs nor passes' '
	hostile_app f1 FIFO_DETECT x &&
	! out=$(push f1 f1) &&
	expect_contains "$out" "'"'"'detect.out'"'"' is not a regular file: refused"
'
expect_success 'the same buildpack, honest, builds' '
	hostile_app ok hostile x &&
	out=$(push ok ok) &&
	expect_contains "$out" "Hostile app detected" && expect_contains "$out" "Release v1"
'

test_done
