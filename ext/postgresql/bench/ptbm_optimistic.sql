-- ptbm_optimistic.sql - pgbench script: the ptbm pool: optimistic read (read_begin, read a word, read_validate).
-- One call = :n random lookups (pgbench -D n=100000); scripts/pg.sh --bench.
SELECT ptbm_bench_ptbm(:n, 'optimistic');
