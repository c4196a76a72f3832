#!/bin/bash
# Shim benchmark: cocoon's containerd-shim-cocoon-v2 against containerd's
# containerd-shim-runc-v2 (Debian's containerd 1.6 + runc), in one run, under one private
# containerd, with the same local busybox image:
#
#   1. memory of the shim process with one running container (`ctr run -d ... sleep 600`):
#      RSS, PSS and USS (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup). For cocoon
#      that is the shim daemon alone; QEMU's RSS is printed for information, outside the ratio.
#      A library's clean pages count in USS only while no other process maps them, so USS is
#      also read with two containers (two shims) running, and other shims on the machine are
#      counted and reported.
#   2. latency of the shim binary's `start` action, run as containerd runs it (cwd = a bundle
#      with a config.json and a `log` FIFO, stdin /dev/null, containerd's environment): both
#      just spawn their daemon (cocoon boots the VM at Create, not here).
#   3. stdout relay throughput: `ctr run --rm IMAGE ID sh -c 'head -c BYTES /dev/zero'` into a
#      host file; the run with 0 bytes is the baseline (VM boot, container setup), so
#      MiB/s = MiB / (t(MiB) - t(0)). The VM boot under TCG varies by seconds with the machine's
#      load, so the same is measured with `ctr task exec` in the container of 1., which boots
#      nothing: a steadier figure of the same relay path.
#
#   run-shim-bench.sh SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR]
#
# CACHE_DIR keeps the busybox OCI tarball between runs (default: the temp dir). Knobs (env):
# BENCH_START_RUNS (20 `start`s per shim), BENCH_COCOON_MIB (32), BENCH_RUNC_MIB (64),
# BENCH_ROUNDS (3 baseline/payload pairs per shim and method for the throughput; medians).
# Goals (from the issues): each shim's USS with two running pods <= 0.5x runc's, `start` and
# `-v` medians <= 0.5x runc's (and, from an earlier issue, USS with one pod <= 0.25x).
# Prints the table on stdout (daemons' chatter on stderr); exits 0 even when a goal is missed
# (the figures are the result), 1 when a measurement fails, 77 (skip) when not root. The exit
# trap removes everything the run made: containers, domains, shims, sockets, bundles,
# containerd, the daemons it started, the temp dir.
set -uo pipefail

