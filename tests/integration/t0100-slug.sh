#!/usr/bin/env bash
# slipway slug create / inspect against real git repos made with the git
# CLI, read back with tar, gzip and sha256sum.
. "$(dirname "$0")/lib.sh"

command -v git >/dev/null || skip_all "git is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
export LC_ALL=C.UTF-8 HOME=$T_DIR GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
umask 022

# The app: nested dirs, executables, symlinks, empty files, a 50 MB file,
# non-ASCII names and one with a space, and a .slugignore (log/ stays, as
# an empty directory, as with Heroku: apps write their logs there).
git init -q -b main app
(
	cd app
	mkdir -p bin lib/deep/er 'with space' 'näme' log tmp/cache
	printf 'web: ./bin/web\nworker: ./bin/worker --queue=default\n' > Procfile
	printf '#!/bin/sh\nexec echo web\n' > bin/web
	printf '#!/bin/sh\n' > bin/worker
	chmod +x bin/web bin/worker
	echo 'module Deep' > lib/deep/er/x.rb
	: > lib/empty
	: > 'with space/also empty'
	echo 'üñí' > 'näme/日本語.txt'
	ln -s lib/deep/er/x.rb link
	ln -s ../../etc/passwd lib/outside
	ln -s 'näme/日本語.txt' 'näme link'
	head -c $((50 << 20)) /dev/urandom > lib/big.bin
	echo log > log/a.log
	echo junk > tmp/cache/junk
	echo keep > keep.log.txt
	printf '*.log\n/tmp\n' > .slugignore
	git add -A
	GIT_COMMITTER_DATE='2024-02-03T04:05:06Z' git commit -qm one
)

expect_success 'slug create prints the digest and size of the file it wrote' '
	out=$(slipway slug create --repo app --rev main -o s.tgz) &&
	expect_contains "$out" "digest   sha256:$(sha256sum < s.tgz | cut -c1-64)" &&
	expect_contains "$out" "size     $(stat -c %s s.tgz)" &&
	expect_contains "$out" "commit   $(git -C app rev-parse HEAD)" &&
	expect_contains "$out" "ignored  2"
'

# "perm size path" of every entry, in order, as tar and as git see them.
tar_view() {
	tar --quoting-style=literal -tvzf "$1" |
		sed -E 's/^(\S+) \S+ +([0-9]+) \S+ \S+ (.*)$/\1 \2 \3/; s/ -> .*$//'
}
git_view() {
	echo "drwxr-xr-x 0 app/"
	git -C app -c core.quotePath=false ls-tree -r -t -l "$1" |
		grep -v -e '	log/a.log$' -e '	tmp' |
		awk -F'\t' '{ split($1, a, " "); p = $2
			if (a[1] == "040000") print "drwxr-xr-x 0 app/" p "/"
			else if (a[1] == "100644") print "-rw-r--r-- " a[4] " app/" p
			else if (a[1] == "100755") print "-rwxr-xr-x " a[4] " app/" p
			else if (a[1] == "120000") print "lrwxrwxrwx 0 app/" p
			else print "unexpected " $0 }'
}

expect_success 'tar -tvzf lists what git ls-tree -r lists, in the same order' '
	tar_view s.tgz > tar.view && git_view HEAD > git.view &&
	diff -u git.view tar.view &&
	test $(wc -l < tar.view) -eq 21
'

expect_success 'entries are owned by 0/0 with empty names and the commit time' '
	tar --numeric-owner -tvzf s.tgz | awk "{print \$2}" | sort -u > owners &&
	expect_eq "0/0" "$(cat owners)" &&
	gzip -dc s.tgz | head -c 512 | cut -b 266-329 | tr -d "\0" > unames &&
	expect_eq "" "$(cat unames)" &&
	expect_eq "2024-02-03 04:05" "$(TZ=UTC tar -tvzf s.tgz | head -n 1 | awk "{print \$4, \$5}")"
'

expect_success 'the gzip header has no name and no time' '
	expect_eq "1f8b0800000000000003" "$(head -c 10 s.tgz | od -An -tx1 | tr -d " \n")" &&
	gzip -t s.tgz
'

expect_success 'extracting with tar gives byte-identical files and modes' '
	git clone -q app checkout && rm -rf checkout/.git checkout/log/a.log checkout/tmp &&
	mkdir -p checkout/log &&
	mkdir x && tar -C x -xzf s.tgz &&
	diff -r --no-dereference checkout x/app &&
	(cd checkout && find . -printf "%y %m %s %P %l\n" | sort) > modes.git &&
	(cd x/app && find . -printf "%y %m %s %P %l\n" | sort) > modes.slug &&
	diff -u modes.git modes.slug &&
	cmp app/lib/big.bin x/app/lib/big.bin
