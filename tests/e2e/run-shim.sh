#!/bin/bash
# The shim end to end: a private containerd 1.6 runs busybox containers with
# --runtime io.containerd.cocoon.v2, each pod in a TCG VM of the test guest under libvirtd.
# TAP on stdout (one line per check, `# ` diagnostics with the relevant log lines on failure);
# the daemons' chatter goes to stderr. Whatever happens, the exit trap removes what the run
# made: tasks, containers, this run's domains (cocoon-shim-<pid>-*), shims, containerd, the
# daemons it started, the temp dir.
#
#   run-shim.sh SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR [COCOONCTL [VERSION]]]
#
# CACHE_DIR keeps the busybox OCI tarball between runs (default: the temp dir). COCOONCTL, when
# given, checks the run's configuration before any VM starts. VERSION (1.6, 1.7 or 2.1; default
# 1.6, the machine's) picks the containerd: 1.7 and 2.1 come from Debian's newer suites through
# tests/e2e/lib/debs.sh, cached in CACHE_DIR/cri-cache. E2E_CTR_TIMEOUT bounds each `ctr run`
# that boots a VM (default 150 s); other ctr commands get 60 s.
set -uo pipefail   # no -e: every check handles its own failure

# Everything in one compound command: bash reads it whole before running it, so editing this
# file while a run is under way cannot change what that run executes.
{

if [ $# -lt 4 ] || [ $# -gt 7 ]; then
    echo "usage: $0 SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR [COCOONCTL [VERSION]]]" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/ctr-run.sh
. "$HERE/lib/ctr-run.sh"
# ctr passes its stdin on to the container: only the stdin check gives it one.
exec </dev/null
# As root only, in a session of its own; SHIM, VMLINUX, ..., COCOONCTL from the arguments.
e2e_run_begin "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"
CTD_VERSION=${7:-1.6}

PLAN=25
RUNTIME=io.containerd.cocoon.v2
LOCAL_IMAGE=docker.io/library/busybox-local:latest
IMAGE=                          # the same image in the run's registry: the guest pulls it
T_RUN=${E2E_CTR_TIMEOUT:-150}   # a ctr command that boots a VM: TCG boot + agent dial
T_CMD=60
P=shim-$$-                      # container ids; the pods' domains are cocoon-$P*
IDS=()                          # every container id used (their shim sockets are checked)
BG=                             # the background `ctr run` of a kill check

e2e_run_dirs e2e-shim

# shellcheck disable=SC2317 # run by the trap
cleanup() {
    local rc=$?
    set +e
    # meson may have stopped reading: a write to the closed pipe must not end the cleanup.
    trap '' PIPE
    trap - INT TERM
    e2e_stop_bg "$E2E_FG" "$BG"
    # A failed check showed its own QEMU log.
    e2e_run_cleanup "$rc" "$P" "${IDS[@]}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap 'exit 141' PIPE

# --- TAP ---

# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
. "$HERE/lib/tap.sh"

# --- setup ---

e2e_install_packages >&2
e2e_registry_install >&2
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] ||
    E2E_EXTRA_PACKAGES="busybox:busybox-static" e2e_install_packages >&2
e2e_containerd_install >&2
# shellcheck source-path=SCRIPTDIR source=lib/debs.sh
. "$HERE/lib/debs.sh"
if ! ctd_dir=$(debs_containerd "$CTD_VERSION" "$CACHE_DIR/cri-cache"); then
    echo "Bail out! containerd $CTD_VERSION cannot be had (tests/e2e/lib/debs.sh)"
    exit 1
fi
PATH=$ctd_dir/bin:$PATH   # containerd and ctr of that version, for the whole run
for prog in containerd ctr runc virsh script python3 docker-registry skopeo; do
    command -v "$prog" >/dev/null 2>&1 || { echo "Bail out! $prog is not installed"; exit 1; }
done
e2e_run_start "$SHIM" && e2e_run_busybox "$LOCAL_IMAGE" || exit 1

CTR_RUN=(ctr --address "$E2E_CTD_ADDRESS" --namespace "$E2E_CTD_NS" run --fifo-dir "$FIFO_DIR"
         --runtime "$RUNTIME" --runtime-config-path "$COCOON_CFG"
         --annotation "io.kubernetes.cri.image-name=$IMAGE")

e2e_cocoon_config --debug "$COCOON_DIR" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" "$STATE_DIR" e2e ||
    { echo "Bail out! cocoon's configuration in $COCOON_DIR"; exit 1; }

echo "1..$PLAN"
diag "shim $SHIM$([ -x "$SHIM" ] || echo ' (MISSING)'), containerd $(containerd --version | cut -d' ' -f3) $E2E_CTD_ADDRESS (log $E2E_CTD_LOG)" \
     "config $COCOON_CFG + config.d/50-e2e.toml, state_dir $STATE_DIR"
# libvirt probes QEMU with KVM when /dev/kvm exists, then finds KVM "no longer available" when
# QEMU's user cannot open it, and probes again (~2 s each time, several times per domain start).
qemu_user=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1)
qemu_user=${qemu_user:-libvirt-qemu}
if [ -e /dev/kvm ] && id "$qemu_user" >/dev/null 2>&1 &&
        ! runuser -u "$qemu_user" -- test -r /dev/kvm -a -w /dev/kvm 2>/dev/null; then
    diag "note: $qemu_user cannot open /dev/kvm ($(stat -c '%U:%G %a' /dev/kvm)): libvirt re-probes QEMU on" \
         "every domain start, about a minute each (udev would make it root:kvm 0660)"
fi

# --- harness checks: these need no cocoon shim ---

begin
id=${P}runc
IDS+=("$id")
run_ctr "$OUT/runc" "$OUT/runc.err" "$T_CMD" run --rm --fifo-dir "$FIFO_DIR" "$LOCAL_IMAGE" "$id" echo hi
rc=$?
st=1
[ $rc = 0 ] && cmp -s "$OUT/runc" <(printf 'hi\n') && st=0
tap $st "harness: the test containerd runs the image with runc"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stdout" "$OUT/runc";
                 diag_file "ctr stderr" "$OUT/runc.err"; diag_logs "$id"; }

