#!/bin/bash
# Line and branch coverage of bridge/ and adapters/ by the whole test
# suite (Check unit tests and end-to-end tests), with gcov and lcov from
# Debian (tests/deps.sh installs them).
#
#	bash tests/coverage.sh
#
# Builds with --coverage in build-cov/ (out of tree), runs make check
# there, prints line and branch coverage per file, then one line:
#	coverage: NN.N% lines, NN.N% branches
# for bridge/ and adapters/ together.  The HTML report goes to
# build-cov/coverage/index.html.  Exit status: 0, or 1 when the build
# failed or a test failed (the coverage is printed all the same).
#
# The tests run bridge as root with --user nobody: its workers write
# their .gcda files as nobody, so the tree is made writable for them and
# the files are created 0666 (umask 000).  Workers leave with _exit();
# -DBRIDGE_GCOV_DUMP makes them dump their counters first (worker_exit).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
dir=${COVERAGE_DIR:-build-cov}

for p in lcov genhtml gcov; do
	command -v "$p" >/dev/null || { echo "coverage: $p not installed" \
	    "(tests/deps.sh)"; exit 1; }
done
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi || exit 1
mkdir -p "$dir"
if ! (cd "$dir" && "$top/configure" -q \
    CFLAGS="-O0 -g --coverage -DBRIDGE_GCOV_DUMP" LDFLAGS="--coverage"); then
	echo "coverage: configure FAILED"
	exit 1
fi
if ! make -C "$dir" -j2 >/dev/null || ! make -C "$dir" -j2 check TESTS= \
    >/dev/null; then
	echo "coverage: build FAILED"
	exit 1
fi
# Counters of this run only.
find "$dir" -name '*.gcda' -delete
find "$dir" \( -name '*.trs' -o -name '*.log' \) -path '*tests*' -delete
chmod -R a+rwX "$dir"
status=0
# -O0 and gcov's counters on a loaded machine: Check's default 30 s per
# unit test is too short for the spooling tests.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}
(umask 000; BRIDGE_REQUIRE_PEERS=1 make -C "$dir" -j2 check \
    ${COVERAGE_TESTS:+TESTS="$COVERAGE_TESTS"}) >"$dir/coverage-check.log" 2>&1 ||
	status=1
grep -E '^(# TOTAL|# PASS|# SKIP|# FAIL|# ERROR|FAIL:|ERROR:)' \
    "$dir/coverage-check.log"

rc="--rc lcov_branch_coverage=1"
info=$dir/coverage.info
lcov $rc --quiet --capture --directory "$dir" --base-directory "$top" \
    --output-file "$info.all" 2>"$dir/lcov.log" || { cat "$dir/lcov.log";
	exit 1; }
lcov $rc --quiet --extract "$info.all" "$top/bridge/*" "$top/adapters/*" \
    --output-file "$info" 2>>"$dir/lcov.log" || exit 1
genhtml $rc --quiet --output-directory "$dir/coverage" "$info" \
    >>"$dir/lcov.log" 2>&1 || true
echo
lcov $rc --list "$info" | sed "s|$top/||"
# The totals from the tracefile itself: LH/LF lines, BRH/BRF branches.
awk -F: '
	/^LF:/ { lf += $2 } /^LH:/ { lh += $2 }
	/^BRF:/ { bf += $2 } /^BRH:/ { bh += $2 }
	END {
		printf "coverage: %.1f%% lines, %.1f%% branches\n",
		    lf ? 100 * lh / lf : 0, bf ? 100 * bh / bf : 0
	}' "$info"
exit $status
