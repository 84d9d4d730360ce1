#!/usr/bin/env bash
# The registry's store when a blob it has already is pushed again (by a
# client that did not HEAD first, or by two pushes racing): the upload is
# still read and verified whole, the stored copy is linked, and nothing of
# the upload stays behind.  Also blobs served both ways (copied through a
# buffer, the default, and with --sendfile), whole and by range.
. "$(dirname "$0")/lib.sh"

for p in curl jq; do
	command -v $p >/dev/null || skip_all "$p is not installed"
done

PORT=$(free_port)
R=http://127.0.0.1:$PORT
ROOT=$T_DIR/reg
slipway registry --listen 127.0.0.1:$PORT --root "$ROOT" >registry.log 2>&1 &
pid=$!
at_exit "kill $pid; wait $pid"
wait_port $PORT || skip_all "the registry did not start: $(cat registry.log)"
TOKEN=$(slipway registry token --repo a --repo b --actions pull,push)

req() { # METHOD PATH [curl args...]: status; headers in hdr, body in body
	local m=$1 p=$2; shift 2
	if [ "$m" = HEAD ]; then set -- -I "$@"; else set -- -X "$m" "$@"; fi
	curl -s -o body -D hdr -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
		"$@" "$R$p"
}
header() { grep -i "^$1:" hdr | head -1 | cut -d' ' -f2- | tr -d '\r'; }
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
blob_path() { local h=${1#sha256:}; echo "$ROOT/blobs/sha256/${h:0:2}/$h"; }
# no session and no temp entry left (the retired session is removed once
# the answer is out, so give it a moment)
nothing_left() {
	for _ in $(seq 50); do
		[ -z "$(ls -A "$ROOT/uploads" "$ROOT/tmp" | grep -v ':$' | grep .)" ] && return 0
		sleep 0.1
	done
	echo "left behind:"; ls -la "$ROOT/uploads" "$ROOT/tmp"; return 1
}

head -c 3000000 /dev/urandom >blob.bin
BLOB=$(sha blob.bin)

expect_success 'first push stores the blob' '
	expect_eq 201 "$(req POST "/v2/a/blobs/uploads/?digest=$BLOB" --data-binary @blob.bin)" &&
	cmp blob.bin "$(blob_path $BLOB)" &&
	nothing_left
'
INODE=$(stat -c %i "$(blob_path $BLOB)")
expect_success 'the same bytes pushed again (another repo, a session): 201, the stored copy kept' '
	expect_eq 202 "$(req POST /v2/b/blobs/uploads/)" &&
	loc=$(header Location) &&
	expect_eq 201 "$(req PUT "$loc?digest=$BLOB" --data-binary @blob.bin)" &&
	expect_eq "$BLOB" "$(header Docker-Content-Digest)" &&
	expect_eq "$INODE" "$(stat -c %i "$(blob_path $BLOB)")" "inode of the stored blob" &&
	expect_eq 200 "$(req GET "/v2/b/blobs/$BLOB")" && cmp blob.bin body &&
	nothing_left
'
expect_success 'a wrong digest on a re-push is still refused, nothing linked' '
	head -c 3000000 /dev/urandom >other.bin &&
	expect_eq 202 "$(req POST /v2/b/blobs/uploads/)" &&
	loc=$(header Location) &&
	expect_eq 400 "$(req PUT "$loc?digest=$BLOB" --data-binary @other.bin)" &&
	expect_eq DIGEST_INVALID "$(jq -r ".errors[0].code" body)" &&
	cmp blob.bin "$(blob_path $BLOB)" &&
	nothing_left
'
expect_success 'a stored copy of the wrong size is replaced by the verified upload' '
	chmod u+w "$(blob_path $BLOB)" && truncate -s 1000 "$(blob_path $BLOB)" &&
	expect_eq 201 "$(req POST "/v2/a/blobs/uploads/?digest=$BLOB" --data-binary @blob.bin)" &&
	cmp blob.bin "$(blob_path $BLOB)" &&
	grep -q "replacing it" registry.log &&
	nothing_left
'
expect_success 'blob GET copied through the buffer: whole, by range, HEAD' '
	expect_eq 200 "$(req GET "/v2/a/blobs/$BLOB")" && cmp blob.bin body &&
	expect_eq 206 "$(req GET "/v2/a/blobs/$BLOB" -H "Range: bytes=1048570-2097160")" &&
	cmp <(tail -c +1048571 blob.bin | head -c 1048591) body &&
	expect_eq 200 "$(req HEAD "/v2/a/blobs/$BLOB")" &&
	expect_eq 3000000 "$(header Content-Length)"
'
SPORT=$(free_port)
slipway registry --listen 127.0.0.1:$SPORT --root "$ROOT" --sendfile >registry2.log 2>&1 &
spid=$!
at_exit "kill $spid; wait $spid"
wait_port $SPORT
expect_success 'blob GET with --sendfile: whole and by range' '
	R=http://127.0.0.1:$SPORT &&
	expect_eq 200 "$(req GET "/v2/a/blobs/$BLOB")" && cmp blob.bin body &&
	expect_eq 206 "$(req GET "/v2/a/blobs/$BLOB" -H "Range: bytes=-10")" &&
	cmp <(tail -c 10 blob.bin) body
'
test_done
