#!/bin/bash
# The confidential parts of the shim end to end, under a private containerd 1.6 with
# --runtime io.containerd.cocoon.v2 and the test guest in TCG VMs:
#   - guest pull: an image that only a registry on the host's loopback has (a layer with
#     /cocoon-marker holding a random token) is pulled by the guest agent (the registry sees
#     requests for Host 10.0.2.2:PORT), while the host's rootfs/ in the bundle stays an empty dir;
#     exec in that pod (no policy) works;
#   - init-data: the cc_init_data annotation reaches the guest as a read-only disk whose digest
#     the agent prints on the console, equal to `cocoonctl initdata digest`; on SNP the same
#     digest is the domain's <hostData> (`cocoonctl render` of configs/cocoon-snp.toml);
#   - bad init-data and hypervisor annotations that are not allowed fail the pod with a message
#     that names the problem, and no domain is left; so do a network namespace that does not
#     exist and one whose interface cannot be mirrored into the VM (no tap is left either);
#   - the agent policy annotation: the test agent refuses ExecProcess with PERMISSION_DENIED;
#   - nothing is left behind.
# TAP on stdout (one line per check, `# ` diagnostics with log excerpts on failure); the daemons'
# chatter goes to stderr. The exit trap removes what the run made: tasks, containers, this run's
# domains (cocoon-conf-<pid>-*), shims, containerd, the registry, the daemons it started, the
# temp dir.
#
#   run-confidential.sh SHIM VMLINUX INITRAMFS CONFIGS_DIR COCOONCTL [CACHE_DIR]
#
# CACHE_DIR keeps the busybox OCI tarball between runs (default: the temp dir). E2E_CTR_TIMEOUT
# bounds each ctr command that boots a VM (default 240 s); other ctr commands get 60 s. E2E_KEEP=1
# keeps the temp dir (containerd, registry and console logs) after the run. Two VMs boot: one for
# guest pull, one for init-data and the policy; the failing pods fail before a VM is created.
set -uo pipefail   # no -e: every check handles its own failure

