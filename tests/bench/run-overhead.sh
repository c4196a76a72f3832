#!/bin/bash
# Pod overhead benchmark: what one cocoon pod costs the node beyond its containers, measured on a
# running pod, for the RuntimeClasses' overhead.podFixed (configs/runtimeclasses.yaml).
#
# One pod (handler cocoon-dev: a TCG VM of the test guest, 1 vCPU, default_memory MiB) with one
# idle busybox container runs through containerd's CRI (tests/e2e/lib/cri.py), as the kubelet
# drives it. Once it is running and has settled, the script reads:
#
#   QEMU      /proc/PID/smaps, mapping by mapping: the guest's RAM (the anonymous mapping of the
#             VM's memory size: its Rss is the RAM the guest has touched), TCG's translation
#             cache (the anonymous executable mapping; absent under KVM, so absent on SNP and
#             TDX), and the rest, QEMU's own memory (Pss: shared libraries count by their share).
#   shim      the pod's cocoon-shimd: USS (Private_Clean + Private_Dirty) and Pss, from
#             /proc/PID/smaps_rollup. cocoon-vm (libvirt's client) runs only while a domain is
#             started or destroyed: nothing of it is resident while the pod runs.
#   libvirt   libvirtd's and virtlogd's Pss before the pod and while it runs (a domain's share of
#             the shared daemons).
#   CPU       utime + stime from /proc/PID/stat of QEMU (all its threads: vCPU, I/O) and of the
#             shim daemon, over BENCH_IDLE_SECONDS (60) of an idle pod, in millicores.
#
# and prints them with the overhead.podFixed each RuntimeClass derives from them (the rule is
# printed too). Nothing here depends on the figures being met: exit 0 with the table, 1 when a
# measurement fails, 77 (skip) when not root. The exit trap removes everything the run made.
#
#   run-overhead.sh VERSION SHIM VMLINUX INITRAMFS CONFIGS_DIR CACHE_DIR
#
# VERSION is containerd's (1.6, 1.7 or 2.1; tests/e2e/lib/cri-containerd.sh); CACHE_DIR is the
# CRI e2e's cache. Knobs (env): BENCH_IDLE_SECONDS (60), BENCH_SETTLE_SECONDS (15).
set -uo pipefail

