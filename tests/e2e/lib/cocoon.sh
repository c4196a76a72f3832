# shellcheck shell=bash
# Sourced by the e2e scripts, the benchmark and the demo (after lib/daemons.sh): cocoon's
# configuration for a run, the development one pointed at the build tree's guest image.
#
#   . tests/e2e/lib/cocoon.sh
#   e2e_cocoon_config [--debug] [--annotations] DIR CONFIGS_DIR VMLINUX INITRAMFS STATE_DIR NAME
#
# Writes DIR/cocoon.toml (CONFIGS_DIR/cocoon-dev.toml) and the drop-in DIR/config.d/50-NAME.toml:
# libvirt at E2E_LIBVIRT_URI, the kernel and initrd, STATE_DIR as the state dir (made, 0755);
# QEMU user networking with the test guest's static address on it (its registry is on the host's
# loopback); --debug turns on the shim's debug log, --annotations allows the pod annotations the
# tests use (vCPUs, memory, kernel parameters, init-data). Everything is left readable to all:
# libvirt's QEMU user reads the kernel and initrd paths from there.
e2e_cocoon_config() {
    local debug=false annotations=
    while [ $# -gt 0 ]; do
        case "$1" in
            --debug) debug=true ;;
            --annotations)
                annotations='enable_annotations = ["default_vcpus", "default_memory", "kernel_params", "cc_init_data"]' ;;
            *) break ;;
        esac
        shift
    done
    local dir=$1 configs=$2 vmlinux=$3 initramfs=$4 state=$5 name=$6
    mkdir -p "$dir/config.d" "$state" && chmod 0755 "$state" || return 1
    cp "$configs/cocoon-dev.toml" "$dir/cocoon.toml" || return 1
    cat >"$dir/config.d/50-$name.toml" <<EOF || return 1
# Written for $name: the build tree's guest image and a state dir of this run.
[hypervisor.libvirt]
uri = "$E2E_LIBVIRT_URI"
kernel = "$vmlinux"
initrd = "$initramfs"
kernel_params = "console=ttyS0 panic=-1 quiet cocoon.net=static"
user_network = true
$annotations

[runtime]
debug = $debug
state_dir = "$state"
EOF
    chmod -R a+rX "$dir"
}
