# shellcheck shell=bash
# Sourced by the e2e scripts: a PRIVATE containerd (1.6, 1.7 or 2.1) with its CRI plugin on, driven
# the way the kubelet drives it (tests/e2e/lib/cri.py). Its root, state, temp and socket dirs are
# under a dir of the run, its pods sit on a CNI bridge of their own (Debian's
# containernetworking-plugins: bridge + host-local) on a private /24, and its sandbox image is a
# local busybox "pause" (no network: images are imported with ctr into namespace k8s.io).
# Standalone: it needs nothing but tests/e2e/lib/debs.sh and proc.sh, which it sources. Needs root.
#
#   . tests/e2e/lib/cri-containerd.sh
#   cri_install                          # apt-get install what is missing (runc, CNI, curl,
#                                        # busybox-static, python3-grpcio, python3-grpc-tools)
#   cri_prepare 1.6|1.7|2.1 CACHE        # binaries, api.proto + its Python code, pause and
#                                        # busybox images, all cached in CACHE
#   cri_runtime_table NAME               # TOML table of runtime NAME in this version's layout
#   cri_containerd_start DIR [EXTRA_TOML] [SHIM_DIR]   # containerd, network, images imported
#   cri runp pod.json                    # tests/e2e/lib/cri.py against it
#   cri_ctr SECONDS images ls            # ctr against it, namespace k8s.io, under `timeout`
#   cri_import TAR REF                   # another OCI tarball into k8s.io, waits until CRI has it
#   cri_containerd_stop                  # pods removed, daemon stopped, everything cleaned; call
#                                        # it also when start failed (a trap on EXIT); twice is fine
#   cri_leftovers                        # what is left of the run, one line each; nothing if clean
#
# The sandbox image is CRI_PAUSE_IMAGE (tests/e2e/lib/mkpause.py: busybox sh that sleeps until
# SIGTERM/SIGINT), set as plugins."io.containerd.grpc.v1.cri".sandbox_image (1.6/1.7) or
# [plugins.'io.containerd.cri.v1.images'.pinned_images] sandbox (2.x). The cgroup driver is
# cgroupfs (SystemdCgroup = false; the machines have cgroup v1 hybrid and no systemd), NRI and CDI
# are off, the opt plugin and image verifier dirs are under DIR, the streaming server listens on
# 127.0.0.1 on a random port.
#
# EXTRA_TOML is appended to the config: extra runtimes for the test, written with the table name
# of this version's layout, e.g.
#   t=$(cri_runtime_table cocoon-dev)
#   cri_containerd_start "$dir" "[$t]
#   runtime_type = \"io.containerd.cocoon.v2\"
#   pod_annotations = [\"io.katacontainers.*\"]
#   container_annotations = [\"io.katacontainers.*\"]
#   [$t.options]
#   ConfigPath = \"/etc/cocoon/cocoon.toml\""
# 1.6/1.7 (config version 2): plugins."io.containerd.grpc.v1.cri".containerd.runtimes.NAME;
# 2.x (config version 3):     plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.NAME.
# SHIM_DIR goes first in containerd's PATH (so `io.containerd.NAME.v2` finds its shim there).
#
# After cri_prepare: CRI_CTD_VERSION, CRI_CTD_BINDIR (containerd, ctr, containerd-shim-runc-v2),
# CRI_PROTO and CRI_GEN_DIR (for cri.py), CRI_PAUSE_IMAGE / CRI_PAUSE_TAR, CRI_BUSYBOX_IMAGE /
# CRI_BUSYBOX_TAR.
# After cri_containerd_start: CRI_CTD_DIR, CRI_CTD_ADDRESS, CRI_ENDPOINT (unix://...),
# CRI_CTD_LOG (containerd's and the shims' stderr, debug level), CRI_CTD_PID, CRI_BRIDGE
# (cocoon-criN), CRI_SUBNET (10.213.N.0/24), CRI_GATEWAY (10.213.N.1, the bridge's address, so
# the host reaches the pods), CRI_CNI_NAME, CRI_CGROUP_PARENT (/cocoon-cri-N: put it in pod
# configs as linux.cgroup_parent, stop removes it).
#
# The network: N is the first index whose bridge cocoon-criN does not exist and whose 10.213.N/24
# is unused here; the bridge is created (and so claimed) by start, with the gateway address on it,
# so the bridge plugin runs with isGateway=false and changes no sysctl (no ip_forward), and the
# pods get no default route and no masquerading: they reach only their subnet. The host-local
# IPAM state is under DIR. Network namespaces are mounted under the state dir
# (netns_mounts_under_state_dir), not /var/run/netns. libcni still caches results in
# /var/lib/cni/results/cocoon-cri-N-*; stop removes those.
#
# restrict_oom_score_adj is on: the test machines run root without CAP_SYS_RESOURCE, so no
# process may lower its oom_score_adj, and runc fails on the sandbox's -998 ("can't get final
# child's PID from pipe: EOF"; runc --debug: "failed to update /proc/self/oom_score_adj:
# Permission denied"). Restricted, CRI clamps every score to containerd's own (0) and above.

