#!/bin/bash
# Faults, end to end: a private containerd 1.6 runs busybox pods with --runtime
# io.containerd.cocoon.v2 (TCG VMs of the test guest under libvirtd, the image pulled in the
# guest from a registry on the host's loopback), and each check breaks one thing under a running
# pod, then removes that pod and checks that it left nothing behind:
#   1. the VM destroyed from outside (virsh destroy): every task and exec exits, every Wait
#      returns and a TaskExit is published for each, within 2 s;
#   2. the shim SIGKILLed: containerd's cleanup (`containerd-shim-cocoon-v2 delete`) leaves no
#      domain, QEMU, shim, socket or state;
#   3. containerd restarted (the daemon only): the task stays RUNNING, exec and kill work, and
#      the TaskExit reaches the new containerd;
#   4. libvirtd restarted: the pod is unaffected and its teardown still destroys the domain;
#      whether libvirt's autodestroy survives the restart is reported (cocoon does not use it);
#   5. 200 execs in one container: the shim's fd count and RSS stay flat;
#   6. the agent stops answering (the test agent's stall switch): calls fail after the
#      configured request_timeout with a clear error, and Shutdown does not hang;
#   7. QEMU fails to start (a missing kernel, a file that is no kernel, bad machine types): the
#      error `ctr run` prints, and the shim's log, carry libvirt's own words, and QEMU's where
#      QEMU ran (libvirt refuses a missing kernel and a bad machine type before it starts QEMU).
# Figures (delays, timeouts, fd and RSS) go to `# ` lines. TAP on stdout; the daemons' chatter
# goes to stderr. Whatever happens, the exit trap removes what the run made, as run-shim.sh's.
#
#   run-faults.sh SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR [COCOONCTL]]
#
# CACHE_DIR keeps the busybox OCI tarball between runs (default: the temp dir). COCOONCTL, when
# given, checks the run's configuration before any VM starts. E2E_CTR_TIMEOUT bounds each
# `ctr run` that boots a VM (default 150 s); other ctr commands get 60 s.
set -uo pipefail   # no -e: every check handles its own failure

