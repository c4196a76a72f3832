#!/bin/bash
# `cocoonctl install containerd` on the real default configs of containerd 1.6 (this machine's),
# 1.7 (trixie's) and 2.1 (unstable's, config version 3): each `containerd config default` is
# given private root, state, socket and NRI paths (values only: its layout stays as containerd
# wrote it), then
#   - --dry-run prints a unified diff that only adds lines, and changes nothing;
#   - install adds cocoon-snp, cocoon-tdx, cocoon-dev and their debug runtimes cocoon-<tee>-debug
#     (ConfigPath debug-<tee>/cocoon.toml, laid out as meson install does: a link to
#     ../cocoon-<tee>.toml beside config.d/50-debug.toml), keeps every byte of the file before
#     them, and leaves a backup equal to the old file; a second run changes nothing;
#   - containerd starts on the result: its CRI plugins load without error (`ctr plugins ls`),
#     `containerd config dump` holds the runtimes (and runc), and CRI's Status (the config CRI
#     really uses) lists them with their ConfigPath;
#   - cocoonctl check finds the runtime whose ConfigPath is cocoon-dev.toml, and for
#     debug-dev/cocoon.toml (the same file, other drop-ins) cocoon-dev-debug;
#   - a copy whose cocoon-dev table has another runtime_type, and a malformed copy, are refused
#     and left byte for byte as they were.
# No VM is started. Nothing is left behind: the containerds are stopped and the run's dir removed.
#
#   run-install.sh COCOONCTL CONFIGS_DIR CACHE_DIR
#
# CACHE_DIR keeps the downloaded containerd packages (tests/e2e/lib/debs.sh), shared with the cri
# tests. TAP on stdout; E2E_KEEP=1 keeps the run's files.
set -uo pipefail

