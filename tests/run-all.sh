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
npass=0 nfail=0 nskip=0
# deps.sh installed every peer: a test that cannot find one fails.
export BRIDGE_REQUIRE_PEERS=1
# Check's per-test timeout (4 s) is for an idle machine; under ASan, with
# end-to-end tests beside it on 2 cores, an allocation test took longer.
export CK_TIMEOUT_MULTIPLIER=10

# tally DIR: add the test cases of DIR's last make check to the totals.
# Counted per case: an e2e file's "# cases: pass=N fail=N skip=N" line
# (tests/e2e/harness.py main(), the shell tests), a Check program's
# "Checks: N, Failures: N, Errors: N"; a file that printed neither (it
# died first) counts as one case of its automake result.  A file automake
# calls failed counts at least one failure whatever its line says.
tally() {
	local dir=$1 trs log res p f s line ck
	while read -r trs; do
		log=${trs%.trs}.log
		res=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
		p=0 f=0 s=0
		line=$(grep -E '^# cases: pass=[0-9]+ fail=[0-9]+ skip=[0-9]+' \
		    "$log" 2>/dev/null | tail -1)
		ck=$(grep -E '[0-9]+%: Checks: [0-9]+' "$log" 2>/dev/null |
		    tail -1)
		if [ -n "$line" ]; then
			read -r p f s < <(sed -E \
			    's/.*pass=([0-9]+) fail=([0-9]+) skip=([0-9]+).*/\1 \2 \3/' \
			    <<<"$line")
		elif [ -n "$ck" ]; then
			line=$ck
			read -r p f < <(sed -E \
			    's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' \
			    <<<"$line" | awk '{print $1 - $2 - $3, $2 + $3}')
		else
			case $res in
			PASS) p=1 ;;
			SKIP) s=1 ;;
			*) f=1 ;;
			esac
		fi
		case $res in
		FAIL|ERROR|XPASS) [ "$f" -gt 0 ] || f=1 ;;
		esac
		npass=$((npass + p)) nfail=$((nfail + f)) nskip=$((nskip + s))
	done < <(find "$dir/tests" -name '*.trs' 2>/dev/null | sort)
}

run_suite() {
	local name=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	# Only this run's results count: no log or .trs of an earlier one.
	find "$dir" \( -name '*.trs' -o -name '*.log' \) -path '*tests*' \
	    -delete 2>/dev/null
	rm -f "$dir/test-suite.log"
	if ! (cd "$dir" && "$top/configure" -q --enable-werror "$@"); then
		results+=("$name: FAILED (configure; $dir/config.log)")
		nfail=$((nfail + 1))
		return 1
	fi
	if ! { make -C "$dir" -j2 >/dev/null || make -C "$dir" -j2; } ||
	    ! make -C "$dir" -j2 check TESTS= >/dev/null; then
		results+=("$name: FAILED (build)")
		nfail=$((nfail + 1))
		return 1
	fi
	if make -C "$dir" -j2 check; then
		results+=("$name: passed")
		tally "$dir"
	else
		results+=("$name: FAILED")
		tally "$dir"
		# Show the logs of what failed.
		find "$dir/tests" -name '*.trs' | sort | while read -r trs; do
			grep -q '^:test-result: \(FAIL\|ERROR\|XPASS\)' \
			    "$trs" || continue
			echo "==== ${trs%.trs}.log"; tail -n 60 "${trs%.trs}.log"
		done
		return 1
	fi
}

run_suite "tests" build || status=1

# Sanitizers: the same suite, every process of it instrumented.  Each
# test file points log_path at a report directory of its own
# (tests/e2e/harness.py, tests/e2e/sanitizer.sh) and fails the test
# during which a report appeared.
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

# Each fuzz target is one case ("ok   NAME" or "FAIL NAME" from run.sh).
fuzzlog=$(mktemp)
set +e		# a failed target is counted below, not the end of the run
BUILDDIR="$top/build" bash tests/fuzz/run.sh 2>&1 | tee "$fuzzlog"
frc=${PIPESTATUS[0]}
set -e
# (grep -c exits 1 when it counts none, which set -e would take for an
# error and end the run before its summary.)
fp=$(grep -c '^ok ' "$fuzzlog" || true)
ff=$(grep -c '^FAIL ' "$fuzzlog" || true)
rm -f "$fuzzlog"
npass=$((npass + fp)) nfail=$((nfail + ff))
if [ "$frc" -eq 0 ]; then
	results+=("fuzz: passed")
else
	# 77: no clang, which deps.sh installs; any other failure without
	# a FAIL line still counts once.
	results+=("fuzz: FAILED (exit $frc)")
	[ "$ff" -gt 0 ] || nfail=$((nfail + 1))
	status=1
fi

echo
printf '%s\n' "${results[@]}"
# What skipped, and why (unittest: "... skipped 'REASON'"; a known defect
# marked as an expected failure counts with them).
for dir in build build-asan; do
	find "$dir/tests" -name '*.log' 2>/dev/null | sort |
		xargs -r grep -H -E "\.\.\. (skipped '|expected failure)" |
		sed "s|^$dir/tests/|SKIP ($dir) |" || true
done
# Test cases over both suites and the fuzz targets, from this run only.
[ $status -eq 0 ] || [ "$nfail" -gt 0 ] || nfail=1
echo "$npass passed, $nfail failed, $nskip skipped"
exit $status
