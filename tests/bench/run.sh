#!/usr/bin/env bash
# tests/bench/run.sh — the bridge benchmark (not part of `make check`).
#
# Puts a hello-world app behind nginx (FastCGI) on three servers — bridge with
# examples/native/hello.so, libfcgi (tests/bench/libfcgi_hello.c under
# spawn-fcgi) and uWSGI (tests/bench/hello_wsgi.py) — each with two workers,
# each reached two ways: a new FastCGI connection per request, and
# `fastcgi_keep_conn on` + `upstream { keepalive 32; }`. nginx's own
# `return 200` is the ceiling. All scenarios are measured interleaved, round
# after round, with wrk; the medians, errors, ratios and worker memory are
# printed and written to $OUT (TSV + PNG chart).
#
# Usage (from the top of the tree, after `make`):
#
#	tests/bench/run.sh                      # everything, ~3 minutes
#	ROUNDS=5 DUR=10 tests/bench/run.sh      # longer, steadier
#	tests/bench/run.sh --only 'libfcgi|nginx'   # a subset (regex on names)
#	tests/bench/run.sh --list               # the scenario table
#	BRIDGE=/opt/bridge/bin/bridge HELLO_SO=/tmp/hello.so tests/bench/run.sh
#
# Options (each has an environment twin; the option wins):
#	--bridge PATH	BRIDGE	bridge binary       [./bridge/bridge]
#	--hello-so PATH	HELLO_SO	native hello module [./examples/native/.libs/hello.so]
#	--rounds N	ROUNDS	rounds over all scenarios [3]
#	--dur S		DUR	seconds per wrk run [5]
#	--out DIR	OUT	results directory [tests/bench/out]
#	--only REGEX	ONLY	run only the scenarios whose name matches
#	--tcp		TRANSPORT=tcp	backends on 127.0.0.1 ports, not unix sockets
#	--keep-tmp	KEEP_TMP=1	keep the temp dir (configs, logs) at exit
# Also: THREADS [2] and CONNS [64] (wrk -t/-c), CONNS_HIGH [256] (the
# overload scenarios), WORKERS [2] (processes per backend), WARMUP [1] (s of
# unrecorded wrk per scenario before round 1), PORT [18480] (nginx; TCP
# backends take PORT+1...), CC [cc], WAIT_IDLE [0] (wait up to this many s
# for the machine to be less than 10% busy before starting; it always warns).
# Relative BRIDGE/HELLO_SO are taken from the current directory; the defaults
# are relative to the top of the tree, wherever the script is run from, and
# fall back to ./build/bridge/bridge and ./build/examples/native/.libs/hello.so
# (a build directory) when ./bridge/bridge does not exist.
#
# If the bridge binary or module is missing, bridge scenarios are skipped with
# a message and the peers are still measured. Missing peers are installed with
# apt-get (as root, or through sudo). Everything listens on loopback only;
# every process started is stopped at exit.
#
# To add a scenario, add a row to SCENARIOS below. To add a backend, write a
# start_NAME function (the contract is in the comment before start_bridge)
# and add its rows.

set -Eeuo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3

# An in-tree build puts bridge in ./bridge; a `mkdir build && cd build &&
# ../configure` one in ./build/bridge: take the first that exists.
if [ -z "${BRIDGE:-}" ] && [ -z "${HELLO_SO:-}" ] &&
    ! [ -x "$TOP/bridge/bridge" ] && [ -x "$TOP/build/bridge/bridge" ]; then
	BRIDGE=$TOP/build/bridge/bridge
	HELLO_SO=$TOP/build/examples/native/.libs/hello.so
fi
BRIDGE=${BRIDGE:-$TOP/bridge/bridge}
HELLO_SO=${HELLO_SO:-$TOP/examples/native/.libs/hello.so}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
WARMUP=${WARMUP:-1}
WAIT_IDLE=${WAIT_IDLE:-0}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
CONNS_HIGH=${CONNS_HIGH:-256}
WORKERS=${WORKERS:-2}
PORT=${PORT:-18480}
OUT=${OUT:-$HERE/out}
ONLY=${ONLY:-}
TRANSPORT=${TRANSPORT:-unix}
KEEP_TMP=${KEEP_TMP:-0}
CC=${CC:-cc}
LIST_ONLY=0