{

if [ $# -ne 3 ]; then
    echo "usage: $0 COCOONCTL CONFIGS_DIR CACHE_DIR" >&2
    exit 2
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/proc.sh
. "$HERE/lib/proc.sh"
exec </dev/null

if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root (containerd)"
    exit 0
fi

# One e2e run at a time (they share /run/containerd and the leftover checks).
e2e_own_session "$HERE/$(basename "${BASH_SOURCE[0]}")" "$@"

COCOONCTL=$(realpath -m "$1")
CONFIGS_DIR=$(realpath -m "$2")
CACHE_DIR=$(realpath -m "$3")

# shellcheck source-path=SCRIPTDIR source=lib/cri-containerd.sh
. "$HERE/lib/cri-containerd.sh"
# shellcheck source-path=SCRIPTDIR source=lib/tap.sh
. "$HERE/lib/tap.sh"

log() { echo "install: $*" >&2; }

T=$(mktemp -d /tmp/cocoon-install-XXXXXX)
COCOON_DIR=$T/cocoon # where the runtimes' ConfigPath points
mkdir -p "$COCOON_DIR"
cp "$CONFIGS_DIR"/cocoon-snp.toml "$CONFIGS_DIR"/cocoon-tdx.toml "$CONFIGS_DIR"/cocoon-dev.toml \
    "$COCOON_DIR"/
# The debug runtimes' configurations, as configs/meson.build installs them.
for tee in snp tdx dev; do
    mkdir -p "$COCOON_DIR/debug-$tee/config.d"
    ln -s "../cocoon-$tee.toml" "$COCOON_DIR/debug-$tee/cocoon.toml"
    cp "$CONFIGS_DIR/cocoon-$tee-debug.toml" "$COCOON_DIR/debug-$tee/config.d/50-debug.toml"
done
RUNTIMES="cocoon-snp cocoon-tdx cocoon-dev cocoon-snp-debug cocoon-tdx-debug cocoon-dev-debug"
# config_path NAME: the ConfigPath cocoonctl gives runtime NAME.
config_path() {
    local tee=${1#cocoon-}
    case $tee in
    *-debug) echo "$COCOON_DIR/debug-${tee%-debug}/cocoon.toml" ;;
    *) echo "$COCOON_DIR/cocoon-$tee.toml" ;;
    esac
}
E2E_CTD_LOG=/dev/null # tap.sh's begin counts its lines
CTD_PID=
CTD_DIR=

ctd_stop() {
    [ -n "$CTD_PID" ] || return 0
    e2e_stop_pid containerd "$CTD_PID" 2>/dev/null
    CTD_PID=
}

# shellcheck disable=SC2317 # run by the trap
cleanup() {
    local rc=$?
    set +e
    trap - INT TERM
    ctd_stop
    if [ -n "${E2E_KEEP:-}" ]; then
        log "E2E_KEEP: the run's files stay in $T"
    else
        rm -rf --one-file-system "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# privatize FILE DIR: containerd's own paths in FILE moved under DIR, in either quote style.
privatize() {
    local f=$1 d=$2
    sed -i -E \
        -e "s|^root = .*|root = '$d/root'|" \
        -e "s|^state = .*|state = '$d/state'|" \
        -e "s|^temp = .*|temp = '$d/tmp'|" \
        -e "s|address = [\"']/run/containerd/containerd.sock[\"']|address = '$d/containerd.sock'|" \
        -e "s|socket_path = [\"']/var/run/nri/nri.sock[\"']|socket_path = '$d/nri.sock'|" \
        -e "s|path = [\"']/opt/containerd[\"']|path = '$d/opt'|" \
        -e "s|bin_dir = [\"']/opt/containerd/image-verifier/bin[\"']|bin_dir = '$d/image-verifier'|" \
        "$f"
    ! grep -nE "'?(/run/containerd|/var/lib/containerd|/var/run/nri)" "$f" >&2
}

# ctd_start DIR CONFIG BINDIR: containerd on CONFIG until its gRPC answers (30 s).
ctd_start() {
    local d=$1 cfg=$2 bin=$3 i bg
    CTD_DIR=$d
    PATH=$bin:$PATH setsid "$bin/containerd" --config "$cfg" --log-level debug \
        </dev/null >"$d/containerd.log" 2>&1 &
    bg=$!
    for ((i = 0; i < 300; i++)); do
        [ -n "$CTD_PID" ] || CTD_PID=$(e2e_pids_with "containerd --config $cfg " | head -n 1)
        if [ -S "$d/containerd.sock" ] &&
                timeout 5 "$bin/ctr" --address "$d/containerd.sock" version >/dev/null 2>&1; then
            return 0
        fi
        if { [ -n "$CTD_PID" ] && ! e2e_pid_alive "$CTD_PID"; } ||
                { [ -z "$CTD_PID" ] && [ "$i" -ge 10 ] && ! e2e_pid_alive "$bg"; }; then
            break
        fi
        sleep 0.1
    done
    log "containerd did not start on $cfg; its log ends:"
    tail -n 20 "$d/containerd.log" >&2
    return 1
}

# The CRI plugins of the running containerd: every one "ok", and at least one.
cri_plugins_ok() {
    local bin=$1 out
    out=$(timeout 10 "$bin/ctr" --address "$CTD_DIR/containerd.sock" plugins ls) || return 1
    echo "$out" | awk '$2 == "cri" || $1 == "io.containerd.cri.v1" { n++; if ($NF != "ok") bad++; print }
        END { exit !(n > 0 && bad == 0) }' >"$CTD_DIR/cri-plugins"
}

# The runtimes in CRI's own config (RuntimeService.Status verbose), if cri.py can run here.
cri_status_runtimes() {
    CRI_ENDPOINT=unix://$CTD_DIR/containerd.sock
    cri --timeout 10 status >"$CTD_DIR/cri-status.json" || return 1
    "$CRI_PYTHON" - "$CTD_DIR/cri-status.json" "$COCOON_DIR" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
cfg = s["info"]["config"]
if isinstance(cfg, str):
    cfg = json.loads(cfg)
rts = cfg["containerd"]["runtimes"]
want = {}
for tee in ("snp", "tdx", "dev"):
    want["cocoon-" + tee] = "%s/cocoon-%s.toml" % (sys.argv[2], tee)
    want["cocoon-%s-debug" % tee] = "%s/debug-%s/cocoon.toml" % (sys.argv[2], tee)
for name, config_path in want.items():
    rt = rts[name]
    assert rt["runtimeType"] == "io.containerd.cocoon.v2", rt
    assert rt["options"]["ConfigPath"] == config_path, rt["options"]
    assert "io.katacontainers.*" in rt["PodAnnotations"], rt
assert "runc" in rts
EOF
}

CRI_READY=
if "$CRI_PYTHON" -c 'import grpc, grpc_tools' 2>/dev/null && CRI_PROTO=$(debs_cri_api "$CACHE_DIR") &&
        CRI_GEN_DIR=$CACHE_DIR/cri-py && export CRI_PROTO CRI_GEN_DIR &&
        "$CRI_PYTHON" "$CRI_LIB_DIR/cri.py" gen >/dev/null; then
    CRI_READY=1
else
    log "no CRI client here (python3-grpcio, python3-grpc-tools, the CRI api.proto): the CRI Status check is skipped"
fi

skip() {
    N=$((N + 1))
    echo "ok $N - $1 # SKIP $2"
}

for v in 1.6 1.7 2.1; do
    bindir=$(debs_containerd "$v" "$CACHE_DIR" 2>"$T/debs-$v.log")
    if [ -z "$bindir" ]; then
        skip "containerd $v" "no containerd $v here: $(tail -n 1 "$T/debs-$v.log")"
        continue
    fi
    bin=$bindir/bin
    d=$T/ctd-$v
    mkdir -p "$d/tmp"
    cfg=$d/config.toml
    "$bin/containerd" config default >"$d/default.toml" 2>/dev/null
    cp "$d/default.toml" "$cfg"
    begin
    privatize "$cfg" "$d"
    tap $? "$v: containerd config default with private paths"
    cp "$cfg" "$d/before.toml"
    version=$(awk -F' *= *' '$1 == "version" { print $2; exit }' "$cfg")

    begin
    "$COCOONCTL" install containerd --config "$cfg" --cocoon-dir "$COCOON_DIR" --dry-run \
        >"$d/dry-run.out" 2>&1
    rc=$?
    # only added lines, and the file is as it was
    added=$(grep -c '^+ *\[plugins' "$d/dry-run.out")
    removed=$(grep -c '^-[^-]' "$d/dry-run.out")
    # six runtimes, each a table and its options table
    cmp -s "$cfg" "$d/before.toml" && [ "$rc" = 0 ] && [ "$added" = 12 ] && [ "$removed" = 0 ] &&
        grep -q '^dry run: nothing was changed' "$d/dry-run.out" &&
        ! compgen -G "$cfg.cocoon-backup-*" >/dev/null
    tap $? "$v: --dry-run prints a diff adding 12 tables and changes nothing"
    [ "$FAILED" = 0 ] || diag_file "dry run" "$d/dry-run.out" 40

    begin
    "$COCOONCTL" install containerd --config "$cfg" --cocoon-dir "$COCOON_DIR" >"$d/install.out" 2>&1
    rc=$?
    backups=("$cfg".cocoon-backup-*)
    size=$(stat -c %s "$d/before.toml")
    want="added cocoon-snp, cocoon-tdx, cocoon-dev, cocoon-snp-debug, cocoon-tdx-debug and"
    want="$want cocoon-dev-debug (config version $version)"
    [ "$rc" = 0 ] && grep -qF "$want" "$d/install.out" && [ ${#backups[@]} = 1 ] &&
        cmp -s "${backups[0]}" "$d/before.toml" && cmp -s -n "$size" "$cfg" "$d/before.toml"
    tap $? "$v: install adds the six runtimes (config version $version), the file kept, a backup"
    diag_file "install" "$d/install.out"

    begin
    cp "$cfg" "$d/after.toml"
    "$COCOONCTL" install containerd --config "$cfg" --cocoon-dir "$COCOON_DIR" >"$d/again.out" 2>&1 &&
        grep -q "nothing to do" "$d/again.out" && cmp -s "$cfg" "$d/after.toml" &&
        [ "$(compgen -G "$cfg.cocoon-backup-*" | wc -l)" = 1 ]
    tap $? "$v: a second install changes nothing"

    begin
    ctd_start "$d" "$cfg" "$bin"
    tap $? "$v: containerd starts on the result"
    begin
    cri_plugins_ok "$bin"
    tap $? "$v: its CRI plugins loaded without error"
    diag "$(cat "$d/cri-plugins" 2>/dev/null)"
    begin
    "$bin/containerd" --config "$cfg" config dump >"$d/dump.toml" 2>"$d/dump.err"
    for n in $RUNTIMES; do
        grep -qE "runtimes\.$n\]" "$d/dump.toml" &&
            grep -qE "ConfigPath = [\"']$(config_path "$n")[\"']" "$d/dump.toml" || false
    done && grep -qE 'runtimes\.runc\]' "$d/dump.toml"
    tap $? "$v: containerd config dump holds the six cocoon runtimes and runc"
    if [ -n "$CRI_READY" ]; then
        begin
        cri_status_runtimes
        tap $? "$v: CRI's Status config lists the runtimes with their ConfigPath"
    else
        skip "$v: CRI's Status config" "no CRI client"
    fi
    ctd_stop
    [ -z "$(e2e_pids_with "containerd --config $cfg ")" ]
    tap $? "$v: containerd stopped"
    [ "$FAILED" = 0 ] || diag_file "containerd $v log" "$d/containerd.log" 30

    # debug-dev/cocoon.toml is a link to cocoon-dev.toml, with drop-ins of its own: another
    # configuration, so another runtime.
    for n in cocoon-dev cocoon-dev-debug; do
        begin
        "$COCOONCTL" check --config "$(config_path "$n")" --containerd-config "$cfg" --json \
            >"$d/check-$n.json" 2>&1
        "$CRI_PYTHON" - "$d/check-$n.json" "$n" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c = [c for c in r["checks"] if c["name"] == "containerd"][0]
assert c["ok"] and "registers runtime %s with" % sys.argv[2] in c["detail"], c
EOF
        rc=$?
        p=$(config_path "$n")
        tap "$rc" "$v: cocoonctl check finds runtime $n for ${p#"$COCOON_DIR"/}"
        [ "$rc" = 0 ] || diag_file "check" "$d/check-$n.json" 20
    done

    # Refusals leave the file byte for byte.
    begin
    other=$d/other.toml
    sed -E "/runtimes\.cocoon-dev\]/,/runtime_type/ s|io\.containerd\.cocoon\.v2|io.containerd.kata.v2|" \
        "$d/after.toml" >"$other"
    cp "$other" "$d/other.before"
    ! "$COCOONCTL" install containerd --config "$other" --cocoon-dir "$COCOON_DIR" >"$d/other.out" 2>&1 &&
        grep -q 'runtime_type is "io.containerd.kata.v2"' "$d/other.out" &&
        cmp -s "$other" "$d/other.before" && ! compgen -G "$other.cocoon-backup-*" >/dev/null
    tap $? "$v: a cocoon-dev table with another runtime_type is refused, the file untouched"
    diag_file "refusal" "$d/other.out" 8

    begin
    bad=$d/bad.toml
    { cat "$d/before.toml"; echo '[plugins."io.containerd.grpc.v1.cri"'; } >"$bad"
    cp "$bad" "$d/bad.before"
    lines=$(wc -l <"$bad")
    ! "$COCOONCTL" install containerd --config "$bad" --cocoon-dir "$COCOON_DIR" >"$d/bad.out" 2>&1 &&
        grep -q "line $lines" "$d/bad.out" && cmp -s "$bad" "$d/bad.before" &&
        ! compgen -G "$bad.cocoon-backup-*" >/dev/null
    tap $? "$v: a malformed config is refused naming line $lines, untouched"
    diag_file "malformed" "$d/bad.out" 4
done

echo "1..$N"
exit "$FAILED"

}
