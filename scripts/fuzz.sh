#!/usr/bin/env bash
# Fuzz the operation sequence (tests/reliability/fuzz_ops.c): configure a clang build in
# DIR (default build-fuzz/; ASan + UBSan, libFuzzer coverage on the library),
# build the fuzzer and run it for SECONDS (default 20) on the corpus kept in
# DIR/corpus; a failing input is saved in DIR/crashes/ and the script exits 1.
# Exits 77 (skip) without clang. Replay an input: DIR/tests/reliability/fuzz_ops FILE
# Usage: scripts/fuzz.sh [SECONDS [DIR]]  (longer runs: scripts/fuzz.sh 600)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
dir=${2:-build-fuzz}
if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (scripts/setup.sh installs it)" >&2
  exit 77
fi
cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DPTBM_SANITIZE=address \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzz_ops >/dev/null
mkdir -p "$dir/corpus" "$dir/crashes"
# libFuzzer exits 77 on a failing input by default, which ctest takes for
# "skipped": a failure must be one
exec "$dir/tests/reliability/fuzz_ops" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 \
  -artifact_prefix="$dir/crashes/" "$dir/corpus"
