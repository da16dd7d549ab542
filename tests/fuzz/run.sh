#!/bin/bash
# Build and run every libFuzzer target in tests/fuzz/*.c.
#
# usage: tests/fuzz/run.sh [TARGET...]	(TARGET: fuzz_fcgi_conn, ...)
#
# Each target declares in comment lines what it needs, paths relative to
# the source tree (several lines add up):
#	FUZZ_SOURCES: bridge/protocols/fcgi.c bridge/core/buf.c
#	FUZZ_LIBS: -ldl
#	FUZZ_CORPUS: fcgi	(tests/fuzz/corpus/fcgi; default: the name
#				 without "fuzz_", then its first word)
# Without FUZZ_SOURCES, bridge/*/<name without fuzz_>.c is used if it exists.
#
# Per target: a libFuzzer build (clang -fsanitize=fuzzer,address,undefined)
# runs FUZZ_SECONDS over a temporary copy of its corpus (the source tree is
# never written), and a -DFUZZ_STANDALONE build replays the seed corpus.
# One summary line per target; exit 1 if any target fails to build,
# crashes, leaks or trips UBSan, 77 (automake's SKIP) without clang.
# A failing target's reproducer and log are kept and their paths printed.
#
# Environment:
#	SRCDIR		source tree (default: two levels above this script)
#	BUILDDIR	build tree; its autoconf.h is used when present
#	FUZZ_SECONDS	time per target (default 30)
#	FUZZ_CC		compiler (default clang)
#	FUZZ_JOBS	libFuzzer -jobs/-workers per target (default 1)
#	FUZZ_KEEP=1	keep the work directory
#	UBSAN_OPTIONS, ASAN_OPTIONS	appended to this script's defaults
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${SRCDIR:-$(cd "$here/../.." && pwd)}
secs=${FUZZ_SECONDS:-30}
cc=${FUZZ_CC:-clang}
jobs=${FUZZ_JOBS:-1}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found; skipped"
	exit 77
fi
if [ ! -d "$src/tests/fuzz" ]; then
	echo "fuzz: no tests/fuzz under $src (set SRCDIR)" >&2
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bridge-fuzz.XXXXXX") || exit 1
keep=${FUZZ_KEEP:-0}
cleanup() {
	if [ "$keep" = 0 ]; then
		rm -rf "$work"
	else
		echo "fuzz: work directory kept: $work"
	fi
}
trap cleanup EXIT

if [ -n "${BUILDDIR:-}" ] && [ -f "$BUILDDIR/autoconf.h" ]; then
	defs=(-include "$BUILDDIR/autoconf.h")
elif [ -f "$src/autoconf.h" ]; then
	defs=(-include "$src/autoconf.h")
else
	defs=(-D_GNU_SOURCE)
