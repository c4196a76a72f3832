#!/bin/bash
# Runs every test suite:
#   build       -Werror: every suite (format, unit, interop, fuzz corpus replay, e2e), then the
#               unit tests again under valgrind's memcheck (meson test --setup valgrind);
#   build-asan  ASan+UBSan: unit and fuzz replay, and e2e with the sanitized shim, whose
#               sanitizer reports fail them (tests/e2e/lib/sanitizer.sh): faults for the ctr
#               path, confidential, and CRI on containerd 2.1 (the release build runs all);
#   build-fuzz  clang's libFuzzer (ASan+UBSan): each target fuzzed for FUZZ_SECONDS (default 20;
#               suite fuzz-run, tests/fuzz/README.md).
# Ends with one line "N passed, N failed[, N skipped]"; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. scripts/deps.sh
install_deps "${COCOON_BUILD_DEPS[@]}" "${COCOON_INTEROP_DEPS[@]}" "${COCOON_FUZZ_DEPS[@]}" \
    "${COCOON_VALGRIND_DEPS[@]}" || exit 1

passed=0 failed=0 skipped=0 broken=0

# Adds the counts from a meson test summary to the totals.
tally() {
    local log=$1 ok fail unexp timeout skip
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
    fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
    unexp=$(awk '/^Unexpected Pass:/ {print $3}' "$log" | tail -1)
    timeout=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
    skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -1)
    if [ -z "$ok" ]; then
        echo "cocoon: no meson test summary in $log" >&2
        broken=$((broken + 1))
        return
    fi
    passed=$((passed + ok))
    failed=$((failed + ${fail:-0} + ${unexp:-0} + ${timeout:-0}))
    skipped=$((skipped + ${skip:-0}))
}

# run_build DIR "MESON SETUP ARGS" "MESON TEST ARGS"
run_build() {
    local dir=$1 setup_args=$2 test_args=$3 log
    log=$(mktemp)
    # shellcheck disable=SC2086
    if { [ -d "$dir" ] || meson setup "$dir" $setup_args; } && meson compile -C "$dir"; then
        # shellcheck disable=SC2086
        meson test -C "$dir" --print-errorlogs $test_args 2>&1 | tee "$log"
        tally "$log"
    else
        echo "cocoon: build in $dir failed" >&2
        broken=$((broken + 1))
    fi
    rm -f "$log"
}

asan="-Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false"
run_build build "-Dwerror=true" ""
run_build build "" "--setup valgrind --suite unit"
run_build build-asan "$asan" "--suite unit --suite fuzz"
run_build build-asan "$asan" "confidential cri-2.1 faults"
CC=clang run_build build-fuzz "-Dlibfuzzer=true -Db_sanitize=address,undefined -Db_lundef=false" \
    "--suite fuzz-run"

failed=$((failed + broken))
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
