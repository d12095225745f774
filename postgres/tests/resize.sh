#!/usr/bin/env bash
# Description: shared_buffers changed without a restart, under a running
# pgbench. ALTER SYSTEM + pg_reload_conf() shrinks the pool from 64 MB to
# 16 MB: within seconds the slot space holds no more than 16 MB (+ slack),
# dirty pages having been written first (the rows updated just before are
# all there, amcheck is clean, the pgbench invariants hold). Growing to
# 192 MB lets more pages stay resident again. A value above
# max_shared_buffers is refused and the old one kept.
. "$(dirname "$0")/lib.sh"

slack_kib=512
t_initdb db "$PGBIN"
t_conf db "shared_buffers = 64MB" "max_shared_buffers = 256MB" "bgwriter_delay = 100ms"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
t_pgbench db -i -q -s 2 >"$T_DIR/init.log" 2>&1 || { cat "$T_DIR/init.log"; exit 1; }
t_psql db -c "create extension pg_prewarm" -c "create extension amcheck" \
  -c "create table big as select g, repeat('x', 200) as pad from generate_series(1, 600000) g"
fd=$(t_slot_fd "$(t_pid db)")

# wait_kib OP LIMIT SECONDS: until the slot space's KiB OP LIMIT, or time out
wait_kib() {
  local i kib
  for i in $(seq 1 $(($3 * 10))); do
    kib=$(t_kib "$fd")
    if (( kib $1 $2 )); then echo "$kib $((i * 100))"; return 0; fi
    sleep 0.1
  done
  echo "$kib timeout"
  return 1
}

t_psql db -c "select pg_prewarm('big')" -c "update big set pad = 'dirty' where g % 4 = 0" >/dev/null
full=$(t_kib "$fd")
say "at 64MB, after prewarm and update: $full KiB"
check "the pool filled up ($full KiB >= 48 MB)" test "$full" -ge $((48 * 1024))

t_pgbench db -n -c 2 -T 8 >"$T_DIR/pgbench.out" 2>&1 &
bench=$!
sleep 1
t_psql db -c "alter system set shared_buffers = '16MB'" -c "select pg_reload_conf()" >/dev/null
read -r kib ms <<<"$(wait_kib '<=' $((16 * 1024 + slack_kib)) 10 || true)"
say "after the shrink to 16MB: $kib KiB, reached after $ms ms"
check "the slot space shrank to 16 MB + slack within 10 s ($kib KiB)" test "$ms" != timeout
sleep 1
kib=$(t_kib "$fd")
check "and stays there under pgbench ($kib KiB)" test "$kib" -le $((16 * 1024 + slack_kib))
check "the server took the new value" test "$(t_psql db -c 'show shared_buffers')" = 16MB
grep -q "shared buffer pool shrinks from 8192 to 2048 frames" "$T_DIR/db.log"
check "the background writer logged the shrink" test $? -eq 0

t_psql db -c "alter system set shared_buffers = '192MB'" -c "select pg_reload_conf()" >/dev/null
sleep 0.5
t_psql db -c "select pg_prewarm('big')" >/dev/null
read -r kib ms <<<"$(wait_kib '>=' $((100 * 1024)) 10 || true)"
say "after the growth to 192MB and a prewarm: $kib KiB"
check "more pages stay resident after growing ($kib KiB >= 100 MB)" test "$ms" != timeout
wait $bench || true
check "pgbench ran through the resizes" grep -q "number of transactions actually processed" "$T_DIR/pgbench.out"

# too large: refused (ALTER SYSTEM checks it at once), the old value kept
out=$(t_psql db -c "alter system set shared_buffers = '1GB'" 2>&1 || true)
check "a value above max_shared_buffers is refused" \
  grep -q 'shared_buffers can change to at most 32768 blocks (max_shared_buffers) without a restart' <<<"$out"
t_psql db -c "select pg_reload_conf()" >/dev/null
sleep 0.5
check "and the old value kept" test "$(t_psql db -c 'show shared_buffers')" = 192MB

# nothing lost
dirty=$(t_psql db -c "select count(*) from big where pad = 'dirty'")
check "every row updated before the shrink is there ($dirty of 150000)" test "$dirty" = 150000
bad=$(t_psql db -c "select count(*) from verify_heapam('big')")
check "verify_heapam finds nothing ($bad)" test "$bad" = 0
t_psql db -c "select bt_index_parent_check('pgbench_accounts_pkey', true)" >/dev/null
check "bt_index_parent_check passes" test $? -eq 0
sums=$(t_psql db -c "select (select sum(abalance) from pgbench_accounts) = (select coalesce(sum(delta), 0) from pgbench_history)")
check "pgbench's balances equal its history" test "$sums" = t
t_done
