#!/bin/bash
# Installs what bridge needs to build, test and benchmark, from Debian's
# packages.  Idempotent; run as root.  Used by examples/serve.sh and
# tests/run-all.sh.
set -euo pipefail

packages=(
	# build
	build-essential autoconf automake libtool pkg-config
	libfcgi-dev libssl-dev check libpython3-dev python3-dev
	# fuzzing and sanitizers
	clang libclang-rt-dev
	# real peers for the end-to-end tests
	nginx-light apache2 haproxy curl libfcgi-bin spawn-fcgi fcgiwrap
	libnginx-mod-stream
	openssl wrk systemd
	python3 python3-flask python3-django
	procps iproute2
	# the --stats status page, rendered headless (test_stats.py)
	chromium fonts-liberation
)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian starts the servers it installs; the tests run their own.
for s in nginx apache2 haproxy; do
	service "$s" stop >/dev/null 2>&1 || true
done
