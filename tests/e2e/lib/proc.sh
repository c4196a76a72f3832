# shellcheck shell=bash
# Sourced by the e2e scripts: processes by PID and by command line, and a session of their own
# for the checks.
#
#   . tests/e2e/lib/proc.sh
#   e2e_own_session "$0" "$@"       # first thing a driver does: returns in the new session only,
#                                   # once no other e2e run holds /run/lock/cocoon-e2e.lock
#   e2e_pid_alive PID               # true while PID runs (not a zombie)
#   e2e_pids_with STRING            # PIDs whose command line (args joined by spaces) has STRING
#   e2e_stop_pid NAME PID           # SIGTERM, SIGKILL after 10 s

# meson ends a test that overran with SIGTERM to its process group and SIGKILL 0.5 s later, too
# soon to destroy VMs and stop daemons. So a driver re-runs itself in a session of its own, and
# the first process only passes SIGINT/SIGTERM on and waits: the cleanup gets the time it needs.
# In the first process this never returns; it exits with the session's status.
e2e_own_session() {
    if [ "${E2E_OWN_SESSION:-}" = 1 ]; then
        unset E2E_OWN_SESSION   # a driver this one runs gets a session of its own too
        return 0
    fi
    local runner rc lock
    # One e2e run at a time on a machine: they share libvirtd, /run/containerd and the checks
    # that nothing is left behind. This process holds the lock; the checks do not inherit it.
    mkdir -p /run/lock
    exec {lock}>/run/lock/cocoon-e2e.lock
    if ! flock -n "$lock"; then
        echo "e2e: waiting for another e2e run to end (/run/lock/cocoon-e2e.lock)" >&2
        flock "$lock"
    fi
    E2E_OWN_SESSION=1 setsid "$@" {lock}>&- &
    runner=$!
    # shellcheck disable=SC2064 # the PID is known now
    trap "kill -TERM $runner 2>/dev/null" INT TERM
    while :; do
        wait "$runner" && rc=0 || rc=$? # (callers may run with set -e)
        e2e_pid_alive "$runner" || break   # else a signal interrupted the wait
    done
    exit "$rc"
}

# True while pid runs (a zombie does not count: it may be a child not yet reaped).
e2e_pid_alive() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ -n "$st" ] && [ "${st:0:1}" != Z ]
}

# PIDs of processes whose command line, args joined by spaces and ending in one, contains $1.
e2e_pids_with() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case "$cmd" in *"$1"*) echo "${p#/proc/}" ;; esac
    done
}

# e2e_stop_pid NAME PID: SIGTERM, SIGKILL when PID still runs 10 s later; reaped if a child.
e2e_stop_pid() {
    local name=$1 pid=$2 n
    e2e_pid_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((n = 0; n < 100; n++)); do
        e2e_pid_alive "$pid" || break
        sleep 0.1
    done
    if e2e_pid_alive "$pid"; then
        echo "e2e: $name (pid $pid) ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    echo "e2e: stopped $name (pid $pid)" >&2
    return 0
}
