-- pg_touch.sql - pgbench script: PostgreSQL's buffer manager: pin, share content lock, read a word, unlock and unpin.
-- One call = :n random lookups (pgbench -D n=100000); scripts/pg.sh --bench.
SELECT ptbm_bench_pg('ptbm_bench_t', :n, 'touch');
