#!/bin/bash
# ttrpc interop between cocoon's C ttrpc and containerd's Go ttrpc 1.1.1, in both directions:
# the C client against the Go server, then the Go client against the C server.
#
#   run-go-interop.sh C_PEER INTEROP_SRCDIR BUILDDIR
#
# Builds the Go peer (build-go-peer.sh) into BUILDDIR/go, starts each server on a socket in a
# temporary folder, runs the opposite client and prints one TAP stream: every check of both
# clients, its name prefixed with the direction, then whether each server exited cleanly on
# SIGTERM. Servers and the temporary folder are always cleaned up.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 C_PEER INTEROP_SRCDIR BUILDDIR" >&2
    exit 2
fi
c_peer=$(realpath "$1")
srcdir=$(realpath "$2")
builddir=$3

# shellcheck source=lib-interop.sh
. "$srcdir/lib-interop.sh"
interop_init

if ! go_peer=$("$srcdir/build-go-peer.sh" "$srcdir" "$builddir/go" 2>"$interop_tmp/build.err"); then
    echo "1..1"
    echo "not ok 1 - build the Go ttrpc peer"
    comment_file "$interop_tmp/build.err"
    exit 1
fi

echo "# Go peer: $go_peer ($(go version 2>/dev/null || echo 'go version unknown'))"
echo "# Go ttrpc: $(dpkg-query -W -f='${Package} ${Version}' golang-github-containerd-ttrpc-dev 2>/dev/null || echo unknown)"
run_direction "C client -> Go server" c-to-go "$go_peer" "$c_peer"
run_direction "Go client -> C server" go-to-c "$c_peer" "$go_peer"
interop_finish
