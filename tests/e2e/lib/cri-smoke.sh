#!/bin/bash
# Smoke test of the CRI test infrastructure with runc (the default runtime, handler ""): a
# private containerd VERSION with CRI on, a pod on the private CNI bridge, busybox containers,
# ExecSync, the pod reached from the host, stop/remove, and nothing left afterwards. TAP output.
#
#   tests/e2e/lib/cri-smoke.sh 1.6|1.7|2.1      (as root; CRI_CACHE: downloads and images,
#                                               default /var/tmp/cocoon-cri-cache; CRI_KEEP=1
#                                               keeps the run's dir with containerd's log)

# shellcheck source-path=SCRIPTDIR
set -u
CTD_VERSION=${1:?usage: cri-smoke.sh 1.6|1.7|2.1}
LIB=$(cd "$(dirname "$0")" && pwd)
. "$LIB/tap.sh"
. "$LIB/cri-containerd.sh"

CRI_CACHE=${CRI_CACHE:-/var/tmp/cocoon-cri-cache}
E2E_CTD_LOG=/dev/null   # tap.sh's begin counts its lines; containerd's log once it runs
T0=$(date +%s%N)
T=$(mktemp -d /tmp/cocoon-cri-smoke.XXXXXX)
NETNS_BEFORE=$(ls /run/netns 2>/dev/null)
cleanup() {
    cri_containerd_stop
    [ "${CRI_KEEP:-0}" = 1 ] && { diag "kept $T"; return; }
    rm -rf --one-file-system "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fail DESCRIPTION: a failed check that makes the rest pointless: log tail, then out.
fail() {
    tap 1 "$1"
    diag_file "containerd log" "$CRI_CTD_LOG" 30
    echo "1..$N"
    exit 1
}

echo "# containerd $CTD_VERSION"
if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root"
    exit 0
fi
begin
if ! cri_install || ! cri_prepare "$CTD_VERSION" "$CRI_CACHE"; then
    fail "prepare containerd $CTD_VERSION, api.proto and images in $CRI_CACHE"
fi
pkg=$(debs_version "$CRI_CACHE/containerd-$CTD_VERSION/pkg") ||
    pkg="containerd $(dpkg-query -W -f '${Version}' containerd) (installed)"
tap 0 "prepare: $pkg, $(debs_version "$CRI_CACHE/cri-api")"

# Two extra runtimes, written the way cocoon's tests add theirs: a runc one that passes
# annotations through, and one of another type with a ConfigPath (only configured, never run).
annot=$(cri_runtime_table cocoon-cri-annot)
other=$(cri_runtime_table cocoon-cri-other)
EXTRA="[$annot]
  runtime_type = \"io.containerd.runc.v2\"
  pod_annotations = [\"cocoon.test/*\"]
  container_annotations = [\"cocoon.test/c-*\"]
[$other]
  runtime_type = \"io.containerd.cocoon-cri-none.v2\"
  pod_annotations = [\"io.katacontainers.*\"]
  container_annotations = [\"io.katacontainers.*\"]
[$other.options]
  ConfigPath = \"/nonexistent/cocoon-cri.toml\""

# The annotations of a task's OCI spec (its bundle's config.json), one key=value a line.
spec_annotations() {
    "$CRI_PYTHON" -c 'import json, sys
for k, v in sorted(json.load(open(sys.argv[1])).get("annotations", {}).items()):
    print(f"{k}={v}")' "$CRI_CTD_DIR/state/io.containerd.runtime.v2.task/k8s.io/$1/config.json"
}

begin
cri_containerd_start "$T/ctd" "$EXTRA" || fail "start containerd $CTD_VERSION with CRI"
# shellcheck disable=SC2034 # tap.sh reads it
E2E_CTD_LOG=$CRI_CTD_LOG
v=$(cri --field runtime_version version)
case "$v" in "$CTD_VERSION".* | "v$CTD_VERSION".*) st=0 ;; *) st=1 ;; esac
tap $st "containerd $v answers CRI on $CRI_ENDPOINT, pause and busybox imported"

begin
status=$(cri status)
cfg=$(cri --field info.config status)
[[ $status == *'"type": "RuntimeReady"'* ]] && [[ $status == *'"type": "NetworkReady"'* ]] &&
    ! grep -q '"status": false' <<<"$status" && [[ $cfg == *cocoon-cri-annot* ]] &&
    [[ $cfg == *'/nonexistent/cocoon-cri.toml'* ]]
tap $? "Status: RuntimeReady, NetworkReady; the extra runtimes (ConfigPath) in CRI's config"

mkdir -p "$T/logs" "$T/data"
echo "hello from cocoon-cri" > "$T/data/index.html"
cat > "$T/pod.json" <<EOF
{
  "metadata": {"name": "cocoon-cri-smoke", "namespace": "default", "uid": "cocoon-cri-smoke-$$"},
  "hostname": "cocoon-cri-smoke",
  "log_directory": "$T/logs",
  "dns_config": {"servers": ["$CRI_GATEWAY"], "searches": ["cocoon.test"], "options": ["ndots:2"]},
  "labels": {"app": "cocoon-cri-smoke"},
  "annotations": {"cocoon.test/smoke": "yes"},
  "linux": {
    "cgroup_parent": "$CRI_CGROUP_PARENT",
    "security_context": {"namespace_options": {"network": "POD", "pid": "CONTAINER", "ipc": "POD"}}
  }
}
EOF
cat > "$T/web.json" <<EOF
{
  "metadata": {"name": "web"},
  "image": {"image": "$CRI_BUSYBOX_IMAGE"},
  "command": ["/bin/sh", "-c"],
  "args": ["mkdir -p /www && cp /data/index.html /www/ && echo web-started && trap 'echo web-stopping; exit 0' TERM && { httpd -f -p 8080 -h /www & wait; }"],
  "envs": [{"key": "SMOKE", "value": "yes"}],
  "mounts": [{"container_path": "/data", "host_path": "$T/data", "readonly": true}],
  "log_path": "web.log",
  "labels": {"app": "cocoon-cri-smoke"}
}
EOF
cat > "$T/sleeper.json" <<EOF
{
  "metadata": {"name": "sleeper"},
  "image": {"image": "$CRI_BUSYBOX_IMAGE"},
  "command": ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
  "log_path": "sleeper.log"
}
EOF

begin
POD=$(cri runp "$T/pod.json") || fail "RunPodSandbox"
IP=$(cri --field network.ip inspectp "$POD")
state=$(cri --field state inspectp "$POD")
[ "$state" = SANDBOX_READY ] && [[ $IP == "${CRI_SUBNET%.0/24}".* ]]
tap $? "RunPodSandbox: ${POD:0:12} $state, IP $IP in $CRI_SUBNET"

begin
WEB=$(cri create "$POD" "$T/web.json" "$T/pod.json") || fail "CreateContainer web"
SLEEPER=$(cri create "$POD" "$T/sleeper.json" "$T/pod.json") || fail "CreateContainer sleeper"
tap 0 "CreateContainer: web ${WEB:0:12}, sleeper ${SLEEPER:0:12}"

begin
cri start "$WEB" || fail "StartContainer web"
cri start "$SLEEPER" || fail "StartContainer sleeper"
[ "$(cri --field state inspect "$WEB")" = CONTAINER_RUNNING ] &&
    [ "$(cri --field state inspect "$SLEEPER")" = CONTAINER_RUNNING ]
tap $? "StartContainer: both CONTAINER_RUNNING"

begin
out=$(cri exec-sync "$WEB" 10 -- echo hi)
tap $? "ExecSync echo hi: rc $? [$out]"
[ "$out" = hi ] || tap 1 "ExecSync echo hi printed [$out]"

begin
cri exec-sync "$WEB" 10 -- sh -c 'echo to-stderr >&2; exit 3' 2>"$T/err"
rc=$?
[ "$rc" = 3 ] && [ "$(cat "$T/err")" = to-stderr ]
tap $? "ExecSync sh -c 'exit 3': rc $rc, stderr [$(cat "$T/err")]"

begin
h=$(cri exec-sync "$WEB" 10 -- cat /etc/hostname)
r=$(cri exec-sync "$WEB" 10 -- cat /etc/resolv.conf | tr '\n' ' ')
# shellcheck disable=SC2016 # expanded in the container
e=$(cri exec-sync "$WEB" 10 -- sh -c 'echo $SMOKE')
[ "$h" = cocoon-cri-smoke ] && [[ $r == *"nameserver $CRI_GATEWAY"* ]] &&
    [[ $r == *"search cocoon.test"* ]] && [[ $r == *"options ndots:2"* ]] && [ "$e" = yes ]
tap $? "pod hostname [$h], resolv.conf [$r], env SMOKE=[$e]"

begin
d=$(cri exec-sync "$WEB" 10 -- cat /data/index.html)
cri exec-sync "$WEB" 10 -- touch /data/x 2>/dev/null
rc=$?
[ "$d" = "hello from cocoon-cri" ] && [ "$rc" != 0 ] && [ ! -e "$T/data/x" ]
tap $? "read-only host mount: read [$d], write rc $rc"

begin
for ((i = 0; i < 50; i++)); do
    busybox ping -c 1 -W 1 "$IP" >/dev/null 2>&1 && break
    sleep 0.1
done
busybox ping -c 1 -W 2 "$IP" >/dev/null 2>&1
tap $? "host pings the pod at $IP (via $CRI_BRIDGE)"

begin
for ((i = 0; i < 50; i++)); do
    page=$(curl -sS --noproxy '*' -m 2 "http://$IP:8080/index.html" 2>/dev/null) &&
        break
    sleep 0.1
done
[ "$page" = "hello from cocoon-cri" ]
tap $? "host fetches http://$IP:8080/ from busybox httpd (curl): [$page]"

begin
grep -q ' stdout F web-started$' "$T/logs/web.log" 2>/dev/null
tap $? "container log in the pod's log_directory (web.log has web-started)"

begin
sid=$(cri --field attributes.id stats "$WEB")
mem=$(cri --field memory.working_set_bytes.value stats "$WEB" 2>/dev/null)
[ "$sid" = "$WEB" ]
tap $? "ContainerStats: id ${sid:0:12}, working set ${mem:-?} bytes"

begin
cri stop "$WEB" 10
st=$(cri --field state inspect "$WEB")
ec=$(cri --field exit_code inspect "$WEB")
[ "$st" = CONTAINER_EXITED ] && [ "$ec" = 0 ] && [ $((($(date +%s%N) - CHECK_T0) / 1000000)) -lt 5000 ]
tap $? "StopContainer web (SIGTERM, timeout 10): $st, exit code $ec"

begin
cri stop "$SLEEPER" 1
st=$(cri --field state inspect "$SLEEPER")
ec=$(cri --field exit_code inspect "$SLEEPER")
reason=$(cri --field reason inspect "$SLEEPER")
[ "$st" = CONTAINER_EXITED ] && [ "$ec" = 137 ]
tap $? "StopContainer sleeper (ignores SIGTERM, timeout 1): $st, exit code $ec, reason $reason"

begin
cri rm "$WEB" && cri rm "$SLEEPER"
left=$(cri ps -a -q --pod "$POD")
[ -z "$left" ]
tap $? "RemoveContainer: none left in the pod [$left]"

begin
cri stopp "$POD"
st=$(cri --field state inspectp "$POD")
ns=$(awk -v d="$CRI_CTD_DIR/" 'index($2, d) == 1 && $3 == "nsfs"' /proc/self/mounts)
veth=$(cri_links | awk -v b="$CRI_BRIDGE" '$2 == b')
[ "$st" = SANDBOX_NOTREADY ] && [ -z "$ns" ] && [ -z "$veth" ]
tap $? "StopPodSandbox: $st, netns and veth gone [$ns$veth]"

begin
cri rmp "$POD"
left=$(cri pods -q)
[ -z "$left" ]
tap $? "RemovePodSandbox: no pods left [$left]"

begin
POD2=$(cri runp --runtime cocoon-cri-annot "$T/pod.json") &&
    C2=$(cri create "$POD2" '{"metadata": {"name": "c2"}, "image": {"image": "'"$CRI_BUSYBOX_IMAGE"'"},
        "command": ["sleep", "1000"],
        "annotations": {"cocoon.test/c-passed": "yes", "cocoon.test/dropped": "no"}}' "$T/pod.json") &&
    cri start "$C2"   # the bundle (config.json) is written when the task is created
pa=$(spec_annotations "$POD2" | tr '\n' ' ')
ca=$(spec_annotations "$C2" | tr '\n' ' ')
[[ $pa == *"cocoon.test/smoke=yes"* ]] && [[ $pa == *"io.kubernetes.cri.container-type=sandbox"* ]] &&
    [[ $pa == *"io.kubernetes.cri.sandbox-log-directory=$T/logs"* ]] &&
    [[ $ca == *"cocoon.test/c-passed=yes"* ]] && [[ $ca == *"cocoon.test/smoke=yes"* ]] &&
    [[ $ca != *dropped* ]] && [[ $ca == *"io.kubernetes.cri.sandbox-id=$POD2"* ]]
tap $? "runtime handler cocoon-cri-annot: pod_annotations and container_annotations pass through"
[ "$FAILED" = 0 ] || diag "sandbox: $pa" "container: $ca"

begin
cri stopp "$POD2" && cri rmp "$POD2" && [ -z "$(cri pods -q)" ] && [ -z "$(cri ps -a -q)" ]
tap $? "StopPodSandbox + RemovePodSandbox with a running container in it"

begin
cri_containerd_stop
left=$(cri_leftovers)
netns_now=$(ls /run/netns 2>/dev/null)
[ -z "$left" ] && [ "$netns_now" = "$NETNS_BEFORE" ]
tap $? "containerd stopped; nothing left (process, mount, netns, link, cgroup, dir)"
[ -z "$left" ] || diag "$left"

echo "1..$N"
diag "containerd $CTD_VERSION: $N checks in $((($(date +%s%N) - T0) / 1000000)) ms"
[ "$FAILED" = 0 ]
