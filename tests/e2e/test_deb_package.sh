#!/bin/bash
# The Debian package (debian/): dpkg-buildpackage -us -uc -b builds bridge
# and bridge-dev from a clean copy of the source tree (tracked and new
# files, no build directory), lintian finds no error, dpkg -i installs
# them and the files are where README.Debian says.  The installed
# bridge.service's ExecStart, as User=/Group=, with the installed
# /etc/bridge/bridge.conf, serves the Flask example over HTTP and FastCGI
# on the sockets of the installed socket units, passed the way systemd
# passes them (systemd-socket-activate, as test_deploy_units.py does: no
# systemd runs here).  The name clash: iproute2's /sbin/bridge stays its
# own and comes first in root's PATH; the units call /usr/bin/bridge.
# The installed native example builds against bridge-dev and runs.
#
# Needs root (dpkg -i); the packages are purged at the end.  Only the
# plain suite runs it (Makefile.am: not under sanitizers or coverage,
# which would build the same package again).
set -u
: "${SRCDIR:?}"
if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null
then
	echo "SKIP: dpkg-buildpackage or dh not installed (dpkg-dev," \
		"debhelper: tests/deps.sh)"
	exit 77
fi
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root to install the package (dpkg -i)"
	exit 77
fi
if dpkg-query -W -f='${Status}\n' bridge bridge-dev 2>/dev/null |
    grep -q ' installed$'; then
	echo "SKIP: a bridge package is installed on this machine; this test" \
		"installs and purges its own"
	exit 77
fi

tmp=$(mktemp -d /tmp/bridge-deb.XXXXXX)
chmod 755 "$tmp"
pass=0 fail=0 installed=0 pid=
had_run=0; [ -e /run/bridge ] && had_run=1
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if [ "$installed" = 1 ]; then
		dpkg --purge bridge-dev bridge >"$tmp/purge.log" 2>&1 ||
			cat "$tmp/purge.log"
	fi
	[ "$had_run" = 1 ] || rm -rf /run/bridge
	# an operator's /etc/bridge (make install), put aside below
	if [ -e "$tmp/etc-bridge" ]; then
		rm -rf /etc/bridge
		mv "$tmp/etc-bridge" /etc/bridge
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
check() {
	if eval "$2"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $1"; fi
}
finish() {
	echo "$pass passed, $fail failed"
	echo "# cases: pass=$pass fail=$fail skip=0"
	[ "$fail" -eq 0 ]
	exit
}
# A fresh machine's environment for the build: not the suite's (make's
# jobserver, BRIDGE, srcdir, sanitizer options, a virtualenv).
clean_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$tmp"
	LANG=C.UTF-8 TMPDIR="$tmp")

# --- build from a clean copy --------------------------------------------
mkdir "$tmp/src"
if git -C "$SRCDIR" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$SRCDIR" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
		tar -xf - -C "$tmp/src"
else
	tar -C "$SRCDIR" --exclude=./.git --exclude='./build*' \
		--exclude=./debian/build --exclude=./debian/tmp -cf - . |
		tar -xf - -C "$tmp/src"
