# shellcheck shell=bash
# Sourced by the e2e scripts: .deb files from Debian suites other than the machine's own
# (trixie, unstable), fetched through a PRIVATE apt configuration and unpacked with dpkg -x. The
# system's apt sources, lists and cache are never touched: each suite gets its own sources.list,
# lists and archive cache under $DEBS_CACHE/apt-SUITE, derived from the machine's own sources
# (same URIs, components and Signed-By keyring; only the suite differs). Needs root (apt-get).
#
#   . tests/e2e/lib/debs.sh
#   DEBS_CACHE=$builddir/cri-cache          # where the apt state and the unpacked trees live
#   debs_fetch SUITE PKG DESTDIR             # apt-get download PKG from SUITE, dpkg -x into DESTDIR
#   debs_version DESTDIR                     # "PKG VERSION SUITE" of what debs_fetch unpacked there
#   debs_candidate SUITE PKG                 # the version SUITE offers (apt-cache policy)
#   dir=$(debs_containerd 1.6|1.7|2.1)       # dir/bin/{containerd,ctr,containerd-shim-runc-v2}
#   proto=$(debs_cri_api)                    # k8s.io/cri-api/pkg/apis/runtime/v1/api.proto
#
# debs_fetch is idempotent: an unpacked tree (DESTDIR/.debs-stamp) is used as it is, without
# asking apt. The suites' indexes are fetched once (apt-get update) and again only when a
# download fails. Messages go to stderr; functions that yield a path print only it on stdout.
#
# Which suite holds what (checked 2026-12): containerd 1.7 is trixie's `containerd`
# (1.7.24~ds1-6+deb13u1), containerd 2.1 unstable's (2.1.9+ds1-5), the CRI api.proto is in
# unstable's golang-k8s-cri-api-dev (0.36.4-1; not in bookworm or trixie). containerd 1.6 is
# bookworm's own package, installed with apt-get when missing.

DEBS_CACHE=${DEBS_CACHE:-}

debs_log() { echo "debs: $*" >&2; }

# The machine's codename (bookworm).
debs_codename() {
    local c
    c=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [ -n "$c" ] || c=$(lsb_release -sc 2>/dev/null)
    echo "$c"
}