if [ $# -lt 4 ] || [ $# -gt 5 ]; then
    echo "usage: $0 SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR]" >&2
    exit 2
fi
SHIM=$(realpath -m "$1")
VMLINUX=$(realpath -m "$2")
INITRAMFS=$(realpath -m "$3")
CONFIGS_DIR=$4
CACHE_DIR=${5:-}
START_RUNS=${BENCH_START_RUNS:-20}
COCOON_MIB=${BENCH_COCOON_MIB:-32}
RUNC_MIB=${BENCH_RUNC_MIB:-64}
ROUNDS=${BENCH_ROUNDS:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_LIB=$HERE/../e2e/lib
exec </dev/null
# The exit trap may run inside a command whose output goes to a file; it writes here instead.
exec {OUT_FD}>&1 {ERR_FD}>&2

if [ "$(id -u)" != 0 ]; then
    echo "shim benchmark: SKIP, needs root (containerd, libvirtd, QEMU)"
    exit 77
fi

export E2E_CTD_NS=cocoon-bench
# shellcheck source-path=SCRIPTDIR source=../e2e/lib/ctr-run.sh
. "$E2E_LIB/ctr-run.sh"

RUNTIME=io.containerd.cocoon.v2
RUNC_SHIM=/usr/bin/containerd-shim-runc-v2
LOCAL_IMAGE=docker.io/library/busybox-local:latest
IMAGE=       # the same image in the run's registry: cocoon pulls it in the guest
T_RUN=150                       # a ctr command that boots a VM (TCG)
T_CMD=60
T_RELAY=300                     # a transfer: TCG guests copy a few MiB/s
P=bench-$$-                     # container ids; the pods' domains are cocoon-$P*
IDS=()                          # container ids run through containerd
START_BUNDLES=()                # bundles of the `start` runs: "shim-kind:dir:id"
START_FDS=()                    # reader ends held on their log FIFOs

e2e_run_dirs bench-shim
mkdir -p "$E2E_TMPDIR/start" "$CACHE_DIR"

log() { echo "bench: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

# Whether pid runs a containerd shim binary (a recycled pid is left alone).
is_shim_pid() {
    [[ $1 =~ ^[0-9]+$ ]] && case "$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" in
        *containerd-shim-*) true ;; *) false ;; esac
}

# Removes what one `start` made: the daemon (cocoon: through its `delete` action, as containerd
# does after a failed start; runc: SIGKILL), its socket and the bundle. The runc shim of
# containerd 1.6 writes no shim.pid at `start`: its daemon is found by its command line.
start_cleanup() { # KIND DIR ID
    local kind=$1 dir=$2 id=$3 pid addr i
    pid=$(cat "$dir/shim.pid" 2>/dev/null)
    [ -n "$pid" ] || pid=$(shim_pid runc "$id")
    addr=$(cat "$dir/address" 2>/dev/null)
    if [ "$kind" = cocoon ] && [ -e "$dir/shim.pid" ]; then
        (cd "$dir" && COCOON_CONFIG=$COCOON_CFG timeout -k 5 60 "$SHIM" -namespace "$E2E_CTD_NS" \
            -address "$E2E_CTD_ADDRESS" -publish-binary /usr/bin/containerd -id "$id" \
            -bundle "$dir" delete >/dev/null 2>>"$OUT/start-delete.err")
    fi
    if is_shim_pid "$pid"; then
        kill -KILL "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            is_shim_pid "$pid" || break
            sleep 0.05
        done
    fi
    [ -z "$addr" ] || rm -f "${addr#unix://}"
    rm -rf "$dir"
}

# shellcheck disable=SC2317 # run by the trap
cleanup() {
    local rc=$? entry kind rest id fd
    set +e
    exec 1>&"$OUT_FD" 2>&"$ERR_FD"
    trap - INT TERM
    for entry in "${START_BUNDLES[@]}"; do
        kind=${entry%%:*}
        rest=${entry#*:}
        id=${rest##*:}
        start_cleanup "$kind" "${rest%:*}" "$id"
    done
    for fd in "${START_FDS[@]}"; do
        exec {fd}<&-
    done
    # No check shows the logs: a failed run shows the QEMU logs and containerd's warnings here.
    e2e_run_cleanup --qemu-logs --ctd-warnings "$rc" "$P" "${IDS[@]}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ---

now() { echo "${EPOCHREALTIME/[.,]/}"; }   # microseconds, no fork

remove_container() {
    if [ -n "$(e2e_task_status "$1")" ]; then
        e2e_ctr "$T_CMD" task kill -a -s SIGKILL "$1" >/dev/null 2>&1
        e2e_wait_status "$1" STOPPED 30
        e2e_ctr "$T_CMD" task delete "$1" >/dev/null 2>&1
    fi
    e2e_ctr "$T_CMD" containers delete "$1" >/dev/null 2>&1
    return 0
}

# ctr run: run_ctr KIND SECONDS [RUN OPTIONS] IMAGE ID ARGS... (in place of lib/ctr-run.sh's
# run_ctr: this script uses none of that file's functions that call it.)
run_ctr() {
    local kind=$1 secs=$2
    shift 2
    local rt=()
    [ "$kind" = runc ] || rt=(--runtime "$RUNTIME" --runtime-config-path "$COCOON_CFG"
                              --annotation "io.kubernetes.cri.image-name=$IMAGE")
    timeout -k 5 "$secs" ctr --address "$E2E_CTD_ADDRESS" --namespace "$E2E_CTD_NS" run \
        --fifo-dir "$FIFO_DIR" "${rt[@]}" "$@"
}

# "RSS PSS USS PRIVATE_DIRTY" in KiB of pid, from smaps_rollup.
mem_of() {
    awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 }
         /^Private_Dirty:/ { d = $2 } END { if (r == "") exit 1; print r, p, u, d }' \
        "/proc/$1/smaps_rollup"
}

# The mappings of pid with the most private memory, for the log: dirty (written: heap, stacks,
# relocated library data) and clean (a library's pages count as private while no other process
# maps them, so that part of USS depends on what else runs). [anon] is thread stacks and malloc
# arenas.
mem_breakdown() {
    awk '/^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : "[anon]"; next }
         /^Private_Dirty:/ { dirty[name] += $2 }
         /^Private_Clean:/ { clean[name] += $2 }
         END { for (n in dirty) if (dirty[n] + clean[n] > 0)
                   printf "%6d KiB dirty %6d KiB clean  %s\n", dirty[n], clean[n], n }' \
        "/proc/$1/smaps" | sort -rn | head -n "${2:-10}"
}

bundle_of() { echo "$E2E_CTD_STATE/io.containerd.runtime.v2.task/$E2E_CTD_NS/$1"; }

# The shim daemon's pid for container id.
shim_pid() { # KIND ID
    if [ "$1" = cocoon ]; then
        cat "$(bundle_of "$2")/shim.pid" 2>/dev/null
    else
        ps -eo pid=,args= | awk -v ns="$E2E_CTD_NS" -v id="$2" '
            $2 ~ /containerd-shim-runc-v2$/ && index($0, " -namespace " ns " -id " id " ") { print $1; exit }'
    fi
}

qemu_pid() { # DOMAIN
    local p
    for p in /proc/[0-9]*; do
        case "$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" in
            *qemu-system*"guest=$1,"*) echo "${p#/proc/}"; return 0 ;;
        esac
    done
}

# Median and p90 (nearest rank) of numbers, one a line: "p50 p90".
p50_p90() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) exit 1
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        r = int(0.9 * NR); if (r < 0.9 * NR) r++
        print m, v[r] }'
}

