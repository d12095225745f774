#!/usr/bin/env bash
# Description: a kernel that would give the buffer slots folios larger than
# a block. With transparent_hugepage/hugepages-16kB/shmem_enabled = always
# the PT-BM server starts with its blocks' mapping advised MADV_NOHUGEPAGE
# (the nh of its VmFlags, in the postmaster and in a backend forked after),
# and says so in a LOG line naming the folio size and the setting; loading
# a table then allocates no 16 kB folios for its blocks (the kernel's own
# counter), and its DROP gives its memory back. Folios of a block's own
# size (hugepages-8kB) need no advice. The settings are the machine's: the
# test restores them on exit, and skips where it cannot change them (not
# root, or a kernel without per-size shmem settings).
. "$(dirname "$0")/lib.sh"

thp=/sys/kernel/mm/transparent_hugepage
big=$thp/hugepages-16kB/shmem_enabled
own=$thp/hugepages-8kB/shmem_enabled
[[ -w $big && -w $own ]] || { say "no writable per-size shmem settings: skipped"; exit 77; }
choice() { sed 's/.*\[\(.*\)\].*/\1/' "$1"; }
old_big=$(choice "$big") old_own=$(choice "$own")
restore() { echo "$old_big" >"$big"; echo "$old_own" >"$own"; t_cleanup; }
trap restore EXIT

# slot_flags PID: the VmFlags of PID's mapping of the buffer slots
slot_flags() {
  awk '/^[0-9a-f]+-[0-9a-f]+ / { in_slots = /memfd:postgres buffer slots/ }
       in_slots && /^VmFlags:/ { sub(/^VmFlags: */, ""); print; exit }' "/proc/$1/smaps"
}
# a table of about 9.5 MB (1,200 blocks) read into the buffer pool, and
# dropped: the slot space's KiB with it and after, as "FULL AFTER"
load_and_drop() {
  local fd full
  fd=$(t_slot_fd "$(t_pid db)")
  t_psql db -c "set client_min_messages = warning" -c "create extension if not exists pg_prewarm" \
    -c "create table t as select g, repeat('x', 200) as pad from generate_series(1, 40000) g" \
    -c "select pg_prewarm('t')" >/dev/null
  full=$(t_kib "$fd")
  t_psql db -c "drop table t"
  echo "$full $(t_kib "$fd")"
}
check_drop() { # FULL AFTER
  say "slot space: $1 KiB with the table, $2 KiB after its DROP"
  check "the slot space held the table ($1 KiB >= 8 MB)" test "$1" -ge $((8 * 1024))
  check "and its DROP gave at least 8 MB back ($2 KiB)" test $(($1 - $2)) -ge $((8 * 1024))
}

t_initdb db "$PGBIN"
t_conf db "shared_buffers = 16MB"

echo always >"$big"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
check "folios of 16 kB: the server starts" test "$(t_psql db -c 'select 1')" = 1
check "and logs that it keeps the blocks in base pages" \
  grep -q 'LOG:  buffer slots kept in base pages: the kernel would give them folios of 16 kB, larger than a block (8 kB)' "$T_DIR/db.log"
check "naming the setting" grep -q "DETAIL:  The setting is $big = always." "$T_DIR/db.log"
flags=$(slot_flags "$(t_pid db)")
check "the postmaster's mapping is advised nh ($flags)" grep -qw nh <<<"$flags"
# a backend of its own, alive while its smaps is read
t_psql db -c "select pg_sleep(3)" >/dev/null &
sleeper=$!
sleep 1
bpid=$(t_psql db -c "select pid from pg_stat_activity where query like 'select pg_sleep(3)%' limit 1")
flags=$(slot_flags "$bpid")
check "and so is a backend's ($bpid: $flags)" grep -qw nh <<<"$flags"
wait "$sleeper"
before=$(cat "$thp/hugepages-16kB/stats/shmem_alloc")
read -r full after < <(load_and_drop)
made=$(($(cat "$thp/hugepages-16kB/stats/shmem_alloc") - before))
say "16 kB shmem folios allocated while 1,200 blocks were loaded: $made"
check "fewer than a tenth of the blocks got one ($made)" test "$made" -lt 120
check_drop "$full" "$after"
t_stop db

echo never >"$big"
echo always >"$own"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
check "folios of a block's size are fine" test "$(t_psql db -c 'select 1')" = 1
flags=$(slot_flags "$(t_pid db)")
check "and need no advice ($flags)" bash -c "! grep -qw nh <<<'$flags'"
read -r full after < <(load_and_drop)
check_drop "$full" "$after"
t_stop db
t_done