# Everything in one compound command: bash reads it whole before running it, so editing this
# file while a run is under way cannot change what that run executes.
{

if [ $# -lt 4 ] || [ $# -gt 6 ]; then
    echo "usage: $0 SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR [COCOONCTL]]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/ctr-run.sh
. "$HERE/lib/ctr-run.sh"
# ctr passes its stdin on to the container: none of these checks gives it one.
exec </dev/null
# As root only, in a session of its own; SHIM, VMLINUX, ..., COCOONCTL from the arguments.
e2e_run_begin "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"

PLAN=32
RUNTIME=io.containerd.cocoon.v2
LOCAL_IMAGE=docker.io/library/busybox-local:latest
IMAGE=                          # the same image in the run's registry: the guest pulls it
T_RUN=${E2E_CTR_TIMEOUT:-150}   # a ctr command that boots a VM: TCG boot + agent dial
T_CMD=60
T_EXIT_MS=2000                  # fault 1: the most from virsh destroy to each TaskExit and Wait
STALL_TIMEOUT=4                 # fault 6: [agent] request_timeout of the stalled pod, seconds
EXECS=200                       # fault 5
P=faults-$$-                    # container ids; the pods' domains are cocoon-$P*
IDS=()                          # every container id used (their shim sockets are checked)
BGS=()                          # background ctr commands (each under `timeout`)
EV=                             # the background `ctr events`
AD_VIRSH=                       # fault 4: the virsh that holds the autodestroy domain

e2e_run_dirs e2e-faults

# shellcheck disable=SC2317 # run by the trap
cleanup() {
    local rc=$?
    set +e
    # meson may have stopped reading: a write to the closed pipe must not end the cleanup.
    trap '' PIPE
    trap - INT TERM
    e2e_stop_bg "$E2E_FG" "${BGS[@]}" "$EV" "$AD_VIRSH"
    # A failed check showed its own QEMU log.
    e2e_run_cleanup "$rc" "$P" "${IDS[@]}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 141' PIPE

# --- running commands ---

# bg_ctr NAME SECONDS ARGS...: ctr in the background (stdout, stderr to $OUT/NAME, NAME.err);
# its PID is in BGS and in BG_PID.
BG_PID=
bg_ctr() {
    local name=$1 secs=$2
    shift 2
    timeout -k 5 "$secs" ctr --address "$E2E_CTD_ADDRESS" --namespace "$E2E_CTD_NS" "$@" \
        >"$OUT/$name" 2>"$OUT/$name.err" &
    BG_PID=$!
    BGS+=("$BG_PID")
}

# NOW: milliseconds since the epoch, without a fork (bash 5's EPOCHREALTIME).
NOW=0
now() {
    local t=${EPOCHREALTIME/[.,]/}
    NOW=$((10#$t / 1000))
}

# alive PID: like e2e_pid_alive, without a fork, for the polling loops that time things.
alive() {
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [ "${st:0:1}" != Z ]
}

# The shim daemon serving pod (sandbox id) id: a shim of this containerd whose command line
# names it.
shim_pid() {
    local p
    for p in $(e2e_containerd_shim_pids); do
        case " $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") " in
            *" -id $1 "*) echo "$p"; return 0 ;;
        esac
    done
    return 0
}

# QEMU's PID for domain cocoon-id, from libvirtd's pid file.
qemu_pid() {
    local pid
    pid=$(cat "/run/libvirt/qemu/cocoon-$1.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] && e2e_pid_alive "$pid" && echo "$pid"
    return 0
}

domain_state() {
    virsh -q -c "$E2E_LIBVIRT_URI" domstate "cocoon-$1" 2>/dev/null | head -n 1
}

# leftovers ID [QEMU_PID]: what pod id left behind, one item a line: its domain, QEMU, shim,
# shim socket, state dir, bundle. Nothing when it is all gone.
leftovers() {
    local id=$1 qpid=${2:-} s
    virsh -q -c "$E2E_LIBVIRT_URI" list --all --name 2>/dev/null | grep -qx "cocoon-$id" &&
        echo "domain cocoon-$id"
    [ -n "$qpid" ] && e2e_pid_alive "$qpid" && echo "QEMU pid $qpid"
    s=$(shim_pid "$id")
    [ -z "$s" ] || echo "shim pid $s"
    s=$(e2e_containerd_shim_socket "$id")
    [ ! -e "$s" ] || echo "shim socket $s"
    [ ! -e "$STATE_DIR/$id" ] || echo "state $STATE_DIR/$id"
    [ ! -e "$E2E_CTD_STATE/io.containerd.runtime.v2.task/$E2E_CTD_NS/$id" ] ||
        echo "bundle $E2E_CTD_STATE/io.containerd.runtime.v2.task/$E2E_CTD_NS/$id"
    return 0
}

# wait_gone SECONDS ID [QEMU_PID]: polls leftovers until nothing is left; LEFT has the rest.
LEFT=
wait_gone() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        LEFT=$(leftovers "$@")
        [ -z "$LEFT" ] && return 0
        sleep 0.2
    done
    return 1
}

# check_gone ID [QEMU_PID] [WHAT]: removes pod id's containers (when any are left) and checks
# that nothing of the pod is: one TAP line.
check_gone() {
    local id=$1 qpid=${2:-} what=${3:-"pod $1"} st=1
    begin
    wait_gone 30 "$id" "$qpid" && st=0
    tap $st "$what: no domain, QEMU, shim, socket, state or bundle left"
    [ $st = 0 ] || { diag "left: $(echo "$LEFT" | tr '\n' ';')"; diag_logs "$id"; }
}

# Timestamps (ms) each line of the test containerd's event stream into FILE, from now on.
# `ctr events` sends its output only once it subscribed; the stream's first event may come from
# before (none does here), so the 0.5 s head start is only for the subscription itself.
events_start() {
    local file=$1
    : >"$file"
    timeout -k 5 600 ctr --address "$E2E_CTD_ADDRESS" events 2>/dev/null > >(
        while IFS= read -r line; do
            now
            printf '%s %s\n' "$NOW" "$line"
        done >"$file") &
    EV=$!
    sleep 0.5
}

events_stop() {
    [ -n "$EV" ] || return 0
    kill -TERM "$EV" 2>/dev/null
    wait "$EV" 2>/dev/null
    EV=
}

# event_ms FILE CONTAINER EXEC_ID: when the TaskExit of that process (EXEC_ID = CONTAINER for
# the init) arrived, or nothing.
event_ms() {
    grep -F ' /tasks/exit ' "$1" | grep -F "\"container_id\":\"$2\"" | grep -F "\"id\":\"$3\"" |
        head -n 1 | cut -d' ' -f1
}

# --- TAP ---

# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
. "$HERE/lib/tap.sh"

# start_pod ID [RUN OPTIONS...]: `ctr run -d` sleep 600 as a pod of its own; one TAP line.
start_pod() {
    local id=$1 rc st=1
    shift
    begin
    IDS+=("$id")
    run_cocoon "$OUT/$id.run" "$OUT/$id.run.err" "$T_RUN" -d "$@" "$IMAGE" "$id" sleep 600
    rc=$?
    [ $rc = 0 ] && e2e_wait_status "$id" RUNNING 10 && st=0
    tap $st "pod $id: run -d sleep 600 is RUNNING"
    [ $st = 0 ] || { diag "ctr exit $(rc_text $rc), task status '$(e2e_task_status "$id")'";
                     diag_file "ctr stderr" "$OUT/$id.run.err"; diag_logs "$id"; }
    return $st
}

# exec_check ID EXEC_ID WHAT: `ctr task exec` echo in ID prints exactly its word; one TAP line.
exec_check() {
    local id=$1 eid=$2 what=$3 rc st=1
    run_ctr "$OUT/$eid" "$OUT/$eid.err" "$T_CMD" task exec --fifo-dir "$FIFO_DIR" --exec-id "$eid" \
        "$id" echo "exec-$eid-ok"
    rc=$?
    [ $rc = 0 ] && expect_file "$OUT/$eid" "exec-$eid-ok"$'\n' && st=0
    tap $st "$what"
    [ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/$eid.err"; diag_logs "$id"; }
}

# --- setup ---

e2e_install_packages >&2
e2e_registry_install >&2
e2e_containerd_install >&2
for prog in containerd ctr runc virsh python3 docker-registry skopeo; do
    command -v "$prog" >/dev/null 2>&1 || { echo "Bail out! $prog is not installed"; exit 1; }
done
# Debian's python3, with python3-grpcio (a python3 earlier in PATH may lack it).
PY=/usr/bin/python3
if ! "$PY" -c 'import grpc' 2>/dev/null; then
    E2E_EXTRA_PACKAGES="python3-grpc:python3-grpcio" e2e_install_packages >&2
    "$PY" -c 'import grpc' 2>/dev/null || { echo "Bail out! $PY cannot import grpc (python3-grpcio)"; exit 1; }
fi
e2e_run_start "$SHIM" && e2e_run_busybox "$LOCAL_IMAGE" || exit 1

# wait.py SOCKET NAMESPACE CONTAINER[:EXEC]...: containerd's Tasks.Wait for each process, all
# at once; prints "waiting" once they are asked, then "MS CONTAINER EXEC STATUS" as each returns.
# (grpcio without generated code: the two messages are encoded by hand.)
cat >"$OUT/wait.py" <<'EOF'
import sys, threading, time
import grpc

def field(num, data):
    return bytes([num << 3 | 2, len(data)]) + data

def exit_status(resp):  # WaitResponse: exit_status = 1 (varint, left out when 0), exited_at = 2
    n, shift = 0, 0
    if resp[:1] == b"\x08":
        for b in resp[1:]:
            n |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
    return n

sock, ns = sys.argv[1], sys.argv[2]
wait = grpc.insecure_channel("unix://" + sock).unary_unary("/containerd.services.tasks.v1.Tasks/Wait")
lock = threading.Lock()

def one(cid, eid):
    req = field(1, cid.encode()) + (field(2, eid.encode()) if eid else b"")
    try:
        out = str(exit_status(wait(req, metadata=[("containerd-namespace", ns)])))
    except grpc.RpcError as e:
        out = "error:" + str(e.code())
    with lock:
        print(int(time.time() * 1000), cid, eid or cid, out, flush=True)

threads = [threading.Thread(target=one, args=spec.partition(":")[::2]) for spec in sys.argv[3:]]
for t in threads:
    t.start()
time.sleep(0.5)  # the calls are on their way to the shim
print("waiting", flush=True)
for t in threads:
    t.join()
EOF

CTR_RUN=(ctr --address "$E2E_CTD_ADDRESS" --namespace "$E2E_CTD_NS" run --fifo-dir "$FIFO_DIR"
         --runtime "$RUNTIME" --runtime-config-path "$COCOON_CFG"
         --annotation "io.kubernetes.cri.image-name=$IMAGE")

e2e_cocoon_config --debug "$COCOON_DIR" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" "$STATE_DIR" e2e ||
    { echo "Bail out! cocoon's configuration in $COCOON_DIR"; exit 1; }

# fault_config NAME TOML: a config of its own for one pod (`ctr run --runtime-config-path`):
# the run's, with TOML as a later drop-in. Prints the config's path.
fault_config() {
    local dir=$E2E_TMPDIR/cocoon-$1
    e2e_cocoon_config --debug "$dir" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" "$STATE_DIR" e2e &&
        printf '%s\n' "$2" >"$dir/config.d/60-$1.toml" && chmod -R a+rX "$dir" &&
        echo "$dir/cocoon.toml"
}
STALL_CFG=$(fault_config stall "[agent]
request_timeout = $STALL_TIMEOUT") || { echo "Bail out! the stall pod's configuration"; exit 1; }
# A kernel image that is not there, one that is no kernel (QEMU itself refuses it), and
# machine types QEMU does not have: a name libvirt does not know, a version QEMU lacks.
printf 'not a kernel\n' >"$E2E_TMPDIR/not-a-kernel"
chmod 0644 "$E2E_TMPDIR/not-a-kernel"
if ! NOKERNEL_CFG=$(fault_config nokernel "[hypervisor.libvirt]
kernel = \"$E2E_TMPDIR/no-such-vmlinux\"") ||
        ! BADKERNEL_CFG=$(fault_config badkernel "[hypervisor.libvirt]
kernel = \"$E2E_TMPDIR/not-a-kernel\"") ||
        ! BADMACHINE_CFG=$(fault_config badmachine "[hypervisor.libvirt]
machine_type = \"cocoon-no-such-machine\"") ||
        ! BADVERSION_CFG=$(fault_config badversion "[hypervisor.libvirt]
machine_type = \"pc-i440fx-0.1\""); then
    echo "Bail out! the QEMU-failure configurations"
    exit 1
fi

echo "1..$PLAN"
diag "shim $SHIM$([ -x "$SHIM" ] || echo ' (MISSING)'), containerd $(containerd --version | cut -d' ' -f3) $E2E_CTD_ADDRESS (log $E2E_CTD_LOG)" \
     "config $COCOON_CFG + config.d/50-e2e.toml, state_dir $STATE_DIR"

begin
if [ -z "$COCOONCTL" ]; then
    N=$((N + 1))
    echo "ok $N - harness: cocoonctl reads the stall pod's config # SKIP no COCOONCTL argument"
else
    st=1
    run_to "$OUT/config" "$OUT/config" "$COCOONCTL" config dump --config "$STALL_CFG" &&
        grep -qE "^request_timeout *= *$STALL_TIMEOUT\$" "$OUT/config" &&
        grep -qF "$STATE_DIR" "$OUT/config" && st=0
    tap $st "harness: cocoonctl reads the stall pod's config (request_timeout = $STALL_TIMEOUT from config.d)"
    [ $st = 0 ] || diag_file "cocoonctl config dump" "$OUT/config" 40
fi

# --- 1. the VM destroyed from outside ---

# A pod of two containers, each waited for by its `ctr run`, and an exec waited for by its
# `ctr task exec`: virsh destroy must end all three, each with a TaskExit, within 2 s.
sb=${P}vm
c1=${P}vm-c1
IDS+=("$sb" "$c1")
begin
st=1
bg_ctr vm "$T_RUN" run --fifo-dir "$FIFO_DIR" --runtime "$RUNTIME" --runtime-config-path "$COCOON_CFG" \
    --annotation "io.kubernetes.cri.image-name=$IMAGE" --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$sb" "$IMAGE" "$sb" sleep 600
W_SB=$BG_PID
W_C1=
W_EX=
if e2e_wait_status "$sb" RUNNING "$T_RUN" "$W_SB"; then
    bg_ctr vm-c1 "$T_RUN" run --fifo-dir "$FIFO_DIR" --runtime "$RUNTIME" --runtime-config-path "$COCOON_CFG" \
        --annotation "io.kubernetes.cri.image-name=$IMAGE" --annotation io.kubernetes.cri.container-type=container \
        --annotation "io.kubernetes.cri.sandbox-id=$sb" "$IMAGE" "$c1" sleep 600
    W_C1=$BG_PID
    if e2e_wait_status "$c1" RUNNING "$T_RUN" "$W_C1"; then
        bg_ctr vm-ex "$T_CMD" task exec --fifo-dir "$FIFO_DIR" --exec-id x1 "$c1" \
            sh -c 'echo exec-runs; exec sleep 600'
        W_EX=$BG_PID
        for ((i = 0; i < 100; i++)); do
            grep -qx exec-runs "$OUT/vm-ex" 2>/dev/null && { st=0; break; }
            alive "$W_EX" || break
            sleep 0.2
        done
    fi
fi
tap $st "VM destroyed: a pod of two containers (ctr run waits on each) and a waited-for exec run"
[ $st = 0 ] || { diag "task status: $sb '$(e2e_task_status "$sb")', $c1 '$(e2e_task_status "$c1")'";
                 diag_file "ctr run $sb: stderr" "$OUT/vm.err"; diag_file "ctr run $c1: stderr" "$OUT/vm-c1.err";
                 diag_file "ctr task exec: stderr" "$OUT/vm-ex.err"; diag_logs "$P" "$sb"; }

begin
if [ $st = 0 ]; then
    events_start "$OUT/vm.events"
    # Waits of its own on containerd's Tasks API, besides the ctr commands': a ctr exits only
    # after its Delete, which for the sandbox includes the VM's teardown.
    timeout -k 5 60 "$PY" "$OUT/wait.py" "$E2E_CTD_ADDRESS" "$E2E_CTD_NS" "$sb" "$c1" "$c1:x1" \
        >"$OUT/vm.waits" 2>&1 &
    W_PY=$!
    BGS+=("$W_PY")
    for ((i = 0; i < 50; i++)); do
        grep -qx waiting "$OUT/vm.waits" && break
        sleep 0.1
    done
    qpid=$(qemu_pid "$sb")
    now
    t0=$NOW
    virsh -q -c "$E2E_LIBVIRT_URI" destroy "cocoon-$sb" >"$OUT/vm.destroy" 2>&1
    # When each waiting ctr exited (its Wait returned, then it deleted the process).
    declare -A ended=()
    for ((i = 0; i < 300; i++)); do
        for pid in "$W_SB" "$W_C1" "$W_EX"; do
            [ -n "${ended[$pid]:-}" ] || alive "$pid" || { now; ended[$pid]=$((NOW - t0)); }
        done
        [ ${#ended[@]} = 3 ] && break
        sleep 0.05
    done
    wait "$W_PY"
    sleep 0.2   # a TaskExit that would come after the Waits returned
    events_stop
    st=0
    figures=()
    for w in "sandbox $sb:$W_SB:$sb:$sb" "container $c1:$W_C1:$c1:$c1" "exec x1:$W_EX:$c1:x1"; do
        IFS=: read -r what pid cid eid <<<"$w"
        wait "$pid"
        rc=$?
        ev=$(event_ms "$OUT/vm.events" "$cid" "$eid")
        [ -z "$ev" ] || ev=$((ev - t0))
        wt=''
        wst=''
        read -r wt wst < <(awk -v c="$cid" -v e="$eid" '$2 == c && $3 == e { print $1, $4 }' "$OUT/vm.waits")
        [ -z "${wt:-}" ] || wt=$((wt - t0))
        figures+=("$what: Wait returned $wst after ${wt:-(never)} ms, TaskExit after ${ev:-(never)} ms;" \
                  "  its ctr exited $rc after ${ended[$pid]:-(never)} ms")
        [ -n "${wt:-}" ] && [ "$wt" -le $T_EXIT_MS ] && [ "$wst" = 255 ] &&
            [ -n "$ev" ] && [ "$ev" -le $T_EXIT_MS ] && [ -n "${ended[$pid]:-}" ] || st=1
    done
    BGS=()
    tap $st "VM destroyed (virsh destroy): every Wait returns 255 and every TaskExit is published within $T_EXIT_MS ms; every ctr exits"
    diag "${figures[@]}"
    [ $st = 0 ] || { diag_file "virsh destroy" "$OUT/vm.destroy"; diag_file "Waits" "$OUT/vm.waits";
                     diag_file "ctr events" "$OUT/vm.events"; diag_logs "$P" "$sb"; }
else
    tap 1 "VM destroyed (virsh destroy): every Wait returns and every TaskExit is published # the pod did not run"
    qpid=
fi
remove_containers "$c1" "$sb"
check_gone "$sb" "$qpid" "VM destroyed, pod removed"

# --- 2. the shim SIGKILLed ---

id=${P}kill9
if start_pod "$id"; then
    begin
    st=1
    spid=$(shim_pid "$id")
    qpid=$(qemu_pid "$id")
    now
    t0=$NOW
    if [ -n "$spid" ]; then
        kill -KILL "$spid"
        # containerd sees its connection to the shim end and runs `containerd-shim-cocoon-v2
        # delete`, which destroys the domain by name and removes the pod's state.
        wait_gone 60 "$id" "$qpid" && st=0
    fi
    now
    tap $st "shim SIGKILLed: containerd's cleanup (shim delete) leaves no domain, QEMU, shim, socket, state or bundle"
    diag "shim pid ${spid:-(not found)}, QEMU pid ${qpid:-(not found)}; all gone $((NOW - t0)) ms after the SIGKILL"
    [ $st = 0 ] || { diag "left: $(echo "$LEFT" | tr '\n' ';')"; diag_logs "$id"; }
    begin
    st=1
    # containerd forgot the task (its cleanup published the TaskExit); the container remains.
    [ -z "$(e2e_task_status "$id")" ] && run_ctr /dev/null "$OUT/kill9.rm" "$T_CMD" containers delete "$id" &&
        ! e2e_ctr 30 containers ls -q | grep -qx "$id" && st=0
    tap $st "shim SIGKILLed: the task is gone from containerd and the container deletes"
    [ $st = 0 ] || { diag "task status '$(e2e_task_status "$id")'"; diag_file "ctr containers delete" "$OUT/kill9.rm"; }
else
    tap 1 "shim SIGKILLed: containerd's cleanup (shim delete) leaves nothing # the pod did not run"
    tap 1 "shim SIGKILLed: the task is gone from containerd and the container deletes # the pod did not run"
fi
remove_containers "$id"

# --- 3-5. containerd, then libvirtd restarted under one pod; 200 execs in it ---

id=${P}long
if start_pod "$id"; then
    spid=$(shim_pid "$id")
    qpid=$(qemu_pid "$id")

    begin
    st=1
    e2e_containerd_restart >&2 && e2e_wait_status "$id" RUNNING 30 && [ "$(shim_pid "$id")" = "$spid" ] && st=0
    tap $st "containerd restarted: the task is still RUNNING, served by the same shim (pid $spid)"
    [ $st = 0 ] || { diag "task status '$(e2e_task_status "$id")', shim now '$(shim_pid "$id")'"; diag_logs "$id"; }

    begin
    exec_check "$id" r1 "containerd restarted: exec works"

    # libvirt's autodestroy, which cocoon does not use (its domains outlive the cocoon-vm
    # helper): a domain started with it by a virsh that stays connected across the restart.
    # Only reported, not checked: it is libvirt's behaviour.
    ad=cocoon-${P}autodestroy
    cat >"$OUT/ad.xml" <<EOF
<domain type='qemu'>
  <name>$ad</name>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
</domain>
EOF
    # virsh reads its commands from a FIFO that this shell holds open: it stays connected
    # until the FIFO is closed.
    mkfifo "$OUT/ad.fifo"
    virsh -c "$E2E_LIBVIRT_URI" <"$OUT/ad.fifo" >"$OUT/ad.virsh" 2>&1 &
    AD_VIRSH=$!
    exec {AD_FD}>"$OUT/ad.fifo"
    echo "create --autodestroy $OUT/ad.xml" >&"$AD_FD"
    for ((i = 0; i < 100; i++)); do
        [ "$(virsh -q -c "$E2E_LIBVIRT_URI" domstate "$ad" 2>/dev/null | head -n 1)" = running ] && break
        sleep 0.2
    done
    ad_before=$(virsh -q -c "$E2E_LIBVIRT_URI" domstate "$ad" 2>/dev/null | head -n 1)
    ad_qemu=$(qemu_pid "${ad#cocoon-}")

    begin
    e2e_restart_daemon libvirtd >&2
    rc=$?
    if [ $rc = 2 ]; then
        N=$((N + 1))
        echo "ok $N - libvirtd restarted: the pod's domain, QEMU and task are unaffected # SKIP this run did not start libvirtd"
    else
        st=1
        [ $rc = 0 ] && [ "$(domain_state "$id")" = running ] && [ -n "$qpid" ] && e2e_pid_alive "$qpid" &&
            [ "$(e2e_task_status "$id")" = RUNNING ] && [ "$(shim_pid "$id")" = "$spid" ] && st=0
        tap $st "libvirtd restarted: the pod's domain, QEMU and task are unaffected"
        [ $st = 0 ] || diag "restart status $rc, domain '$(domain_state "$id")', QEMU pid $qpid" \
                            "task '$(e2e_task_status "$id")', shim '$(shim_pid "$id")'"
    fi
    # The virsh client's connection went with the old libvirtd. (virsh does not exit at the
    # end of its input once it lost its connection: it is killed.)
    sleep 1
    ad_after=$(virsh -q -c "$E2E_LIBVIRT_URI" domstate "$ad" 2>/dev/null | head -n 1)
    exec {AD_FD}>&-
    kill -TERM "$AD_VIRSH" 2>/dev/null
    wait "$AD_VIRSH" 2>/dev/null
    AD_VIRSH=
    ad_alive=no
    [ -n "$ad_qemu" ] && e2e_pid_alive "$ad_qemu" && ad_alive=yes
    diag "autodestroy: a domain started with --autodestroy by a virsh that stayed connected was" \
         "'${ad_before:-absent}' before the libvirtd restart, '${ad_after:-absent}' after it (its QEMU alive: $ad_alive)" \
         "($(/usr/sbin/libvirtd --version 2>/dev/null | sed 's|^/usr/sbin/||'))"
    if [ $rc = 2 ]; then
        diag "=> not known: libvirtd was not restarted"
    elif [ -z "$ad_before" ]; then
        diag_file "virsh --autodestroy" "$OUT/ad.virsh"
    elif [ "$ad_after" = running ]; then
        diag "=> autodestroy does not survive a libvirtd restart: the domain outlived its connection"
    else
        diag "=> an autodestroy domain does not survive a libvirtd restart: libvirtd destroyed it" \
             "(its connection went with the old daemon). cocoon starts its domains without" \
             "autodestroy, so its pods live on (checked above)."
    fi
    e2e_destroy_domains "$ad" 2>/dev/null

    begin
    exec_check "$id" r2 "libvirtd restarted: exec works"

    # 200 execs: the shim's fds and RSS after a warm-up of 20 (thread pool, allocator arenas),
    # then after each 50 more, so that a slow rise shows as a trend. Four at a time, as a busy
    # node would exec probes.
    begin
    st=1
    execs() {   # FIRST LAST: exec ids eFIRST..eLAST, `true` each; fails when one did
        seq "$1" "$2" | xargs -P 4 -I{} timeout -k 5 "$T_CMD" ctr --address "$E2E_CTD_ADDRESS" \
            --namespace "$E2E_CTD_NS" task exec --fifo-dir "$FIFO_DIR" --exec-id e{} "$id" true \
            >/dev/null 2>>"$OUT/execs.err"
    }
    fds() { find "/proc/$spid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
    rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$spid/status" 2>/dev/null; }
    execs 1 20
    fd0=$(fds)
    rss0=$(rss)
    rsss=("$rss0")
    rc=0
    now
    t0=$NOW
    for ((i = 0; i < EXECS; i += 50)); do
        execs $((1000 + i)) $((1000 + i + 49)) || rc=1
        rsss+=("$(rss)")
    done
    now
    fd1=$(fds)
    rss1=$(rss)
    half=${rsss[${#rsss[@]} / 2]}
    # Flat: the fds the same, RSS at most 1 MiB up over all 200 and 256 KiB over the last 100.
    # Under ASan RSS cannot be flat (its quarantine keeps freed memory, up to 256 MiB, to catch
    # use after free): there LeakSanitizer's report at the shim's exit answers for leaks.
    rss_what="its RSS flat (1 MiB at most, 256 KiB over the last 100)"
    rss_flat=0
    [ -n "$rss0" ] && [ -n "$rss1" ] && [ -n "$half" ] && [ $((rss1 - rss0)) -le 1024 ] &&
        [ $((rss1 - half)) -le 256 ] || rss_flat=1
    if e2e_sanitizer_built; then
        rss_what="its RSS not judged under ASan (LeakSanitizer is)"
        rss_flat=0
    fi
    [ $rc = 0 ] && [ "$fd1" -le "$fd0" ] && [ $rss_flat = 0 ] && st=0
    tap $st "$EXECS execs (4 at a time): all exit 0; the shim's fds stay the same, $rss_what"
    diag "shim pid $spid: fds $fd0 -> $fd1; VmRSS ${rss0:-?} -> ${rss1:-?} KiB ($((${rss1:-0} - ${rss0:-0})) KiB)," \
         "every 50 execs: ${rsss[*]} KiB; $EXECS execs in $((NOW - t0)) ms"
    [ $st = 0 ] || { diag "xargs exit $rc"; diag_file "ctr task exec stderr" "$OUT/execs.err"; diag_logs "$id"; }

    begin
    st=1
    events_start "$OUT/long.events"
    run_ctr /dev/null "$OUT/long.kill" "$T_CMD" task kill -s SIGKILL "$id" && e2e_wait_status "$id" STOPPED 30 &&
        for ((i = 0; i < 25; i++)); do
            [ -n "$(event_ms "$OUT/long.events" "$id" "$id")" ] && break
            sleep 0.2
        done
    events_stop
    [ "$(e2e_task_status "$id")" = STOPPED ] && [ -n "$(event_ms "$OUT/long.events" "$id" "$id")" ] && st=0
    tap $st "after both restarts: kill stops the task and its TaskExit reaches the new containerd"
    [ $st = 0 ] || { diag "task status '$(e2e_task_status "$id")'"; diag_file "ctr task kill" "$OUT/long.kill";
                     diag_file "ctr events" "$OUT/long.events"; diag_logs "$id"; }
    remove_containers "$id"
    check_gone "$id" "$qpid" "after the libvirtd restart, teardown"
else
    for what in "containerd restarted: the task is still RUNNING" "containerd restarted: exec works" \
            "libvirtd restarted: the pod is unaffected" "libvirtd restarted: exec works" "$EXECS execs" \
            "after both restarts: kill" "after the libvirtd restart, teardown"; do
        tap 1 "$what # the pod did not run"
    done
fi

# --- 6. the agent stops answering ---

# stall_call NAME WHAT CTR_ARGS...: a ctr call that must fail after about STALL_TIMEOUT s
# (not before it, nor more than 5 s after) with an error that says the agent did not answer.
stall_call() {
    local name=$1 what=$2 rc st=1 ms
    shift 2
    begin
    now
    local t0=$NOW
    run_ctr "$OUT/$name" "$OUT/$name.err" "$T_CMD" "$@"
    rc=$?
    now
    ms=$((NOW - t0))
    [ $rc != 0 ] && [ $ms -ge $((STALL_TIMEOUT * 1000 - 500)) ] && [ $ms -le $((STALL_TIMEOUT * 1000 + 5000)) ] &&
        grep -qiE 'deadline exceeded|timed out' "$OUT/$name.err" && st=0
    tap $st "stalled agent: $what fails after request_timeout ($STALL_TIMEOUT s) saying so"
    diag "$what: ctr exit $(rc_text $rc) after $ms ms: $(tr '\n' ' ' <"$OUT/$name.err" | cut -c1-300)"
    [ $st = 0 ] || diag_logs "$id"
}

id=${P}stall
if start_pod "$id" --runtime-config-path "$STALL_CFG"; then
    spid=$(shim_pid "$id")
    qpid=$(qemu_pid "$id")
    stall_call stall "the stalling exec (cocoon-test-agent-stall)" \
        task exec --fifo-dir "$FIFO_DIR" --exec-id stall "$id" cocoon-test-agent-stall
    stall_call stall-exec "a later exec" task exec --fifo-dir "$FIFO_DIR" --exec-id s2 "$id" echo hi
    stall_call stall-kill "kill -s SIGTERM" task kill -s SIGTERM "$id"

    # SIGKILL must stop the task even so, or containerd and the kubelet would retry it for
    # ever: the shim destroys the VM once the agent did not answer it in time.
    begin
    st=1
    now
    t0=$NOW
    run_ctr /dev/null "$OUT/stall-kill9.err" "$T_CMD" task kill -s SIGKILL "$id" &&
        e2e_wait_status "$id" STOPPED 30 && [ -z "$(domain_state "$id")" ] && st=0
    now
    tap $st "stalled agent: kill -s SIGKILL, unanswered, destroys the VM: the task stops"
    diag "kill -s SIGKILL: STOPPED, domain gone after $((NOW - t0)) ms; task status '$(e2e_task_status "$id")'"
    [ $st = 0 ] || { diag_file "ctr task kill" "$OUT/stall-kill9.err"; diag_logs "$id"; }

    # ... and Delete, then Shutdown, must end the shim without waiting on the agent for long.
    begin
    st=1
    now
    t0=$NOW
    run_ctr /dev/null "$OUT/stall-delete.err" "$T_CMD" task delete "$id"
    rc=$?
    for ((i = 0; i < 300; i++)); do
        { [ -n "$spid" ] && alive "$spid"; } || break
        sleep 0.1
    done
    now
    [ $rc = 0 ] && [ -n "$spid" ] && ! alive "$spid" && [ $((NOW - t0)) -le $((STALL_TIMEOUT * 1000 + 10000)) ] && st=0
    tap $st "stalled agent: task delete and the shim's Shutdown end within request_timeout + 10 s"
    diag "task delete: ctr exit $(rc_text $rc); shim pid ${spid:-?} gone $((NOW - t0)) ms after the delete began"
    [ $st = 0 ] || { diag_file "ctr task delete" "$OUT/stall-delete.err"; diag_logs "$id"; }
    remove_containers "$id"
    check_gone "$id" "$qpid" "stalled agent, pod removed"
else
    for what in "the stalling exec" "a later exec" "kill -s SIGTERM" "kill -s SIGKILL" "task delete" "pod removed"; do
        tap 1 "stalled agent: $what # the pod did not run"
    done
fi

# --- 7. QEMU fails to start ---

# qemu_fails NAME CONFIG WHAT WHOSE PATTERN...: `ctr run` with CONFIG must fail, and both its
# error and containerd's log (the shim's log is in it) must match each extended regex PATTERN:
# WHOSE words they are.
qemu_fails() {
    local name=$1 cfg=$2 what=$3 whose=$4 id=${P}$1 rc st=1 pat
    shift 4
    begin
    IDS+=("$id")
    run_to "$OUT/$name" "$OUT/$name.err" timeout -k 5 "$T_CMD" ctr --address "$E2E_CTD_ADDRESS" \
        --namespace "$E2E_CTD_NS" run --fifo-dir "$FIFO_DIR" --runtime "$RUNTIME" --runtime-config-path "$cfg" \
        --annotation "io.kubernetes.cri.image-name=$IMAGE" "$IMAGE" "$id" true
    rc=$?
    tail -n +"$((CTD_MARK + 1))" "$E2E_CTD_LOG" | grep -F "$id" >"$OUT/$name.log"
    if [ $rc != 0 ] && [ $rc != 124 ] && [ $rc != 137 ]; then
        st=0
        for pat in "$@"; do
            if ! grep -qE "$pat" "$OUT/$name.err" || ! grep -qE "$pat" "$OUT/$name.log"; then
                st=1
                diag "not in both ctr's error and the shim's log: /$pat/"
            fi
        done
    fi
    tap $st "QEMU fails ($what): ctr run fails with $whose words, in the shim's log too"
    diag "ctr exit $(rc_text $rc): $(tr '\n' ' ' <"$OUT/$name.err" | cut -c1-600)"
    [ $st = 0 ] || diag_file "containerd log about $id" "$OUT/$name.log" 10
    remove_containers "$id"
    check_gone "$id" "" "QEMU fails ($what)"
}
# libvirt refuses a missing kernel and a bad machine type itself, before QEMU runs: its words
# only. A file that is no kernel gets past libvirt, and QEMU's own line comes with libvirt's.
qemu_fails nokernel "$NOKERNEL_CFG" "a missing kernel" "libvirt's" \
    "libvirt: [^:]*: $E2E_TMPDIR/no-such-vmlinux: No such file or directory"
qemu_fails badkernel "$BADKERNEL_CFG" "a file that is no kernel" "libvirt's and QEMU's" \
    "libvirt: .*(qemu unexpectedly closed the monitor|exited while connecting to monitor)" \
    "qemu(-system-x86_64)?: [a-z]"
qemu_fails badmachine "$BADMACHINE_CFG" "an unknown machine type" "libvirt's (and the shim's)" \
    "machine type cocoon-no-such-machine" "libvirt: .*PCI"
qemu_fails badversion "$BADVERSION_CFG" "a machine type version QEMU lacks" "libvirt's" \
    "libvirt: .*does not support machine type 'pc-i440fx-0.1'"

# --- nothing left behind ---

begin
e2e_wait_shims_gone
doms=$(e2e_left_domains "$P")
pids=$(e2e_containerd_shim_pids)
mapfile -t left < <(e2e_left_sockets "${IDS[@]}")
state=$(ls -A "$STATE_DIR" 2>/dev/null || true)
st=0
[ -z "$doms" ] && [ -z "$pids" ] && [ ${#left[@]} = 0 ] && [ -z "$state" ] || st=1
tap $st "after: no domain cocoon-$P*, shim, shim socket or state left"
[ -z "$doms" ] || diag "domains: $(echo "$doms" | tr '\n' ' ')"
for pid in $pids; do diag "shim pid $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"; done
[ ${#left[@]} = 0 ] || diag "sockets: ${left[*]}"
[ -z "$state" ] || diag "state: $(find "$STATE_DIR" -mindepth 1 | head -n 20 | tr '\n' ' ')"

e2e_sanitizer_check

if [ "$N" != "$PLAN" ]; then
    diag "ran $N checks, planned $PLAN"
    FAILED=1
fi
exit "$FAILED"
}
