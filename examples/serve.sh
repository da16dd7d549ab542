#!/bin/bash
# Builds bridge and serves the example native module on http://127.0.0.1:8000/
# behind nginx over FastCGI (a unix socket), until Ctrl-C.
#
#	bash examples/serve.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tests/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p build
(cd build && ../configure -q && make -j2 >/dev/null)

run=$(mktemp -d /tmp/bridge-example.XXXXXX)
sed -e "s|@RUN@|$run|g" conf/nginx-example.conf >"$run/nginx.conf"
mkdir -p "$run/nginx"
cleanup() {
	nginx -c "$run/nginx.conf" -p "$run/nginx" -s stop 2>/dev/null || true
	[ -n "${bridge_pid:-}" ] && kill "$bridge_pid" 2>/dev/null
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
build/bridge/bridge --fastcgi "unix:$run/bridge.sock" --socket-mode 0666 \
	--module build/examples/native/.libs/hello.so -w 2 &
bridge_pid=$!
nginx -c "$run/nginx.conf" -p "$run/nginx"
echo "serving http://127.0.0.1:8000/ (nginx -> FastCGI -> bridge); Ctrl-C stops"
wait "$bridge_pid"