begin
if [ -z "$COCOONCTL" ]; then
    N=$((N + 1))
    echo "ok $N - harness: cocoonctl reads the run's config # SKIP no COCOONCTL argument"
else
    st=1
    run_to "$OUT/config" "$OUT/config" "$COCOONCTL" config dump --config "$COCOON_CFG" &&
        grep -qF "$VMLINUX" "$OUT/config" && grep -qF "$STATE_DIR" "$OUT/config" && st=0
    tap $st "harness: cocoonctl reads the run's config (kernel, state_dir from config.d)"
    [ $st = 0 ] || diag_file "cocoonctl config dump" "$OUT/config" 40
fi

# --- a. stdout ---

begin
id=${P}echo
IDS+=("$id")
run_cocoon "$OUT/echo" "$OUT/echo.err" "$T_RUN" --rm "$IMAGE" "$id" echo hello-cocoon
rc=$?
st=1
[ $rc = 0 ] && expect_file "$OUT/echo" $'hello-cocoon\n' && st=0
tap $st "echo hello-cocoon: exact output, exit 0"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/echo.err"; diag_logs "$id"; }
remove_containers "$id"

# --- b. exit code ---

begin
id=${P}exit
IDS+=("$id")
run_cocoon "$OUT/exit" "$OUT/exit.err" "$T_RUN" --rm "$IMAGE" "$id" sh -c 'exit 42'
rc=$?
st=1
[ $rc = 42 ] && st=0
tap $st "sh -c 'exit 42': ctr exits 42"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc), expected 42"; diag_file "ctr stderr" "$OUT/exit.err";
                 diag_logs "$id"; }
remove_containers "$id"

