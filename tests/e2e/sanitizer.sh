# Sourced by the shell tests: what tests/e2e/harness.py does for the
# Python ones.  Every process started after this writes its sanitizer
# reports (ASan, UBSan, LSan) to a directory of this test's own;
# sanitizer_check counts each report as a failure and prints it.  Also
# sets user_args, the flags bridge gets for the application's user: as
# root, --user nobody (the README's production setup).
# Only under the ASan suite (ASAN_OPTIONS set).
san_dir=$(mktemp -d /tmp/bridge-san-sh.XXXXXX)
chmod 1777 "$san_dir"	# workers write theirs after --user nobody
for san_var in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
	[ -n "${ASAN_OPTIONS:-}" ] || break
	case ${!san_var:-} in
	*log_path=*) ;;
	'') export "$san_var=log_path=$san_dir/report" ;;
	*) export "$san_var=${!san_var}:log_path=$san_dir/report" ;;
	esac
done
user_args=()
[ "$(id -u)" -ne 0 ] || user_args=(--user nobody)

# sanitizer_check: adds the reports to $fail, prints them, removes the
# directory.
sanitizer_check() {
	local f
	for f in "$san_dir"/*; do
		[ -e "$f" ] || continue
		fail=$((fail + 1))
		echo "FAIL: sanitizer report $f:"
		tail -n 80 "$f"
	done
	rm -rf "$san_dir"
}