fi
if ! (cd "$tmp/src" && "${clean_env[@]}" \
    DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" \
    dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log"
	fail=$((fail + 1)); echo "FAIL: dpkg-buildpackage -us -uc -b"
	finish
fi
pass=$((pass + 1))
debs=()
for p in bridge bridge-dev; do
	f=$(ls "$tmp"/${p}_*.deb 2>/dev/null | head -1)
	check "$p .deb built" '[ -n "$f" ]'
	[ -z "$f" ] || debs+=("$f")
done
if command -v lintian >/dev/null; then
	lint=$("${clean_env[@]}" lintian --fail-on error "$tmp"/bridge_*.changes \
		2>&1); rc=$?
	check "lintian: no error" \
		'[ $rc -eq 0 ] && ! grep -q "^E: " <<<"$lint" || { echo "$lint"; false; }'
else
	check "lintian installed (tests/deps.sh)" false
fi
[ ${#debs[@]} -eq 2 ] || finish

# --- install ------------------------------------------------------------
[ ! -e /etc/bridge ] || mv /etc/bridge "$tmp/etc-bridge"
installed=1
out=$(dpkg -i "${debs[@]}" </dev/null 2>&1); rc=$?
check "dpkg -i installs both packages" '[ $rc -eq 0 ] || { echo "$out"; false; }'
[ $rc -eq 0 ] || finish

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
conffiles=$(dpkg-query -W -f='${Conffiles}\n' bridge)
check "/usr/bin/bridge installed" '[ -x /usr/bin/bridge ]'
for a in python cgi tls; do
	check "adapter $a.so installed" \
		'[ -f "/usr/lib/$multiarch/bridge/$a.so" ]'
done
# Documentation is checked in the .debs: a minimal image's dpkg may
# path-exclude /usr/share/doc and /usr/share/man.
contents=$(dpkg-deb -c "${debs[0]}"; dpkg-deb -c "${debs[1]}")
has() { grep -q " \./$1\$" <<<"$contents"; }
check "man page packaged" 'has usr/share/man/man1/bridge.1.gz'
for f in bridge.service bridge.socket bridge-http.socket; do
	check "unit $f installed" '[ -f "/lib/systemd/system/$f" ]'
done
check "/etc/bridge/bridge.conf is a conffile" \
	'grep -q "^ /etc/bridge/bridge.conf " <<<"$conffiles"'
check "bridge.conf is the commented one (every key with its default)" \
	'grep -q "^# workers = 1" /etc/bridge/bridge.conf'
# env -u BRIDGE_ALLOW_ROOT here and below: the installed binary runs as
# users run it (root, dropping to the unit's User=), never with the
# --allow-root shortcut an outer environment might set.
out=$(env -u BRIDGE_ALLOW_ROOT LISTEN_FDS=1 /usr/bin/bridge \
	--config /etc/bridge/bridge.conf --check-config --user www-data 2>&1); rc=$?
check "README.Debian's check-config passes on the installed bridge.conf" \
	'[ $rc -eq 0 ] || { echo "$out"; false; }'
check "logrotate file installed, a conffile" \
	'cmp -s /etc/logrotate.d/bridge "$SRCDIR/conf/bridge.logrotate" &&
	 grep -q "^ /etc/logrotate.d/bridge " <<<"$conffiles"'
if command -v logrotate >/dev/null; then
	check "logrotate reads /etc/logrotate.d/bridge" \
		'out=$(logrotate -d /etc/logrotate.d/bridge 2>&1) || { echo "$out"; false; }'
fi
check "/run/bridge owned by www-data" \
	'[ "$(stat -c %U:%G /run/bridge 2>&1)" = www-data:www-data ]'
check "conf/ examples under /usr/share/doc/bridge/examples" \
	'has usr/share/doc/bridge/examples/nginx-bridge.conf &&
	 has usr/share/doc/bridge/examples/bridge.service'
check "README.Debian packaged" 'has usr/share/doc/bridge/README.Debian'
check "Flask example installed" \
	'[ -f /usr/share/bridge/examples/flask/main.py ]'
check "<bridge/gateway.h> installed" '[ -f /usr/include/bridge/gateway.h ]'
check "pkg-config bridge-gateway names the adapter directory" \
	'[ "$(pkg-config --variable=moduledir bridge-gateway)" = "/usr/lib/$multiarch/bridge" ]'

# --- the name clash ------------------------------------------------------
version=$(dpkg-query -W -f='${Version}' bridge)
out=$(/usr/bin/bridge --version 2>&1)
check "/usr/bin/bridge --version is ours, the package's version" \
	'grep -q "^bridge ${version%%-*} " <<<"$out" || { echo "$out"; false; }'
svc=/lib/systemd/system/bridge.service
check "the unit runs /usr/bin/bridge by its path" \
	'grep -qx "ExecStart=/usr/bin/bridge --config /etc/bridge/bridge.conf" "$svc"'
supath=$(sed -n 's/^ENV_SUPATH[[:space:]]*PATH=//p' /etc/login.defs 2>/dev/null)
upath=$(sed -n 's/^ENV_PATH[[:space:]]*PATH=//p' /etc/login.defs 2>/dev/null)
if [ -e /sbin/bridge ]; then
	check "/sbin/bridge is still iproute2's" \
		'dpkg -S /sbin/bridge 2>/dev/null | grep -q "^iproute2:"'
	out=$(/sbin/bridge -V 2>&1)
	check "/sbin/bridge -V is iproute2's bridge utility" \
		'grep -q "bridge utility" <<<"$out" || { echo "$out"; false; }'
	found=$(env PATH="${supath:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}" \
		bash -c 'command -v bridge')
	check "root's PATH finds iproute2's first (README.Debian says so)" \
		'case $found in /usr/sbin/bridge|/sbin/bridge) true ;; *)
		 echo "root finds $found"; false ;; esac'
fi
found=$(env PATH="${upath:-/usr/local/bin:/usr/bin:/bin}" \
	bash -c 'command -v bridge')
check "a user's PATH finds /usr/bin/bridge as bridge" \
	'[ "$found" = /usr/bin/bridge ] || { echo "user finds $found"; false; }'

# --- the installed units, started as systemd would ----------------------
unit_val() {	# FILE KEY: the last KEY= of FILE
	sed -n "s/^$2=//p" "$1" | tail -1
}
exec_start=$(unit_val "$svc" ExecStart)
user=$(unit_val "$svc" User)
group=$(unit_val "$svc" Group)
port=$(/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
import harness; print(harness.free_port())' "$SRCDIR/tests/e2e")
listen=() names=()
for u in $(unit_val "$svc" Sockets); do
	f=/lib/systemd/system/$u
	name=$(unit_val "$f" FileDescriptorName)
	for s in $(sed -n 's/^ListenStream=//p' "$f"); do
		case $s in
		/run/bridge/bridge.sock) s=$tmp/bridge.sock ;;
		127.0.0.1:8000) s=127.0.0.1:$port ;;
		*) check "$u: ListenStream=$s known to the test" false ;;
		esac
		listen+=(-l "$s") names+=("$name")
	done
done
check "bridge.service takes http and fastcgi sockets" \
	'[ "$(printf "%s\n" "${names[@]}" | sort | tr "\n" " ")" = "fastcgi http " ]'
fdnames=$(IFS=:; echo "${names[*]}")
# shellcheck disable=SC2086	# ExecStart's words, as systemd splits them
env -u BRIDGE_ALLOW_ROOT systemd-socket-activate "${listen[@]}" \
	--fdname="$fdnames" setpriv --reuid "$user" --regid "$group" \
	--init-groups -- $exec_start </dev/null >/dev/null 2>"$tmp/stderr" &
pid=$!
# Listening: systemd-socket-activate has bound both; the first connection
# starts bridge on them.
for _ in $(seq 300); do
	[ -S "$tmp/bridge.sock" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
get() {
	curl -sS -m 60 --retry 20 --retry-connrefused --retry-delay 1 \
		"http://127.0.0.1:$port$1" 2>&1
}
body=$(get /)
check "installed unit serves the Flask example over HTTP" \
	'[ "$body" = "hello world" ] || { echo "$body"; cat "$tmp/stderr"; false; }'
body=$(get "/json?q=deb")
check "and its JSON route" \
	'tr -d " " <<<"$body" | grep -q "\"query\":\"deb\"" || { echo "$body"; false; }'
body=$(get /static/hello.txt)
check "and its static file" \
	'[ "$body" = "$(cat /usr/share/bridge/examples/flask/static/hello.txt)" ] || { echo "$body"; false; }'
if command -v cgi-fcgi >/dev/null; then
	body=$(env -i REQUEST_METHOD=GET SCRIPT_NAME= PATH_INFO=/ \
		REQUEST_URI=/ QUERY_STRING= SERVER_NAME=localhost \
		SERVER_PORT=80 SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 \
		REMOTE_ADDR=127.0.0.1 timeout 60 cgi-fcgi -bind \
		-connect "$tmp/bridge.sock" 2>&1)
	check "and over FastCGI on the bridge.socket socket" \
		'grep -q "hello world" <<<"$body" || { echo "$body"; false; }'
else
	check "cgi-fcgi installed (libfcgi-bin: tests/deps.sh)" false
fi
owner=$(ps -o user= --ppid "$pid" 2>/dev/null | sort -u | tr -d " \n")
check "workers run as the unit's User=" \
	'[ "$owner" = "$user" ] || { echo "workers run as: $owner"; false; }'
kill -TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
pid=
check "bridge stops on SIGTERM (exit 0)" \
	'[ $rc -eq 0 ] || { echo "exit $rc"; cat "$tmp/stderr"; false; }'

if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify /lib/systemd/system/bridge.service \
		/lib/systemd/system/bridge.socket \
		/lib/systemd/system/bridge-http.socket 2>&1); rc=$?
	check "installed units pass systemd-analyze verify" \
		'[ $rc -eq 0 ] && ! grep -q "bridge" <<<"$out" || { echo "$out"; false; }'
fi

# --- bridge-dev: the native example, built against the installed header --
dpkg-deb -x "${debs[1]}" "$tmp/dev"
mkdir "$tmp/ex"
cp "$tmp"/dev/usr/share/doc/bridge-dev/examples/native/hello.c \
	"$tmp"/dev/usr/share/doc/bridge-dev/examples/native/sse.c \
	"$tmp"/dev/usr/share/doc/bridge-dev/examples/native/Makefile "$tmp/ex/"
check "native example builds against bridge-dev" \
	'make -s -C "$tmp/ex" >"$tmp/ex.log" 2>&1 || { cat "$tmp/ex.log"; false; }'
out=$(cd /tmp && env -u BRIDGE_ALLOW_ROOT GATEWAY_INTERFACE=CGI/1.1 \
	REQUEST_METHOD=GET /usr/bin/bridge --user nobody \
	--module "$tmp/ex/hello.so" </dev/null 2>&1)
check "installed bridge runs it" 'grep -q "Hello, world!" <<<"$out" || { echo "$out"; false; }'

finish
