#!/usr/bin/env bash
# The command table: help, version, usage errors.
. "$(dirname "$0")/lib.sh"

expect_success 'version prints the version' '
	out=$(slipway version) && expect_contains "$out" "slipway 0."
'
expect_success 'help lists commands' '
	out=$(slipway help) && expect_contains "$out" "version"
'
expect_success 'COMMAND --help prints its usage' '
	out=$(slipway version --help) && expect_contains "$out" "usage: slipway version"
'
expect_success 'up --help lists every option of up, with the defaults' '
	out=$(slipway up --help) &&
	for o in --config --home --show-config --json; do
		expect_contains "$out" "[$o" || exit 1
	done &&
	for o in --host --private-host --controller-port --registry-port \
		--ssh-port --proxy-port --https-port --domain --hostname --driver \
		--controller-url --registry-url --log-dir --log-max-size --log-keep; do
		expect_contains "$out" "  $o " || exit 1
	done &&
	expect_contains "$out" "the proxy (8080)"
'
expect_failure 'an unknown command fails' 'slipway no-such-command'
expect_success 'an unknown command names itself on stderr' '
	out=$(slipway no-such-command 2>&1 >/dev/null); expect_contains "$out" "no-such-command"
'
test_done
