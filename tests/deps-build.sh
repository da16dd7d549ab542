#!/bin/bash
# What building bridge needs, from Debian's packages: the compiler and
# autotools, libfcgi, OpenSSL, Check (configure requires it) and the
# CPython embedding headers for the WSGI adapter.  Idempotent: installs
# only the missing ones (apt-get, as root) and changes nothing else.
#
#	bash tests/deps-build.sh        (examples/serve.sh runs it)
#
# tests/deps.sh sources this file for build_packages and deps_install,
# then adds the test peers.
build_packages=(
	build-essential autoconf automake libtool pkg-config
	libfcgi-dev libssl-dev check libpython3-dev python3-dev
)

# deps_install PACKAGE...: install those not installed yet.
deps_install() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages: ${missing[*]}; install them as root" \
			"(apt-get install ${missing[*]})" >&2
		return 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"
}

# Run, not sourced: install the build dependencies.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	deps_install "${build_packages[@]}"
fi