# The scenario table. One row per measurement, in run (and chart) order:
#   name       unique; the chart label and the TSV key
#   start      start function of the backend, or - for nginx alone
#   mode       keep   nginx: upstream keepalive 32 + fastcgi_keep_conn on
#              new    nginx: fastcgi_pass straight to the socket, one
#                     connection per request
#              return nginx: return 200 "Hello, world!\n" (no backend)
#   conns      wrk -c
# Each (start, mode) pair gets its own backend instance, so one flavour
# cannot disturb another (a libfcgi process blocks on an idle kept
# connection). The URL is http://127.0.0.1:$PORT/<backend>-<mode>, e.g.
# /bridge-keep; /return for mode return.
scenario_table() {
	SCENARIOS=(
		"nginx-return        -              return  $CONNS"
		"bridge-keep         start_bridge   keep    $CONNS"
		"bridge-new          start_bridge   new     $CONNS"
		"bridge-keep-c$CONNS_HIGH    start_bridge   keep    $CONNS_HIGH"
		"libfcgi-keep        start_libfcgi  keep    $CONNS"
		"libfcgi-new         start_libfcgi  new     $CONNS"
		"libfcgi-keep-c$CONNS_HIGH   start_libfcgi  keep    $CONNS_HIGH"
		"uwsgi-keep          start_uwsgi    keep    $CONNS"
		"uwsgi-new           start_uwsgi    new     $CONNS"
	)
}
# The scenario the ratios are taken from, and the ceiling.
REF_SCENARIO=bridge-keep
CEILING_SCENARIO=nginx-return

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--bridge) BRIDGE=$2; shift 2 ;;
	--hello-so) HELLO_SO=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--dur) DUR=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--tcp) TRANSPORT=tcp; shift ;;
	--keep-tmp) KEEP_TMP=1; shift ;;
	--list) LIST_ONLY=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown argument: $1" >&2; usage 2 >&2 ;;
	esac
done

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

scenario_table
if [ "$LIST_ONLY" = 1 ]; then
	printf '%-20s %-15s %-7s %s\n' NAME START MODE CONNS
	for row in "${SCENARIOS[@]}"; do
		# shellcheck disable=SC2086
		printf '%-20s %-15s %-7s %s\n' $row
	done
	exit 0
fi

for v in ROUNDS DUR WARMUP THREADS CONNS CONNS_HIGH WORKERS PORT WAIT_IDLE; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
if [ "$DUR" -lt 1 ] || [ "$DUR" -gt 120 ]; then die "DUR must be 1..120 s"; fi
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 20 ]; then die "ROUNDS must be 1..20"; fi
case $TRANSPORT in unix | tcp) ;; *) die "TRANSPORT must be unix or tcp" ;; esac

# ---------------------------------------------------------------------------
# Peers: install what is missing.

UWSGI_PY_PLUGIN=/usr/lib/uwsgi/plugins/python3_plugin.so

need_packages() {
	local -a pkgs=()
	command -v nginx >/dev/null || pkgs+=(nginx-light)
	command -v wrk >/dev/null || pkgs+=(wrk)
	command -v spawn-fcgi >/dev/null || pkgs+=(spawn-fcgi)
	[ -e /usr/include/fcgiapp.h ] || pkgs+=(libfcgi-dev)
	command -v cgi-fcgi >/dev/null || pkgs+=(libfcgi-bin)
	command -v uwsgi >/dev/null || pkgs+=(uwsgi-core)
	[ -e "$UWSGI_PY_PLUGIN" ] || pkgs+=(uwsgi-plugin-python3)
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v ps >/dev/null || pkgs+=(procps)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v "$CC" >/dev/null || pkgs+=(gcc libc6-dev)
	[ -x "$PY" ] || pkgs+=(python3)
	echo "${pkgs[*]}"
}