fi
# bridge's headers: bridge/ and each layer's folder (Makefile.am's
# BRIDGE_INCLUDES).
incs=(-I"$src/bridge")
for d in "$src"/bridge/*/; do incs+=(-I"${d%/}"); done
# libfcgi's <fastcgi.h>, wherever pkg-config says it is.
read -r -a fcgi_cflags <<<"$(pkg-config --cflags fcgi 2>/dev/null)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# Values of a "KEY: ..." comment line (//, /* or * style), all joined.
directive() {
	sed -n "s|^[[:space:]/*]*$1:[[:space:]]*||p" "$2" | tr '\n' ' '
}

failed=0
ran=0
for f in "$src"/tests/fuzz/*.c; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .c)
	if [ $# -gt 0 ]; then
		want=0
		for t in "$@"; do [ "$t" = "$name" ] && want=1; done
		[ $want = 1 ] || continue
	fi
	ran=$((ran + 1))
	stem=${name#fuzz_}
	out="$work/$name"
	mkdir -p "$out/corpus" "$out/artifacts"

	srcs=()
	for s in $(directive FUZZ_SOURCES "$f"); do srcs+=("$src/$s"); done
	if [ ${#srcs[@]} -eq 0 ]; then
		for s in "$src"/bridge/*/"$stem.c"; do
			[ -f "$s" ] && srcs=("$s")
		done
	fi
	read -r -a libs <<<"$(directive FUZZ_LIBS "$f")"
	corpus=$(directive FUZZ_CORPUS "$f" | awk '{print $1}')
	if [ -z "$corpus" ]; then
		corpus=$stem
		[ -d "$src/tests/fuzz/corpus/$corpus" ] || corpus=${stem%%_*}
	fi
	cdir="$src/tests/fuzz/corpus/$corpus"
	if [ -d "$cdir" ]; then
		cp -R "$cdir/." "$out/corpus/"
	fi
	nseeds=$(find "$out/corpus" -type f | wc -l)

	common=(-g -O1 -fno-omit-frame-pointer "${defs[@]}" "${incs[@]}" -I"$src"
	    "${fcgi_cflags[@]}" "$f" "${srcs[@]}")
	if ! "$cc" "${common[@]}" -fsanitize=fuzzer,address,undefined \
	    "${libs[@]}" -o "$out/$name" >"$out/build.log" 2>&1; then
		echo "FAIL $name: build failed ($out/build.log)"
		sed 's/^/    /' "$out/build.log" | head -20
		failed=1
		keep=1
		continue
	fi
	if ! "$cc" "${common[@]}" -DFUZZ_STANDALONE \
	    -fsanitize=address,undefined "${libs[@]}" \
	    -o "$out/$name-standalone" >>"$out/build.log" 2>&1; then
		echo "FAIL $name: -DFUZZ_STANDALONE build failed" \
		    "($out/build.log)"
		sed 's/^/    /' "$out/build.log" | head -20
		failed=1
		keep=1
		continue
	fi

	# The seeds, replayed by the plain program: a regression check.
	if [ "$nseeds" -gt 0 ]; then
		if ! (cd "$out" && find corpus -type f -print0 |
		    xargs -0 "./$name-standalone") >"$out/replay.log" 2>&1
		then
			echo "FAIL $name: a seed of corpus/$corpus fails" \
			    "($out/replay.log)"
			grep -m1 -E 'ERROR|runtime error|fuzz_' \
			    "$out/replay.log" | sed 's/^/    /'
			failed=1
			keep=1
			continue
		fi
	fi

	jobargs=()
	if [ "$jobs" -gt 1 ]; then
		jobargs=(-jobs="$jobs" -workers="$jobs")
	fi
	(cd "$out" && "./$name" -max_total_time="$secs" -timeout=20 \
	    -rss_limit_mb=2560 -print_final_stats=1 \
	    -artifact_prefix="$out/artifacts/" "${jobargs[@]}" corpus \
	    >"$out/fuzz.log" 2>&1)
	rc=$?
	execs=$(cat "$out/fuzz.log" "$out"/fuzz-[0-9]*.log 2>/dev/null |
	    awk '/stat::number_of_executed_units/ {s += $2} END {print s+0}')
	cov=$(grep -oE 'cov: [0-9]+' "$out/fuzz.log" | tail -1)
	art=$(find "$out/artifacts" -type f | head -1)
	if [ $rc -ne 0 ] || [ -n "$art" ]; then
		why=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|fuzz_[a-z_]+:' \
		    "$out/fuzz.log")
		echo "FAIL $name: $execs execs; ${why:-exit $rc}"
		[ -n "$art" ] && echo "    reproducer: $art" \
		    "(replay: $out/$name-standalone $art)"
		echo "    log: $out/fuzz.log"
		failed=1
		keep=1
	else
		echo "ok   $name: $execs execs in ${secs}s, ${cov:-cov: ?}," \
		    "$nseeds seeds from corpus/$corpus"
	fi
done

if [ $ran -eq 0 ]; then
	echo "fuzz: no target matched" >&2
	exit 1
fi
exit $failed
