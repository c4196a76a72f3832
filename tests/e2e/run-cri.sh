#!/bin/bash
# Kubernetes pods through cocoon, driven as the kubelet drives containerd's CRI v1 API
# (tests/e2e/lib/cri.py), on containerd 1.6, 1.7 or 2.1 (tests/e2e/lib/cri-containerd.sh: a private
# containerd with CRI on, a CNI bridge from Debian's plugins). containerd's cocoon runtimes are
# the documented node configuration (configs/containerd-cocoon.toml, or containerd2-cocoon.toml
# for 2.x) with ConfigPath pointing at this run's cocoon-dev configuration. Images are pulled in
# the guest from a registry on the host's loopback.
#
# Pod A (handler cocoon-dev; init-data with its policy inside in its annotation; shareProcessNamespace)
# runs two containers with what the kubelet gives every pod: a projected ServiceAccount volume,
# a ConfigMap (updated while the pod runs), an emptyDir shared by both, /dev/shm, a termination
# message file, a log file, busybox httpd. Pod B runs beside it in a VM of its own. Checks:
# ExecSync (output and exit code), the CRI log, ContainerStats, hostname, the volumes, the shared
# namespaces, the pod's network (the host reaches the pod IP by ping and HTTP, the guest's eth0
# has the namespace's MAC, addresses and routes, the container's traffic carries the pod IP, the
# pods reach each other), a pod on the host's network (no pod NIC), a pod whose shim is killed
# (containerd's `delete` removes its VM, tap and filters), StopContainer (graceful, and forced
# after the grace period), the termination message, the pods' removal, and nothing left behind
# (domains, shims, network namespaces, links, state).
#
#   run-cri.sh VERSION SHIM VMLINUX INITRAMFS CONFIGS_DIR COCOONCTL CACHE_DIR
#
# VERSION is 1.6, 1.7 or 2.1. CACHE_DIR keeps the downloaded containerd packages, the CRI
# api.proto and the images between runs. TAP on stdout; E2E_KEEP=1 keeps the run's files.
set -uo pipefail

