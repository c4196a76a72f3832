#!/bin/bash
# The demo. For now cocoon's foundation (ttrpc, protocol definitions, TOML) is what exists, so
# this installs what is missing and builds; once the shim runs pods it will also start the
# daemons, build the test guest and run a container through cocoon.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_deps "${COCOON_BUILD_DEPS[@]}"
[ -d build ] || meson setup build
meson compile -C build
echo
echo "cocoon built in $(pwd)/build."
echo "Running a pod through cocoon arrives with the shim (containerd-shim-cocoon-v2)."
