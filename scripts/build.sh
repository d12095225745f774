#!/usr/bin/env bash
# Configure and build into DIR (default build/) with warnings as errors.
# Usage: scripts/build.sh [DIR] [extra cmake arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DPTBM_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
