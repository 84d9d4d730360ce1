#!/usr/bin/env bash
# Image retention: 30 deploys of an app with --keep-releases 10 leave the
# registry 10 manifests of it, its blob directory shrinks back after the
# registry's scheduled gc, pulls running meanwhile complete, and a
# rollback to a release whose image is gone is refused in one line.
# Each deploy is what a build does: a build row, the image pushed as
# v<build> (a distinct layer each), the build marked succeeded.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/controller.sh"

for p in curl jq skopeo; do
	command -v "$p" >/dev/null || skip_all "$p is not installed"
done

# The controller first: it makes $SLIPWAY_HOME/secret, which the registry
# then reads to check the tokens the controller signs.
RPORT=$(free_port)
REG=127.0.0.1:$RPORT
ctl_start --keep-releases 10 --registry "http://$REG" || ctl_start_failed
ROOT=$T_DIR/registry
slipway registry --listen "$REG" --root "$ROOT" \
	--realm "$CTL_URL/v1/registry/token" --service slipway-registry \
	--gc-interval 1 --upload-age 2 >"$T_DIR/registry.log" 2>&1 &
RPID=$!
at_exit "kill $RPID"
wait_port "$RPORT" 20 || { cat "$T_DIR/registry.log"; ctl_start_failed; }

slipway apps:create shop >/dev/null

