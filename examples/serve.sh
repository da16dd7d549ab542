#!/bin/bash
# Builds bridge and serves the example native module with bridge's own
# HTTP/1.1 front end on port 8000 (every address), until Ctrl-C:
#
#	bash examples/serve.sh
#	curl http://127.0.0.1:8000/
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tests/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
mkdir -p build
(cd build && ../configure -q && make -j2 >/dev/null)
# bridge does not run an application as root: as root, the workers
# switch to nobody once the port is bound.
user=()
if [ "$(id -u)" = 0 ]; then
	user=(--user nobody)
fi
echo "serving http://127.0.0.1:8000/ ; Ctrl-C stops"
exec build/bridge/bridge --http :8000 "${user[@]}" \
	--module build/examples/native/.libs/hello.so -w 2
