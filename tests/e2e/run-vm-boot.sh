#!/bin/bash
# Driver of the vm-boot e2e test: starts virtlogd/libvirtd when needed, runs the vm-boot program
# (TAP on stdout), and always cleans up: leftover cocoon-e2e-* domains, its temp dirs, and the
# daemons it started.
#
#   run-vm-boot.sh VM_BOOT VMLINUX INITRAMFS
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 VM_BOOT VMLINUX INITRAMFS" >&2; exit 2; }
VM_BOOT=$1
VMLINUX=$2
INITRAMFS=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/daemons.sh
. "$HERE/lib/daemons.sh"

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root (libvirtd, QEMU)"
    exit 0
fi
# One e2e run at a time (lib/proc.sh), and a cleanup that meson's SIGKILL cannot cut short.
e2e_own_session "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"

# vm-boot makes its per-VM dirs (channel socket, console log) in here. QEMU runs as
# libvirt-qemu and must reach them: 0755.
E2E_TMPDIR=$(mktemp -d /tmp/cocoon-e2e-run-XXXXXX)
chmod 0755 "$E2E_TMPDIR"
export E2E_TMPDIR
CHILD=
cleanup() {
    local rc=$?
    set +e
    if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD"
        wait "$CHILD"
    fi
    # Only this run's domains (vm-boot's pid is in their names) are ours; libvirt keeps a log
    # of each (QEMU command line and stderr): shown when the test failed, then removed.
    if [ -n "$CHILD" ]; then
        e2e_destroy_domains "cocoon-e2e-$CHILD-"
        for f in /var/log/libvirt/qemu/cocoon-e2e-"$CHILD"-*.log; do
            [ -e "$f" ] || continue
            if [ "$rc" != 0 ]; then
                echo "--- $f:" >&2
                tail -n 20 "$f" >&2
            fi
            rm -f "$f"
        done
    fi
    rm -rf "$E2E_TMPDIR"
    e2e_stop_daemons
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Everything but TAP goes to stderr.
e2e_install_packages >&2
e2e_start_daemons >&2

"$VM_BOOT" "$VMLINUX" "$INITRAMFS" &
CHILD=$!
wait "$CHILD"
