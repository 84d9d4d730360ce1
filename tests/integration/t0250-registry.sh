#!/usr/bin/env bash
# The registry server against clients we did not write (skopeo, curl):
# pushes and pulls through the token flow, the whole Distribution API, and
# hostile requests that must get the spec's error and leave storage as it
# was.
. "$(dirname "$0")/lib.sh"

for p in curl skopeo umoci jq openssl flock; do
	command -v $p >/dev/null || skip_all "$p is not installed"
done

PORT=$(free_port)
R=http://127.0.0.1:$PORT
ROOT=$T_DIR/reg
echo "alice:$(printf 'wonderland' | sha256sum | cut -d' ' -f1)" >users

start_registry() { # port extra-args...
	local port=$1; shift
	slipway registry --listen 127.0.0.1:$port --root "$ROOT" \
		--htpasswd users "$@" >>registry.log 2>&1 &
	local pid=$!
	at_exit "kill $pid; wait $pid"
	wait_port $port
}
start_registry $PORT || skip_all "the registry did not start: $(cat registry.log)"

TOKEN=$(slipway registry token --repo app --actions pull,push,delete)
OTHER=$(slipway registry token --repo app2 --actions pull,push)

# req METHOD PATH [curl args...]: status on stdout, headers in hdr, body in body.
req() {
	local m=$1 p=$2; shift 2
	if [ "$m" = HEAD ]; then set -- -I "$@"; else set -- -X "$m" "$@"; fi
	curl -s --path-as-is -o body -D hdr -w '%{http_code}' "$@" "$R$p"
}
auth() { echo "Authorization: Bearer ${1:-$TOKEN}"; }
header() { grep -i "^$1:" hdr | head -1 | cut -d' ' -f2- | tr -d '\r'; }
code() { jq -r '.errors[0].code' body; }
# The storage tree (paths, types, sizes), to compare before and after.
snap() { (cd "$ROOT" && find . -path ./gc.lock -prune -o -printf '%y %p %s\n' | sort); }
same_tree() { # before
	local now; now=$(snap)
	[ "$1" = "$now" ] && return 0
	echo "storage changed:"; diff <(echo "$1") <(echo "$now") | head; return 1
}
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# A small OCI image made here: one layer with one file.
umoci init --layout img >/dev/null 2>&1 && umoci new --image img:v1 >/dev/null 2>&1 &&
	mkdir -p content && echo "hello from slipway" >content/hello.txt &&
	umoci insert --image img:v1 content/hello.txt /hello.txt >/dev/null 2>&1 ||
	skip_all "umoci cannot make a test image"
IMG_DIGEST=$(jq -r '.manifests[0].digest' img/index.json)

expect_success 'GET /v2/ without a token: 401 with a Bearer challenge' '
	expect_eq 401 "$(req GET /v2/)" &&
	expect_contains "$(header WWW-Authenticate)" "Bearer realm=\"$R/token\",service=\"slipway-registry\"" &&
	expect_eq UNAUTHORIZED "$(code)" &&
	expect_eq registry/2.0 "$(header Docker-Distribution-API-Version)"
'
expect_success 'GET /v2/ with a token: 200' '
	expect_eq 200 "$(req GET /v2/ -H "$(auth)")"
'
expect_success 'skopeo copy oci: into the registry with a token' '
	skopeo copy --dest-tls-verify=false --dest-registry-token "$TOKEN" \
		oci:img:v1 docker://127.0.0.1:$PORT/app:v1
'
expect_success 'skopeo inspect shows the pushed digest' '
	out=$(skopeo inspect --tls-verify=false --registry-token "$TOKEN" \
		docker://127.0.0.1:$PORT/app:v1) &&
	expect_eq "$IMG_DIGEST" "$(echo "$out" | jq -r .Digest)" &&
	expect_eq v1 "$(echo "$out" | jq -r ".RepoTags[0]")"
'
expect_success 'skopeo copy back out: same manifest digest, same blobs' '
	skopeo copy --src-tls-verify=false --src-registry-token "$TOKEN" \
		docker://127.0.0.1:$PORT/app:v1 oci:out:v1 &&
	expect_eq "$IMG_DIGEST" "$(jq -r ".manifests[0].digest" out/index.json)" &&
	for b in out/blobs/sha256/*; do cmp "$b" "img/blobs/sha256/${b##*/}" || exit 1; done
'
expect_success 'skopeo login against our /token realm (htpasswd) and pull' '
	export REGISTRY_AUTH_FILE=$T_DIR/auth.json &&
	skopeo login --tls-verify=false -u alice -p wonderland 127.0.0.1:$PORT &&
	rm -rf out2 && skopeo copy --src-tls-verify=false \
		docker://127.0.0.1:$PORT/app:v1 oci:out2:v1 &&
	expect_eq "$IMG_DIGEST" "$(jq -r ".manifests[0].digest" out2/index.json)"