install_peers() {
	local missing sudo=()
	missing=$(need_packages)
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null ||
			die "missing: $missing; run: apt-get install -y $missing"
		sudo=(sudo)
	fi
	log "installing: $missing"
	# shellcheck disable=SC2086
	if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y $missing; then
		"${sudo[@]}" apt-get update
		# nginx-light is gone from newer Debian: plain nginx will do.
		missing=${missing/nginx-light/nginx}
		# shellcheck disable=SC2086
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		    apt-get install -y $missing
	fi
	missing=$(need_packages)
	[ -z "$missing" ] || die "still missing after apt-get: $missing"
}

install_peers

# ---------------------------------------------------------------------------
# Processes: everything started is recorded as pid:starttime, so cleanup
# signals only those processes, never a recycled pid.

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bridge-bench.XXXXXX")
TRACKED=()

proc_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo "${20}"
}

track() {
	local p t
	for p in "$@"; do
		t=$(proc_start "$p") || continue
		TRACKED+=("$p:$t")
	done
}

alive() {
	local t
	t=$(proc_start "${1%%:*}") || return 1
	[ "$t" = "${1#*:}" ] || return 1
	# A zombie is not alive.
	! grep -q '^State:.*Z' "/proc/${1%%:*}/status" 2>/dev/null
}