'

expect_success 'the diff_id is the sha256 of the tar inside' '
	slipway slug create --repo app -o j.tgz --json > j.json &&
	expect_eq "sha256:$(gzip -dc j.tgz | sha256sum | cut -c1-64)" "$(jq -r .diff_id j.json)" &&
	expect_eq "sha256:$(sha256sum < j.tgz | cut -c1-64)" "$(jq -r .digest j.json)" &&
	expect_eq "$(stat -c %s j.tgz)" "$(jq -r .size j.json)" &&
	expect_eq 1706933106 "$(jq -r .mtime j.json)"
'

expect_success 'two clones, slugged at different times, give the same bytes' '
	git clone -q --no-local --bare app c1.git &&
	sleep 1 && git clone -q --no-local app c2 && git -C c2 repack -adfq &&
	TZ=Asia/Tokyo slipway slug create --repo c1.git -o c1.tgz >/dev/null &&
	sleep 1 &&
	LC_ALL=C TZ=America/Lima slipway slug create --repo c2 --rev origin/main -o c2.tgz >/dev/null &&
	cmp s.tgz c1.tgz && cmp s.tgz c2.tgz
'

expect_success 'changing one byte of one file changes the digest' '
	git clone -q app one && (cd one &&
		printf "module Deeq\n" > lib/deep/er/x.rb && git commit -qam byte) &&
	slipway slug create --repo one --json -o one.tgz > one.json &&
	a=$(jq -r .digest j.json) && b=$(jq -r .digest one.json) &&
	test "$a" != "$b" &&
	test "$(stat -c %s one.tgz)" -gt 0
'

expect_success 'slug inspect shows digest, size, process types and entries' '
	out=$(slipway slug inspect s.tgz) &&
	expect_contains "$out" "digest   sha256:$(sha256sum < s.tgz | cut -c1-64)" &&
	expect_contains "$out" "size     $(stat -c %s s.tgz)" &&
	expect_contains "$out" "  web: ./bin/web" &&
	expect_contains "$out" "  worker: ./bin/worker --queue=default" &&
	expect_contains "$out" "lrwxrwxrwx          0  app/link -> lib/deep/er/x.rb" &&
	expect_contains "$out" "app/näme/日本語.txt" &&
	slipway slug inspect --json s.tgz > i.json &&
	expect_eq "./bin/web" "$(jq -r .process_types.web i.json)" &&
	expect_eq 21 "$(jq ".entries | length" i.json)" &&
	expect_eq "$(jq -r .diff_id j.json)" "$(jq -r .diff_id i.json)"
'

expect_success '-o - writes the slug to stdout and the summary to stderr' '
	slipway slug create --repo app -o - > out.tgz 2> summary &&
	cmp s.tgz out.tgz && expect_contains "$(cat summary)" "digest   sha256:" &&
	slipway slug create --repo app -o - --json 2> summary.json | cmp - s.tgz &&
	expect_eq "$(jq -r .digest j.json)" "$(jq -r .digest summary.json)"
'

expect_success '--gzip zlib writes one gzip member of the same tar' '
	slipway slug create --repo app --gzip zlib --level 1 --json -o z.tgz > z.json &&
	gzip -t z.tgz &&
	expect_eq "$(jq -r .diff_id j.json)" "$(jq -r .diff_id z.json)"
'

# ---- broken and hostile input