if [ $# -lt 5 ] || [ $# -gt 6 ]; then
    echo "usage: $0 SHIM VMLINUX INITRAMFS CONFIGS_DIR COCOONCTL [CACHE_DIR]" >&2
    exit 2
fi
SHIM=$(realpath -m "$1")
VMLINUX=$(realpath -m "$2")
INITRAMFS=$(realpath -m "$3")
CONFIGS_DIR=$(realpath -m "$4")
COCOONCTL=$(realpath -m "$5")
CACHE_DIR=${6:-}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# ctr passes its stdin on to the container.
exec </dev/null
E2E_CTD_NS=cocoon-e2e-conf
# shellcheck source-path=SCRIPTDIR source=lib/ctr-run.sh
. "$HERE/lib/ctr-run.sh"
if [ "$(id -u)" = 0 ]; then
    # The checks run in a session of their own: meson's SIGKILL must not cut the cleanup short.
    e2e_own_session "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"
fi

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root (containerd, libvirtd, QEMU)"
    exit 0
fi

PLAN=24
RUNTIME=io.containerd.cocoon.v2
BASE_IMAGE=docker.io/library/busybox-local:latest
REPO=cocoon-e2e/marker
T_RUN=${E2E_CTR_TIMEOUT:-240}   # a ctr command that boots a VM: libvirt + TCG boot + agent dial
T_CMD=60
P=conf-$$-                      # container ids; the pods' domains are cocoon-$P*
IDS=()                          # every container id used (their shim sockets are checked)
BG=()                           # background ctr runs
T_START=$(date +%s)

ANN_HV=io.katacontainers.config.hypervisor
ANN_INITDATA=$ANN_HV.cc_init_data
ANN_POLICY=io.katacontainers.config.agent.policy
ANN_IMAGE=io.kubernetes.cri.image-name

NETNS=cocoon-e2e-conf-$$ # a network namespace of the run, for the refused pod
e2e_run_dirs e2e-conf
FW_DIR=$E2E_TMPDIR/cocoon-fw        # the same plus "firmware" in enable_annotations
FW_CFG=$FW_DIR/cocoon.toml
mkdir -p "$FW_DIR/config.d"

# shellcheck disable=SC2317 # run by the trap
cleanup() {
    local rc=$?
    set +e
    trap - INT TERM
    ip netns del "$NETNS" 2>/dev/null
    exec 7>&-
    e2e_stop_bg "$E2E_FG" "${BG[@]}"
    # libvirt's QEMU logs are shown when the run failed; E2E_KEEP keeps the run's files.
    e2e_run_cleanup --keep --qemu-logs "$rc" "$P" "${IDS[@]}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- TAP ---

# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
. "$HERE/lib/tap.sh"

# --- ctr and VM helpers ---

# ctr run through the shim: cocoon_run SECONDS [RUN OPTIONS] IMAGE ID ARGS... (CTR_RUN is set
# once containerd runs; the config is $COCOON_CFG unless RUN_CFG says otherwise.)
CTR_RUN=()
RUN_CFG=
cocoon_run() {
    local secs=$1
    shift
    timeout -k 5 "$secs" "${CTR_RUN[@]}" --runtime-config-path "${RUN_CFG:-$COCOON_CFG}" "$@"
}

domain_exists() {
    virsh -q -c "$E2E_LIBVIRT_URI" list --all --name 2>/dev/null | grep -qx "cocoon-$1"
}

# --- setup ---

e2e_install_packages >&2
command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] ||
    E2E_EXTRA_PACKAGES="busybox:busybox-static" e2e_install_packages >&2
e2e_containerd_install >&2
e2e_registry_install >&2
for prog in containerd ctr runc virsh python3 docker-registry skopeo curl ss gzip base64; do
    command -v "$prog" >/dev/null 2>&1 || { echo "Bail out! $prog is not installed"; exit 1; }
done
for f in "$SHIM" "$COCOONCTL" "$VMLINUX" "$INITRAMFS" "$CONFIGS_DIR/cocoon-dev.toml" \
         "$CONFIGS_DIR/cocoon-snp.toml"; do
    [ -e "$f" ] || { echo "Bail out! $f does not exist"; exit 1; }
done
e2e_run_start "$SHIM" || exit 1
REF=$E2E_REG_ADDR/$REPO:latest
GUEST_HOST=10.0.2.2:$E2E_REG_PORT   # the registry as the guest addresses it
TOKEN=cocoon-marker-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

CTR_RUN=(ctr --address "$E2E_CTD_ADDRESS" --namespace "$E2E_CTD_NS" run --fifo-dir "$FIFO_DIR"
         --runtime "$RUNTIME")

e2e_cocoon_config --debug --annotations "$COCOON_DIR" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" \
    "$STATE_DIR" e2e || { echo "Bail out! cocoon's configuration in $COCOON_DIR"; exit 1; }
cp "$COCOON_CFG" "$FW_CFG"
cp "$COCOON_DIR/config.d/50-e2e.toml" "$FW_DIR/config.d/"
cat >"$FW_DIR/config.d/60-firmware.toml" <<EOF
[hypervisor.libvirt]
enable_annotations = ["default_vcpus", "default_memory", "kernel_params", "cc_init_data", "firmware"]
EOF
chmod -R a+rX "$COCOON_DIR" "$FW_DIR"

# The init-data document: sha384, an aa.toml as Kata's guests read it, and a value of this run.
INITDATA=$E2E_TMPDIR/initdata.toml
cat >"$INITDATA" <<EOF
version = "0.1.0"
algorithm = "sha384"

[data]
"aa.toml" = '''
[token_configs]
[token_configs.coco_as]
url = "http://127.0.0.1:8080"

[token_configs.kbs]
url = "http://127.0.0.1:8080"
'''
"cocoon-e2e.run" = "$TOKEN"
EOF

# A policy in Kata's form; the test agent acts on the ExecProcessRequest default only.
POLICY=$(base64 -w0 <<'EOF'
package agent_policy

default CreateContainerRequest := true
default StartContainerRequest := true
default RemoveContainerRequest := true
default ReadStreamRequest := true
default WaitProcessRequest := true
default SignalProcessRequest := true
default ExecProcessRequest := false
EOF
)

echo "1..$PLAN"
diag "shim $SHIM, containerd $E2E_CTD_ADDRESS (log $E2E_CTD_LOG)" \
     "config $COCOON_CFG + config.d/50-e2e.toml, state_dir $STATE_DIR" \
     "registry $E2E_REG_ADDR (log $E2E_REG_LOG), image $REF, token $TOKEN"

# --- 1. guest pull ---

begin
st=1
tar=$CACHE_DIR/busybox-oci-confidential.tar
if ! python3 "$HERE/lib/mkimage.py" "$tar" --name "$BASE_IMAGE" >"$OUT/image" 2>&1; then
    diag "mkimage.py failed"
elif ! python3 "$HERE/lib/add-layer.py" "$tar" "$E2E_TMPDIR/oci-marker" --tag latest \
        --file "cocoon-marker=$TOKEN"$'\n' >>"$OUT/image" 2>&1; then
    diag "add-layer.py failed"
elif ! e2e_registry_push "$E2E_TMPDIR/oci-marker:latest" "$REPO:latest" >>"$OUT/image" 2>&1; then
    diag "skopeo copy to $E2E_REG_ADDR failed"
elif ! e2e_ctr "$T_CMD" images pull --plain-http "$REF" >>"$OUT/image" 2>&1; then
    diag "ctr images pull --plain-http $REF failed"
else
    st=0
fi
tap $st "guest pull: the registry on $E2E_REG_ADDR serves the marker image (skopeo push, ctr images pull --plain-http)"
[ $st = 0 ] || { diag_file "output" "$OUT/image"; diag_file "registry log" "$E2E_REG_LOG" 10; }
# The host's own pull came as Host 127.0.0.1:PORT; from here on, requests for 10.0.2.2 are the
# guest's.

# One pod for the rest of guest pull: `ctr run --rm ... sh -c 'cat /cocoon-marker && cat >/dev/null'`
# in the background, its stdin a FIFO this script holds open, so the container runs (and the
# checks below look at it) until the script closes its end; then it must exit 0 having printed
# the token.
begin
id=${P}pull
IDS+=("$id")
reg_mark=$(wc -l <"$E2E_REG_LOG")
mkfifo "$OUT/pull.stdin"
# Not through a function: $! must be the `timeout` itself, for cleanup's SIGTERM to reach ctr.
timeout -k 5 "$T_RUN" "${CTR_RUN[@]}" --runtime-config-path "$COCOON_CFG" --rm \
    --annotation "$ANN_IMAGE=$REF" "$REF" "$id" sh -c 'cat /cocoon-marker && cat >/dev/null' \
    <"$OUT/pull.stdin" >"$OUT/pull" 2>"$OUT/pull.err" &
pull_pid=$!
BG+=("$pull_pid")
exec 7>"$OUT/pull.stdin"
rootfs=$E2E_CTD_STATE/io.containerd.runtime.v2.task/$E2E_CTD_NS/$id/rootfs
st=1
pull_up=0
if e2e_wait_status "$id" RUNNING "$T_RUN" "$pull_pid"; then
    pull_up=1
    [ -d "$rootfs" ] && [ -z "$(ls -A "$rootfs")" ] && ! mountpoint -q "$rootfs" && st=0
fi
tap $st "guest pull: ctr run of the marker image: RUNNING while the bundle's rootfs/ is an empty dir and not a mount point"
if [ $st != 0 ]; then
    diag "task status '$(e2e_task_status "$id")'; ctr run $(e2e_pid_alive "$pull_pid" && echo runs || echo exited)"
    if [ $pull_up = 1 ]; then
        diag "rootfs $rootfs: $([ -d "$rootfs" ] && echo dir || echo 'not a dir')," \
             "$(mountpoint "$rootfs" 2>&1)," \
             "entries: $(find "$rootfs" -mindepth 1 -maxdepth 1 2>/dev/null | head -n 10 | tr '\n' ' ')"
    fi
    diag_file "ctr stderr" "$OUT/pull.err"
    diag_logs "$id"
fi

begin
man=$(e2e_registry_gets "$GUEST_HOST" "$REPO" manifests "$reg_mark")
blobs=$(e2e_registry_gets "$GUEST_HOST" "$REPO" blobs "$reg_mark")
host_gets=$(e2e_registry_gets "$E2E_REG_ADDR" "$REPO" blobs "$reg_mark")
st=1
# The image has two layers; the guest needs at least those (and perhaps the config).
[ $pull_up = 1 ] && [ "$man" -ge 1 ] && [ "$blobs" -ge 2 ] && [ "$host_gets" = 0 ] && st=0
tap $st "guest pull: the registry served the guest (Host $GUEST_HOST) the manifest and the layers after the container was created"
diag "registry, since ctr run: GETs for Host $GUEST_HOST: $man manifest(s), $blobs blob(s); for Host $E2E_REG_ADDR (the host): $host_gets blob(s)"
[ $st = 0 ] || diag_file "registry log" "$E2E_REG_LOG" 10

begin
e2e_ctr "$T_CMD" task exec --fifo-dir "$FIFO_DIR" --exec-id e1 "$id" cat /cocoon-marker \
    >"$OUT/pullexec" 2>"$OUT/pullexec.err"
rc=$?
st=1
[ $pull_up = 1 ] && [ $rc = 0 ] && expect_file "$OUT/pullexec" "$TOKEN"$'\n' && st=0
tap $st "guest pull: exec in the pod without a policy works and sees the pulled image (cat /cocoon-marker)"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/pullexec.err"; diag_logs "$id"; }

begin
exec 7>&-
wait "$pull_pid"
rc=$?
BG=()
st=1
[ $rc = 0 ] && expect_file "$OUT/pull" "$TOKEN"$'\n' && st=0
tap $st "guest pull: ctr run ... cat /cocoon-marker printed the image's token and exited 0 at the end of its stdin"
[ $st = 0 ] || { diag "ctr exit $(rc_text $rc)"; diag_file "ctr stderr" "$OUT/pull.err"; diag_logs "$id"; }
remove_containers "$id"

# --- 2. init-data and 4. the agent policy, on one pod ---

begin
id=${P}cc
IDS+=("$id")
st=1
cc_up=0
if ! "$COCOONCTL" initdata digest --json "$INITDATA" >"$OUT/digest.json" 2>"$OUT/digest.err" ||
        ! "$COCOONCTL" initdata annotate "$INITDATA" >"$OUT/annotation" 2>>"$OUT/digest.err"; then
    diag "cocoonctl initdata digest/annotate failed"
    diag_file "cocoonctl stderr" "$OUT/digest.err"
else
    ANNOTATION=$(cat "$OUT/annotation")
    cocoon_run "$T_RUN" -d --annotation "$ANN_IMAGE=$REF" --annotation "$ANN_INITDATA=$ANNOTATION" \
        --annotation "$ANN_POLICY=$POLICY" "$REF" "$id" sleep 600 >"$OUT/cc" 2>"$OUT/cc.err"
    rc=$?
    if [ $rc = 0 ] && e2e_wait_status "$id" RUNNING 10; then
        cc_up=1
        st=0
    fi
    [ $st = 0 ] || { diag "ctr exit $(rc_text $rc), task status '$(e2e_task_status "$id")'"; diag_file "ctr stderr" "$OUT/cc.err";
                     diag_logs "$id"; }
fi
tap $st "init-data + policy: run -d with cc_init_data (sha384) and agent.policy annotations: RUNNING"

begin
want_digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["digest"])' "$OUT/digest.json" 2>/dev/null)
console=$STATE_DIR/$id/console.log
got=
st=1
if [ $cc_up = 1 ]; then
    for ((i = 0; i < 150; i++)); do
        got=$(tr -d '\r' <"$console" 2>/dev/null |
              sed -n 's/.*cocoon-test-agent: initdata algorithm=\([a-z0-9]*\) digest=\([0-9a-f]*\).*/\1 \2/p' | head -n 1)
        [ -n "$got" ] && break
        sleep 0.2
    done
    [ -n "$want_digest" ] && [ "$got" = "sha384 $want_digest" ] && st=0