stop_tracked() {
	local e i
	# A process may exit between the check and the kill: not an error.
	for e in "${TRACKED[@]}"; do
		if alive "$e"; then kill -TERM "${e%%:*}" 2>/dev/null || true; fi
	done
	for ((i = 0; i < 50; i++)); do
		local left=0
		for e in "${TRACKED[@]}"; do
			alive "$e" && left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for e in "${TRACKED[@]}"; do
		if alive "$e"; then kill -KILL "${e%%:*}" 2>/dev/null || true; fi
	done
	TRACKED=()
	wait 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	# Clean up as much as possible whatever fails.
	set +e
	stop_tracked
	if [ "$KEEP_TMP" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# CPU time (utime + stime, in clock ticks) of PIDS, summed.
cpu_ticks() {
	local p stat sum=0 f
	for p in "$@"; do
		stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -ra f <<<"${stat##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# Percent of the machine's CPU time (all CPUs) spent busy over 1 s.
machine_busy() {
	local a b
	a=$(head -n1 /proc/stat)
	sleep 1
	b=$(head -n1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		n = split(a, x); split(b, y)
		for (i = 2; i <= n; i++) {
			d = y[i] - x[i]; tot += d
			if (i == 5 || i == 6) idle += d
		}
		printf "%.0f\n", tot ? 100 * (tot - idle) / tot : 0
	}'
}

# ---------------------------------------------------------------------------
# Backends. A start function is called as `start_NAME INSTANCE ADDR`, where
# ADDR is unix:/path or 127.0.0.1:port. It starts WORKERS workers serving
# FastCGI on ADDR in the background, logging to $TMP/INSTANCE.log, and sets
#   INST_MASTER[INSTANCE]   the pid to watch (empty if none stays around)
#   INST_PIDFILE[INSTANCE]  a file of worker pids (empty: the master's
#                           children are the workers; no children: the
#                           master is the only worker)
# It returns non-zero with SKIP_REASON set if it cannot run here.

declare -A INST_ADDR=() INST_MASTER=() INST_PIDFILE=() INST_STATE=() INST_WORKERS=()
SKIP_REASON=

BRIDGE_BIN='' HELLO_BIN='' BRIDGE_DESC=''
prepare_bridge() {
	[ -n "$BRIDGE_BIN" ] && return 0
	[ -x "$BRIDGE" ] || {
		SKIP_REASON="no bridge binary at $BRIDGE (build it, or set BRIDGE=)"
		return 1
	}
	[ -r "$HELLO_SO" ] || {
		SKIP_REASON="no hello module at $HELLO_SO (build examples/native, or set HELLO_SO=)"
		return 1
	}
	# Run private copies, so a rebuild during the run cannot change them;
	# a libtool wrapper script must stay where it is.
	if [ "$(head -c4 "$BRIDGE" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		cp "$BRIDGE" "$TMP/bridge"
		BRIDGE_BIN=$TMP/bridge
	else
		BRIDGE_BIN=$(cd "$(dirname "$BRIDGE")" && pwd)/$(basename "$BRIDGE")
	fi
	cp "$HELLO_SO" "$TMP/hello.so"
	HELLO_BIN=$TMP/hello.so
	BRIDGE_DESC="bridge $BRIDGE ($(stat -c %y "$BRIDGE" | cut -d. -f1), sha256 $(sha256sum "$BRIDGE_BIN" | cut -c1-12)), module $HELLO_SO"
}

BRIDGE_NOTE=''
start_bridge() {
	local inst=$1 addr=$2
	prepare_bridge || { BRIDGE_NOTE=$SKIP_REASON; return 1; }
	"$BRIDGE_BIN" --fastcgi "$addr" --module "$HELLO_BIN" -w "$WORKERS" \
	    >"$TMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
}

LIBFCGI_BIN=
start_libfcgi() {
	local inst=$1 addr=$2
	local -a where
	if [ -z "$LIBFCGI_BIN" ]; then
		"$CC" -O2 -Wall -o "$TMP/libfcgi_hello" "$HERE/libfcgi_hello.c" \
		    -lfcgi >"$TMP/libfcgi-build.log" 2>&1 || {
			SKIP_REASON="cannot build libfcgi_hello.c: $(tail -n3 "$TMP/libfcgi-build.log")"
			return 1
		}
		LIBFCGI_BIN=$TMP/libfcgi_hello
	fi
	case $addr in
	unix:*) where=(-s "${addr#unix:}") ;;
	*) where=(-a "${addr%:*}" -p "${addr##*:}") ;;
	esac
	# spawn-fcgi forks the workers and exits; their pids go to -P.
	spawn-fcgi -F "$WORKERS" "${where[@]}" -P "$TMP/$inst.pid" \
	    -- "$LIBFCGI_BIN" >"$TMP/$inst.log" 2>&1 || {
		SKIP_REASON="spawn-fcgi failed: $(tail -n3 "$TMP/$inst.log")"
		return 1
	}
	INST_MASTER[$inst]=
	INST_PIDFILE[$inst]=$TMP/$inst.pid
}

start_uwsgi() {
	local inst=$1 addr=$2
	# --die-on-term: without it a uWSGI master takes TERM as "reload".
	uwsgi --plugin python3 --fastcgi-socket "${addr#unix:}" \
	    --processes "$WORKERS" --master --die-on-term --disable-logging \
	    --wsgi-file "$HERE/hello_wsgi.py" >"$TMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
}

addr_ready() {
	local addr=$1
	case $addr in
	unix:*) [ -S "${addr#unix:}" ] ;;
	*) (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null ;;
	esac
}

# Start INSTANCE with START, wait until it listens. 0 ok, 1 skipped.
NEXT_PORT=$((PORT + 1))
start_instance() {
	local start=$1 inst=$2 addr i master
	if [ "$TRANSPORT" = unix ]; then
		addr=unix:$TMP/$inst.sock
	else
		addr=127.0.0.1:$NEXT_PORT
		NEXT_PORT=$((NEXT_PORT + 1))
		! addr_ready "$addr" || die "port ${addr##*:} is taken; set PORT="
	fi
	INST_ADDR[$inst]=$addr
	SKIP_REASON=
	if ! "$start" "$inst" "$addr"; then
		INST_STATE[$inst]="skipped: $SKIP_REASON"
		return 1
	fi
	master=${INST_MASTER[$inst]}
	[ -n "$master" ] && track "$master"
	for ((i = 0; i < 100; i++)); do
		addr_ready "$addr" && break
		if [ -n "$master" ] && ! kill -0 "$master" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if ! addr_ready "$addr"; then
		INST_STATE[$inst]="skipped: $inst did not listen on $addr; log: $(tail -n3 "$TMP/$inst.log" | tr '\n' ' ')"
		return 1
	fi
	INST_STATE[$inst]=ok
}

# The worker pids of INSTANCE (see the start function contract).
find_workers() {
	local inst=$1 master=${INST_MASTER[$1]} pids=
	if [ -n "${INST_PIDFILE[$inst]}" ]; then
		pids=$(tr '\n' ' ' <"${INST_PIDFILE[$inst]}")
	elif [ -n "$master" ]; then
		pids=$(children "$master" | tr '\n' ' ')
		[ -n "${pids// /}" ] || pids=$master
	fi
	echo "$pids"
}

# Master (if it is not itself the worker) and workers of INSTANCE.
inst_pids() {
	local m=${INST_MASTER[$1]} w=${INST_WORKERS[$1]}
	if [ -n "$m" ] && [[ " $w " != *" $m "* ]]; then
		echo "$m $w"
	else
		echo "$w"
	fi
}

# Sample every backend instance for 2 s without load, into INST_IDLE (% of
# one CPU). A server that burns CPU while idle takes it from whichever
# scenario is measured next, so this is checked before and after the rounds.
declare -A INST_IDLE=()
idle_check() {
	local when=$1 inst hz i=0 t1 pct
	local -a insts=() t0=()
	hz=$(getconf CLK_TCK)
	for inst in $(printf '%s\n' "${!INST_WORKERS[@]}" | sort); do
		insts+=("$inst")
		# shellcheck disable=SC2046
		t0+=("$(cpu_ticks $(inst_pids "$inst"))")
	done
	sleep 2
	for inst in "${insts[@]}"; do
		# shellcheck disable=SC2046
		t1=$(cpu_ticks $(inst_pids "$inst"))
		pct=$(((t1 - t0[i]) * 100 / (2 * hz)))
		INST_IDLE[$inst]=$pct
		if [ "$pct" -ge 5 ]; then
			log "WARNING: $inst used $pct% of a CPU while idle ($when):" \
			    "it slows down every scenario measured with it running"
		fi
		i=$((i + 1))
	done
}

# ---------------------------------------------------------------------------
# nginx, generated from the instances that started.

write_nginx_conf() {
	local conf=$TMP/nginx.conf inst addr
	mkdir -p "$TMP/nginx"
	{
		echo "worker_processes 2;"
		echo "pid $TMP/nginx.pid;"
		echo "error_log $TMP/nginx-error.log warn;"
		# Workers must reach the sockets in our 0700 temp dir.
		[ "$(id -u)" = 0 ] && echo "user root root;"
		echo "events { worker_connections 2048; }"
		echo "http {"
		echo "  access_log off;"
		echo "  keepalive_requests 1000000;"
		for d in client_body fastcgi proxy uwsgi scgi; do
			echo "  ${d}_temp_path $TMP/nginx/$d;"
		done
		for inst in "${!INST_STATE[@]}"; do
			[ "${INST_STATE[$inst]}" = ok ] || continue
			[ "${inst##*-}" = keep ] || continue
			echo "  upstream $inst { server ${INST_ADDR[$inst]}; keepalive 32; }"
		done
		echo "  server {"
		echo "    listen 127.0.0.1:$PORT;"
		printf '%s\n' '    location = /return { default_type text/plain; return 200 "Hello, world!\n"; }'
		for inst in "${!INST_STATE[@]}"; do
			[ "${INST_STATE[$inst]}" = ok ] || continue
			addr=${INST_ADDR[$inst]}
			echo "    location = /$inst {"
			echo "      include $TMP/fastcgi_params;"
			case ${inst##*-} in
			keep) echo "      fastcgi_pass $inst; fastcgi_keep_conn on;" ;;
			new) echo "      fastcgi_pass $addr;" ;;
			*) die "unknown mode in instance $inst" ;;
			esac
			echo "    }"
		done
		echo "  }"
		echo "}"
	} >"$conf"
	cat >"$TMP/fastcgi_params" <<-'EOF'
	fastcgi_param GATEWAY_INTERFACE CGI/1.1;
	fastcgi_param SERVER_SOFTWARE   nginx/$nginx_version;
	fastcgi_param REQUEST_METHOD    $request_method;
	fastcgi_param REQUEST_SCHEME    $scheme;
	fastcgi_param REQUEST_URI       $request_uri;
	fastcgi_param DOCUMENT_URI      $document_uri;
	fastcgi_param SCRIPT_NAME       "";
	fastcgi_param PATH_INFO         $uri;
	fastcgi_param QUERY_STRING      $query_string;
	fastcgi_param CONTENT_TYPE      $content_type;
	fastcgi_param CONTENT_LENGTH    $content_length;
	fastcgi_param SERVER_PROTOCOL   $server_protocol;
	fastcgi_param SERVER_ADDR       $server_addr;
	fastcgi_param SERVER_PORT       $server_port;
	fastcgi_param SERVER_NAME       $server_name;
	fastcgi_param REMOTE_ADDR       $remote_addr;
	fastcgi_param REMOTE_PORT       $remote_port;
	EOF
}

