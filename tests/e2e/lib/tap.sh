# shellcheck shell=bash disable=SC2034
# Sourced by the e2e scripts: TAP output, one line per check with its time, `# ` diagnostics.
# Needs E2E_CTD_LOG (lib/containerd.sh) for `begin` to mark how far containerd's log went.
#
#   begin; ...; tap $? "what was checked"; diag "a line" ...; diag_file TITLE FILE [LINES]
# FAILED is 1 once a check failed; N counts the checks.

N=0
FAILED=0
CHECK_T0=
CTD_MARK=0

# Starts a check: remembers the time and how far the containerd log went.
begin() {
    CHECK_T0=$(date +%s%N)
    CTD_MARK=$(wc -l <"$E2E_CTD_LOG" 2>/dev/null || echo 0)
}

# tap STATUS DESCRIPTION: ok when STATUS is 0; the time since `begin` goes with it.
tap() {
    local st=$1 desc=$2 ms=""
    [ -z "$CHECK_T0" ] || ms=" ($((($(date +%s%N) - CHECK_T0) / 1000000)) ms)"
    N=$((N + 1))
    if [ "$st" = 0 ]; then
        echo "ok $N - $desc$ms"
    else
        echo "not ok $N - $desc$ms"
        FAILED=1
    fi
}

diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

# diag_file TITLE FILE [LINES]: the file's last lines, non-printable bytes escaped.
diag_file() {
    [ -s "$2" ] || return 0
    diag "--- $1 (last ${3:-15} lines):"
    tail -n "${3:-15}" "$2" | cut -c1-400 | cat -v | sed 's/^/#   /'
}
