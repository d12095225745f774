#!/usr/bin/env bash
# PostgreSQL on PT-BM. Fetches PostgreSQL 15's source (Debian's source
# package, the version pinned below), applies the patch series in
# postgres/patches, and builds two servers from the same source with the same
# flags:
#   build/postgres/ptbm/   PT-BM PostgreSQL: its buffer table is the page table
#   build/postgres/stock/  stock PostgreSQL, the control
# Each is a normal install prefix (bin/, lib/, share/, with contrib's amcheck,
# pg_buffercache and pg_prewarm). The builds live in a cache outside the
# checkout ($PTBM_PG_CACHE, default /var/cache/ptbm-postgres), keyed by the
# source version, the build flags and (for PT-BM) the patches, and are reused
# while those are unchanged. Run as root on Debian 12: it installs what is
# missing, and builds and runs servers as the 'postgres' user.
#
# Usage: scripts/postgres.sh [build]          set up and build both servers
#        scripts/postgres.sh check [SUITE...] build, then run the suites on PT-BM
#                                             and on stock (the control); SUITE is
#                                             one of: regress regress-min isolation
#                                             recovery contrib ptbm (default: all)
#        scripts/postgres.sh start DIR        start a PT-BM server on DIR (initdb
#                                             first if DIR is empty or missing)
#        scripts/postgres.sh stop DIR         stop it
#        scripts/postgres.sh bench [--quick]  PT-BM against stock, workloads W1-W6
#                                             (postgres/bench/bench.py --help): a
#                                             report, charts and build/postgres/bench.json
#        scripts/postgres.sh devtree DIR      for developers: DIR becomes a git tree of
#                                             the source with one commit per patch
#        scripts/postgres.sh export DIR       regenerate postgres/patches from DIR's
#                                             commits (one patch per commit, in order)
# Environment: PTBM_PG_CACHE (the cache), PTBM_PG_JOBS (make -j, default nproc),
# PTBM_PG_STOCK=0 (check: skip the stock control suites).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pg_version=15.18
deb_version=15.18-0+deb12u1
cache=${PTBM_PG_CACHE:-/var/cache/ptbm-postgres}
jobs=${PTBM_PG_JOBS:-$(nproc)}
# The same flags for both servers. Bump recipe when the build steps change.
configure_flags=(--enable-tap-tests --enable-debug --without-icu)
contrib_modules=(amcheck pg_buffercache pg_prewarm)
recipe=1

say() { echo "postgres.sh: $*" >&2; }
die() { echo "postgres.sh: ERROR: $*" >&2; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }

setup() {
  [[ $(id -u) -eq 0 ]] || die "run as root (it installs packages and runs servers as 'postgres')"
  local pkgs=(build-essential dpkg-dev bzip2 perl libreadline-dev zlib1g-dev
              libipc-run-perl python3 gnuplot-nox strace) missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  if ! id postgres >/dev/null 2>&1; then
    say "creating the 'postgres' user (initdb refuses to run as root)"
    useradd --system --create-home --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  mkdir -p "$cache"
  chown postgres: "$cache"
}

# The pinned source tarball, fetched once into the cache.
fetch() {
  local dir=$cache/source tarball=$cache/source/postgresql-15_${pg_version}.orig.tar.bz2
  [[ -f $tarball ]] && return 0
  mkdir -p "$dir"
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ &&
     ! grep -qs '^deb-src .*bookworm' /etc/apt/sources.list; then
    say "adding a deb-src entry for Debian's sources"
    cat >/etc/apt/sources.list.d/ptbm-debian-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  apt-get update -qq
  say "fetching postgresql-15 $deb_version (source)"
  (cd "$dir" && apt-get source --download-only -qq "postgresql-15=$deb_version" >/dev/null 2>&1) ||
    die "Debian's source package postgresql-15 $deb_version is not available (apt-cache showsrc postgresql-15 lists the versions); the patch series is made for exactly this version"
  [[ -f $tarball ]] || die "the source package has no $tarball"
}

# Cache keys: what a build depends on.
patch_list() { grep -v '^\s*#' postgres/patches/series | grep -v '^\s*$'; }
stock_key() { printf '%s\n' "$deb_version" "${configure_flags[*]}" "${contrib_modules[*]}" "$recipe" | sha256sum | cut -c1-16; }
ptbm_key() {
  { stock_key; local p; for p in $(patch_list); do sha256sum "postgres/patches/$p"; done; } |
    sha256sum | cut -c1-16
}

