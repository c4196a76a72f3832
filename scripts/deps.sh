# shellcheck shell=bash disable=SC2034
# Sourced by the scripts: installs the Debian 12 packages cocoon needs, if any is missing.
# Usage: install_deps PKG...   (the lists below are the common sets)

COCOON_BUILD_DEPS=(meson ninja-build pkg-config gcc libprotobuf-c-dev protobuf-c-compiler
    libjansson-dev uuid-dev libssl-dev check libvirt-dev libxml2-dev zlib1g-dev libxml2-utils
    busybox-static clang-format)
# libFuzzer (clang's fuzzer and sanitizer runtimes) for the short fuzzing runs (tests/fuzz).
COCOON_FUZZ_DEPS=(clang libclang-rt-14-dev)
# valgrind's memcheck over the unit tests (meson test --setup valgrind).
COCOON_VALGRIND_DEPS=(valgrind)
# Real ttrpc peers for the interop tests and benchmarks (Go's containerd/ttrpc).
COCOON_INTEROP_DEPS=(golang-go golang-github-containerd-ttrpc-dev golang-github-gogo-protobuf-dev)

install_deps() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "cocoon: missing packages: ${missing[*]} (run as root to install them)" >&2
        return 1
    fi
    echo "cocoon: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
}
