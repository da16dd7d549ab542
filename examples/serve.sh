#!/bin/bash
# Builds bridge and serves the example native module
# (examples/native/hello.c) with bridge's own HTTP/1.1 front end, until
# Ctrl-C:
#
#	bash examples/serve.sh              # http://127.0.0.1:8000/
#	bash examples/serve.sh :8000        # every address, port 8000
#	curl http://127.0.0.1:8000/
#
# Installs only what the build needs (tests/deps-build.sh: apt-get, as
# root) and stops, starts or reconfigures nothing else on the machine.
# Builds in build/ (BRIDGE_BUILD_DIR to change it).  As root, the workers
# switch to the user nobody once the port is bound: bridge does not run
# an application as root.
set -euo pipefail
addr=${1:-127.0.0.1:8000}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BRIDGE_BUILD_DIR:-$top/build}
cd "$top"
bash tests/deps-build.sh
if [ ! -x configure ] || [ configure.ac -nt configure ] ||
	[ Makefile.am -nt Makefile.in ]; then
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$build"
(cd "$build" && { [ -f Makefile ] || "$top/configure" -q; } &&
	make -j2 >/dev/null)
user=()
if [ "$(id -u)" = 0 ]; then
	user=(--user nobody)
fi
case $addr in
:*) shown=127.0.0.1$addr ;;
*) shown=$addr ;;
esac
echo "serving http://$shown/ ; Ctrl-C stops"
exec "$build/bridge/bridge" --http "$addr" "${user[@]}" \
	--module "$build/examples/native/.libs/hello.so" -w 2