'
expect_failure 'skopeo login with a wrong password fails' '
	REGISTRY_AUTH_FILE=$T_DIR/auth2.json skopeo login --tls-verify=false \
		-u alice -p queen 127.0.0.1:$PORT
'
expect_success 'the realm refuses bad credentials with 401' '
	expect_eq 401 "$(req GET "/token?service=slipway-registry&scope=repository:app:pull" -u alice:queen)"
'
expect_success 'anonymous realm tokens grant nothing without --anonymous-pull' '
	expect_eq 200 "$(req GET "/token?scope=repository:app:pull")" &&
	t=$(jq -r .token body) &&
	expect_eq 401 "$(req GET /v2/app/manifests/v1 -H "$(auth "$t")")"
'
expect_success 'skopeo copies between two of our repositories (realm tokens)' '
	for i in 1 2 3; do
		REGISTRY_AUTH_FILE=$T_DIR/auth.json skopeo copy --src-tls-verify=false \
			--dest-tls-verify=false docker://127.0.0.1:$PORT/app:v1 \
			docker://127.0.0.1:$PORT/copies/c$i:v1 || exit 1
	done
'
expect_success 'skopeo pushes Docker schema 2 media types too' '
	skopeo copy --format v2s2 --dest-tls-verify=false \
		--dest-registry-token "$TOKEN" oci:img:v1 docker://127.0.0.1:$PORT/app:docker &&
	expect_eq 200 "$(req GET /v2/app/manifests/docker -H "$(auth)")" &&
	expect_eq application/vnd.docker.distribution.manifest.v2+json "$(header Content-Type)" &&
	expect_eq "$(sha body)" "$(header Docker-Content-Digest)"
'

# ---- manifests ----
expect_success 'manifest GET by tag and digest, HEAD: type, digest, length' '
	expect_eq 200 "$(req GET /v2/app/manifests/v1 -H "$(auth)")" &&
	expect_eq application/vnd.oci.image.manifest.v1+json "$(header Content-Type)" &&
	expect_eq "$IMG_DIGEST" "$(header Docker-Content-Digest)" &&
	expect_eq "$IMG_DIGEST" "$(sha body)" && cp body manifest.json &&
	expect_eq 200 "$(req GET /v2/app/manifests/$IMG_DIGEST -H "$(auth)")" &&
	cmp body manifest.json &&
	expect_eq 200 "$(req HEAD /v2/app/manifests/v1 -H "$(auth)")" &&
	expect_eq "$(stat -c %s manifest.json)" "$(header Content-Length)"
'
expect_success 'unknown manifest: 404 MANIFEST_UNKNOWN' '
	expect_eq 404 "$(req GET /v2/app/manifests/nope -H "$(auth)")" &&
	expect_eq MANIFEST_UNKNOWN "$(code)"
