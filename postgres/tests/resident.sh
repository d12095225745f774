#!/usr/bin/env bash
# Description: resident memory follows shared_buffers. A table 8x larger than
# shared_buffers is scanned, indexed and updated by several backends at once
# while a sampler reads how much memory the slot space holds (the memfd's
# allocated pages, as the kernel counts them). The peak must stay within
# shared_buffers plus the documented slack, and must have come near
# shared_buffers (the pool was under pressure and the sampler saw it). The
# same queries on stock PostgreSQL, same data and settings, must give the
# same results. Dropping the table gives its pages back at once.
. "$(dirname "$0")/lib.sh"

sb_mb=16
rows=${T_ROWS:-800000}            # about 128 MB of heap: 8x shared_buffers
slack_kib=512                     # in-flight releases (README.md, invariant 3)

load_sql="create table big as
  select g as id, g % 1000 as k, repeat(md5(g::text), 4) as pad
  from generate_series(1, $rows) g;"
queries="select count(*), sum(k), sum(length(pad)) from big;
select k, count(*) from big where id % 97 = 0 group by k order by k limit 5;
select sum(id) from big where k between 10 and 20;
select count(*), sum(k) from big where id % 50 = 0;"

for s in ptbm stock; do
  bin=$PGBIN; [[ $s = stock ]] && bin=$STOCKBIN
  [[ -n $bin ]] || { say "no stock server: comparing skipped"; continue; }
  t_initdb $s "$bin"
  t_conf $s "shared_buffers = ${sb_mb}MB" "max_parallel_workers_per_gather = 0"
  t_start $s || { cat "$T_DIR/$s.log"; exit 1; }
  t_psql $s -c "$load_sql"
done

pid=$(t_pid ptbm)
kib=$(t_slot_kib "$pid")
check "the postmaster holds the slot space memfd ($kib KiB now)" test "$kib" -ge 0

# sample while three backends work on the table
samples=$T_DIR/samples
slot_fd=$(t_slot_fd "$pid")
( while :; do t_kib "$slot_fd"; sleep 0.02; done ) >"$samples" &
sampler=$!
t_psql ptbm -c "select count(*), sum(k) from big; select count(*), sum(k) from big;" >/dev/null &
w1=$!
t_psql ptbm -c "create index big_k on big (k); create index big_id on big (id);" >/dev/null &
w2=$!
t_psql ptbm -c "update big set k = k + 1 where id % 50 = 0;" >/dev/null &
w3=$!
rc=0
wait $w1 || rc=1; wait $w2 || rc=1; wait $w3 || rc=1
t_psql ptbm -c "$queries" >"$T_DIR/ptbm.out" || rc=1
kill $sampler; wait $sampler 2>/dev/null || true
check "the workload ran without errors" test $rc -eq 0

n=$(wc -l <"$samples")
peak=$(sort -n "$samples" | tail -1)
limit=$((sb_mb * 1024 + slack_kib))
say "samples $n, peak $peak KiB, shared_buffers $((sb_mb * 1024)) KiB, limit $limit KiB"
check "the sampler measured ($n samples)" test "$n" -ge 20
check "peak $peak KiB within shared_buffers + slack ($limit KiB)" test "$peak" -le "$limit"
check "the pool was under pressure (peak $peak KiB >= half of shared_buffers)" \
  test "$peak" -ge $((sb_mb * 1024 / 2))

if [[ -n $STOCKBIN ]]; then
  t_psql stock -c "create index big_k on big (k); create index big_id on big (id);
                   update big set k = k + 1 where id % 50 = 0;" >/dev/null
  t_psql stock -c "$queries" >"$T_DIR/stock.out"
  check "the same results as stock PostgreSQL" cmp -s "$T_DIR/ptbm.out" "$T_DIR/stock.out"
  diff "$T_DIR/ptbm.out" "$T_DIR/stock.out" || true
fi

before=$(t_slot_kib "$pid")
t_psql ptbm -c "drop table big;"
after=$(t_slot_kib "$pid")
say "slot memory before drop $before KiB, after $after KiB"
check "DROP gives the table's resident pages back at once ($before -> $after KiB)" \
  test "$after" -le $((before / 2))
t_done
