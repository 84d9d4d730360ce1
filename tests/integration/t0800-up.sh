#!/usr/bin/env bash
# slipway up: first start, the services it supervises, restart of a dead
# child, clean stop, and a second start that reuses the state.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/up-lib.sh"


up_start up1.log
TOKEN=$(sed -n 's/^  admin API token: //p' up1.log)
export SLIPWAY_URL=http://127.0.0.1:$CP SLIPWAY_TOKEN=$TOKEN

expect_success 'first start prints the token and what to type next' '
	expect_contains "$TOKEN" "slw_" &&
	expect_contains "$(cat up1.log)" "git push deploy main" &&
	expect_contains "$(cat up1.log)" "ssh://git@127.0.0.1:$SP/hello.git"
'
expect_success 'the admin token works with the CLI' '
	out=$(slipway users) && expect_contains "$out" admin
'
expect_success 'the invoking user'\''s key became the admin'\''s' '
	fp=$(ssh-keygen -lf "$HOME/.ssh/id_ed25519.pub" | cut -d" " -f2) &&
	expect_contains "$(slipway keys)" "$fp"
'
expect_success 'the local runner and the default group exist' '
	expect_contains "$(slipway runners)" local &&
	expect_contains "$(slipway groups)" default
'
expect_success 'the busybox stack was imported' '
	slipway image inspect "$SLIPWAY_HOME/stacks/default:latest" >/dev/null
'
expect_success 'the registry sends clients to the controller for tokens' '
	h=$(curl -si http://127.0.0.1:$RP/v2/ | tr -d "\r" | grep -i ^www-authenticate) &&
	expect_contains "$h" "realm=\"http://127.0.0.1:$CP/v1/registry/token\""
'
expect_success 'secrets are private' '
	expect_eq 600 "$(stat -c %a "$SLIPWAY_HOME/secret")" &&
	expect_eq 600 "$(stat -c %a "$SLIPWAY_HOME/up/service.token")" &&
	expect_eq 600 "$(stat -c %a "$SLIPWAY_HOME/up/runner.key")"
'
expect_success 'a service killed with -9 is restarted' '
	pid=$(pgrep -f -- "proxy --listen 127.0.0.1:$PP") &&
	kill -9 $pid &&
	wait_for "up_log | grep -q \"proxy      | killed by signal 9; restarting in 1s\"" 20 &&
	wait_port $PP 20 &&
	code=$(curl -s -o /dev/null -w %{http_code} -H "Host: x.localhost" http://127.0.0.1:$PP/) &&
	expect_eq 404 "$code"
'
expect_success 'SIGTERM stops every service, cleanly' '
	expect_eq 0 "$(up_stop)" "exit status of up" &&
	expect_eq "" "$(services)" "services left running" &&
	no_sanitizer_report up1.log
'

up_start up2.log
expect_success 'a second start reuses the state' '
	! grep -q "shown once" up2.log &&
	expect_contains "$(slipway users)" admin &&
	expect_eq 1 "$(slipway runners --json | jq length)"
'
up_stop >/dev/null

expect_failure 'a bad port is a usage error' 'slipway up --proxy-port 99999'
test_done
