# shellcheck shell=bash
# Sourced by the e2e scripts (after lib/daemons.sh and lib/containerd.sh): Debian's
# docker-registry on the host's loopback, plain HTTP, with a config and storage of its own under
# a dir of the run (Debian's /etc/docker/registry/config.yml wants htpasswd auth), and skopeo to
# push OCI layouts to it. A guest on QEMU user networking reaches it as 10.0.2.2:PORT.
#
#   e2e_registry_install                  # apt-get install docker-registry, skopeo when missing
#   e2e_registry_start DIR [PORT]         # PORT (default 5000) or the next free one up to +99
#   e2e_registry_push OCI_DIR:TAG REPO:TAG
#   e2e_registry_gets HOST REPO KIND [FROM_LINE]   # 200 GETs of /v2/REPO/KIND/ asked for HOST
#   e2e_registry_stop                     # twice is fine
#
# After e2e_registry_start: E2E_REG_ADDR (127.0.0.1:PORT), E2E_REG_PORT, E2E_REG_LOG (its log:
# one `msg="response completed"` line per request, with host, method, uri and status),
# E2E_REG_PID.

E2E_REG_ADDR=
E2E_REG_PORT=
E2E_REG_LOG=
E2E_REG_PID=

e2e_registry_install() {
    local missing=()
    command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
    command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
    [ ${#missing[@]} -gt 0 ] || return 0
    e2e_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2; then
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
    fi
}

# True when something listens on 127.0.0.1:port (or on every address at that port).
e2e_registry_port_busy() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# HTTP status of GET http://ADDR/v2/, or 000 when nothing answers.
e2e_registry_ping() {
    curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$1/v2/" 2>/dev/null || true
}

# e2e_registry_start DIR [PORT]: the registry's config, storage and log go to DIR. Another test
# may hold PORT, so the next free port is taken; the guest maps any port of 127.0.0.1 the same.
e2e_registry_start() {
    local dir=$1 port=${2:-5000} last i code
    if [ -n "$E2E_REG_PID" ]; then
        e2e_log "e2e_registry_start: the registry (pid $E2E_REG_PID) already runs"
        return 1
    fi
    for ((last = port + 99; port <= last; port++)); do
        e2e_registry_port_busy "$port" || break
    done
    if [ "$port" -gt "$last" ]; then
        e2e_log "e2e_registry_start: no free port for the registry"
        return 1
    fi
    mkdir -p "$dir/data"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: info, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: cocoon-e2e}
EOF
    E2E_REG_LOG=$dir/registry.log
    # shellcheck disable=SC2034 # for the scripts that source this
    E2E_REG_PORT=$port
    E2E_REG_ADDR=127.0.0.1:$port
    docker-registry serve "$dir/config.yml" </dev/null >"$E2E_REG_LOG" 2>&1 &
    E2E_REG_PID=$!
    for ((i = 0; i < 100; i++)); do
        code=$(e2e_registry_ping "$E2E_REG_ADDR")
        if [ "$code" = 200 ]; then
            e2e_log "started docker-registry (pid $E2E_REG_PID, $E2E_REG_ADDR)"
            return 0
        fi
        e2e_pid_alive "$E2E_REG_PID" || break
        sleep 0.1
    done
    e2e_log "docker-registry does not answer on $E2E_REG_ADDR (last status $code); its log ends:"
    tail -n 10 "$E2E_REG_LOG" >&2
    e2e_registry_stop
    return 1
}

# e2e_registry_push OCI_DIR:TAG REPO:TAG: an OCI image layout into the registry.
e2e_registry_push() {
    timeout -k 5 120 skopeo copy -q --dest-tls-verify=false "oci:$1" "docker://$E2E_REG_ADDR/$2"
}

# e2e_registry_gets HOST REPO KIND [FROM_LINE]: how many GETs of /v2/REPO/KIND/... (KIND
# manifests or blobs) that the registry answered 200 arrived with Host: HOST, counting from
# line FROM_LINE + 1 of its log (default: all).
e2e_registry_gets() {
    local host=$1 repo=$2 kind=$3 from=${4:-0}
    tail -n +"$((from + 1))" "$E2E_REG_LOG" 2>/dev/null |
        grep -F 'msg="response completed"' |
        grep -F "http.request.host=\"$host\"" |
        grep -F 'http.request.method=GET' |
        grep -F 'http.response.status=200' |
        grep -cE "http\\.request\\.uri=\"?/v2/$repo/$kind/"
}

# SIGTERM, SIGKILL after 10 s.
e2e_registry_stop() {
    [ -n "$E2E_REG_PID" ] || return 0
    e2e_stop_pid docker-registry "$E2E_REG_PID"
    E2E_REG_PID=
    return 0
}
