#!/usr/bin/env bash
# tests/bench/run.sh — the bridge benchmark (not part of `make check`).
#
# Measures bridge against its peers on this machine, group by group; each
# group is measured in interleaved rounds with wrk (or `openssl s_time`),
# and its medians, errors, ratios (against the targets of the issues) and
# worker memory are printed and written to $OUT/GROUP/ (TSV + PNG chart):
#
#   fastcgi  hello world behind nginx over FastCGI: bridge (native
#            hello.so) vs libfcgi (libfcgi_hello.c under spawn-fcgi) vs
#            uWSGI (hello_wsgi.py), new connection per request and
#            fastcgi_keep_conn; nginx `return 200` is the ceiling, and
#            a bare epoll responder that only frames records
#            (epoll_hello.c) the FastCGI ceiling (bridge >= 0.8x of it)
#   http     bridge --http/--https (native hello.so) vs nginx `return 200`:
#            keep-alive, pipelined (depth 16), HTTPS keep-alive, full TLS
#            handshakes/s (ECDSA P-256, RSA-2048), RSS of 10,000 idle
#            keep-alive connections
#   wsgi     raw WSGI hello_wsgi.py and the Flask hello (examples/flask)
#            over HTTP: bridge --wsgi vs gunicorn sync vs uWSGI
#            --http-socket; raw WSGI behind nginx over FastCGI: bridge vs
#            uWSGI --fastcgi-socket; worker RSS with Flask loaded
#   cgi      hello.cgi (sh) behind nginx: bridge --cgi vs fcgiwrap, the
#            same number of processes; bridge as it comes (4 scripts at
#            a time per worker) and with --threads 1 (one at a time, as
#            a fcgiwrap process)
#   static   a 10 KB and a 10 MB file: bridge --http --static-map vs
#            nginx (alias, sendfile on, tcp_nopush on), keep-alive wrk
#   asgi     raw ASGI hello (examples/asgi/raw.py), Starlette and FastAPI
#            hello over HTTP: bridge --asgi vs uvicorn (httptools, uvloop);
#            Starlette also with --python-exe embed (libpython in bridge)
#            (and hypercorn for raw), bridge's native hello the ceiling;
#            raw behind nginx: bridge FastCGI keep-conn vs uvicorn behind
#            proxy_pass; 1,000 concurrent requests that each sleep 1 s on
#            one worker; worker RSS with FastAPI loaded
#
# Every server has 2 workers (WORKERS), nginx has 2. Everything listens on
# loopback; every process started is stopped at exit.
#
# Usage (from anywhere, after building bridge):
#
#	tests/bench/run.sh                      # every group, ~15 minutes
#	tests/bench/run.sh --group http,cgi     # some groups
#	ROUNDS=5 DUR=10 tests/bench/run.sh      # longer, steadier
#	tests/bench/run.sh --only 'libfcgi|nginx'   # a subset (regex on names)
#	tests/bench/run.sh --list               # the scenario tables
#	BRIDGE_BUILD=/tmp/bench-build tests/bench/run.sh
#
# Options (each has an environment twin; the option wins):
#	--group LIST	GROUP	comma-separated groups, or all [all]
#	--bridge-build DIR	BRIDGE_BUILD	bridge build tree [./build, or the
#			top of the tree when that holds the build]
#	--bridge PATH	BRIDGE	bridge binary       [$BRIDGE_BUILD/bridge/bridge]
#	--hello-so PATH	HELLO_SO	native hello module [$BRIDGE_BUILD/examples/native/.libs/hello.so]
#	--rounds N	ROUNDS	rounds over a group's scenarios [3]
#	--dur S		DUR	seconds per run [5]
#	--out DIR	OUT	results directory [tests/bench/out]
#	--only REGEX	ONLY	run only the scenarios whose name matches
#	--tcp		TRANSPORT=tcp	FastCGI backends on 127.0.0.1 ports, not unix sockets
#	--keep-tmp	KEEP_TMP=1	keep the temp dir (configs, logs) at exit
# Also: PYTHON_SO, CGI_SO (the adapters, [$BRIDGE_BUILD/adapters/{python,
# cgi}/.libs/*.so]), TLS_SO (bridge's OpenSSL transport, for --https,
# [$BRIDGE_BUILD/bridge/.libs/tls.so]), THREADS [2] and CONNS [64] (wrk -t/-c), CONNS_HIGH
# [256] (the fastcgi overload scenarios), WORKERS [2] (processes per
# server), PIPE_DEPTH [16], HS_CLIENTS [2] (parallel `openssl s_time`),
# IDLE_CONNS [10000] (0: no idle-connection test), SLEEP_CONNS [1000] (the
# asgi group's concurrent sleeping requests), ASGI_LOOP [bridge's default]
# (bridge --asgi-loop in the asgi group: asyncio or uvloop), WARMUP [1] (s of
# unrecorded load per scenario before round 1), PORT [18480] (nginx; other
# listeners take PORT+1...), CC [cc], WAIT_IDLE [0] (wait up to this many s
# for the machine to be less than 10% busy before starting; it always warns).
# Relative paths are taken from the current directory.
#
# If a bridge binary, module or adapter is missing, the scenarios that need
# it are skipped with a message and the peers are still measured. Missing
# peers are installed with apt-get (as root, or through sudo).
#
# To add a scenario, add a row to a group's SCENARIOS (group_NAME below);
# to add a server, write a start_NAME function (the contract is in the
# comment before start_bridge) and add it to the group's INSTANCES.

set -Eeuo pipefail
export LC_ALL=C
# The peers run as whoever starts the benchmark (root, usually); so does
# bridge, which otherwise refuses to run the application as root.
export BRIDGE_ALLOW_ROOT=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3

GROUP=${GROUP:-all}
BRIDGE_BUILD=${BRIDGE_BUILD:-}
BRIDGE=${BRIDGE:-}
HELLO_SO=${HELLO_SO:-}
PYTHON_SO=${PYTHON_SO:-}
CGI_SO=${CGI_SO:-}
TLS_SO=${TLS_SO:-}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
WARMUP=${WARMUP:-1}
WAIT_IDLE=${WAIT_IDLE:-0}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
CONNS_HIGH=${CONNS_HIGH:-256}
WORKERS=${WORKERS:-2}
PIPE_DEPTH=${PIPE_DEPTH:-16}
HS_CLIENTS=${HS_CLIENTS:-2}
IDLE_CONNS=${IDLE_CONNS:-10000}
SLEEP_CONNS=${SLEEP_CONNS:-1000}
ASGI_LOOP=${ASGI_LOOP:-}
SLEEPERS=()
PORT=${PORT:-18480}
OUT=${OUT:-$HERE/out}
ONLY=${ONLY:-}
TRANSPORT=${TRANSPORT:-unix}
KEEP_TMP=${KEEP_TMP:-0}
CC=${CC:-cc}
LIST_ONLY=0
ALL_GROUPS=(fastcgi http wsgi cgi static asgi)

# ---------------------------------------------------------------------------
# The groups. Each group_NAME function sets:
#
#   GROUP_TITLE  what the chart's title says was measured
#   INSTANCES    the servers to start, one row each:
#     inst     unique in the group; the nginx location of a FastCGI
#              instance is /inst
#     backend  whose it is (bridge, nginx, uwsgi...): colour, best-of
#     start    start function (see the contract before start_bridge)
#     kind     keep   FastCGI; nginx: upstream keepalive 32 +
#                     fastcgi_keep_conn on
#              new    FastCGI; nginx: fastcgi_pass straight to the socket,
#                     one connection per request
#              http   the server speaks HTTP itself on 127.0.0.1:port
#                     (its start function may add an HTTPS port)
#              proxy  an http server behind nginx: upstream keepalive 32,
#                     proxy_pass with HTTP/1.1 kept connections
#     The pseudo-instances `nginx` (nginx's `return 200` at /return, on
#     PORT, and over HTTPS with the ECDSA certificate when NGINX_TLS=1) and
#     `nginx-rsa` (HTTPS with the RSA certificate) need no row.
#   SCENARIOS    one row per measurement, in run (and chart) order:
#     name     unique; the chart label and the TSV key
#     inst     the instance it loads
#     conns    connections (wrk -c; s_time: ignored, HS_CLIENTS)
#     tool     wrk   wrk, keep-alive, on the instance's HTTP URL
#              pipe  wrk -s pipeline.lua: PIPE_DEPTH requests per write
#              tls   wrk on the instance's HTTPS URL
#              hs    HS_CLIENTS parallel `openssl s_time -new`: full TLS
#                    handshakes per second, no request
#     expect   the body every URL must answer first: hello, flask or cgi;
#              file: the file at path under STATIC_ROOT (sha256)
#     path     (optional) the URL's path instead of the instance's
#   TARGETS      the ratios to print, from the issues:
#     kind     rps   median req/s of ref over peer's, higher is better
#              rss   worker VmRSS sum of instance ref over peer's after
#                    the run, lower is better
#              idle  RSS growth for IDLE_CONNS idle connections of
#                    instance ref over peer's, lower is better
#              time  seconds the SLEEPERS probe of instance ref took
#                    (peer -), compared with the target itself
#              cpu   server CPU per request of scenario peer over ref's,
#                    higher is better (steadier than rates when wrk and
#                    the servers share two busy cores)
#     ref, peer  scenario (rps) or instance names; a|b: the best of them
#     op target  >= 5 or <= 1.0; `- -` just prints the ratio
#   IDLE         instances to hold IDLE_CONNS idle keep-alive connections
#                to, after the rounds (http instances)
#   SLEEPERS     (optional) instances to send SLEEP_CONNS requests at once
#                to, after the rounds, at the raw ASGI example's /sleep
#                (each awaits asyncio.sleep(1)); target kind `time`:
#                seconds until all were answered, ref alone (peer -)
#   REF_SCENARIO, CEILING_SCENARIO  (optional) also print REF against the
#                best scenario of every other backend at its connection
#                count, and the % of CEILING on every row
#   NGINX_TLS    1: generate certificates, nginx serves HTTPS too

