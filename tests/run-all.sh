#!/bin/bash
# The test command: installs the dependencies, builds bridge, runs every
# test (Check unit tests, end-to-end tests against real nginx, Apache,
# HAProxy and libfcgi), builds again with ASan+UBSan and runs the suite
# under them, then runs every fuzz target briefly.
#
#	bash tests/run-all.sh
#
# Builds go to build/ and build-asan/ (out of tree).  FUZZ_SECONDS sets
# the time per fuzz target (default 20).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

bash tests/deps.sh
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

status=0
results=()
# deps.sh installed every peer: a test that cannot find one fails.
export BRIDGE_REQUIRE_PEERS=1

run_suite() {
	local name=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q --enable-werror "$@") || return 1
	make -C "$dir" -j2 >/dev/null || make -C "$dir" -j2
	if make -C "$dir" -j2 check; then
		results+=("$name: passed")
	else
		results+=("$name: FAILED")
		# Show the logs of what failed.
		find "$dir/tests" -name '*.log' -newer "$dir/Makefile" |
			while read -r log; do
				grep -q '^FAIL\|^ERROR' "${log%.log}.trs" \
					2>/dev/null || continue
				echo "==== $log"; tail -n 60 "$log"
			done
		return 1
	fi
}

run_suite "tests" build || status=1

# Sanitizers: the same suite, every process of it instrumented.
# handle_segv=0: the tests crash workers on purpose and expect SIGSEGV.
# allocator_may_return_null=1: the tests ask for absurd sizes on purpose
# and expect NULL (ENOMEM), not an abort.
# fast_unwind_on_malloc=0: full allocation stacks, so that leaks of the
# embedded interpreter (and of the libraries it loads) are recognised by
# tests/lsan.supp; malloc_context_size keeps that affordable.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:handle_segv=0:allocator_may_return_null=1:fast_unwind_on_malloc=0:malloc_context_size=12
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
run_suite "tests under ASan+UBSan" build-asan \
	CC=clang \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	LDFLAGS="-fsanitize=address,undefined" || status=1
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

if BUILDDIR="$top/build" bash tests/fuzz/run.sh; then
	results+=("fuzz: passed")
else
	results+=("fuzz: FAILED")
	status=1
fi

echo
printf '%s\n' "${results[@]}"
# Totals over both suites, from automake's summaries, plus fuzz targets.
count() {
	cat build/test-suite.log build-asan/test-suite.log 2>/dev/null |
		awk -v k="$1" '$1 == "#" && $2 == k":" { n += $3 } END { print n + 0 }'
}
pass=$(count PASS)
fail=$(( $(count FAIL) + $(count ERROR) + $(count XPASS) ))
skip=$(count SKIP)
[ $status -eq 0 ] || [ "$fail" -gt 0 ] || fail=1
echo "$pass passed, $fail failed, $skip skipped"
exit $status