# One-line apt sources for SUITE: every entry of the machine's sources whose suite is the
# machine's codename itself (not -updates or -security, not third-party suites), with the suite
# replaced. deb822 files (*.sources) and one-line files (sources.list, *.list) are both read.
debs_source_lines() {
    local suite=$1 codename f
    codename=$(debs_codename)
    [ -n "$codename" ] || { debs_log "cannot tell this machine's codename"; return 1; }
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # Stanzas are separated by blank lines; continuation lines (Signed-By with an inline key)
        # start with a space and are skipped: only a keyring path is carried over.
        awk -v codename="$codename" -v suite="$suite" '
            function flush(   i, n, s, hit, opts) {
                if (types ~ /(^| )deb( |$)/ && uris != "" && enabled != "no") {
                    n = split(suites, s, " ")
                    hit = 0
                    for (i = 1; i <= n; i++) if (s[i] == codename) hit = 1
                    if (hit) {
                        opts = ""
                        if (signed ~ /^\//) opts = " [signed-by=" signed "]"
                        n = split(uris, s, " ")
                        for (i = 1; i <= n; i++) print "deb" opts " " s[i] " " suite " " comps
                    }
                }
                types = uris = suites = comps = signed = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { next }
            {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "signed-by") signed = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [opts] URI SUITE COMPONENTS...
        awk -v codename="$codename" -v suite="$suite" '
            $1 != "deb" { next }
            {
                i = 2; opts = ""
                if ($2 ~ /^\[/) {
                    while (i <= NF) { opts = opts (opts == "" ? "" : " ") $i; if ($i ~ /\]$/) break; i++ }
                    i++
                }
                if ($(i + 1) != codename) next
                line = "deb" (opts == "" ? "" : " " opts) " " $i " " suite
                for (j = i + 2; j <= NF; j++) line = line " " $j
                print line
            }' "$f"
    done
}

# The private apt dir of SUITE (made on first use): sources.list, lists/, cache/.
debs_apt_dir() {
    local suite=$1 dir
    if [ -z "$DEBS_CACHE" ]; then
        debs_log "DEBS_CACHE is not set"
        return 1
    fi
    dir=$DEBS_CACHE/apt-$suite
    if [ ! -s "$dir/sources.list" ]; then
        mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" || return 1
        debs_source_lines "$suite" > "$dir/sources.list.tmp" || return 1
        if [ ! -s "$dir/sources.list.tmp" ]; then
            debs_log "no Debian entry for $(debs_codename) in /etc/apt/sources* to derive $suite from"
            rm -f "$dir/sources.list.tmp"
            return 1
        fi
        mv "$dir/sources.list.tmp" "$dir/sources.list"
    fi
    echo "$dir"
}

# apt-get / apt-cache with the private configuration of the suite whose dir is $1.
# Preferences are emptied too, so the machine's pinning does not pick versions here; the
# sandbox user is root because the private dirs are root's.
debs_apt() {
    local dir=$1 tool=$2
    shift 2
    "$tool" -q \
        -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null \
        -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" \
        -o Dir::Cache::Archives="$dir/cache/archives" \
        -o APT::Sandbox::User=root -o Acquire::Languages=none -o APT::Get::List-Cleanup=1 \
        "$@"
}

# apt-get update of SUITE's private lists (always; callers decide when).
debs_update() {
    local dir
    dir=$(debs_apt_dir "$1") || return 1
    debs_log "apt-get update for $1 (private lists in $dir)"
    debs_apt "$dir" apt-get update >&2
}

# The version SUITE offers for PKG, or nothing. Updates the lists once if there are none yet.
debs_candidate() {
    local suite=$1 pkg=$2 dir
    dir=$(debs_apt_dir "$suite") || return 1
    if ! compgen -G "$dir/lists/*_Packages*" >/dev/null; then
        debs_update "$suite" || return 1
    fi
    debs_apt "$dir" apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# The name of PKG_VERSION_ARCH.deb in dir, if there. apt-get download writes into the current
# dir and escapes ':' (epochs) as %3a.
debs_deb_file() {
    local f
    for f in "$1/${2}_${3//:/%3a}_"*.deb; do
        [ -e "$f" ] && { echo "${f##*/}"; return 0; }
    done
    return 0
}

# debs_fetch SUITE PKG DESTDIR: downloads PKG's candidate in SUITE and unpacks it into DESTDIR
# (dpkg -x: files only, no maintainer scripts). Skips everything when DESTDIR holds an unpacked
# tree already. DESTDIR/.debs-stamp records "PKG VERSION SUITE".
debs_fetch() {
    local suite=$1 pkg=$2 dest=$3 dir version deb tmp
    if [ -s "$dest/.debs-stamp" ]; then
        return 0
    fi
    [ -n "$DEBS_CACHE" ] || DEBS_CACHE=$(dirname "$dest")
    dir=$(debs_apt_dir "$suite") || return 1
    version=$(debs_candidate "$suite" "$pkg")
    if [ -z "$version" ]; then
        debs_update "$suite" || return 1
        version=$(debs_candidate "$suite" "$pkg")
    fi
    if [ -z "$version" ]; then
        debs_log "$suite has no package $pkg"
        return 1
    fi
    deb=$(debs_deb_file "$dir/debs" "$pkg" "$version")
    if [ -z "$deb" ]; then
        debs_log "downloading $pkg $version from $suite"
        if ! (cd "$dir/debs" && debs_apt "$dir" apt-get download "$pkg=$version" >&2); then
            # Stale lists (the archive moved on): refresh once and take the new candidate.
            debs_update "$suite" || return 1
            version=$(debs_candidate "$suite" "$pkg")
            [ -n "$version" ] || { debs_log "$suite has no package $pkg"; return 1; }
            (cd "$dir/debs" && debs_apt "$dir" apt-get download "$pkg=$version" >&2) || return 1
        fi
        deb=$(debs_deb_file "$dir/debs" "$pkg" "$version")
        [ -n "$deb" ] || { debs_log "apt-get download $pkg=$version left no .deb"; return 1; }
    fi
    tmp=$dest.tmp$$
    rm -rf "$tmp"
    mkdir -p "$tmp" || return 1
    if ! dpkg -x "$dir/debs/$deb" "$tmp"; then
        debs_log "dpkg -x $deb failed"
        rm -rf "$tmp"
        return 1
    fi
    echo "$pkg $version $suite" > "$tmp/.debs-stamp"
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    mv "$tmp" "$dest"
    debs_log "unpacked $pkg $version ($suite) into $dest"
}

# "PKG VERSION SUITE" of the tree debs_fetch unpacked into DESTDIR.
debs_version() {
    cat "$1/.debs-stamp" 2>/dev/null
}

# Installs Debian packages of the machine's own release whose programs are missing:
# debs_install_missing PROGRAM:PACKAGE...  (a PROGRAM with a / is tested as a path).
debs_install_missing() {
    local missing=() pair prog pkg
    for pair in "$@"; do
        prog=${pair%%:*}
        pkg=${pair#*:}
        case "$prog" in
            */*) [ -e "$prog" ] && continue ;;
            *) command -v "$prog" >/dev/null 2>&1 || [ -x "/usr/sbin/$prog" ] && continue ;;
        esac
        case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    debs_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2; then
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${missing[@]}" >&2
    fi
}

# debs_containerd TAG [CACHE]: prints a dir whose bin/ holds containerd, ctr and
# containerd-shim-runc-v2 of containerd TAG (1.6: this machine's package; 1.7: trixie's; 2.1:
# unstable's). Checks that the binary runs here and reports the wanted version; fails, naming
# what the suite has, when the suite moved on to another minor version.
debs_containerd() {
    local tag=$1 cache=${2:-$DEBS_CACHE} suite dir bin have
    [ -n "$cache" ] || { debs_log "debs_containerd: no cache dir (argument or DEBS_CACHE)"; return 1; }
    DEBS_CACHE=$cache
    dir=$cache/containerd-$tag
    case "$tag" in
        1.6)
            debs_install_missing containerd:containerd ctr:containerd runc:runc \
                /usr/bin/containerd-shim-runc-v2:containerd || return 1
            mkdir -p "$dir/bin" || return 1
            for bin in containerd ctr containerd-shim-runc-v2; do
                ln -sfn "/usr/bin/$bin" "$dir/bin/$bin"
            done
            ;;
        1.7 | 2.1)
            [ "$tag" = 1.7 ] && suite=trixie || suite=unstable
            debs_install_missing runc:runc || return 1
            if [ ! -s "$dir/pkg/.debs-stamp" ]; then
                have=$(debs_candidate "$suite" containerd)
                case "$have" in
                    "$tag".*) ;;
                    "") debs_log "$suite has no containerd package"; return 1 ;;
                    *) debs_log "$suite has containerd $have, not $tag.x"; return 1 ;;
                esac
            fi
            debs_fetch "$suite" containerd "$dir/pkg" || return 1
            mkdir -p "$dir/bin" || return 1
            for bin in containerd ctr containerd-shim-runc-v2; do
                if [ -x "$dir/pkg/usr/bin/$bin" ]; then
                    ln -sfn "../pkg/usr/bin/$bin" "$dir/bin/$bin"
                else
                    debs_log "containerd $tag from $suite has no $bin"
                fi
            done
            ;;
        *)
            debs_log "debs_containerd: unknown containerd version $tag (want 1.6, 1.7 or 2.1)"
            return 1
            ;;
    esac
    # "containerd github.com/containerd/containerd/v2 2.1.9+unknown ..." (1.x: "1.7.24~ds1 ...").
    have=$("$dir/bin/containerd" --version 2>&1) || {
        debs_log "$dir/bin/containerd does not run here: $have"
        return 1
    }
    case "$(echo "$have" | awk '{ print $3 }')" in
        "$tag".* | "v$tag".*) ;;
        *) debs_log "$dir/bin/containerd is not $tag: $have"; return 1 ;;
    esac
    echo "$dir"
}

# debs_cri_api [CACHE]: prints the path of the CRI v1 api.proto of golang-k8s-cri-api-dev
# (unstable, else trixie). Its version: debs_version "$CACHE/cri-api".
debs_cri_api() {
    local cache=${1:-$DEBS_CACHE} dest suite rel=usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto
    [ -n "$cache" ] || { debs_log "debs_cri_api: no cache dir (argument or DEBS_CACHE)"; return 1; }
    DEBS_CACHE=$cache
    dest=$cache/cri-api
    if [ ! -s "$dest/.debs-stamp" ]; then
        for suite in unstable trixie; do
            [ -n "$(debs_candidate "$suite" golang-k8s-cri-api-dev)" ] || continue
            debs_fetch "$suite" golang-k8s-cri-api-dev "$dest" || return 1
            break
        done
    fi
    if [ ! -f "$dest/$rel" ]; then
        debs_log "golang-k8s-cri-api-dev has no $rel (in $dest)"
        return 1
    fi
    echo "$dest/$rel"
}
