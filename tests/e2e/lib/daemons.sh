# shellcheck shell=bash
# Sourced by the e2e scripts: installs QEMU and libvirt when missing, starts virtlogd and
# libvirtd when they do not run yet (there is no systemd on the test machines), and stops, by
# PID, only the daemons it started.
#
#   . tests/e2e/lib/daemons.sh
#   e2e_install_packages            # apt-get install what is missing (CI machines are fresh)
#   e2e_start_daemons               # virtlogd, libvirtd; waits until qemu:///system answers
#   e2e_restart_daemon libvirtd     # one e2e_start_daemons started: stopped, started again
#   ...
#   e2e_stop_daemons                # only those e2e_start_daemons started; safe to call twice
#
# Needs root. E2E_LIBVIRT_URI (default qemu:///system) is what the tests connect to.

# shellcheck source-path=SCRIPTDIR source=proc.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

E2E_LIBVIRT_URI=${E2E_LIBVIRT_URI:-qemu:///system}
E2E_STARTED_DAEMONS=()   # "name:pid" of each daemon this shell started

e2e_log() { echo "e2e: $*" >&2; }

# Installs the packages whose programs are missing. E2E_EXTRA_PACKAGES may add
# space-separated "program:package" pairs (e.g. "containerd:containerd runc:runc").
e2e_install_packages() {
    local want=(qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils libvirtd:libvirt-daemon-system
                virtlogd:libvirt-daemon-system virsh:libvirt-clients)
    # shellcheck disable=SC2206 # split on purpose
    want+=(${E2E_EXTRA_PACKAGES:-})
    local missing=() pair prog pkg
    for pair in "${want[@]}"; do
        prog=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$prog" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$prog" ]; then
            case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
        fi
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    e2e_log "installing ${missing[*]}"
    # libvirt-daemon-system pulls in systemd, which does not run here; that is fine.
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2; then
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
    fi
}

# The PID in pidfile if that process runs and is `name`; nothing otherwise.
e2e_daemon_pid() {
    local name=$1 pidfile=$2 pid
    [ -r "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null) || return 0     # written without a newline
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && echo "$pid"
    return 0
}

# Starts /usr/sbin/<name> -d unless it runs already; records what it started.
e2e_start_daemon() {
    local name=$1 pidfile=/run/$1.pid pid i
    pid=$(e2e_daemon_pid "$name" "$pidfile")
    if [ -n "$pid" ]; then
        e2e_log "$name already runs (pid $pid); leaving it alone"
        return 0
    fi
    "/usr/sbin/$name" -d
    for ((i = 0; i < 100; i++)); do
        pid=$(e2e_daemon_pid "$name" "$pidfile")
        [ -z "$pid" ] || break
        sleep 0.1
    done
    if [ -z "$pid" ]; then
        e2e_log "$name -d did not write $pidfile"
        return 1
    fi
    E2E_STARTED_DAEMONS+=("$name:$pid")
    e2e_log "started $name (pid $pid)"
}

# With no udev, /dev/kvm stays root:root 0600 instead of Debian's root:kvm 0660. libvirt then
# finds KVM usable for root but not for the libvirt-qemu user and probes QEMU's capabilities
# again on every domain start (about a minute each under load). Give it udev's permissions.
E2E_KVM_MODE=   # "group:mode" before e2e_fix_kvm_node changed it, restored by e2e_stop_daemons
e2e_fix_kvm_node() {
    [ -c /dev/kvm ] && getent group kvm >/dev/null || return 0
    [ "$(stat -c %G /dev/kvm)" = kvm ] && return 0
    E2E_KVM_MODE=$(stat -c '%G:%a' /dev/kvm)
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
}

e2e_start_daemons() {
    if [ "$(id -u)" != 0 ]; then
        e2e_log "must run as root (libvirtd, QEMU)"
        return 1
    fi
    e2e_fix_kvm_node
    e2e_start_daemon virtlogd
    # A libvirtd that answers (perhaps started another way, without the pid file) is used as is.
    if ! virsh -q -c "$E2E_LIBVIRT_URI" version >/dev/null 2>&1; then
        e2e_start_daemon libvirtd
    fi
    local i
    for ((i = 0; i < 300; i++)); do
        if virsh -q -c "$E2E_LIBVIRT_URI" version >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    e2e_log "libvirtd does not answer on $E2E_LIBVIRT_URI after 30 s"
    return 1
}

# e2e_restart_daemon NAME: stops a daemon that e2e_start_daemons started (SIGTERM, SIGKILL after
# 10 s) and starts it again; for libvirtd, waits until E2E_LIBVIRT_URI answers. Returns 2 and
# does nothing when this shell did not start NAME: someone else's daemon is left alone.
e2e_restart_daemon() {
    local name=$1 i last entry pid=
    for ((i = 0; i < ${#E2E_STARTED_DAEMONS[@]}; i++)); do
        entry=${E2E_STARTED_DAEMONS[$i]}
        if [ "${entry%%:*}" = "$name" ]; then
            pid=${entry#*:}
            break
        fi
    done
    [ -n "$pid" ] || return 2
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && e2e_stop_pid "$name" "$pid"
    e2e_start_daemon "$name" || return 1
    # The new entry takes the old one's place, so that e2e_stop_daemons keeps its order.
    last=$((${#E2E_STARTED_DAEMONS[@]} - 1))
    if [ "$last" != "$i" ]; then
        E2E_STARTED_DAEMONS[i]=${E2E_STARTED_DAEMONS[last]}
        unset "E2E_STARTED_DAEMONS[last]"
    fi
    [ "$name" = libvirtd ] || return 0
    for ((i = 0; i < 300; i++)); do
        virsh -q -c "$E2E_LIBVIRT_URI" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    e2e_log "libvirtd does not answer on $E2E_LIBVIRT_URI 30 s after its restart"
    return 1
}

# Stops the daemons e2e_start_daemons started, newest first: SIGTERM, then SIGKILL after 10 s.
e2e_stop_daemons() {
    local i entry name pid
    for ((i = ${#E2E_STARTED_DAEMONS[@]} - 1; i >= 0; i--)); do
        entry=${E2E_STARTED_DAEMONS[$i]}
        name=${entry%%:*}
        pid=${entry#*:}
        # The PID may have been reused after the daemon died: only a process of that name goes.
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && e2e_stop_pid "$name" "$pid"
    done
    E2E_STARTED_DAEMONS=()
    if [ -n "$E2E_KVM_MODE" ]; then
        chgrp "${E2E_KVM_MODE%%:*}" /dev/kvm && chmod "${E2E_KVM_MODE#*:}" /dev/kvm
        E2E_KVM_MODE=
    fi
}

# Destroys every domain whose name starts with prefix (leftovers of a failed run).
e2e_destroy_domains() {
    local prefix=$1 d
    virsh -q -c "$E2E_LIBVIRT_URI" version >/dev/null 2>&1 || return 0
    while IFS= read -r d; do
        case "$d" in
            "$prefix"*)
                e2e_log "destroying leftover domain $d"
                virsh -q -c "$E2E_LIBVIRT_URI" destroy "$d" >/dev/null 2>&1 || true
                virsh -q -c "$E2E_LIBVIRT_URI" undefine "$d" >/dev/null 2>&1 || true
                ;;
        esac
    done < <(virsh -q -c "$E2E_LIBVIRT_URI" list --all --name 2>/dev/null)
}
