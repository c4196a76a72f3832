# shellcheck shell=bash disable=SC2034 # the run's variables are the scripts'
# Sourced by the scripts that drive the test containerd with ctr (run-shim.sh, run-faults.sh,
# run-confidential.sh, tests/bench/run-shim-bench.sh): the harness they share. Sources
# lib/daemons.sh, lib/containerd.sh, lib/registry.sh, lib/cocoon.sh and lib/sanitizer.sh. The
# checks' helpers need lib/tap.sh (diag, CTD_MARK) and the scripts' T_CMD and CTR_RUN.
#
#   . tests/e2e/lib/ctr-run.sh
#   e2e_run_begin SCRIPT ARG...     # TAP skip unless root; a session of its own; SHIM... from ARGs
#   e2e_run_dirs NAME               # E2E_TMPDIR (/tmp/cocoon-NAME-XXXXXX), FIFO_DIR, OUT,
#                                   # COCOON_DIR, COCOON_CFG, STATE_DIR; CACHE_DIR defaults to it
#   e2e_run_start SHIM              # virtlogd, libvirtd, the sanitizer's setup, containerd (SHIM's
#                                   # dir in its PATH), the registry; a TAP "Bail out!" on failure
#   e2e_run_busybox LOCAL_IMAGE     # the busybox image: imported for runc, in the registry as IMAGE
#   run_to OUT ERR CMD...           # CMD in the background, waited for (its PID in E2E_FG)
#   run_ctr OUT ERR SECONDS ARGS... # ctr against the test containerd, through run_to
#   run_cocoon OUT ERR SECONDS [RUN OPTIONS] IMAGE ID ARGS...   # "${CTR_RUN[@]}", through run_to
#   remove_containers ID...         # kill, delete, remove through the shim, as ctr's users do
#   diag_logs ID [POD]; rc_text RC; expect_file FILE EXPECTED   # a failed check's diagnostics
#   e2e_wait_shims_gone             # up to 20 s for this containerd's shims to exit
#   e2e_left_domains PREFIX         # domains cocoon-PREFIX*, one a line
#   e2e_left_sockets ID...          # "SOCKET (ID)" of each shim socket still there, one a line
#   e2e_after_domains PREFIX; e2e_after_shims DESCRIPTION; e2e_after_sockets ID...;
#   e2e_after_bundles; e2e_after_state; e2e_after_mounts      # one TAP "after: ..." check each
#   e2e_stop_bg PID...              # SIGTERM to each (a `timeout`: its ctr gets it), waited for
#   e2e_run_cleanup [--keep] [--qemu-logs] [--ctd-warnings] RC PREFIX ID...
#                                   # the exit trap's teardown, once the script's own is done
#
# PREFIX is the run's prefix of container ids (the pods' domains are cocoon-PREFIX*); IDs are
# every container id the run used (their shim sockets are checked and removed).

E2E_RUN_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=daemons.sh
. "$E2E_RUN_LIB/daemons.sh"
# shellcheck source-path=SCRIPTDIR source=containerd.sh
. "$E2E_RUN_LIB/containerd.sh"
# shellcheck source-path=SCRIPTDIR source=registry.sh
. "$E2E_RUN_LIB/registry.sh"
# shellcheck source-path=SCRIPTDIR source=cocoon.sh
. "$E2E_RUN_LIB/cocoon.sh"
# shellcheck source-path=SCRIPTDIR source=sanitizer.sh
. "$E2E_RUN_LIB/sanitizer.sh"
E2E_FG=     # the command run_to waits for
CTR_RUN=()  # the `ctr run` through the shim (set once containerd runs): ... [OPTIONS] IMAGE ID ARGS...

# --- the run ---

# e2e_run_begin SCRIPT ARG...: a TAP skip (exit 0) when not root. Otherwise the checks run in a
# session of their own, SCRIPT run again (lib/proc.sh: meson's SIGKILL must not cut the cleanup
# short), with SHIM, VMLINUX, INITRAMFS, CONFIGS_DIR, CACHE_DIR and COCOONCTL set from the ARGs
# SHIM VMLINUX INITRAMFS CONFIGS_DIR [CACHE_DIR [COCOONCTL ...]].
e2e_run_begin() {
    local script=$1
    shift
    if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root (containerd, libvirtd, QEMU)"
        exit 0
    fi
    e2e_own_session "$script" "$@"
    SHIM=$(realpath -m "$1")
    VMLINUX=$(realpath -m "$2")
    INITRAMFS=$(realpath -m "$3")
    CONFIGS_DIR=$4
    CACHE_DIR=${5:-}
    COCOONCTL=${6:-}
}

