#!/usr/bin/env bash
# slipway's registry client (`slipway image push/pull`) against slipway's
# own registry server, both ways: with the registry's own /token realm
# (Basic against --htpasswd) and with the controller as the realm (API
# tokens as passwords, access following app permissions).  Push, a second
# push that skips every blob, pull by tag and by digest with equal digests,
# chunked uploads, cross-repository mounts with --from (which need a token
# for two repositories: several scope= parameters at the realm).
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/image-lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for t in jq curl; do
	command -v $t >/dev/null || skip_all "$t is not installed"
done
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
unset SOURCE_DATE_EPOCH SLIPWAY_REGISTRY_USER SLIPWAY_REGISTRY_PASSWORD
export SLIPWAY_CONFIG=$T_DIR/client.json

make_slug slug.tgz "hello"
slipway stack import --busybox -o stack >/dev/null &&
slipway image build --slug slug.tgz --base stack -o img --tag v1 \
	--process "web=httpd -f -p \$PORT -h /app" >/dev/null ||
	skip_all "cannot build the test image"
D=$(layout_digest img v1)
NBLOBS=$(ls img/blobs/sha256 | wc -l)   # config, two layers, manifest

# The registry with its own realm: user ci (password from the file) gets
# what it asks for.
echo "ci:$(printf 'pa55word' | sha256sum | cut -d' ' -f1)" >users
RPORT=$(free_port)
RLOG=$T_DIR/registry.log
slipway registry --listen 127.0.0.1:$RPORT --root "$T_DIR/reg" --htpasswd users \
	>"$RLOG" 2>&1 &
at_exit "kill $!"
wait_port $RPORT || skip_all "the registry did not start: $(cat "$RLOG")"
R=127.0.0.1:$RPORT
export SLIPWAY_REGISTRY_USER=ci SLIPWAY_REGISTRY_PASSWORD=pa55word

expect_success 'push uploads every blob and the manifest' '
	slipway image push img:v1 $R/app:v1 --json >p1.json &&
	expect_eq "$D" "$(jq -r .digest p1.json)" &&
	expect_eq $((NBLOBS - 1)) "$(jq .blobs.uploaded p1.json)" &&
	expect_eq 0 "$(jq .blobs.existed p1.json)" &&
	expect_eq 200 "$(curl -s -o /dev/null -w "%{http_code}" \
		-H "Authorization: Bearer $(slipway registry token --repo app)" \
		-H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$R/v2/app/manifests/v1")"
'
expect_success 'a second push skips every blob' '
	slipway image push img:v1 $R/app:v1 --json >p2.json &&
	expect_eq 0 "$(jq .blobs.uploaded p2.json)" &&
	expect_eq $((NBLOBS - 1)) "$(jq .blobs.existed p2.json)" &&
	expect_eq 0 "$(jq .bytes p2.json)" &&
	expect_eq "$D" "$(jq -r .digest p2.json)"
'
expect_success 'pull by tag: the same manifest digest and the same blobs' '
	slipway image pull $R/app:v1 -o back --json >l1.json &&
	expect_eq "$D" "$(jq -r .digest l1.json)" &&
	expect_eq "$D" "$(layout_digest back v1)" &&
	for f in img/blobs/sha256/*; do cmp $f back/blobs/sha256/${f##*/} || exit 1; done &&
	slipway image inspect back:v1 --verify >/dev/null
'
expect_success 'pull by digest: equal digest, tagged as asked' '
	slipway image pull "$R/app@$D" -o bydigest --tag pinned --json >l2.json &&
	expect_eq "$D" "$(jq -r .digest l2.json)" &&
	expect_eq "$D" "$(layout_digest bydigest pinned)" &&
	slipway image inspect bydigest:pinned --verify >/dev/null
'
expect_success '--from mounts every blob from the other repository' '
	slipway image push img:v1 $R/team/app:v1 --from app --json >p3.json &&
	expect_eq $((NBLOBS - 1)) "$(jq .blobs.mounted p3.json)" &&
	expect_eq 0 "$(jq .blobs.uploaded p3.json)" &&
	expect_eq 0 "$(jq .bytes p3.json)" &&
	grep -q "POST /v2/team/app/blobs/uploads/ 201" "$RLOG" &&
	slipway image pull $R/team/app:v1 -o mback >/dev/null &&
	expect_eq "$D" "$(layout_digest mback v1)"
