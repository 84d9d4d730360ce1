#!/usr/bin/env bash
# Two parts of distribution-spec 1.1 a conformance run with every option
# on checks: tags with a manifest push by digest (?tag=a&tag=b, answered
# with OCI-Tag), and a cross-repository mount whose 401 asks for pull on
# the source repository too, so a client that follows challenges mounts
# instead of uploading; and a manifest delete that leaves its blobs the
# gc grace, for a pull that read the manifest just before.
. "$(dirname "$0")/lib.sh"

for p in curl skopeo umoci jq; do
	command -v $p >/dev/null || skip_all "$p is not installed"
done

PORT=$(free_port)
R=http://127.0.0.1:$PORT
ROOT=$T_DIR/reg
echo "alice:$(printf 'wonderland' | sha256sum | cut -d' ' -f1)" >users
slipway registry --listen 127.0.0.1:$PORT --root "$ROOT" --htpasswd users \
	>>registry.log 2>&1 &
RPID=$!
at_exit "kill $RPID; wait $RPID"
wait_port $PORT || skip_all "the registry did not start: $(cat registry.log)"

TOKEN=$(slipway registry token --repo app --actions pull,push)
ONLY2=$(slipway registry token --repo app2 --actions pull,push)

# req METHOD PATH [curl args...]: status on stdout, headers in hdr, body in body.
req() {
	local m=$1 p=$2; shift 2
	if [ "$m" = HEAD ]; then set -- -I "$@"; else set -- -X "$m" "$@"; fi
	curl -s --path-as-is -o body -D hdr -w '%{http_code}' "$@" "$R$p"
}
auth() { echo "Authorization: Bearer ${1:-$TOKEN}"; }
header() { grep -i "^$1:" hdr | head -1 | cut -d' ' -f2- | tr -d '\r'; }
headers() { grep -i "^$1:" hdr | cut -d' ' -f2- | tr -d '\r' | paste -sd' '; }
code() { jq -r '.errors[0].code' body; }
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
tags() { req GET "/v2/$1/tags/list" -H "$(auth "${2:-$TOKEN}")" >/dev/null && jq -r '.tags // [] | join(" ")' body; }

umoci init --layout img >/dev/null 2>&1 && umoci new --image img:v1 >/dev/null 2>&1 &&
	mkdir -p content && echo "hello from slipway" >content/hello.txt &&
	umoci insert --image img:v1 content/hello.txt /hello.txt >/dev/null 2>&1 ||
	skip_all "umoci cannot make a test image"
skopeo copy --dest-tls-verify=false --dest-registry-token "$TOKEN" \
	oci:img:v1 docker://127.0.0.1:$PORT/app:v1 >/dev/null 2>&1 ||
	skip_all "skopeo cannot push the test image"
DIGEST=$(jq -r '.manifests[0].digest' img/index.json)
cp "img/blobs/sha256/${DIGEST#sha256:}" manifest.json
MT=application/vnd.oci.image.manifest.v1+json

# ---- ?tag= ----
expect_success 'PUT by digest with two tags: 201, one OCI-Tag per tag, both listed' '
	expect_eq 201 "$(req PUT "/v2/app/manifests/$DIGEST?tag=1.2.3&tag=latest" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" &&
	expect_eq "1.2.3 latest" "$(headers OCI-Tag)" &&
	expect_eq "$DIGEST" "$(header Docker-Content-Digest)" &&
	expect_eq "1.2.3 latest v1" "$(tags app)" &&
	expect_eq 200 "$(req HEAD /v2/app/manifests/latest -H "$(auth)")" &&
	expect_eq "$DIGEST" "$(header Docker-Content-Digest)"
'
expect_success 'a tag given twice is made and answered once' '
	expect_eq 201 "$(req PUT "/v2/app/manifests/$DIGEST?tag=rc&tag=rc" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" &&
	expect_eq "rc" "$(headers OCI-Tag)"
'
expect_success 'one bad tag among good ones: 400 TAG_INVALID, no tag made' '
	expect_eq 400 "$(req PUT "/v2/app/manifests/$DIGEST?tag=ok1&tag=-bad&tag=ok2" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" &&
	expect_eq TAG_INVALID "$(code)" && expect_contains "$(jq -r ".errors[0].message" body)" "-bad" &&
	expect_eq "" "$(headers OCI-Tag)" &&
	expect_eq "1.2.3 latest rc v1" "$(tags app)"
