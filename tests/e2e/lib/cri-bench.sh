# shellcheck shell=bash
# Sourced by the CRI benchmarks (tests/bench/run-cri-bench.sh, run-overhead.sh): the run they
# share, around the measurements: cocoon's runtimes (handler cocoon-dev, not --debug) in a private
# containerd with CRI (lib/cri-containerd.sh), the busybox image in a registry on the host's
# loopback for the guest to pull, and an exit trap that removes it all. Sources lib/daemons.sh,
# lib/registry.sh, lib/cocoon.sh and lib/cri-containerd.sh. Needs root.
#
#   . tests/e2e/lib/cri-bench.sh
#   cri_bench_begin TITLE SCRIPT ARG...   # usage, "TITLE: SKIP" (77) when not root, a session of
#                                         # its own (re-runs SCRIPT), then the ARGs' variables
#   cri_bench_tmpdir NAME                 # T (= E2E_TMPDIR, /tmp/cocoon-NAME-XXXXXX), OUT,
#                                         # COCOON_DIR, STATE_DIR; the exit trap
#   cri_bench_setup NAME                  # packages, daemons, registry, cocoon's configuration
#                                         # (drop-in NAME), containerd; IMAGE tagged in its store
#   cri_bench_cleanup                     # the exit trap (cri_bench_tmpdir sets it)
#
# The ARGs are VERSION SHIM VMLINUX INITRAMFS CONFIGS_DIR CACHE_DIR: they set WANT_VERSION, SHIM,
# VMLINUX, INITRAMFS, CONFIGS_DIR and CACHE_DIR (absolute). cri_bench_setup calls the script's
# `fail MESSAGE` (which exits) on the first step that fails. The script adds every pod it starts
# to PODS: the exit trap destroys their domains, should containerd have left them.

CRI_BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=daemons.sh
. "$CRI_BENCH_LIB/daemons.sh"
# shellcheck source-path=SCRIPTDIR source=registry.sh
. "$CRI_BENCH_LIB/registry.sh"
# shellcheck source-path=SCRIPTDIR source=cocoon.sh
. "$CRI_BENCH_LIB/cocoon.sh"
# shellcheck source-path=SCRIPTDIR source=cri-containerd.sh
. "$CRI_BENCH_LIB/cri-containerd.sh"

PODS=()     # pod ids, for the cleanup of their domains

cri_bench_begin() {
    local title=$1 script=$2
    shift 2
    if [ $# -ne 6 ]; then
        echo "usage: $0 VERSION SHIM VMLINUX INITRAMFS CONFIGS_DIR CACHE_DIR" >&2
        exit 2
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "$title: SKIP, needs root (containerd, libvirtd, QEMU)"
        exit 77
    fi
    # A session of its own (meson's SIGKILL must not cut the cleanup short), one e2e run at a time.
    e2e_own_session "$script" "$@"
    WANT_VERSION=$1
    SHIM=$(realpath -m "$2")
    VMLINUX=$(realpath -m "$3")
    INITRAMFS=$(realpath -m "$4")
    CONFIGS_DIR=$(realpath -m "$5")
    CACHE_DIR=$(realpath -m "$6")
}

cri_bench_tmpdir() {
    E2E_TMPDIR=$(mktemp -d "/tmp/cocoon-$1-XXXXXX")
    chmod 0755 "$E2E_TMPDIR" # QEMU (libvirt-qemu) binds sockets under state_dir
    T=$E2E_TMPDIR
    OUT=$T/out
    COCOON_DIR=$T/cocoon
    STATE_DIR=$T/s # short: QEMU binds <state_dir>/<64-char pod id>/agent.sock
    mkdir -p "$OUT"
    trap cri_bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

cri_bench_setup() {
    local snippet extra
    e2e_install_packages >&2
    e2e_registry_install >&2
    cri_install >&2 && cri_prepare "$WANT_VERSION" "$CACHE_DIR" >&2 ||
        fail "prepare containerd $WANT_VERSION, the CRI api and the images in $CACHE_DIR"
    e2e_start_daemons >&2 || fail "virtlogd and libvirtd start"
    e2e_registry_start "$T/registry" 5000 >&2 || fail "docker-registry starts"
    IMAGE=$E2E_REG_ADDR/busybox-local:latest
    mkdir -p "$T/oci" && tar -xf "$CRI_BUSYBOX_TAR" -C "$T/oci" &&
        e2e_registry_push "$T/oci:latest" busybox-local:latest >"$OUT/push" 2>&1 ||
        fail "push the busybox image to $E2E_REG_ADDR"
    # Not --debug: the shim's debug log would be part of what is measured.
    e2e_cocoon_config "$COCOON_DIR" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" "$STATE_DIR" "$1" ||
        fail "write cocoon's configuration in $COCOON_DIR"
    if cri_is_v2; then snippet=$CONFIGS_DIR/containerd2-cocoon.toml; else snippet=$CONFIGS_DIR/containerd-cocoon.toml; fi
    extra=$(sed "s|ConfigPath = \"/etc/cocoon/cocoon-dev.toml\"|ConfigPath = \"$COCOON_DIR/cocoon.toml\"|" "$snippet")
    cri_containerd_start "$T/ctd" "$extra" "$(dirname "$SHIM")" >&2 ||
        fail "containerd $WANT_VERSION starts with CRI and cocoon's runtimes"
    # The same image for both: runc runs it from containerd's store; for cocoon the CRI resolves
    # it there before the shim pulls it in the guest.
    cri_ctr 60 images tag "$CRI_BUSYBOX_IMAGE" "$IMAGE" >/dev/null || fail "tag the image as $IMAGE"
}

# shellcheck disable=SC2317 # run by the trap
cri_bench_cleanup() {
    local rc=$? pod
    set +e
    trap - INT TERM
    if [ "$rc" != 0 ] && [ -s "${CRI_CTD_LOG:-}" ]; then
        echo "--- containerd log, warnings and errors:" >&2
        grep -E 'level=(warning|error|fatal)' "$CRI_CTD_LOG" | tail -n 20 | cut -c1-400 >&2
    fi
    cri_containerd_stop >/dev/null 2>&1
    for pod in "${PODS[@]}"; do
        e2e_destroy_domains "cocoon-$pod"
        rm -f /var/log/libvirt/qemu/cocoon-"$pod".log
    done
    e2e_registry_stop
    e2e_stop_daemons
    rm -rf --one-file-system "$T"
    exit "$rc"
}