fi
tap $st "init-data: the guest agent's digest on the console equals cocoonctl initdata digest"
diag "cocoonctl initdata digest: sha384 ${want_digest:-?}" "guest console:             ${got:-(no initdata line)}"
[ $st = 0 ] || { diag_file "cocoonctl initdata digest --json" "$OUT/digest.json"; diag_logs "$id"; }

begin
st=1
disk=
if [ $cc_up = 1 ] && virsh -q -c "$E2E_LIBVIRT_URI" dumpxml "cocoon-$id" >"$OUT/domain.xml" 2>"$OUT/domain.err"; then
    # "ro|rw DEVICE PATH" of each disk whose serial is initdata.
    disk=$(python3 - "$OUT/domain.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
for d in root.findall("./devices/disk"):
    if (d.findtext("serial") or "").strip() == "initdata":
        src = d.find("source")
        path = src.get("file", "") if src is not None else ""
        print("ro" if d.find("readonly") is not None else "rw", d.get("device"), path)
EOF
)
    read -r d_ro d_dev d_path <<<"$disk"
    # One such disk, read-only, and its image starts with Kata's magic.
    [ "$(printf '%s\n' "$disk" | grep -c .)" = 1 ] && [ "$d_ro" = ro ] && [ "$d_dev" = disk ] &&
        [ "$(head -c 8 "${d_path:-/nonexistent}" 2>/dev/null)" = initdata ] && st=0
