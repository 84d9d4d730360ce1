#!/usr/bin/env bash
# slipway install / uninstall into a --root tree (what they write on a
# real machine, without touching this one's /etc): the binary, the state
# directory, slipway.conf with only what install was told, the systemd
# unit (checked by systemd-analyze verify) enabled there; uninstall keeps
# the state unless --purge.
. "$(dirname "$0")/lib.sh"

command -v systemctl >/dev/null || skip_all "needs systemctl (for --root enable)"
R=$T_DIR/root
unset SLIPWAY_HOME
U=$R/etc/systemd/system/slipway.service
C=$R/var/lib/slipway/slipway.conf

expect_success 'a bad option writes nothing' '
	! slipway install --root $R --proxy-port 0 2>err &&
	expect_contains "$(head -1 err)" "--proxy-port: '\''0'\'' is not a port" &&
	[ ! -e $R ]
'
expect_success 'install writes the binary, the state, the config and the unit, and enables it' '
	slipway install --root $R --host 10.1.2.3 --domain apps.example.com 2>log &&
	cmp $R/usr/local/bin/slipway "$SLIPWAY_BIN" &&
	expect_eq 755 "$(stat -c %a $R/usr/local/bin/slipway)" &&
	expect_eq 640 "$(stat -c %a $C)" && expect_eq 644 "$(stat -c %a $U)" &&
	[ -L $R/etc/systemd/system/multi-user.target.wants/slipway.service ] &&
	[ -L $R/etc/systemd/system/sockets.target.wants/slipway-http.socket ] &&
	[ -L $R/etc/systemd/system/sockets.target.wants/slipway-ssh.socket ] &&
	expect_contains "$(cat $U)" "ExecStart=/usr/local/bin/slipway up --home /var/lib/slipway" &&
	expect_contains "$(cat $R/etc/systemd/system/slipway-http.socket)" "ListenStream=10.1.2.3:8080" &&
	expect_contains "$(cat $R/etc/systemd/system/slipway-ssh.socket)" "ListenStream=10.1.2.3:2222"
'
expect_success 'the config holds only what install was told, and up reads it' '
	expect_eq 2 "$(grep -c "# --" $C)" "keys written" &&
	out=$(slipway up --config $C --show-config --json) &&
	expect_eq 10.1.2.3 "$(echo "$out" | jq -r .public.address)" &&
	expect_eq apps.example.com "$(echo "$out" | jq -r .domain)" &&
	expect_eq http://127.0.0.1:7070 "$(echo "$out" | jq -r .controller.url)"
'
expect_success 'the unit passes systemd-analyze verify' '
	command -v systemd-analyze >/dev/null || { echo "no systemd-analyze"; return 1; }
	mkdir -p v && sed "s|/usr/local/bin/slipway|$R/usr/local/bin/slipway|" $U >v/slipway.service &&
	cp $R/etc/systemd/system/slipway-*.socket v/ &&
	systemd-analyze verify v/slipway.service v/slipway-http.socket v/slipway-ssh.socket
'
expect_success 'a second install keeps the file'\''s keys, adds the new ones, keeps the old file' '
	slipway install --root $R --proxy-port 80 2>log &&
	expect_contains "$(cat $C)" "domain: apps.example.com" &&
	expect_contains "$(cat $C)" "http_port: 80" &&
	expect_contains "$(cat $C.old)" "address: 10.1.2.3" &&
	! grep -q http_port $C.old
'
expect_success 'install refuses a hostile existing config with its line number' '
	cp $C keep.conf && printf "colour: blue\n" >>$C &&
	! slipway install --root $R 2>err && expect_contains "$(cat err)" "line" &&
	cp keep.conf $C
'
expect_success 'install without root is refused plainly' '
	command -v setpriv >/dev/null || { echo "no setpriv"; return 1; }
	cp "$SLIPWAY_BIN" /tmp/slipway-t0812.$$ && chmod 755 /tmp/slipway-t0812.$$ &&
	! setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/slipway-t0812.$$ install 2>err;
	rm -f /tmp/slipway-t0812.$$; expect_contains "$(cat err)" "needs root"
'
expect_success 'uninstall removes the unit and the binary, keeps the state' '
	mkdir -p $R/var/lib/slipway/git && slipway uninstall --root $R 2>log &&
	[ ! -e $U ] && [ ! -e $R/etc/systemd/system/multi-user.target.wants/slipway.service ] &&
	! ls $R/etc/systemd/system | grep -q slipway &&
	! ls $R/etc/systemd/system/sockets.target.wants 2>/dev/null | grep -q slipway &&
	[ ! -e $R/usr/local/bin/slipway ] && [ -f $C ] &&
	expect_contains "$(cat log)" "--purge"
'
expect_success 'uninstall --purge removes the state too' '
	slipway uninstall --root $R --purge 2>log && [ ! -e $R/var/lib/slipway ]
'
test_done