'
expect_success 'an OCI index over a pushed manifest is accepted' '
	jq -n --arg d "$IMG_DIGEST" --argjson s "$(stat -c %s manifest.json)" \
		"{schemaVersion:2,mediaType:\"application/vnd.oci.image.index.v1+json\",
		  manifests:[{mediaType:\"application/vnd.oci.image.manifest.v1+json\",digest:\$d,size:\$s}]}" >index.json &&
	expect_eq 201 "$(req PUT /v2/app/manifests/multi -H "$(auth)" \
		-H "Content-Type: application/vnd.oci.image.index.v1+json" --data-binary @index.json)" &&
	expect_eq "$(sha index.json)" "$(header Docker-Content-Digest)"
'
expect_success 'PUT by digest that does not match the body: 400 DIGEST_INVALID' '
	before=$(snap) &&
	expect_eq 400 "$(req PUT /v2/app/manifests/sha256:0000000000000000000000000000000000000000000000000000000000000000 \
		-H "$(auth)" -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @manifest.json)" &&
	expect_eq DIGEST_INVALID "$(code)" && same_tree "$before"
'

# A manifest whose config is a fresh blob and whose layer is missing.
printf '{}' >empty.json
EMPTY=$(sha empty.json)
MISSING=sha256:$(printf 'never pushed' | sha256sum | cut -d' ' -f1)
jq -n --arg c "$EMPTY" --arg l "$MISSING" \
	'{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
	  config:{mediaType:"application/vnd.oci.empty.v1+json",digest:$c,size:2},
	  layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar",digest:$l,size:12}]}' >missing.json

expect_success 'monolithic POST of a blob: 201, Location, digest' '
	expect_eq 201 "$(req POST "/v2/app/blobs/uploads/?digest=$EMPTY" -H "$(auth)" \
		-H "Content-Type: application/octet-stream" --data-binary @empty.json)" &&
	expect_eq "/v2/app/blobs/$EMPTY" "$(header Location)" &&
	expect_eq "$EMPTY" "$(header Docker-Content-Digest)"
'
expect_success 'a manifest naming a missing blob: 400 MANIFEST_BLOB_UNKNOWN, nothing stored' '
	before=$(snap) &&
	expect_eq 400 "$(req PUT /v2/app/manifests/broken -H "$(auth)" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @missing.json)" &&
	expect_eq MANIFEST_BLOB_UNKNOWN "$(code)" &&
	expect_eq "$MISSING" "$(jq -r ".errors[0].detail.digest" body)" &&
	same_tree "$before"
'
expect_success 'an index naming a missing manifest: 400 MANIFEST_BLOB_UNKNOWN' '
	sed "s/$IMG_DIGEST/$MISSING/" index.json >bad-index.json && before=$(snap) &&
	expect_eq 400 "$(req PUT /v2/app/manifests/bad -H "$(auth)" \
		-H "Content-Type: application/vnd.oci.image.index.v1+json" --data-binary @bad-index.json)" &&
	expect_eq MANIFEST_BLOB_UNKNOWN "$(code)" && same_tree "$before"
'
expect_success 'invalid JSON: 400 MANIFEST_INVALID, nothing stored' '
	before=$(snap) &&
	expect_eq 400 "$(req PUT /v2/app/manifests/junk -H "$(auth)" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary "{\"schemaVersion\":2,")" &&
	expect_eq MANIFEST_INVALID "$(code)" && same_tree "$before"
'
expect_success 'Content-Type other than the mediaType: 400 MANIFEST_INVALID' '
	sed "s/$MISSING/$EMPTY/; s/\"size\":12/\"size\":2/" missing.json >ok.json && before=$(snap) &&
	expect_eq 400 "$(req PUT /v2/app/manifests/junk -H "$(auth)" \
		-H "Content-Type: application/vnd.docker.distribution.manifest.v2+json" --data-binary @ok.json)" &&
	expect_eq MANIFEST_INVALID "$(code)" && same_tree "$before"
'
expect_success 'a Docker Content-Type on a body without mediaType: 400' '
	before=$(snap) &&
	expect_eq 400 "$(req PUT /v2/app/manifests/junk -H "$(auth)" \
		-H "Content-Type: application/vnd.docker.distribution.manifest.v2+json" \
		--data-binary "$(jq "del(.mediaType)" ok.json)")" &&
	expect_eq MANIFEST_INVALID "$(code)" && same_tree "$before"
'
expect_success 'an oversized manifest (5 MiB): 413, nothing stored' '
	head -c 5242880 /dev/zero | tr "\0" " " >big.json && before=$(snap) &&
	expect_eq 413 "$(req PUT /v2/app/manifests/big -H "$(auth)" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @big.json)" &&
	expect_eq MANIFEST_INVALID "$(code)" &&
	expect_eq 413 "$(req PUT /v2/app/manifests/big -H "$(auth)" -H "Transfer-Encoding: chunked" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @big.json)" &&
	same_tree "$before"
'
expect_success 'bad repository names: 400 NAME_INVALID, nothing stored' '
	before=$(snap) && long=$(printf "a%.0s" $(seq 300)) &&
	for n in "a/../app" "..%2fapp" "a//app" "App" "$long" "-app" "a:b"; do
		st=$(req PUT "/v2/$n/manifests/v1" -H "$(auth)" \
			-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @manifest.json)
		expect_eq 400 "$st" "status for $n" && expect_eq NAME_INVALID "$(code)" "code for $n" || exit 1
	done && same_tree "$before"
'

# ---- blobs and uploads ----
head -c 100000 /dev/urandom >blob.bin
BLOB=$(sha blob.bin)
expect_success 'chunked upload: POST, PATCH with Content-Range, status, closing PUT' '
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)" -H "Content-Length: 0")" &&
	loc=$(header Location) && uuid=$(header Docker-Upload-UUID) &&
	expect_contains "$loc" "$uuid" && expect_eq 0-0 "$(header Range)" &&
	head -c 40000 blob.bin >c1 && tail -c +40001 blob.bin | head -c 40000 >c2 && tail -c +80001 blob.bin >c3 &&
	expect_eq 202 "$(req PATCH "$loc" -H "$(auth)" -H "Content-Range: 0-39999" \
		-H "Content-Type: application/octet-stream" --data-binary @c1)" &&
	expect_eq 0-39999 "$(header Range)" && loc=$(header Location) &&
	expect_eq 204 "$(req GET "$loc" -H "$(auth)")" && expect_eq 0-39999 "$(header Range)" &&
	expect_eq 202 "$(req PATCH "$loc" -H "$(auth)" -H "Content-Range: 40000-79999" --data-binary @c2)" &&
	expect_eq 201 "$(req PUT "$loc?digest=$BLOB" -H "$(auth)" -H "Content-Range: 80000-99999" \
		-H "Content-Type: application/octet-stream" --data-binary @c3)" &&
	expect_eq "/v2/app/blobs/$BLOB" "$(header Location)" &&
	expect_eq 200 "$(req GET /v2/app/blobs/$BLOB -H "$(auth)")" && cmp body blob.bin &&
	expect_eq 404 "$(req GET "$loc" -H "$(auth)")" && expect_eq BLOB_UPLOAD_UNKNOWN "$(code)"
'
expect_success 'a chunk out of order: 416 with the current Range, storage unchanged' '
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" && loc=$(header Location) &&
	expect_eq 202 "$(req PATCH "$loc" -H "$(auth)" -H "Content-Range: 0-39999" --data-binary @c1)" &&
	before=$(snap) &&
	expect_eq 416 "$(req PATCH "$loc" -H "$(auth)" -H "Content-Range: 50000-89999" --data-binary @c2)" &&
	expect_eq 0-39999 "$(header Range)" && expect_eq BLOB_UPLOAD_INVALID "$(code)" &&
	expect_eq 416 "$(req PATCH "$loc" -H "$(auth)" -H "Content-Range: 0-39999" --data-binary @c1)" &&
	same_tree "$before" &&
	expect_eq 204 "$(req DELETE "$loc" -H "$(auth)")" &&
	expect_eq 404 "$(req GET "$loc" -H "$(auth)")"
'
expect_success 'wrong digest on the closing PUT: 400 DIGEST_INVALID, nothing stored' '
	before=$(snap) &&
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" && loc=$(header Location) &&
	expect_eq 400 "$(req PUT "$loc?digest=$EMPTY" -H "$(auth)" --data-binary @c1)" &&
	expect_eq DIGEST_INVALID "$(code)" && same_tree "$before" &&
	expect_eq 404 "$(req GET "$loc" -H "$(auth)")"
'
expect_success 'wrong digest on a monolithic POST: 400 DIGEST_INVALID, nothing stored' '
	before=$(snap) &&
	expect_eq 400 "$(req POST "/v2/app/blobs/uploads/?digest=$EMPTY" -H "$(auth)" --data-binary @c2)" &&
	expect_eq DIGEST_INVALID "$(code)" && same_tree "$before"
'
expect_success 'a PUT without ?digest=: 400 DIGEST_INVALID, session kept' '
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" && loc=$(header Location) &&
	expect_eq 400 "$(req PUT "$loc" -H "$(auth)")" && expect_eq DIGEST_INVALID "$(code)" &&
	expect_eq 204 "$(req GET "$loc" -H "$(auth)")" &&
	expect_eq 204 "$(req DELETE "$loc" -H "$(auth)")"
'
expect_success 'blob HEAD: length and digest, no body' '
	expect_eq 200 "$(req HEAD /v2/app/blobs/$BLOB -H "$(auth)")" &&
	expect_eq 100000 "$(header Content-Length)" && expect_eq "$BLOB" "$(header Docker-Content-Digest)"
'
expect_success 'blob Range: 206 with Content-Range' '
	expect_eq 206 "$(req GET /v2/app/blobs/$BLOB -H "$(auth)" -H "Range: bytes=10-19")" &&
	expect_eq "bytes 10-19/100000" "$(header Content-Range)" &&
	cmp body <(tail -c +11 blob.bin | head -c 10)
'
expect_success 'a Range past the end: 416 with Content-Range bytes */size' '
	before=$(snap) &&
	expect_eq 416 "$(req GET /v2/app/blobs/$BLOB -H "$(auth)" -H "Range: bytes=100000-")" &&
	expect_eq "bytes */100000" "$(header Content-Range)" && same_tree "$before"
'
expect_success 'a blob is readable only in repositories that have it' '
	expect_eq 404 "$(req GET /v2/app2/blobs/$BLOB -H "$(auth "$OTHER")")" &&
	expect_eq BLOB_UNKNOWN "$(code)"
'
expect_success 'sha512 digests are accepted' '
	d=sha512:$(sha512sum c3 | cut -d" " -f1) &&
	expect_eq 201 "$(req POST "/v2/app/blobs/uploads/?digest=$d" -H "$(auth)" --data-binary @c3)" &&
	expect_eq 200 "$(req GET /v2/app/blobs/$d -H "$(auth)")" && cmp body c3
'
expect_success 'an unsupported digest algorithm: 400 DIGEST_INVALID' '
	expect_eq 400 "$(req GET /v2/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e -H "$(auth)")" &&
	expect_eq DIGEST_INVALID "$(code)"
'
expect_success 'a digest with bytes that are not UTF-8: 400 with a JSON error' '
	expect_eq 400 "$(req GET "/v2/app/blobs/sha256:%ff%fe" -H "$(auth)")" &&
	expect_eq DIGEST_INVALID "$(code)"
'
MOUNT=$(slipway registry token --repo app2 --actions pull,push --repo app --actions pull,push)
expect_success 'cross-repository mount: 201 when the caller may pull from' '
	expect_eq 201 "$(req POST "/v2/app2/blobs/uploads/?mount=$BLOB&from=app" -H "$(auth "$MOUNT")")" &&
	expect_eq "/v2/app2/blobs/$BLOB" "$(header Location)" &&
	expect_eq 200 "$(req GET /v2/app2/blobs/$BLOB -H "$(auth "$OTHER")")"
'
expect_success 'mount without pull on from: 401 asking for it, nothing linked' '
	expect_eq 401 "$(req POST "/v2/app2/blobs/uploads/?mount=$EMPTY&from=app" -H "$(auth "$OTHER")")" &&
	expect_contains "$(header WWW-Authenticate)" "repository:app2:pull,push repository:app:pull" &&
	expect_eq 404 "$(req HEAD /v2/app2/blobs/$EMPTY -H "$(auth "$OTHER")")"
'
expect_success 'mount of a blob from lacks: 202, a new session, nothing linked' '
	expect_eq 202 "$(req POST "/v2/app2/blobs/uploads/?mount=$MISSING&from=app" -H "$(auth "$MOUNT")")" &&
	loc=$(header Location) && expect_contains "$loc" /v2/app2/blobs/uploads/ &&
	expect_eq 404 "$(req HEAD /v2/app2/blobs/$MISSING -H "$(auth "$OTHER")")" &&
	expect_eq 204 "$(req DELETE "$loc" -H "$(auth "$OTHER")")"
'
expect_success 'blob DELETE unlinks it from the repository' '
	expect_eq 202 "$(req DELETE /v2/app2/blobs/$BLOB -H "$(auth "$(slipway registry token --repo app2 --actions delete)")")" &&
	expect_eq 404 "$(req GET /v2/app2/blobs/$BLOB -H "$(auth "$OTHER")")" &&
	expect_eq 200 "$(req GET /v2/app/blobs/$BLOB -H "$(auth)")"
'
expect_success 'an upload session answers only in its repository' '
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" && loc=$(header Location) &&
	expect_eq 404 "$(req PATCH "${loc/\/app\//\/app2\/}" -H "$(auth "$OTHER")" --data-binary @c1)" &&
	expect_eq BLOB_UPLOAD_UNKNOWN "$(code)" && req DELETE "$loc" -H "$(auth)" >/dev/null
'

# ---- auth ----
b64url() { openssl base64 -A | tr "+/" "-_" | tr -d "="; }
mint_jwt() { # claims-json [key-file]
	local h p k
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '%s' "$1" | b64url)
	k=$(od -An -tx1 -v "${2:-$SLIPWAY_HOME/secret}" | tr -d " \n")
	echo "$h.$p.$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$k -binary | b64url)"
}
claims() { # exp-offset repo
	echo "{\"iss\":\"slipway\",\"sub\":\"t\",\"aud\":\"slipway-registry\",\"exp\":$(( $(date +%s) + $1 )),\"access\":[{\"type\":\"repository\",\"name\":\"$2\",\"actions\":[\"pull\",\"push\"]}]}"
}
expect_success 'a token made by hand with the key works (so the next are fair)' '
	expect_eq 200 "$(req GET /v2/app/manifests/v1 -H "$(auth "$(mint_jwt "$(claims 300 app)")")")"
'
expect_success 'no token: 401 with a scope for the repository' '
	before=$(snap) &&
	expect_eq 401 "$(req GET /v2/app/manifests/v1)" && expect_eq UNAUTHORIZED "$(code)" &&
	expect_contains "$(header WWW-Authenticate)" "scope=\"repository:app:pull\"" &&
	expect_eq 401 "$(req PUT /v2/app/manifests/v9 -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @manifest.json)" &&
	expect_contains "$(header WWW-Authenticate)" "scope=\"repository:app:pull,push\"" &&
	expect_eq 401 "$(req POST "/v2/app/blobs/uploads/?digest=$EMPTY" --data-binary @empty.json)" &&
	same_tree "$before"
'
expect_success 'a token for another repository: 401 insufficient_scope' '
	before=$(snap) &&
	expect_eq 401 "$(req GET /v2/app/manifests/v1 -H "$(auth "$OTHER")")" &&
	expect_contains "$(header WWW-Authenticate)" "error=\"insufficient_scope\"" &&
	expect_eq 401 "$(req PUT /v2/app/manifests/v9 -H "$(auth "$OTHER")" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @manifest.json)" &&
	expect_eq 401 "$(req GET /v2/ap/manifests/v1 -H "$(auth)")" &&
	expect_eq 401 "$(req GET /v2/app/x/manifests/v1 -H "$(auth)")" &&
	expect_eq 401 "$(req DELETE /v2/app/manifests/v1 -H "$(auth "$(slipway registry token --repo app --actions pull,push)")")" &&
	same_tree "$before"
'
expect_success 'an expired token: 401 invalid_token' '
	before=$(snap) && t=$(mint_jwt "$(claims -3600 app)") &&
	expect_eq 401 "$(req GET /v2/app/manifests/v1 -H "$(auth "$t")")" &&
	expect_contains "$(header WWW-Authenticate)" "error=\"invalid_token\"" &&
	expect_contains "$(jq -r ".errors[0].message" body)" expired &&
	expect_eq 401 "$(req POST "/v2/app/blobs/uploads/?digest=$EMPTY" -H "$(auth "$t")" --data-binary @empty.json)" &&
	same_tree "$before"
'
expect_success 'a token signed with another key or for another service: 401' '
	head -c 32 /dev/urandom >otherkey &&
	expect_eq 401 "$(req GET /v2/app/manifests/v1 -H "$(auth "$(mint_jwt "$(claims 300 app)" otherkey)")")" &&
	expect_eq 401 "$(req GET /v2/app/manifests/v1 -H "$(auth "$(slipway registry token --repo app --service elsewhere)")")"
'

# ---- listings and referrers ----
expect_success 'tags list with n, last and a Link header' '
	expect_eq 200 "$(req GET /v2/app/tags/list -H "$(auth)")" &&
	expect_eq "docker multi v1" "$(jq -r ".tags | join(\" \")" body)" &&
	expect_eq 200 "$(req GET "/v2/app/tags/list?n=2" -H "$(auth)")" &&
	expect_eq "docker multi" "$(jq -r ".tags | join(\" \")" body)" &&
	expect_contains "$(header Link)" "</v2/app/tags/list?n=2&last=multi>; rel=\"next\"" &&
	expect_eq 200 "$(req GET "/v2/app/tags/list?n=2&last=multi" -H "$(auth)")" &&
	expect_eq "v1" "$(jq -r ".tags | join(\" \")" body)" && expect_eq "" "$(header Link)" &&
	expect_eq 200 "$(req GET "/v2/app/tags/list?n=0" -H "$(auth)")" &&
	expect_eq 0 "$(jq ".tags | length" body)" && expect_eq "" "$(header Link)"
'
expect_success 'tags of an unknown repository: 404 NAME_UNKNOWN' '
	expect_eq 404 "$(req GET /v2/nope/tags/list -H "$(auth "$(slipway registry token --repo nope)")")" &&
	expect_eq NAME_UNKNOWN "$(code)"
'
expect_success 'catalog needs registry:catalog:* and pages with n and last' '
	expect_eq 401 "$(req GET /v2/_catalog -H "$(auth)")" &&
	c=$(slipway registry token --catalog) &&
	expect_eq 200 "$(req GET /v2/_catalog -H "$(auth "$c")")" &&
	expect_eq "app app2 copies/c1 copies/c2 copies/c3" "$(jq -r ".repositories | join(\" \")" body)" &&
	expect_eq 200 "$(req GET "/v2/_catalog?n=1" -H "$(auth "$c")")" &&
	expect_eq "app" "$(jq -r ".repositories | join(\" \")" body)" &&
	expect_contains "$(header Link)" "last=app"
'
jq -n --arg c "$EMPTY" --arg s "$IMG_DIGEST" --argjson n "$(stat -c %s manifest.json)" \
	'{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
	  artifactType:"application/vnd.example.sig",
	  config:{mediaType:"application/vnd.oci.empty.v1+json",digest:$c,size:2},
	  layers:[{mediaType:"application/vnd.oci.empty.v1+json",digest:$c,size:2}],
	  subject:{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$s,size:$n},
	  annotations:{"org.example.note":"signed"}}' >sig.json
