-- ptbm_errors: pages out of range, bad offsets and lengths, bad counts,
-- what the benchmarks need, privileges, and each error's SQLSTATE.
CREATE EXTENSION IF NOT EXISTS ptbm;

-- pages that were never allocated, or negative ids
SELECT ptbm_read(1000000);
SELECT ptbm_write(1000000, 0, '\x00'::bytea);
SELECT ptbm_read(70000);
SELECT ptbm_read(-1);
SELECT ptbm_write(-5, 0, '\x00'::bytea);

-- spans outside the page's usable bytes (8192 - 16 byte trailer)
SELECT ptbm_read(0, -1);
SELECT ptbm_read(0, 8177);
SELECT ptbm_read(0, 0, 8177);
SELECT ptbm_read(0, 8000, 200);
SELECT ptbm_read(0, 0, -5);
SELECT ptbm_write(0, 8170, '\x01020304050607'::bytea);
SELECT ptbm_write(0, -1, '\x01'::bytea);
SELECT ptbm_write(0, 0, decode(repeat('00', 8177), 'hex'));

-- counts
SELECT ptbm_alloc(0);
SELECT ptbm_alloc(-3);
SELECT ptbm_alloc(100000000);

-- the SQLSTATE of each kind of error
DO $$
DECLARE
  q text;
BEGIN
  FOREACH q IN ARRAY ARRAY[
    'SELECT ptbm_read(1000000)',
    'SELECT ptbm_read(0, 9000)',
    'SELECT ptbm_alloc(100000000)',
    'SELECT ptbm_bench_ptbm(10, ''bogus'')'] LOOP
    BEGIN
      EXECUTE q;
      RAISE NOTICE '% succeeded', q;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '%: %', q, SQLSTATE;
    END;
  END LOOP;
END $$;

-- benchmarks: before ptbm_bench_setup, and with bad arguments
SELECT ptbm_bench_ptbm(10);
SELECT * FROM ptbm_bench_fill_ptbm();
SELECT ptbm_bench_ptbm(0);
SELECT ptbm_bench_setup(0);
SELECT ptbm_bench_setup(100000000);
SELECT ptbm_bench_pg('pg_class', 0);
SELECT ptbm_bench_pg('pg_class', 10, 'bogus');
CREATE VIEW ptbm_view AS SELECT 1 AS x;
SELECT ptbm_bench_pg('ptbm_view', 10);
CREATE TABLE ptbm_empty (x int);
SELECT ptbm_bench_pg('ptbm_empty', 10);
SELECT * FROM ptbm_bench_fill_pg('ptbm_empty');
SELECT ptbm_bench_pg('no_such_table', 10);
DROP VIEW ptbm_view;
DROP TABLE ptbm_empty;

-- privileges: reading and statistics are public, the rest is not
CREATE ROLE regress_ptbm_user;
SET ROLE regress_ptbm_user;
SELECT length(ptbm_read(0)) AS public_read;
SELECT count(*) > 0 AS public_stats FROM ptbm_stats();
SELECT ptbm_alloc();
SELECT ptbm_write(0, 0, '\x00'::bytea);
SELECT ptbm_flush();
SELECT ptbm_bench_setup(1);
RESET ROLE;
DROP ROLE regress_ptbm_user;
