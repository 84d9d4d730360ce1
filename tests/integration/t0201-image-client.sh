#!/usr/bin/env bash
# The registry client against docker-registry (the CNCF Distribution
# registry): push, skip what exists, mount, chunked upload, pull by tag
# and digest with digests equal, Basic auth (htpasswd), the token flow
# (a realm served by busybox httpd, JWTs signed by openssl), retries
# through a proxy that fails on purpose, and a registry serving bad bytes.
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/image-lib.sh"

for t in jq skopeo docker-registry openssl perl; do
	command -v $t >/dev/null || skip_all "$t is not installed"
done
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
unset SOURCE_DATE_EPOCH SLIPWAY_REGISTRY_USER SLIPWAY_REGISTRY_PASSWORD

make_slug slug.tgz "hello"
slipway stack import --busybox -o stack >/dev/null &&
slipway image build --slug slug.tgz --base stack -o img --tag v1 \
	--process "web=httpd -f -p \$PORT -h /app" >/dev/null ||
	skip_all "cannot build the test image"
D=$(layout_digest img v1)

start_registry open || skip_all "docker-registry did not start"
R=127.0.0.1:$REG_PORT OPEN_LOG=$REG_LOG OPEN_DATA=$REG_DATA

expect_success 'push uploads every blob and the manifest' '
	slipway image push img:v1 $R/app:v1 --json > p1.json &&
	expect_eq "$D" "$(jq -r .digest p1.json)" &&
	expect_eq 3 "$(jq .blobs.uploaded p1.json)" &&
	expect_eq 0 "$(jq .blobs.existed p1.json)" &&
	expect_eq "$D" "$(skopeo inspect --tls-verify=false docker://$R/app:v1 | jq -r .Digest)"
'
expect_success 'a second push skips the blobs the registry has' '
	slipway image push img:v1 $R/app:v1 --json > p2.json &&
	expect_eq 0 "$(jq .blobs.uploaded p2.json)" &&
	expect_eq 3 "$(jq .blobs.existed p2.json)" &&
	expect_eq 0 "$(jq .bytes p2.json)"
'
expect_success 'text output says what was skipped' '
	out=$(slipway image push img:v1 $R/app:v2 2>&1) &&
	expect_contains "$out" "0 uploaded, 3 existed" &&
	expect_contains "$out" "exists"
'
expect_success '--from mounts blobs from another repository' '
	slipway image push img:v1 $R/other/app:v1 --from app --json > p3.json &&
	expect_eq 3 "$(jq .blobs.mounted p3.json)" &&
	expect_eq 0 "$(jq .blobs.uploaded p3.json)" &&
	grep -q "POST /v2/other/app/blobs/uploads/?mount=" $OPEN_LOG
