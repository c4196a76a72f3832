#!/bin/bash
# The demo, as root on Debian 12: installs what is missing, builds cocoon and the test guest,
# starts virtlogd, libvirtd and a private containerd 1.6, and runs a busybox container through
# containerd-shim-cocoon-v2 in a QEMU VM (TCG here; the same path runs SNP or TDX guests with
# configs/cocoon-snp.toml or cocoon-tdx.toml). The pod carries CoCo init-data: the demo shows
# its digest as the guest computed it from the init-data disk, and where it goes on a TEE.
# Everything it started or created is stopped and removed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/deps.sh
install_deps "${COCOON_BUILD_DEPS[@]}"
. tests/e2e/lib/daemons.sh
. tests/e2e/lib/containerd.sh
. tests/e2e/lib/registry.sh
. tests/e2e/lib/cocoon.sh

if [ "$(id -u)" != 0 ]; then
    echo "demo: run as root (it starts libvirtd, containerd and VMs)" >&2
    exit 1
fi
e2e_install_packages
e2e_containerd_install
e2e_registry_install

[ -d build ] || meson setup build
meson compile -C build
echo "demo: building the test guest image (Debian's kernel + busybox + cocoon-test-agent)..."
meson compile -C build guest-image >/dev/null

LOCAL_IMAGE=docker.io/library/busybox-local:latest
ID=cocoon-demo-$$
COCOONCTL=$ROOT/build/cmd/cocoonctl
E2E_TMPDIR=$(mktemp -d /tmp/cocoon-demo-XXXXXX)
chmod 0755 "$E2E_TMPDIR" # QEMU (user libvirt-qemu) creates the agent socket below it
export E2E_TMPDIR
CFG_DIR=$E2E_TMPDIR/cocoon
STATE_DIR=$E2E_TMPDIR/state

cleanup() {
    set +e
    e2e_containerd_clean_ns >/dev/null 2>&1
    e2e_containerd_stop
    e2e_registry_stop
    e2e_destroy_domains "cocoon-$ID"
    rm -f "$(e2e_containerd_shim_socket "$ID")"
    rm -rf "$E2E_TMPDIR"
    e2e_stop_daemons
}
trap cleanup EXIT

e2e_start_daemons
e2e_containerd_start "$ROOT/build/cmd" # containerd finds containerd-shim-cocoon-v2 on its PATH
# The guest pulls the container's image itself (the host never mounts it): a registry on the
# host's loopback serves it, reached from the guest through QEMU user networking.
e2e_registry_start "$E2E_TMPDIR/registry" 5000 >/dev/null
IMAGE=$E2E_REG_ADDR/busybox-local:latest
python3 tests/e2e/lib/mkimage.py build/busybox-oci.tar --name "$LOCAL_IMAGE" >/dev/null
mkdir -p "$E2E_TMPDIR/oci"
tar -xf build/busybox-oci.tar -C "$E2E_TMPDIR/oci"
e2e_registry_push "$E2E_TMPDIR/oci:latest" busybox-local:latest
e2e_ctr 60 images pull --plain-http "$IMAGE" >/dev/null

# The development configuration, pointed at this build's guest image, with init-data allowed.
e2e_cocoon_config --annotations "$CFG_DIR" configs "$ROOT/build/tests/guest/vmlinux" \
    "$ROOT/build/tests/guest/initramfs.cpio.gz" "$STATE_DIR" demo

# CoCo init-data: what a verifier will check the guest against.
cat >"$E2E_TMPDIR/initdata.toml" <<'EOF'
version = "0.1.0"
algorithm = "sha256"

[data]
"aa.toml" = '''
[token_configs.kbs]
url = "http://kbs.example:8080"
'''
EOF
INITDATA=$("$COCOONCTL" initdata annotate "$E2E_TMPDIR/initdata.toml")
ANN=io.katacontainers.config.hypervisor.cc_init_data=$INITDATA

echo
echo "demo: ctr run --runtime io.containerd.cocoon.v2 $IMAGE $ID (the VM boots under TCG: ~10-30 s)"
e2e_ctr 180 run -d --fifo-dir "$E2E_TMPDIR/fifo" --runtime io.containerd.cocoon.v2 --runtime-config-path "$CFG_DIR/cocoon.toml" \
    --annotation "$ANN" --annotation "io.kubernetes.cri.image-name=$IMAGE" "$IMAGE" "$ID" sleep 600
echo "demo: the container's output:"
e2e_ctr 60 task exec --fifo-dir "$E2E_TMPDIR/fifo" --exec-id hello "$ID" sh -c \
    'echo "  Hello from a container in a cocoon VM"; echo "  guest kernel: $(uname -r)"; echo "  vCPUs: $(nproc)"'
echo "demo: ctr task ls:"
e2e_ctr 30 task ls | sed 's/^/  /'

# The guest agent read the init-data disk and printed the digest on the VM's console.
guest=
for _ in $(seq 1 50); do
    guest=$(sed -n 's/.*cocoon-test-agent: initdata algorithm=[a-z0-9]* digest=\([0-9a-f]*\).*/\1/p' \
        "$STATE_DIR/$ID/console.log" 2>/dev/null | tail -1)
    [ -n "$guest" ] && break
    sleep 0.2
done
echo
echo "demo: where the init-data digest went:"
"$COCOONCTL" initdata digest "$E2E_TMPDIR/initdata.toml" | sed 's/^/  /'
echo "  computed in the guest from the init-data disk (virtio-blk, serial initdata): ${guest:-(not found)}"
host=$("$COCOONCTL" initdata digest --json "$E2E_TMPDIR/initdata.toml" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
if [ "$guest" = "$host" ]; then
    echo "  the guest's digest equals the host's: the VM got exactly this init-data"
else
    echo "demo: the guest's init-data digest differs from the host's" >&2
    exit 1
fi
echo "  on SEV-SNP it is the launch's HOST_DATA; cocoonctl render --config configs/cocoon-snp.toml:"
"$COCOONCTL" render --config configs/cocoon-snp.toml --id "$ID" --annotation "$ANN" |
    grep -E "hostData|serial>initdata" | sed 's/^ */    /'
echo "  on TDX it is MRCONFIGID; cocoonctl render --config configs/cocoon-tdx.toml:"
"$COCOONCTL" render --config configs/cocoon-tdx.toml --id "$ID" --annotation "$ANN" |
    grep -E "mrConfigId" | sed 's/^ */    /'

e2e_ctr 30 task kill -s SIGKILL "$ID"
e2e_wait_status "$ID" STOPPED 10 || true
e2e_ctr 60 task delete "$ID" >/dev/null
e2e_ctr 30 containers delete "$ID"
echo
echo "demo: done; the VM, the shim and containerd are gone again."
