#!/usr/bin/env bash
# Installs the Debian packages slipway needs to build, run and test, quietly
# and only when something is missing.  Needs root (or sudo) to install.
set -eu

pkgs=(
	# build
	gcc make pkg-config
	libgit2-dev libarchive-dev libssh-dev zlib1g-dev libyaml-dev
	libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev libsqlite3-dev
	libssl-dev libdeflate-dev
	# run
	git runc busybox-static openssh-client nftables
	# test peers and benchmarks
	curl skopeo umoci docker-registry wrk nginx-light hyperfine jq sqlite3 bc
	pebble mmdebstrap debootstrap
	openssh-server procps iproute2 ca-certificates python3 time
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "slipway: installing ${missing[*]}" >&2
sudo=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=sudo
	else
		echo "slipway: missing packages (${missing[*]}); run this script as root" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