# --- c. stdin (ctr 1.6 always passes its stdin on; it has no -i) ---

begin
id=${P}stdin
IDS+=("$id")
printf 'abc\n' >"$OUT/stdin.in"
run_cocoon "$OUT/stdin" "$OUT/stdin.err" "$T_RUN" --rm "$IMAGE" "$id" cat <"$OUT/stdin.in"
rc=$?
st=1
[ $rc = 0 ] && expect_file "$OUT/stdin" $'abc\n' && st=0
tap $st "stdin: cat echoes abc and exits at EOF"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/stdin.err"; diag_logs "$id"; }
remove_containers "$id"

# --- d. tty: script gives ctr a terminal; ctr -t gives the container one ---

begin
id=${P}tty
IDS+=("$id")
# shellcheck disable=SC2016 # expanded by the container's shell
cmd=$(printf '%q ' "${CTR_RUN[@]}" --rm -t "$IMAGE" "$id" \
    sh -c 'test -t 0 && test -t 1 && echo "is-a-tty-$((6 * 7))"')
run_to "$OUT/tty" "$OUT/tty.err" timeout -k 5 "$T_RUN" script -qec "$cmd" /dev/null
rc=$?
st=1
# Not an exact match: the terminal adds CRs, and a "^@" comes before the output (with runc as
# well). The 42 shows that the container's shell printed the line, not an echo of its arguments.
[ $rc = 0 ] && grep -q 'is-a-tty-42' "$OUT/tty" && st=0
tap $st "tty: ctr run -t gives the container a terminal on stdin and stdout"
[ $st = 0 ] || { diag "script/ctr exit $(rc_text $rc)"; diag_file "terminal output" "$OUT/tty";
                 diag_file "stderr" "$OUT/tty.err"; diag_logs "$id"; }
remove_containers "$id"

# --- e. a detached container: exec, ls, ps, metrics, SIGTERM ---

begin
id=${P}long
IDS+=("$id")
run_cocoon "$OUT/long" "$OUT/long.err" "$T_RUN" -d "$IMAGE" "$id" sleep 600
rc=$?
st=1
[ $rc = 0 ] && e2e_wait_status "$id" RUNNING 10 && st=0
tap $st "run -d sleep 600: task ls shows it RUNNING"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc), task status '$(e2e_task_status "$id")'";
                 diag_file "ctr stderr" "$OUT/long.err"; diag_logs "$id"; }

begin
run_ctr "$OUT/exec" "$OUT/exec.err" "$T_CMD" task exec --fifo-dir "$FIFO_DIR" --exec-id e1 "$id" \
    echo exec-ok
rc=$?
st=1
[ $rc = 0 ] && expect_file "$OUT/exec" $'exec-ok\n' && st=0
tap $st "task exec --exec-id e1 echo exec-ok: exact output, exit 0"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/exec.err"; diag_logs "$id"; }

begin
run_ctr "$OUT/ps" "$OUT/ps.err" "$T_CMD" task ps "$id"
rc=$?
st=1
# A header, then one line per process whose first field is a pid.
[ $rc = 0 ] && awk 'NR > 1 && $1 ~ /^[0-9]+$/ && $1 > 0 { n++ } END { exit !n }' "$OUT/ps" && st=0
tap $st "task ps lists the container's processes"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr task ps" "$OUT/ps";
                 diag_file "ctr stderr" "$OUT/ps.err"; diag_logs "$id"; }

begin
run_ctr "$OUT/metrics" "$OUT/metrics.err" "$T_CMD" task metrics "$id"
rc=$?
st=1
# cgroups v1 or v2 metrics, as containerd's own shims send: memory in use and pids are not 0.
[ $rc = 0 ] &&
    grep -qE '^(memory\.usage_in_bytes|memory\.usage)[[:space:]]+[1-9][0-9]*' "$OUT/metrics" &&
    grep -qE '^pids\.current[[:space:]]+[1-9][0-9]*' "$OUT/metrics" && st=0