group_fastcgi() {
	GROUP_TITLE="hello world behind nginx (FastCGI)"
	INSTANCES=(
		"bridge-keep   bridge   start_bridge    keep"
		"bridge-new    bridge   start_bridge    new"
		"libfcgi-keep  libfcgi  start_libfcgi   keep"
		"libfcgi-new   libfcgi  start_libfcgi   new"
		"uwsgi-keep    uwsgi    start_uwsgi     keep"
		"uwsgi-new     uwsgi    start_uwsgi     new"
		"epoll-keep    epoll    start_epoll     keep"
	)
	SCENARIOS=(
		"nginx-return             nginx         $CONNS       wrk hello"
		"bridge-keep              bridge-keep   $CONNS       wrk hello"
		"bridge-new               bridge-new    $CONNS       wrk hello"
		"bridge-keep-c$CONNS_HIGH bridge-keep   $CONNS_HIGH  wrk hello"
		"libfcgi-keep             libfcgi-keep  $CONNS       wrk hello"
		"libfcgi-new              libfcgi-new   $CONNS       wrk hello"
		"libfcgi-keep-c$CONNS_HIGH libfcgi-keep $CONNS_HIGH  wrk hello"
		"uwsgi-keep               uwsgi-keep    $CONNS       wrk hello"
		"uwsgi-new                uwsgi-new     $CONNS       wrk hello"
		"epoll-keep               epoll-keep    $CONNS       wrk hello"
	)
	# The bare epoll responder frames records and nothing else: the
	# ceiling a FastCGI server can reach behind this nginx (issue 2).
	TARGETS=(
		"rps  bridge-keep  epoll-keep  >= 0.8"
	)
	IDLE=()
	REF_SCENARIO=bridge-keep
	CEILING_SCENARIO=nginx-return
	NGINX_TLS=0
}

group_http() {
	GROUP_TITLE="native hello over HTTP/HTTPS: bridge --http vs nginx return 200"
	INSTANCES=(
		"bridge-http   bridge   start_bridge_http   http"
		"bridge-rsa    bridge   start_bridge_rsa    http"
	)
	SCENARIOS=(
		"nginx-keepalive    nginx        $CONNS  wrk   hello"
		"bridge-keepalive   bridge-http  $CONNS  wrk   hello"
		"nginx-pipe$PIPE_DEPTH      nginx        $CONNS  pipe  hello"
		"bridge-pipe$PIPE_DEPTH     bridge-http  $CONNS  pipe  hello"
		"nginx-https        nginx        $CONNS  tls   hello"
		"bridge-https       bridge-http  $CONNS  tls   hello"
		"nginx-hs-ecdsa     nginx        -       hs    hello"
		"bridge-hs-ecdsa    bridge-http  -       hs    hello"
		"nginx-hs-rsa       nginx-rsa    -       hs    hello"
		"bridge-hs-rsa      bridge-rsa   -       hs    hello"
	)
	TARGETS=(
		"rps   bridge-keepalive         nginx-keepalive          >= 0.9"
		"rps   bridge-pipe$PIPE_DEPTH   nginx-pipe$PIPE_DEPTH    >= 1.0"
		"rps   bridge-https             nginx-https              >= 0.8"
		"rps   bridge-hs-ecdsa          nginx-hs-ecdsa           >= 0.9"
		"rps   bridge-hs-rsa            nginx-hs-rsa             >= 0.9"
		"idle  bridge-http              nginx                    -  -"
	)
	IDLE=(bridge-http nginx)
	REF_SCENARIO=
	CEILING_SCENARIO=
	NGINX_TLS=1
}

group_wsgi() {
	GROUP_TITLE="Python WSGI: raw hello_wsgi.py and Flask hello over HTTP, raw behind nginx (FastCGI)"
	INSTANCES=(
		"bridge-raw      bridge    start_bridge_wsgi     http"
		"gunicorn-raw    gunicorn  start_gunicorn        http"
		"uwsgi-raw       uwsgi     start_uwsgi_http      http"
		"bridge-flask    bridge    start_bridge_flask    http"
		"bridge-flask-pre bridge   start_bridge_flask_preload http"
		"gunicorn-flask  gunicorn  start_gunicorn_flask  http"
		"uwsgi-flask     uwsgi     start_uwsgi_flask     http"
		"bridge-keep     bridge    start_bridge_wsgi     keep"
		"uwsgi-keep      uwsgi     start_uwsgi           keep"
		"uwsgi-new       uwsgi     start_uwsgi           new"
	)
	SCENARIOS=(
		"raw-bridge        bridge-raw      $CONNS  wrk  hello"
		"raw-gunicorn      gunicorn-raw    $CONNS  wrk  hello"
		"raw-uwsgi         uwsgi-raw       $CONNS  wrk  hello"
		"flask-bridge      bridge-flask    $CONNS  wrk  flask"
		"flask-gunicorn    gunicorn-flask  $CONNS  wrk  flask"
		"flask-uwsgi       uwsgi-flask     $CONNS  wrk  flask"
		"flask-bridge-preload bridge-flask-pre $CONNS wrk flask"
		"fcgi-bridge-keep  bridge-keep     $CONNS  wrk  hello"
		"fcgi-uwsgi-keep   uwsgi-keep      $CONNS  wrk  hello"
		"fcgi-uwsgi-new    uwsgi-new       $CONNS  wrk  hello"
	)
	TARGETS=(
		"rps  raw-bridge        raw-gunicorn                    >= 5"
		"rps  raw-bridge        raw-uwsgi                       >= 1.5"
		"rps  flask-bridge      flask-gunicorn                  >= 2"
		"rps  flask-bridge      flask-uwsgi                     >= 1.3"
		"rps  fcgi-bridge-keep  fcgi-uwsgi-keep|fcgi-uwsgi-new  >= 1.5"
		"rss  bridge-flask      uwsgi-flask                     <= 1.0"
		"rss  bridge-flask-pre  uwsgi-flask                     <= 1.0"
	)
	IDLE=()
	REF_SCENARIO=
	CEILING_SCENARIO=
	NGINX_TLS=0
}

group_cgi() {
	GROUP_TITLE="hello.cgi (sh) behind nginx (FastCGI): bridge --cgi vs fcgiwrap"
	INSTANCES=(
		"bridge-keep    bridge    start_bridge_cgi  keep"
		"bridge-new     bridge    start_bridge_cgi  new"
		"bridge-t1-keep bridge    start_bridge_cgi_t1 keep"
		"fcgiwrap-new   fcgiwrap  start_fcgiwrap    new"
	)
	# No fcgiwrap-keep: a fcgiwrap process serves one connection until
	# nginx closes it, so with keepalive 32 > 2 processes requests queue
	# behind idle kept connections and time out (libfcgi-keep in the
	# fastcgi group shows it); new connections are how it is deployed.
	SCENARIOS=(
		"cgi-bridge-keep    bridge-keep    $CONNS  wrk  cgi"
		"cgi-bridge-new     bridge-new     $CONNS  wrk  cgi"
		"cgi-bridge-t1-keep bridge-t1-keep $CONNS  wrk  cgi"
		"cgi-fcgiwrap-new   fcgiwrap-new   $CONNS  wrk  cgi"
	)
	TARGETS=(
		"rps  cgi-bridge-keep  cgi-fcgiwrap-new  >= 1.3"
	)
	IDLE=()
	REF_SCENARIO=
	CEILING_SCENARIO=
	NGINX_TLS=0
}

group_static() {
	GROUP_TITLE="static files over HTTP: bridge --static-map vs nginx"
	INSTANCES=(
		"bridge-static  bridge  start_bridge_static  http"
	)
	SCENARIOS=(
		"nginx-10k    nginx          $CONNS  wrk  file  /static/10k.bin"
		"bridge-10k   bridge-static  $CONNS  wrk  file  /static/10k.bin"
		"nginx-10m    nginx          16      wrk  file  /static/10m.bin"
		"bridge-10m   bridge-static  16      wrk  file  /static/10m.bin"
	)
	TARGETS=(
		"rps  bridge-10k  nginx-10k  >= 0.8"
		"rps  bridge-10m  nginx-10m  >= 0.9"
	)
	IDLE=()
	REF_SCENARIO=
	CEILING_SCENARIO=
	NGINX_TLS=0
}

