#!/usr/bin/env bash
# Description: an eviction gives back a run of slots. A table t fills most
# of shared_buffers with clean pages that were read once; loading a second
# table u evicts them. Counting the hole punches (madvise MADV_REMOVE, by
# strace on the loading backend) shows that with buffer_release_run = 64
# one punch frees a run of t's pages, and with 1 each eviction frees its
# victim alone. Either way both tables read back whole, amcheck is clean,
# and the slot space holds no more memory than shared_buffers allows.
. "$(dirname "$0")/lib.sh"

command -v strace >/dev/null || { say "strace is missing: skipped"; exit 77; }

t_initdb db "$PGBIN"
# 16MB: 2,048 frames; a run is capped at a sixteenth of them (128), so 64 holds
t_conf db "shared_buffers = 16MB" "autovacuum = off" "max_parallel_workers_per_gather = 0"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
# one 500-byte row per block at fillfactor 10: t 1,600 blocks, u 2,400
t_psql db -c "create extension pg_prewarm; create extension amcheck;
              create table t (id int, pad text) with (fillfactor = 10);
              create table u (id int, pad text) with (fillfactor = 10);
              insert into t select g, repeat('t', 500) from generate_series(1, 1600) g;
              insert into u select g, repeat('u', 500) from generate_series(1, 2400) g;" \
  -c "vacuum freeze t" -c "vacuum freeze u" -c "checkpoint"
t_blocks=$(t_psql db -c "select pg_relation_size('t') / 8192")
u_blocks=$(t_psql db -c "select pg_relation_size('u') / 8192")
check "t has 1,600 blocks and u 2,400 ($t_blocks, $u_blocks)" \
  test "$t_blocks" -eq 1600 -a "$u_blocks" -eq 2400

# punches RUN: restart with buffer_release_run = RUN, load t, then count the
# MADV_REMOVE calls of the backend that loads u; prints "punches loaded"
punches() {
  local run=$1 pid out=$T_DIR/strace.$1 loaded spid i
  t_conf db "buffer_release_run = $run"
  t_stop db && t_start db || { cat "$T_DIR/db.log"; return 1; }
  coproc PSQ { t_psql db 2>&1; }
  echo "select pg_prewarm('t'); select pg_backend_pid();" >&"${PSQ[1]}"
  read -r -t 60 loaded <&"${PSQ[0]}"
  read -r -t 60 pid <&"${PSQ[0]}"
  strace -qq -e trace=madvise -o "$out" -p "$pid" &
  spid=$!
  for i in $(seq 1 100); do # until strace is attached
    [[ $(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status") != 0 ]] && break
    sleep 0.05
  done
  echo "select pg_prewarm('u');" >&"${PSQ[1]}"
  read -r -t 120 loaded <&"${PSQ[0]}"
  kill -INT "$spid"
  wait "$spid" || true
  echo '\q' >&"${PSQ[1]}"
  wait "$PSQ_PID" || true
  echo "$(grep -c MADV_REMOVE "$out") $loaded"
}

read -r p1 l1 < <(punches 1)
say "buffer_release_run = 1: loading u ($l1 blocks) punched $p1 holes"
read -r p64 l64 < <(punches 64)
say "buffer_release_run = 64: loading u ($l64 blocks) punched $p64 holes"
# u's 2,400 blocks need about 2,000 of t's frames: one punch each, or one
# per run of up to 64
check "one page a punch at 1 (at least 1,500 punches: $p1)" test "$p1" -ge 1500
check "runs at 64 (fewer than an eighth of the punches at 1: $p64 against $p1)" \
  test "$((p64 * 8))" -lt "$p1" -a "$p64" -gt 0
check "both loads read all of u ($l1, $l64)" test "$l1" -eq 2400 -a "$l64" -eq 2400

check "t and u read back whole" \
  test "$(t_psql db -c "select count(*), sum(id), sum(length(pad)) from t;
                        select count(*), sum(id), sum(length(pad)) from u")" = \
  "1600|1280800|800000"$'\n'"2400|2881200|1200000"
check "amcheck finds nothing in t or u" \
  test "$(t_psql db -c "select count(*) from verify_heapam('t');
                        select count(*) from verify_heapam('u')")" = "0"$'\n'"0"
kib=$(t_slot_kib "$(t_pid db)")
check "the slot space holds at most shared_buffers + 512 kB ($kib KiB)" \
  test "$kib" -ge 0 -a "$kib" -le $((16 * 1024 + 512))
t_done
