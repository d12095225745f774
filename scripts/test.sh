#!/usr/bin/env bash
# Set up, build and run the test suite: the release build first, then
# (with --sanitizers, as CI does) the same suite under ASan+UBSan and TSan;
# last, PostgreSQL on PT-BM (scripts/postgres.sh check: PostgreSQL's suites
# on the patched server and on stock, and postgres/tests).
# Usage: scripts/test.sh [--sanitizers] [ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizers=0
if [[ "${1:-}" == "--sanitizers" ]]; then sanitizers=1; shift; fi
scripts/setup.sh --pg
status=0
run() { # DIR, then ctest arguments
  local dir=$1; shift
  echo "== tests: $dir" >&2
  (cd "$dir" && ctest --output-on-failure --timeout 300 "$@") || status=1
}
scripts/build.sh build
run build "$@"
if ((sanitizers)); then
  # shorter stress phases: the instrumented code runs several times slower
  export PTBM_STRESS_SECONDS=2 PTBM_KILL_ROUNDS=6
  scripts/build.sh build-asan -DPTBM_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run build-asan -LE bench "$@"
  scripts/build.sh build-tsan -DPTBM_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run build-tsan -LE 'bench|probe' "$@"
fi
# PostgreSQL on PT-BM: PostgreSQL's own suites on the patched server and on
# stock (the control), and the project's PostgreSQL tests (postgres/tests)
echo "== tests: PostgreSQL on PT-BM" >&2
scripts/postgres.sh check || status=1
exit $status
