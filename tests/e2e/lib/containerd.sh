# shellcheck shell=bash
# Sourced by the e2e scripts (after lib/daemons.sh): a private containerd for one test run, with
# its own root, state, gRPC and ttrpc sockets under $E2E_TMPDIR, so a containerd that already
# runs on the machine is never touched.
#
#   . tests/e2e/lib/daemons.sh; . tests/e2e/lib/containerd.sh
#   e2e_containerd_install                 # apt-get install containerd, runc when missing
#   e2e_containerd_start [SHIM_DIR]        # SHIM_DIR goes first in containerd's (so shims') PATH
#   e2e_ctr SECONDS images ls              # ctr against it, in $E2E_CTD_NS, under `timeout`
#   e2e_task_status ID / e2e_wait_status ID STATUS SECONDS [PID]   # `ctr task ls` status
#   e2e_containerd_restart                 # the daemon only, stopped and started again (shims live on)
#   e2e_containerd_stop                    # tasks and containers removed, then the daemon; twice is fine
#
# After e2e_containerd_start: E2E_CTD_DIR (the daemon's dir), E2E_CTD_ADDRESS (gRPC socket),
# E2E_CTD_STATE (its state dir: bundles are $E2E_CTD_STATE/io.containerd.runtime.v2.task/NS/ID),
# E2E_CTD_LOG (debug log: containerd's and the shims' stderr), E2E_CTD_PID.
#
# containerd 1.6 still puts shim sockets in /run/containerd/s (the name hashes the gRPC address, so
# they do not collide), and the runc shim keeps its state in /run/containerd/runc/NS; stop removes
# those dirs again when it finds them empty and they were not there before.

# shellcheck source-path=SCRIPTDIR source=proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

E2E_CTD_NS=${E2E_CTD_NS:-cocoon-e2e}
E2E_CTD_DIR=
E2E_CTD_ADDRESS=
E2E_CTD_STATE=
E2E_CTD_LOG=
E2E_CTD_PID=
E2E_CTD_PATH=             # containerd's PATH (the shim dir first)
E2E_CTD_NEW_RUN_DIRS=()   # dirs under /run/containerd that did not exist before start

e2e_containerd_install() {
    local missing=() pair
    for pair in containerd:containerd ctr:containerd runc:runc; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    # shellcheck disable=SC2046 # unique words
    set -- $(printf '%s\n' "${missing[@]}" | sort -u)
    e2e_log "installing $*"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "$@" >&2; then
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "$@" >&2
    fi
}

# ctr against the test containerd: e2e_ctr SECONDS ARGS... Killed after SECONDS (then SIGKILL 5 s
# later), which shows as exit code 124 (137 after the SIGKILL).
e2e_ctr() {
    local secs=$1
    shift
    timeout -k 5 "$secs" ctr --address "$E2E_CTD_ADDRESS" --namespace "$E2E_CTD_NS" "$@"
}

# The PID of the containerd started with this run's config.
e2e_containerd_find_pid() {
    e2e_pids_with "containerd --config $E2E_CTD_DIR/config.toml " | head -n 1
}

# e2e_containerd_start [SHIM_DIR]: needs E2E_TMPDIR. Returns non-zero (with the log's tail on
# stderr) when containerd does not answer within 30 s.
e2e_containerd_start() {
    local shim_dir=${1:-} d i
    if [ -z "${E2E_TMPDIR:-}" ] || [ ! -d "$E2E_TMPDIR" ]; then
        e2e_log "e2e_containerd_start: E2E_TMPDIR is not a directory"
        return 1
    fi
    if [ -n "$E2E_CTD_PID" ]; then
        e2e_log "e2e_containerd_start: containerd (pid $E2E_CTD_PID) already started"
        return 1
    fi
    for d in /run/containerd /run/containerd/s /run/containerd/runc "/run/containerd/runc/$E2E_CTD_NS"; do
        [ -e "$d" ] || E2E_CTD_NEW_RUN_DIRS+=("$d")
    done
    E2E_CTD_DIR=$E2E_TMPDIR/containerd
    E2E_CTD_ADDRESS=$E2E_CTD_DIR/containerd.sock
    E2E_CTD_STATE=$E2E_CTD_DIR/state
    E2E_CTD_LOG=$E2E_CTD_DIR/containerd.log
    mkdir -p "$E2E_CTD_DIR"
    # The CRI plugin is off (no CNI, no streaming port; containerd 2.x splits it in three);
    # the opt plugin would create /opt/containerd, so it gets a dir of its own.
    cat > "$E2E_CTD_DIR/config.toml" <<EOF
version = 2
root = "$E2E_CTD_DIR/root"
state = "$E2E_CTD_STATE"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images",
                    "io.containerd.cri.v1.runtime"]

