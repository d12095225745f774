#!/usr/bin/env bash
# Description: kill -9 of a backend in the middle of a write workload,
# repeated. Each kill makes the postmaster reset shared memory (a crash
# restart): the slot space is unmapped and mapped anew, empty. Afterwards
# amcheck finds nothing (verify_heapam, bt_index_parent_check), pgbench's
# invariants hold (the sum of balances equals the sum of history deltas, for
# accounts, tellers and branches), and no process keeps an old slot space:
# the postmaster holds exactly one pair of slot-space memfds, the syslogger
# (which survives restarts) none.
. "$(dirname "$0")/lib.sh"

rounds=${T_ROUNDS:-4}
t_initdb db "$PGBIN"
t_conf db "shared_buffers = 8MB" "logging_collector = on" "log_directory = 'log'" \
  "restart_after_crash = on"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
t_pgbench db -i -q -s 4 >"$T_DIR/init.log" 2>&1 || { cat "$T_DIR/init.log"; exit 1; }
t_psql db -c "create extension amcheck;"

wait_up() {
  local i
  for i in $(seq 1 120); do
    t_psql db -c "select 1" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  return 1
}

killed=0
for r in $(seq 1 "$rounds"); do
  t_pgbench db -c 2 -T 30 -n >/dev/null 2>&1 &
  bench=$!
  sleep 2
  victim=$(t_psql db -c "select pid from pg_stat_activity where application_name = 'pgbench' limit 1" || true)
  if [[ -n $victim ]]; then
    kill -9 "$victim" && killed=$((killed + 1))
  fi
  wait $bench || true          # pgbench loses its connections at the restart
  wait_up || { fail "server not back after round $r"; break; }
done
restarts=$(cat "$T_DIR"/db/log/*.log 2>/dev/null | grep -c "all server processes terminated; reinitializing" || true)
say "rounds $rounds, backends killed $killed, crash restarts $restarts"
check "backends were killed ($killed of $rounds rounds)" test "$killed" -eq "$rounds"
check "each kill restarted the server ($restarts)" test "$restarts" -ge "$killed"

# the invariants of pgbench's tpcb-like transaction
sums=$(t_psql db -c "select (select sum(abalance) from pgbench_accounts),
                            (select sum(tbalance) from pgbench_tellers),
                            (select sum(bbalance) from pgbench_branches),
                            (select coalesce(sum(delta), 0) from pgbench_history),
                            (select count(*) from pgbench_history)")
say "sum of balances (accounts|tellers|branches), of deltas, history rows: $sums"
IFS='|' read -r a t b d h <<<"$sums"
check "transactions ran ($h history rows)" test "$h" -gt 0
check "accounts balance = history deltas ($a = $d)" test "$a" = "$d"
check "tellers balance = history deltas ($t = $d)" test "$t" = "$d"
check "branches balance = history deltas ($b = $d)" test "$b" = "$d"

bad=$(t_psql db -c "select count(*) from (
  select verify_heapam(c.oid) from pg_class c
  where relname like 'pgbench_%' and relkind = 'r') v")
check "verify_heapam finds nothing in the pgbench tables ($bad)" test "$bad" -eq 0
t_psql db -c "select bt_index_parent_check(c.oid, true) from pg_class c
  where relname like 'pgbench_%' and relkind = 'i'" >/dev/null
check "bt_index_parent_check passes on every pgbench index" test $? -eq 0

pm=$(t_pid db)
check "the postmaster holds one slot space (2 memfds: $(t_slot_fds "$pm"))" test "$(t_slot_fds "$pm")" -eq 2
logger=$(ps -o pid= --ppid "$pm" -o args= | awk '/logger/ {print $1; exit}')
if [[ -n $logger ]]; then
  check "the syslogger holds no slot space ($(t_slot_fds "$logger") memfds)" test "$(t_slot_fds "$logger")" -eq 0
  maps=$(grep -c "memfd:postgres buffer slot" "/proc/$logger/maps" || true)
  check "the syslogger maps no slot space ($maps mappings)" test "$maps" -eq 0
else
  fail "no syslogger found under the postmaster"
fi
t_done
