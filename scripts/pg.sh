#!/usr/bin/env bash
# The PostgreSQL extension (ext/postgresql): install PostgreSQL 15, build the
# library and the extension, install it, and test it on temporary clusters
# (initdb + pg_ctl, Unix socket only, stopped and removed at the end).
#
# Usage: scripts/pg.sh [--test-only] [--bench | --bench-only] [--build DIR] [--keep]
#   (default)     scripts/setup.sh --pg, scripts/build.sh DIR, then test
#   --test-only   no set-up and no library build (CTest's pg_regress):
#                 exit 77 (skip) if PostgreSQL, its PGXS or DIR's library
#                 is missing, or the extension cannot be installed
#   --bench       after the tests, the pgbench measurements (README.md)
#   --bench-only  the measurements without the tests
#   --build DIR   the project's CMake build dir (default: build, or $PTBM_BUILD)
#   --keep        keep the temporary directory (clusters, logs, diffs)
# Environment for --bench: PTBM_BENCH_PAGES (default 131072 = 1 GiB),
# PTBM_BENCH_CALLS (calls per client per pgbench run, default 20),
# PTBM_BENCH_ROUNDS (default 5), PTBM_BENCH_N (lookups per call, default
# 100000), PTBM_BENCH_CLIENTS (default "1 2").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

test_only=0 bench=0 tests=1 keep=0
build=${PTBM_BUILD:-build}
while (($#)); do
  case $1 in
  --test-only) test_only=1 ;;
  --bench) bench=1 ;;
  --bench-only) bench=1 tests=0 ;;
  --build) build=$2; shift ;;
  --keep) keep=1 ;;
  -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
  *) echo "pg.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $build = /* ]] || build=$root/$build

skip() { echo "pg.sh: SKIP: $*" >&2; exit 77; }
die() { echo "pg.sh: FAIL: $*" >&2; exit 1; }

if ((test_only)); then
  command -v pg_config >/dev/null || skip "pg_config not found (scripts/setup.sh --pg installs PostgreSQL 15)"
  [[ -f $(pg_config --pgxs) ]] || skip "PGXS missing (postgresql-server-dev-15)"
  [[ -f $build/src/libptbm.a ]] || skip "$build/src/libptbm.a not built"
else
  scripts/setup.sh --pg
  scripts/build.sh "${build#"$root"/}"
fi
bindir=$(pg_config --bindir)
[[ -x $bindir/initdb && -x $bindir/postgres ]] || skip "the PostgreSQL server is not installed in $bindir"
pg_regress=$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress
[[ -x $pg_regress ]] || skip "pg_regress not found at $pg_regress"
if [[ ! -w $(pg_config --pkglibdir) ]]; then
  skip "cannot install into $(pg_config --pkglibdir): run as root"
fi

# Build (out of tree, in the library's build dir) and install the extension.
objdir=$build/ext-postgresql
mkdir -p "$objdir"
make -s -C "$objdir" -f "$root/ext/postgresql/Makefile" PTBM_BUILD="$build" >/dev/null
make -s -C "$objdir" -f "$root/ext/postgresql/Makefile" PTBM_BUILD="$build" install >/dev/null

# ---- temporary clusters ----------------------------------------------------
tmp=$(mktemp -d /tmp/ptbm-pg.XXXXXX)
chmod 755 "$tmp"
as_pg=()
pguser=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || skip "no postgres user to run the server as"
  as_pg=(runuser -u postgres --)
  pguser=postgres
fi
sock=$tmp/sock # the servers' Unix socket directory: no TCP at all
mkdir -p "$sock" && chown "$pguser" "$sock"
port=$((20000 + RANDOM % 20000))
clusters=()