fi
tap $st "init-data: the live domain has one read-only disk with serial initdata (image magic \"initdata\")"
diag "initdata disk in the domain XML: ${disk:-none}"
[ $st = 0 ] || { diag_file "virsh stderr" "$OUT/domain.err"; grep -n -B3 -A8 initdata "$OUT/domain.xml" 2>/dev/null | head -n 20 | sed 's/^/#   /'; }

begin
st=1
want_hd=$(python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])[:32]).decode())' "$want_digest" 2>/dev/null)
got_hd=
if "$COCOONCTL" render --config "$CONFIGS_DIR/cocoon-snp.toml" --id "$id" \
        --annotation "$ANN_INITDATA=${ANNOTATION:-}" >"$OUT/render.xml" 2>"$OUT/render.err"; then
    got_hd=$(sed -n 's/.*<hostData>\([^<]*\)<\/hostData>.*/\1/p' "$OUT/render.xml" | head -n 1)
    [ -n "$want_hd" ] && [ "$got_hd" = "$want_hd" ] && st=0
fi
tap $st "init-data: on SNP the digest is the domain's <hostData> (cocoonctl render of cocoon-snp.toml)"
diag "SNP <hostData> the shim binds for this init-data: ${got_hd:-none} (base64 of digest[0:32]: ${want_hd:-?})"
[ $st = 0 ] || { diag_file "cocoonctl render stderr" "$OUT/render.err"; grep -n -A12 '<launchSecurity' "$OUT/render.xml" 2>/dev/null | sed 's/^/#   /'; }