expect_success 'a manifest with a subject: 201 and OCI-Subject' '
	expect_eq 201 "$(req PUT /v2/app/manifests/$(sha sig.json) -H "$(auth)" \
		-H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @sig.json)" &&
	expect_eq "$IMG_DIGEST" "$(header OCI-Subject)"
'
expect_success 'referrers lists it, filters by artifactType' '
	expect_eq 200 "$(req GET /v2/app/referrers/$IMG_DIGEST -H "$(auth)")" &&
	expect_eq application/vnd.oci.image.index.v1+json "$(header Content-Type)" &&
	expect_eq "$(sha sig.json)" "$(jq -r ".manifests[0].digest" body)" &&
	expect_eq application/vnd.example.sig "$(jq -r ".manifests[0].artifactType" body)" &&
	expect_eq signed "$(jq -r ".manifests[0].annotations[\"org.example.note\"]" body)" &&
	expect_eq "" "$(header OCI-Filters-Applied)" &&
	expect_eq 200 "$(req GET "/v2/app/referrers/$IMG_DIGEST?artifactType=application/vnd.example.sig" -H "$(auth)")" &&
	expect_eq artifactType "$(header OCI-Filters-Applied)" && expect_eq 1 "$(jq ".manifests | length" body)" &&
	expect_eq 200 "$(req GET "/v2/app/referrers/$IMG_DIGEST?artifactType=application/other" -H "$(auth)")" &&
	expect_eq 0 "$(jq ".manifests | length" body)" &&
	expect_eq 200 "$(req GET /v2/app/referrers/$MISSING -H "$(auth)")" &&
	expect_eq 0 "$(jq ".manifests | length" body)" &&
	expect_eq 400 "$(req GET /v2/app/referrers/sha256:nothex -H "$(auth)")"
