#!/bin/bash
# A short real fuzzing run of one libFuzzer target (meson suite 'fuzz-run' of a -Dlibfuzzer=true
# build; scripts/test.sh runs it in build-fuzz):
#   scripts/fuzz-short.sh EXE CORPUS_DIR      FUZZ_SECONDS (default 20) says for how long.
# The seed corpus is only read: new inputs go to a scratch folder removed at the end. A finding
# fails the test and leaves its input in <dir of EXE>/artifacts/<target>/ (libFuzzer prints how
# to reproduce it: EXE FILE).
set -uo pipefail
exe=$1 corpus=$2
name=$(basename "$exe")
artifacts=$(dirname "$exe")/artifacts/$name
mkdir -p "$artifacts" || exit 1
scratch=$(mktemp -d) || exit 1
trap 'rm -rf "$scratch"' EXIT
args=(-max_total_time="${FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
    -artifact_prefix="$artifacts/")
dict=$(dirname "$corpus")/../${name#fuzz-}.dict # tests/fuzz/<target>.dict, if there is one
[ -f "$dict" ] && args+=(-dict="$dict")
"$exe" "${args[@]}" "$scratch" "$corpus"
