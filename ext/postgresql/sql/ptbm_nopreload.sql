-- ptbm_nopreload: a server without shared_preload_libraries = 'ptbm'. The
-- extension installs, and every function that needs the pool says how to
-- enable it.
CREATE EXTENSION ptbm;
SELECT ptbm_alloc();
SELECT ptbm_read(0);
SELECT ptbm_write(0, 0, '\x00'::bytea);
SELECT ptbm_flush();
SELECT * FROM ptbm_stats();
SELECT ptbm_bench_setup(1);
SELECT ptbm_bench_ptbm(1);
SELECT ptbm_bench_pg('pg_class', 1);
SELECT * FROM ptbm_bench_results();
SELECT * FROM ptbm_bench_fill_ptbm();
DO $$
BEGIN
  PERFORM ptbm_alloc();
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'sqlstate %', SQLSTATE;
END $$;
-- loading the library into a running backend does not make a pool
LOAD 'ptbm';
SELECT ptbm_alloc();
-- the settings exist only when preloaded
SHOW ptbm.pool_size;
DROP EXTENSION ptbm;