'
expect_success 'deleting the referrer removes it from the list' '
	expect_eq 202 "$(req DELETE /v2/app/manifests/$(sha sig.json) -H "$(auth)")" &&
	expect_eq 200 "$(req GET /v2/app/referrers/$IMG_DIGEST -H "$(auth)")" &&
	expect_eq 0 "$(jq ".manifests | length" body)"
'
expect_success 'tag DELETE: 202, then 404; unknown: 404' '
	expect_eq 202 "$(req DELETE /v2/app/manifests/multi -H "$(auth)")" &&
	expect_eq 404 "$(req GET /v2/app/manifests/multi -H "$(auth)")" &&
	expect_eq 404 "$(req DELETE /v2/app/manifests/multi -H "$(auth)")" && expect_eq MANIFEST_UNKNOWN "$(code)"
'
expect_success 'unknown endpoint 404, wrong method 405' '
	expect_eq 404 "$(req GET /v2/app/nothing/here -H "$(auth)")" &&
	expect_eq 405 "$(req POST /v2/app/manifests/v1 -H "$(auth)")" && expect_eq UNSUPPORTED "$(code)"
'

# ---- concurrency, interrupted uploads, gc ----
head -c 20000000 /dev/urandom >same.bin
SAME=$(sha same.bin)
expect_success 'concurrent pushes of the same blob all succeed, one copy stored' '
	for i in 1 2 3 4; do
		curl -s -o /dev/null -w "%{http_code}\n" -X POST -H "$(auth)" --data-binary @same.bin \
			"$R/v2/app/blobs/uploads/?digest=$SAME" >st.$i &
	done; wait &&
	for i in 1 2 3 4; do expect_eq 201 "$(cat st.$i)" "push $i" || exit 1; done &&
	expect_eq 200 "$(req GET /v2/app/blobs/$SAME -H "$(auth)")" && cmp body same.bin &&
	expect_eq "" "$(ls "$ROOT/uploads")" &&
	expect_eq 1 "$(find "$ROOT/blobs" -name "${SAME#sha256:}" | wc -l)"
'
head -c 64000000 /dev/urandom >huge.bin
HUGE=$(sha huge.bin)
expect_success 'a killed upload (curl killed mid-PATCH) leaves no blob' '
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" && loc=$(header Location) &&
	uuid=$(header Docker-Upload-UUID) &&
	{ curl -s -o /dev/null -X PATCH -T huge.bin --limit-rate 8M -H "$(auth)" "$R$loc" & } &&
	pid=$! && data=$ROOT/uploads/$uuid/data &&
	wait_for "[ \$(stat -c %s $data 2>/dev/null || echo 0) -gt 0 ]" 30
	kill $pid; wait $pid 2>/dev/null
	[ -e "$data" ] &&
	for i in $(seq 100); do flock -n -x "$data" true && break; sleep 0.1; done &&
	test -z "$(find "$ROOT/blobs" -name "${HUGE#sha256:}")" &&
	test "$(stat -c %s "$data")" -lt 64000000 &&
	expect_eq 404 "$(req HEAD /v2/app/blobs/$HUGE -H "$(auth)")" &&
	echo "$uuid" >killed.uuid
'
expect_success 'gc keeps an active-looking upload, removes it once stale' '
	uuid=$(cat killed.uuid) &&
	out=$(slipway registry gc --root "$ROOT" --json) &&
	test -d "$ROOT/uploads/$uuid" &&
	touch -d "2 hours ago" "$ROOT/uploads/$uuid/data" &&
	out=$(slipway registry gc --root "$ROOT" --json) &&
	expect_eq 1 "$(echo "$out" | jq .uploads_removed)" && test ! -e "$ROOT/uploads/$uuid"
'
expect_success 'gc removes unreferenced old blobs only, and the image still pulls' '
	find "$ROOT/blobs" -type f -exec touch -d "2 hours ago" {} + &&
	out=$(slipway registry gc --root "$ROOT" --dry-run --json) &&
	n=$(echo "$out" | jq .blobs_removed) && test "$n" -ge 3 &&
	test -n "$(find "$ROOT/blobs" -name "${SAME#sha256:}")" &&
	out=$(slipway registry gc --root "$ROOT" --json) &&
	expect_eq "$n" "$(echo "$out" | jq .blobs_removed)" &&
	test -z "$(find "$ROOT/blobs" -name "${SAME#sha256:}")" &&
	test -z "$(find "$ROOT/blobs" -name "${BLOB#sha256:}")" &&
	expect_eq 404 "$(req GET /v2/app/blobs/$SAME -H "$(auth)")" &&
	rm -rf out3 && skopeo copy --src-tls-verify=false --src-registry-token "$TOKEN" \
		docker://127.0.0.1:$PORT/app:v1 oci:out3:v1 &&
	skopeo copy --src-tls-verify=false --src-registry-token "$TOKEN" \
		docker://127.0.0.1:$PORT/app:docker oci:out3:docker
'
expect_success 'gc keeps fresh unreferenced blobs (a push in progress)' '
	expect_eq 201 "$(req POST "/v2/app/blobs/uploads/?digest=$BLOB" -H "$(auth)" --data-binary @blob.bin)" &&
	slipway registry gc --root "$ROOT" >/dev/null &&
	expect_eq 200 "$(req GET /v2/app/blobs/$BLOB -H "$(auth)")"
'

expect_success 'request headers over the cap: 431' '
	printf "X-Big: %s\r\n" "$(head -c 1000000 /dev/zero | tr "\0" a)" >bighdr &&
	expect_eq 431 "$(curl -s -o /dev/null -w "%{http_code}" -H @bighdr "$R/v2/")"
'

# ---- a second server on the same root: startup sweep, anonymous pull ----
expect_success 'a stale upload left by a crash is swept at startup' '
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" &&
	uuid=$(header Docker-Upload-UUID) && echo "$uuid" >stale.uuid &&
	touch -d "2 hours ago" "$ROOT/uploads/$uuid/data"
'
APORT=$(free_port)
start_registry $APORT --anonymous-pull --service anon-svc
expect_success 'the stale upload is gone after the restart' '
	test ! -e "$ROOT/uploads/$(cat stale.uuid)"
'
expect_success '--anonymous-pull: pulls need no token, pushes still do' '
	R=http://127.0.0.1:$APORT &&
	expect_eq 200 "$(req GET /v2/)" &&
	expect_eq 200 "$(req GET /v2/app/manifests/v1)" &&
	expect_eq 401 "$(req POST /v2/app/blobs/uploads/)" &&
	expect_contains "$(header WWW-Authenticate)" "service=\"anon-svc\"" &&
	skopeo inspect --tls-verify=false --no-creds docker://127.0.0.1:$APORT/app:v1 >/dev/null
'

# ---- a server with a small blob cap ----
SPORT=$(free_port)
slipway registry --listen 127.0.0.1:$SPORT --root "$T_DIR/small" --max-blob 1K >>registry.log 2>&1 &
spid=$!; at_exit "kill $spid; wait $spid"
wait_port $SPORT
expect_success 'blobs over --max-blob: 413 SIZE_INVALID, nothing stored' '
	R=http://127.0.0.1:$SPORT && ROOT=$T_DIR/small && head -c 2000 /dev/urandom >two.bin &&
	before=$(snap) && d=$(sha two.bin) &&
	expect_eq 413 "$(req POST "/v2/app/blobs/uploads/?digest=$d" -H "$(auth)" --data-binary @two.bin)" &&
	expect_eq SIZE_INVALID "$(code)" &&
	expect_eq 413 "$(req POST "/v2/app/blobs/uploads/?digest=$d" -H "$(auth)" \
		-H "Transfer-Encoding: chunked" --data-binary @two.bin)" &&
	same_tree "$before" &&
	expect_eq 202 "$(req POST /v2/app/blobs/uploads/ -H "$(auth)")" && loc=$(header Location) &&
	expect_eq 202 "$(req PATCH "$loc" -H "$(auth)" --data-binary @empty.json)" &&
	expect_eq 413 "$(req PATCH "$loc" -H "$(auth)" -H "Transfer-Encoding: chunked" --data-binary @two.bin)" &&
	expect_eq 204 "$(req GET "$loc" -H "$(auth)")" && expect_eq 0-1 "$(header Range)"
'
test_done