# build KIND: build/postgres/KIND -> $cache/KIND-KEY/install
build_one() {
  local kind=$1 key dir
  key=$([[ $kind = ptbm ]] && ptbm_key || stock_key)
  dir=$cache/$kind-$key
  mkdir -p build/postgres
  if [[ -f $dir/.built ]]; then
    ln -sfn "$dir/install" "build/postgres/$kind"
    ln -sfn "$dir/src" "build/postgres/$kind-src"
    return 0
  fi
  # a new key: drop the old builds of this kind
  rm -rf "$cache/$kind"-*
  say "building $kind PostgreSQL $pg_version in $dir (a few minutes)"
  mkdir -p "$dir/src"
  tar -xjf "$cache/source/postgresql-15_${pg_version}.orig.tar.bz2" -C "$dir/src" --strip-components=1
  if [[ $kind = ptbm ]]; then
    local p out
    for p in $(patch_list); do
      out=$(patch -d "$dir/src" -p1 --fuzz=0 --no-backup-if-mismatch -f < "postgres/patches/$p" 2>&1) || {
        echo "$out" >&2; die "patch $p does not apply to PostgreSQL $pg_version"; }
      if grep -q -e 'offset' -e 'fuzz' <<<"$out"; then
        echo "$out" >&2; die "patch $p applies only with an offset: regenerate it"
      fi
    done
  fi
  chown -R postgres: "$dir"
  as_pg bash -c "cd '$dir/src' && ./configure --prefix='$dir/install' ${configure_flags[*]} >'$dir/configure.log' 2>&1" ||
    die "configure failed: $dir/configure.log"
  as_pg bash -c "cd '$dir/src' && make -j$jobs -s >'$dir/make.log' 2>&1 && make -s install >>'$dir/make.log' 2>&1" ||
    { tail -30 "$dir/make.log" >&2; die "make failed: $dir/make.log"; }
  local m
  for m in "${contrib_modules[@]}"; do
    as_pg bash -c "make -C '$dir/src/contrib/$m' -s install >>'$dir/make.log' 2>&1" ||
      { tail -30 "$dir/make.log" >&2; die "contrib/$m failed: $dir/make.log"; }
  done
  touch "$dir/.built"
  ln -sfn "$dir/install" "build/postgres/$kind"
  ln -sfn "$dir/src" "build/postgres/$kind-src"
}

build_all() {
  setup
  fetch
  build_one stock
  build_one ptbm
}

# ---- suites -----------------------------------------------------------------
passed=0 failed=0 failures=()
record() { # NAME STATUS
  if (($2 == 0)); then passed=$((passed + 1)); say "PASS $1"
  else failed=$((failed + 1)); failures+=("$1"); say "FAIL $1"; fi
}

# run_suite KIND SUITE: one of PostgreSQL's suites in KIND's build tree
run_suite() {
  local kind=$1 suite=$2 src log rc=0
  src=$(readlink -f "build/postgres/$kind-src")
  log=$root/build/postgres/logs/$kind-$suite.log
  mkdir -p "$(dirname "$log")"
  chown postgres: "$(dirname "$log")"
  local start=$SECONDS
  case $suite in
  regress) as_pg make -C "$src" -s check >"$log" 2>&1 || rc=$? ;;
  regress-min)
    # shared_buffers = 1MB (128 buffers): every query evicts. At the true
    # minimum (16) stock PostgreSQL fails too (postgres/README.md, Tests)
    printf 'shared_buffers = 1MB\n' >"$src/ptbm-min.conf"
    as_pg make -C "$src" -s check TEMP_CONFIG="$src/ptbm-min.conf" >"$log" 2>&1 || rc=$? ;;
  isolation) as_pg make -C "$src/src/test/isolation" -s check >"$log" 2>&1 || rc=$? ;;
  recovery) as_pg make -C "$src/src/test/recovery" -s check PROVE=prove >"$log" 2>&1 || rc=$? ;;
  contrib)
    local m
    for m in "${contrib_modules[@]}"; do
      as_pg make -C "$src/contrib/$m" -s check >>"$log" 2>&1 || rc=$?
    done ;;
  esac
  grep -E '^ *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests failed)|^(All tests successful|Result: |Files=)' "$log" |
    sed "s/^ */  $kind $suite: /" >&2 || true
  say "$kind $suite: $((SECONDS - start)) s, log $log"
  record "$kind $suite" $rc
}

# the project's PostgreSQL tests (postgres/tests; lib.sh is what they share)
ptbm_tests=(resident crash drop resize badinput folios runs)

run_ptbm_tests() {
  local t rc
  for t in "${ptbm_tests[@]}"; do
    t=postgres/tests/$t.sh
    [[ -f $t ]] || die "$t is missing"
    rc=0
    PGBIN=$root/build/postgres/ptbm/bin STOCKBIN=$root/build/postgres/stock/bin \
      bash "$t" >"build/postgres/logs/ptbm-$(basename "$t" .sh).log" 2>&1 || rc=$?
    if ((rc == 77)); then say "SKIP $t"; continue; fi
    tail -5 "build/postgres/logs/ptbm-$(basename "$t" .sh).log" | sed 's/^/  /' >&2
    record "ptbm $(basename "$t" .sh)" $rc
  done
}

