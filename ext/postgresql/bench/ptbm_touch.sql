-- ptbm_touch.sql - pgbench script: the ptbm pool: fix shared, read a word under the latch, unfix.
-- One call = :n random lookups (pgbench -D n=100000); scripts/pg.sh --bench.
SELECT ptbm_bench_ptbm(:n, 'touch');