token() { # SCOPE
	curl -sS -G -u "admin:$SLIPWAY_TOKEN" --data-urlencode service=slipway-registry \
		--data-urlencode "scope=$1" "$CTL_URL/v1/registry/token" | jq -r .token
}
TOK=$(token repository:shop:pull,push)
blob_put() { # FILE
	local d; d=sha256:$(sha256sum "$1" | cut -d' ' -f1)
	curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $TOK" \
		-H "Content-Type: application/octet-stream" --data-binary @"$1" \
		"http://$REG/v2/shop/blobs/uploads/?digest=$d" | grep -qx 201 && echo "$d"
}
# A deploy as a build makes one: prints the build number.
deploy() { # SIZE_KB
	local n cfg layer m d
	n=$(api POST /v1/apps/shop/builds "" -d '{}' | sed '$d' | jq -r .number) || return 1
	head -c "$(( $1 * 1024 ))" /dev/urandom >layer.bin &&
	printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"build":"%s"}},"rootfs":{"type":"layers","diff_ids":[]}}' "$n" >config.json &&
	layer=$(blob_put layer.bin) && cfg=$(blob_put config.json) || return 1
	jq -n --arg c "$cfg" --argjson cs "$(stat -c %s config.json)" --arg l "$layer" \
		--argjson ls "$(stat -c %s layer.bin)" \
		'{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
		  config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},
		  layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip",digest:$l,size:$ls}]}' >m.json
	d=sha256:$(sha256sum m.json | cut -d' ' -f1)
	curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOK" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @m.json \
		"http://$REG/v2/shop/manifests/v$n" | grep -qx 201 || return 1
	api PATCH "/v1/apps/shop/builds/$n" "" -d "$(jq -n --arg i "$REG/shop:v$n" --arg d "$d" \
		'{status:"succeeded",image:$i,digest:$d,process_types:{web:"./web"}}')" |
		tail -n 1 | grep -qx 200 || return 1
	echo "$n"
}
revisions() { ls "$ROOT/repositories/shop/_manifests/revisions/sha256" 2>/dev/null | wc -l; }
ntags() { curl -sS -H "Authorization: Bearer $TOK" "http://$REG/v2/shop/tags/list" | jq '.tags | length'; }
blobs() { find "$ROOT/blobs" -type f | wc -l; }
blob_bytes() { find "$ROOT/blobs" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

expect_success 'the first 10 deploys are all kept' '
	deploy 16384 >/dev/null &&
	for i in $(seq 2 10); do deploy 64 >/dev/null || exit 1; done &&
	sleep 1 && expect_eq 10 "$(revisions)" && expect_eq 10 "$(ntags)"
'
# A pull of v1 in progress while v1 is deleted and gc runs: its layer is
# bigger than the socket buffers hold and read slowly, so the registry
# is still sending it from the open blob when gc unlinks it.
V1_LAYER=$(curl -sS -H "Authorization: Bearer $TOK" \
	-H "Accept: application/vnd.oci.image.manifest.v1+json" \
	"http://$REG/v2/shop/manifests/v1" | jq -r '.layers[0].digest')
curl -sS --limit-rate 1M -o v1-layer.bin -H "Authorization: Bearer $TOK" \
	"http://$REG/v2/shop/blobs/$V1_LAYER" &
PULL=$!
expect_success '20 more deploys: 10 manifests stay, the newest' '
	for i in $(seq 11 30); do deploy 64 >/dev/null || exit 1; done &&
	wait_for "[ \$(revisions) = 10 ]" 30 && expect_eq 10 "$(ntags)" &&
	tags=$(curl -sS -H "Authorization: Bearer $TOK" "http://$REG/v2/shop/tags/list" |
		jq -r ".tags | sort_by(.[1:] | tonumber) | join(\" \")") &&
	expect_eq "v21 v22 v23 v24 v25 v26 v27 v28 v29 v30" "$tags" &&
	grep -q "retention: deleted" "$CTL_LOG"
'
expect_success 'the blob directory shrinks back to the 10 images after gc' '
	wait_for "[ \$(blobs) = 30 ]" 30 &&
	expect_eq 30 "$(blobs)" &&
	[ "$(blob_bytes)" -lt $((11 * 66 * 1024)) ] &&
	grep -q "gc removed" "$T_DIR/registry.log"
'
expect_success 'apps:info shows the disk the app takes: its 10 images, repository, cache (only when asked)' '
	j=$(slipway apps:info shop --json) &&
	img=$(echo "$j" | jq .disk.images) &&
	[ "$img" -gt $((10 * 64 * 1024)) ] && [ "$img" -lt $((10 * 66 * 1024)) ] &&
	expect_eq 0 "$(echo "$j" | jq .disk.repository)" &&
	expect_eq 0 "$(echo "$j" | jq .disk.cache)" &&
	expect_contains "$(slipway apps:info shop)" "disk:           images 6" &&
	expect_contains "$(slipway apps:info shop)" " kB, repository 0 B, cache 0 B" &&
	expect_eq null "$(api GET /v1/apps/shop | sed "\$d" | jq .disk)"
'
expect_success 'v1 went while its layer was being pulled, and that pull completed whole' '
	kill -0 $PULL &&
	expect_eq 404 "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $TOK" \
		-H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$REG/v2/shop/manifests/v1")" &&
	hex=${V1_LAYER#sha256:} &&
	wait_for "[ ! -e $ROOT/blobs/sha256/${hex:0:2}/$hex ]" 10 && kill -0 $PULL &&
	wait_for "! kill -0 $PULL" 30 &&
	expect_eq "$V1_LAYER" "sha256:$(sha256sum v1-layer.bin | cut -d" " -f1)"
'
expect_success 'a pull of a kept image while gc runs completes' '
	for i in 1 2 3; do
		rm -rf out && skopeo copy --src-tls-verify=false --src-creds "admin:$SLIPWAY_TOKEN" \
			"docker://$REG/shop:v30" oci:out:v30 >/dev/null || exit 1
	done
'
expect_success 'a rollback to a release whose image is gone: one line, nothing made' '
	before=$(slipway releases shop --json | jq length) &&
	! out=$(slipway rollback shop v5 2>&1) &&
	expect_eq 1 "$(printf "%s\n" "$out" | wc -l)" &&
	expect_contains "$out" "cannot roll back '"'"'shop'"'"' to v5" &&
	expect_contains "$out" "last 10 releases" &&
	expect_eq "$before" "$(slipway releases shop --json | jq length)"
'
expect_success 'a rollback to a kept release works and keeps its image (v21 goes)' '
	slipway rollback shop v25 >/dev/null &&
	sleep 2 && expect_eq 9 "$(revisions)" &&
	curl -sS -H "Authorization: Bearer $TOK" "http://$REG/v2/shop/tags/list" | jq -e ".tags | index(\"v25\")" >/dev/null
'
expect_success 'config changes point at the current image: older ones go' '
	for i in $(seq 1 8); do slipway config:set shop "K=$i" >/dev/null || exit 1; done &&
	wait_for "[ \$(revisions) = 2 ]" 30 &&
	expect_eq 2 "$(ntags)"
'
expect_success 'v30 falls out with one more change; an image no build names (by hand, or ahead of its build) stays' '
	head -c 4096 /dev/urandom >layer.bin && l=$(blob_put layer.bin) &&
	c=$(blob_put config.json) &&
	jq -n --arg c "$c" --arg l "$l" --argjson cs "$(stat -c %s config.json)" \
		"{schemaVersion:2,mediaType:\"application/vnd.oci.image.manifest.v1+json\",
		  config:{mediaType:\"application/vnd.oci.image.config.v1+json\",digest:\$c,size:\$cs},
		  layers:[{mediaType:\"application/vnd.oci.image.layer.v1.tar+gzip\",digest:\$l,size:4096}]}" >hand.json &&
	curl -sS -o /dev/null -X PUT -H "Authorization: Bearer $TOK" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @hand.json \
		"http://$REG/v2/shop/manifests/v99" &&
	slipway config:set shop K=last >/dev/null &&
	wait_for "[ \$(revisions) = 2 ]" 30 &&
	expect_eq "v25 v99" "$(curl -sS -H "Authorization: Bearer $TOK" "http://$REG/v2/shop/tags/list" | jq -r ".tags | sort | join(\" \")")"
'

test_done
