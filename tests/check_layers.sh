#!/bin/bash
# The layers of bridge/ include only their own headers and those of the
# layers below (README.md, Layout):
#     processes/  ->  protocols/  ->  net/, gateway/  ->  core/
# net/ and gateway/ are one level and may use each other.  Fails, naming
# the file and the header, when a file includes a header of a layer above
# its own (processes/ from a front end was the knot: the worker called the
# front ends and they called the worker).  A path before the header's name
# does not hide it ("../processes/master.h" is master.h).  Run by make
# check with SRCDIR.
set -u
: "${SRCDIR:?}"
cd "$SRCDIR/bridge" || exit 1

rank() {
	case $1 in
	core) echo 0 ;;
	net | gateway) echo 1 ;;
	protocols) echo 2 ;;
	processes) echo 3 ;;
	*) echo -1 ;;
	esac
}

# Known exceptions, "file header", each with its reason.  config.c checks
# --forwarded-allow-ips and --proxy-allow-from with the parsers that use
# them (a bad value is refused at start, one line).
allowed="core/config.c forwarded.h
core/config.c proxy_proto.h"

# Which layer each header is in.
declare -A layer_of
for d in core net gateway protocols processes; do
	for h in "$d"/*.h; do
		layer_of[${h##*/}]=$d
	done
done

bad=0 seen=0
for f in core/* net/* gateway/* protocols/* processes/*; do
	case $f in *.c | *.h) ;; *) continue ;; esac
	mine=$(rank "${f%%/*}")
	while read -r h; do
		seen=$((seen + 1))
		d=${layer_of[$h]:-}
		[ -n "$d" ] || continue
		[ "$(rank "$d")" -le "$mine" ] && continue
		grep -qxF "$f $h" <<<"$allowed" && continue
		echo "FAIL: $f includes $d/$h, a layer above its own"
		bad=$((bad + 1))
	done < <(sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\/\)\{0,1\}\([^"/]*\)".*/\2/p' "$f")
done
# The check looked at something: a moved tree would pass vacuously.
if [ "$seen" -lt 100 ]; then
	echo "FAIL: only $seen includes found under $SRCDIR/bridge"
	exit 1
fi
echo "$seen includes checked, $bad from a lower layer to a higher one"
[ "$bad" -eq 0 ]
