#!/usr/bin/env bash
# Image layouts: stack import, image build, inspect, and tools we did not
# write reading what we wrote (umoci unpack, skopeo inspect, skopeo copy
# into docker-registry and our client pulling it back).
. "$(dirname "$0")/lib.sh"
. "$SLIPWAY_TOP/tests/integration/image-lib.sh"

for t in jq skopeo umoci; do
	command -v $t >/dev/null || skip_all "$t is not installed"
done
[ -x /bin/busybox ] || skip_all "busybox-static is not installed"
unset SOURCE_DATE_EPOCH

make_slug slug.tgz "hello from slipway"

expect_success 'stack import --busybox makes a tagged layout' '
	out=$(slipway stack import --busybox -o stack) &&
	expect_contains "$out" "imported stack:latest sha256:" &&
	test -f stack/oci-layout && test -f stack/index.json &&
	test "$(layout_digest stack latest)" != ""
'
expect_success 'stack import --busybox is reproducible' '
	slipway stack import --busybox -o stack2 >/dev/null &&
	expect_eq "$(layout_digest stack latest)" "$(layout_digest stack2 latest)" &&
	diff -r stack stack2
'
expect_success 'stack import --dir keeps modes and links, not owners or times' '
	mkdir -p tree/bin tree/etc && printf "#!/bin/sh\necho hi\n" > tree/bin/hi &&
	chmod 755 tree/bin/hi && ln -s hi tree/bin/hello && echo x > tree/etc/c &&
	slipway stack import --dir tree -o dstack --tag base >/dev/null &&
	touch -d 2001-02-03 tree/etc/c && chown 12:34 tree/etc/c &&
	slipway stack import --dir tree -o dstack2 --tag base >/dev/null &&
	expect_eq "$(layout_digest dstack base)" "$(layout_digest dstack2 base)"
'
expect_failure 'stack import refuses a fifo' '
	mkdir -p ftree && mkfifo ftree/pipe &&
	slipway stack import --dir ftree -o fstack