# --- setup ---

e2e_install_packages >&2
e2e_registry_install >&2
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] ||
    E2E_EXTRA_PACKAGES="busybox:busybox-static" e2e_install_packages >&2
e2e_containerd_install >&2
for prog in containerd ctr runc virsh python3 "$RUNC_SHIM" "$SHIM"; do
    command -v "$prog" >/dev/null 2>&1 || fail "$prog is not installed"
done
e2e_start_daemons >&2 || fail "virtlogd/libvirtd do not start"
e2e_containerd_start "$(dirname "$SHIM")" >&2 || fail "containerd does not start (log: $E2E_CTD_LOG)"
e2e_registry_start "$E2E_TMPDIR/registry" 5000 >&2 || fail "docker-registry does not start"
IMAGE=$E2E_REG_ADDR/busybox-local:latest
if ! python3 "$E2E_LIB/mkimage.py" "$CACHE_DIR/busybox-oci.tar" --name "$LOCAL_IMAGE" >&2 ||
        ! mkdir -p "$E2E_TMPDIR/oci" || ! tar -xf "$CACHE_DIR/busybox-oci.tar" -C "$E2E_TMPDIR/oci" ||
        ! e2e_registry_push "$E2E_TMPDIR/oci:latest" busybox-local:latest >&2 ||
        ! e2e_ctr "$T_CMD" images pull --plain-http "$IMAGE" >&2; then
    fail "the busybox OCI image does not build, push or pull"
fi

e2e_cocoon_config "$COCOON_DIR" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" "$STATE_DIR" bench ||
    exit 1

echo "shim benchmark: cocoon $SHIM"
echo "  against runc: $RUNC_SHIM (containerd $(dpkg-query -W -f='${Version}' containerd 2>/dev/null || echo '?'), runc $(dpkg-query -W -f='${Version}' runc 2>/dev/null || echo '?'))"
echo "  one private containerd, busybox image, QEMU TCG guest; $(nproc) CPUs"

# --- stdout relay: helpers ---

declare -A MIBS=([cocoon]=$COCOON_MIB [runc]=$RUNC_MIB)