tap $st "task metrics: memory usage and pids.current are set"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr task metrics" "$OUT/metrics" 30;
                 diag_file "ctr stderr" "$OUT/metrics.err"; diag_logs "$id"; }

begin
st=1
got=
: >"$OUT/term"
if run_ctr "$OUT/term.kill" "$OUT/term" "$T_CMD" task kill -s SIGTERM "$id" &&
        e2e_wait_status "$id" STOPPED 30; then
    # ctr 1.6 has no `task wait`; `task delete` warns "... exit with non-zero exit code N".
    run_ctr "$OUT/term.delete" "$OUT/term" "$T_CMD" task delete "$id"
    got=$(sed -n 's/.*exit with non-zero exit code \([0-9]*\).*/\1/p' "$OUT/term" | head -n 1)
    [ "$got" = 137 ] && st=0
fi
# sleep is pid 1 of its pid namespace with no SIGTERM handler, which the kernel would let ignore
# SIGTERM: the agent sends SIGKILL instead, as kata-agent does.
tap $st "task kill -s SIGTERM: the task (pid 1, no handler) stops with status 137"
[ $st = 0 ] || { diag "exit status '${got}', task status '$(e2e_task_status "$id")'";
                 diag_file "ctr stderr" "$OUT/term"; diag_logs "$id"; }
remove_containers "$id"

# kill_check NAME SIGNAL CODE READY_LINE ARGS...: `ctr run` in the background; once the task
# runs (and printed READY_LINE, when given), `ctr task kill` sends SIGNAL from a second ctr; the
# first must exit with CODE.
kill_check() {
    local name=$1 sig=$2 code=$3 ready=$4 id=${P}$1 rc st=1 i
    shift 4
    begin
    IDS+=("$id")
    timeout -k 5 "$T_RUN" "${CTR_RUN[@]}" --rm "$IMAGE" "$id" "$@" >"$OUT/$name" 2>"$OUT/$name.err" &
    BG=$!
    if e2e_wait_status "$id" RUNNING "$T_RUN" "$BG"; then
        for ((i = 0; i < 100; i++)); do
            [ -z "$ready" ] || grep -qx "$ready" "$OUT/$name" && break
            sleep 0.2
        done
        run_ctr /dev/null "$OUT/$name.kill" "$T_CMD" task kill -s "$sig" "$id"
    fi
    wait "$BG"
    rc=$?
    BG=
    [ "$rc" = "$code" ] && st=0
    tap $st "ctr run, task kill -s $sig from a second ctr: ctr run exits $code"
    [ $st = 0 ] || { diag "ctr run exit $(rc_text $rc), expected $code"; diag_file "ctr output" "$OUT/$name";
                     diag_file "ctr stderr" "$OUT/$name.err"; diag_file "ctr task kill" "$OUT/$name.kill";
                     diag_logs "$id"; }
    remove_containers "$id"
}
kill_check trap SIGTERM 7 ready sh -c 'trap "exit 7" TERM; echo ready; while :; do sleep 1; done'
kill_check kill SIGKILL 137 "" sleep 600

# --- f. two containers of one pod share one VM ---

begin
sb=${P}pod
c1=${P}pod-c1
IDS+=("$sb" "$c1")
st=1
run_cocoon "$OUT/pod" "$OUT/pod.err" "$T_RUN" -d --annotation io.kubernetes.cri.container-type=sandbox \
    --annotation "io.kubernetes.cri.sandbox-id=$sb" "$IMAGE" "$sb" sleep 600 &&
run_cocoon "$OUT/pod-c1" "$OUT/pod-c1.err" "$T_RUN" -d --annotation io.kubernetes.cri.container-type=container \
    --annotation "io.kubernetes.cri.sandbox-id=$sb" "$IMAGE" "$c1" sleep 600 &&
    e2e_wait_status "$sb" RUNNING 10 && e2e_wait_status "$c1" RUNNING 10 && st=0
