-- ptbm_bench: the benchmark functions on small data (the measurements
-- themselves are scripts/pg.sh --bench).
CREATE EXTENSION IF NOT EXISTS ptbm;
SELECT count(*) FROM ptbm_bench_results(true);

-- pages [0, 256) of the pool; each holds its own id in its first 8 bytes
SELECT ptbm_bench_setup(256);
SELECT value >= 256 AS allocated FROM ptbm_stats() WHERE name = 'allocated';
SELECT ptbm_read(10, 0, 8), ptbm_read(255, 0, 8);
SELECT ptbm_bench_setup(128); -- a smaller range: nothing allocated

SELECT ptbm_bench_ptbm(5000) > 0 AS fix;
SELECT ptbm_bench_ptbm(5000, 'touch') > 0 AS touch;
SELECT ptbm_bench_ptbm(5000, 'optimistic') > 0 AS optimistic;

CREATE TABLE ptbm_bench_small AS
  SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 1000) g;
SELECT ptbm_bench_pg('ptbm_bench_small', 5000) > 0 AS pin;
SELECT ptbm_bench_pg('ptbm_bench_small'::regclass, 5000, 'touch') > 0 AS touch;

SELECT kind, calls, lookups, ns_per_lookup > 0 AS timed
  FROM ptbm_bench_results(false) ORDER BY kind;
SELECT kind, calls, lookups, ns_per_lookup IS NULL AS none
  FROM ptbm_bench_results(true) ORDER BY kind;
SELECT kind, calls, lookups FROM ptbm_bench_results() ORDER BY kind;

-- page-table fill: every page once cold, once warm
SELECT pages = pg_relation_size('ptbm_bench_small') / 8192 AS all_blocks,
       minor_faults >= 0 AS minflt, major_faults >= 0 AS majflt,
       cold_ns_per_page > 0 AS cold, warm_ns_per_page > 0 AS warm
  FROM ptbm_bench_fill_pg('ptbm_bench_small');
SELECT pages, minor_faults >= 0 AS minflt, major_faults >= 0 AS majflt,
       cold_ns_per_page > 0 AS cold, warm_ns_per_page > 0 AS warm
  FROM ptbm_bench_fill_ptbm();
DROP TABLE ptbm_bench_small;