e2e_run_dirs() {
    # QEMU runs as libvirt-qemu (qemu.conf) and binds the agent socket and console log under
    # state_dir: every dir on the way must be 0755.
    E2E_TMPDIR=$(mktemp -d "/tmp/cocoon-$1-XXXXXX")
    chmod 0755 "$E2E_TMPDIR"
    export E2E_TMPDIR
    FIFO_DIR=$E2E_TMPDIR/fifo
    OUT=$E2E_TMPDIR/out
    COCOON_DIR=$E2E_TMPDIR/cocoon
    COCOON_CFG=$COCOON_DIR/cocoon.toml
    STATE_DIR=$E2E_TMPDIR/cocoon-state
    mkdir -p "$FIFO_DIR" "$OUT" "$COCOON_DIR/config.d" "$STATE_DIR"
    chmod 0755 "$STATE_DIR"
    [ -n "${CACHE_DIR:-}" ] || CACHE_DIR=$E2E_TMPDIR
}

e2e_run_start() {
    local shim=$1
    if ! e2e_start_daemons >&2; then
        echo "Bail out! virtlogd/libvirtd do not start"
        return 1
    fi
    e2e_sanitizer_setup "$shim" "$E2E_TMPDIR/sanitizer"
    # containerd finds containerd-shim-cocoon-v2 for io.containerd.cocoon.v2 through its PATH.
    if ! e2e_containerd_start "$(dirname "$shim")" >&2; then
        echo "Bail out! containerd does not start (log: ${E2E_CTD_LOG:-none})"
        return 1
    fi
    # cocoon runs nothing but a container's own image, pulled in the guest: the images go to a
    # registry on the host's loopback, which the guest reaches through QEMU user networking.
    if ! e2e_registry_start "$E2E_TMPDIR/registry" 5000 >&2; then
        echo "Bail out! docker-registry does not start"
        return 1
    fi
}

# e2e_run_busybox LOCAL_IMAGE: the busybox OCI tarball (cached in CACHE_DIR) imported into the
# test containerd as LOCAL_IMAGE (runc runs it from there), pushed to the run's registry and
# pulled from it as IMAGE (set here: what the guest pulls). A TAP "Bail out!" on failure.
e2e_run_busybox() {
    local tar=$CACHE_DIR/busybox-oci.tar
    IMAGE=$E2E_REG_ADDR/busybox-local:latest
    if ! python3 "$E2E_RUN_LIB/mkimage.py" "$tar" --name "$1" >&2 ||
            ! run_ctr "$OUT/import" "$OUT/import" "$T_CMD" images import "$tar" ||
            ! mkdir -p "$E2E_TMPDIR/oci" || ! tar -xf "$tar" -C "$E2E_TMPDIR/oci" ||
            ! e2e_registry_push "$E2E_TMPDIR/oci:latest" "busybox-local:latest" >"$OUT/import" 2>&1 ||
            ! run_ctr "$OUT/import" "$OUT/import" "$T_CMD" images pull --plain-http "$IMAGE"; then
        cat "$OUT/import" >&2
        echo "Bail out! the busybox OCI image does not build, import, push or pull"
        return 1
    fi
}

# --- running commands ---

# run_to OUT ERR CMD...: CMD (an executable, not a function) with stdout to OUT and stderr to
# ERR. It runs in the background and is waited for, because bash runs a trap only once the
# foreground command ends, and with this shell's own stdout and stderr then, not OUT and ERR.
run_to() {
    local out=$1 err=$2 rc
    shift 2
    "$@" <&0 >"$out" 2>"$err" &
    E2E_FG=$!
    wait "$E2E_FG"
    rc=$?
    E2E_FG=
    return "$rc"
}

