#!/bin/bash
# Bad flags, bad config files and unusable applications: each gets one line
# naming the problem and a non-zero exit, never a hang or a respawn loop.
# Run by make check with BRIDGE and BUILDDIR set.
set -u
: "${BRIDGE:?}" "${BUILDDIR:?}" "${SRCDIR:?}"
apps=$BUILDDIR/tests/apps/.libs
hello=$BUILDDIR/examples/native/.libs/hello.so
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
. "$SRCDIR/tests/e2e/sanitizer.sh"

# expect NAME STATUS PATTERN -- ARGS...: bridge exits with STATUS within
# 10 s and its stderr has PATTERN (an extended regexp) on one line.
expect() {
	local name=$1 want=$2 pattern=$3 rc out
	shift 4
	out=$(timeout 10 "$BRIDGE" "${user_args[@]}" "$@" 2>&1 >/dev/null </dev/null)
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $name: exit $rc (want $want), stderr: $out"
	fi
}

expect "unknown flag" 2 "unknown option '--bogus'" -- --bogus
expect "flag without value" 2 "--workers needs a value|-w needs a value" -- --workers
expect "workers not a number" 2 "--workers: 'abc' is not a number" -- -w abc
expect "workers zero" 2 "--workers: '0' is not a number in 1..1024" -- -w 0
expect "bad size" 2 "--max-body: '12q' is not a size" -- --max-body 12q
expect "bad socket mode" 2 "--socket-mode: '999' is not an octal mode" -- --socket-mode 999
expect "bad log level" 2 "--log-level: 'loud' is not one of" -- --log-level loud
expect "stray argument" 2 "unexpected argument 'extra'" -- --module "$hello" extra
expect "two applications" 2 "give one application" -- --module "$hello" --wsgi a:b
expect "https without cert" 2 "--https needs --cert" -- --https 127.0.0.1:1 --module "$hello"
expect "cert without key" 2 "1 --cert but 0 --key" -- --https 127.0.0.1:1 --cert x.pem --module "$hello"
expect "no application" 1 "no application: give --module" -- --http 127.0.0.1:1
expect "missing module" 1 "--module /nonexistent.so: .*No such file" -- --module /nonexistent.so --http 127.0.0.1:1
expect "not a module" 1 "no bg_module_entry\(\) symbol" -- --module /lib/x86_64-linux-gnu/libc.so.6 --http 127.0.0.1:1
expect "wrong ABI" 1 "built for gateway ABI 3, this bridge speaks ABI 1 to 2" -- --module "$apps/badabi.so" --http 127.0.0.1:1
expect "bad address" 1 "--http nowhere: expected HOST:PORT" -- --http nowhere --module "$hello"
expect "bad port" 1 "'99999' is not a port number" -- --http 127.0.0.1:99999 --module "$hello"
expect "nothing to serve" 1 "nothing to serve" -- --module "$hello"
expect "app cannot start" 1 "could not start the application" -- --http 127.0.0.1:0 --module "$apps/failinit.so" -w 2

# Config files: errors name file, line and key.
printf 'workers = 2\n\nworkers = lots\n' >"$tmp/a.conf"
expect "config bad value" 2 "a.conf:3: workers: --workers: 'lots' is not a number" -- --config "$tmp/a.conf"
printf '# c\nlisten-on = 80\n' >"$tmp/b.conf"
expect "config unknown key" 2 "b.conf:2: listen-on: unknown key" -- --config "$tmp/b.conf"
printf 'workers 2\n' >"$tmp/c.conf"
expect "config no equals" 2 "c.conf:1: line: expected 'key = value'" -- --config "$tmp/c.conf"
printf 'module = "x\n' >"$tmp/d.conf"
expect "config open quote" 2 "d.conf:1: line: unterminated quoted value" -- --config "$tmp/d.conf"
expect "config missing file" 2 "--config $tmp/none.conf: No such file" -- --config "$tmp/none.conf"

# --check-config prints the effective configuration, flags over file.
printf 'http = 127.0.0.1:1\nworkers = 2 # two\nmodule = %s\nmax-body = "10m"\n' "$hello" >"$tmp/ok.conf"
out=$("$BRIDGE" "${user_args[@]}" --config "$tmp/ok.conf" -w 3 --check-config 2>&1)
if [ $? -eq 0 ] && grep -qx 'workers = 3' <<<"$out" &&
	grep -qx 'max-body = 10485760' <<<"$out" &&
	grep -qx 'http = 127.0.0.1:1' <<<"$out"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: check-config: $out"
fi
out=$("$BRIDGE" "${user_args[@]}" --config "$tmp/ok.conf" --http 127.0.0.1:2 --check-config 2>&1)
if grep -qx 'http = 127.0.0.1:2' <<<"$out" && ! grep -q '127.0.0.1:1' <<<"$out"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: command-line listeners replace the file's: $out"
fi
# The shipped example config is valid as it is (all keys commented out)
# and with a module added.
if "$BRIDGE" "${user_args[@]}" --config "$SRCDIR/conf/bridge.conf" --module "$hello" --http 127.0.0.1:1 --check-config >/dev/null; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: conf/bridge.conf does not load"
fi

sanitizer_check
echo "$pass passed, $fail failed"
echo "# cases: pass=$pass fail=$fail skip=0"
[ "$fail" -eq 0 ]
