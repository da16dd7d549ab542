#!/usr/bin/env bash
# tests/bench/stalled_reader.sh — does one client that stops reading slow
# down the other clients of its worker?  (issue 11, item 5; not part of
# `make check`)
#
# One bridge worker (--http, the probe module, --max-spool 8m) under wrk
# keep-alive load (wrk -t1 -c16 --latency, DUR seconds) on "/", twice:
#   base     wrk, and 1 s into the run one more client that asks for
#            "/" and holds its connection (the control)
#   stalled  the same, but the client asks for STALL_BYTES and never
#            reads (4 KiB receive buffer), to the end of the run
# for --threads 1 (the module on the loop thread: past --max-spool the
# stalled response is cut) and --threads 2 (the module's thread waits for
# its own client).  Prints p99 latency, requests/s and wrk timeouts of
# each run and the ratios stalled/base.  A worker frozen by the stalled
# client shows in req/s and timeouts: requests that never end are not in
# wrk's latency figures.
#
# Usage: tests/bench/stalled_reader.sh [BUILD_DIR]	(default ./build)
# Environment: DUR [6] seconds per run, PORT [18580], STALL_BYTES
# [268435456], BRIDGE (binary), PROBE_SO (module).
set -Eeuo pipefail
export LC_ALL=C
# wrk and bridge run as whoever starts the benchmark (root, usually).
export BRIDGE_ALLOW_ROOT=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${1:-$HERE/../../build}
BUILD=$(cd "$BUILD" && pwd)
BRIDGE=${BRIDGE:-$BUILD/bridge/bridge}
PROBE_SO=${PROBE_SO:-$BUILD/tests/apps/.libs/probe.so}
DUR=${DUR:-6}
PORT=${PORT:-18580}
STALL_BYTES=${STALL_BYTES:-268435456}
PY=/usr/bin/python3

command -v wrk >/dev/null || { echo "stalled_reader: wrk not installed" >&2; exit 1; }
[ -x "$BRIDGE" ] || { echo "stalled_reader: no bridge at $BRIDGE" >&2; exit 1; }
[ -f "$PROBE_SO" ] || { echo "stalled_reader: no probe module at $PROBE_SO (make check builds it)" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bridge-stall.XXXXXX")
BPID=
SPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
	if [ -n "$BPID" ]; then
		kill "$BPID" 2>/dev/null || true
		wait "$BPID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# p99 of wrk --latency output, in milliseconds.
p99_ms() {
	awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000
		else if (u == "m") v *= 60000
		printf "%.3f", v }' "$1"
}
rps() { awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$1"; }
# wrk counts requests past its 2 s timeout here; requests that never end
# (a frozen worker) are missing from the latency figures altogether,
# hence req/s as well.
timeouts() {
	awk '/Socket errors/ { for (i = 1; i <= NF; i++) if ($i == "timeout")
		t = $(i + 1) } END { print t + 0 }' "$1"
}

# One client that asks for TARGET and never reads the answer: /big?N
# stalls; "/" (the control in the base run: the same process, the same
# connection held) does not.
stall_client() {
	"$PY" - "$PORT" "$1" <<'EOF' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET %s HTTP/1.1\r\nHost: b\r\n\r\n" % sys.argv[2].encode())
time.sleep(3600)
EOF
	SPID=$!
}

run() {	# threads mode -> prints a row
	local threads=$1 mode=$2 out=$TMP/wrk-$1-$2.txt
	"$BRIDGE" --http "127.0.0.1:$PORT" --module "$PROBE_SO" -w 1 \
	    --threads "$threads" --max-spool 8m --error-log "$TMP/bridge.log" \
	    --log-level warn &
	BPID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
		sleep 0.1
	done
	wrk -t1 -c16 -d"${DUR}s" --latency "http://127.0.0.1:$PORT/" \
	    >"$out" 2>&1 &
	local wpid=$!
	sleep 1
	if [ "$mode" = stalled ]; then
		stall_client "/big?$STALL_BYTES"
	else
		stall_client /
	fi
	wait "$wpid"
	[ -n "$SPID" ] && { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
	SPID=
	kill "$BPID"
	wait "$BPID" || true
	BPID=
	printf '%s\t%s\n' "$(p99_ms "$out")" "$(rps "$out")	$(timeouts "$out")"
}

printf '%-10s %-8s %12s %10s %9s\n' threads run p99_ms req/s timeouts
for t in 1 2; do
	read -r b_p99 b_rps b_to <<<"$(run "$t" base)"
	read -r s_p99 s_rps s_to <<<"$(run "$t" stalled)"
	printf '%-10s %-8s %12s %10s %9s\n' "$t" base "$b_p99" "$b_rps" "${b_to:-0}"
	printf '%-10s %-8s %12s %10s %9s\n' "$t" stalled "$s_p99" "$s_rps" "${s_to:-0}"
	awk -v t="$t" -v b="$b_p99" -v s="$s_p99" -v br="$b_rps" \
	    -v sr="$s_rps" 'BEGIN {
		printf "threads %s: p99 stalled/base = %.2f, req/s " \
		    "stalled/base = %.2f\n", t, (b > 0 ? s / b : 0),
		    (br > 0 ? sr / br : 0) }'
done
grep -h "max-spool" "$TMP/bridge.log" | head -2 || true