# One transfer of BYTES zeros to stdout, into a host file through ctr; sets RELAY_US to its
# wall time in microseconds. MODE run: `ctr run --rm` of a new container (TAG names it);
# MODE exec: `ctr task exec` in the running container CONTAINER (TAG names the exec).
relay_once() { # MODE KIND BYTES TAG [CONTAINER]
    local mode=$1 kind=$2 bytes=$3 tag=$4 ctr_id=${5:-} id t0 t1 rc got
    local cmd=(sh -c "head -c $bytes /dev/zero")
    t0=$(now)
    if [ "$mode" = run ]; then
        id=${P}relay-$kind-$tag
        IDS+=("$id")
        run_ctr "$kind" "$T_RELAY" --rm "$IMAGE" "$id" "${cmd[@]}" >"$OUT/relay" 2>"$OUT/relay.err"
    else
        id=$ctr_id
        e2e_ctr "$T_RELAY" task exec --fifo-dir "$FIFO_DIR" --exec-id "$tag" "$ctr_id" "${cmd[@]}" \
            >"$OUT/relay" 2>"$OUT/relay.err"
    fi
    rc=$?
    t1=$(now)
    got=$(stat -c %s "$OUT/relay")
    rm -f "$OUT/relay"
    if [ $rc != 0 ] || [ "$got" != "$bytes" ]; then
        log "relay: $mode $kind $id $tag: exit $rc, $got of $bytes bytes; stderr: $(cat "$OUT/relay.err")"
        [ "$mode" = exec ] || remove_container "$id"
        return 1
    fi
    RELAY_US=$((t1 - t0))
}

# ROUNDS pairs of (0 bytes, payload), appended to $OUT/relay-MODE-{0,N}-KIND (microseconds).
relay_rounds() { # MODE KIND [CONTAINER]
    local mode=$1 kind=$2 r
    for ((r = 1; r <= ROUNDS; r++)); do
        relay_once "$mode" "$kind" 0 "z$r" "${3:-}" || fail "relay: $mode $kind, 0 bytes"
        echo "$RELAY_US" >>"$OUT/relay-$mode-0-$kind"
        relay_once "$mode" "$kind" $((MIBS[$kind] * 1048576)) "n$r" "${3:-}" ||
            fail "relay: $mode $kind, ${MIBS[$kind]} MiB"
        echo "$RELAY_US" >>"$OUT/relay-$mode-N-$kind"
    done
}

# "t0 tN" (microseconds, medians) of MODE KIND, logged with every round.
relay_medians() { # MODE KIND
    local t0 tn
    log "relay $1: $2 0 bytes us: $(tr '\n' ' ' <"$OUT/relay-$1-0-$2")"
    log "relay $1: $2 ${MIBS[$2]} MiB us: $(tr '\n' ' ' <"$OUT/relay-$1-N-$2")"
    read -r t0 _ < <(p50_p90 <"$OUT/relay-$1-0-$2")
    read -r tn _ < <(p50_p90 <"$OUT/relay-$1-N-$2")
    echo "$t0 $tn"
}

# --- 1. memory with one and with two running containers; stdout relay of `task exec` ---

# A detached `sleep 600` container of KIND, RUNNING on return.
run_sleeper() { # KIND ID
    IDS+=("$2")
    if ! run_ctr "$1" "$T_RUN" -d "$IMAGE" "$2" sleep 600 >"$OUT/mem-$2" 2>&1 ||
            ! e2e_wait_status "$2" RUNNING 30; then
        cat "$OUT/mem-$2" >&2
        fail "memory: $1 container $2 does not run"
    fi
}

# How many shim daemons of KIND run on the machine besides the pids given: other test runs'
# shims share library pages with ours, which lowers our USS.
other_shims() { # KIND PID...
    local name=containerd-shim-$1-v2 p arg0 n=0
    shift
    for p in /proc/[0-9]*; do
        arg0=$(tr '\0' '\n' 2>/dev/null <"$p/cmdline" | head -n 1)
        [ "${arg0##*/}" = "$name" ] || continue
        case " $* " in *" ${p#/proc/} "*) continue ;; esac
        n=$((n + 1))
    done
    echo "$n"
}