CRI_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib/debs.sh
. "$CRI_LIB_DIR/debs.sh"
# shellcheck source=tests/e2e/lib/proc.sh
. "$CRI_LIB_DIR/proc.sh"

CRI_PYTHON=/usr/bin/python3       # Debian's: python3-grpcio is not in other pythons' path
CRI_SUBNET_PREFIX=${CRI_SUBNET_PREFIX:-10.213}
CRI_NS=k8s.io

CRI_CTD_VERSION=
CRI_CTD_BINDIR=
CRI_PAUSE_IMAGE=localhost/cocoon-cri-pause:1
CRI_BUSYBOX_IMAGE=docker.io/library/busybox-local:latest
CRI_PAUSE_TAR=
CRI_BUSYBOX_TAR=
CRI_CTD_DIR=
CRI_CTD_ADDRESS=
CRI_ENDPOINT=
CRI_CTD_LOG=
CRI_CTD_PID=
CRI_BRIDGE=
CRI_SUBNET=
CRI_GATEWAY=
CRI_CNI_NAME=
CRI_CGROUP_PARENT=
CRI_RUN_DIRS_BEFORE=      # cri_shared_dirs before start
CRI_LINKS_BEFORE=         # "name master" of each network link before start
export CRI_PROTO=${CRI_PROTO:-} CRI_GEN_DIR=${CRI_GEN_DIR:-} CRI_ENDPOINT

cri_log() { echo "cri: $*" >&2; }

cri_install() {
    debs_install_missing containerd:containerd ctr:containerd runc:runc \
        /usr/lib/cni/bridge:containernetworking-plugins /bin/busybox:busybox-static \
        ip:iproute2 curl:curl /usr/bin/python3:python3 \
        /usr/lib/python3/dist-packages/grpc/__init__.py:python3-grpcio \
        /usr/lib/python3/dist-packages/grpc_tools/protoc.py:python3-grpc-tools
}

# cri_prepare VERSION CACHE: what a run of containerd VERSION needs, fetched or built once into
# CACHE (binaries of 1.7/2.1 from trixie/unstable, the CRI api.proto and its Python code, the
# busybox and pause images).
cri_prepare() {
    local version=$1 cache=$2 dir
    [ -n "$cache" ] || { cri_log "cri_prepare: no cache dir"; return 1; }
    mkdir -p "$cache/images" || return 1
    cache=$(cd "$cache" && pwd)
    dir=$(debs_containerd "$version" "$cache") || return 1
    CRI_CTD_VERSION=$version
    CRI_CTD_BINDIR=$dir/bin
    CRI_PROTO=$(debs_cri_api "$cache") || return 1
    CRI_GEN_DIR=$cache/cri-py
    "$CRI_PYTHON" "$CRI_LIB_DIR/cri.py" gen >/dev/null || return 1
    CRI_BUSYBOX_TAR=$cache/images/busybox.tar
    CRI_PAUSE_TAR=$cache/images/cocoon-cri-pause.tar
    "$CRI_PYTHON" "$CRI_LIB_DIR/mkimage.py" "$CRI_BUSYBOX_TAR" --name "$CRI_BUSYBOX_IMAGE" || return 1
    "$CRI_PYTHON" "$CRI_LIB_DIR/mkpause.py" "$CRI_BUSYBOX_TAR" "$CRI_PAUSE_TAR" \
        --name "$CRI_PAUSE_IMAGE" || return 1
}

# True for containerd 2.x (config version 3, the CRI plugin split in three).
cri_is_v2() {
    case "$CRI_CTD_VERSION" in 1.*) return 1 ;; *) return 0 ;; esac
}

