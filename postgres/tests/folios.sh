#!/usr/bin/env bash
# Description: a kernel that would give the buffer slots folios larger than
# a block. With transparent_hugepage/hugepages-16kB/shmem_enabled = always
# the PT-BM server refuses to start, with a FATAL error naming the folio
# size, and a hint naming the setting; folios of a block's own size
# (hugepages-8kB) are fine, and with the setting back the server starts and
# a DROP still gives its table's memory back. The settings are the
# machine's: the test restores them on exit, and skips where it cannot
# change them (not root, or a kernel without per-size shmem settings).
. "$(dirname "$0")/lib.sh"

thp=/sys/kernel/mm/transparent_hugepage
big=$thp/hugepages-16kB/shmem_enabled
own=$thp/hugepages-8kB/shmem_enabled
[[ -w $big && -w $own ]] || { say "no writable per-size shmem settings: skipped"; exit 77; }
choice() { sed 's/.*\[\(.*\)\].*/\1/' "$1"; }
old_big=$(choice "$big") old_own=$(choice "$own")
restore() { echo "$old_big" >"$big"; echo "$old_own" >"$own"; t_cleanup; }
trap restore EXIT

t_initdb db "$PGBIN"
t_conf db "shared_buffers = 16MB"

echo always >"$big"
rc=0; t_start db || rc=$?
check "the server refuses folios of 16 kB (pg_ctl $rc)" test "$rc" -ne 0
check "with a FATAL error naming the folio size" \
  grep -q 'FATAL:  the kernel would give the buffer slots folios of 16 kB, larger than a block (8 kB)' "$T_DIR/db.log"
check "and a hint naming the setting" \
  grep -q "HINT:  The setting is $big = always; make it never, or advise." "$T_DIR/db.log"

echo never >"$big"
echo always >"$own"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
check "folios of a block's size are fine" test "$(t_psql db -c 'select 1')" = 1
fd=$(t_slot_fd "$(t_pid db)")
t_psql db -c "create extension pg_prewarm" \
  -c "create table t as select g, repeat('x', 200) as pad from generate_series(1, 40000) g" \
  -c "select pg_prewarm('t')" >/dev/null
full=$(t_kib "$fd")
t_psql db -c "drop table t"
after=$(t_kib "$fd")
say "slot space: $full KiB with the table, $after KiB after its DROP"
check "the slot space held the table ($full KiB >= 8 MB)" test "$full" -ge $((8 * 1024))
check "and its DROP gave at least 8 MB back ($after KiB)" test $((full - after)) -ge $((8 * 1024))
t_stop db
t_done