'
expect_success 'image build writes an OCI image on the stack' '
	out=$(slipway image build --slug slug.tgz --base stack:latest -o img \
		--tag v1 --process "web=httpd -f -p \$PORT -h /app" \
		--process "worker=sleep 1000" --revision 0123abc \
		--source https://example.com/app.git) &&
	expect_contains "$out" "built img:v1 sha256:" &&
	expect_eq "$(layout_digest img v1)" "${out##* }"
'
expect_success 'image build is reproducible; the time comes only from the caller' '
	args="--slug slug.tgz --base stack -o" &&
	p="--process web=httpd" &&
	a=$(slipway image build $args r1 --tag v1 $p | cut -d" " -f3) &&
	b=$(slipway image build $args r2 --tag v1 $p | cut -d" " -f3) &&
	expect_eq "$a" "$b" &&
	c=$(SOURCE_DATE_EPOCH=1700000000 slipway image build $args r3 --tag v1 $p | cut -d" " -f3) &&
	d=$(slipway image build $args r4 --tag v1 $p --created 2023-11-14T22:13:20Z | cut -d" " -f3) &&
	test "$a" != "$c" && expect_eq "$c" "$d"
'
expect_success 'inspect shows config, labels, process types and diff_ids' '
	slipway image inspect img:v1 --json > insp.json &&
	expect_eq "$(layout_digest img v1)" "$(jq -r .digest insp.json)" &&
	expect_eq /app "$(jq -r .workingDir insp.json)" &&
	expect_eq "httpd -f -p \$PORT -h /app" "$(jq -r ".cmd[2]" insp.json)" &&
	expect_eq "sleep 1000" "$(jq -r .processTypes.worker insp.json)" &&
	expect_eq 0123abc "$(jq -r ".labels[\"org.opencontainers.image.revision\"]" insp.json)" &&
	expect_eq https://example.com/app.git "$(jq -r ".labels[\"org.opencontainers.image.source\"]" insp.json)" &&
	expect_eq 1970-01-01T00:00:00Z "$(jq -r ".labels[\"org.opencontainers.image.created\"]" insp.json)" &&
	expect_eq PORT=5000 "$(jq -r ".env[1]" insp.json)" &&
	expect_eq 2 "$(jq ".layers | length" insp.json)"
'
expect_success 'the slug layer is the slug, and its diff_id is gunzip | sha256sum' '
	expect_eq "sha256:$(sha256sum < slug.tgz | cut -d" " -f1)" "$(jq -r ".layers[1].digest" insp.json)" &&
	expect_eq "sha256:$(gunzip -c slug.tgz | sha256sum | cut -d" " -f1)" "$(jq -r ".layers[1].diffId" insp.json)" &&
	l0=$(jq -r ".layers[0].digest" insp.json) &&
	cmp stack/blobs/sha256/${l0#sha256:} img/blobs/sha256/${l0#sha256:}
'
expect_success 'inspect text output' '
	out=$(slipway image inspect img:v1) &&
	expect_contains "$out" "process:      web: httpd" &&
	expect_contains "$out" "platform:     linux/"
'
expect_success 'umoci unpacks our layout' '
	umoci unpack --image img:v1 bundle >/dev/null &&
	expect_eq "hello from slipway" "$(cat bundle/rootfs/app/index.html)" &&
	test -x bundle/rootfs/bin/busybox && test -L bundle/rootfs/bin/sh &&
	expect_eq /app "$(jq -r .process.cwd bundle/config.json)" &&
	expect_eq 1000 "$(jq -r .process.user.uid bundle/config.json)" &&
	grep -q "^app:x:1000:1000:" bundle/rootfs/etc/passwd
'
if [ "$(id -u)" = 0 ]; then
	port=$(free_port)
	PORT=$port chroot bundle/rootfs /bin/sh -c "cd /app && exec $(jq -r '.process.args[2]' bundle/config.json)" >/dev/null 2>&1 &
	web=$!
	at_exit "kill $web"
	expect_success 'the image runs: its web command serves the slug (chroot)' '
		wait_port '"$port"' &&
		expect_eq "hello from slipway" "$(curl -sf http://127.0.0.1:'"$port"'/index.html)"
	'
else
	skip 'the image runs (chroot)' "needs root"
fi
expect_success 'skopeo inspects our layout' '
	skopeo inspect oci:img:v1 > sk.json &&
	expect_eq "$(layout_digest img v1)" "$(jq -r .Digest sk.json)" &&
	expect_eq 0123abc "$(jq -r ".Labels[\"org.opencontainers.image.revision\"]" sk.json)"
'

if start_registry reg; then
	R=127.0.0.1:$REG_PORT
	expect_success 'skopeo copies our layout into docker-registry, digest kept' '
		skopeo copy --quiet --dest-tls-verify=false oci:img:v1 docker://$R/app:v1 &&
		expect_eq "$(layout_digest img v1)" "$(skopeo inspect --tls-verify=false docker://$R/app:v1 | jq -r .Digest)"
	'
	expect_success 'our client pulls what skopeo pushed, digests equal' '
		slipway image pull $R/app:v1 -o back --json > pull.json &&
		expect_eq "$(layout_digest img v1)" "$(jq -r .digest pull.json)" &&
		expect_eq "$(layout_digest img v1)" "$(layout_digest back v1)" &&
		slipway image inspect back:v1 --verify >/dev/null &&
		skopeo inspect oci:back:v1 >/dev/null
	'
else
	skip 'skopeo copy into docker-registry' "docker-registry did not start"
fi

# Bad input: clear errors, nothing half-written.
expect_success 'image build without --slug is a usage error' '
	slipway image build -o x --tag v1 2>err; expect_eq 2 $? && grep -q "usage:" err
'
expect_success 'a slug that is not gzip fails and tags nothing' '
	echo nope > bad.tgz &&
	! slipway image build --slug bad.tgz --base stack -o badimg --tag v1 2>err &&
	expect_contains "$(cat err)" "bad.tgz" && test "$(wc -l < err)" = 1 &&
	expect_eq 0 "$(jq ".manifests | length" badimg/index.json)" &&
	test -z "$(find badimg -name "*.tmp.*")"
'
expect_failure 'a bad tag is refused' '
	slipway image build --slug slug.tgz -o x2 --tag "../v1"
'
expect_success 'inspect --verify finds a corrupt layer; inspect finds a missing one' '
	cp -r img cimg && l1=$(jq -r ".layers[1].digest" insp.json) &&
	f=cimg/blobs/sha256/${l1#sha256:} && rm $f &&
	head -c $(stat -c %s slug.tgz) /dev/zero > $f &&
	slipway image inspect cimg:v1 >/dev/null &&
	! slipway image inspect cimg:v1 --verify 2>err && expect_contains "$(cat err)" "corrupt" &&
	rm $f && ! slipway image inspect cimg:v1 2>err && expect_contains "$(cat err)" "missing"
'
expect_success 'a hostile index.json is refused with a reason' '
	cp -r img himg &&
	printf "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"a/b\",\"size\":1,\"digest\":\"sha256:../../../../etc/passwd\"}]}" > himg/index.json &&
	! slipway image inspect himg 2>err && expect_contains "$(cat err)" "not a valid digest" &&
	echo "{" > himg/index.json &&
	! slipway image inspect himg 2>err && expect_contains "$(cat err)" "not valid JSON"
'
expect_failure 'an unknown tag fails' 'slipway image inspect img:nope'
test_done
