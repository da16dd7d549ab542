#!/bin/bash
# examples/serve.sh as the README's first command, run as root: it builds
# (here into a directory of the test's), serves the example on
# 127.0.0.1:8000 only (not every address), with its workers as nobody,
# and installs, stops or starts nothing: apt-get, service, systemctl and
# invoke-rc.d are stubs that record any call.  In a network namespace of
# its own, so port 8000 is free and the check of the bound address sees
# only this bridge.
set -u
: "${SRCDIR:?}"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
	! unshare -n true 2>/dev/null; then
	echo "SKIP: needs root and unshare -n"; exit 77
fi
tmp=$(mktemp -d)
chmod 755 "$tmp"	# the workers (nobody) read hello.so under it
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/stubs"
for c in apt-get apt service systemctl invoke-rc.d; do
	printf '#!/bin/sh\necho "%s $*" >>%s/calls\nexit 1\n' "$c" "$tmp" \
		>"$tmp/stubs/$c"
	chmod +x "$tmp/stubs/$c"
done
env -u BRIDGE_ALLOW_ROOT TMP="$tmp" SRCDIR="$SRCDIR" \
	PATH="$tmp/stubs:$PATH" timeout 900 unshare -n bash -c '
	ip link set lo up
	BRIDGE_BUILD_DIR=$TMP/build setsid bash "$SRCDIR/examples/serve.sh" \
		>"$TMP/serve.log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq 1 1200); do
		curl -s -m 5 -o "$TMP/body" http://127.0.0.1:8000/ && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.5
	done
	ss -ltnH >"$TMP/listen"
	ps -o user= --ppid $pid >"$TMP/workers"
	kill -TERM $pid; wait $pid; echo $? >"$TMP/status"
'
pass=0 fail=0
check() {
	if eval "$2"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $1"; fi
}
check "serves the example" 'grep -q "Hello, world!" "$tmp/body" 2>/dev/null ||
	{ tail -20 "$tmp/serve.log"; false; }'
check "on 127.0.0.1:8000" 'grep -q "127.0.0.1:8000 " "$tmp/listen"'
check "and on no other address" '[ "$(wc -l <"$tmp/listen")" -eq 1 ] ||
	{ cat "$tmp/listen"; false; }'
check "workers run as nobody" '[ -s "$tmp/workers" ] &&
	! grep -qv "^nobody$" "$tmp/workers" || { cat "$tmp/workers"; false; }'
check "no package installed, no service touched" '[ ! -e "$tmp/calls" ] ||
	{ cat "$tmp/calls"; false; }'
check "stops cleanly on TERM" '[ "$(cat "$tmp/status")" = 0 ]'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
