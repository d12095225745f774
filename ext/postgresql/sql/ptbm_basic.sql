-- ptbm_basic: allocate, write, read, flush and the statistics, on a fresh
-- cluster started with shared_preload_libraries = 'ptbm',
-- ptbm.pool_size = 16MB and ptbm.max_pages = 65536 (scripts/pg.sh).
CREATE EXTENSION ptbm;

-- the pool's shape
SELECT name, value FROM ptbm_stats()
 WHERE name IN ('page_size', 'page_usable', 'max_pages', 'budget_pages',
                'allocated', 'pool_opens', 'crash_resets_kept')
 ORDER BY name;

-- allocation hands out consecutive page ids
SELECT ptbm_alloc() AS first;
SELECT ptbm_alloc(3) AS first;
SELECT value AS allocated FROM ptbm_stats() WHERE name = 'allocated';

-- a new page reads as zeros; the default span is the page's usable bytes
SELECT ptbm_read(0, 0, 8);
SELECT length(ptbm_read(0)) AS usable, length(ptbm_read(0, 100)) AS from_100;
SELECT ptbm_read(0, 8176) AS empty_at_end, ptbm_read(2, 10, 0) AS empty;

-- write then read back
SELECT ptbm_write(0, 0, convert_to('hello, ptbm', 'UTF8'));
SELECT convert_from(ptbm_read(0, 0, 11), 'UTF8') AS text;
SELECT ptbm_write(0, 8171, '\x0102030405'::bytea);
SELECT ptbm_read(0, 8171) AS last_five;
SELECT ptbm_write(3, 100, '\xc0ffee'::bytea);
SELECT ptbm_read(3, 99, 5);
SELECT ptbm_write(3, 100, ''::bytea);
SELECT ptbm_read(3, 100, 3) AS unchanged;
-- other pages are untouched
SELECT ptbm_read(1, 0, 4), ptbm_read(2, 8172);

-- NULL arguments
SELECT ptbm_read(NULL) IS NULL AS read_null, ptbm_read(0, NULL) IS NULL AS off_null;
SELECT ptbm_write(NULL, 0, '\x00'::bytea) IS NULL AS write_null;
SELECT ptbm_alloc(NULL) IS NULL AS alloc_null;

-- flush writes the dirty pages to the data file
SELECT ptbm_flush();
SELECT value >= 2 AS wrote_dirty_pages FROM ptbm_stats() WHERE name = 'writes';
SELECT ptbm_flush();

-- statistics: every counter, none negative; fixes count as hits
SELECT name FROM ptbm_stats() ORDER BY name;
SELECT bool_and(value >= 0) AS none_negative FROM ptbm_stats();
CREATE TEMP TABLE before AS SELECT name, value FROM ptbm_stats();
SELECT ptbm_write(1, 0, '\x01'::bytea);
SELECT ptbm_write(1, 1, '\x02'::bytea);
SELECT ptbm_read(1, 0, 2);
SELECT s.name, s.value - b.value AS delta
  FROM ptbm_stats() s JOIN before b USING (name)
 WHERE s.name IN ('hits', 'misses', 'allocated', 'evictions')
 ORDER BY s.name;
SELECT value >= 4 AS resident FROM ptbm_stats() WHERE name = 'resident';