group_asgi() {
	GROUP_TITLE="Python ASGI over HTTP: bridge --asgi vs uvicorn (httptools, uvloop) and hypercorn; raw behind nginx"
	INSTANCES=(
		"bridge-native     bridge     start_bridge              http"
		"bridge-raw        bridge     start_bridge_asgi_raw     http"
		"uvicorn-raw       uvicorn    start_uvicorn_raw         http"
		"hypercorn-raw     hypercorn  start_hypercorn_raw       http"
		"bridge-starlette  bridge     start_bridge_starlette    http"
		"uvicorn-starlette uvicorn    start_uvicorn_starlette   http"
		"bridge-stl-embed  bridge     start_bridge_stl_embed    http"
		"bridge-fastapi    bridge     start_bridge_fastapi      http"
		"uvicorn-fastapi   uvicorn    start_uvicorn_fastapi     http"
		"bridge-keep       bridge     start_bridge_asgi_raw     keep"
		"uvicorn-proxy     uvicorn    start_uvicorn_raw         proxy"
		"bridge-sleep      bridge     start_bridge_asgi_sleep   http"
		"uvicorn-sleep     uvicorn    start_uvicorn_sleep       http"
	)
	SCENARIOS=(
		"native-bridge       bridge-native     $CONNS  wrk  hello"
		"raw-bridge          bridge-raw        $CONNS  wrk  asgi"
		"raw-uvicorn         uvicorn-raw       $CONNS  wrk  asgi"
		"raw-hypercorn       hypercorn-raw     $CONNS  wrk  asgi"
		"starlette-bridge    bridge-starlette  $CONNS  wrk  asgi"
		"starlette-uvicorn   uvicorn-starlette $CONNS  wrk  asgi"
		"starlette-embed     bridge-stl-embed  $CONNS  wrk  asgi"
		"fastapi-bridge      bridge-fastapi    $CONNS  wrk  asgi"
		"fastapi-uvicorn     uvicorn-fastapi   $CONNS  wrk  asgi"
		"fcgi-bridge-keep    bridge-keep       $CONNS  wrk  asgi"
		"proxy-uvicorn       uvicorn-proxy     $CONNS  wrk  asgi"
	)
	# Issue 13's targets; hypercorn is ranked against uvicorn.
	TARGETS=(
		"rps   raw-bridge        raw-uvicorn        >= 1.5"
		"rps   raw-bridge        native-bridge      >= 0.8"
		"rps   raw-hypercorn     raw-uvicorn        -  -"
		"rps   starlette-bridge  starlette-uvicorn  >= 1.3"
		"rps   starlette-bridge  starlette-embed    -  -"
		"rps   fastapi-bridge    fastapi-uvicorn    >= 1.3"
		"rps   fcgi-bridge-keep  proxy-uvicorn      >= 1.5"
		"time  bridge-sleep      -                  <= 1.5"
		"time  uvicorn-sleep     -                  -  -"
		"rss   bridge-fastapi    uvicorn-fastapi    <= 1.0"
		"cpu   raw-bridge        raw-uvicorn        -  -"
		"cpu   starlette-bridge  starlette-uvicorn  -  -"
		"cpu   fastapi-bridge    fastapi-uvicorn    -  -"
		"cpu   fcgi-bridge-keep  proxy-uvicorn      -  -"
	)
	IDLE=()
	SLEEPERS=(bridge-sleep uvicorn-sleep)
	REF_SCENARIO=
	CEILING_SCENARIO=
	NGINX_TLS=0
}

declare -A EXPECT_BODY=(
	[hello]=$'Hello, world!\n'
	[flask]='hello world'
	[cgi]=$'hello\n'
	[asgi]='hello world'
)
# The same, as conns.py takes it (Python escapes).
declare -A EXPECT_ESC=(
	[hello]='Hello, world!\n'
	[flask]='hello world'
	[cgi]='hello\n'
	[asgi]='hello world'
)

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--group) GROUP=$2; shift 2 ;;
	--bridge-build) BRIDGE_BUILD=$2; shift 2 ;;
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

GROUPS_RUN=()
if [ "$GROUP" = all ]; then
	GROUPS_RUN=("${ALL_GROUPS[@]}")
else
	IFS=, read -ra GROUPS_RUN <<<"$GROUP"
	for g in "${GROUPS_RUN[@]}"; do
		[[ " ${ALL_GROUPS[*]} " == *" $g "* ]] ||
			die "unknown group '$g' (groups: ${ALL_GROUPS[*]} or all)"
	done
fi

if [ "$LIST_ONLY" = 1 ]; then
	for g in "${GROUPS_RUN[@]}"; do
		"group_$g"
		echo "group $g: $GROUP_TITLE"
		printf '  %-20s %-16s %-9s %-22s %s\n' INSTANCE BACKEND KIND START ''
		for row in "${INSTANCES[@]}"; do
			read -r i b s k <<<"$row"
			printf '  %-20s %-16s %-9s %-22s\n' "$i" "$b" "$k" "$s"
		done
		printf '  %-20s %-16s %-9s %-6s %s\n' SCENARIO INSTANCE CONNS TOOL EXPECT
		for row in "${SCENARIOS[@]}"; do
			# shellcheck disable=SC2086
			printf '  %-20s %-16s %-9s %-6s %s\n' $row
		done
		for row in "${TARGETS[@]}"; do
			# shellcheck disable=SC2086
			printf '  target %-5s %-18s / %-32s %s %s\n' $row
		done
		echo
	done
	exit 0
fi

for v in ROUNDS DUR WARMUP THREADS CONNS CONNS_HIGH WORKERS PORT WAIT_IDLE \
    PIPE_DEPTH HS_CLIENTS IDLE_CONNS SLEEP_CONNS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
if [ "$DUR" -lt 1 ] || [ "$DUR" -gt 120 ]; then die "DUR must be 1..120 s"; fi
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 20 ]; then die "ROUNDS must be 1..20"; fi
if [ "$HS_CLIENTS" -lt 1 ]; then die "HS_CLIENTS must be at least 1"; fi
case $TRANSPORT in unix | tcp) ;; *) die "TRANSPORT must be unix or tcp" ;; esac

# The build: ./build (`mkdir build && cd build && ../configure && make`),
# or the top of the tree when it was built in place and ./build was not.
abspath() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -z "$BRIDGE_BUILD" ]; then
	BRIDGE_BUILD=$TOP/build
	if ! [ -x "$TOP/build/bridge/bridge" ] && [ -x "$TOP/bridge/bridge" ]; then
		BRIDGE_BUILD=$TOP
	fi
fi
BRIDGE_BUILD=$(abspath "$BRIDGE_BUILD")
BRIDGE=$(abspath "${BRIDGE:-$BRIDGE_BUILD/bridge/bridge}")
HELLO_SO=$(abspath "${HELLO_SO:-$BRIDGE_BUILD/examples/native/.libs/hello.so}")
PYTHON_SO=$(abspath "${PYTHON_SO:-$BRIDGE_BUILD/adapters/python/.libs/python.so}")
CGI_SO=$(abspath "${CGI_SO:-$BRIDGE_BUILD/adapters/cgi/.libs/cgi.so}")
TLS_SO=$(abspath "${TLS_SO:-$BRIDGE_BUILD/bridge/.libs/tls.so}")

# ---------------------------------------------------------------------------
# Peers: install what is missing.

UWSGI_PY_PLUGIN=/usr/lib/uwsgi/plugins/python3_plugin.so

need_packages() {
	local -a pkgs=()
	command -v nginx >/dev/null || pkgs+=(nginx-light)
	command -v wrk >/dev/null || pkgs+=(wrk)
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v ps >/dev/null || pkgs+=(procps)
	command -v curl >/dev/null || pkgs+=(curl)
	[ -x "$PY" ] || pkgs+=(python3)
	local g
	for g in "${GROUPS_RUN[@]}"; do
		case $g in
		fastcgi)
			command -v spawn-fcgi >/dev/null || pkgs+=(spawn-fcgi)
			[ -e /usr/include/fcgiapp.h ] || pkgs+=(libfcgi-dev)
			command -v "$CC" >/dev/null || pkgs+=(gcc libc6-dev)
			command -v uwsgi >/dev/null || pkgs+=(uwsgi-core)
			[ -e "$UWSGI_PY_PLUGIN" ] || pkgs+=(uwsgi-plugin-python3)
			;;
		http)
			command -v openssl >/dev/null || pkgs+=(openssl)
			;;
		wsgi)
			command -v gunicorn >/dev/null || pkgs+=(gunicorn)
			command -v uwsgi >/dev/null || pkgs+=(uwsgi-core)
			[ -e "$UWSGI_PY_PLUGIN" ] || pkgs+=(uwsgi-plugin-python3)
			"$PY" -c 'import flask' 2>/dev/null || pkgs+=(python3-flask)
			;;
		cgi)
			command -v fcgiwrap >/dev/null ||
				[ -x /usr/sbin/fcgiwrap ] || pkgs+=(fcgiwrap)
			;;
		asgi)
			local m
			for m in uvicorn:python3-uvicorn httptools:python3-httptools \
			    uvloop:python3-uvloop hypercorn:python3-hypercorn \
			    starlette:python3-starlette fastapi:python3-fastapi \
			    multipart:python3-multipart; do
				"$PY" -c "import ${m%%:*}" 2>/dev/null || pkgs+=("${m#*:}")
			done
			;;
		esac
	done
	printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' ' | sed 's/ *$//'
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
PATH=$PATH:/usr/sbin:/sbin