check() {
  local suites=("$@")
  ((${#suites[@]})) || suites=(regress regress-min isolation recovery contrib ptbm)
  build_all
  mkdir -p build/postgres/logs
  chown postgres: build/postgres/logs
  local s
  for s in "${suites[@]}"; do
    case $s in
    regress | regress-min | isolation | recovery | contrib)
      run_suite ptbm "$s"
      [[ ${PTBM_PG_STOCK:-1} = 0 ]] || run_suite stock "$s" ;;
    ptbm) run_ptbm_tests ;;
    *) die "unknown suite $s (regress regress-min isolation recovery contrib ptbm)" ;;
    esac
  done
  ((failed == 0)) || say "failed: ${failures[*]}"
  echo "postgres: $passed passed, $failed failed"
  ((failed == 0))
}

# ---- a server for a user ------------------------------------------------------
start() {
  local dir=${1:?usage: scripts/postgres.sh start DIR}
  build_all
  mkdir -p "$dir"
  dir=$(readlink -f "$dir")
  chown postgres: "$dir"
  local bin=$root/build/postgres/ptbm/bin
  if [[ ! -f $dir/PG_VERSION ]]; then
    as_pg "$bin/initdb" -D "$dir" -U postgres >"$dir/../$(basename "$dir").initdb.log" 2>&1 ||
      die "initdb failed: $dir/../$(basename "$dir").initdb.log"
  fi
  as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
    -o "-k '$dir' -c listen_addresses=''" start >/dev/null ||
    { tail -20 "$dir/server.log" >&2; die "the server did not start: $dir/server.log"; }
  say "PT-BM PostgreSQL is running on $dir (socket there, log $dir/server.log)"
  echo "connect: $bin/psql -h $dir -U postgres postgres"
  echo "stop:    scripts/postgres.sh stop $dir"
}

stop() {
  local dir=${1:?usage: scripts/postgres.sh stop DIR}
  as_pg "$root/build/postgres/ptbm/bin/pg_ctl" -D "$(readlink -f "$dir")" -m fast -w stop
}

# ---- the series as git commits, for developers -----------------------------
devtree() {
  local dir=${1:?usage: scripts/postgres.sh devtree DIR}
  setup
  fetch
  [[ ! -e $dir ]] || die "$dir exists"
  mkdir -p "$dir"
  tar -xjf "$cache/source/postgresql-15_${pg_version}.orig.tar.bz2" -C "$dir" --strip-components=1
  git -C "$dir" init -q
  git -C "$dir" add -A
  git -C "$dir" commit -q -m "PostgreSQL $pg_version (Debian's postgresql-15 $deb_version)"
  git -C "$dir" tag ptbm-base
  local p
  for p in $(patch_list); do
    git -C "$dir" am -q --committer-date-is-author-date "$root/postgres/patches/$p" ||
      die "git am $p failed in $dir"
  done
  say "$dir: the series as $(patch_list | wc -l) commits on tag ptbm-base; edit, commit (git commit --fixup, rebase), then scripts/postgres.sh export $dir"
}

export_series() {
  local dir=${1:?usage: scripts/postgres.sh export DIR}
  local out names=() n=0 f name
  mapfile -t names < <(patch_list)
  out=$(mktemp -d)
  git -C "$dir" format-patch -q --zero-commit --no-signature --no-stat ptbm-base..HEAD -o "$out"
  rm -f postgres/patches/*.patch
  for f in "$out"/*.patch; do
    name=${names[$n]:-$(basename "$f")}
    # no Date: line, so that unchanged patches stay byte for byte the same
    sed '/^Date: /d' "$f" >"postgres/patches/$name"
    ((n < ${#names[@]})) || echo "$name" >>postgres/patches/series
    n=$((n + 1))
  done
  rm -rf "$out"
  ((n >= ${#names[@]})) || die "$dir has $n commits, the series ${#names[@]}: fix postgres/patches/series"
  say "exported $n patches into postgres/patches"
}

main() {
  local cmd=${1:-build}
  (($#)) && shift
  case $cmd in
  build) build_all; say "built: build/postgres/ptbm (PT-BM) and build/postgres/stock" ;;
  check) check "$@" ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  bench) build_all; /usr/bin/python3 postgres/bench/bench.py "$@" ;;
  devtree) devtree "$@" ;;
  export) export_series "$@" ;;
  -h | --help) sed -n '2,32p' "$0" ;;
  *) die "unknown command $cmd (build, check, start DIR, stop DIR, bench, devtree DIR, export DIR)" ;;
  esac
}
# one line: bash has read all of it before it runs, so the script can be
# edited while a long check runs
main "$@"; exit $?
