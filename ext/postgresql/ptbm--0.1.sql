/* ptbm--0.1.sql - SQL functions of the ptbm extension (see README.md). */
\echo Use "CREATE EXTENSION ptbm" to load this file. \quit

-- Page access ---------------------------------------------------------------

CREATE FUNCTION ptbm_read(page bigint, off int DEFAULT 0, len int DEFAULT NULL)
RETURNS bytea AS 'MODULE_PATHNAME', 'pg_ptbm_read'
LANGUAGE C VOLATILE PARALLEL SAFE;

CREATE FUNCTION ptbm_write(page bigint, off int, data bytea)
RETURNS void AS 'MODULE_PATHNAME', 'pg_ptbm_write'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_alloc(n bigint DEFAULT 1)
RETURNS bigint AS 'MODULE_PATHNAME', 'pg_ptbm_alloc'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_flush()
RETURNS void AS 'MODULE_PATHNAME', 'pg_ptbm_flush'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE FUNCTION ptbm_stats(OUT name text, OUT value bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pg_ptbm_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

-- Benchmarks ----------------------------------------------------------------

CREATE FUNCTION ptbm_bench_setup(pages bigint)
RETURNS bigint AS 'MODULE_PATHNAME', 'pg_ptbm_bench_setup'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_bench_pg(rel regclass, n bigint, mode text DEFAULT 'pin')
RETURNS float8 AS 'MODULE_PATHNAME', 'pg_ptbm_bench_pg'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_bench_ptbm(n bigint, mode text DEFAULT 'fix')
RETURNS float8 AS 'MODULE_PATHNAME', 'pg_ptbm_bench_ptbm'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_bench_results(reset boolean DEFAULT true,
    OUT kind text, OUT calls bigint, OUT lookups bigint, OUT ns_per_lookup float8)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'pg_ptbm_bench_results'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_bench_fill_pg(rel regclass,
    OUT pages bigint, OUT minor_faults bigint, OUT major_faults bigint,
    OUT cold_ns_per_page float8, OUT warm_ns_per_page float8)
RETURNS record AS 'MODULE_PATHNAME', 'pg_ptbm_bench_fill_pg'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;

CREATE FUNCTION ptbm_bench_fill_ptbm(
    OUT pages bigint, OUT minor_faults bigint, OUT major_faults bigint,
    OUT cold_ns_per_page float8, OUT warm_ns_per_page float8)
RETURNS record AS 'MODULE_PATHNAME', 'pg_ptbm_bench_fill_ptbm'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Writing, allocating, flushing and the benchmarks are for superusers and
-- whom they grant them to; reading and statistics are for everyone.
REVOKE ALL ON FUNCTION ptbm_write(bigint, int, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_alloc(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_flush() FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_bench_setup(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_bench_pg(regclass, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_bench_ptbm(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_bench_results(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_bench_fill_pg(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION ptbm_bench_fill_ptbm() FROM PUBLIC;