# Idle connections need file descriptors: take the hard limit (everything
# started from here inherits it).
NOFILE=$(ulimit -Hn)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
ulimit -n "$NOFILE" 2>/dev/null || NOFILE=$(ulimit -n)

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
	[ ${#TRACKED[@]} -gt 0 ] || return 0
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
pss_kb() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup" 2>/dev/null; }

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

# CHILD_CPU_S: CPU time (user + system, in seconds) of this shell's
# waited-for children so far, the load generator's among them, read
# before and after a run.  Not in a $(...): a subshell's times are its
# own.
children_cpu_s() {
	local -a t
	times >"$GTMP/times"
	read -ra t < <(tail -n1 "$GTMP/times")
	CHILD_CPU_S=$(awk -v u="${t[0]}" -v s="${t[1]}" 'function sec(x,  m) {
		m = x; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", x); sub(/s$/, "", x)
		return m * 60 + x
	} BEGIN { printf "%.3f", sec(u) + sec(s) }')
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

# A free 127.0.0.1 port from PORT+1 on, into GOT_PORT (not through $(),
# which would lose the count).
NEXT_PORT=$((PORT + 1))
GOT_PORT=
alloc_port() {
	while :; do
		GOT_PORT=$NEXT_PORT
		NEXT_PORT=$((NEXT_PORT + 1))
		[ "$GOT_PORT" -lt 65536 ] || die "no free port above $PORT"
		addr_ready "127.0.0.1:$GOT_PORT" || break
	done
}

addr_ready() {
	local addr=$1
	case $addr in
	unix:*) [ -S "${addr#unix:}" ] ;;
	*) (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null ;;
	esac
}

# Self-signed certificates for the HTTPS scenarios, one per key type, the
# same files for bridge and nginx.
CERTS=$TMP/certs
make_certs() {
	[ -e "$CERTS/rsa.pem" ] && return 0
	mkdir -p "$CERTS"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$CERTS/ec.key" -out "$CERTS/ec.pem" -days 7 \
	    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
	    >"$CERTS/openssl.log" 2>&1 &&
	openssl req -x509 -newkey rsa:2048 \
	    -nodes -keyout "$CERTS/rsa.key" -out "$CERTS/rsa.pem" -days 7 \
	    -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
	    >>"$CERTS/openssl.log" 2>&1 ||
		die "openssl cannot make the certificates: $(tail -n3 "$CERTS/openssl.log")"
}

# ---------------------------------------------------------------------------
# Servers. A start function is called as `start_NAME INSTANCE ADDR`, where
# ADDR is unix:/path or 127.0.0.1:port: FastCGI for instances of kind keep
# or new, HTTP for kind http. It starts WORKERS workers serving on ADDR in
# the background, logging to $GTMP/INSTANCE.log, and sets
#   INST_MASTER[INSTANCE]   the pid to watch (empty if none stays around)
#   INST_PIDFILE[INSTANCE]  a file of worker pids (empty: the master's
#                           children are the workers; no children: the
#                           master is the only worker)
#   INST_TLS[INSTANCE]      (optional) 127.0.0.1:port where it serves HTTPS
#   INST_WORKER_MATCH[INSTANCE]  (optional) with the master's children as
#                           workers: only those whose command line
#                           matches this (grep) are
# It returns non-zero with SKIP_REASON set if it cannot run here.

declare -A INST_ADDR=() INST_MASTER=() INST_PIDFILE=() INST_STATE=() \
    INST_WORKERS=() INST_KIND=() INST_BACKEND=() INST_TLS=() INST_PATH=() \
    INST_PARAMS=() INST_IDLE=() INST_WORKER_MATCH=()
SKIP_REASON=

# Private copies of the binary, module, adapters and TLS module, so that a
# rebuild during the run cannot change them; a libtool wrapper script must
# stay where it is. bridge finds the copies through BRIDGE_ADAPTER_DIR.
BRIDGE_BIN='' HELLO_BIN='' BRIDGE_DESC='' BRIDGE_NOTE=''
declare -A BRIDGE_USED=()	# what the current group loaded, for env.txt
prepare_bridge() {
	local need=$1
	if [ -z "$BRIDGE_BIN" ]; then
		[ -x "$BRIDGE" ] || {
			SKIP_REASON="no bridge binary at $BRIDGE (build it, or set BRIDGE_BUILD= or BRIDGE=)"
			BRIDGE_NOTE=$SKIP_REASON
			return 1
		}
		if [ "$(head -c4 "$BRIDGE" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			cp "$BRIDGE" "$TMP/bridge"
			BRIDGE_BIN=$TMP/bridge
		else
			BRIDGE_BIN=$BRIDGE
		fi
		mkdir -p "$TMP/adapters"
		BRIDGE_DESC="bridge $BRIDGE ($(stat -c %y "$BRIDGE" | cut -d. -f1), sha256 $(sha256sum "$BRIDGE_BIN" | cut -c1-12))"
	fi
	case $need in
	hello)
		BRIDGE_USED[module]=$HELLO_SO
		[ -n "$HELLO_BIN" ] && return 0
		[ -r "$HELLO_SO" ] || {
			SKIP_REASON="no hello module at $HELLO_SO (build examples/native, or set HELLO_SO=)"
			return 1
		}
		cp "$HELLO_SO" "$TMP/hello.so"
		HELLO_BIN=$TMP/hello.so
		;;
	python | cgi | tls)
		local so=$PYTHON_SO
		[ "$need" = cgi ] && so=$CGI_SO
		[ "$need" = tls ] && so=$TLS_SO
		BRIDGE_USED[$need.so]=$so
		[ -e "$TMP/adapters/$need.so" ] && return 0
		[ -r "$so" ] || {
			SKIP_REASON="no $need module at $so (build it, or set ${need^^}_SO=)"
			return 1
		}
		cp "$so" "$TMP/adapters/$need.so"
		# pyhost.so beside python.so: bridge runs a Python app in the
		# python3 executable (--python-exe auto), as users get it.
		if [ "$need" = python ] && [ -r "${so%/*}/pyhost.so" ]; then
			cp "${so%/*}/pyhost.so" "$TMP/adapters/pyhost.so"
			BRIDGE_USED[pyhost.so]=${so%/*}/pyhost.so
		fi
		;;
	esac
}

# bridge serving INSTANCE on ADDR (FastCGI or HTTP, from its kind) with
# the rest of the arguments.
run_bridge() {
	local inst=$1 addr=$2 proto=--fastcgi
	shift 2
	[ "${INST_KIND[$inst]}" = http ] && proto=--http
	BRIDGE_ADAPTER_DIR=$TMP/adapters "$BRIDGE_BIN" "$proto" "$addr" \
	    -w "$WORKERS" "$@" >"$GTMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
}

start_bridge() {
	prepare_bridge hello || return 1
	run_bridge "$1" "$2" --module "$HELLO_BIN"
}

# --http on ADDR and --https (ECDSA certificate) on a port of its own.
start_bridge_http() {
	local tls
	prepare_bridge hello && prepare_bridge tls || return 1
	make_certs
	alloc_port
	tls=127.0.0.1:$GOT_PORT
	INST_TLS[$1]=$tls
	run_bridge "$1" "$2" --https "$tls" --cert "$CERTS/ec.pem" \
	    --key "$CERTS/ec.key" --module "$HELLO_BIN"
}

# --http with the hello module and --static-map /static=STATIC_ROOT.
start_bridge_static() {
	prepare_bridge hello || return 1
	run_bridge "$1" "$2" --module "$HELLO_BIN" \
	    --static-map "/static=$STATIC_ROOT"
}

# HTTPS only, RSA certificate, on ADDR.
start_bridge_rsa() {
	prepare_bridge hello && prepare_bridge tls || return 1
	make_certs
	INST_TLS[$1]=$2
	BRIDGE_ADAPTER_DIR=$TMP/adapters "$BRIDGE_BIN" --https "$2" \
	    --cert "$CERTS/rsa.pem" --key "$CERTS/rsa.key" \
	    --module "$HELLO_BIN" -w "$WORKERS" >"$GTMP/$1.log" 2>&1 &
	INST_MASTER[$1]=$!
	INST_PIDFILE[$1]=
}

start_bridge_wsgi() {
	prepare_bridge python || return 1
	run_bridge "$1" "$2" --wsgi hello_wsgi:application --pythonpath "$HERE"
}

start_bridge_flask() {
	prepare_bridge python || return 1
	run_bridge "$1" "$2" --wsgi main:app --pythonpath "$TOP/examples/flask"
}

# The same with --preload: Flask imported once in the master and shared
# copy-on-write by the workers, as uWSGI does by default.
start_bridge_flask_preload() {
	prepare_bridge python || return 1
	grep -qa -e '--preload' -e 'preload' "$BRIDGE_BIN" || {
		SKIP_REASON="this bridge has no --preload"
		return 1
	}
	run_bridge "$1" "$2" --preload --wsgi main:app \
	    --pythonpath "$TOP/examples/flask"
}

start_bridge_cgi() {
	prepare_bridge cgi || return 1
	run_bridge "$1" "$2" --cgi "$CGI_ROOT"
}

# One script at a time per worker, as each fcgiwrap process runs them.
start_bridge_cgi_t1() {
	prepare_bridge cgi || return 1
	run_bridge "$1" "$2" --cgi "$CGI_ROOT" --threads 1
}

# Run BIN under spawn-fcgi with WORKERS processes on ADDR, as its
# classic deployment: the listening socket on fd 0, worker pids in a file.
spawn_fcgi_instance() {
	local inst=$1 addr=$2 bin=$3
	local -a where
	case $addr in
	unix:*) where=(-s "${addr#unix:}") ;;
	*) where=(-a "${addr%:*}" -p "${addr##*:}") ;;
	esac
	spawn-fcgi -F "$WORKERS" "${where[@]}" -P "$GTMP/$inst.pid" \
	    -- "$bin" >"$GTMP/$inst.log" 2>&1 || {
		SKIP_REASON="spawn-fcgi failed: $(tail -n3 "$GTMP/$inst.log")"
		return 1
	}
	INST_MASTER[$inst]=
	INST_PIDFILE[$inst]=$GTMP/$inst.pid
}

# Compile tests/bench/NAME.c (extra cc arguments after) into $TMP/NAME.
build_peer() {
	local name=$1
	shift
	[ -x "$TMP/$name" ] && return 0
	"$CC" -O2 -Wall -o "$TMP/$name" "$HERE/$name.c" "$@" \
	    >"$TMP/$name-build.log" 2>&1 || {
		SKIP_REASON="cannot build $name.c: $(tail -n3 "$TMP/$name-build.log")"
		return 1
	}
}

# tests/bench/epoll_hello.c: the bare epoll responder.
start_epoll() {
	build_peer epoll_hello || return 1
	spawn_fcgi_instance "$1" "$2" "$TMP/epoll_hello"
}

# tests/bench/libfcgi_hello.c: libfcgi's classic accept loop.
start_libfcgi() {
	build_peer libfcgi_hello -lfcgi || return 1
	spawn_fcgi_instance "$1" "$2" "$TMP/libfcgi_hello"
}

# uWSGI: --master, WORKERS processes, the app loaded once in the master
# (its default) and shared by the forked workers. --die-on-term: without
# it a uWSGI master takes TERM as "reload".
run_uwsgi() {
	local inst=$1 sock=$2
	shift 2
	uwsgi --plugin python3 "$sock" --processes "$WORKERS" --master \
	    --die-on-term --disable-logging "$@" >"$GTMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
}

start_uwsgi() {
	run_uwsgi "$1" "--fastcgi-socket=${2#unix:}" --wsgi-file "$HERE/hello_wsgi.py"
}

start_uwsgi_http() {
	run_uwsgi "$1" "--http-socket=$2" --wsgi-file "$HERE/hello_wsgi.py"
}

start_uwsgi_flask() {
	run_uwsgi "$1" "--http-socket=$2" --chdir "$TOP/examples/flask" \
	    --wsgi-file main.py --callable app
}

# gunicorn's default sync worker: one request per process at a time,
# `Connection: close` on every response.
run_gunicorn() {
	local inst=$1 addr=$2 dir=$3 app=$4
	gunicorn -w "$WORKERS" -b "$addr" --chdir "$dir" "$app" \
	    >"$GTMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
}

start_gunicorn() {
	run_gunicorn "$1" "$2" "$HERE" hello_wsgi:application
}

start_gunicorn_flask() {
	run_gunicorn "$1" "$2" "$TOP/examples/flask" main:app
}

# fcgiwrap -c N: a parent that forks N workers and replaces them.
start_fcgiwrap() {
	local inst=$1 addr=$2 url
	case $addr in
	unix:*) url=$addr ;;
	*) url=tcp:$addr ;;
	esac
	fcgiwrap -c "$WORKERS" -s "$url" >"$GTMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
	INST_PARAMS[$inst]=cgi
}

# ASGI: bridge --asgi MODULE:APP from examples/asgi; until the ASGI
# adapter is merged, bridge has no --asgi and these are skipped.
ASGI_DIR=$TOP/examples/asgi
start_bridge_asgi() {
	local inst=$1 addr=$2 app=$3
	shift 3
	prepare_bridge python || return 1
	# Not "| grep -q": grep exits at the first match and, under
	# pipefail, bridge's SIGPIPE on the rest made this skip at random.
	case $("$BRIDGE_BIN" --help 2>&1) in *--asgi*) ;; *) false ;; esac || {
		SKIP_REASON="bridge: --asgi not available"
		return 1
	}
	local -a loop=()
	[ -z "$ASGI_LOOP" ] || loop=(--asgi-loop "$ASGI_LOOP")
	run_bridge "$inst" "$addr" --asgi "$app" --pythonpath "$ASGI_DIR" \
	    "${loop[@]}" "$@"
}

start_bridge_asgi_raw() { start_bridge_asgi "$1" "$2" raw:app; }
start_bridge_starlette() { start_bridge_asgi "$1" "$2" starlette_app:app; }
start_bridge_fastapi() { start_bridge_asgi "$1" "$2" fastapi_app:app; }
# The same in libpython embedded in bridge (--python-exe embed): what
# running in the python3 executable (the default) gains.
start_bridge_stl_embed() {
	start_bridge_asgi "$1" "$2" starlette_app:app --python-exe embed
}

# One worker, for the sleepers: what one event loop holds.
start_bridge_asgi_sleep() {
	local w=$WORKERS
	WORKERS=1
	start_bridge_asgi "$1" "$2" raw:app || { WORKERS=$w; return 1; }
	WORKERS=$w
}

# uvicorn as its docs say to run it fast: httptools and uvloop, WORKERS
# processes (multiprocessing "spawn" children of a supervisor, which also
# starts multiprocessing's resource tracker: not a worker, filtered out by
# INST_WORKER_MATCH). No access log, as bridge by default.
run_uvicorn() {
	local inst=$1 addr=$2 app=$3 workers=${4:-$WORKERS}
	"$PY" -c 'import uvicorn, httptools, uvloop' 2>/dev/null || {
		SKIP_REASON="uvicorn, httptools or uvloop missing (python3-uvicorn python3-httptools python3-uvloop)"
		return 1
	}
	"$PY" -m uvicorn --app-dir "$ASGI_DIR" --host "${addr%:*}" \
	    --port "${addr##*:}" --workers "$workers" --http httptools \
	    --loop uvloop --no-access-log --log-level warning "$app" \
	    >"$GTMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
	INST_WORKER_MATCH[$inst]=spawn_main
}

start_uvicorn_raw() { run_uvicorn "$1" "$2" raw:app; }
start_uvicorn_starlette() { run_uvicorn "$1" "$2" starlette_app:app; }
start_uvicorn_fastapi() { run_uvicorn "$1" "$2" fastapi_app:app; }
# --workers 1: uvicorn serves in the process itself.
start_uvicorn_sleep() { run_uvicorn "$1" "$2" raw:app 1; }

# hypercorn 0.13 (Debian's) with its uvloop worker class, WORKERS
# processes (forked: the master's children are the workers); given the
# module as a path, it puts examples/asgi on sys.path. No access log (its
# default).
start_hypercorn_raw() {
	local inst=$1 addr=$2
	"$PY" -c 'import hypercorn, uvloop' 2>/dev/null || {
		SKIP_REASON="hypercorn or uvloop missing (python3-hypercorn python3-uvloop)"
		return 1
	}
	"$PY" -m hypercorn --workers "$WORKERS" --worker-class uvloop \
	    --bind "$addr" "$ASGI_DIR/raw:app" >"$GTMP/$inst.log" 2>&1 &
	INST_MASTER[$inst]=$!
	INST_PIDFILE[$inst]=
}

# Start INSTANCE with START, wait until it listens. 0 ok, 1 skipped.
start_instance() {
	local inst=$1 start=$2 addr i master
	if [ "${INST_KIND[$inst]}" = http ] || [ "${INST_KIND[$inst]}" = proxy ] ||
	    [ "$TRANSPORT" = tcp ]; then
		alloc_port
		addr=127.0.0.1:$GOT_PORT
	else
		addr=unix:$GTMP/$inst.sock
	fi
	INST_ADDR[$inst]=$addr
	INST_PATH[$inst]=/
	case $start in start_bridge_cgi*) INST_PARAMS[$inst]=cgi ;; esac
	SKIP_REASON=
	if ! "$start" "$inst" "$addr"; then
		INST_STATE[$inst]="skipped: $SKIP_REASON"
		return 1
	fi
	master=${INST_MASTER[$inst]}
	[ -n "$master" ] && track "$master"
	for ((i = 0; i < 150; i++)); do
		addr_ready "$addr" &&
			{ [ -z "${INST_TLS[$inst]:-}" ] || addr_ready "${INST_TLS[$inst]}"; } &&
			break
		if [ -n "$master" ] && ! kill -0 "$master" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if ! addr_ready "$addr"; then
		INST_STATE[$inst]="skipped: $inst did not listen on $addr; log: $(tail -n3 "$GTMP/$inst.log" | tr '\n' ' ')"
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
		local match=${INST_WORKER_MATCH[$inst]:-} p keep=
		if [ -n "$match" ] && [ "$pids" != "$master" ]; then
			for p in $pids; do
				tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" |
				    grep -q -e "$match" && keep+="$p "
			done
			pids=${keep:-$master}
		fi
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

# Sample every instance for 2 s without load, into INST_IDLE (% of one
# CPU). A server that burns CPU while idle takes it from whichever scenario
# is measured next, so this is checked before and after the rounds.
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
# nginx, generated from the instances that started: 2 workers, `return
# 200` at /return, a location /INSTANCE per FastCGI instance and, with
# NGINX_TLS=1, the same `return 200` over HTTPS with each certificate.

NGINX_MASTER= NGINX_TLS_PORT= NGINX_RSA_PORT=
write_nginx_conf() {
	local conf=$GTMP/nginx.conf inst addr wc=2048 d
	# Room for the idle connections, all on one worker if it comes to it.
	[ ${#IDLE[@]} -gt 0 ] && wc=$((IDLE_CONNS + 2048))
	mkdir -p "$GTMP/nginx"
	{
		echo "worker_processes 2;"
		echo "worker_rlimit_nofile $NOFILE;"
		echo "pid $GTMP/nginx.pid;"
		echo "error_log $GTMP/nginx-error.log warn;"
		# Workers must reach the sockets in our 0700 temp dir.
		[ "$(id -u)" = 0 ] && echo "user root root;"
		echo "events { worker_connections $wc; }"
		echo "http {"
		echo "  access_log off;"
		echo "  keepalive_requests 1000000;"
		for d in client_body fastcgi proxy uwsgi scgi; do
			echo "  ${d}_temp_path $GTMP/nginx/$d;"
		done
		for inst in "${!INST_STATE[@]}"; do
			[ "${INST_STATE[$inst]}" = ok ] || continue
			case ${INST_KIND[$inst]} in keep | proxy) ;; *) continue ;; esac
			echo "  upstream $inst { server ${INST_ADDR[$inst]}; keepalive 32; }"
		done
		echo "  server {"
		echo "    listen 127.0.0.1:$PORT;"
		printf '%s\n' '    location = /return { default_type text/plain; return 200 "Hello, world!\n"; }'
		if [ -n "$STATIC_ROOT" ]; then
			echo "    location /static/ { alias $STATIC_ROOT/;"
			echo "      sendfile on; tcp_nopush on; }"
		fi
		for inst in "${!INST_STATE[@]}"; do
			[ "${INST_STATE[$inst]}" = ok ] || continue
			addr=${INST_ADDR[$inst]}
			case ${INST_KIND[$inst]} in keep | new | proxy) ;; *) continue ;; esac
			echo "    location = /$inst {"
			if [ "${INST_KIND[$inst]}" = proxy ]; then
				# HTTP/1.1 kept connections to the upstream.
				echo "      proxy_pass http://$inst; proxy_http_version 1.1;"
				echo '      proxy_set_header Connection "";'
			elif [ "${INST_PARAMS[$inst]:-}" = cgi ]; then
				echo "      include $GTMP/cgi_params;"
			else
				echo "      include $GTMP/fastcgi_params;"
			fi
			case ${INST_KIND[$inst]} in
			proxy) ;;
			keep) echo "      fastcgi_pass $inst; fastcgi_keep_conn on;" ;;
			new) echo "      fastcgi_pass $addr;" ;;
			esac
			echo "    }"
		done
		echo "  }"
		if [ "$NGINX_TLS" = 1 ]; then
			for d in "ec $NGINX_TLS_PORT" "rsa $NGINX_RSA_PORT"; do
				set -- $d
				echo "  server {"
				echo "    listen 127.0.0.1:$2 ssl;"
				echo "    ssl_certificate $CERTS/$1.pem;"
				echo "    ssl_certificate_key $CERTS/$1.key;"
				echo "    ssl_protocols TLSv1.2 TLSv1.3;"
				printf '%s\n' '    location = /return { default_type text/plain; return 200 "Hello, world!\n"; }'
				echo "  }"
			done
		fi
		echo "}"
	} >"$conf"
	cat >"$GTMP/fastcgi_params" <<-'EOF'
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
	# CGI: every location runs the one script, named by SCRIPT_FILENAME
	# (what both fcgiwrap and bridge --cgi go by).
	{
		grep -v -e SCRIPT_NAME -e PATH_INFO "$GTMP/fastcgi_params"
		echo "fastcgi_param SCRIPT_NAME       /hello.cgi;"
		echo "fastcgi_param SCRIPT_FILENAME   $CGI_ROOT/hello.cgi;"
		echo "fastcgi_param DOCUMENT_ROOT     $CGI_ROOT;"
		echo 'fastcgi_param PATH_INFO         "";'
	} >"$GTMP/cgi_params"
}

start_nginx() {
	local i port=127.0.0.1:$PORT
	! addr_ready "$port" || die "port $PORT is taken; set PORT="
	if [ "$NGINX_TLS" = 1 ]; then
		make_certs
		alloc_port
		NGINX_TLS_PORT=$GOT_PORT
		alloc_port
		NGINX_RSA_PORT=$GOT_PORT
	fi
	write_nginx_conf
	nginx -t -c "$GTMP/nginx.conf" -p "$GTMP/nginx" >"$GTMP/nginx-t.log" 2>&1 ||
		die "nginx rejects its config: $(cat "$GTMP/nginx-t.log")"
	nginx -c "$GTMP/nginx.conf" -p "$GTMP/nginx" -g 'daemon off;' \
	    >"$GTMP/nginx.log" 2>&1 &
	NGINX_MASTER=$!
	track "$NGINX_MASTER"
	for ((i = 0; i < 100; i++)); do
		addr_ready "$port" && break
		kill -0 "$NGINX_MASTER" 2>/dev/null ||
			die "nginx exited: $(cat "$GTMP/nginx.log" "$GTMP/nginx-error.log" 2>/dev/null)"
		sleep 0.1
	done
	addr_ready "$port" || die "nginx does not listen on $PORT"
	sleep 0.2
	# shellcheck disable=SC2046
	track $(children "$NGINX_MASTER")
	# The pseudo-instances nginx and nginx-rsa.
	INST_STATE[nginx]=ok INST_KIND[nginx]=http INST_BACKEND[nginx]=nginx
	INST_ADDR[nginx]=$port INST_PATH[nginx]=/return
	INST_MASTER[nginx]=$NGINX_MASTER INST_PIDFILE[nginx]=
	if [ "$NGINX_TLS" = 1 ]; then
		INST_TLS[nginx]=127.0.0.1:$NGINX_TLS_PORT
		INST_STATE[nginx-rsa]=ok INST_KIND[nginx-rsa]=http
		INST_BACKEND[nginx-rsa]=nginx INST_PATH[nginx-rsa]=/return
		INST_ADDR[nginx-rsa]=127.0.0.1:$NGINX_RSA_PORT
		INST_TLS[nginx-rsa]=127.0.0.1:$NGINX_RSA_PORT
	fi
}

# The URL scenario tool TOOL loads INSTANCE at.
inst_url() {
	local inst=$1 tool=$2
	case $tool in
	tls | hs) echo "https://${INST_TLS[$inst]:-none}${INST_PATH[$inst]}" ;;
	*)
		case ${INST_KIND[$inst]} in
		keep | new | proxy) echo "http://127.0.0.1:$PORT/$inst" ;;
		*) echo "http://${INST_ADDR[$inst]}${INST_PATH[$inst]}" ;;
		esac
		;;
	esac
}

# ---------------------------------------------------------------------------
# Load generators. Each writes its output to FILE; parse_run turns it into
# one TSV row: rps requests non2xx connect read write timeout p99_ms.

# wrk against URL with CONNS connections for DURATION s; then optionally
# a Lua script and its arguments.
run_wrk() {
	local url=$1 conns=$2 duration=$3 file=$4 threads=$THREADS
	local -a script=()
	shift 4
	if [ $# -gt 0 ]; then
		script=(-s "$1")
		shift
	fi
	[ "$threads" -le "$conns" ] || threads=$conns
	# In the background, so that INT/TERM reach the trap at once.
	wrk -t"$threads" -c"$conns" -d"${duration}s" --latency "${script[@]}" \
	    "$url" ${1+--} "$@" >"$file" 2>&1 &
	track $!
	wait $! || true
}

# HS_CLIENTS `openssl s_time -new` in parallel against host:port for
# DURATION s: full handshakes (no resumption), no request. s_time's own
# "real seconds" is whole seconds, so the rate is its connection count over
# the wall time measured here.
run_hs() {
	local hostport=$1 duration=$2 file=$3 i t0 t1 fails=0 n=0 c
	local -a pids=()
	t0=$(date +%s.%N)
	for ((i = 0; i < HS_CLIENTS; i++)); do
		openssl s_time -connect "$hostport" -new -time "$duration" \
		    </dev/null >"$file.$i" 2>&1 &
		pids+=($!)
		track $!
	done
	for i in "${pids[@]}"; do
		wait "$i" || fails=$((fails + 1))
	done
	t1=$(date +%s.%N)
	for ((i = 0; i < HS_CLIENTS; i++)); do
		c=$(awk '/connections in .* real seconds/ { print $1; exit }' "$file.$i")
		[ -n "$c" ] || fails=$((fails + 1))
		n=$((n + ${c:-0}))
		{ echo "== s_time $i of $HS_CLIENTS"; cat "$file.$i"; } >>"$file"
		rm -f "$file.$i"
	done
	awk -v n="$n" -v t0="$t0" -v t1="$t1" -v f="$fails" 'BEGIN {
		printf "handshakes: %d in %.3f s wall: %.1f/s, failed clients %d\n",
		    n, t1 - t0, (t1 > t0 ? n / (t1 - t0) : 0), f
	}' >>"$file"
}

# Run scenario NAME for DURATION s, output to FILE.
run_scenario() {
	local name=$1 duration=$2 file=$3
	case ${SC_TOOL[$name]} in
	wrk | tls) run_wrk "${SC_URL[$name]}" "${SC_CONNS[$name]}" "$duration" "$file" ;;
	pipe)
		run_wrk "${SC_URL[$name]}" "${SC_CONNS[$name]}" "$duration" "$file" \
		    "$HERE/pipeline.lua" "$PIPE_DEPTH"
		;;
	hs)
		local hp=${SC_URL[$name]#https://}
		run_hs "${hp%%/*}" "$duration" "$file"
		;;
	esac
}

parse_run() {
	case ${SC_TOOL[$1]} in
	hs) parse_hs "$2" ;;
	*) parse_wrk "$2" ;;
	esac
}

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

# A failed s_time client counts as a connect error.
parse_hs() {
	awk '
	BEGIN { rps = 0; n = 0; f = 0 }
	/^handshakes:/ { n = $2; rps = $7; sub(/\/s,$/, "", rps); f = $NF }
	/^ERROR|Unable to get connection/ { f++ }
	END { printf "%.2f\t%d\t0\t%d\t0\t0\t0\tNA\n", rps, n, f }' "$1"
}

# ---------------------------------------------------------------------------
# One group, start to finish: start its servers and nginx, check every URL,
# warm up, measure in interleaved rounds, idle connections, memory, report,
# chart; then stop everything it started.

declare -A SC_URL=() SC_CONNS=() SC_BACKEND=() SC_INST=() SC_STATE=() \
    SC_TOOL=() SC_EXPECT=() SC_PATH=()

# 0 if a scenario of the current group matches ONLY.
group_selected() {
	local row
	for row in "${SCENARIOS[@]}"; do
		[ -z "$ONLY" ] || [[ ${row%% *} =~ $ONLY ]] && return 0
	done
	return 1
}

run_group() {
	local g=$1 row name inst backend start kind conns tool expect body path
	local gout=$OUT/$g
	GTMP=$TMP/$g
	mkdir -p "$GTMP"
	INST_ADDR=() INST_MASTER=() INST_PIDFILE=() INST_STATE=() INST_WORKERS=()
	INST_KIND=() INST_BACKEND=() INST_TLS=() INST_PATH=() INST_PARAMS=()
	INST_IDLE=() INST_WORKER_MATCH=()
	SC_URL=() SC_CONNS=() SC_BACKEND=() SC_INST=() SC_STATE=() SC_TOOL=()
	SC_EXPECT=() SC_PATH=()
	BRIDGE_USED=()
	STATIC_ROOT=
	if [ "$g" = static ]; then
		STATIC_ROOT=$GTMP/static
		mkdir -p "$STATIC_ROOT"
		head -c 10240 /dev/urandom >"$STATIC_ROOT/10k.bin"
		head -c 10485760 /dev/urandom >"$STATIC_ROOT/10m.bin"
	fi
	CGI_ROOT=$GTMP/cgi
	if [ "$g" = cgi ]; then
		mkdir -p "$CGI_ROOT"
		cp "$HERE/hello.cgi" "$CGI_ROOT/hello.cgi"
		chmod 755 "$CGI_ROOT/hello.cgi"
	fi

	rm -rf "$gout"
	mkdir -p "$gout/wrk"
	local scen_tsv=$gout/scenarios.tsv raw_tsv=$gout/raw.tsv
	local rss_tsv=$gout/rss.tsv idle_tsv=$gout/idle.tsv
	local sleep_tsv=$gout/sleep.tsv
	printf 'scenario\tbackend\tinstance\ttool\tconns\turl\tstate\n' >"$scen_tsv"

	log "== group $g: $GROUP_TITLE"
	local -A wanted=()
	local order=()
	for row in "${SCENARIOS[@]}"; do
		path=
		read -r name inst conns tool expect path <<<"$row"
		if [ -n "$ONLY" ] && ! [[ $name =~ $ONLY ]]; then
			continue
		fi
		order+=("$name")
		wanted[$inst]=1
		SC_INST[$name]=$inst
		SC_TOOL[$name]=$tool
		SC_EXPECT[$name]=$expect
		SC_PATH[$name]=$path
		[ "$tool" = hs ] && conns=$HS_CLIENTS
		SC_CONNS[$name]=$conns
	done
	# The sleepers probe's instances have no scenario of their own.
	for inst in "${SLEEPERS[@]}"; do
		[ -z "$ONLY" ] || [[ $inst =~ $ONLY ]] || continue
		wanted[$inst]=1
	done
	for row in "${INSTANCES[@]}"; do
		read -r inst backend start kind <<<"$row"
		[ -n "${wanted[$inst]:-}" ] || continue
		INST_KIND[$inst]=$kind
		INST_BACKEND[$inst]=$backend
		log "starting $inst"
		start_instance "$inst" "$start" ||
			log "SKIP $inst: ${INST_STATE[$inst]#skipped: }"
	done
	start_nginx

	# Every URL must answer 200 and the expected body before it is
	# measured; pipelining must give every response.
	for name in "${order[@]}"; do
		inst=${SC_INST[$name]}
		SC_BACKEND[$name]=${INST_BACKEND[$inst]:-?}
		SC_STATE[$name]=${INST_STATE[$inst]:-"skipped: no instance $inst in group $g"}
		[ "${SC_STATE[$name]}" = ok ] || continue
		SC_URL[$name]=$(inst_url "$inst" "${SC_TOOL[$name]}")
		if [ -n "${SC_PATH[$name]}" ]; then
			SC_URL[$name]=${SC_URL[$name]%"${INST_PATH[$inst]}"}${SC_PATH[$name]}
		fi
		if [ "${SC_EXPECT[$name]}" = file ]; then
			# Binary: compared by digest.
			expect=$(sha256sum <"$STATIC_ROOT/${SC_PATH[$name]#/static/}")
			body=$(curl -ksS --max-time 60 "${SC_URL[$name]}" | sha256sum)
			[ "$body" = "$expect" ] && body=$expect$'\n200'
		else
			expect=${EXPECT_BODY[${SC_EXPECT[$name]}]}
			body=$(curl -ksS --max-time 10 -w '\n%{http_code}' "${SC_URL[$name]}" 2>&1) || true
		fi
		if [ "$body" != "$expect"$'\n200' ]; then
			SC_STATE[$name]="skipped: sanity request to ${SC_URL[$name]} got: $(printf '%s' "$body" | tr '\n' ' ' | head -c 200)"
		elif [ "${SC_TOOL[$name]}" = pipe ]; then
			local hp=${SC_URL[$name]#http://}
			local path=/${hp#*/}
			hp=${hp%%/*}
			body=$("$PY" "$HERE/conns.py" pipeline "${hp%:*}" "${hp##*:}" \
			    "$path" "$PIPE_DEPTH" "${EXPECT_ESC[${SC_EXPECT[$name]}]}" 2>&1) ||
				SC_STATE[$name]="skipped: $body"
		elif [ "${SC_TOOL[$name]}" = hs ]; then
			# The certificate served must be the one named.
			local bits want=256
			[[ $name == *rsa* ]] && want=2048
			bits=$(openssl s_client -connect "${INST_TLS[$inst]}" </dev/null 2>/dev/null |
			    awk '/^Server public key is/ { print $5 }')
			[ "$bits" = "$want" ] ||
				SC_STATE[$name]="skipped: ${INST_TLS[$inst]} serves a ${bits:-?}-bit key, not $want"
		fi
		if [ "${SC_STATE[$name]}" != ok ]; then
			log "$name ${SC_STATE[$name]}"
			[ "$inst" = nginx ] || [ "$inst" = nginx-rsa ] ||
				log "  $inst log: $(tail -n5 "$GTMP/$inst.log" 2>/dev/null | tr '\n' ' ')"
		fi
	done

	for inst in "${!INST_STATE[@]}"; do
		[ "${INST_STATE[$inst]}" = ok ] || continue
		[ "$inst" = nginx-rsa ] && continue
		INST_WORKERS[$inst]=$(find_workers "$inst")
		# shellcheck disable=SC2086
		track ${INST_WORKERS[$inst]}
	done

	local runnable=()
	for name in "${order[@]}"; do
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${SC_BACKEND[$name]}" \
		    "${SC_INST[$name]}" "${SC_TOOL[$name]}" "${SC_CONNS[$name]}" \
		    "${SC_URL[$name]:-}" "${SC_STATE[$name]}" >>"$scen_tsv"
		[ "${SC_STATE[$name]}" != ok ] || runnable+=("$name")
	done

	# Measure, interleaved: every round visits every scenario once.
	printf 'round\tscenario\tbackend\tconns\trps\trequests\tnon2xx\tconnect\tread\twrite\ttimeout\tp99_ms\tbg_busy_pct\tsrv_cpu_s\tcli_cpu_s\n' >"$raw_tsv"
	if [ ${#runnable[@]} -gt 0 ]; then
		local eta=$(( ${#runnable[@]} * (ROUNDS * (DUR + 2) + WARMUP) + 12 ))
		[ ${#IDLE[@]} -gt 0 ] && [ "$IDLE_CONNS" -gt 0 ] && eta=$((eta + 10 * ${#IDLE[@]}))
		log "group $g: ${#runnable[@]} scenarios x $ROUNDS rounds x ${DUR}s, about $((eta / 60))m$((eta % 60))s"
		if [ "$WARMUP" -gt 0 ]; then
			for name in "${runnable[@]}"; do
				run_scenario "$name" "$WARMUP" "$GTMP/warmup.txt"
			done
		fi
		idle_check "after the warm-up"

		# bg_busy_pct: how busy the machine was in the second before the
		# run, with everything here idle: other work that competes with
		# the measurement.
		# srv_cpu_s: CPU time the measured server's own processes (master
		# and workers; for nginx its workers) used during the run; not
		# their children: fcgiwrap does not wait for its CGI scripts, so
		# their time would count for bridge only.
		# cli_cpu_s: CPU time of the load generator (wrk, s_time) in the
		# run.  It shares the machine's cores with the server, so a rate
		# is 1 / (server + client CPU per request) at most, per core.
		local round file bg rowv rps non2xx conn rd wr tmo c0 c1 spids hz
		local w0 w1
		hz=$(getconf CLK_TCK)
		for ((round = 1; round <= ROUNDS; round++)); do
			for name in "${runnable[@]}"; do
				file=$gout/wrk/$round-$name.txt
				inst=${SC_INST[$name]}
				[ "$inst" = nginx-rsa ] && inst=nginx
				spids=$(inst_pids "$inst")
				bg=$(machine_busy)
				# shellcheck disable=SC2086
				c0=$(cpu_ticks $spids)
				children_cpu_s
				w0=$CHILD_CPU_S
				run_scenario "$name" "$DUR" "$file"
				children_cpu_s
				w1=$CHILD_CPU_S
				# shellcheck disable=SC2086
				c1=$(cpu_ticks $spids)
				rowv=$(parse_run "$name" "$file")
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$name" \
				    "${SC_BACKEND[$name]}" "${SC_CONNS[$name]}" "$rowv" "$bg" \
				    "$(awk -v t=$((c1 - c0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')" \
				    "$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')" >>"$raw_tsv"
				IFS=$'\t' read -r rps _ non2xx conn rd wr tmo _ <<<"$rowv"
				log "$(printf '%s round %d/%d  %-18s %9s %s  non-2xx %s  sock c/r/w %s/%s/%s  timeout %s  (machine %s%% busy before)' \
				    "$g" "$round" "$ROUNDS" "$name" "$rps" \
				    "$([ "${SC_TOOL[$name]}" = hs ] && echo 'hs/s ' || echo 'req/s')" \
				    "$non2xx" "$conn" "$rd" "$wr" "$tmo" "$bg")"
			done
		done
	else
		log "group $g: nothing to measure"
	fi

	# Idle keep-alive connections: memory before and after opening them.
	printf 'instance\tbackend\twanted\theld\tfailed\trss_before_kb\trss_after_kb\tpss_before_kb\tpss_after_kb\topen_s\n' >"$idle_tsv"
	if [ "$IDLE_CONNS" -gt 0 ] && [ ${#runnable[@]} -gt 0 ]; then
		local res hp
		for inst in "${IDLE[@]}"; do
			[ "${INST_STATE[$inst]:-}" = ok ] && [ -n "${INST_WORKERS[$inst]:-}" ] || continue
			hp=${INST_ADDR[$inst]}
			log "holding $IDLE_CONNS idle keep-alive connections to $inst"
			# shellcheck disable=SC2086
			res=$("$PY" "$HERE/conns.py" idle "${hp%:*}" "${hp##*:}" \
			    "${INST_PATH[$inst]}" "$IDLE_CONNS" "${EXPECT_ESC[hello]}" \
			    ${INST_WORKERS[$inst]} 2>"$GTMP/idle-$inst.err") ||
				log "idle test of $inst failed: $(tail -n3 "$GTMP/idle-$inst.err")"
			if [ -n "$res" ]; then
				printf '%s\t%s\t%s\n' "$inst" "${INST_BACKEND[$inst]}" "$res" >>"$idle_tsv"
				log "$inst: $res"
			fi
			# Let the server drop them before anything else runs.
			sleep 1
		done
	fi

	# The sleepers: SLEEP_CONNS requests at once, each awaiting a 1 s
	# sleep in the application, on one worker; the time until all were
	# answered and the worker's memory meanwhile.
	printf 'instance\tbackend\twanted\tok\tfailed\tseconds\trss_before_kb\trss_peak_kb\trss_after_kb\n' >"$sleep_tsv"
	for inst in "${SLEEPERS[@]}"; do
		[ "${INST_STATE[$inst]:-}" = ok ] && [ -n "${INST_WORKERS[$inst]:-}" ] || {
			[ -z "${INST_STATE[$inst]:-}" ] ||
				log "sleepers: $inst ${INST_STATE[$inst]}"
			continue
		}
		local res hp=${INST_ADDR[$inst]}
		log "$SLEEP_CONNS requests at once to $inst/sleep (each sleeps 1 s)"
		# shellcheck disable=SC2086
		res=$("$PY" "$HERE/asgi_sleep.py" "${hp%:*}" "${hp##*:}" /sleep \
		    "$SLEEP_CONNS" "${EXPECT_ESC[asgi]}" ${INST_WORKERS[$inst]} \
		    2>"$GTMP/sleep-$inst.err") ||
			log "sleepers on $inst failed: $(tail -n3 "$GTMP/sleep-$inst.err")"
		if [ -n "$res" ]; then
			printf '%s\t%s\t%s\n' "$inst" "${INST_BACKEND[$inst]}" "$res" >>"$sleep_tsv"
			log "$inst: $res"
			[ -s "$GTMP/sleep-$inst.err" ] &&
				log "  $(head -n3 "$GTMP/sleep-$inst.err" | tr '\n' ' ')"
		fi
	done

	# nginx logs what its clients never see: a failed kept connection is
	# retried on a new one. report.py counts these per location.
	cp "$GTMP/nginx-error.log" "$gout/nginx-error.log" 2>/dev/null || true

	# Worker memory and idle CPU after the load.
	idle_check "after the run"
	printf 'instance\tbackend\tmaster_pid\tmaster_rss_kb\tworkers\tsum_rss_kb\tper_worker_rss_kb\tidle_cpu_pct\tsum_pss_kb\n' >"$rss_tsv"
	local master mrss sum psum n per p r s
	for inst in $(printf '%s\n' "${!INST_WORKERS[@]}" | sort); do
		master=${INST_MASTER[$inst]}
		mrss=NA
		if [ -n "$master" ] && ! [[ " ${INST_WORKERS[$inst]} " == *" $master "* ]]; then
			mrss=$(rss_kb "$master") || mrss=
			mrss=${mrss:-NA}
		else
			master=-
		fi
		sum=0 psum=0 n=0 per=
		for p in ${INST_WORKERS[$inst]}; do
			r=$(rss_kb "$p") || r=
			if [ -z "$r" ]; then
				log "WARNING: $inst: worker $p exited during the run"
				continue
			fi
			s=$(pss_kb "$p") || s=
			sum=$((sum + r)) psum=$((psum + ${s:-0})) n=$((n + 1)) per+="${per:+,}$r"
		done
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" \
		    "${INST_BACKEND[$inst]}" "$master" "$mrss" "$n" "$sum" \
		    "${per:-NA}" "${INST_IDLE[$inst]:-NA}" "$psum" >>"$rss_tsv"
	done

	# Logs of servers that complained.
	for inst in "${!INST_STATE[@]}"; do
		[ -s "$GTMP/$inst.log" ] && cp "$GTMP/$inst.log" "$gout/$inst.log"
	done

	{
		echo "group $g: $GROUP_TITLE"
		echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(uname -sr)  cpus: $(nproc)"
		echo "$(peer_versions "$g")"
		if [ ${#BRIDGE_USED[@]} -gt 0 ] && [ -n "$BRIDGE_BIN" ]; then
			local k d=$BRIDGE_DESC
			for k in $(printf '%s\n' "${!BRIDGE_USED[@]}" | sort); do
				d+=", $k ${BRIDGE_USED[$k]}"
			done
			echo "$d"
		else
			echo "bridge: not measured (${BRIDGE_NOTE:-not selected})"
		fi
		echo "git: $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(git -C "$TOP" diff --quiet HEAD -- bridge adapters examples 2>/dev/null || echo ' (+ uncommitted changes)')  machine busy before start: ${BUSY_BEFORE}%"
		echo "$(load_line "$g")"
	} >"$gout/env.txt"
	: >"$gout/targets.tsv"
	for row in "${TARGETS[@]}"; do
		# shellcheck disable=SC2086
		printf '%s\t%s\t%s\t%s\t%s\n' $row >>"$gout/targets.tsv"
	done

	"$PY" "$HERE/report.py" --out "$gout" --ref "$REF_SCENARIO" \
	    --ceiling "$CEILING_SCENARIO" --title "$GROUP_TITLE" |
		tee "$gout/report.txt"

	if gnuplot -e "datafile='$gout/chart.dat'; labelfile='$gout/chart-labels.gp'; outfile='$gout/chart.png'" \
	    "$HERE/chart.gp" 2>"$GTMP/gnuplot.log"; then
		log "chart: $gout/chart.png"
	else
		log "gnuplot failed: $(cat "$GTMP/gnuplot.log")"
	fi
	stop_tracked
}

peer_versions() {
	local v="nginx $(nginx -v 2>&1 | sed 's/.*\///')  wrk $(wrk -v 2>&1 | awk 'NR==1 {print $2}')"
	case $1 in
	fastcgi) v+="  uwsgi $(uwsgi --version)  libfcgi $(dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null || echo '?')" ;;
	http) v+="  $(openssl version | cut -d' ' -f1-2)" ;;
	wsgi) v+="  uwsgi $(uwsgi --version)  $(gunicorn --version 2>&1 | tr -d '()' | sed 's/ version//')  python $("$PY" -c 'import sys, flask; print(sys.version.split()[0], "flask", flask.__version__)' 2>/dev/null)" ;;
	cgi) v+="  fcgiwrap $(dpkg-query -W -f='${Version}' fcgiwrap 2>/dev/null || echo '?')" ;;
	asgi) v+="  $("$PY" -c 'import sys, uvicorn, hypercorn, starlette, fastapi, uvloop, httptools
from importlib.metadata import version as v
print("python", sys.version.split()[0], "uvicorn", uvicorn.__version__, "hypercorn", v("hypercorn"), "uvloop", uvloop.__version__, "httptools", httptools.__version__, "starlette", starlette.__version__, "fastapi", fastapi.__version__)' 2>/dev/null)" ;;
	esac
	echo "$v"
}

load_line() {
	case $1 in
	fastcgi) echo "wrk -t$THREADS -c<conns> -d${DUR}s, $ROUNDS interleaved rounds, $WORKERS workers per backend, nginx 2 workers, FastCGI over $TRANSPORT" ;;
	http) echo "wrk -t$THREADS -c<conns> -d${DUR}s (pipe: $PIPE_DEPTH requests per write), s_time -new x$HS_CLIENTS, $ROUNDS interleaved rounds, bridge -w $WORKERS, nginx 2 workers, idle: $IDLE_CONNS connections" ;;
	wsgi) echo "wrk -t$THREADS -c<conns> -d${DUR}s, $ROUNDS interleaved rounds, $WORKERS workers per server, nginx 2 workers, FastCGI over $TRANSPORT" ;;
	cgi) echo "wrk -t$THREADS -c<conns> -d${DUR}s, $ROUNDS interleaved rounds, $WORKERS workers per gateway, nginx 2 workers, FastCGI over $TRANSPORT" ;;
	asgi) echo "wrk -t$THREADS -c<conns> -d${DUR}s, $ROUNDS interleaved rounds, $WORKERS workers per server, nginx 2 workers, FastCGI over $TRANSPORT; sleepers: $SLEEP_CONNS requests on 1 worker; bridge --asgi-loop ${ASGI_LOOP:-default}" ;;
	esac
}

# ---------------------------------------------------------------------------
# Plan and run.

SELECTED=()
for g in "${GROUPS_RUN[@]}"; do
	SLEEPERS=()
	"group_$g"
	group_selected && SELECTED+=("$g")
done
[ ${#SELECTED[@]} -gt 0 ] || die "no scenario matches --only '$ONLY'"

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

mkdir -p "$OUT"
# Results of the layout before groups (one directory for everything).
rm -rf "$OUT/wrk"
rm -f "$OUT"/{chart.png,chart.dat,chart-labels.gp,env.txt,nginx-error.log,ratios.tsv,raw.tsv,rss.tsv,scenarios.tsv,summary.tsv}

for g in "${SELECTED[@]}"; do
	SLEEPERS=()
	"group_$g"
	run_group "$g"
done

# All groups' reports in one file, and every target on one screen.
{
	for g in "${SELECTED[@]}"; do
		cat "$OUT/$g/report.txt"
		echo
	done
} >"$OUT/report.txt"
{
	echo
	echo "targets and ratios, all groups (ratio, verdict, target)"
	for g in "${SELECTED[@]}"; do
		if [ -s "$OUT/$g/targets-result.tsv" ]; then
			tail -n +2 "$OUT/$g/targets-result.tsv" |
			    awk -F'\t' -v g="$g" '{
				printf "  %-8s %-46s %8s   %-12s %s\n", g, $1 " / " $2, $3, $5, $4
			    }'
		fi
		# The fastcgi group's ratios to every backend's best.
		if [ -s "$OUT/$g/ratios.tsv" ]; then
			tail -n +2 "$OUT/$g/ratios.tsv" |
			    awk -F'\t' -v g="$g" '{
				printf "  %-8s %-46s %7.2fx   %-12s %s\n", g, $1 " / " $2, $6, "(" $3 ")", ""
			    }'
		fi
	done
} | tee -a "$OUT/report.txt"
log "results: $OUT/report.txt, $OUT/GROUP/{report.txt,summary.tsv,raw.tsv,rss.tsv,idle.tsv,chart.png}"
