#!/bin/bash
# make install puts the systemd units (with this install's paths) and a
# commented bridge.conf under sysconfdir in place, keeps an operator's
# bridge.conf on a second install, and the installed units pass
# systemd-analyze verify.  --check-config as root checks a configuration
# written for the unit's User= instead of refusing it, and with --user
# checks it as that user.
set -u
: "${BRIDGE:?}" "${BUILDDIR:?}" "${SRCDIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {
	if eval "$2"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $1"; fi
}

make -s -C "$BUILDDIR" install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; echo "0 passed, 1 failed"; exit 1; }
var() { sed -n "s|^$1 = ||p" "$BUILDDIR/Makefile"; }
prefix=$(var prefix)
bindir=$(var bindir | sed "s|\${exec_prefix}|$prefix|;s|\$(exec_prefix)|$prefix|")
sysconfdir=$(var sysconfdir | sed "s|\${prefix}|$prefix|;s|\$(prefix)|$prefix|")
unitdir=$(var systemdsystemunitdir)
conf=$tmp/root$sysconfdir/bridge/bridge.conf

check "bridge.conf installed" 'cmp -s "$conf" "$SRCDIR/conf/bridge.conf"'
if [ -n "$unitdir" ]; then
	u=$tmp/root$unitdir
	for f in bridge.service bridge.socket bridge-http.socket; do
		check "$f installed" '[ -f "$u/$f" ]'
	done
	check "ExecStart has the installed paths" \
		'grep -qx "ExecStart=$bindir/bridge --config $sysconfdir/bridge/bridge.conf" "$u/bridge.service"'
	if command -v systemd-analyze >/dev/null; then
		mkdir "$tmp/verify"
		for f in bridge.service bridge.socket bridge-http.socket; do
			sed "s|$bindir/bridge|$tmp/root$bindir/bridge|" "$u/$f" >"$tmp/verify/$f"
		done
		check "installed units pass systemd-analyze verify" \
			'out=$(systemd-analyze verify "$tmp"/verify/* 2>&1) && ! grep -q bridge <<<"$out" || { echo "$out"; false; }'
	fi
else
	echo "SKIP: configured without a systemd unit directory"
fi

echo "# the operator's" >"$conf"
make -s -C "$BUILDDIR" install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1
check "a second install keeps the operator's bridge.conf" \
	'[ "$(cat "$conf")" = "# the operator'"'"'s" ]'

# --check-config as root, a configuration for a unit with User=
if [ "$(id -u)" = 0 ]; then
	app=$tmp/app
	mkdir -p "$app"
	cp "$SRCDIR/examples/native/hello.c" "$app/"
	cp "$BUILDDIR/examples/native/.libs/hello.so" "$app/"
	printf 'fastcgi = unix:/run/bridge/bridge.sock\nmodule = %s/hello.so\n' \
		"$app" >"$tmp/unit.conf"
	out=$(env -u BRIDGE_ALLOW_ROOT "$BRIDGE" --config "$tmp/unit.conf" \
		--check-config 2>&1); rc=$?
	check "check-config as root passes a config for a unit's User=" \
		'[ $rc -eq 0 ] || { echo "$out"; false; }'
	check "and says what starting it as root would do" \
		'grep -q "checked as root without --user" <<<"$out"'
	chmod 0700 "$app"
	out=$(env -u BRIDGE_ALLOW_ROOT "$BRIDGE" --config "$tmp/unit.conf" \
		--check-config --user nobody 2>&1); rc=$?
	check "check-config --user nobody reads the module as nobody" \
		'[ $rc -ne 0 ] && grep -q "hello.so" <<<"$out" || { echo "$out"; false; }'
	chmod 0755 "$tmp" "$app"
	out=$(env -u BRIDGE_ALLOW_ROOT "$BRIDGE" --config "$tmp/unit.conf" \
		--check-config --user nobody 2>&1); rc=$?
	check "check-config --user nobody passes a readable module" \
		'[ $rc -eq 0 ] || { echo "$out"; false; }'
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
