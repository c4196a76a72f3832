#!/bin/bash
# ttrpc unary benchmark: cocoon's C ttrpc (client and server in one process) against
# containerd's Go ttrpc 1.1.1 (likewise), measured in the same run, over a unix socket, with 1
# and 8 concurrent callers sharing one connection, echoing 16 bytes.
#
#   run-ttrpc-bench.sh C_PEER INTEROP_SRCDIR BUILDDIR [ROUNDS]
#
# Each setting runs ROUNDS times (default 3), C and Go alternating so that both see the same
# machine load; the round with the median throughput is reported. Goals: C >= 2x Go
# throughput and C p50 <= 0.5x Go p50. Prints the table; exits 0 even when a goal is missed
# (the figures are the result), 1 when a run fails.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: $0 C_PEER INTEROP_SRCDIR BUILDDIR [ROUNDS]" >&2
    exit 2
fi
c_peer=$(realpath "$1")
srcdir=$(realpath "$2")
builddir=$3
rounds=${4:-3}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

go_peer=$("$srcdir/build-go-peer.sh" "$srcdir" "$builddir/go")

# Runs one measurement; prints "calls_per_s p50_us p99_us".
measure() { # PEER CALLERS CALLS
    local out
    rm -f "$tmp/bench.sock"
    out=$(timeout 120 "$1" bench "$tmp/bench.sock" "$2" "$3")
    echo "$out" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                         print v["calls_per_s"], v["p50_us"], v["p99_us"] }'
}

# Of several "calls_per_s p50 p99" lines, the one with the median throughput.
median() {
    sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}

echo "ttrpc unary Echo(16 bytes) over a unix socket, one connection shared by all callers;"
echo "client and server in one process; median of $rounds rounds; $(nproc) CPUs"
echo "C: cocoon ttrpc ($c_peer)"
echo "Go: containerd ttrpc $(dpkg-query -W -f='${Version}' golang-github-containerd-ttrpc-dev 2>/dev/null || echo '?'), $(go version | awk '{print $3}')"

goals_met=true
summary=()
for setting in "1 50000" "8 20000"; do
    read -r callers calls <<<"$setting"
    : >"$tmp/c" && : >"$tmp/go"
    for _ in $(seq "$rounds"); do
        measure "$c_peer" "$callers" "$calls" >>"$tmp/c"
        measure "$go_peer" "$callers" "$calls" >>"$tmp/go"
    done
    read -r c_tp c_p50 c_p99 < <(median <"$tmp/c")
    read -r go_tp go_p50 go_p99 < <(median <"$tmp/go")
    label="1 caller "
    [ "$callers" -eq 1 ] || label="$callers callers"
    line=$(awk -v l="$label" -v ct="$c_tp" -v c5="$c_p50" -v c9="$c_p99" \
               -v gt="$go_tp" -v g5="$go_p50" -v g9="$go_p99" '
        function commas(x,   s) { s = sprintf("%d", x + 0.5)
            while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
            return s }
        function us(x) { return x < 100 ? sprintf("%.1f", x) : sprintf("%.0f", x) }
        BEGIN { printf "ttrpc unary %s: C %s calls/s p50 %s us p99 %s us | Go %s calls/s p50 %s us p99 %s us | C/Go throughput %.2fx, p50 %.2fx\n",
                l, commas(ct), us(c5), us(c9), commas(gt), us(g5), us(g9), ct / gt, c5 / g5 }')
    echo "$line"
    if awk -v ct="$c_tp" -v gt="$go_tp" -v c5="$c_p50" -v g5="$go_p50" \
           'BEGIN { exit !(ct >= 2 * gt && c5 <= 0.5 * g5) }'; then
        summary+=("$label: met")
    else
        summary+=("$label: NOT met")
        goals_met=false
    fi
    for f in c go; do
        sed "s/^/#   $f round: calls\/s p50 p99 = /" "$tmp/$f"
    done
done
if $goals_met; then
    echo "goals (C >= 2x Go throughput and C p50 <= 0.5x Go p50): met (${summary[*]})"
else
    echo "goals (C >= 2x Go throughput and C p50 <= 0.5x Go p50): NOT met (${summary[*]})"
fi
