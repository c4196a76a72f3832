# shellcheck shell=bash
# Sourced by the e2e scripts: the reports of a shim built with ASan+UBSan
# (-Db_sanitize=address,undefined, as scripts/test.sh builds build-asan) fail the run.
#
#   . tests/e2e/lib/sanitizer.sh
#   e2e_sanitizer_setup SHIM DIR    # before containerd starts: reports go to DIR/report.<pid>
#   ...
#   e2e_sanitizer_check             # one TAP check (lib/tap.sh), once the shims have exited
#
# Reports are collected from two places. ASan's and LeakSanitizer's go to files, through
# log_path, for every process that inherits the environment (containerd passes it on to the
# shims, they to the vm helper and the stdio logger): a daemon's report at its exit would race
# with containerd closing the log FIFO, and `start` has no log of its own. GCC's UBSan runtime
# (libubsan, beside libasan) ignores log_path and writes to stderr, which the shim's daemon
# points at the bundle's log FIFO: containerd's log (E2E_CTD_LOG) holds those. LeakSanitizer
# reports at a process's exit, which is why the check waits for the shims to be gone. A shim
# built without sanitizers makes the check a TAP skip: it then could not fail.

E2E_SAN_DIR=
E2E_SAN_SHIM=

e2e_sanitizer_setup() {
    E2E_SAN_SHIM=$1 E2E_SAN_DIR=$2
    mkdir -p "$E2E_SAN_DIR" || return 1
    # Not abort_on_error: a report must not kill the shim before the run shows what it did.
    export ASAN_OPTIONS="log_path=$E2E_SAN_DIR/report:detect_leaks=1:print_summary=1"
    export UBSAN_OPTIONS="log_path=$E2E_SAN_DIR/report:print_stacktrace=1:halt_on_error=0"
}

# Whether the shim binary (and so the daemon and helper of its build) has ASan in it.
e2e_sanitizer_built() {
    grep -q -a -m1 __asan_init "$E2E_SAN_SHIM" 2>/dev/null
}

e2e_sanitizer_check() {
    if ! e2e_sanitizer_built; then
        N=$((N + 1))
        echo "ok $N - no sanitizer report from the shim # SKIP the shim is not built with ASan+UBSan"
        return 0
    fi
    local files reports=() others=() f in_log
    local pattern='runtime error:|ERROR: (Address|Leak)Sanitizer|SUMMARY: [A-Za-z]+Sanitizer'
    begin
    files=$(find "$E2E_SAN_DIR" -type f -name 'report.*' -size +0 2>/dev/null | sort)
    # A finding names itself (ERROR: ...Sanitizer, runtime error:); anything else a sanitizer
    # wrote (a warning, LeakSanitizer unable to stop a dying process's threads) is shown, not
    # counted: it reports on the sanitizer, not on the shim.
    for f in $files; do
        if grep -q -E "$pattern" "$f"; then reports+=("$f"); else others+=("$f"); fi
    done
    in_log=$(grep -c -E "$pattern" "$E2E_CTD_LOG" 2>/dev/null)
    [ ${#reports[@]} = 0 ] && [ "${in_log:-0}" = 0 ]
    tap $? "no ASan/UBSan/LeakSanitizer report from the shim, its daemon or helpers (${#reports[@]} report files, ${in_log:-0} lines in containerd's log; ${#others[@]} files of other sanitizer output)"
    [ "${in_log:-0}" = 0 ] || grep -E -A8 "$pattern" "$E2E_CTD_LOG" | head -n 40 | cut -c1-300 | sed 's/^/#   /'
    for f in "${reports[@]}"; do
        diag "--- $f:"
        grep -E 'ERROR|SUMMARY|runtime error|^ +#[0-9]+ ' "$f" | head -n 30 | cut -c1-300 | sed 's/^/#   /'
    done
    for f in "${others[@]}"; do
        diag "--- $f (not a finding):"
        head -n 20 "$f" | cut -c1-300 | sed 's/^/#   /'
    done
}
