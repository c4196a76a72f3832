#!/bin/bash
# Builds the Go ttrpc peer (tests/interop/go/src/cocoon-ttrpc-peer) with Debian's packaged
# containerd ttrpc 1.1.1, offline, in GOPATH mode. Used by run-go-interop.sh and by
# tests/bench/run-ttrpc-bench.sh.
#
#   build-go-peer.sh INTEROP_SRCDIR OUTDIR     prints the path of the built binary
#
# Installs golang-go and the Go library packages with apt-get when they are missing (CI runs
# on fresh Debian 12 machines as root, with Debian's package registry as the only network).
# The Go build cache lives in OUTDIR/gocache, so a second run reuses it and takes well under a
# second.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 INTEROP_SRCDIR OUTDIR" >&2
    exit 2
fi
srcdir=$(cd "$1" && pwd)
mkdir -p "$2"
outdir=$(cd "$2" && pwd)

packages=(golang-go golang-github-containerd-ttrpc-dev golang-github-gogo-protobuf-dev
          golang-google-grpc-dev golang-github-sirupsen-logrus-dev)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ] || ! command -v go >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "build-go-peer: missing ${missing[*]:-go}; install them (apt-get install -y ${packages[*]})" >&2
        exit 1
    fi
    echo "build-go-peer: installing ${missing[*]:-golang-go}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists yet: update only when the install fails.
    if ! apt-get install -y --no-install-recommends "${packages[@]}" >&2; then
        apt-get update >&2
        apt-get install -y --no-install-recommends "${packages[@]}" >&2
    fi
fi

# GOPATH mode: our package under OUTDIR/gopath/src, the libraries from /usr/share/gocode.
gopath="$outdir/gopath"
pkgdir="$gopath/src/cocoon-ttrpc-peer"
mkdir -p "$pkgdir"
for f in "$srcdir"/go/src/cocoon-ttrpc-peer/*.go; do
    cmp -s "$f" "$pkgdir/$(basename "$f")" || cp "$f" "$pkgdir/"
done
for f in "$pkgdir"/*.go; do
    [ -e "$srcdir/go/src/cocoon-ttrpc-peer/$(basename "$f")" ] || rm -f "$f"
done

bin="$outdir/cocoon-ttrpc-peer"
env GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$outdir/gocache" \
    GOFLAGS= GOPROXY=off GOENV=off CGO_ENABLED=0 \
    go build -o "$bin" cocoon-ttrpc-peer >&2
echo "$bin"
