# Shared by the interop drivers (run-go-interop.sh, run-rust-interop.sh); sourced, not run.
#
# A driver calls interop_init, then run_direction once per (server, client) pair, then
# interop_finish. Every peer program takes `server SOCKETPATH` (prints "ready" once it
# listens, exits 0 on SIGTERM) and `client SOCKETPATH` (prints TAP lines "ok - NAME" /
# "not ok - NAME: why" with a "1..N" plan, and "# ..." comments). The checks of all clients
# are re-emitted as one TAP stream, each name prefixed with its direction. Servers and the
# temporary folder are always cleaned up (EXIT trap).
# shellcheck shell=bash

interop_pids=()
interop_n=0      # TAP test number
interop_failed=0 # "not ok" lines that are not TODO
interop_tmp=

interop_cleanup() {
    local pid
    for pid in "${interop_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${interop_pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [ -z "$interop_tmp" ] || rm -rf "$interop_tmp"
}

interop_init() {
    interop_tmp=$(mktemp -d "${TMPDIR:-/tmp}/cocoon-interop.XXXXXX")
    trap interop_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# tap ok|not-ok DESCRIPTION [TODO-REASON]
tap() {
    interop_n=$((interop_n + 1))
    local directive=""
    [ -z "${3:-}" ] || directive=" # TODO $3"
    if [ "$1" = ok ]; then
        echo "ok $interop_n - $2$directive"
    else
        [ -n "${3:-}" ] || interop_failed=$((interop_failed + 1))
        echo "not ok $interop_n - $2$directive"
    fi
}

# Prints FILE as TAP comments.
comment_file() {
    [ -s "$1" ] && sed 's/^/#   /' "$1"
    return 0
}

# Starts "PEER server SOCK" in the background and waits up to 10 s for it to print "ready".
# Sets server_pid.
server_pid=
start_server() { # NAME PEER SOCK
    local name=$1 peer=$2 sock=$3
    "$peer" server "$sock" >"$interop_tmp/$name.out" 2>"$interop_tmp/$name.err" &
    server_pid=$!
    interop_pids+=("$server_pid")
    for _ in $(seq 100); do
        grep -qx ready "$interop_tmp/$name.out" && return 0
        kill -0 "$server_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Sends SIGTERM and reports whether the server exited with status 0 within 5 s.
stop_server() { # NAME PID LABEL
    local name=$1 pid=$2 label=$3 rc=0
    kill -TERM "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        tap not-ok "$label: server exits cleanly on SIGTERM: still running after 5 s"
        return
    fi
    wait "$pid" || rc=$?
    if [ "$rc" -eq 0 ]; then
        tap ok "$label: server exits cleanly on SIGTERM"
    else
        tap not-ok "$label: server exits cleanly on SIGTERM: exit status $rc"
        comment_file "$interop_tmp/$name.err"
    fi
}

# The TODO reason for a check "LABEL: NAME", from the "PREFIX|REASON" lines in $interop_todo.
interop_todo=
todo_reason() { # LABEL: NAME
    local prefix reason
    while IFS='|' read -r prefix reason; do
        [ -n "$prefix" ] || continue
        case $1 in
            "$prefix"*) echo "$reason"; return ;;
        esac
    done <<<"$interop_todo"
}

# Runs CLIENT against SERVER and re-emits the client's TAP lines with LABEL as prefix. Checks
# listed in $interop_todo (known divergences of that peer) are marked TODO.
run_direction() { # LABEL NAME SERVER_PEER CLIENT_PEER
    local label=$1 name=$2 server=$3 client=$4 sock="$interop_tmp/$2.sock"
    local rc=0 plan=0 seen=0 notok=0 line check
    if ! start_server "$name-server" "$server" "$sock"; then
        tap not-ok "$label: start the server"
        comment_file "$interop_tmp/$name-server.err"
        return
    fi
    local pid=$server_pid
    timeout 180 "$client" client "$sock" >"$interop_tmp/$name-client.tap" \
        2>"$interop_tmp/$name-client.err" || rc=$?
    while IFS= read -r line; do
        case $line in
            1..*) plan=${line#1..} ;;
            "ok - "*)
                seen=$((seen + 1))
                check=${line#ok - }
                tap ok "$label: $check" "$(todo_reason "$label: $check")"
                ;;
            "not ok - "*)
                seen=$((seen + 1))
                notok=$((notok + 1))
                check=${line#not ok - }
                tap not-ok "$label: $check" "$(todo_reason "$label: $check")"
                ;;
            "#"*) echo "$line" ;;
            *) echo "# $line" ;;
        esac
    done <"$interop_tmp/$name-client.tap"
    if [ "$seen" -ne "$plan" ] || [ "$plan" -eq 0 ]; then
        tap not-ok "$label: client ran $seen of $plan planned checks (exit status $rc)"
    elif [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        tap not-ok "$label: client exited with status $rc"
    fi
    comment_file "$interop_tmp/$name-client.err"
    stop_server "$name-server" "$pid" "$label"
}

# Prints the plan; returns non-zero when a check failed (other than TODO ones).
interop_finish() {
    echo "1..$interop_n"
    [ "$interop_failed" -eq 0 ]
}