[grpc]
  address = "$E2E_CTD_ADDRESS"

[ttrpc]
  address = "$E2E_CTD_ADDRESS.ttrpc"

[debug]
  address = ""
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "$E2E_CTD_DIR/opt"
EOF
    E2E_CTD_PATH=$PATH
    [ -z "$shim_dir" ] || E2E_CTD_PATH=$shim_dir:$PATH
    : >"$E2E_CTD_LOG"
    e2e_containerd_launch
}

# Starts containerd with the config e2e_containerd_start wrote, its log appended to E2E_CTD_LOG,
# and waits until it answers (30 s at most).
e2e_containerd_launch() {
    local i
    # Its own session, so a ^C in the test's terminal reaches it only through stop. setsid forks
    # when it leads a process group (job control on), so the PID is looked up by the config path.
    PATH=$E2E_CTD_PATH setsid containerd --config "$E2E_CTD_DIR/config.toml" --log-level debug \
        </dev/null >>"$E2E_CTD_LOG" 2>&1 &
    local bg=$!
    for ((i = 0; i < 300; i++)); do
        [ -n "$E2E_CTD_PID" ] || E2E_CTD_PID=$(e2e_containerd_find_pid)
        if [ -n "$E2E_CTD_PID" ] && [ -S "$E2E_CTD_ADDRESS" ] &&
                timeout 5 ctr --address "$E2E_CTD_ADDRESS" version >/dev/null 2>&1; then
            e2e_log "started containerd (pid $E2E_CTD_PID, $E2E_CTD_ADDRESS)"
            return 0
        fi
        if { [ -n "$E2E_CTD_PID" ] && ! e2e_pid_alive "$E2E_CTD_PID"; } ||
                { [ -z "$E2E_CTD_PID" ] && [ "$i" -ge 10 ] && ! e2e_pid_alive "$bg"; }; then
            e2e_log "containerd exited at start; its log ends:"
            tail -n 20 "$E2E_CTD_LOG" >&2
            E2E_CTD_PID=
            return 1
        fi
        sleep 0.1
    done
    e2e_log "containerd does not answer on $E2E_CTD_ADDRESS after 30 s; its log ends:"
    tail -n 20 "$E2E_CTD_LOG" >&2
    return 1
}

# Stops the daemon alone (SIGTERM, SIGKILL after 10 s), as a containerd upgrade or crash would,
# and starts it again with the same config, root, state and PATH: the shims live on, and
# containerd finds its tasks again through them. Its log goes on in the same file.
e2e_containerd_restart() {
    if [ -z "$E2E_CTD_PID" ]; then
        e2e_log "e2e_containerd_restart: containerd was not started"
        return 1
    fi
    e2e_stop_pid containerd "$E2E_CTD_PID"
    E2E_CTD_PID=
    e2e_containerd_launch
}