'
expect_success 'hostile tags are refused: a slash, a dot first, too long, a newline' '
	long=$(printf "a%.0s" $(seq 1 129)) &&
	for t in "a%2Fb" ".x" "$long" "a%0Ab" ""; do
		expect_eq 400 "$(req PUT "/v2/app/manifests/$DIGEST?tag=$t" \
			-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" "tag $t" &&
		expect_eq TAG_INVALID "$(code)" || exit 1
	done &&
	expect_eq "1.2.3 latest rc v1" "$(tags app)"
'
expect_success '64 tags are made; 65: 414, none made' '
	q=$(for i in $(seq 1 64); do printf "tag=t%d&" $i; done) &&
	expect_eq 201 "$(req PUT "/v2/app/manifests/$DIGEST?${q%&}" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" &&
	expect_eq 64 "$(grep -ci "^OCI-Tag:" hdr)" &&
	q=$(for i in $(seq 1 65); do printf "tag=u%d&" $i; done) &&
	expect_eq 414 "$(req PUT "/v2/app/manifests/$DIGEST?${q%&}" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" &&
	! expect_contains "$(tags app)" u1 >/dev/null
'
expect_success 'tag= with a push by tag: 400, nothing made' '
	expect_eq 400 "$(req PUT "/v2/app/manifests/v2?tag=other" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @manifest.json)" &&
	expect_eq MANIFEST_INVALID "$(code)" &&
	! expect_contains "$(tags app)" other >/dev/null &&
	! expect_contains "$(tags app)" v2 >/dev/null
'
expect_success 'a push by digest with tag= and a wrong body: 400 DIGEST_INVALID, no tag' '
	printf "{}" >other.json &&
	expect_eq 400 "$(req PUT "/v2/app/manifests/$DIGEST?tag=wrong" \
		-H "$(auth)" -H "Content-Type: $MT" --data-binary @other.json)" &&
	! expect_contains "$(tags app)" wrong >/dev/null
'
expect_success 'skopeo pulls by a tag made with tag=' '
	rm -rf out && skopeo copy --src-tls-verify=false --src-registry-token "$TOKEN" \
		docker://127.0.0.1:$PORT/app:1.2.3 oci:out:x >/dev/null &&
	expect_eq "$DIGEST" "$(jq -r ".manifests[0].digest" out/index.json)"
'

# ---- the mount challenge ----
LAYER=$(jq -r '.layers[0].digest' manifest.json)
# A client that follows challenges: POST without a token, fetch a token
# for exactly the challenge's scopes from its realm, POST again.
follow() { # PATH
	local ch realm service scope args=()
	req POST "$1" >/dev/null
	ch=$(header WWW-Authenticate)
	realm=$(echo "$ch" | sed -n 's/.*realm="\([^"]*\)".*/\1/p')
	service=$(echo "$ch" | sed -n 's/.*service="\([^"]*\)".*/\1/p')
	scope=$(echo "$ch" | sed -n 's/.*scope="\([^"]*\)".*/\1/p')
	for s in $scope; do args+=(--data-urlencode "scope=$s"); done
	tok=$(curl -s -G -u alice:wonderland --data-urlencode "service=$service" \
		"${args[@]}" "$realm" | jq -r .token) &&
	req POST "$1" -H "$(auth "$tok")"
}
expect_success 'the 401 of a mount names pull on the source beside the target' '
	expect_eq 401 "$(req POST "/v2/app2/blobs/uploads/?mount=$LAYER&from=app")" &&
	expect_contains "$(header WWW-Authenticate)" "scope=\"repository:app2:pull,push repository:app:pull\"" &&
	expect_eq app "$(jq -r ".errors[0].detail[1].Name" body)"
'
expect_success 'a client that follows the challenge mounts: 201, the blob is in app2' '
	expect_eq 201 "$(follow "/v2/app2/blobs/uploads/?mount=$LAYER&from=app")" &&
	expect_eq "/v2/app2/blobs/$LAYER" "$(header Location)" &&
	expect_eq 200 "$(req HEAD "/v2/app2/blobs/$LAYER" -H "$(auth "$ONLY2")")"
