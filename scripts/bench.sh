#!/usr/bin/env bash
# The main job on embedded defaults: set up, build, run `ptbm bench`.
# Extra arguments go to ptbm bench (see build/tools/ptbm bench --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/tools/ptbm bench "$@"