expect_success 'a malformed Procfile: inspect names the line and fails' '
	git clone -q app bad && (cd bad &&
		printf "web: ok\nthis is not a process\n" > Procfile &&
		git commit -qam bad) &&
	slipway slug create --repo bad -o bad.tgz >/dev/null &&
	out=$(slipway slug inspect bad.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" "exit status" &&
	expect_contains "$out" "Procfile line 2: expected '"'"'type: command'"'"'"
'

expect_success 'unknown rev, a tree rev, a missing repo: one clear line each' '
	out=$(slipway slug create --repo app --rev nope -o n.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" && expect_eq "slipway slug create: unknown revision '"'"'nope'"'"'" "$out" &&
	out=$(slipway slug create --repo app --rev "HEAD^{tree}" -o n.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" && expect_contains "$out" "is a tree, not a commit" &&
	out=$(slipway slug create --repo nowhere -o n.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" && expect_contains "$out" "'"'"'nowhere'"'"' is not a git repository" &&
	test ! -e n.tgz
'

expect_success 'a gitlink is refused, naming its path' '
	git clone -q app sub && (cd sub &&
		git update-index --add --cacheinfo 160000,$(git rev-parse HEAD),vendor/engine &&
		git commit -qm sub) &&
	out=$(slipway slug create --repo sub -o sub.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" &&
	expect_contains "$out" "'"'"'vendor/engine'"'"' is a git submodule; submodules are not supported" &&
	test ! -e sub.tgz && test -z "$(ls | grep tmp)"
'

expect_success 'an oversized slug is refused and nothing is left behind' '
	out=$(slipway slug create --repo app --max-size 20M -o big.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" &&
	expect_contains "$out" "slug is larger than the cap of 20971520 bytes" &&
	test ! -e big.tgz && test -z "$(ls | grep big.tgz)"
'

expect_success '--dir stores symlinks that point outside as links, never followed' '
	mkdir -p outside built/bin && echo "top secret" > outside/secret &&
	echo "web: bin/web" > built/Procfile && echo run > built/bin/web &&
	chmod 755 built/bin/web &&
	ln -s ../outside/secret built/secret && ln -s ../outside built/outdir &&
	ln -s /etc built/etc &&
	slipway slug create --dir built -o d.tgz >/dev/null &&
	tar -tvzf d.tgz > d.list &&
	expect_contains "$(cat d.list)" "app/secret -> ../outside/secret" &&
	expect_contains "$(cat d.list)" "app/outdir -> ../outside" &&
	expect_contains "$(cat d.list)" "app/etc -> /etc" &&
	! grep -q "app/outdir/" d.list && ! grep -q "app/etc/" d.list &&
	! gzip -dc d.tgz | grep -q "top secret" &&
	expect_eq 1980-01-01 "$(TZ=UTC tar -tvzf d.tgz | head -n 1 | awk "{print \$4}")"
'

expect_success '--dir twice over a copy made later gives the same bytes' '
	sleep 1 && cp -a built built2 && touch built2/Procfile &&
	slipway slug create --dir built2 -o d2.tgz >/dev/null && cmp d.tgz d2.tgz
'

expect_success '--objects makes quarantined objects visible' '
	mkdir q && (cd app && echo pushed > pushed.txt &&
		GIT_OBJECT_DIRECTORY=$T_DIR/q GIT_ALTERNATE_OBJECT_DIRECTORIES=$T_DIR/app/.git/objects \
		sh -c "git add pushed.txt && git commit-tree -p HEAD -m q \$(git write-tree) > ../q.commit") &&
	! slipway slug create --repo app --rev $(cat q.commit) -o q.tgz 2>/dev/null &&
	slipway slug create --repo app --objects q --rev $(cat q.commit) -o q.tgz >/dev/null &&
	tar -tzf q.tgz | grep -qx app/pushed.txt
'

expect_success 'inspect refuses what is not a slug' '
	echo hello > plain.txt &&
	out=$(slipway slug inspect plain.txt 2>&1); rc=$?
	expect_eq 1 "$rc" && expect_contains "$out" "is not a slug: it is not gzip" &&
	mkdir -p evil/etc && echo x > evil/etc/passwd &&
	tar -C evil -czf evil.tgz etc &&
	out=$(slipway slug inspect evil.tgz 2>&1); rc=$?
	expect_eq 1 "$rc" && expect_contains "$out" "outside app/"
'

expect_success 'usage errors exit 2' '
	slipway slug create --repo app --dir built -o u.tgz 2>/dev/null; a=$?
	slipway slug create -o u.tgz 2>/dev/null; b=$?
	slipway slug create --repo app --level 13 -o u.tgz 2>/dev/null; c=$?
	slipway slug create --repo app --gzip zlib --level 10 -o u.tgz 2>/dev/null; d=$?
	slipway slug create --dir built --rev main -o u.tgz 2>/dev/null; e=$?
	slipway slug inspect 2>/dev/null; f=$?
	expect_eq "2 2 2 2 2 2" "$a $b $c $d $e $f" && test ! -e u.tgz
'

expect_success 'slug create --help shows the options' '
	out=$(slipway slug create --help) &&
	expect_contains "$out" "--max-size SIZE" && expect_contains "$out" "--objects DIR"
'
test_done
