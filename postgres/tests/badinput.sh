#!/usr/bin/env bash
# Description: settings and limits the design cannot honour. shared_buffers
# larger than buffer_slots stops the server at start with a FATAL error and a
# hint. Running out of slot ranges (buffer_slot_ranges) or of slot space
# (buffer_slots) is an ERROR for the query that needs one, with a hint; the
# server stays up, other queries work, and the space is usable again after a
# DROP.
. "$(dirname "$0")/lib.sh"

t_initdb db "$PGBIN"
t_conf db "shared_buffers = 256MB" "buffer_slots = 128MB"
rc=0; t_start db || rc=$?
check "the server refuses shared_buffers > buffer_slots (pg_ctl $rc)" test "$rc" -ne 0
check "with a FATAL error naming both settings" \
  grep -q 'FATAL:  shared_buffers (32768 blocks) is larger than buffer_slots (16384 blocks)' "$T_DIR/db.log"
check "and a hint" grep -q 'HINT:  buffer_slots is the virtual size of the buffer pool' "$T_DIR/db.log"

# ranges: 1024, fewer than the tables below need
t_conf db "shared_buffers = 8MB" "buffer_slots = 1GB" "buffer_slot_ranges = 1024"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
out=$(t_psql db -c "do \$\$ begin
  for i in 1..1500 loop
    execute format('create table r%s (v int)', i);
    execute format('insert into r%s values (1)', i);
  end loop; end \$\$;" 2>&1 || true)
check "out of ranges is an ERROR" grep -q 'ERROR:  out of buffer slot ranges' <<<"$out"
check "with a hint" grep -q 'HINT:  Increase buffer_slot_ranges.' <<<"$out"
check "the server is still up" test "$(t_psql db -c 'select 1')" = 1

# slot space: 128 MB, and a table that needs more
t_stop db
t_conf db "buffer_slots = 128MB" "buffer_slot_ranges = 65536"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
out=$(t_psql db -c "create table big as select g, repeat('x', 500) as pad from generate_series(1, 300000) g;" 2>&1 || true)
check "slot space exhausted is an ERROR" grep -q 'ERROR:  buffer slot space exhausted' <<<"$out"
check "with a hint" grep -q 'HINT:  Increase buffer_slots.' <<<"$out"
check "the server is still up" test "$(t_psql db -c 'select 1')" = 1
t_psql db -c "create table small as select g from generate_series(1, 100000) g;"
check "space freed by the failed statement is usable again" \
  test "$(t_psql db -c 'select count(*) from small')" = 100000
t_done
