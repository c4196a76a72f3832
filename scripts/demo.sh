#!/bin/bash
# The demo, as root on Debian 12: installs what is missing, builds cocoon and the test guest,
# starts virtlogd, libvirtd and a private containerd 1.6 with its CRI plugin and a CNI bridge,
# and creates a Kubernetes pod through CRI as the kubelet would (RunPodSandbox with handler
# cocoon-dev, CreateContainer, StartContainer). The pod runs in a QEMU VM (TCG here; the same
# path runs SNP or TDX guests with configs/cocoon-snp.toml or cocoon-tdx.toml), its busybox
# httpd answers on the pod IP, and its CoCo init-data digest is shown where the guest computed
# it and where it goes on a TEE. Everything it started or created is removed when it ends.
set -uo pipefail # no -e: the e2e libraries test and report; every step here checks itself
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
. scripts/deps.sh
install_deps "${COCOON_BUILD_DEPS[@]}"
. tests/e2e/lib/daemons.sh
. tests/e2e/lib/registry.sh
. tests/e2e/lib/cocoon.sh
. tests/e2e/lib/cri-containerd.sh

die() {
    echo "demo: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (it starts libvirtd, containerd and VMs)"
e2e_install_packages >/dev/null && e2e_registry_install >/dev/null && cri_install >/dev/null ||
    die "installing QEMU, libvirt, containerd, docker-registry or the CNI plugins failed"

{ [ -d build ] || meson setup build; } && meson compile -C build || die "the build failed"
echo "demo: building the test guest image (Debian's kernel + busybox + cocoon-test-agent)..."
meson compile -C build guest-image >/dev/null || die "the guest image does not build"
echo "demo: preparing containerd's CRI (the CRI api.proto from Debian's golang-k8s-cri-api-dev)..."
cri_prepare 1.6 build/tests/e2e/cri-cache >/dev/null 2>&1 || die "cri_prepare failed"

COCOONCTL=$ROOT/build/cmd/cocoonctl
T=$(mktemp -d /tmp/cocoon-demo-XXXXXX)
chmod 0755 "$T" # QEMU (user libvirt-qemu) creates the agent socket below it
STATE_DIR=$T/s  # short: QEMU binds <state_dir>/<64-character pod id>/agent.sock
POD=

cleanup() {
    set +e
    [ -z "$POD" ] || { cri stopp "$POD"; cri rmp "$POD"; } >/dev/null 2>&1
    cri_containerd_stop >/dev/null 2>&1
    e2e_registry_stop >/dev/null 2>&1
    [ -z "$POD" ] || e2e_destroy_domains "cocoon-$POD"
    rm -rf --one-file-system "$T"
    e2e_stop_daemons >/dev/null 2>&1
}
trap cleanup EXIT

e2e_start_daemons >/dev/null 2>&1 || die "virtlogd and libvirtd do not start"
# The guest pulls the container's image itself (the host never mounts it): a registry on the
# host's loopback serves it, reached from the guest through QEMU user networking.
e2e_registry_start "$T/registry" 5000 >/dev/null 2>&1 || die "docker-registry does not start"
IMAGE=$E2E_REG_ADDR/busybox-local:latest
mkdir -p "$T/oci" && tar -xf "$CRI_BUSYBOX_TAR" -C "$T/oci" &&
    e2e_registry_push "$T/oci:latest" busybox-local:latest >/dev/null 2>&1 ||
    die "pushing busybox to the registry failed"

# The development configuration, pointed at this build's guest image, with init-data allowed;
# containerd gets the documented runtime snippet, its ConfigPath pointed at it.
e2e_cocoon_config --annotations "$T/cocoon" configs "$ROOT/build/tests/guest/vmlinux" \
    "$ROOT/build/tests/guest/initramfs.cpio.gz" "$STATE_DIR" demo || die "cocoon's configuration"
RUNTIMES=$(sed "s|/etc/cocoon/cocoon-dev.toml|$T/cocoon/cocoon.toml|" configs/containerd-cocoon.toml)
cri_containerd_start "$T/containerd" "$RUNTIMES" "$ROOT/build/cmd" >/dev/null 2>&1 ||
    die "containerd does not start (log: $T/containerd/containerd.log)"
cri_ctr 60 images tag "$CRI_BUSYBOX_IMAGE" "$IMAGE" >/dev/null || die "tagging the image failed"

# CoCo init-data: what a verifier will check the guest against.
cat >"$T/initdata.toml" <<'EOF'
version = "0.1.0"
algorithm = "sha256"

[data]
"aa.toml" = '''
[token_configs.kbs]
url = "http://kbs.example:8080"
'''
EOF
INITDATA=$("$COCOONCTL" initdata annotate "$T/initdata.toml") || die "cocoonctl initdata annotate"
ANN=io.katacontainers.config.hypervisor.cc_init_data=$INITDATA
mkdir -p "$T/logs"
cat >"$T/pod.json" <<EOF
{"metadata": {"name": "cocoon-demo", "namespace": "default", "uid": "cocoon-demo-$$"},
 "hostname": "cocoon-demo", "log_directory": "$T/logs",
 "annotations": {"io.katacontainers.config.hypervisor.cc_init_data": "$INITDATA"},
 "linux": {"cgroup_parent": "$CRI_CGROUP_PARENT",
           "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}}}
EOF
cat >"$T/web.json" <<EOF
{"metadata": {"name": "web"}, "image": {"image": "$IMAGE"}, "log_path": "web.log",
 "command": ["/bin/sh", "-c", "mkdir -p /www && { echo 'Hello from a pod in a cocoon VM'; echo \"guest kernel: \$(uname -r), vCPUs: \$(nproc)\"; ip -o -4 addr show dev eth0 | awk '{print \"eth0 in the VM: \" \$4}'; } > /www/index.html && exec httpd -f -p 80 -h /www"],
 "linux": {"security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}}}
EOF

echo
echo "demo: RunPodSandbox (handler cocoon-dev), CreateContainer, StartContainer through containerd's CRI"
echo "      (the VM boots under TCG: ~5-30 s)"
POD=$(cri --timeout 240 runp --runtime cocoon-dev "$T/pod.json") || die "RunPodSandbox failed"
CTR=$(cri --timeout 240 create "$POD" "$T/web.json" "$T/pod.json") || die "CreateContainer failed"
cri --timeout 240 start "$CTR" || die "StartContainer failed"
IP=$(cri --field network.ip inspectp "$POD")
echo "demo: pod ${POD:0:12} is $(cri --field state inspectp "$POD"), VM cocoon-${POD:0:12}..., pod IP $IP (CNI bridge $CRI_BRIDGE)"
echo "demo: curl http://$IP/ from the host:"
page=
for _ in $(seq 1 50); do
    page=$(curl -s -m 5 "http://$IP/") && [ -n "$page" ] && break
    sleep 0.2
done
echo "$page" | sed 's/^/  /'
[ -n "$page" ] || die "the pod does not answer on $IP"

# The guest agent read the init-data disk and printed the digest on the VM's console.
guest=
for _ in $(seq 1 50); do
    guest=$(sed -n 's/.*cocoon-test-agent: initdata algorithm=[a-z0-9]* digest=\([0-9a-f]*\).*/\1/p' \
        "$STATE_DIR/$POD/console.log" 2>/dev/null | tail -1)
    [ -n "$guest" ] && break
    sleep 0.2
done
echo
echo "demo: where the pod's init-data digest went:"
"$COCOONCTL" initdata digest "$T/initdata.toml" | sed 's/^/  /'
echo "  computed in the guest from the init-data disk (virtio-blk, serial initdata): ${guest:-(not found)}"
host=$("$COCOONCTL" initdata digest --json "$T/initdata.toml" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
if [ "$guest" = "$host" ]; then
    echo "  the guest's digest equals the host's: the VM got exactly this init-data"
else
    die "the guest's init-data digest differs from the host's"
fi
echo "  on SEV-SNP it is the launch's HOST_DATA; cocoonctl render --config configs/cocoon-snp.toml:"
"$COCOONCTL" render --config configs/cocoon-snp.toml --id "$POD" --annotation "$ANN" |
    grep -E "hostData|serial>initdata" | sed 's/^ */    /'
echo "  on TDX it is MRCONFIGID; cocoonctl render --config configs/cocoon-tdx.toml:"
"$COCOONCTL" render --config configs/cocoon-tdx.toml --id "$POD" --annotation "$ANN" |
    grep -E "mrConfigId" | sed 's/^ */    /'

cri stop "$CTR" 5 >/dev/null
cri stopp "$POD" >/dev/null
cri rmp "$POD" >/dev/null
POD=
echo
echo "demo: done; the pod, its VM, the shim and containerd are gone again."
