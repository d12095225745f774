-- ptbm_guc: the settings, and bad values refused (a server started with a
-- bad value refuses to start: scripts/pg.sh checks that part).
SHOW ptbm.pool_size;
SHOW ptbm.max_pages;
SHOW ptbm.data_file;
SHOW ptbm.populate;
SELECT name, setting, unit, context, vartype, min_val, max_val, boot_val
  FROM pg_settings WHERE name LIKE 'ptbm.%' ORDER BY name;

-- the pool is made once, by the postmaster: no change without a restart
SET ptbm.pool_size = '32MB';
SET ptbm.max_pages = 1000;
SET ptbm.data_file = 'other.data';
SET ptbm.populate = off;

-- bad values are refused before they reach postgresql.auto.conf
ALTER SYSTEM SET ptbm.pool_size = '100kB';
ALTER SYSTEM SET ptbm.pool_size = 'lots';
ALTER SYSTEM SET ptbm.pool_size = '-1';
ALTER SYSTEM SET ptbm.max_pages = 0;
ALTER SYSTEM SET ptbm.max_pages = 3000000000;
ALTER SYSTEM SET ptbm.data_file = '';
ALTER SYSTEM SET ptbm.populate = 'sometimes';
ALTER SYSTEM SET ptbm.no_such_setting = 1;
SET ptbm.no_such_setting = 1;

-- good values are taken (for the next start) and reset again
ALTER SYSTEM SET ptbm.pool_size = '64MB';
ALTER SYSTEM SET ptbm.max_pages = 1048576;
ALTER SYSTEM SET ptbm.data_file = 'elsewhere.data';
ALTER SYSTEM RESET ptbm.pool_size;
ALTER SYSTEM RESET ptbm.max_pages;
ALTER SYSTEM RESET ptbm.data_file;