'
expect_success 'pull brings the image back with equal digests' '
	slipway image pull $R/app:v1 -o back --json > l1.json &&
	expect_eq "$D" "$(jq -r .digest l1.json)" &&
	expect_eq 3 "$(jq .blobs.downloaded l1.json)" &&
	expect_eq "$D" "$(layout_digest back v1)" &&
	for f in img/blobs/sha256/*; do cmp $f back/blobs/sha256/$(basename $f) || exit 1; done &&
	slipway image inspect back:v1 --verify >/dev/null
'
expect_success 'pull again fetches nothing' '
	slipway image pull $R/app:v1 -o back --json > l2.json &&
	expect_eq 0 "$(jq .blobs.downloaded l2.json)" &&
	expect_eq 3 "$(jq .blobs.existed l2.json)"
'
expect_success 'pull by digest, tagged as asked' '
	slipway image pull "$R/app@$D" -o bydigest --tag pinned >/dev/null &&
	expect_eq "$D" "$(layout_digest bydigest pinned)"
'
expect_success 'blobs over --chunk-size go up in PATCH chunks' '
	slipway image push stack $R/chunked:v1 --chunk-size 64K --json > p4.json &&
	test "$(grep -c "\"PATCH /v2/chunked/" $OPEN_LOG)" -ge 10 &&
	skopeo copy --quiet --src-tls-verify=false docker://$R/chunked:v1 oci:sk:v1 &&
	expect_eq "$(layout_digest stack latest)" "$(layout_digest sk v1)"
'
expect_success 'pull of a Docker v2 schema 2 manifest (skopeo converts it)' '
	skopeo copy --quiet --dest-tls-verify=false --format v2s2 oci:img:v1 docker://$R/docker:v1 &&
	dd=$(skopeo inspect --tls-verify=false docker://$R/docker:v1 | jq -r .Digest) &&
	slipway image pull $R/docker:v1 -o dback --json > d.json &&
	expect_eq "$dd" "$(jq -r .digest d.json)" &&
	expect_eq application/vnd.docker.distribution.manifest.v2+json "$(jq -r .mediaType d.json)" &&
	slipway image inspect dback:v1 --verify >/dev/null
'
expect_success 'push and pull of an image index: pull picks linux/amd64' '
	cp -r img idx && m=$(jq -c ".manifests[0] | del(.annotations)" img/index.json) &&
	printf "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[%s]}" "$m" > ix.json &&
	ih=$(sha256sum < ix.json | cut -d" " -f1) && cp ix.json idx/blobs/sha256/$ih &&
	jq --arg d sha256:$ih --argjson s $(stat -c %s ix.json) \
		".manifests += [{mediaType: \"application/vnd.oci.image.index.v1+json\", digest: \$d, size: \$s, annotations: {\"org.opencontainers.image.ref.name\": \"multi\"}}]" \
		img/index.json > idx/index.json &&
	slipway image push idx:multi $R/multi:v1 --json > ip.json &&
	expect_eq sha256:$ih "$(jq -r .digest ip.json)" &&
	slipway image pull $R/multi:v1 -o iback --json > il.json &&
	expect_eq "$D" "$(jq -r .digest il.json)" &&
	expect_eq "$D" "$(layout_digest iback v1)"
'
expect_failure 'pulling a tag that does not exist fails' '
	slipway image pull $R/app:nope -o none
'
expect_success 'the failure names the tag and what the registry said' '
	! slipway image pull $R/app:nope -o none 2>err &&
	expect_contains "$(cat err)" "MANIFEST_UNKNOWN" && expect_contains "$(cat err)" "nope"
'
expect_success 'bad references are usage errors' '
	for r in "app:v1" "$R/App:v1" "$R/a/../b:v1" "$R/a//b:v1" "$R/app:-x" \
		"$R/$(printf "a%.0s" $(seq 300)):v1"; do
		slipway image push img:v1 "$r" 2>/dev/null; test $? = 2 || exit 1
	done
'

# A registry serving bad bytes: a layer with other content, a manifest
# that does not hash to its digest, a manifest over the 4 MiB cap.
layer=$(jq -r '.layers[1].digest' < <(slipway image inspect img:v1 --json))
expect_success 'a layer whose bytes do not match its digest is refused' '
	f=$OPEN_DATA/docker/registry/v2/blobs/sha256/$(echo ${layer#sha256:} | cut -c1-2)/${layer#sha256:}/data &&
	cp $f saved && head -c $(stat -c %s saved) /dev/zero > $f &&
	! slipway image pull $R/app:v1 -o tampered 2>err; rc=$?; cp saved $f &&
	test $rc = 0 && expect_contains "$(cat err)" "digest mismatch" &&
	test ! -e tampered/blobs/sha256/${layer#sha256:} &&
	expect_eq 0 "$(jq ".manifests | length" tampered/index.json)"
'
expect_success 'a manifest that does not hash to its digest is refused' '
	f=$OPEN_DATA/docker/registry/v2/blobs/sha256/$(echo ${D#sha256:} | cut -c1-2)/${D#sha256:}/data &&
	cp $f saved && sed "s/\"size\"/\"size\" /" saved > $f &&
	! slipway image pull $R/app:v1 -o tampered2 2>err1; rc1=$?
	! slipway image pull $R/app@$D -o tampered3 2>err2; rc2=$?
	cp saved $f &&
	test $rc1 = 0 && expect_contains "$(cat err1)" "hashes to" &&
	test $rc2 = 0 && expect_contains "$(cat err2)" "hashes to"
'

# A fake registry of static files (busybox httpd) for what docker-registry
# will not serve: a manifest over the 4 MiB cap, a blob longer than its
# descriptor says.
mkdir -p fake/v2/app/manifests fake/v2/app/blobs
{ printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"a/b","digest":"%s","size":1},"layers":[]}' \
	application/vnd.oci.image.manifest.v1+json sha256:$(printf x | sha256sum | cut -d" " -f1)
  head -c 5000000 /dev/zero | tr "\0" " "; } > fake/v2/app/manifests/big
printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"a/b","digest":"%s","size":1},"layers":[]}' \
	application/vnd.oci.image.manifest.v1+json sha256:$(printf x | sha256sum | cut -d" " -f1) \
	> fake/v2/app/manifests/long
printf xx > "fake/v2/app/blobs/sha256:$(printf x | sha256sum | cut -d" " -f1)"
FK=$(free_port)
busybox httpd -f -p 127.0.0.1:$FK -h "$T_DIR/fake" &
at_exit "kill $!"
wait_port $FK
expect_success 'a manifest over 4 MiB is refused' '
	! slipway image pull 127.0.0.1:$FK/app:big -o big 2>err &&
	expect_contains "$(cat err)" "over the 4194304 byte cap"
'
expect_success 'a blob longer than its descriptor is cut off and refused' '
	! slipway image pull 127.0.0.1:$FK/app:long -o long 2>err &&
	expect_contains "$(cat err)" "larger than the 1 bytes" &&
	test -z "$(ls -A long/blobs/sha256)"
'

# Basic auth: docker-registry with htpasswd.
htpasswd_line alice s3cret > htpasswd
start_registry basic "auth:
  htpasswd:
    realm: slipway-test
    path: $T_DIR/htpasswd" || skip_all "docker-registry (htpasswd) did not start"
B=127.0.0.1:$REG_PORT
expect_success 'basic auth: no credentials is a clear error' '
	! slipway image push img:v1 $B/app:v1 2>err &&
	expect_contains "$(cat err)" "asks for a login"
'
expect_success 'basic auth: wrong credentials are refused' '
	! slipway image push img:v1 $B/app:v1 --user alice:wrong 2>err &&
	expect_contains "$(cat err)" "access denied"
'
expect_success 'basic auth: --user pushes, env credentials pull' '
	slipway image push img:v1 $B/app:v1 --user alice:s3cret >/dev/null &&
	SLIPWAY_REGISTRY_USER=alice SLIPWAY_REGISTRY_PASSWORD=s3cret \
		slipway image pull $B/app:v1 -o bback >/dev/null &&
	expect_eq "$D" "$(layout_digest bback v1)"
'

# The token flow: docker-registry trusts a key whose JWTs a busybox httpd
# realm hands out behind Basic auth.  The token grants repository "app"
# only.
mkdir -p tok/www
openssl req -x509 -newkey rsa:2048 -nodes -keyout tok/key.pem -out tok/cert.pem \
	-days 2 -subj /CN=slipway-test >/dev/null 2>&1
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
now=$(date +%s)
jh=$(printf '{"typ":"JWT","alg":"RS256","x5c":["%s"]}' \
	"$(openssl x509 -in tok/cert.pem -outform DER | base64 -w0)" | b64url)
jc=$(printf '{"iss":"slipway-test","sub":"alice","aud":"slipway-registry","exp":%d,"nbf":%d,"iat":%d,"jti":"t1","access":[{"type":"repository","name":"app","actions":["pull","push"]}]}' \
	$((now + 3600)) $((now - 60)) $((now - 60)) | b64url)
js=$(printf '%s.%s' "$jh" "$jc" | openssl dgst -sha256 -sign tok/key.pem | b64url)
printf '{"token":"%s.%s.%s","expires_in":3600}' "$jh" "$jc" "$js" > tok/www/token
echo "/token:alice:s3cret" > tok/httpd.conf
TP=$(free_port)
busybox httpd -f -p 127.0.0.1:$TP -h "$T_DIR/tok/www" -c "$T_DIR/tok/httpd.conf" &
at_exit "kill $!"
wait_port $TP
start_registry token "auth:
  token:
    realm: http://127.0.0.1:$TP/token
    service: slipway-registry
    issuer: slipway-test
    rootcertbundle: $T_DIR/tok/cert.pem" || skip_all "docker-registry (token) did not start"
K=127.0.0.1:$REG_PORT
expect_success 'token flow: the realm refuses anonymous access' '
	! slipway image push img:v1 $K/app:v1 2>err &&
	expect_contains "$(cat err)" "refused anonymous access"
'
expect_success 'token flow: with credentials the token is fetched and used' '
	slipway image push img:v1 $K/app:v1 --user alice:s3cret --json > t1.json &&
	expect_eq "$D" "$(jq -r .digest t1.json)" &&
	slipway image pull $K/app:v1 -o tback --user alice:s3cret >/dev/null &&
	expect_eq "$D" "$(layout_digest tback v1)"
'
expect_success 'token flow: a repository the token does not grant is refused' '
	! slipway image push img:v1 $K/other:v1 --user alice:s3cret 2>err &&
	expect_contains "$(cat err)" "access denied with the token"
'

# Transient failures: a proxy that answers 503 to every 4th request, drops
# the answer to the first PATCH and cuts the first blob download short.
if command -v python3 >/dev/null; then
	FP=$(free_port)
	python3 "$SLIPWAY_TOP/tests/integration/flaky-proxy.py" $FP ${R#*:} "$T_DIR/flaky.log" &
	at_exit "kill $!"
	wait_port $FP
	expect_success 'push retries through 503s and a lost PATCH answer' '
		slipway image push img:v1 127.0.0.1:$FP/flaky:v1 --chunk-size 64K 2>err >/dev/null &&
		expect_contains "$(cat err)" "retrying" &&
		grep -q "^PATCH .* -> dropped" flaky.log && grep -q -- "-> 503$" flaky.log &&
		expect_eq "$D" "$(skopeo inspect --tls-verify=false docker://$R/flaky:v1 | jq -r .Digest)"
	'
	expect_success 'pull retries a cut download and keeps only verified bytes' '
		slipway image pull 127.0.0.1:$FP/flaky:v1 -o fback 2>err >/dev/null &&
		grep -q -- "-> cut at" flaky.log &&
		expect_eq "$D" "$(layout_digest fback v1)" &&
		slipway image inspect fback:v1 --verify >/dev/null
	'
else
	skip 'retries through a flaky proxy' "python3 is not installed"
fi
test_done