tap $st "pod: a sandbox and a container of it (CRI annotations) both RUNNING"
[ $st = 0 ] || { diag "task status: $sb '$(e2e_task_status "$sb")', $c1 '$(e2e_task_status "$c1")'";
                 diag_file "ctr run $sb: stderr" "$OUT/pod.err";
                 diag_file "ctr run $c1: stderr" "$OUT/pod-c1.err"; diag_logs "$P" "$sb"; }

begin
st=1
doms=$(virsh -q -c "$E2E_LIBVIRT_URI" list --name 2>/dev/null | grep "^cocoon-$P" || true)
shims=$(e2e_containerd_shim_pids | wc -l)
pod_vm=0
[ "$doms" = "cocoon-$sb" ] && pod_vm=1
[ $pod_vm = 1 ] && [ "$shims" = 1 ] && st=0
tap $st "pod: one VM (cocoon-$sb) and one shim for both"
[ $st = 0 ] || diag "domains: $(echo "$doms" | tr '\n' ' ')" "cocoon shims of this containerd: $shims"

begin
run_ctr "$OUT/podexec" "$OUT/podexec.err" "$T_CMD" task exec --fifo-dir "$FIFO_DIR" --exec-id e1 "$c1" \
    sh -c 'echo pod-exec-ok'
rc=$?
st=1
[ $rc = 0 ] && expect_file "$OUT/podexec" $'pod-exec-ok\n' && st=0
tap $st "pod: exec in the second container"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/podexec.err";
                 diag_logs "$c1" "$sb"; }

begin
remove_containers "$c1" "$sb"
st=1
for ((i = 0; i < 150; i++)); do
    virsh -q -c "$E2E_LIBVIRT_URI" list --name 2>/dev/null | grep -qx "cocoon-$sb" || { st=0; break; }
    sleep 0.2
done
left=$(e2e_ctr "$T_CMD" containers ls -q | grep "^$P" || true)
[ $pod_vm = 1 ] && [ -z "$left" ] || st=1
tap $st "pod: removing both containers destroys the VM"
if [ $st != 0 ]; then
    [ $pod_vm = 1 ] || diag "the pod's VM never ran, so its teardown could not be seen"
    virsh -q -c "$E2E_LIBVIRT_URI" list --name 2>/dev/null | grep -qx "cocoon-$sb" &&
        diag "domain cocoon-$sb still runs"
    [ -z "$left" ] || diag "containers left: $(echo "$left" | tr '\n' ' ')"
    diag_logs "$P" "$sb"
fi

# --- g. 10 MiB of stdout, byte-exact ---

begin
id=${P}big
IDS+=("$id")
run_cocoon "$OUT/big" "$OUT/big.err" "$T_RUN" --rm "$IMAGE" "$id" \
    sh -c 'yes 0123456789abcdef | head -c 10485760'
rc=$?
want_sha=$(yes 0123456789abcdef | head -c 10485760 | sha256sum | cut -d' ' -f1)
got=$(sha256sum <"$OUT/big" | cut -d' ' -f1)
st=1
[ $rc = 0 ] && [ "$got" = "$want_sha" ] && st=0
tap $st "10 MiB of stdout relayed byte-exact (sha256)"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc); got $(stat -c %s "$OUT/big") bytes, sha256 $got" \
                      "want 10485760 bytes, sha256 $want_sha";
                 diag_file "ctr stderr" "$OUT/big.err"; diag_logs "$id"; }
remove_containers "$id"

# --- h. nothing left behind ---

begin
e2e_wait_shims_gone
e2e_after_domains "$P"
e2e_after_shims "after: no shim process of this containerd left"
e2e_after_sockets "${IDS[@]}"
e2e_after_bundles
e2e_after_state
e2e_after_mounts

e2e_sanitizer_check

if [ "$N" != "$PLAN" ]; then
    diag "ran $N checks, planned $PLAN"
    FAILED=1
fi
exit "$FAILED"
}
