# lib.sh - what the PT-BM PostgreSQL tests share (sourced, not run).
#
# Each test starts throw-away servers as the 'postgres' user on Unix sockets
# in a temporary directory (no TCP), and stops and removes them on exit.
# PGBIN (PT-BM) and STOCKBIN (stock) name the servers' bin/ directories;
# scripts/postgres.sh check sets both. Exit codes: 0 pass, 1 fail, 77 skip.

set -euo pipefail

: "${PGBIN:?PGBIN must name the bin directory of the PT-BM server}"
STOCKBIN=${STOCKBIN:-}
T_DIR=$(mktemp -d /tmp/ptbm-pgtest.XXXXXX)
chown postgres: "$T_DIR"
T_SERVERS=()
T_FAILS=0
T_CHECKS=0

t_cleanup() {
  local d
  for d in "${T_SERVERS[@]}"; do
    [[ -f $d/postmaster.pid ]] &&
      runuser -u postgres -- "$(cat "$d/.bin")/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1
  done
  [[ ${T_KEEP:-0} = 1 ]] && { echo "kept $T_DIR"; return; }
  rm -rf "$T_DIR"
}
trap t_cleanup EXIT

say() { echo "# $*"; }
fail() { echo "FAIL: $*"; T_FAILS=$((T_FAILS + 1)); }
# check COND-DESCRIPTION: a test's assertion, counted
check() { # check "description" command...
  local what=$1; shift
  T_CHECKS=$((T_CHECKS + 1))
  if "$@"; then echo "ok - $what"; else fail "$what"; fi
}
t_done() {
  echo "$((T_CHECKS - T_FAILS)) passed, $T_FAILS failed"
  ((T_FAILS == 0))
}

# t_initdb NAME BIN [initdb args]: a new data directory $T_DIR/NAME
t_initdb() {
  local name=$1 bin=$2; shift 2
  local d=$T_DIR/$name
  runuser -u postgres -- "$bin/initdb" -D "$d" -U postgres -A trust "$@" >"$T_DIR/$name.initdb.log" 2>&1 || {
    cat "$T_DIR/$name.initdb.log"; return 1; }
  echo "$bin" >"$d/.bin"
  mkdir -p "$T_DIR/$name.sock"; chown postgres: "$T_DIR/$name.sock"
  cat >>"$d/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$T_DIR/$name.sock'
fsync = off
EOF
  T_SERVERS+=("$d")
}

# t_conf NAME 'setting = value'...: append settings
t_conf() { local d=$T_DIR/$1; shift; printf '%s\n' "$@" >>"$d/postgresql.conf"; }

# t_start NAME: start and wait; returns pg_ctl's status (the log is NAME.log)
t_start() {
  local d=$T_DIR/$1
  runuser -u postgres -- "$(cat "$d/.bin")/pg_ctl" -D "$d" -l "$T_DIR/$1.log" -w -t 60 start >/dev/null 2>&1
}
t_stop() {
  local d=$T_DIR/$1
  runuser -u postgres -- "$(cat "$d/.bin")/pg_ctl" -D "$d" -m fast -w stop >/dev/null 2>&1
}

# t_psql NAME [psql args]: psql on NAME's socket, unaligned, no headers, stop on error
t_psql() {
  local name=$1; shift
  "$(cat "$T_DIR/$name/.bin")/psql" -h "$T_DIR/$name.sock" -U postgres -X -q -A -t \
    -v ON_ERROR_STOP=1 "$@" postgres
}
t_pgbench() {
  local name=$1; shift
  "$(cat "$T_DIR/$name/.bin")/pgbench" -h "$T_DIR/$name.sock" -U postgres "$@" postgres
}

# t_pid NAME: the postmaster's pid
t_pid() { head -1 "$T_DIR/$1/postmaster.pid"; }

# t_slot_fd PID: the /proc path of the memfd of the buffer slot space that
# process PID has open ("memfd:postgres buffer slots"), or nothing
t_slot_fd() {
  local fd
  for fd in /proc/"$1"/fd/*; do
    if [[ $(readlink "$fd" 2>/dev/null) == "/memfd:postgres buffer slots (deleted)" ]]; then
      echo "$fd"
      return 0
    fi
  done
}

# t_kib FDPATH: KiB of memory the object behind FDPATH holds (allocated
# blocks, as the kernel counts them), or -1
t_kib() { local b; b=$(stat -L -c %b "$1" 2>/dev/null) && echo $((b / 2)) || echo -1; }

# t_slot_kib PID: KiB of memory the buffer slot space of PID holds, or -1
t_slot_kib() { local f; f=$(t_slot_fd "$1"); [[ -n $f ]] && t_kib "$f" || echo -1; }

# t_slot_fds PID: how many slot-space memfds process PID has open
t_slot_fds() {
  local n=0 fd
  for fd in /proc/"$1"/fd/*; do
    [[ $(readlink "$fd" 2>/dev/null) == "/memfd:postgres buffer slot"* ]] && n=$((n + 1))
  done
  echo $n
}