# Kills and deletes every task (exec'd processes go with them) and removes every container in
# $E2E_CTD_NS. Returns non-zero when something is left.
e2e_containerd_clean_ns() {
    local id left
    [ -n "$E2E_CTD_PID" ] || return 0
    while read -r id _; do
        [ -n "$id" ] || continue
        e2e_log "killing leftover task $id"
        e2e_ctr 30 task kill -a -s SIGKILL "$id" >/dev/null 2>&1
        # A task stops only once its shim saw the exit; delete -f waits for nothing.
        e2e_ctr 60 task delete -f "$id" >/dev/null 2>&1 ||
            e2e_log "task delete $id failed"
    done < <(e2e_ctr 30 task ls -q 2>/dev/null)
    while read -r id; do
        [ -n "$id" ] || continue
        e2e_log "removing leftover container $id"
        e2e_ctr 60 containers delete "$id" >/dev/null 2>&1 ||
            e2e_log "container delete $id failed"
    done < <(e2e_ctr 30 containers ls -q 2>/dev/null)
    left=$(e2e_ctr 30 containers ls -q 2>/dev/null)
    [ -z "$left" ] || { e2e_log "containers left: $left"; return 1; }
}

# PIDs of the shims this containerd started: processes whose command line names its address.
e2e_containerd_shim_pids() {
    local p
    [ -n "$E2E_CTD_ADDRESS" ] || return 0
    for p in $(e2e_pids_with "-address $E2E_CTD_ADDRESS "); do
        tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q containerd-shim && echo "$p"
    done
    return 0
}

# Removes what is left, stops containerd (SIGTERM, SIGKILL after 10 s), kills shims of it that
# still run, unmounts anything under its dir and removes the /run/containerd dirs it created.
e2e_containerd_stop() {
    local pid i m
    if [ -n "$E2E_CTD_PID" ] && e2e_pid_alive "$E2E_CTD_PID"; then
        e2e_containerd_clean_ns
        e2e_stop_pid containerd "$E2E_CTD_PID"
    fi
    E2E_CTD_PID=
    # Shims outlive containerd by design; ours must not outlive the test.
    for pid in $(e2e_containerd_shim_pids); do
        e2e_log "killing leftover shim pid $pid: $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"
        kill -KILL "$pid" 2>/dev/null
    done
    if [ -n "$E2E_CTD_DIR" ]; then
        # Deepest first: rootfs mounts sit on top of snapshot dirs.
        while read -r m; do
            e2e_log "unmounting leftover $m"
            umount -l "$m" 2>/dev/null
        done < <(awk -v d="$E2E_CTD_DIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
    fi
    # runc leaves the namespace's cgroup (cgroupsPath /NS/ID) behind: empty, so rmdir works.
    rmdir /sys/fs/cgroup/*/"$E2E_CTD_NS" /sys/fs/cgroup/"$E2E_CTD_NS" 2>/dev/null
    for ((i = ${#E2E_CTD_NEW_RUN_DIRS[@]} - 1; i >= 0; i--)); do
        rmdir "${E2E_CTD_NEW_RUN_DIRS[$i]}" 2>/dev/null
    done
    E2E_CTD_NEW_RUN_DIRS=()
    return 0
}

# The socket a shim of this containerd serves for group id (the container id, or the sandbox id
# for containers grouped into a pod): /run/containerd/s/hex(sha256(ADDRESS/NS/ID)).
e2e_containerd_shim_socket() {
    printf '/run/containerd/s/%s\n' \
        "$(printf '%s' "$E2E_CTD_ADDRESS/$E2E_CTD_NS/$1" | sha256sum | cut -d' ' -f1)"
}

# The status column of `ctr task ls` for id, or nothing.
e2e_task_status() {
    e2e_ctr 30 task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'
}

# e2e_wait_status ID STATUS SECONDS [PID]: polls `ctr task ls`; gives up early when PID (the ctr run
# that should have started the task) has exited.
e2e_wait_status() {
    local id=$1 status=$2 secs=$3 pid=${4:-} i
    for ((i = 0; i < secs * 5; i++)); do
        [ "$(e2e_task_status "$id")" = "$status" ] && return 0
        if [ -n "$pid" ] && ! e2e_pid_alive "$pid"; then
            [ "$(e2e_task_status "$id")" = "$status" ]
            return
        fi
        sleep 0.2
    done
    return 1
}
