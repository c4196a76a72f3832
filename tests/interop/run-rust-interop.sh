#!/bin/bash
# ttrpc interop between cocoon's C ttrpc and the Rust ttrpc crate 0.5.2 (Debian's
# librust-ttrpc-dev; async server and client, the flavour the kata-agent uses), in both
# directions, with the same checks as run-go-interop.sh.
#
#   run-rust-interop.sh C_PEER INTEROP_SRCDIR BUILDDIR
#
# Skips (TAP "1..0 # SKIP") when the Rust peer cannot be built here. Checks where ttrpc-rust
# 0.5.2 itself departs from Go's ttrpc (which containerd and the C library follow) are marked
# TODO with the reason, so they show up without failing the test.
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

rc=0
rust_peer=$("$srcdir/build-rust-peer.sh" "$srcdir" "$builddir/rust" 2>"$interop_tmp/build.err") || rc=$?
if [ "$rc" -eq 77 ]; then
    echo "1..0 # SKIP the Rust ttrpc peer cannot be built here: $(tail -n1 "$interop_tmp/build.err")"
    exit 0
elif [ "$rc" -ne 0 ]; then
    echo "1..1"
    echo "not ok 1 - build the Rust ttrpc peer"
    comment_file "$interop_tmp/build.err"
    exit 1
fi

# Known behaviour of ttrpc-rust 0.5.2's async server (src/asynchronous/server.rs, stream.rs):
interop_todo='C client -> Rust server: unknown service / method|ttrpc-rust 0.5.2 answers INVALID_ARGUMENT "/<service>/<method> does not exist", not UNIMPLEMENTED
C client -> Rust server: raw oversized request frame|ttrpc-rust 0.5.2 drops the connection on a frame over 4 MiB instead of answering on its stream'

echo "# Rust peer: $rust_peer (ttrpc $(dpkg-query -W -f='${Version}' librust-ttrpc-dev 2>/dev/null || echo '?'), $(/usr/bin/rustc --version 2>/dev/null || echo 'rustc ?'))"
run_direction "C client -> Rust server" c-to-rust "$rust_peer" "$c_peer"
run_direction "Rust client -> C server" rust-to-c "$c_peer" "$rust_peer"
interop_finish