begin
# An exec that fails to start is quick; 30 s is plenty.
e2e_ctr 30 task exec --fifo-dir "$FIFO_DIR" --exec-id e1 "$id" echo hi >"$OUT/policy" 2>"$OUT/policy.err"
rc=$?
st=1
[ $cc_up = 1 ] && [ $rc != 0 ] && [ $rc != 124 ] && [ $rc != 137 ] && ! grep -qx hi "$OUT/policy" &&
    grep -qF 'blocked by policy' "$OUT/policy.err" &&
    grep -qiE 'permission ?denied|permission_denied' "$OUT/policy.err" &&
    [ "$(e2e_task_status "$id")" = RUNNING ] && st=0
tap $st "policy: exec is refused with the agent's PERMISSION_DENIED \"blocked by policy\"; the container keeps running"
diag "ctr task exec exit $(rc_text $rc); its stderr: $(head -c 400 "$OUT/policy.err" | tr '\n' ' ')"
if [ $st != 0 ]; then
    diag "task status '$(e2e_task_status "$id")'"
    if grep -qF 'blocked by policy' "$OUT/policy.err" &&
            ! grep -qiE 'permission ?denied|permission_denied' "$OUT/policy.err"; then
        diag "containerd 1.6 turns a shim's gRPC PermissionDenied into \"unknown\" (errdefs.FromGRPC):" \
             "the code reaches ctr only when the shim's message names it"
    fi
    diag_file "ctr stdout" "$OUT/policy"
    diag_logs "$id"
fi
remove_containers "$id"

# --- 3. bad init-data and annotations that are not allowed: no VM ---

# bad_run NAME DESCRIPTION PATTERN... -- ANNOTATION...: ctr run must fail (not time out), its
# stderr must contain every PATTERN (fixed strings), and no domain for the id may exist.
bad_run() {
    local name=$1 desc=$2 id=${P}$1 rc st=1 pats=() anns=() p
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do pats+=("$1"); shift; done
    shift
    for p in "$@"; do anns+=(--annotation "$p"); done
    begin
    IDS+=("$id")
    cocoon_run "$T_RUN" --rm --annotation "$ANN_IMAGE=$REF" "${anns[@]}" "${RUN_ARGS[@]}" \
        "$REF" "$id" true >"$OUT/$name" 2>"$OUT/$name.err"
    rc=$?
    if [ $rc != 0 ] && [ $rc != 124 ] && [ $rc != 137 ] && ! domain_exists "$id"; then
        st=0
        for p in "${pats[@]}"; do
            grep -qF -- "$p" "$OUT/$name.err" || st=1
        done
    fi
    tap $st "$desc"
    diag "ctr run exit $(rc_text $rc); its stderr: $(tr '\n' ' ' <"$OUT/$name.err" | cut -c1-400)"
    if [ $st != 0 ]; then
        diag "wanted in ctr's stderr: ${pats[*]}"
        domain_exists "$id" && diag "domain cocoon-$id exists"
        diag_logs "$id"
    fi
    remove_containers "$id"
    RUN_CFG=
    RUN_ARGS=()
}
RUN_ARGS=() # more `ctr run` options for the next bad_run

