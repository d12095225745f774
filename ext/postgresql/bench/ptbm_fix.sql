-- ptbm_fix.sql - pgbench script: the ptbm pool: ptbm_fix_shared + ptbm_unfix_shared over the ptbm_bench_setup pages.
-- One call = :n random lookups (pgbench -D n=100000); scripts/pg.sh --bench.
SELECT ptbm_bench_ptbm(:n, 'fix');