{

if [ $# -ne 7 ]; then
    echo "usage: $0 VERSION SHIM VMLINUX INITRAMFS CONFIGS_DIR COCOONCTL CACHE_DIR" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
. "$HERE/lib/proc.sh"
exec </dev/null

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root (containerd, libvirtd, QEMU)"
    exit 0
fi

# The checks run in a session of their own: meson's SIGKILL must not cut the cleanup short.
e2e_own_session "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"

WANT_VERSION=$1
SHIM=$(realpath -m "$2")
VMLINUX=$(realpath -m "$3")
INITRAMFS=$(realpath -m "$4")
CONFIGS_DIR=$(realpath -m "$5")
COCOONCTL=$(realpath -m "$6")
CACHE_DIR=$(realpath -m "$7")

# shellcheck source-path=SCRIPTDIR source=lib/daemons.sh
. "$HERE/lib/daemons.sh"
# shellcheck source-path=SCRIPTDIR source=lib/containerd.sh
. "$HERE/lib/containerd.sh"
# shellcheck source-path=SCRIPTDIR source=lib/registry.sh
. "$HERE/lib/registry.sh"
# shellcheck source-path=SCRIPTDIR source=lib/cocoon.sh
. "$HERE/lib/cocoon.sh"
# shellcheck source-path=SCRIPTDIR source=lib/sanitizer.sh
. "$HERE/lib/sanitizer.sh"
# shellcheck source-path=SCRIPTDIR source=lib/cri-containerd.sh
. "$HERE/lib/cri-containerd.sh"
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
. "$HERE/lib/tap.sh"

HANDLER=cocoon-dev
T_POD=240   # RunPodSandbox boots a VM under TCG
T_CREATE=240 # CreateContainer pulls the image in the guest
T_EXEC=60
PODS=()     # pod ids, for the cleanup of their domains

E2E_TMPDIR=$(mktemp -d /tmp/cocoon-cri-XXXXXX)
chmod 0755 "$E2E_TMPDIR" # QEMU (libvirt-qemu) binds sockets under state_dir
T=$E2E_TMPDIR
OUT=$T/out
COCOON_DIR=$T/cocoon
COCOON_CFG=$COCOON_DIR/cocoon.toml
STATE_DIR=$T/s # short: QEMU binds <state_dir>/<64-char pod id>/agent.sock (108 bytes at most)
KUBELET=$T/kubelet                  # volumes laid out as the kubelet lays them out
mkdir -p "$OUT" "$COCOON_DIR/config.d" "$STATE_DIR" "$KUBELET/pods" "$T/logs-a" "$T/logs-b"
chmod 0755 "$STATE_DIR"
E2E_CTD_LOG=/dev/null # tap.sh's begin counts its lines; containerd's log once it runs
NETNS_BEFORE=$(ls /run/netns 2>/dev/null)

# shellcheck disable=SC2317 # run by the trap
cleanup() {
    local rc=$? pod f
    set +e
    trap - INT TERM
    cri_containerd_stop >/dev/null 2>&1
    for pod in "${PODS[@]}"; do
        e2e_destroy_domains "cocoon-$pod"
        rm -f /var/log/libvirt/qemu/cocoon-"$pod".log
    done
    e2e_registry_stop
    e2e_stop_daemons
    if [ -n "${E2E_KEEP:-}" ]; then
        e2e_log "E2E_KEEP: the run's files stay in $T"
    else
        rm -rf --one-file-system "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# containerd's warnings and errors (the shim's among them), for diagnostics.
diag_warnings() {
    grep -E 'level=(warning|error)' "${CRI_CTD_LOG:-/dev/null}" >"$OUT/warnings" 2>/dev/null
    diag_file "containerd log, warnings and errors" "$OUT/warnings" "${1:-20}"
}

# fail DESCRIPTION: a failed check that makes the rest pointless.
fail() {
    tap 1 "$1"
    diag_warnings 30
    echo "1..$N"
    exit 1
}

diag_pod() { # POD: the VM's console and containerd's warnings
    diag_file "console of $1" "$STATE_DIR/$1/console.log" 30
    diag_warnings
}

echo "# containerd $WANT_VERSION, shim $SHIM"

# --- setup ---

begin
e2e_install_packages >&2
e2e_registry_install >&2
if ! cri_install >&2 || ! cri_prepare "$WANT_VERSION" "$CACHE_DIR" >&2; then
    fail "prepare containerd $WANT_VERSION, the CRI api and the images in $CACHE_DIR"
fi
e2e_start_daemons >&2 || fail "virtlogd and libvirtd start"
e2e_registry_start "$T/registry" 5000 >&2 || fail "docker-registry starts"
IMAGE=$E2E_REG_ADDR/busybox-local:latest
mkdir -p "$T/oci" && tar -xf "$CRI_BUSYBOX_TAR" -C "$T/oci" &&
    e2e_registry_push "$T/oci:latest" busybox-local:latest >"$OUT/push" 2>&1 ||
    fail "push the busybox image to $E2E_REG_ADDR"

e2e_cocoon_config --debug --annotations "$COCOON_DIR" "$CONFIGS_DIR" "$VMLINUX" "$INITRAMFS" \
    "$STATE_DIR" e2e || fail "write cocoon's configuration in $COCOON_DIR"

# The node's documented containerd configuration for cocoon, with this run's cocoon-dev config.
if cri_is_v2; then snippet=$CONFIGS_DIR/containerd2-cocoon.toml; else snippet=$CONFIGS_DIR/containerd-cocoon.toml; fi
EXTRA=$(sed "s|ConfigPath = \"/etc/cocoon/cocoon-dev.toml\"|ConfigPath = \"$COCOON_CFG\"|" "$snippet")
grep -q "ConfigPath = \"$COCOON_CFG\"" <<<"$EXTRA" || fail "the runtime snippet $snippet names cocoon-dev's ConfigPath"
e2e_sanitizer_setup "$SHIM" "$T/sanitizer"
cri_containerd_start "$T/ctd" "$EXTRA" "$(dirname "$SHIM")" >&2 ||
    fail "containerd $WANT_VERSION starts with CRI and cocoon's runtimes"
E2E_CTD_LOG=$CRI_CTD_LOG
cri_ctr 60 images tag "$CRI_BUSYBOX_IMAGE" "$IMAGE" >/dev/null ||
    fail "tag the busybox image as $IMAGE in containerd"
tap 0 "setup: containerd $(cri --field runtime_version version) with $snippet, registry $E2E_REG_ADDR"

# --- pod A's files, as the kubelet makes them ---

UID_A=cocoon-a-$$
VOL=$KUBELET/pods/$UID_A/volumes
# atomic_write DIR KEY=VALUE...: the kubelet's atomic writer: a timestamped dir with the files,
# `..data` pointing at it (swapped by a rename), and one symlink per key.
atomic_write() {
    local dir=$1 ts kv
    shift
    ts=..$(date +%Y_%m_%d_%H_%M_%S).$RANDOM
    mkdir -p "$dir/$ts"
    for kv in "$@"; do
        printf '%s' "${kv#*=}" >"$dir/$ts/${kv%%=*}"
        ln -sfn "..data/${kv%%=*}" "$dir/${kv%%=*}"
    done
    ln -sfn "$ts" "$dir/..data_tmp"
    mv -T "$dir/..data_tmp" "$dir/..data"
}
SA=$VOL/kubernetes.io~projected/kube-api-access-cocoon
CFG=$VOL/kubernetes.io~configmap/cocoon-config
CACHE=$VOL/kubernetes.io~empty-dir/cache
TERMLOG=$KUBELET/pods/$UID_A/containers/app/termination-log
mkdir -p "$SA" "$CFG" "$CACHE" "$(dirname "$TERMLOG")"
TOKEN=token-$RANDOM$RANDOM
# Secrets no log may show: init-data content, the policy, a container's environment.
SECRET_INITDATA=initdata-secret-$RANDOM$RANDOM
SECRET_POLICY=policy-secret-$RANDOM$RANDOM
SECRET_ENV=env-secret-$RANDOM$RANDOM
atomic_write "$SA" "token=$TOKEN" "namespace=default" "ca.crt=-----BEGIN CERTIFICATE-----"
atomic_write "$CFG" "greeting=hello"
: >"$TERMLOG"
chmod 0666 "$TERMLOG"

# Init-data with the policy inside, as genpolicy now ships it (data."policy.rego"; the agent
# takes it from the init-data at its start), in the pod's annotation as a CoCo pod carries it.
cat >"$T/initdata.toml" <<EOF
version = "0.1.0"
algorithm = "sha256"

[data]
"cocoon-e2e.run" = "cri-$$"
"secret.txt" = "$SECRET_INITDATA"
"policy.rego" = '''
package agent_policy

default CreateContainerRequest := true
default ExecProcessRequest := true
default GetDiagnosticDataRequest := true
# $SECRET_POLICY
'''
EOF
INITDATA=$("$COCOONCTL" initdata annotate "$T/initdata.toml") || fail "cocoonctl initdata annotate"

cat >"$T/pod-a.json" <<EOF
{
  "metadata": {"name": "cocoon-a", "namespace": "default", "uid": "$UID_A"},
  "hostname": "cocoon-a",
  "log_directory": "$T/logs-a",
  "dns_config": {"servers": ["$CRI_GATEWAY"], "searches": ["cocoon.test"], "options": ["ndots:2"]},
  "annotations": {"io.katacontainers.config.hypervisor.cc_init_data": "$INITDATA"},
  "linux": {
    "cgroup_parent": "$CRI_CGROUP_PARENT",
    "security_context": {"namespace_options": {"network": "POD", "pid": "POD", "ipc": "POD"}}
  }
}
EOF
# app: says bye in its termination message on SIGTERM; peer ignores SIGTERM.
cat >"$T/app.json" <<EOF
{
  "metadata": {"name": "app"},
  "image": {"image": "$IMAGE"},
  "command": ["/bin/sh", "-c", "mkdir -p /tmp/www && echo hello-from-pod-a > /tmp/www/index.html && httpd -p 8080 -h /tmp/www && echo app-started; trap 'echo bye-from-app > /dev/termination-log; exit 0' TERM; while :; do sleep 1; done"],
  "mounts": [
    {"container_path": "/var/run/secrets/kubernetes.io/serviceaccount", "host_path": "$SA", "readonly": true},
    {"container_path": "/etc/config", "host_path": "$CFG", "readonly": true},
    {"container_path": "/cache", "host_path": "$CACHE"},
    {"container_path": "/dev/termination-log", "host_path": "$TERMLOG"}
  ],
  "annotations": {"io.kubernetes.container.terminationMessagePath": "/dev/termination-log",
                  "io.kubernetes.container.terminationMessagePolicy": "File"},
  "envs": [{"key": "COCOON_SECRET", "value": "$SECRET_ENV"}],
  "log_path": "app.log",
  "linux": {"security_context": {"namespace_options": {"network": "POD", "pid": "POD", "ipc": "POD"}}}
}
EOF
cat >"$T/peer.json" <<EOF
{
  "metadata": {"name": "peer"},
  "image": {"image": "$IMAGE"},
  "command": ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
  "mounts": [{"container_path": "/cache", "host_path": "$CACHE"}],
  "log_path": "peer.log",
  "linux": {"security_context": {"namespace_options": {"network": "POD", "pid": "POD", "ipc": "POD"}}}
}
EOF

# --- pod A ---

begin
POD_A=$(cri --timeout "$T_POD" runp --runtime "$HANDLER" "$T/pod-a.json") ||
    { diag_pod "${POD_A:-?}"; fail "RunPodSandbox (handler $HANDLER)"; }
PODS+=("$POD_A")
state=$(cri --field state inspectp "$POD_A")
ip=$(cri --field network.ip inspectp "$POD_A")
domains=$(virsh -q -c "$E2E_LIBVIRT_URI" list --name | grep -c "^cocoon-$POD_A$")
[ "$state" = SANDBOX_READY ] && [ "$domains" = 1 ] && [ -n "$ip" ]
st=$?
tap $st "RunPodSandbox: pod A ${POD_A:0:12} $state in VM cocoon-${POD_A:0:12}…, pod IP $ip"
[ $st = 0 ] || diag_pod "$POD_A"

begin
xml=$(virsh -q -c "$E2E_LIBVIRT_URI" dumpxml "cocoon-$POD_A" 2>&1)
grep -q "<serial>initdata</serial>" <<<"$xml" &&
    grep -q "cocoon-test-agent: initdata algorithm=sha256" "$STATE_DIR/$POD_A/console.log" &&
    grep -q "cocoon-test-agent: initdata: using policy from initdata" "$STATE_DIR/$POD_A/console.log"
tap $? "pod A's init-data reached the guest (initdata disk, the agent read it and took its policy)"

begin
APP=$(cri --timeout "$T_CREATE" create "$POD_A" "$T/app.json" "$T/pod-a.json") &&
    PEER=$(cri --timeout "$T_CREATE" create "$POD_A" "$T/peer.json" "$T/pod-a.json") &&
    cri start "$APP" && cri start "$PEER"
rc=$?
[ $rc = 0 ] && [ "$(cri --field state inspect "$APP")" = CONTAINER_RUNNING ] &&
    [ "$(cri --field state inspect "$PEER")" = CONTAINER_RUNNING ]
st=$?
tap $st "CreateContainer, StartContainer: app and peer RUNNING (images pulled in the guest)"
[ $st = 0 ] || { diag_pod "$POD_A"; fail "the pod's containers do not run"; }

ex() { cri --timeout "$T_EXEC" exec-sync "$1" "$T_EXEC" -- "${@:2}"; }

begin
out=$(ex "$APP" echo hello-exec)
ex "$APP" sh -c 'echo to-stderr >&2; exit 3' 2>"$OUT/err"
rc=$?
[ "$out" = hello-exec ] && [ "$rc" = 3 ] && [ "$(cat "$OUT/err")" = to-stderr ]
tap $? "ExecSync: output [$out]; exit code $rc with stderr [$(cat "$OUT/err")]"
ex "$APP" sh -c 'echo "$COCOON_SECRET"' >"$OUT/env" 2>&1

begin
for ((i = 0; i < 50; i++)); do
    grep -q ' stdout F app-started$' "$T/logs-a/app.log" 2>/dev/null && break
    sleep 0.2
done
grep -q ' stdout F app-started$' "$T/logs-a/app.log"
tap $? "the CRI log file: app.log in the pod's log directory has app-started"

begin
h=$(ex "$APP" hostname)
r=$(ex "$APP" cat /etc/resolv.conf | tr '\n' ' ')
[ "$h" = cocoon-a ] && [[ $r == *"nameserver $CRI_GATEWAY"* ]] && [[ $r == *"search cocoon.test"* ]]
tap $? "hostname [$h] and resolv.conf [$r] are the pod's"

begin
tok=$(ex "$APP" cat /var/run/secrets/kubernetes.io/serviceaccount/token)
link=$(ex "$APP" readlink /var/run/secrets/kubernetes.io/serviceaccount/token)
ns=$(ex "$APP" cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)
[ "$tok" = "$TOKEN" ] && [ "$link" = ..data/token ] && [ "$ns" = default ]
tap $? "projected ServiceAccount volume: token, namespace, the atomic-writer layout (token -> $link)"

begin
g=$(ex "$APP" cat /etc/config/greeting)
atomic_write "$CFG" "greeting=hello-again"
for ((i = 0; i < 40; i++)); do
    g2=$(ex "$APP" cat /etc/config/greeting)
    [ "$g2" = hello-again ] && break
    sleep 0.5
done
[ "$g" = hello ] && [ "$g2" = hello-again ]
tap $? "ConfigMap volume: [$g], and after the kubelet updates it [$g2]"

begin
ex "$APP" sh -c 'echo from-app > /cache/note && echo shm-from-app > /dev/shm/note' &&
    c=$(ex "$PEER" cat /cache/note) && s=$(ex "$PEER" cat /dev/shm/note)
[ "${c:-}" = from-app ] && [ "${s:-}" = shm-from-app ]
tap $? "emptyDir and /dev/shm shared by the pod's containers: [${c:-}] [${s:-}]"

begin
# shareProcessNamespace: the pause process is pid 1 and the peer's processes are visible.
one=$(ex "$APP" cat /proc/1/cmdline | tr '\0' ' ')
procs=$(ex "$APP" ps -o args | grep -c 'while :' || true)
[[ $one != "/bin/sh -c"* ]] && [ "$procs" -ge 2 ]
tap $? "shared pid namespace: pid 1 is [$one], $procs container loops visible"

begin
st=$(cri stats "$APP")
sid=$(cri --field attributes.id stats "$APP")
[ "$sid" = "$APP" ] && [[ $st == *memory* ]]
tap $? "ContainerStats: ${sid:0:12} has memory figures"

# --- the pod's network (docs/network.md) ---

# The pod's network namespace, as its sandbox's OCI spec names it.
netns_of() {
    cri inspectp -v "$1" | /usr/bin/python3 -c 'import json, sys
ns = json.load(sys.stdin)["info"]["info"]["runtimeSpec"]["linux"]["namespaces"]
print(next(n["path"] for n in ns if n["type"] == "network"))'
}
# "family address/prefix" of eth0's addresses, sorted; from `ip -o addr` (iproute2 or busybox).
addrs_of() { awk '$2 == "eth0" { print $3, $4 }' | sort | tr '\n' ' '; }
# eth0's routes as "destination [via gateway]", sorted.
routes_of() {
    awk '/ dev eth0/ { r = $1; for (i = 2; i < NF; i++) if ($i == "via") r = r " via " $(i + 1); print r }' |
        sort | tr '\n' ' '
}

begin
NETNS_A=$(netns_of "$POD_A")
TAP_A=cc0-${POD_A:0:10}
nslinks=$(nsenter --net="$NETNS_A" ip -o link show 2>&1 | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' ')
filters=$(nsenter --net="$NETNS_A" tc filter show dev eth0 ingress 2>&1)
busybox ping -c 3 -W 5 "$ip" >"$OUT/ping" 2>&1
pst=$?
page=$(curl -s -m 10 "http://$ip:8080/")
[ $pst = 0 ] && [ "$page" = hello-from-pod-a ] && [ "$nslinks" = "lo eth0 $TAP_A " ] &&
    [[ $filters == *"$TAP_A"* ]]
st=$?
tap $st "the host reaches pod A on its IP $ip: ping, and HTTP from busybox httpd [$page]"
[ $st = 0 ] || diag "links in $NETNS_A: $nslinks" "eth0's filters: $filters" "$(cat "$OUT/ping")"

begin
nsaddrs=$(nsenter --net="$NETNS_A" ip -o addr show dev eth0 | addrs_of)
gaddrs=$(ex "$APP" ip -o addr show dev eth0 | addrs_of)
nsroutes=$(nsenter --net="$NETNS_A" ip route show | routes_of)
groutes=$(ex "$APP" ip route show | routes_of)
mac_of() { awk '/link\/ether/ { print $2 }'; }
gmac=$(ex "$APP" ip link show dev eth0 | mac_of)
nsmac=$(nsenter --net="$NETNS_A" ip link show dev eth0 | mac_of)
[ -n "$nsaddrs" ] && [ "$gaddrs" = "$nsaddrs" ] && [ -n "$nsroutes" ] && [ "$groutes" = "$nsroutes" ] &&
    [ "$gmac" = "$nsmac" ]
st=$?
tap $st "the guest's eth0 is the namespace's: MAC $gmac, addresses [$gaddrs], routes [$groutes]"
[ $st = 0 ] || diag "namespace: MAC $nsmac, addresses [$nsaddrs], routes [$nsroutes]"

# The container's own traffic leaves through the pod's interface with the pod's address: a
# listener on the bridge's address records who connects.
begin
LISTEN_PORT=$((20000 + $$ % 10000))
/usr/bin/python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(60)
c, peer = s.accept(); c.sendall(b"seen\n"); c.close()
open(sys.argv[3], "w").write(peer[0])' "$CRI_GATEWAY" "$LISTEN_PORT" "$OUT/peer" &
LISTENER=$!
for ((i = 0; i < 50; i++)); do
    ss -ltn 2>/dev/null | grep -q ":$LISTEN_PORT " && break
    sleep 0.1
done
got=$(ex "$APP" sh -c "echo hello | nc -w 10 $CRI_GATEWAY $LISTEN_PORT" | tail -n 1)
wait "$LISTENER"
peer=$(cat "$OUT/peer" 2>/dev/null)
[ "$got" = seen ] && [ "$peer" = "$ip" ]
tap $? "the container's outgoing traffic carries the pod IP: the host saw $peer (pod IP $ip)"

begin
# Volumes that cannot reach the guest: a socket (no such file in the guest) and a tree over the
# copy limit (64 MiB by default). Each creation fails naming the mount; nothing else changes.
BAD=$VOL/kubernetes.io~host-path
mkdir -p "$BAD/sock" "$BAD/big"
/usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$BAD/sock/agent.sock"
truncate -s 65M "$BAD/big/blob"
bad_volume() { # NAME HOST_DIR: StartContainer (where CRI creates the task) fails; its error on
    local id rc # stdout; the container is removed
    cat >"$T/bad-$1.json" <<EOJ
{"metadata": {"name": "bad-$1"}, "image": {"image": "$IMAGE"}, "command": ["/bin/true"],
 "mounts": [{"container_path": "/mnt/$1", "host_path": "$2"}],
 "linux": {"security_context": {"namespace_options": {"network": "POD", "pid": "POD", "ipc": "POD"}}}}
EOJ
    id=$(cri --timeout "$T_CREATE" create "$POD_A" "$T/bad-$1.json" "$T/pod-a.json") || return 1
    # shellcheck disable=SC2069 # stderr to the output, stdout dropped: on purpose
    ! cri --timeout "$T_CREATE" start "$id" 2>&1 >/dev/null
    rc=$?
    cri rm "$id" >/dev/null || rc=1
    return $rc
}
e1=$(bad_volume sock "$BAD/sock") && e2=$(bad_volume big "$BAD/big") &&
    [[ $e1 == *"mount /mnt/sock: "*"agent.sock is a socket"* ]] &&
    [[ $e2 == *"mount /mnt/big: "*"copy_volume_limit_mib"* ]] &&
    [ "$(cri ps -a --pod "$POD_A" -q | wc -l)" = 2 ] &&
    [ "$(ex "$APP" echo still-here)" = still-here ]
st=$?
tap $st "volumes that cannot be copied fail their container, naming the mount; the pod runs on"
[ $st = 0 ] || diag "socket: ${e1:-created}" "over the limit: ${e2:-created}"

# --- pod B, beside A: what the kubelet asks without shareProcessNamespace (pid CONTAINER) ---

UID_B=cocoon-b-$$
cat >"$T/pod-b.json" <<EOF
{
  "metadata": {"name": "cocoon-b", "namespace": "default", "uid": "$UID_B"},
  "hostname": "cocoon-b",
  "log_directory": "$T/logs-b",
  "linux": {
    "cgroup_parent": "$CRI_CGROUP_PARENT",
    "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}
  }
}
EOF
cat >"$T/solo.json" <<EOF
{
  "metadata": {"name": "solo"},
  "image": {"image": "$IMAGE"},
  "command": ["/bin/sh", "-c", "while :; do sleep 1; done"],
  "log_path": "solo.log",
  "linux": {"security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}}
}
EOF

begin
POD_B=$(cri --timeout "$T_POD" runp --runtime "$HANDLER" "$T/pod-b.json") && PODS+=("$POD_B") &&
    SOLO=$(cri --timeout "$T_CREATE" create "$POD_B" "$T/solo.json" "$T/pod-b.json") &&
    cri start "$SOLO"
rc=$?
doms=$(virsh -q -c "$E2E_LIBVIRT_URI" list --name | grep -c -e "^cocoon-$POD_A$" -e "^cocoon-${POD_B:-x}$")
one=$(ex "${SOLO:-x}" cat /proc/1/cmdline | tr '\0' ' ')
hb=$(ex "${SOLO:-x}" hostname)
[ $rc = 0 ] && [ "$doms" = 2 ] && [[ $one == "/bin/sh -c"* ]] && [ "$hb" = cocoon-b ]
st=$?
tap $st "pod B runs beside A in a VM of its own ($doms domains); its own pid namespace (pid 1 [$one]), hostname [$hb]"
[ $st = 0 ] || diag_pod "${POD_B:-x}"

begin
ip_b=$(cri --field network.ip inspectp "${POD_B:-x}")
# (nc, not wget: the image's static busybox wget needs glibc's NSS, which the image lacks)
atob=$(ex "${SOLO:-x}" sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 10 $ip 8080" | tail -n 1)
btoa=$(ex "$APP" ping -c 2 -W 5 "$ip_b" >/dev/null && echo reached)
[ "$atob" = hello-from-pod-a ] && [ "$btoa" = reached ]
tap $? "pods on one bridge reach each other: B ($ip_b) fetched [$atob] from A, A pinged B [$btoa]"

# --- a pod on the host's network; a pod whose shim dies ---

begin
sed -e 's/"cocoon-b"/"cocoon-host"/g' -e "s/$UID_B/cocoon-host-$$/" -e 's/"network": "POD"/"network": "NODE"/' \
    -e "s|$T/logs-b|$T/logs-host|" "$T/pod-b.json" >"$T/pod-host.json"
mkdir -p "$T/logs-host"
POD_H=$(cri --timeout "$T_POD" runp --runtime "$HANDLER" "$T/pod-host.json") && PODS+=("$POD_H")
rc=$?
nics=$(virsh -q -c "$E2E_LIBVIRT_URI" dumpxml "cocoon-${POD_H:-x}" 2>/dev/null | grep -c "<interface type='ethernet'")
logged=$(grep -c "sandbox ${POD_H:-x}: no network namespace in its spec (the host's network)" "$CRI_CTD_LOG")
[ $rc = 0 ] && [ "$nics" = 0 ] && [ "$logged" -ge 1 ] && cri stopp "$POD_H" && cri rmp "$POD_H"
tap $? "a pod on the host's network gets no pod NIC ($nics), and the shim says so ($logged)"

begin
sed -e 's/"cocoon-b"/"cocoon-c"/g' -e "s/$UID_B/cocoon-c-$$/" -e "s|$T/logs-b|$T/logs-c|" \
    "$T/pod-b.json" >"$T/pod-c.json"
mkdir -p "$T/logs-c"
POD_C=$(cri --timeout "$T_POD" runp --runtime "$HANDLER" "$T/pod-c.json") && PODS+=("$POD_C")
NETNS_C=$(netns_of "${POD_C:-x}")
TAP_C=cc0-${POD_C:0:10}
before=$(nsenter --net="$NETNS_C" ip -o link show 2>&1 | grep -c "$TAP_C")
shim=
for p in $(e2e_pids_with "-id ${POD_C:-x} "); do
    grep -q containerd-shim-cocoon /proc/"$p"/cmdline 2>/dev/null && shim=$p
done
[ -n "$shim" ] && kill -KILL "$shim"
# containerd sees its shim gone and runs the shim's `delete` for the dead sandbox.
for ((i = 0; i < 100; i++)); do
    [ "$(cri --field state inspectp "${POD_C:-x}")" = SANDBOX_NOTREADY ] &&
        ! virsh -q -c "$E2E_LIBVIRT_URI" list --name | grep -q "^cocoon-${POD_C:-x}$" && break
    sleep 0.2
done
sleep 1
links=$(nsenter --net="$NETNS_C" ip -o link show 2>&1 | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' ')
qdiscs=$(nsenter --net="$NETNS_C" tc qdisc show dev eth0 2>&1 | grep -c ingress)
hosttap=$(ip -o link show | grep -c "$TAP_C")
dom=$(virsh -q -c "$E2E_LIBVIRT_URI" list --all --name | grep -c "^cocoon-${POD_C:-x}$")
[ "$before" = 1 ] && [ -n "$shim" ] && [ "$links" = "lo eth0 " ] && [ "$qdiscs" = 0 ] &&
    [ "$hosttap" = 0 ] && [ "$dom" = 0 ] && [ ! -e "$STATE_DIR/${POD_C:-x}" ]
st=$?
tap $st "pod C's shim killed: delete removed its VM, its tap and eth0's ingress qdisc (links [$links])"
[ $st = 0 ] || diag "tap before: $before, shim pid ${shim:-none}, ingress qdiscs $qdiscs, host taps $hosttap, domains $dom"
cri stopp "${POD_C:-x}" >/dev/null && cri rmp "${POD_C:-x}" >/dev/null

# --- stopping ---

begin
t0=$(date +%s%N)
cri stop "$APP" 10
ms=$((($(date +%s%N) - t0) / 1000000))
st=$(cri --field state inspect "$APP")
ec=$(cri --field exit_code inspect "$APP")
msg=$(cat "$TERMLOG")
[ "$st" = CONTAINER_EXITED ] && [ "$ec" = 0 ] && [ "$ms" -lt 8000 ] && [ "$msg" = bye-from-app ]
tap $? "StopContainer app (SIGTERM, timeout 10): $st, exit code $ec in $ms ms; termination message [$msg]"

begin
t0=$(date +%s%N)
cri stop "$PEER" 2
ms=$((($(date +%s%N) - t0) / 1000000))
st=$(cri --field state inspect "$PEER")
ec=$(cri --field exit_code inspect "$PEER")
[ "$st" = CONTAINER_EXITED ] && [ "$ec" = 137 ] && [ "$ms" -ge 1500 ]
tap $? "StopContainer peer (ignores SIGTERM, timeout 2): $st, exit code $ec after $ms ms"

begin
cri rm "$APP" && cri rm "$PEER" && cri stopp "$POD_A" && cri rmp "$POD_A"
rc=$?
sleep 1
gone=$(virsh -q -c "$E2E_LIBVIRT_URI" list --all --name | grep -c "^cocoon-$POD_A$")
[ $rc = 0 ] && [ "$gone" = 0 ] && [ ! -e "$STATE_DIR/$POD_A" ]
tap $? "RemoveContainer, StopPodSandbox, RemovePodSandbox: pod A's VM and state are gone"

begin
cri stopp "$POD_B" && cri rmp "$POD_B" && [ -z "$(cri pods -q)" ] && [ -z "$(cri ps -a -q)" ]
tap $? "StopPodSandbox, RemovePodSandbox of pod B with its container running"

begin
sleep 1
# This run's pods only: a domain of another run on the machine is not this run's to judge.
mine=()
for p in "${PODS[@]}" "${POD_A:-x}"; do mine+=(-e "^cocoon-$p$"); done
doms=$(virsh -q -c "$E2E_LIBVIRT_URI" list --all --name | grep -c "${mine[@]}")
shims=$(e2e_pids_with "-address $CRI_CTD_ADDRESS" | wc -l)
state=$(ls -A "$STATE_DIR")
[ "$doms" = 0 ] && [ "$shims" = 0 ] && [ -z "$state" ]
tap $? "nothing left of the pods: $doms domains, $shims shims, state dir [$state]"
[ "$doms" = 0 ] || diag "domains: $(virsh -q -c "$E2E_LIBVIRT_URI" list --all --name | tr '\n' ' ')"

begin
cri_containerd_stop >&2
left=$(cri_leftovers)
[ -z "$left" ] && [ "$(ls /run/netns 2>/dev/null)" = "$NETNS_BEFORE" ]
tap $? "containerd stopped: no network namespace, link, mount or process left"
[ -z "$left" ] || diag "$left"

e2e_sanitizer_check

begin
# The shim logs at debug level in this run; containerd's log holds the shims' too. QEMU's logs
# (libvirt's, one per domain) show its command line.
# containerd's CRI itself, at debug level, dumps each CreateContainer request and the OCI spec
# it made (its lines "Container config &ContainerConfig{..." and "Container \"<id>\" spec:"),
# environment included: containerd's doing, gone at its default level; those two are left out.
logs=("$CRI_CTD_LOG" /var/log/libvirt/qemu/cocoon-*.log)
secrets=(-e "$SECRET_INITDATA" -e "$SECRET_POLICY" -e "$SECRET_ENV")
own_dumps='msg="Container config &ContainerConfig|msg="Container \\"[0-9a-f]{64}\\" spec: '
leaked() { grep -n "${secrets[@]}" "${logs[@]}" 2>/dev/null | grep -v -E "$own_dumps"; }
leaks=$(leaked | grep -c .)
envok=$(grep -c "$SECRET_ENV" "$OUT/env" 2>/dev/null)
[ "$leaks" = 0 ] && [ "${envok:-0}" -ge 1 ]
tap $? "no init-data content, policy or environment value in the shim's, containerd's or QEMU's log ($leaks lines; the container saw its environment: $envok)"
[ "$leaks" = 0 ] || diag "$(leaked | cut -c1-300 | head -5)"

echo "1..$N"
[ "$FAILED" = 0 ]
exit

}