NGINX_MASTER=
start_nginx() {
	local i
	! addr_ready "127.0.0.1:$PORT" || die "port $PORT is taken; set PORT="
	write_nginx_conf
	nginx -t -c "$TMP/nginx.conf" -p "$TMP/nginx" >"$TMP/nginx-t.log" 2>&1 ||
		die "nginx rejects its config: $(cat "$TMP/nginx-t.log")"
	nginx -c "$TMP/nginx.conf" -p "$TMP/nginx" -g 'daemon off;' \
	    >"$TMP/nginx.log" 2>&1 &
	NGINX_MASTER=$!
	track "$NGINX_MASTER"
	for ((i = 0; i < 100; i++)); do
		addr_ready "127.0.0.1:$PORT" && break
		kill -0 "$NGINX_MASTER" 2>/dev/null ||
			die "nginx exited: $(cat "$TMP/nginx.log" "$TMP/nginx-error.log" 2>/dev/null)"
		sleep 0.1
	done
	addr_ready "127.0.0.1:$PORT" || die "nginx does not listen on $PORT"
	sleep 0.2
	# shellcheck disable=SC2046
	track $(children "$NGINX_MASTER")
}

# ---------------------------------------------------------------------------
# wrk

# Run wrk against URL with CONNS connections for DURATION s, output to FILE.
run_wrk() {
	local url=$1 conns=$2 duration=$3 file=$4 threads=$THREADS
	[ "$threads" -le "$conns" ] || threads=$conns
	# In the background, so that INT/TERM reach the trap at once.
	wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "$url" \
	    >"$file" 2>&1 &
	track $!
	wait $! || true
}