declare -A MEM MEM2 OTHERS RELAY
for kind in cocoon runc; do
    id=${P}mem-$kind
    log "memory: $kind: run -d sleep 600"
    run_sleeper "$kind" "$id"
    sleep 2
    pid=$(shim_pid "$kind" "$id")
    is_shim_pid "$pid" || fail "memory: no $kind shim process for $id (pid '$pid')"
    MEM[$kind]=$(mem_of "$pid") || fail "memory: cannot read /proc/$pid/smaps_rollup"
    OTHERS[$kind]=$(other_shims "$kind" "$pid")
    if [ "$kind" = cocoon ]; then
        qpid=$(qemu_pid "cocoon-$id")
        QEMU_RSS=$( [ -n "$qpid" ] && mem_of "$qpid" | cut -d' ' -f1)
    else
        # A real bundle's config.json, for the `start` runs.
        cp "$(bundle_of "$id")/config.json" "$E2E_TMPDIR/start/config.json" ||
            fail "no config.json in $(bundle_of "$id")"
    fi
    log "memory: $kind shim pid $pid: RSS PSS USS Private_Dirty = ${MEM[$kind]} KiB" \
        "(${OTHERS[$kind]} other $kind shims on the machine); most private:"
    mem_breakdown "$pid" | sed 's/^/bench:   /' >&2

    # A second container, so a second shim: what each costs once the binary and libraries are
    # shared, as on a node with several pods.
    id2=${P}mem2-$kind
    log "memory: $kind: a second container"
    run_sleeper "$kind" "$id2"
    sleep 2
    pid2=$(shim_pid "$kind" "$id2")
    if ! is_shim_pid "$pid2" || [ "$pid2" = "$pid" ]; then
        fail "memory: no second $kind shim process for $id2 (pid '$pid2')"
    fi
    m1=$(mem_of "$pid") || fail "memory: cannot read /proc/$pid/smaps_rollup"
    m2=$(mem_of "$pid2") || fail "memory: cannot read /proc/$pid2/smaps_rollup"
    MEM2[$kind]=$(echo "$m1 $m2" | awk '{ print int(($3 + $7) / 2) }')
    log "memory: $kind with 2 containers: shim $pid $m1, shim $pid2 $m2 (RSS PSS USS Private_Dirty KiB)"
    log "memory: $kind with 2 containers, shim $pid: threads $(ls "/proc/$pid/task" | wc -l); most private:"
    mem_breakdown "$pid" 14 | sed 's/^/bench:   /' >&2
    remove_container "$id2"

    # No VM boot in the way here: the transfer alone, against an exec of 0 bytes.
    log "relay exec: $kind: $ROUNDS rounds of (0 bytes, ${MIBS[$kind]} MiB)"
    relay_rounds exec "$kind" "$id"
    RELAY[exec-$kind]=$(relay_medians exec "$kind")
    remove_container "$id"
done

# --- 2. `start` latency ---

# One `start` of KIND as containerd runs it; sets START_US to its wall time in microseconds.
# Not in a subshell: the bundle and FIFO must be known to the trap.
start_once() { # KIND N
    local kind=$1 id=start-$$-$1-$2 dir bin t0 t1 rc fd
    dir=$E2E_TMPDIR/start/$id
    bin=$SHIM
    [ "$kind" = cocoon ] || bin=$RUNC_SHIM
    mkdir -p "$dir"
    cp "$E2E_TMPDIR/start/config.json" "$dir/config.json"
    # containerd creates the log FIFO and reads it before it runs `start`.
    mkfifo "$dir/log"
    exec {fd}<>"$dir/log"
    START_FDS+=("$fd")
    START_BUNDLES+=("$kind:$dir:$id")
    t0=$(now)
    (cd "$dir" && exec env GOMAXPROCS=2 TTRPC_ADDRESS="$E2E_CTD_ADDRESS.ttrpc" \
        GRPC_ADDRESS="$E2E_CTD_ADDRESS" NAMESPACE="$E2E_CTD_NS" \
        "$bin" -namespace "$E2E_CTD_NS" -address "$E2E_CTD_ADDRESS" \
        -publish-binary /usr/bin/containerd -id "$id" start \
        </dev/null >"$OUT/start-$id" 2>"$OUT/start-$id.err" {fd}<&-)
    rc=$?
    t1=$(now)
    if [ $rc != 0 ] || ! grep -q '^unix://' "$OUT/start-$id"; then
        log "start: $kind $id: exit $rc, stdout '$(cat "$OUT/start-$id")', stderr: $(cat "$OUT/start-$id.err")"
        return 1
    fi
    if [ "$kind" = cocoon ]; then
        is_shim_pid "$(cat "$dir/shim.pid" 2>/dev/null)" ||
            { log "start: $kind $id: no daemon behind shim.pid"; return 1; }
    else
        is_shim_pid "$(shim_pid runc "$id")" || { log "start: $kind $id: no daemon runs"; return 1; }
    fi
    START_US=$((t1 - t0))
}