'
expect_success 'a token without pull on the source: 401 insufficient_scope naming it' '
	expect_eq 401 "$(req POST "/v2/app3/blobs/uploads/?mount=$LAYER&from=app" \
		-H "$(auth "$(slipway registry token --repo app3 --actions pull,push)")")" &&
	expect_contains "$(header WWW-Authenticate)" "repository:app:pull\",error=\"insufficient_scope\""
'
expect_success 'a mount from itself or with a bad digest asks for the target only' '
	expect_eq 401 "$(req POST "/v2/app2/blobs/uploads/?mount=$LAYER&from=app2")" &&
	expect_contains "$(header WWW-Authenticate)" "scope=\"repository:app2:pull,push\"" &&
	expect_eq 401 "$(req POST "/v2/app2/blobs/uploads/?mount=nodigest&from=app")" &&
	expect_contains "$(header WWW-Authenticate)" "scope=\"repository:app2:pull,push\""
'
expect_success 'slipway image push --from mounts every blob, uploads none' '
	out=$(slipway image push --user alice:wonderland --from app --json \
		img:v1 127.0.0.1:$PORT/app4:v1 2>&1) &&
	expect_eq 0 "$(echo "$out" | jq -r .blobs.uploaded)" "$out" &&
	expect_eq 2 "$(echo "$out" | jq -r .blobs.mounted)" "$out"
'
expect_success 'skopeo copy between two repositories mounts the layer: never read, never uploaded' '
	n=$(wc -l <registry.log) &&
	skopeo copy --src-tls-verify=false --dest-tls-verify=false \
		--src-creds alice:wonderland --dest-creds alice:wonderland \
		docker://127.0.0.1:$PORT/app:v1 docker://127.0.0.1:$PORT/app5:v1 >/dev/null &&
	new=$(tail -n +$((n + 1)) registry.log) &&
	expect_contains "$new" "POST /v2/app5/blobs/uploads/ 201" &&
	! expect_contains "$new" "GET /v2/app/blobs/$LAYER" >/dev/null &&
	expect_eq 200 "$(req HEAD "/v2/app5/blobs/$LAYER" -H "$(auth "$(slipway registry token --repo app5 --actions pull)")")"
'

# ---- a delete leaves the blobs their grace ----
expect_success 'a pull that read a manifest before its delete still gets the layers across gc' '
	DEL=$(slipway registry token --repo del --actions pull,push,delete) &&
	head -c 4096 /dev/urandom >del-layer && printf "{\"del\":1}" >del-config &&
	for f in del-layer del-config; do
		expect_eq 201 "$(req POST "/v2/del/blobs/uploads/?digest=$(sha $f)" -H "$(auth "$DEL")" \
			-H "Content-Type: application/octet-stream" --data-binary @$f)" || exit 1
	done &&
	jq -n --arg c "$(sha del-config)" --arg l "$(sha del-layer)" \
		"{schemaVersion:2,mediaType:\"$MT\",
		  config:{mediaType:\"application/vnd.oci.image.config.v1+json\",digest:\$c,size:9},
		  layers:[{mediaType:\"application/vnd.oci.image.layer.v1.tar\",digest:\$l,size:4096}]}" >del.json &&
	expect_eq 201 "$(req PUT /v2/del/manifests/v1 -H "$(auth "$DEL")" -H "Content-Type: $MT" --data-binary @del.json)" &&
	expect_eq 200 "$(req GET /v2/del/manifests/v1 -H "$(auth "$DEL")")" &&
	for d in $(sha del-layer) $(sha del-config) $(sha del.json); do
		touch -d "3 hours ago" "$ROOT/blobs/sha256/${d:7:2}/${d#sha256:}" || exit 1
	done &&
	expect_eq 202 "$(req DELETE "/v2/del/manifests/$(sha del.json)" -H "$(auth "$DEL")")" &&
	slipway registry gc --root "$ROOT" >/dev/null &&
	for d in $(sha del-config) $(sha del-layer); do
		expect_eq 200 "$(req GET "/v2/del/blobs/$d" -H "$(auth "$DEL")")" "blob $d" || exit 1
	done &&
	expect_eq 404 "$(req GET /v2/del/manifests/v1 -H "$(auth "$DEL")")"
'

test_done