# One TSV row from wrk's report: rps requests non2xx connect read write
# timeout p99_ms. A failed run gives rps 0 and the rest as found.
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return v / 1000
		if (v ~ /ms$/) return v + 0
		if (v ~ /m$/) return v * 60000
		if (v ~ /s$/) return v * 1000
		return v + 0
	}
	BEGIN { rps = 0; req = 0; n = 0; c = 0; r = 0; w = 0; t = 0; p99 = "" }
	/^Requests\/sec:/ { rps = $2 }
	/ requests in / { req = $1 }
	/Non-2xx or 3xx responses:/ { n = $NF }
	/Socket errors:/ {
		gsub(/,/, "")
		c = $4; r = $6; w = $8; t = $10
	}
	$1 == "99%" { p99 = ms($2) }
	END {
		if (p99 == "" || req == 0) p99 = "NA"
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rps, req, n, c, r, w, t, p99
	}' "$1"
}

# ---------------------------------------------------------------------------
# Plan: which scenarios run, start their backends.

matched=0
for row in "${SCENARIOS[@]}"; do
	[ -z "$ONLY" ] || [[ ${row%% *} =~ $ONLY ]] && matched=1
done
[ "$matched" = 1 ] || die "no scenario matches --only '$ONLY'"

# Other work on the machine takes CPU from the servers under test: say so,
# or with WAIT_IDLE=S wait up to S seconds for it to stop.
BUSY_BEFORE=$(machine_busy)
waited=0
while [ "$BUSY_BEFORE" -gt 10 ] && [ "$waited" -lt "$WAIT_IDLE" ]; do
	[ "$waited" = 0 ] && log "machine ${BUSY_BEFORE}% busy; waiting up to ${WAIT_IDLE}s for it to settle"
	sleep 4
	BUSY_BEFORE=$(machine_busy)
	waited=$((waited + 5))
