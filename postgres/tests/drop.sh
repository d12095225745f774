#!/usr/bin/env bash
# Description: DROP, TRUNCATE, VACUUM FULL and relfilenode reuse while other
# backends read. Readers loop over a stable table (scans and index probes,
# checking the answers); a churn session creates, fills, truncates,
# rewrites and drops tables with resident pages. No reader may see an error
# or a wrong answer. Then a relfilenode is reused on purpose (binary-upgrade
# mode lets the next relation take a dropped one's relfilenode): the new
# relation must show only its own rows, never the dropped one's pages.
. "$(dirname "$0")/lib.sh"

t_initdb db "$PGBIN"
t_conf db "shared_buffers = 4MB" "autovacuum = off"
t_start db || { cat "$T_DIR/db.log"; exit 1; }
t_psql db -c "create table s as select g as id, g * 2 as v from generate_series(1, 20000) g;
              create index s_id on s (id);"

reader() { # N: loops of a scan and probes, prints the number of wrong answers
  local i bad=0 out
  for i in $(seq 1 "$1"); do
    out=$(t_psql db -c "select count(*), sum(v) from s;
                        select v from s where id = $((i % 20000 + 1));" 2>&1) || { bad=$((bad + 1)); continue; }
    [[ $out == "20000|400020000"$'\n'"$(( (i % 20000 + 1) * 2 ))" ]] || bad=$((bad + 1))
  done
  echo "$bad"
}
reader 150 >"$T_DIR/r1" &
r1=$!
reader 150 >"$T_DIR/r2" &
r2=$!
churn_err=0
for i in $(seq 1 40); do
  t_psql db -c "create table c$i as select g, repeat('x', 200) as pad from generate_series(1, 3000) g" \
    -c "select count(*) from c$i" -c "truncate c$i" \
    -c "insert into c$i select g, 'y' from generate_series(1, 500) g" \
    -c "vacuum full c$i" -c "select count(*) from c$i where pad = 'y'" \
    -c "drop table c$i" >/dev/null 2>>"$T_DIR/churn.err" || churn_err=$((churn_err + 1))
done
wait $r1; wait $r2
check "the churn ran without errors ($churn_err failed)" test "$churn_err" -eq 0
check "reader 1 saw no error or wrong answer ($(cat "$T_DIR/r1") bad of 150)" test "$(cat "$T_DIR/r1")" -eq 0
check "reader 2 saw no error or wrong answer ($(cat "$T_DIR/r2") bad of 150)" test "$(cat "$T_DIR/r2")" -eq 0

# relfilenode reuse: the server in binary-upgrade mode, where the next heap's
# relfilenode can be chosen
t_psql db -c "create table old_rel (v int)" -c "insert into old_rel select 1 from generate_series(1, 5000)" \
  -c "select count(*) from old_rel" >/dev/null
node=$(t_psql db -c "select relfilenode from pg_class where relname = 'old_rel'")
t_stop db
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T_DIR/db" -l "$T_DIR/db.log" -w -o "-b" start >/dev/null
t_psql db -c "select count(*) from old_rel" >/dev/null   # its pages resident again
t_psql db -c "drop table old_rel"
t_psql db -c "select binary_upgrade_set_next_pg_type_oid(9999990)" \
  -c "select binary_upgrade_set_next_array_pg_type_oid(9999991)" \
  -c "select binary_upgrade_set_next_heap_pg_class_oid(9999992)" \
  -c "select binary_upgrade_set_next_heap_relfilenode($node)" \
  -c "create table new_rel (v int)" >/dev/null
node2=$(t_psql db -c "select relfilenode from pg_class where relname = 'new_rel'")
check "the new relation reuses the dropped one's relfilenode ($node2 = $node)" test "$node2" = "$node"
t_psql db -c "insert into new_rel values (2), (3);"
got=$(t_psql db -c "select count(*), sum(v) from new_rel")
check "the new relation shows only its own rows ($got, want 2|5)" test "$got" = "2|5"
t_done
