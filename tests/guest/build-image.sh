#!/bin/bash
# Builds the test guest image: an uncompressed PVH vmlinux from Debian's kernel package and an
# initramfs with busybox, the kernel modules the guest needs, cocoon-test-agent and its
# libraries, /init (tests/guest/init) and a busybox rootfs for containers.
#
#   build-image.sh OUTDIR AGENT_BINARY
#
# OUTDIR gets vmlinux, initramfs.cpio.gz and guest-image.stamp. Re-runs only redo what changed:
# the kernel package is downloaded once per version (into $COCOON_KERNEL_CACHE, default
# OUTDIR/kernel-cache), and the initramfs is rebuilt when the agent, /init, this script or the
# kernel changed. Needs root only to install missing packages.
set -euo pipefail

usage() {
    echo "usage: $0 OUTDIR AGENT_BINARY" >&2
    exit 2
}
[ $# -eq 2 ] || usage
OUTDIR=$1
AGENT=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INIT=$HERE/init
UDHCPC=$HERE/udhcpc.sh
[ -x "$AGENT" ] || { echo "build-image: agent binary $AGENT is missing or not executable" >&2; exit 1; }
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
KCACHE=${COCOON_KERNEL_CACHE:-$OUTDIR/kernel-cache}

# The modules the guest loads, with everything they depend on added in front (see below):
# virtio over PCI, the console (virtio-serial agent channel), block, vsock, net, overlay.
MODULES="virtio_pci virtio_console virtio_blk vmw_vsock_virtio_transport virtio_net overlay"

log() { echo "build-image: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0=$(now)

# --- tools ------------------------------------------------------------------------------------
static_busybox() {
    [ -x /bin/busybox ] || return 1
    case $(LC_ALL=C ldd /bin/busybox 2>&1 || true) in
        *"not a dynamic executable"*) return 0 ;;
        *) return 1 ;;
    esac
}
need=()
static_busybox || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v python3 >/dev/null || need+=(python3)
command -v modinfo >/dev/null || need+=(kmod)
command -v gzip >/dev/null || need+=(gzip)
command -v apt-get >/dev/null || { log "needs apt-get (Debian)"; exit 1; }
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    install_pkgs() {
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o DPkg::Lock::Timeout=600 "${need[@]}" >&2
    }
    if ! install_pkgs; then
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2
        install_pkgs
    fi
fi

# --- kernel -----------------------------------------------------------------------------------
# The versioned package linux-image-amd64 points at, e.g. "linux-image-6.1.0-56-amd64 6.1.192-2".
# apt-cache takes about 2 s here, so the answer is kept for 12 hours (COCOON_KERNEL_REFRESH=1
# asks again).
resolve_kernel_pkg() {
    apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
        sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n1
}
mkdir -p "$KCACHE"
# Build dirs may share one kernel cache: one builder at a time touches it.
exec 9>"$KCACHE/.lock"
flock 9
RESOLVED=$KCACHE/resolved
KPKG=
KVER=
if [ "${COCOON_KERNEL_REFRESH:-0}" != 1 ] && [ -n "$(find "$RESOLVED" -mmin -720 2>/dev/null)" ]; then
    read -r KPKG KVER < "$RESOLVED" || true
fi
if [ -z "$KPKG" ] || [ -z "$KVER" ]; then
    r=$(resolve_kernel_pkg || true)
    if [ -z "$r" ]; then
        log "apt-cache does not know linux-image-amd64; running apt-get update"
        apt-get update -q -o DPkg::Lock::Timeout=600 >&2 || true
        r=$(resolve_kernel_pkg || true)
    fi
    if [ -n "$r" ]; then
        read -r KPKG KVER <<< "$r"
        echo "$r" > "$RESOLVED"
    fi
