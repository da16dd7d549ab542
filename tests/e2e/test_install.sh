#!/bin/bash
# make install puts the binary, the ABI header, the .pc file and the man
# page in place, and the native example builds against the installed
# header alone (examples/native/Makefile, through pkg-config) and runs.
set -u
: "${BRIDGE:?}" "${BUILDDIR:?}" "${SRCDIR:?}"
tmp=$(mktemp -d)
chmod 755 "$tmp"	# the application runs as nobody (user_args)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
. "$SRCDIR/tests/e2e/sanitizer.sh"
check() {
	if eval "$2"; then pass=$((pass + 1)); else
		fail=$((fail + 1)); echo "FAIL: $1"; fi
}

make -s -C "$BUILDDIR" install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1 ||
	{ cat "$tmp/install.log"; echo "0 passed, 1 failed"
	echo "# cases: pass=0 fail=1 skip=0"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$BUILDDIR/bridge-gateway.pc")
root=$tmp/root$prefix
check "binary installed" '[ -x "$root/bin/bridge" ]'
check "header installed" '[ -f "$root/include/bridge/gateway.h" ]'
check "pc file installed" '[ -f "$root/lib/pkgconfig/bridge-gateway.pc" ]'
check "man page installed" '[ -f "$root/share/man/man1/bridge.1" ]'

# The example, copied away from the source tree, built by its own
# Makefile with only the installed header on the include path.
mkdir "$tmp/ex"
cp "$SRCDIR/examples/native/hello.c" "$SRCDIR/examples/native/sse.c" \
	"$SRCDIR/examples/native/Makefile" "$tmp/ex/"
sed "s|^prefix=.*|prefix=$root|" "$root/lib/pkgconfig/bridge-gateway.pc" \
	>"$tmp/bridge-gateway.pc"
check "example builds against the installed header" \
	'PKG_CONFIG_PATH=$tmp make -s -C "$tmp/ex" CFLAGS="-O2 -Wall -Wextra -Werror" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; false; }'
check "example exports bg_module_entry" \
	'nm -D "$tmp/ex/hello.so" | grep -q " T bg_module_entry"'
check "asynchronous example exports bg_module_entry" \
	'nm -D "$tmp/ex/sse.so" | grep -q " T bg_module_entry"'
out=$(cd /tmp && GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET \
	"$root/bin/bridge" "${user_args[@]}" --module "$tmp/ex/hello.so" </dev/null 2>&1)
check "installed binary runs the example as CGI" \
	'grep -q "Hello, world!" <<<"$out"'

sanitizer_check
echo "$pass passed, $fail failed"
echo "# cases: pass=$pass fail=$fail skip=0"
[ "$fail" -eq 0 ]
