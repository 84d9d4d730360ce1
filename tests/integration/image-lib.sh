# Shared by the image tests (t02xx): fixtures and a real registry.
# Source after lib.sh.  Call the start_* functions at the top level of a
# script, not inside expect_success: they register cleanups with at_exit.

# A small slug: app/ with an index page, tar'd and gzip'd reproducibly.
make_slug() { # out.tgz content
	rm -rf "$T_DIR/slugsrc" && mkdir -p "$T_DIR/slugsrc/app" &&
	printf '%s\n' "$2" > "$T_DIR/slugsrc/app/index.html" &&
	tar --sort=name --owner=0 --group=0 --mtime=@0 -C "$T_DIR/slugsrc" \
		-cf - app | gzip -n > "$1"
}

# The manifest digest a layout's index.json names for tag.
layout_digest() { # layout tag
	jq -r --arg t "$2" '.manifests[] |
		select(.annotations["org.opencontainers.image.ref.name"] == $t)
		| .digest' "$1/index.json"
}

# docker-registry (the CNCF Distribution registry) on a free port.
# Sets REG_PORT, REG_LOG (its access log) and REG_DATA (its storage).
start_registry() { # name [yaml for the auth: section]
	local name=$1 auth=${2:-} port pid
	port=$(free_port) || return 1
	mkdir -p "$T_DIR/$name"
	cat > "$T_DIR/$name.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T_DIR/$name/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth
EOF
	docker-registry serve "$T_DIR/$name.yml" > "$T_DIR/$name.log" 2>&1 &
	pid=$!
	at_exit "kill $pid"
	wait_port "$port" 20 || return 1
	REG_PORT=$port REG_LOG=$T_DIR/$name.log REG_DATA=$T_DIR/$name/data
}

# A bcrypt htpasswd line (docker-registry wants bcrypt); perl's crypt()
# is glibc's, which makes $2b$ hashes.
htpasswd_line() { # user password
	perl -e 'my @c = ("a".."z", "A".."Z", 0..9, ".", "/");
		# the 22nd character carries 4 bits: one of . O e u
		my $salt = join("", map { $c[rand @c] } 1..21) .
		    (".", "O", "e", "u")[rand 4];
		my $h = crypt($ARGV[1], "\$2b\$05\$$salt");
		die "no bcrypt in crypt()\n" unless $h =~ /^\$2b\$/;
		print "$ARGV[0]:$h\n"' "$1" "$2"
}
