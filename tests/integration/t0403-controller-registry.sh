#!/usr/bin/env bash
# Registry access follows app permissions: `slipway registry` with the
# controller's /v1/registry/token as its realm, driven by skopeo with API
# tokens (and a runner key) as passwords.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for p in curl skopeo umoci jq; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done
export SLIPWAY_CONFIG=$T_DIR/client.json
export REGISTRY_AUTH_FILE=$T_DIR/auth.json

# The controller first: it makes $SLIPWAY_HOME/secret, which the registry
# then reads to check the tokens the controller signs.
ctl_start || ctl_start_failed
RPORT=$(free_port)
slipway registry --listen "127.0.0.1:$RPORT" --root "$T_DIR/registry" \
	--realm "$CTL_URL/v1/registry/token" --service slipway-registry \
	>"$T_DIR/registry.log" 2>&1 &
RPID=$!
at_exit "kill $RPID"
wait_port "$RPORT" 20 || { cat "$T_DIR/registry.log"; ctl_start_failed; }
REG=127.0.0.1:$RPORT

umoci init --layout img >/dev/null 2>&1 && umoci new --image img:v1 >/dev/null 2>&1 &&
	mkdir -p content && echo "hello from slipway" >content/hello.txt &&
	umoci insert --image img:v1 content/hello.txt /hello.txt >/dev/null 2>&1 ||
	skip_all "umoci cannot make a test image"

slipway users:add alice >/dev/null && slipway users:add bob >/dev/null
ALICE=$(slipway tokens:create --user alice 2>/dev/null)
BOB=$(slipway tokens:create --user bob 2>/dev/null)
SLIPWAY_TOKEN=$ALICE slipway apps:create shop >/dev/null
slipway apps:create other >/dev/null
slipway groups:create production >/dev/null
slipway apps:create prod-app --group production >/dev/null
RK=$(slipway runners:add r1 2>/dev/null)

push() { # USER:PASS REPO
	skopeo copy --dest-tls-verify=false --dest-creds "$1" oci:img:v1 "docker://$REG/$2:v1"
}
pull() { # USER:PASS REPO
	rm -rf out && skopeo copy --src-tls-verify=false --src-creds "$1" "docker://$REG/$2:v1" oci:out:v1
}
# The command must fail, and because the registry denied it.
denied() {
	local out
	if out=$("$@" 2>&1); then echo "it succeeded"; return 1; fi
	expect_contains "$out" "denied"
}

expect_success 'the registry points clients at the controller' '
	h=$(curl -s -D - -o /dev/null "http://$REG/v2/") &&
	expect_contains "$h" "realm=\"$CTL_URL/v1/registry/token\""
'
expect_success 'the owner pushes to their app'"'"'s repository' 'push "alice:$ALICE" shop'
expect_success 'and pulls it back' 'pull "alice:$ALICE" shop'
expect_success 'a member cannot push to another'"'"'s app' 'denied push "alice:$ALICE" other'
expect_success 'a member without the app cannot pull it' 'denied pull "bob:$BOB" shop'
expect_failure 'a wrong password is refused' 'pull "alice:slw_nope" shop'
expect_success 'an admin pushes anywhere' '
	push "admin:$ADMIN" other && push "admin:$ADMIN" prod-app
'
expect_success 'a collaborator may push' '
	SLIPWAY_TOKEN=$ALICE slipway apps:share shop bob >/dev/null && push "bob:$BOB" shop
'
expect_success 'an app in a group the owner is not granted: no push' '
	slipway groups:add-app production shop >/dev/null && denied push "alice:$ALICE" shop
'
expect_success 'but pull still' 'pull "alice:$ALICE" shop'
expect_success 'a runner pulls the apps of its group' 'pull "r1:$RK" other'
expect_success 'a runner cannot pull an app outside its group' 'denied pull "r1:$RK" prod-app'
expect_success 'a runner cannot push' '
	denied skopeo copy --dest-tls-verify=false --dest-creds "r1:$RK" oci:img:v1 "docker://$REG/other:v2"
'

# A mount asks for pull on its source: the controller grants it to who
# may read the source, and a client refused it uploads instead.
slipway users:add carol >/dev/null
CAROL=$(slipway tokens:create --user carol 2>/dev/null)
SLIPWAY_TOKEN=$ALICE slipway apps:create shop2 >/dev/null
SLIPWAY_TOKEN=$CAROL slipway apps:create carols >/dev/null
expect_success 'a push to another app of the owner mounts from the first' '
	out=$(slipway image push --json --user "alice:$ALICE" --from shop img:v1 "$REG/shop2:v1") &&
	expect_eq 2 "$(echo "$out" | jq -r .blobs.mounted)" "$out" &&
	expect_eq 0 "$(echo "$out" | jq -r .blobs.uploaded)"
'
expect_success 'a user who may not read the source uploads instead, and succeeds' '
	out=$(slipway image push --json --user "carol:$CAROL" --from shop img:v1 "$REG/carols:v1") &&
	expect_eq 0 "$(echo "$out" | jq -r .blobs.mounted)" "$out" &&
	expect_eq 2 "$(echo "$out" | jq -r .blobs.uploaded)" &&
	denied pull "carol:$CAROL" shop
'
expect_success 'a client that follows the 401 of a mount gets pull on the source from the controller, and mounts' '
	layer=$(jq -r ".layers[0].digest" "img/blobs/sha256/$(jq -r ".manifests[0].digest" img/index.json | cut -d: -f2)") &&
	SLIPWAY_TOKEN=$ALICE slipway apps:create shop3 >/dev/null &&
	url="http://$REG/v2/shop3/blobs/uploads/?mount=$layer&from=shop" &&
	ch=$(curl -s -o /dev/null -D - -X POST "$url" | tr -d "\r" | sed -n "s/^[Ww][Ww][Ww]-[Aa]uthenticate: //p") &&
	scope=$(echo "$ch" | sed -n "s/.*scope=\"\([^\"]*\)\".*/\1/p") &&
	expect_eq "repository:shop3:pull,push repository:shop:pull" "$scope" &&
	tok=$(curl -s -G -u "alice:$ALICE" --data-urlencode service=slipway-registry \
		--data-urlencode "scope=$scope" "$CTL_URL/v1/registry/token" | jq -r .token) &&
	expect_eq 201 "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $tok" "$url")" &&
	tok=$(curl -s -G -u "carol:$CAROL" --data-urlencode service=slipway-registry \
		--data-urlencode "scope=repository:carols:pull,push repository:shop:pull" "$CTL_URL/v1/registry/token" | jq -r .token) &&
	expect_eq 401 "$(curl -s -o /dev/null -w "%{http_code}" -X POST -H "Authorization: Bearer $tok" \
		"http://$REG/v2/carols/blobs/uploads/?mount=$layer&from=shop")"
'

test_done