# The TOML table of runtime NAME in this version's CRI config.
cri_runtime_table() {
    if cri_is_v2; then
        echo "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.$1"
    else
        echo "plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.$1"
    fi
}

# cri.py against the private containerd: cri ARGS...
cri() {
    CRI_ENDPOINT=$CRI_ENDPOINT "$CRI_PYTHON" "$CRI_LIB_DIR/cri.py" "$@"
}

# ctr against the private containerd in namespace k8s.io: cri_ctr SECONDS ARGS...
cri_ctr() {
    local secs=$1
    shift
    timeout -k 5 "$secs" "$CRI_CTD_BINDIR/ctr" --address "$CRI_CTD_ADDRESS" --namespace "$CRI_NS" "$@"
}

# cri_containerd_config FILE [EXTRA_TOML]: containerd's config for this run (needs CRI_CTD_DIR,
# CRI_CTD_ADDRESS and the CNI conf dir).
cri_containerd_config() {
    local file=$1 extra=${2:-} d=$CRI_CTD_DIR
    if cri_is_v2; then
        cat > "$file" <<EOF
version = 3
root = '$d/root'
state = '$d/state'
temp = '$d/tmp'

[grpc]
  address = '$CRI_CTD_ADDRESS'

[ttrpc]
  address = '$CRI_CTD_ADDRESS.ttrpc'

[debug]
  address = ''
  level = 'debug'

[plugins.'io.containerd.internal.v1.opt']
  path = '$d/opt'

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = '$d/image-verifier'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$CRI_PAUSE_IMAGE'

[plugins.'io.containerd.cri.v1.runtime']
  enable_cdi = false
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true

[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = 'runc'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = false

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ['/usr/lib/cni']
  conf_dir = '$d/cni/net.d'
  max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

EOF
    else
        cat > "$file" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
temp = "$d/tmp"

[grpc]
  address = "$CRI_CTD_ADDRESS"

[ttrpc]
  address = "$CRI_CTD_ADDRESS.ttrpc"

[debug]
  address = ""
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$CRI_PAUSE_IMAGE"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$d/cni/net.d"
  max_conf_num = 1

EOF
    fi
    [ -z "$extra" ] || printf '# extra, from the test\n%s\n' "$extra" >> "$file"
}

# Picks and claims the network of this run: creates bridge cocoon-criN with CRI_GATEWAY on it
# and writes the conflist.
cri_network_setup() {
    local n conf=$CRI_CTD_DIR/cni/net.d
    CRI_BRIDGE=
    for ((n = 0; n < 64; n++)); do
        ip -4 -o addr show 2>/dev/null | grep -q " $CRI_SUBNET_PREFIX\.$n\." && continue
        [ -z "$(ip -4 route show "$CRI_SUBNET_PREFIX.$n.0/24" 2>/dev/null)" ] || continue
        ip link add "cocoon-cri$n" type bridge 2>/dev/null || continue
        CRI_BRIDGE=cocoon-cri$n
        break
    done
    if [ -z "$CRI_BRIDGE" ]; then
        cri_log "no free bridge name cocoon-criN / subnet $CRI_SUBNET_PREFIX.N.0/24 (N < 64)"
        return 1
    fi
    CRI_SUBNET=$CRI_SUBNET_PREFIX.$n.0/24
    CRI_GATEWAY=$CRI_SUBNET_PREFIX.$n.1
    CRI_CNI_NAME=cocoon-cri-$n
    CRI_CGROUP_PARENT=/cocoon-cri-$n
    ip addr add "$CRI_GATEWAY/24" dev "$CRI_BRIDGE" && ip link set "$CRI_BRIDGE" up || return 1
    mkdir -p "$conf" "$CRI_CTD_DIR/cni/ipam" || return 1
    cat > "$conf/10-$CRI_CNI_NAME.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CRI_CNI_NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CRI_BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$CRI_SUBNET", "gateway": "$CRI_GATEWAY"}]],
        "dataDir": "$CRI_CTD_DIR/cni/ipam"
      }
    }
  ]
}
EOF
}

# "name master" of each network link ("-" for none).
cri_links() {
    ip -o link show 2>/dev/null | awk -F': ' '{
        name = $2; sub(/@.*/, "", name)
        master = "-"; if (match($0, / master [^ ]+/)) master = substr($0, RSTART + 8, RLENGTH - 8)
        print name, master }'
}

