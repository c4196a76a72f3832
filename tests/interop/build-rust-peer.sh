#!/bin/bash
# Builds the Rust ttrpc peer (tests/interop/rust) against Debian's ttrpc crate 0.5.2, offline,
# from /usr/share/cargo/registry. The crate is copied to OUTDIR/crate so that Cargo.lock and
# target/ stay out of the source tree; OUTDIR/target is kept, so a second run is quick.
#
#   build-rust-peer.sh INTEROP_SRCDIR OUTDIR     prints the path of the built binary
#
# Exits 77 when the toolchain or the crates are missing and cannot be installed (not root),
# 1 when the build fails. Installs Debian's cargo and the librust-*-dev packages with apt-get
# when missing; Debian's cargo (/usr/bin/cargo) is used even if another one is on PATH, since
# the packaged crates are made for it.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 INTEROP_SRCDIR OUTDIR" >&2
    exit 2
fi
srcdir=$(cd "$1" && pwd)
mkdir -p "$2"
outdir=$(cd "$2" && pwd)

cargo=/usr/bin/cargo
# Real package names to check; the feature packages are virtual ones librust-tokio-dev provides.
check_packages=(cargo librust-ttrpc-dev librust-async-trait-dev librust-protobuf-dev librust-tokio-dev)
install_packages=(cargo librust-ttrpc-dev librust-async-trait-dev librust-protobuf-dev
                  librust-tokio-dev 'librust-tokio+rt-multi-thread-dev' 'librust-tokio+macros-dev'
                  'librust-tokio+net-dev' 'librust-tokio+time-dev' 'librust-tokio+signal-dev'
                  'librust-tokio+sync-dev')
missing=()
for p in "${check_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ ! -x "$cargo" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "build-rust-peer: missing ${missing[*]}; not root, cannot install" >&2
        exit 77
    fi
    echo "build-rust-peer: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${install_packages[@]}" >&2; then
        apt-get update >&2 || true
        apt-get install -y --no-install-recommends "${install_packages[@]}" >&2 || exit 77
    fi
fi

crate="$outdir/crate"
mkdir -p "$crate/src" "$crate/.cargo"
for f in Cargo.toml src/main.rs; do
    cmp -s "$srcdir/rust/$f" "$crate/$f" || cp "$srcdir/rust/$f" "$crate/$f"
done
config='[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "/usr/share/cargo/registry"

[net]
offline = true'
[ "$(cat "$crate/.cargo/config.toml" 2>/dev/null)" = "$config" ] ||
    printf '%s\n' "$config" >"$crate/.cargo/config.toml"

(cd "$crate" && env CARGO_HOME="$outdir/cargo-home" CARGO_TARGET_DIR="$outdir/target" \
    RUSTFLAGS= "$cargo" build --offline --quiet) >&2
echo "$outdir/target/debug/cocoon-ttrpc-rust-peer"