cleanup() {
  local d
  for d in "${clusters[@]}"; do
    [[ -f $d/postmaster.pid ]] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1 || true
    [[ -f $d/postmaster.pid ]] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  if ((keep)); then echo "pg.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# new_cluster NAME [postgresql.conf lines...]: initdb into $tmp/NAME
new_cluster() {
  local d=$tmp/$1; shift
  mkdir -p "$d" && chown "$pguser" "$d" && chmod 700 "$d"
  "${as_pg[@]}" "$bindir/initdb" -D "$d" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$tmp/initdb.log" 2>&1 ||
    { cat "$tmp/initdb.log" >&2; die "initdb failed"; }
  {
    echo "listen_addresses = ''"
    echo "unix_socket_directories = '$sock'"
    echo "port = $port"
    echo "fsync = off"
    echo "max_connections = 20"
    local line
    for line in "$@"; do echo "$line"; done
  } >>"$d/postgresql.conf"
  clusters+=("$d")
}
start() { # NAME [extra postgres options]
  local d=$tmp/$1; shift
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$d" -l "$d/server.log" -w -t 60 ${1:+-o "$*"} start >/dev/null ||
    { tail -20 "$d/server.log" >&2; die "cluster $(basename "$d") did not start"; }
}
stop() { "${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/$1" -m "${2:-fast}" -w stop >/dev/null; }
q() { "$bindir/psql" -h "$sock" -p "$port" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
wait_ready() { # after a crash: until the server takes queries again
  local i
  for ((i = 0; i < 120; i++)); do
    q "select 1" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "server did not come back after the crash"
}
crash_backend() { # SQL SECONDS: run SQL in a new backend, SIGKILL it after SECONDS
  local sql=$1 after=$2 client victim="" i
  "$bindir/psql" -h "$sock" -p "$port" -U postgres -d postgres -XAtq -c "$sql" >/dev/null 2>&1 &
  client=$!
  for ((i = 0; i < 100; i++)); do
    sleep 0.1
    victim=$(q "select pid from pg_stat_activity where query = '${sql//\'/\'\'}' and pid <> pg_backend_pid()")
    [[ -n $victim ]] && break
  done
  [[ -n $victim ]] || die "no backend running '$sql' to kill"
  sleep "$after"
  kill -9 "$victim"
  wait "$client" 2>/dev/null || true
}
regress() { # NAME TESTS...: pg_regress against the running cluster
  local name=$1; shift
  mkdir -p "$tmp/$name"
  "$pg_regress" --inputdir="$root/ext/postgresql" --outputdir="$tmp/$name" --bindir="$bindir" \
    --host="$sock" --port="$port" --user=postgres --dbname=ptbm_regression "$@" ||
    { cat "$tmp/$name/regression.diffs" >&2 2>/dev/null || true; return 1; }
}

status=0
check() { # DESCRIPTION EXPECTED ACTUAL
  if [[ $2 == "$3" ]]; then
    echo "ok - $1"
  else
    echo "not ok - $1: expected '$2', got '$3'"
    status=1
  fi
}

preload=("shared_preload_libraries = 'ptbm'" "ptbm.pool_size = '16MB'" "ptbm.max_pages = 65536")

if ((tests)); then
  # 1. pg_regress with the extension preloaded.
  new_cluster main "${preload[@]}"
  start main
  regress preloaded ptbm_basic ptbm_errors ptbm_guc ptbm_bench || status=1

  # 2. Persistence: a clean shutdown flushes the pool.
  q "create extension ptbm" >/dev/null
  q "select ptbm_bench_setup(512)" >/dev/null
  page=$(q "select ptbm_alloc()")
  q "select ptbm_write($page, 0, '\\x5eed'::bytea)" >/dev/null
  stop main fast
  start main
  check "clean shutdown flushes the pool" '\x5eed' "$(q "select ptbm_read($page, 0, 2)")"

  # 3. Crash restart, nobody inside ptbm: the pool is kept (nothing lost).
  q "select ptbm_write($page, 0, '\\xaa'::bytea); select ptbm_flush(); select ptbm_write($page, 0, '\\xbb'::bytea)" >/dev/null
  crash_backend "select pg_sleep(60)" 0
  wait_ready
  check "crash outside ptbm: unflushed page kept" '\xbb' "$(q "select ptbm_read($page, 0, 1)")"
  check "crash outside ptbm: pool kept" 1 "$(q "select value from ptbm_stats() where name = 'crash_resets_kept'")"
  check "crash outside ptbm: pool opened once" 1 "$(q "select value from ptbm_stats() where name = 'pool_opens'")"

  # 4. Crash restart with a backend inside ptbm: the pool is reopened from
  #    the data file; the flushed value survives, the unflushed one is lost.
  q "select ptbm_bench_setup(512); select ptbm_write($page, 0, '\\xcc'::bytea); select ptbm_flush(); select ptbm_write($page, 0, '\\xdd'::bytea)" >/dev/null
  crash_backend "select ptbm_bench_ptbm(2000000000)" 1 # past the warm-up: inside ptbm nearly always
  wait_ready
  check "crash inside ptbm: flushed page survives, unflushed lost" '\xcc' "$(q "select ptbm_read($page, 0, 1)")"
  check "crash inside ptbm: pool opened again" 2 "$(q "select value from ptbm_stats() where name = 'pool_opens'")"
  grep -q "died inside a ptbm call" "$tmp/main/server.log" ||
    { echo "not ok - server log names the crash inside ptbm"; status=1; }
  stop main fast

  # 5. Bad settings: the server refuses to start and says why.
  bad_start() { # DESCRIPTION PATTERN postgres-options...
    local desc=$1 pattern=$2; shift 2
    local out
    out=$(timeout 60 "${as_pg[@]}" "$bindir/postgres" -D "$tmp/main" "$@" 2>&1) && {
      echo "not ok - $desc: the server started"; status=1; return; }
    if grep -q -- "$pattern" <<<"$out"; then echo "ok - $desc"; else
      echo "not ok - $desc: no '$pattern' in: $out"; status=1; fi
  }
  bad_start "pool_size below 64 pages" 'FATAL:  100 kB is outside the valid range for parameter "ptbm.pool_size"' -c ptbm.pool_size=100kB
  bad_start "pool_size not a size" 'FATAL:  invalid value for parameter "ptbm.pool_size"' -c ptbm.pool_size=lots
  bad_start "max_pages zero" 'FATAL:  0 is outside the valid range for parameter "ptbm.max_pages"' -c ptbm.max_pages=0
  bad_start "empty data_file" 'FATAL:  invalid value for parameter "ptbm.data_file"' -c ptbm.data_file=
  bad_start "populate not a boolean" 'FATAL:  parameter "ptbm.populate" requires a Boolean value' -c ptbm.populate=sometimes
  bad_start "data_file in a missing directory" 'FATAL:  ptbm: could not open the pool over data file "/nonexistent/dir/ptbm.data"' -c ptbm.data_file=/nonexistent/dir/ptbm.data
  bad_start "max_pages below the file's pages" 'FATAL:  ptbm: could not open the pool over data file "ptbm.data": invalid configuration' -c ptbm.max_pages=64
  start main # and the good settings still work
  check "server starts again with good settings" 1 "$(q "select value from ptbm_stats() where name = 'pool_opens'")"
  stop main fast

  # 6. Without shared_preload_libraries: every function says what to do.
  new_cluster plain
  start plain
  regress plain ptbm_nopreload || status=1
  stop plain fast
fi

# ---- measurements --------------------------------------------------------
if ((bench)); then
  pages=${PTBM_BENCH_PAGES:-131072}
  calls=${PTBM_BENCH_CALLS:-20}
  rounds=${PTBM_BENCH_ROUNDS:-5}
  n=${PTBM_BENCH_N:-100000}
  clients=${PTBM_BENCH_CLIENTS:-"1 2"}
  mb=$((pages * 8 / 1024))
  new_cluster bench "shared_preload_libraries = 'ptbm'" "shared_buffers = '$((mb + mb / 4 + 64))MB'" \
    "ptbm.pool_size = '$((mb + mb / 8 + 16))MB'" "ptbm.max_pages = $((pages * 2))" \
    "max_wal_size = '4GB'" "autovacuum = off"
  start bench
  echo "== bench: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
  echo "== bench: $pages pages of 8 KiB ($mb MiB) in both pools; n = $n lookups per call, $calls calls per client per run"
  # one 7000-byte row per block, stored inline: the table has exactly $pages blocks
  q "create extension ptbm;
     create unlogged table ptbm_bench_t (id int, pad text);
     alter table ptbm_bench_t alter column pad set storage plain;
     insert into ptbm_bench_t select g, repeat('x', 7000) from generate_series(1, $pages) g;" >/dev/null
  q "select ptbm_bench_setup($pages)" >/dev/null
  q "select ptbm_flush()" >/dev/null
  echo "table blocks: $(q "select pg_relation_size('ptbm_bench_t') / 8192"), ptbm pages: $pages"
  q "select * from ptbm_bench_fill_pg('ptbm_bench_t')" >/dev/null # load it into shared_buffers
  q "select * from ptbm_bench_fill_ptbm()" >/dev/null
  scripts=$root/ext/postgresql/bench
  pgb=("$bindir/pgbench" -h "$sock" -p "$port" -U postgres -n -M prepared -t "$calls" -D "n=$n")
  run_one() { # KIND SCRIPT CLIENTS: one pgbench run; appends "kind clients ns calls" to $tmp/runs
    local out
    q "select ptbm_bench_results(true)" >/dev/null
    out=$("${pgb[@]}" -c "$3" -j "$3" -f "$scripts/$2" postgres 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
    q "select format('%s %s %s %s', kind, $3, round(ns_per_lookup::numeric, 1), calls)
       from ptbm_bench_results(false) where kind = '$1'" | tee -a "$tmp/runs"
  }
  echo "-- lookups: ${pgb[*]##*/} -c C -j C -f ext/postgresql/bench/SCRIPT postgres"
  echo "-- ($rounds rounds; each round runs every kind and client count once, side by side)"
  echo "kind clients ns_per_lookup calls"
  for ((r = 1; r <= rounds; r++)); do
    for c in $clients; do
      run_one pg/pin pg_pin.sql "$c"
      run_one ptbm/fix ptbm_fix.sql "$c"
      run_one pg/touch pg_touch.sql "$c"
      run_one ptbm/touch ptbm_touch.sql "$c"
      run_one ptbm/optimistic ptbm_optimistic.sql "$c"
    done
  done
  echo "-- summary: ns per lookup (median and best of $rounds runs), lookups/s over all clients at the median"
  sort -k1,1 -k2,2n -k3,3n "$tmp/runs" | awk '
    { key = $1 " " $2; v[key, ++n[key]] = $3; if (!(key in seen)) { seen[key] = 1; order[++k] = key } }
    END {
      for (i = 1; i <= k; i++) {
        key = order[i]; split(key, kc, " "); m = n[key]
        med = (m % 2) ? v[key, (m + 1) / 2] : (v[key, m / 2] + v[key, m / 2 + 1]) / 2
        printf "%-16s clients=%s  median=%7.1f ns  best=%7.1f ns  %6.2f M lookups/s\n", kc[1], kc[2], med, v[key, 1], kc[2] * 1000 / med
        M[key] = med; C[kc[2]] = 1
      }
      for (c = 1; c <= 64; c++) if (c in C) {
        printf "ratios, clients=%s (medians): pg/pin : ptbm/fix = %.1f   pg/touch : ptbm/touch = %.1f   pg/touch : ptbm/optimistic = %.1f\n", c,
          M["pg/pin " c] / M["ptbm/fix " c], M["pg/touch " c] / M["ptbm/touch " c], M["pg/touch " c] / M["ptbm/optimistic " c]
      }
    }'
  echo "-- page-table fill of a fresh backend (3 backends each; psql -c per backend)"
  for i in 1 2 3; do
    q "select format('pg    pages=%s minflt=%s majflt=%s cold=%s ns/page warm=%s ns/page', pages, minor_faults, major_faults, round(cold_ns_per_page::numeric), round(warm_ns_per_page::numeric)) from ptbm_bench_fill_pg('ptbm_bench_t')"
    q "select format('ptbm  pages=%s minflt=%s majflt=%s cold=%s ns/page warm=%s ns/page', pages, minor_faults, major_faults, round(cold_ns_per_page::numeric), round(warm_ns_per_page::numeric)) from ptbm_bench_fill_ptbm()"
  done
  q "select string_agg(name || '=' || value, ' ') from ptbm_stats()"
  echo "== load average $(cut -d' ' -f1-3 /proc/loadavg) at the end of the lookups and fills"
  stop bench fast
  echo "-- the same for ptbm with ptbm.populate = off (hardware faults instead of MADV_POPULATE_WRITE)"
  start bench "-c ptbm.populate=off"
  q "select ptbm_bench_setup($pages)" >/dev/null
  q "select * from ptbm_bench_fill_ptbm()" >/dev/null # resident again, loaded by another backend
  for i in 1 2 3; do
    q "select format('ptbm  populate=off pages=%s minflt=%s majflt=%s cold=%s ns/page warm=%s ns/page', pages, minor_faults, major_faults, round(cold_ns_per_page::numeric), round(warm_ns_per_page::numeric)) from ptbm_bench_fill_ptbm()"
  done
  stop bench fast
fi

if ((tests)); then
  if ((status)); then echo "pg.sh: FAILED" >&2; else echo "pg.sh: all PostgreSQL tests passed" >&2; fi
fi
exit $status