'
expect_success 'chunked upload (PATCH chunks, closing PUT), pulled back equal' '
	slipway image push stack $R/chunked:v1 --chunk-size 64K --json >p4.json &&
	test "$(grep -c "PATCH /v2/chunked/blobs/uploads/[0-9a-f]* 202" "$RLOG")" -ge 5 &&
	slipway image pull $R/chunked:v1 -o cback >/dev/null &&
	expect_eq "$(layout_digest stack latest)" "$(layout_digest cback v1)" &&
	slipway image inspect cback:v1 --verify >/dev/null
'
expect_success 'wrong credentials are refused at the realm' '
	! SLIPWAY_REGISTRY_PASSWORD=wrong slipway image pull $R/app:v1 -o nope 2>err &&
	expect_contains "$(cat err)" "refused the credentials"
'
expect_success 'without credentials a push is refused' '
	! env -u SLIPWAY_REGISTRY_USER -u SLIPWAY_REGISTRY_PASSWORD \
		slipway image push img:v1 $R/anon:v1 2>err &&
	expect_contains "$(cat err)" "denied"
'
expect_success 'nothing half-done is left in the store' '
	expect_eq "" "$(ls -A "$T_DIR/reg/uploads")" &&
	expect_eq "" "$(ls -A "$T_DIR/reg/tmp")"
'

# ---- the controller as the realm ----
# The controller first: it makes $SLIPWAY_HOME/secret, which the second
# registry reads to check the tokens the controller signs (the first one
# made the secret already; both use the same file).
unset SLIPWAY_REGISTRY_USER SLIPWAY_REGISTRY_PASSWORD
# (a port free_port found may be taken by the time it is bound: try again)
ctl_start || ctl_start || ctl_start_failed
CPORT=$(free_port)
CLOG=$T_DIR/registry-ctl.log
slipway registry --listen 127.0.0.1:$CPORT --root "$T_DIR/reg2" \
	--realm "$CTL_URL/v1/registry/token" --service slipway-registry >"$CLOG" 2>&1 &
at_exit "kill $!"
wait_port $CPORT || { cat "$CLOG"; ctl_start_failed; }
C=127.0.0.1:$CPORT
slipway users:add alice >/dev/null && slipway users:add bob >/dev/null
ALICE=$(slipway tokens:create --user alice 2>/dev/null)
BOB=$(slipway tokens:create --user bob 2>/dev/null)
SLIPWAY_TOKEN=$ALICE slipway apps:create shop >/dev/null
SLIPWAY_TOKEN=$ALICE slipway apps:create base >/dev/null

expect_success 'controller realm: the owner pushes and a second push skips every blob' '
	slipway image push img:v1 $C/base:v1 --user "alice:$ALICE" --json >c1.json &&
	expect_eq $((NBLOBS - 1)) "$(jq .blobs.uploaded c1.json)" &&
	slipway image push img:v1 $C/base:v1 --user "alice:$ALICE" --json >c2.json &&
	expect_eq $((NBLOBS - 1)) "$(jq .blobs.existed c2.json)" &&
	expect_eq 0 "$(jq .blobs.uploaded c2.json)"
'
expect_success 'controller realm: --from mounts (one token for two repositories)' '
	slipway image push img:v1 $C/shop:v1 --from base --user "alice:$ALICE" --json >c3.json &&
	expect_eq $((NBLOBS - 1)) "$(jq .blobs.mounted c3.json)" &&
	expect_eq 0 "$(jq .blobs.uploaded c3.json)" &&
	grep -q "POST /v2/shop/blobs/uploads/ 201" "$CLOG"
'
expect_success 'controller realm: pull back by tag and by digest, digests equal' '
	slipway image pull $C/shop:v1 -o cback1 --user "alice:$ALICE" >/dev/null &&
	expect_eq "$D" "$(layout_digest cback1 v1)" &&
	slipway image pull "$C/shop@$D" -o cback2 --tag d --user "alice:$ALICE" >/dev/null &&
	expect_eq "$D" "$(layout_digest cback2 d)" &&
	for f in img/blobs/sha256/*; do cmp $f cback2/blobs/sha256/${f##*/} || exit 1; done
'
expect_success 'controller realm: another user may not pull the app, nor mount from it' '
	! slipway image pull $C/shop:v1 -o bobback --user "bob:$BOB" 2>err &&
	expect_contains "$(cat err)" "denied" &&
	! slipway image push img:v1 $C/shop:v2 --from base --user "bob:$BOB" 2>err2 &&
	expect_contains "$(cat err2)" "denied"
'
test_done