bad_run badb64 "bad init-data: cc_init_data=not-base64! fails the pod naming init-data and base64; no domain" \
    init-data base64 -- "$ANN_INITDATA=not-base64!"

MD5=$(printf 'version = "0.1.0"\nalgorithm = "md5"\n\n[data]\n' | gzip -c | base64 -w0)
bad_run md5 "bad init-data: algorithm \"md5\" fails the pod naming init-data and md5; no domain" \
    init-data md5 -- "$ANN_INITDATA=$MD5"

FW=/tmp/cocoon-e2e-not-allowed.fd
bad_run fw "annotation $ANN_HV.firmware not in enable_annotations fails the pod naming it and enable_annotations" \
    "$ANN_HV.firmware" enable_annotations -- "$ANN_HV.firmware=$FW"

RUN_CFG=$FW_CFG
bad_run fwpath "firmware enabled, $FW matching no valid_firmware_paths glob fails the pod naming it and valid_firmware_paths" \
    "$ANN_HV.firmware" valid_firmware_paths -- "$ANN_HV.firmware=$FW"

# The pod's network namespace (docs/network.md): one that does not exist, and one whose only
# interface cannot be mirrored into the VM (a tun device has no Ethernet link layer).
RUN_ARGS=(--with-ns "network:/run/netns/$NETNS-none")
bad_run netnone "a network namespace path that does not exist fails the pod naming it; no domain" \
    "/run/netns/$NETNS-none" "No such file" --
if ip netns add "$NETNS" && ip -n "$NETNS" tuntap add tun0 mode tun &&
        ip -n "$NETNS" addr add 10.99.0.2/24 dev tun0 && ip -n "$NETNS" link set tun0 up; then
    RUN_ARGS=(--with-ns "network:/run/netns/$NETNS")
fi
bad_run nettun "a tun device in the pod's network namespace fails the pod naming it; no domain" \
    "interface tun0" "no Ethernet link layer" --
begin
links=$(ip -n "$NETNS" -o link show 2>/dev/null | awk -F': ' '{print $2}' | tr '\n' ' ')
taps=$(ip -o link show | awk -F': ' '$2 ~ /^cc[0-9]+-/ {print $2}' | tr '\n' ' ')
[ "$links" = "lo tun0 " ] && [ -z "$taps" ]
tap $? "after the refused pod: its namespace holds lo and tun0 only [$links], the host no tap [$taps]"

# --- 5. nothing left behind ---

begin
e2e_wait_shims_gone
for ((i = 0; i < 50; i++)); do
    virsh -q -c "$E2E_LIBVIRT_URI" list --all --name 2>/dev/null | grep -q "^cocoon-$P" || break
    sleep 0.2
done
e2e_after_domains "$P"
others=$(virsh -q -c "$E2E_LIBVIRT_URI" list --all --name 2>/dev/null | grep '^cocoon-' | grep -v "^cocoon-$P" || true)
[ -z "$others" ] || diag "(other runs' domains, not this test's: $(echo "$others" | tr '\n' ' '))"
e2e_after_shims "after: no containerd-shim-cocoon-v2 of this containerd left"
e2e_after_sockets "${IDS[@]}"
e2e_after_bundles
e2e_after_state

e2e_sanitizer_check

begin
reg_pid=$E2E_REG_PID
e2e_registry_stop >&2
st=1
[ -n "$reg_pid" ] && ! e2e_pid_alive "$reg_pid" && ! e2e_registry_port_busy "$E2E_REG_PORT" && st=0
tap $st "after: the registry is stopped (pid ${reg_pid:-?} gone, nothing listens on $E2E_REG_ADDR)"

diag "total $(($(date +%s) - T_START)) s"
if [ "$N" != "$PLAN" ]; then
    diag "ran $N checks, planned $PLAN"
    FAILED=1
fi
exit "$FAILED"