# Dirs that runs may create outside CRI_CTD_DIR (stop removes the new ones when empty): runc's
# and the shims' under /run/containerd, libcni's cache, and the cgroup /k8s.io that runc makes
# for pods without a linux.cgroup_parent (cgroupsPath /k8s.io/ID).
cri_shared_dirs() {
    {
        find /run/containerd /var/lib/cni -maxdepth 3 -type d 2>/dev/null
        for d in /sys/fs/cgroup/*/"$CRI_NS" /sys/fs/cgroup/"$CRI_NS"; do
            [ -d "$d" ] && echo "$d"
        done
    } | sort
}

# cri_import TAR REF: imports an OCI tarball into k8s.io and waits until CRI lists REF.
cri_import() {
    local tar=$1 ref=$2 i
    cri_ctr 120 images import "$tar" >/dev/null || { cri_log "ctr images import $tar failed"; return 1; }
    for ((i = 0; i < 50; i++)); do
        cri --timeout 5 image-status "$ref" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cri_log "CRI does not see $ref after importing $tar"
    return 1
}

# cri_containerd_start DIR [EXTRA_TOML] [SHIM_DIR]: DIR must not hold a running containerd;
# it is made if missing. Returns non-zero (with the log's tail) when containerd's CRI does not
# answer within 30 s.
cri_containerd_start() {
    local dir=$1 extra=${2:-} shim_dir=${3:-} i bg path
    if [ -z "$CRI_CTD_BINDIR" ]; then
        cri_log "cri_containerd_start: run cri_prepare first"
        return 1
    fi
    if [ -n "$CRI_CTD_PID" ]; then
        cri_log "cri_containerd_start: containerd (pid $CRI_CTD_PID) already started"
        return 1
    fi
    mkdir -p "$dir" || return 1
    CRI_CTD_DIR=$(cd "$dir" && pwd)
    CRI_CTD_ADDRESS=$CRI_CTD_DIR/containerd.sock
    CRI_ENDPOINT=unix://$CRI_CTD_ADDRESS
    CRI_CTD_LOG=$CRI_CTD_DIR/containerd.log
    CRI_RUN_DIRS_BEFORE=$(cri_shared_dirs)
    CRI_LINKS_BEFORE=$(cri_links)
    mkdir -p "$CRI_CTD_DIR/tmp" || return 1
    cri_network_setup || return 1
    cri_containerd_config "$CRI_CTD_DIR/config.toml" "$extra" || return 1

    path=$CRI_CTD_BINDIR:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    [ -z "$shim_dir" ] || path=$shim_dir:$path
    # Its own session, so a ^C in the test's terminal reaches it only through stop; the PID is
    # looked up by the config path (setsid forks when it leads a process group).
    PATH=$path setsid "$CRI_CTD_BINDIR/containerd" --config "$CRI_CTD_DIR/config.toml" \
        --log-level debug </dev/null >"$CRI_CTD_LOG" 2>&1 &
    bg=$!
    for ((i = 0; i < 300; i++)); do
        [ -n "$CRI_CTD_PID" ] ||
            CRI_CTD_PID=$(e2e_pids_with "containerd --config $CRI_CTD_DIR/config.toml " | head -n 1)
        if [ -n "$CRI_CTD_PID" ] && [ -S "$CRI_CTD_ADDRESS" ] &&
                cri --timeout 2 version >/dev/null 2>&1; then
            break
        fi
        if { [ -n "$CRI_CTD_PID" ] && ! e2e_pid_alive "$CRI_CTD_PID"; } ||
                { [ -z "$CRI_CTD_PID" ] && [ "$i" -ge 10 ] && ! e2e_pid_alive "$bg"; }; then
            cri_log "containerd exited at start; its log ends:"
            tail -n 20 "$CRI_CTD_LOG" >&2
            CRI_CTD_PID=
            return 1
        fi
        sleep 0.1
    done
    if [ "$i" -ge 300 ]; then
        cri_log "containerd's CRI does not answer on $CRI_CTD_ADDRESS after 30 s; its log ends:"
        tail -n 20 "$CRI_CTD_LOG" >&2
        return 1
    fi
    cri_log "started containerd $CRI_CTD_VERSION (pid $CRI_CTD_PID, $CRI_CTD_ADDRESS," \
        "bridge $CRI_BRIDGE $CRI_SUBNET)"
    cri_import "$CRI_PAUSE_TAR" "$CRI_PAUSE_IMAGE" &&
        cri_import "$CRI_BUSYBOX_TAR" "$CRI_BUSYBOX_IMAGE"
}

# Stops and removes every pod (and so its containers, netns and IP) through CRI, then kills and
# deletes what ctr still lists in k8s.io.
cri_remove_all() {
    local id
    for id in $(cri --timeout 10 pods -q 2>/dev/null); do
        cri_log "removing pod $id"
        cri --timeout 30 stopp "$id" >/dev/null || true
        cri --timeout 30 rmp "$id" >/dev/null || true
    done
    while read -r id _; do
        [ -n "$id" ] || continue
        cri_log "killing leftover task $id"
        cri_ctr 30 task kill -a -s SIGKILL "$id" >/dev/null 2>&1
        cri_ctr 60 task delete -f "$id" >/dev/null 2>&1
    done < <(cri_ctr 30 task ls -q 2>/dev/null)
    while read -r id; do
        [ -n "$id" ] || continue
        cri_ctr 60 containers delete "$id" >/dev/null 2>&1
    done < <(cri_ctr 30 containers ls -q 2>/dev/null)
}

# Every mount point under CRI_CTD_DIR, deepest first.
cri_mounts() {
    [ -n "$CRI_CTD_DIR" ] || return 0
    awk -v d="$CRI_CTD_DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r
}

# runc containers of this run (runc's state names a bundle under CRI_CTD_DIR).
cri_runc_ids() {
    local f
    [ -n "$CRI_CTD_DIR" ] || return 0
    for f in /run/containerd/runc/"$CRI_NS"/*/state.json; do
        [ -f "$f" ] && grep -qF "\"$CRI_CTD_DIR/" "$f" && basename "$(dirname "$f")"
    done
    return 0
}

# IDs of the sandboxes this run's CRI made (its sandbox dirs, and our network's CNI cache files).
cri_sandbox_ids() {
    local f
    for f in "$CRI_CTD_DIR"/root/io.containerd.grpc.v1.cri/sandboxes/* \
            "$CRI_CTD_DIR"/state/io.containerd.grpc.v1.cri/sandboxes/* \
            /var/lib/cni/results/"$CRI_CNI_NAME"-*; do
        [ -e "$f" ] || continue
        f=${f##*/}
        f=${f#"$CRI_CNI_NAME"-}
        echo "${f%%-*}"
    done | sort -u
}

# Removes everything: pods, containerd (SIGTERM, SIGKILL after 10 s), its shims and containers,
# mounts, netns, veths and the bridge, CNI cache files, the cgroup parent, its root, state and
# temp dirs (config.toml and containerd.log stay), and the shared dirs it created. Twice is fine.
cri_containerd_stop() {
    local pid m id l d cmd ns sock ids
    if [ -n "$CRI_CTD_PID" ] && e2e_pid_alive "$CRI_CTD_PID"; then
        cri_remove_all
        e2e_stop_pid containerd "$CRI_CTD_PID"
    fi
    CRI_CTD_PID=
    if [ -n "$CRI_CTD_ADDRESS" ]; then
        # Shims outlive containerd by design; ours must not outlive the test. A killed shim
        # leaves its sockets: /run/containerd/s/hex(sha256(ADDRESS/NS/ID[/debug])).
        for pid in $(e2e_pids_with "-address $CRI_CTD_ADDRESS "); do
            cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
            cri_log "killing leftover shim pid $pid: $cmd"
            kill -KILL "$pid" 2>/dev/null
            ns=$(awk '{ for (i = 1; i < NF; i++) if ($i == "-namespace") print $(i + 1) }' <<<"$cmd")
            id=$(awk '{ for (i = 1; i < NF; i++) if ($i == "-id") print $(i + 1) }' <<<"$cmd")
            for sock in "$CRI_CTD_ADDRESS/$ns/$id" "$CRI_CTD_ADDRESS/$ns/$id/debug"; do
                sock=/run/containerd/s/$(printf '%s' "$sock" | sha256sum | cut -d' ' -f1)
                [ -S "$sock" ] && rm -f "$sock"
            done
        done
    fi
    for id in $(cri_runc_ids); do
        cri_log "deleting leftover runc container $id"
        runc --root "/run/containerd/runc/$CRI_NS" delete -f "$id" >/dev/null 2>&1
    done
    while read -r m; do
        [ -n "$m" ] || continue
        cri_log "unmounting leftover $m"
        umount -l "$m" 2>/dev/null
    done < <(cri_mounts)
    if [ -n "$CRI_BRIDGE" ]; then
        while read -r l; do
            [ -n "$l" ] || continue
            cri_log "deleting leftover link $l"
            ip link del "$l" 2>/dev/null
        done < <(cri_links | awk -v b="$CRI_BRIDGE" '$2 == b { print $1 }')
        ip link del "$CRI_BRIDGE" 2>/dev/null
    fi
    # libcni's cache: NETWORK-SANDBOXID-IFNAME for our network and for the loopback.
    if [ -n "$CRI_CNI_NAME" ]; then
        ids=$(cri_sandbox_ids)
        rm -f /var/lib/cni/results/"$CRI_CNI_NAME"-*
        for id in $ids; do
            rm -f "/var/lib/cni/results/cni-loopback-$id-lo"
        done
    fi
    if [ -n "$CRI_CGROUP_PARENT" ]; then
        for d in /sys/fs/cgroup/*"$CRI_CGROUP_PARENT" /sys/fs/cgroup"$CRI_CGROUP_PARENT"; do
            [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
    fi
    if [ -n "$CRI_CTD_DIR" ] && [ -d "$CRI_CTD_DIR" ]; then
        for d in root state tmp opt image-verifier cni; do
            [ -e "$CRI_CTD_DIR/$d" ] && rm -rf --one-file-system "${CRI_CTD_DIR:?}/$d"
        done
        rm -f "$CRI_CTD_ADDRESS" "$CRI_CTD_ADDRESS.ttrpc"
    fi
    # Deepest first; only the empty ones go, and only those that were not there before.
    while read -r d; do
        grep -qxF "$d" <<<"$CRI_RUN_DIRS_BEFORE" || rmdir "$d" 2>/dev/null
    done < <(cri_shared_dirs | sort -r)
    return 0
}

# Prints what is left of the run, one line each; nothing when clean. Call after stop.
cri_leftovers() {
    local pid m d l
    if [ -n "$CRI_CTD_ADDRESS" ]; then
        for pid in $(e2e_pids_with "$CRI_CTD_ADDRESS"); do
            echo "process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        done
    fi
    for pid in $(cri_runc_ids); do echo "runc container $pid"; done
    while read -r m; do [ -z "$m" ] || echo "mount $m"; done < <(cri_mounts)
    [ -n "$CRI_CTD_DIR" ] && find "$CRI_CTD_DIR" -mindepth 1 -maxdepth 1 \
        ! -name config.toml ! -name containerd.log -printf 'file %p\n' 2>/dev/null
    # The bridge, links on it, and new veths on no bridge (those of other runs sit on theirs).
    if [ -n "$CRI_BRIDGE" ]; then
        cri_links | while read -r l m; do
            if [ "$l" = "$CRI_BRIDGE" ] || [ "$m" = "$CRI_BRIDGE" ] ||
                    { [ "$m" = - ] && [[ $l == veth* ]] &&
                      ! grep -q "^$l " <<<"$CRI_LINKS_BEFORE"; }; then
                echo "link $l (master $m)"
            fi
        done
    fi
    if [ -n "$CRI_CNI_NAME" ]; then
        for d in /var/lib/cni/results/"$CRI_CNI_NAME"-*; do
            [ -e "$d" ] && echo "cni cache $d"
        done
    fi
    if [ -n "$CRI_CGROUP_PARENT" ]; then
        for d in /sys/fs/cgroup/*"$CRI_CGROUP_PARENT" /sys/fs/cgroup"$CRI_CGROUP_PARENT"; do
            [ -d "$d" ] && echo "cgroup $d"
        done
    fi
    # New shared dirs are ours only while no other containerd runs (they are shared with it).
    if [ -z "$(cri_foreign_containerds)" ]; then
        while read -r d; do
            grep -qxF "$d" <<<"$CRI_RUN_DIRS_BEFORE" || echo "dir $d"
        done < <(cri_shared_dirs)
    fi
    return 0
}

# PIDs of containerd daemons and shims that are not this run's.
cri_foreign_containerds() {
    local p comm cmd
    for p in /proc/[0-9]*; do
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        case "$comm" in containerd | containerd-shim*) ;; *) continue ;; esac
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
        [ -n "$CRI_CTD_ADDRESS" ] && [[ $cmd == *"$CRI_CTD_ADDRESS"* || $cmd == *"$CRI_CTD_DIR/config.toml"* ]] &&
            continue
        echo "${p#/proc/}"
    done
}