{

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_LIB=$HERE/../e2e/lib
# shellcheck source-path=SCRIPTDIR source=../e2e/lib/cri-bench.sh
. "$E2E_LIB/cri-bench.sh"
exec </dev/null
cri_bench_begin "overhead benchmark" "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"
IDLE=${BENCH_IDLE_SECONDS:-60}
SETTLE=${BENCH_SETTLE_SECONDS:-15}

T_POD=240

cri_bench_tmpdir overhead

log() { echo "overhead: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# --- what is read from /proc ---

# smaps_sum PID FIELD...: the sum of FIELD (kB) over /proc/PID/smaps_rollup.
smaps_sum() {
    local pid=$1
    shift
    awk -v want=" $* " '{ k = $1; sub(":", "", k) } index(want, " " k " ") { s += $2 }
        END { print s + 0 }' "/proc/$pid/smaps_rollup"
}

# qemu_memory PID RAM_KB: "ram_rss tcg_rss own_pss total_rss total_pss own_uss" in kB. The guest's
# RAM is the anonymous mapping of RAM_KB (QEMU may round it up to its alignment, at most 2 MiB
# more); TCG's translation cache is an anonymous executable mapping; the rest is QEMU's own, of
# which own_uss is private (the rest is shared: QEMU's binary and libraries, the kernel and
# initrd files it keeps mapped, which every pod's QEMU shares).
qemu_memory() {
    awk -v ram="$2" '
        /^[0-9a-f]+-[0-9a-f]+ / { kind = "own"; perms = $2; anon = (NF < 6); next }
        /^Size:/ {
            if (anon && $2 >= ram && $2 <= ram + 2048) kind = "ram"
            else if (anon && perms ~ /x/) kind = "tcg"
            next
        }
        /^Rss:/ { rss[kind] += $2; total_rss += $2; next }
        /^Pss:/ { pss[kind] += $2; total_pss += $2; next }
        /^Private_(Clean|Dirty):/ { uss[kind] += $2; next }
        END {
            printf "%d %d %d %d %d %d\n", rss["ram"], rss["tcg"], pss["own"], total_rss, total_pss,
                uss["own"]
        }
    ' "/proc/$1/smaps"
}

# qemu_own_top PID RAM_KB: the largest of QEMU's own mappings by Pss, "kB name" a line, 5 of them
# (anonymous ones named by their size).
qemu_own_top() {
    awk -v ram="$2" '
        function flush() { if (name != "" && kind == "own") own[name] += pss }
        /^[0-9a-f]+-[0-9a-f]+ / {
            flush(); kind = "own"; perms = $2; anon = (NF < 6); pss = 0
            name = anon ? "" : $6; next
        }
        /^Size:/ {
            if (anon && $2 >= ram && $2 <= ram + 2048) kind = "ram"
            else if (anon && perms ~ /x/) kind = "tcg"
            if (anon) name = "[anonymous " perms ", " int($2 / 1024) " MiB]"
            next
        }
        /^Pss:/ { pss = $2; next }
        END { flush(); for (n in own) printf "%d %s\n", own[n], n }
    ' "/proc/$1/smaps" | sort -rn | head -n 5
}

# cpu_ticks PID: utime + stime of the whole process (every thread), in clock ticks.
cpu_ticks() {
    local st
    st=$(cat "/proc/$1/stat") || return 1
    st=${st##*) }
    # shellcheck disable=SC2086 # split on purpose: fields 3.. of stat
    set -- $st
    echo $((${12} + ${13}))
}

daemon_pss() { # NAME: Pss (kB) of the running daemon NAME, or 0
    local pid
    pid=$(pgrep -x -o "$1")
    if [ -n "$pid" ] && [ -r "/proc/$pid/smaps_rollup" ]; then
        smaps_sum "$pid" Pss
    else
        echo 0
    fi
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# round_up MIB STEP: MIB rounded up to a multiple of STEP.
round_up() { awk -v m="$1" -v s="$2" 'BEGIN { printf "%d", int((m + s - 1) / s) * s }'; }

# --- setup ---

cri_bench_setup overhead

LIBVIRTD_BEFORE=$(daemon_pss libvirtd)
VIRTLOGD_BEFORE=$(daemon_pss virtlogd)

cat >"$T/pod.json" <<EOF
{"metadata": {"name": "overhead", "namespace": "default", "uid": "overhead-$$"},
 "hostname": "overhead", "log_directory": "$T/logs",
 "linux": {"cgroup_parent": "$CRI_CGROUP_PARENT",
           "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}}}
EOF
cat >"$T/ctr.json" <<EOF
{"metadata": {"name": "idle"}, "image": {"image": "$IMAGE"},
 "command": ["/bin/sleep", "100000"], "log_path": "idle.log",
 "linux": {"security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}}}
EOF
mkdir -p "$T/logs"

json() { /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

res=$(cri --timeout "$T_POD" pod-start --runtime cocoon-dev "$T/pod.json" "$T/ctr.json") ||
    fail "the cocoon pod does not start"
POD=$(json pod_id <<<"$res")
PODS+=("$POD")
log "pod $POD: $(tr -d '\n ' <<<"$res")"

QEMU=$(e2e_pids_with "guest=cocoon-$POD" | while read -r p; do
    case "$(readlink "/proc/$p/exe")" in *qemu-system*) echo "$p" ;; esac
done | head -n 1)
[ -n "$QEMU" ] || fail "no QEMU process of domain cocoon-$POD"
SHIMD=$(e2e_pids_with "-id $POD " | while read -r p; do
    case "$(readlink "/proc/$p/exe")" in *cocoon-shimd*) echo "$p" ;; esac
done | head -n 1)
[ -n "$SHIMD" ] || fail "no cocoon-shimd serving pod $POD"
RAM_KB=$(virsh -c "$E2E_LIBVIRT_URI" dumpxml "cocoon-$POD" |
    sed -n "s|.*<memory unit='KiB'>\([0-9]*\)</memory>.*|\1|p" | head -n 1)
[ -n "$RAM_KB" ] || fail "no <memory> in the domain XML of cocoon-$POD"
VCPUS=$(virsh -c "$E2E_LIBVIRT_URI" dumpxml "cocoon-$POD" |
    sed -n "s|.*<vcpu[^>]*>\([0-9]*\)</vcpu>.*|\1|p" | head -n 1)
# QEMU's CPU from its start until the container ran: the guest's boot and its image pull.
HZ=$(getconf CLK_TCK)
START_TICKS=$(cpu_ticks "$QEMU") || fail "read /proc/$QEMU/stat"
START_AGE=$(awk -v hz="$HZ" -v st="$(cut -d' ' -f22 <(sed 's/.*) //; s/^/x x /' "/proc/$QEMU/stat"))" \
    '{ printf "%.1f", $1 - st / hz }' /proc/uptime)
log "QEMU pid $QEMU, shim daemon pid $SHIMD, VM ${RAM_KB} KiB, ${VCPUS:-?} vCPUs; settling $SETTLE s"
sleep "$SETTLE"

# --- CPU over an idle minute ---

q0=$(cpu_ticks "$QEMU") && s0=$(cpu_ticks "$SHIMD") || fail "read /proc/PID/stat"
t0=$(date +%s.%N)
sleep "$IDLE"
q1=$(cpu_ticks "$QEMU") && s1=$(cpu_ticks "$SHIMD") || fail "read /proc/PID/stat"
t1=$(date +%s.%N)
millicores() { awk -v d="$1" -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", d / hz / (b - a) * 1000 }'; }
QEMU_MC=$(millicores $((q1 - q0)))
SHIM_MC=$(millicores $((s1 - s0)))

# --- memory, the pod still idle ---

read -r RAM_RSS TCG_RSS QEMU_OWN QEMU_RSS QEMU_PSS QEMU_OWN_USS <<<"$(qemu_memory "$QEMU" "$RAM_KB")"
SHIM_USS=$(smaps_sum "$SHIMD" Private_Clean Private_Dirty)
SHIM_PSS=$(smaps_sum "$SHIMD" Pss)
OWN_TOP=$(qemu_own_top "$QEMU" "$RAM_KB")
LIBVIRTD_DELTA=$(($(daemon_pss libvirtd) - LIBVIRTD_BEFORE))
VIRTLOGD_DELTA=$(($(daemon_pss virtlogd) - VIRTLOGD_BEFORE))

cri stopp "$POD" && cri rmp "$POD" || fail "remove pod $POD"

# --- the table ---

echo "overhead benchmark: containerd $(cri --field runtime_version version), cocoon $SHIM (handler cocoon-dev, QEMU TCG, $(mib "$RAM_KB") MiB, ${VCPUS:-?} vCPU); $(nproc) CPUs"
echo
echo "memory of one idle pod (busybox sleeping), after $SETTLE s:"
printf '  %-44s %9s MiB\n' "QEMU, all (Rss)" "$(mib "$QEMU_RSS")"
printf '  %-44s %9s MiB\n' "QEMU, all (Pss)" "$(mib "$QEMU_PSS")"
printf '  %-44s %9s MiB  of %s\n' "  guest RAM touched (Rss of the RAM mapping)" "$(mib "$RAM_RSS")" "$(mib "$RAM_KB")"
printf '  %-44s %9s MiB\n' "  TCG translation cache (none under KVM)" "$(mib "$TCG_RSS")"
printf '  %-44s %9s MiB  (private %s MiB), the largest:\n' "  QEMU's own (the rest, Pss)" "$(mib "$QEMU_OWN")" "$(mib "$QEMU_OWN_USS")"
while read -r kb name; do
    printf '      %-40s %9s MiB\n' "$name" "$(mib "$kb")"
done <<<"$OWN_TOP"
printf '  %-44s %9s MiB  (Pss %s MiB)\n' "shim daemon cocoon-shimd (USS)" "$(mib "$SHIM_USS")" "$(mib "$SHIM_PSS")"
printf '  %-44s %9s\n' "cocoon-vm (runs only to start/destroy)" "none resident"
printf '  %-44s %9s MiB\n' "libvirtd + virtlogd growth (Pss)" "$(mib $((LIBVIRTD_DELTA + VIRTLOGD_DELTA)))"
echo
echo "CPU of QEMU from its start to the container running (boot, guest pull): $(awk -v t="$START_TICKS" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') s in $START_AGE s"
echo "CPU of the idle pod over $IDLE s:"
printf '  %-44s %6s m\n' "QEMU (every thread)" "$QEMU_MC"
printf '  %-44s %6s m\n' "shim daemon" "$SHIM_MC"
echo

# What the RuntimeClasses derive from it (configs/runtimeclasses.yaml says the same).
host_kb=$((QEMU_OWN + SHIM_USS + (LIBVIRTD_DELTA > 0 ? LIBVIRTD_DELTA : 0) + (VIRTLOGD_DELTA > 0 ? VIRTLOGD_DELTA : 0)))
dev_kb=$((host_kb + TCG_RSS + RAM_RSS))
cpu_m=$((QEMU_MC + SHIM_MC))
echo "overhead.podFixed from these figures:"
echo "  host side (QEMU's own + shim USS + libvirt growth):      $(mib "$host_kb") MiB"
echo "  cocoon-dev: host side + TCG cache + guest RAM touched:  $(mib "$dev_kb") MiB -> memory \"$(round_up "$(awk -v k="$dev_kb" 'BEGIN { print k / 1024 * 1.25 }')" 32)Mi\" (25% headroom, multiple of 32)"
echo "  cocoon-snp/tdx: default_memory (private guest memory, never reclaimed) + host side"
echo "                  -> memory \"$((2048 + $(round_up "$(awk -v k="$host_kb" 'BEGIN { print k / 1024 * 1.25 }')" 32)))Mi\" for default_memory = 2048"
echo "  CPU, idle: $cpu_m m (the 1 vCPU of the guest's own work is the rest of the class's figure)"
exit 0

}
