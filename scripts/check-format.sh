#!/bin/bash
# Checks that every C file of the project follows .clang-format (the meson test `format`).
# Usage: check-format.sh [SOURCE_DIR]. Prints each file that differs, with clang-format's diff
# hints, and exits 1 if any does; `clang-format -i FILE` fixes one.
set -uo pipefail
cd "${1:-$(dirname "$0")/..}" || exit 1
if ! command -v clang-format >/dev/null 2>&1; then
    echo "check-format: clang-format is not installed (apt-get install clang-format)" >&2
    exit 1
fi
bad=0 n=0
while IFS= read -r -d '' f; do
    n=$((n + 1))
    if ! clang-format --dry-run --Werror "$f" 2>/dev/null; then
        echo "not formatted: $f (clang-format -i $f)"
        clang-format --dry-run "$f" 2>&1 | head -n 12
        bad=$((bad + 1))
    fi
done < <(find annotations cmd lib node shim ttrpc vmm tests -name '*.[ch]' -print0 | sort -z)
echo "check-format: $n files, $bad not formatted"
[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