done
if [ "$BUSY_BEFORE" -gt 10 ]; then
	log "WARNING: the machine is ${BUSY_BEFORE}% busy before the benchmark starts: expect low, noisy numbers"
fi

mkdir -p "$OUT/wrk"
rm -f "$OUT"/wrk/*.txt
SCEN_TSV=$OUT/scenarios.tsv
RAW_TSV=$OUT/raw.tsv
RSS_TSV=$OUT/rss.tsv
printf 'scenario\tbackend\tmode\tconns\turl\tstate\n' >"$SCEN_TSV"

declare -A SC_URL=() SC_CONNS=() SC_BACKEND=() SC_INST=() SC_STATE=()
ORDER=()
for row in "${SCENARIOS[@]}"; do
	read -r name start mode conns <<<"$row"
	if [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then
		continue
	fi
	ORDER+=("$name")
	SC_CONNS[$name]=$conns
	if [ "$start" = - ]; then
		SC_BACKEND[$name]=nginx
		SC_INST[$name]=
		SC_URL[$name]=http://127.0.0.1:$PORT/$mode
		SC_STATE[$name]=ok
		continue
	fi
	backend=${start#start_}
	inst=$backend-$mode
	SC_BACKEND[$name]=$backend
	SC_INST[$name]=$inst
	SC_URL[$name]=http://127.0.0.1:$PORT/$inst
	if [ -z "${INST_STATE[$inst]:-}" ]; then
		log "starting $inst"
		start_instance "$start" "$inst" || log "SKIP $inst: ${INST_STATE[$inst]#skipped: }"
	fi
	SC_STATE[$name]=${INST_STATE[$inst]}
done
[ ${#ORDER[@]} -gt 0 ] || die "no scenario matches --only '$ONLY'"

start_nginx

# Each URL must answer 200 "Hello, world!" before it is measured.
for name in "${ORDER[@]}"; do
	[ "${SC_STATE[$name]}" = ok ] || continue
	body=$(curl -sS --max-time 5 -w '\n%{http_code}' "${SC_URL[$name]}" 2>&1) || true
	if [ "$body" != $'Hello, world!\n\n200' ]; then
		SC_STATE[$name]="skipped: sanity request got: $(printf '%s' "$body" | tr '\n' ' ' | head -c 200)"
		log "$name ${SC_STATE[$name]}"
		inst=${SC_INST[$name]}
		[ -n "$inst" ] && log "  $inst log: $(tail -n5 "$TMP/$inst.log" 2>/dev/null | tr '\n' ' ')"
	fi
done

for inst in "${!INST_STATE[@]}"; do
	[ "${INST_STATE[$inst]}" = ok ] || continue
	INST_WORKERS[$inst]=$(find_workers "$inst")
	# shellcheck disable=SC2086
	track ${INST_WORKERS[$inst]}
done

RUNNABLE=()
for name in "${ORDER[@]}"; do
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${SC_BACKEND[$name]}" \
	    "${SC_INST[$name]##*-}" "${SC_CONNS[$name]}" "${SC_URL[$name]}" \
	    "${SC_STATE[$name]}" >>"$SCEN_TSV"
	[ "${SC_STATE[$name]}" != ok ] || RUNNABLE+=("$name")
done
[ ${#RUNNABLE[@]} -gt 0 ] || die "nothing to measure"

# ---------------------------------------------------------------------------
# Measure, interleaved: every round visits every scenario once.

eta=$(( ${#RUNNABLE[@]} * (ROUNDS * (DUR + 1) + WARMUP) + 12 ))
log "${#RUNNABLE[@]} scenarios x $ROUNDS rounds x ${DUR}s (wrk -t$THREADS), about $((eta / 60))m$((eta % 60))s"

if [ "$WARMUP" -gt 0 ]; then
	for name in "${RUNNABLE[@]}"; do
		run_wrk "${SC_URL[$name]}" "${SC_CONNS[$name]}" "$WARMUP" "$TMP/warmup.txt"
	done
fi
idle_check "after the warm-up"

# bg_busy_pct: how busy the machine was in the second before the run, with
# everything here idle: other work that competes with the measurement.
printf 'round\tscenario\tbackend\tconns\trps\trequests\tnon2xx\tconnect\tread\twrite\ttimeout\tp99_ms\tbg_busy_pct\n' >"$RAW_TSV"
for ((round = 1; round <= ROUNDS; round++)); do
	for name in "${RUNNABLE[@]}"; do
		file=$OUT/wrk/$round-$name.txt
		bg=$(machine_busy)
		run_wrk "${SC_URL[$name]}" "${SC_CONNS[$name]}" "$DUR" "$file"
		row=$(parse_wrk "$file")
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" \
		    "${SC_BACKEND[$name]}" "${SC_CONNS[$name]}" "$row" "$bg" >>"$RAW_TSV"
		IFS=$'\t' read -r rps _ non2xx conn rd wr tmo _ <<<"$row"
		log "$(printf 'round %d/%d  %-18s %9s req/s  non-2xx %s  sock c/r/w %s/%s/%s  timeout %s  (machine %s%% busy before)' \
		    "$round" "$ROUNDS" "$name" "$rps" "$non2xx" "$conn" "$rd" "$wr" "$tmo" "$bg")"
	done
done

# nginx logs what its clients never see: a failed kept connection is retried
# on a new one. report.py counts these per location.
cp "$TMP/nginx-error.log" "$OUT/nginx-error.log" 2>/dev/null || true

# Worker memory and idle CPU after the load.
idle_check "after the run"
printf 'instance\tbackend\tmaster_pid\tmaster_rss_kb\tworkers\tsum_rss_kb\tper_worker_rss_kb\tidle_cpu_pct\n' >"$RSS_TSV"
for inst in $(printf '%s\n' "${!INST_WORKERS[@]}" | sort); do
	master=${INST_MASTER[$inst]}
	mrss=NA
	if [ -n "$master" ] && ! [[ " ${INST_WORKERS[$inst]} " == *" $master "* ]]; then
		mrss=$(rss_kb "$master")
		mrss=${mrss:-NA}
	else
		master=-
	fi
	sum=0 n=0 per=
	for p in ${INST_WORKERS[$inst]}; do
		r=$(rss_kb "$p")
		[ -n "$r" ] || continue
		sum=$((sum + r)) n=$((n + 1)) per+="${per:+,}$r"
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" "${inst%-*}" "$master" \
	    "$mrss" "$n" "$sum" "${per:-NA}" "${INST_IDLE[$inst]:-NA}" >>"$RSS_TSV"
done

# ---------------------------------------------------------------------------
# Report.

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -sr)  cpus: $(nproc)"
	echo "nginx $(nginx -v 2>&1 | sed 's/.*\///')  wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}')  uwsgi $(uwsgi --version)  libfcgi $(dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null || echo '?')"
	if [ -n "$BRIDGE_BIN" ]; then
		echo "$BRIDGE_DESC"
	else
		echo "bridge: not measured (${BRIDGE_NOTE:-not selected})"
	fi
	echo "git: $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo 'no commit')  machine busy before start: ${BUSY_BEFORE}%"
	echo "wrk -t$THREADS -c<conns> -d${DUR}s, $ROUNDS interleaved rounds, $WORKERS workers per backend, nginx 2 workers, FastCGI over $TRANSPORT"
} >"$OUT/env.txt"

"$PY" "$HERE/report.py" --out "$OUT" --ref "$REF_SCENARIO" \
    --ceiling "$CEILING_SCENARIO" | tee "$OUT/report.txt"

if gnuplot -e "datafile='$OUT/chart.dat'; labelfile='$OUT/chart-labels.gp'; outfile='$OUT/chart.png'" \
    "$HERE/chart.gp" 2>"$TMP/gnuplot.log"; then
	log "chart: $OUT/chart.png"
else
	log "gnuplot failed: $(cat "$TMP/gnuplot.log")"
fi
log "results: $OUT/{report.txt,summary.tsv,raw.tsv,rss.tsv,nginx-error.log,chart.png}"