# run_ctr OUT ERR SECONDS ARGS...: ctr against the test containerd, killed after SECONDS.
run_ctr() {
    local out=$1 err=$2 secs=$3
    shift 3
    run_to "$out" "$err" timeout -k 5 "$secs" ctr --address "$E2E_CTD_ADDRESS" \
        --namespace "$E2E_CTD_NS" "$@"
}

# run_cocoon OUT ERR SECONDS [RUN OPTIONS] IMAGE ID ARGS...
run_cocoon() {
    local out=$1 err=$2 secs=$3
    shift 3
    run_to "$out" "$err" timeout -k 5 "$secs" "${CTR_RUN[@]}" "$@"
}

# Removes the containers through the shim, as containerd's users do: kill, delete, remove; each
# ctr gets T_CMD seconds.
remove_containers() {
    local id
    for id in "$@"; do
        [ -n "$(e2e_task_status "$id")" ] || continue
        run_ctr /dev/null /dev/null "$T_CMD" task kill -a -s SIGKILL "$id"
        e2e_wait_status "$id" STOPPED 30
        run_ctr /dev/null /dev/null "$T_CMD" task delete "$id"
    done
    for id in "$@"; do
        run_ctr /dev/null /dev/null "$T_CMD" containers delete "$id"
    done
    return 0
}

# --- diagnostics ---

# What to show when a check about container/pod id failed: containerd's log since `begin`
# (the shims' stderr is in it) about id or at warning level and above, the VM's console and
# libvirt's QEMU log.
diag_logs() {
    local id=$1 pod=${2:-$1}
    diag "--- containerd log since the check began, lines about $id or warnings:"
    tail -n +"$((CTD_MARK + 1))" "$E2E_CTD_LOG" 2>/dev/null |
        grep -E -e "$id" -e 'level=(warning|error|fatal)' | tail -n 25 | cut -c1-400 | sed 's/^/#   /'
    diag_file "console $STATE_DIR/$pod/console.log" "$STATE_DIR/$pod/console.log"
    diag_file "/var/log/libvirt/qemu/cocoon-$pod.log" "/var/log/libvirt/qemu/cocoon-$pod.log" 10
}

# "124 (timed out)" and the like, for diagnostics.
rc_text() {
    case $1 in
        124) echo "124 (timed out)" ;;
        137) echo "137 (SIGKILL, or timed out and killed)" ;;
        *) echo "$1" ;;
    esac
}

# expect_file FILE EXPECTED: compares FILE's bytes with EXPECTED (printf %s); diag on mismatch.
expect_file() {
    if cmp -s "$1" <(printf '%s' "$2"); then
        return 0
    fi
    diag "expected output: $(printf '%s' "$2" | od -An -c | tr -s ' ' | head -c 200)" \
         "got:             $(od -An -c "$1" | tr -s ' ' | tr -d '\n' | head -c 200)"
    return 1
}

# --- nothing left behind ---

# Shims exit once containerd removed their last container; give them a moment.
e2e_wait_shims_gone() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ -z "$(e2e_containerd_shim_pids)" ] && break
        sleep 0.2
    done
}

e2e_left_domains() {
    virsh -q -c "$E2E_LIBVIRT_URI" list --all --name 2>/dev/null | grep "^cocoon-$1" || true
}

e2e_left_sockets() {
    local id s
    for id in "$@"; do
        s=$(e2e_containerd_shim_socket "$id")
        [ ! -e "$s" ] || echo "$s ($id)"
    done
}

e2e_after_domains() {
    local doms
    doms=$(e2e_left_domains "$1")
    tap "$([ -z "$doms" ]; echo $?)" "after: no domain cocoon-$1* left"
    [ -z "$doms" ] || diag "domains: $(echo "$doms" | tr '\n' ' ')"
}

e2e_after_shims() {
    local pids pid
    pids=$(e2e_containerd_shim_pids)
    tap "$([ -z "$pids" ]; echo $?)" "$1"
    for pid in $pids; do diag "pid $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"; done
}

