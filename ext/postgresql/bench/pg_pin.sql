-- pg_pin.sql - pgbench script: PostgreSQL's buffer manager: ReadBufferExtended + ReleaseBuffer over ptbm_bench_t's blocks.
-- One call = :n random lookups (pgbench -D n=100000); scripts/pg.sh --bench.
SELECT ptbm_bench_pg('ptbm_bench_t', :n, 'pin');
