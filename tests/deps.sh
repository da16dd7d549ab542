#!/bin/bash
# Installs what bridge needs to build, test and benchmark, from Debian's
# packages.  Idempotent; run as root.  Used by tests/run-all.sh; the
# build dependencies alone are tests/deps-build.sh (examples/serve.sh).
set -euo pipefail
. "$(dirname "$0")/deps-build.sh"

test_packages=(
	# fuzzing and sanitizers
	clang libclang-rt-dev
	# real peers for the end-to-end tests
	nginx-light apache2 haproxy curl libfcgi-bin spawn-fcgi fcgiwrap
	libnginx-mod-stream
	openssl wrk systemd lighttpd
	# a module author's memory checker (test_valgrind.py)
	valgrind
	python3 python3-flask python3-django
	procps iproute2 util-linux
	# /etc/mime.types for --static-map (test_static_map.py)
	media-types
	# conf/bridge.logrotate, run by test_deploy_logs.py
	logrotate
	# line and branch coverage (tests/coverage.sh)
	lcov
	# the --stats status page, rendered headless (test_stats.py)
	chromium fonts-liberation
	# ASGI: the frameworks of the compatibility grid and the peers of
	# the benchmark (uvicorn with httptools and uvloop, hypercorn)
	python3-fastapi python3-starlette python3-quart
	python3-uvicorn python3-httptools python3-uvloop python3-hypercorn
	python3-multipart python3-aiofiles
	# the Debian package (debian/): dpkg-buildpackage and lintian
	debhelper fakeroot lintian
)
deps_install "${build_packages[@]}" "${test_packages[@]}"
# Debian starts the servers it installs; the tests run their own.  Only
# here, for the test machine: examples/serve.sh stops nothing.
for s in nginx apache2 haproxy lighttpd; do
	service "$s" stop >/dev/null 2>&1 || true
done