# Undoes the newest start_once.
start_undo() {
    local entry=${START_BUNDLES[-1]} kind rest fd=${START_FDS[-1]}
    kind=${entry%%:*}
    rest=${entry#*:}
    start_cleanup "$kind" "${rest%:*}" "${rest##*:}"
    exec {fd}<&-
    unset 'START_BUNDLES[-1]' 'START_FDS[-1]'
}

# --- 2a. `-v`: what any run of the binary costs before it does anything ---

log "-v: $START_RUNS runs per shim, alternating (one warm-up each, not counted)"
: >"$OUT/version-us-cocoon"
: >"$OUT/version-us-runc"
for ((n = 0; n <= START_RUNS; n++)); do
    for kind in cocoon runc; do
        bin=$SHIM
        [ "$kind" = cocoon ] || bin=$RUNC_SHIM
        t0=$(now)
        "$bin" -v >/dev/null 2>&1 || fail "-v: $bin failed"
        t1=$(now)
        [ "$n" = 0 ] || echo $((t1 - t0)) >>"$OUT/version-us-$kind"
    done
done
read -r VERSION_P50_cocoon _ < <(p50_p90 <"$OUT/version-us-cocoon")
read -r VERSION_P50_runc _ < <(p50_p90 <"$OUT/version-us-runc")

log "start: $START_RUNS runs per shim, alternating (one warm-up each, not counted)"
: >"$OUT/start-us-cocoon"
: >"$OUT/start-us-runc"
for ((n = 0; n <= START_RUNS; n++)); do
    for kind in cocoon runc; do
        start_once "$kind" "$n" || { start_undo; fail "start: $kind run $n"; }
        start_undo
        [ "$n" = 0 ] || echo "$START_US" >>"$OUT/start-us-$kind"
    done
done
read -r START_P50_cocoon START_P90_cocoon < <(p50_p90 <"$OUT/start-us-cocoon")
read -r START_P50_runc START_P90_runc < <(p50_p90 <"$OUT/start-us-runc")
log "start: cocoon us: $(tr '\n' ' ' <"$OUT/start-us-cocoon")"
log "start: runc us: $(tr '\n' ' ' <"$OUT/start-us-runc")"
if [ -n "$(e2e_containerd_shim_pids)" ]; then
    fail "start: shim processes left after the start runs: $(e2e_containerd_shim_pids | tr '\n' ' ')"
fi

# --- 3. stdout relay of `ctr run --rm`, the VM boot subtracted ---

log "relay run: $ROUNDS rounds of (0 bytes, payload) per shim: cocoon $COCOON_MIB MiB, runc $RUNC_MIB MiB"
for ((round = 1; round <= ROUNDS; round++)); do
    for kind in cocoon runc; do
        # One round at a time, the shims alternating: both see the same machine load.
        relay_once run "$kind" 0 "z$round" || fail "relay: run $kind, 0 bytes"
        echo "$RELAY_US" >>"$OUT/relay-run-0-$kind"
        relay_once run "$kind" $((MIBS[$kind] * 1048576)) "n$round" || fail "relay: run $kind, ${MIBS[$kind]} MiB"
        echo "$RELAY_US" >>"$OUT/relay-run-N-$kind"
    done
done
for kind in cocoon runc; do
    RELAY[run-$kind]=$(relay_medians run "$kind")
done

# --- the table ---

read -r rss_c pss_c uss_c dirty_c <<<"${MEM[cocoon]}"
read -r rss_r pss_r uss_r dirty_r <<<"${MEM[runc]}"
awk -v rss_c="$rss_c" -v pss_c="$pss_c" -v uss_c="$uss_c" -v dirty_c="$dirty_c" \
    -v rss_r="$rss_r" -v pss_r="$pss_r" -v uss_r="$uss_r" -v dirty_r="$dirty_r" \
    -v qemu="${QEMU_RSS:-}" -v uss2_c="${MEM2[cocoon]}" -v uss2_r="${MEM2[runc]}" \
    -v others_c="${OTHERS[cocoon]}" -v others_r="${OTHERS[runc]}" \
    -v s50c="$START_P50_cocoon" -v s90c="$START_P90_cocoon" \
    -v s50r="$START_P50_runc" -v s90r="$START_P90_runc" -v nstart="$START_RUNS" \
    -v v50c="$VERSION_P50_cocoon" -v v50r="$VERSION_P50_runc" \
    -v mc="$COCOON_MIB" -v mr="$RUNC_MIB" -v rounds="$ROUNDS" \
    -v run_c="${RELAY[run-cocoon]}" -v run_r="${RELAY[run-runc]}" \
    -v exec_c="${RELAY[exec-cocoon]}" -v exec_r="${RELAY[exec-runc]}" '
    function row(name, c, r, fmt, goal,   ratio) {
        ratio = (c != "" && r != "" && r > 0) ? sprintf("%.2f", c / r) : "-"
        printf "%-36s %10s %10s %7s  %s\n", name, c == "" ? "n/a" : sprintf(fmt, c),
               r == "" ? "n/a" : sprintf(fmt, r), ratio, goal
    }
    function verdict(ok) { return ok ? "met" : "NOT met" }
    # MiB/s of "t0 tN" (microseconds), or "" when the payload did not take longer than the
    # baseline (load noise larger than the transfer).
    function rate(mib, t,   a) {
        split(t, a, " ")
        return a[2] > a[1] ? mib / ((a[2] - a[1]) / 1e6) : ""
    }
    function secs(t,   a) { split(t, a, " "); return sprintf("%.2f s - %.2f s", a[2] / 1e6, a[1] / 1e6) }
    BEGIN {
        printf "\n%-36s %10s %10s %7s  %s\n", "metric", "cocoon", "runc", "ratio", "goal (ratio cocoon/runc)"
        uss1_ok = uss_c <= 0.25 * uss_r
        row("shim USS, 1 running container (KiB)", uss_c, uss_r, "%d", "<= 0.25: " verdict(uss1_ok))
        row("  of which Private_Dirty (KiB)", dirty_c, dirty_r, "%d", "")
        uss_ok = uss2_c <= 0.5 * uss2_r
        row("shim USS, each of 2 running (KiB)", uss2_c, uss2_r, "%d", "<= 0.5: " verdict(uss_ok))
        row("shim PSS, 1 running container (KiB)", pss_c, pss_r, "%d", "")
        row("shim RSS, 1 running container (KiB)", rss_c, rss_r, "%d", "")
        start_ok = s50c <= 0.5 * s50r
        row("start, median of " nstart " (ms)", s50c / 1000, s50r / 1000, "%.2f", "<= 0.5: " verdict(start_ok))
        row("start, p90 (ms)", s90c / 1000, s90r / 1000, "%.2f", "")
        version_ok = v50c <= 0.5 * v50r
        row("-v, median of " nstart " (ms)", v50c / 1000, v50r / 1000, "%.2f", "<= 0.5: " verdict(version_ok))
        row("stdout relay, ctr run (MiB/s)", rate(mc, run_c), rate(mr, run_r), "%.1f", "")
        row("stdout relay, task exec (MiB/s)", rate(mc, exec_c), rate(mr, exec_r), "%.1f", "")
        printf "  relay: medians of %d rounds, payload - 0-byte baseline: ctr run: cocoon %d MiB %s, runc %d MiB %s;\n",
               rounds, mc, secs(run_c), mr, secs(run_r)
        printf "         task exec (in the running container, no VM boot): cocoon %d MiB %s, runc %d MiB %s\n",
               mc, secs(exec_c), mr, secs(exec_r)
        if (others_c + others_r > 0)
            printf "  note: %d other cocoon and %d other runc shims ran on this machine at the 1-container reading\n" \
                   "        (other test runs): they share library pages with ours, which lowers USS\n", others_c, others_r
        if (qemu != "")
            printf "  for information, not in the ratios: the cocoon pod VM QEMU process RSS %d KiB\n", qemu
        printf "goals: shim USS with 2 pods <= 0.5x runc: %s; start (median) <= 0.5x runc: %s; " \
               "-v (median) <= 0.5x runc: %s\n", verdict(uss_ok), verdict(start_ok), verdict(version_ok)
    }'