fi
if [ -z "$KPKG" ] || [ -z "$KVER" ]; then
    # Offline: fall back to the newest kernel already in the cache.
    last=$(find "$KCACHE" -maxdepth 1 -name 'linux-image-*.deb' -printf '%T@ %f\n' 2>/dev/null |
        sort -n | tail -n1 | cut -d' ' -f2)
    [ -n "$last" ] || { log "cannot resolve the kernel package and none is cached"; exit 1; }
    KPKG=${last%%_*}
    KVER=${last#*_}
    KVER=${KVER%_*}
    KVER=${KVER//%3a/:}
    log "offline: using cached $KPKG $KVER"
fi
KREL=${KPKG#linux-image-}              # 6.1.0-56-amd64
DEB=$KCACHE/${KPKG}_${KVER//:/%3a}_amd64.deb
if [ ! -s "$DEB" ]; then
    log "downloading $KPKG $KVER"
    (cd "$KCACHE" && apt-get download -q -o APT::Sandbox::User=root "$KPKG=$KVER" >&2)
    [ -s "$DEB" ] || { log "apt-get download did not produce $DEB"; exit 1; }
fi

# vmlinux and the module closure, extracted once per (package, module list).
KEY=$(printf '%s\n' "$KPKG" "$KVER" "$MODULES" | sha256sum | cut -c1-16)
KDIR=$KCACHE/extract-$KEY
if [ ! -s "$KDIR/vmlinux" ] || [ ! -s "$KDIR/modules/load-order" ]; then
    log "extracting vmlinux and modules from $(basename "$DEB")"
    rm -rf "$KDIR" "$KDIR.tmp"
    mkdir -p "$KDIR.tmp/root" "$KDIR.tmp/modules"
    dpkg-deb --fsys-tarfile "$DEB" |
        tar -x -C "$KDIR.tmp/root" --wildcards "./boot/vmlinuz-$KREL" "./lib/modules/$KREL/kernel/*"
    # The PVH vmlinux skips the XZ decompressor: about twice as fast to boot under TCG.
    python3 - "$KDIR.tmp/root/boot/vmlinuz-$KREL" "$KDIR.tmp/vmlinux" <<'EOF'
import lzma, sys
data = open(sys.argv[1], 'rb').read()
start = data.find(b'\xfd7zXZ\x00')
if start < 0:
    sys.exit('build-image: no XZ stream in ' + sys.argv[1])
out = lzma.LZMADecompressor().decompress(data[start:])
if out[:4] != b'\x7fELF':
    sys.exit('build-image: the decompressed kernel is not an ELF file')
open(sys.argv[2], 'wb').write(out)
EOF
    # Name -> .ko path (file names may use '-' where module names use '_').
    declare -A ko=()
    while IFS= read -r f; do
        n=$(basename "$f" .ko)
        ko[${n//-/_}]=$f
    done < <(find "$KDIR.tmp/root/lib/modules/$KREL/kernel" -name '*.ko')
    # Depth-first, dependencies first: an insmod order.
    declare -A seen=()
    order=()
    visit() {
        local m=$1 deps d
        [ -z "${seen[$m]:-}" ] || return 0
        seen[$m]=1
        [ -n "${ko[$m]:-}" ] || { log "module $m is not in $KPKG (built in?)"; return 1; }
        deps=$(modinfo -F depends "${ko[$m]}")
        for d in ${deps//,/ }; do
            visit "${d//-/_}"
        done
        order+=("$m")
    }
    for m in $MODULES; do
        visit "$m"
    done
    for m in "${order[@]}"; do
        cp "${ko[$m]}" "$KDIR.tmp/modules/$m.ko"
    done
    printf '%s\n' "${order[@]}" > "$KDIR.tmp/modules/load-order"
    rm -rf "$KDIR.tmp/root"
    mv "$KDIR.tmp" "$KDIR"
    # Older extracts of other kernels or module lists are not needed any more.
    find "$KCACHE" -maxdepth 1 -name 'extract-*' ! -name "extract-$KEY" -exec rm -rf {} +
fi

# --- initramfs --------------------------------------------------------------------------------
sum() { sha256sum "$@" | cut -d' ' -f1; }
STAMP=$OUTDIR/guest-image.stamp
WANT=$(printf '%s\n' "kernel=$KPKG $KVER" "modules=$(tr '\n' ' ' < "$KDIR/modules/load-order")" \
    "agent=$(sum "$AGENT")" "init=$(sum "$INIT")" "udhcpc=$(sum "$UDHCPC")" \
    "busybox=$(sum /bin/busybox)" "script=$(sum "${BASH_SOURCE[0]}")")

# A hard link to the cached vmlinux where the file system allows (66 MB saved), else a copy.
if ! cmp -s "$KDIR/vmlinux" "$OUTDIR/vmlinux" 2>/dev/null; then
    rm -f "$OUTDIR/vmlinux.tmp"
    ln "$KDIR/vmlinux" "$OUTDIR/vmlinux.tmp" 2>/dev/null || cp "$KDIR/vmlinux" "$OUTDIR/vmlinux.tmp"
    mv "$OUTDIR/vmlinux.tmp" "$OUTDIR/vmlinux"
fi

if [ -s "$OUTDIR/initramfs.cpio.gz" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    log "up to date"
else
    log "assembling the initramfs"
    WORK=$OUTDIR/initramfs.work
    rm -rf "$WORK"
    R=$WORK/root
    mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,lib/modules}
    chmod 1777 "$R/tmp"

    # busybox and its applets (symlinks made here: /init needs no --install).
    cp /bin/busybox "$R/bin/busybox"
    applets() {
        local root=$1 a
        while IFS= read -r a; do
            [ "$a" = bin/busybox ] && continue
            mkdir -p "$root/$(dirname "$a")"
            ln -sf /bin/busybox "$root/$a"
        done < <(/bin/busybox --list-full)
    }
    applets "$R"

    # The agent, every library it links, and the dynamic loader, at the paths ldd names.
    install -m 0755 "$AGENT" "$R/usr/bin/cocoon-test-agent"
    if command -v strip >/dev/null; then
        strip --strip-unneeded "$R/usr/bin/cocoon-test-agent"
    fi
    while IFS= read -r lib; do
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
    done < <(LC_ALL=C ldd "$AGENT" 2>/dev/null | grep -o '/[^ ]*' | sort -u || true)

    install -m 0755 "$INIT" "$R/init"
    install -m 0755 "$UDHCPC" "$R/etc/udhcpc.sh"
    cp "$KDIR"/modules/*.ko "$KDIR/modules/load-order" "$R/lib/modules/"

    # The busybox rootfs containers get when no image was pulled.
    users() {
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
            > "$1/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' > "$1/etc/group"
    }
    users "$R"
    C=$R/usr/share/cocoon-guest/rootfs
    mkdir -p "$C"/{bin,etc,proc,sys,dev,tmp,root}
    chmod 1777 "$C/tmp"
    ln "$R/bin/busybox" "$C/bin/busybox"    # a hard link: stored once in the archive
    applets "$C"
    users "$C"

    (cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
        cpio --quiet -o -H newc -R 0:0) | gzip -1 > "$OUTDIR/initramfs.cpio.gz.tmp"
    mv "$OUTDIR/initramfs.cpio.gz.tmp" "$OUTDIR/initramfs.cpio.gz"
    rm -rf "$WORK"
    printf '%s\n' "$WANT" > "$STAMP"
fi

# Outputs newer than their inputs, so that ninja does not run this again for nothing.
touch "$OUTDIR/vmlinux" "$OUTDIR/initramfs.cpio.gz"
size() { du -k --apparent-size "$1" | cut -f1; }
printf 'build-image: %s %s: vmlinux %s KiB, initramfs.cpio.gz %s KiB (%s s)\n' \
    "$KPKG" "$KVER" "$(size "$OUTDIR/vmlinux")" "$(size "$OUTDIR/initramfs.cpio.gz")" "$(elapsed "$T0")"