e2e_after_sockets() {
    local socks
    mapfile -t socks < <(e2e_left_sockets "$@")
    tap "${#socks[@]}" "after: no shim socket of these containers left in /run/containerd/s"
    [ ${#socks[@]} = 0 ] || diag "${socks[@]}"
}

e2e_after_bundles() {
    local bundles
    bundles=$(ls -A "$E2E_CTD_STATE/io.containerd.runtime.v2.task/$E2E_CTD_NS" 2>/dev/null || true)
    tap "$([ -z "$bundles" ]; echo $?)" "after: no bundle left in the test containerd's state dir"
    [ -z "$bundles" ] || diag "bundles: $(echo "$bundles" | tr '\n' ' ')"
}

e2e_after_state() {
    local state
    state=$(ls -A "$STATE_DIR" 2>/dev/null || true)
    tap "$([ -z "$state" ]; echo $?)" "after: the shim's state_dir is empty"
    [ -z "$state" ] || diag "$(find "$STATE_DIR" -mindepth 1 | head -n 20)"
}

e2e_after_mounts() {
    local mounts
    mounts=$(awk -v d="$E2E_TMPDIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts)
    tap "$([ -z "$mounts" ]; echo $?)" "after: nothing mounted under the run's temp dir"
    [ -z "$mounts" ] || diag "$mounts"
}

# --- the exit trap ---

e2e_stop_bg() {
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
}

# e2e_run_cleanup [--keep] [--qemu-logs] [--ctd-warnings] RC PREFIX ID...: removes what the run
# made: tasks and containers, the domains cocoon-PREFIX*, containerd, the registry, the shim
# sockets of IDs, the domains' QEMU logs, mounts under E2E_TMPDIR and the dir itself, the daemons
# this run started, and any QEMU of the run that outlived libvirtd. When RC is not 0, --qemu-logs
# shows the QEMU logs' tails and --ctd-warnings containerd's warnings on stderr first (for a run
# whose checks do not show their own); --keep leaves E2E_TMPDIR when E2E_KEEP is set.
e2e_run_cleanup() {
    local keep=false qemu_logs=false ctd_warnings=false rc prefix id f
    while [ $# -gt 0 ]; do
        case "$1" in
            --keep) keep=true ;;
            --qemu-logs) qemu_logs=true ;;
            --ctd-warnings) ctd_warnings=true ;;
            *) break ;;
        esac
        shift
    done
    rc=$1 prefix=$2
    shift 2
    e2e_containerd_clean_ns >/dev/null 2>&1
    e2e_destroy_domains "cocoon-$prefix"
    e2e_containerd_stop
    e2e_registry_stop
    # A shim killed while libvirtd was creating its domain: the domain may have come up since
    # (AUTODESTROY ends it too, once libvirtd notices the connection is gone).
    e2e_destroy_domains "cocoon-$prefix"
    # A shim killed by e2e_containerd_stop leaves its socket.
    for id in "$@"; do
        rm -f "$(e2e_containerd_shim_socket "$id")"
    done
    # libvirt keeps each domain's QEMU log.
    for f in /var/log/libvirt/qemu/cocoon-"$prefix"*.log; do
        [ -e "$f" ] || continue
        if $qemu_logs && [ "$rc" != 0 ]; then
            echo "--- $f:" >&2
            tail -n 20 "$f" >&2
        fi
        rm -f "$f"
    done
    if $ctd_warnings && [ "$rc" != 0 ] && [ -s "${E2E_CTD_LOG:-}" ]; then
        echo "--- containerd log, warnings and errors:" >&2
        grep -E 'level=(warning|error|fatal)' "$E2E_CTD_LOG" | tail -n 20 | cut -c1-400 >&2
    fi
    if [ -n "${E2E_TMPDIR:-}" ]; then
        while read -r f; do
            umount -l "$f"
        done < <(awk -v d="$E2E_TMPDIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
        if $keep && [ -n "${E2E_KEEP:-}" ]; then
            e2e_log "E2E_KEEP: the run's files stay in $E2E_TMPDIR"
        else
            rm -rf "$E2E_TMPDIR"
        fi
    fi
    e2e_stop_daemons
    # libvirtd leaves QEMU running when it exits; none of this run's may outlive it.
    for f in /proc/[0-9]*; do
        case "$(tr '\0' ' ' 2>/dev/null <"$f/cmdline")" in
            *qemu-system*"guest=cocoon-$prefix"*)
                e2e_log "killing leftover QEMU pid ${f#/proc/}"
                kill -KILL "${f#/proc/}" 2>/dev/null ;;
        esac
    done
}
