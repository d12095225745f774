/*
 * Description: the engines behind the one API. Run as
 *   engine_tests ENGINE threads     (ENGINE = vm | hash | mmap)
 *   engine_tests ENGINE processes
 * and checks, for that engine:
 *   threads:   basic fix/unfix/write/read-back, latch misuse and unallocated
 *              pages refused, more latches held at once than a thread's pin
 *              cache holds, optimistic reads (begin, validate, restart after
 *              a writer or an eviction, upgrade), eviction with data 4x the
 *              budget intact after write-back, a failed write-back (the
 *              page stays dirty and is written by a later one), a batch
 *              ring that fails to submit (every page read or written one
 *              by one instead, none lost), 4 threads
 *              of random fixes/writes/reads/flushes with a per-page counter
 *              checked at the end (and after reopen), flush + close + reopen
 *              by the same engine and by every other engine (one file
 *              format), a page corrupted on disk reported PTBM_ECHECKSUM and
 *              left not resident, and so a page zeroed on disk after it
 *              was written, and a named pool attached twice in one
 *              process (two mappings at different addresses).
 *   processes: 2 forked workers doing the threads workload on one pool,
 *              then checked by the parent; a process started afresh (exec)
 *              attaching by name and writing pages the creator then reads.
 *              Skipped (77) under ThreadSanitizer, which does not follow
 *              fork.
 * Budget-specific checks (evictions counted, resident within the budget)
 * are skipped for mmap, whose residency the kernel decides.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

static enum ptbm_engine engine;

#define SMALL_BUDGET 64u /* pages */
#define SMALL_BATCH  16u
#define DATA_PAGES   (4 * SMALL_BUDGET)

static bool bounded(void)
{
	return engine != PTBM_ENGINE_MMAP;
}

static void config(struct ptbm_config *cfg, const char *file, uint64_t budget_pages)
{
	tu_config(cfg, file);
	cfg->engine = engine;
	cfg->budget_bytes = budget_pages * TU_PAGE_SIZE;
	cfg->evict_batch = budget_pages < TU_BATCH ? SMALL_BATCH : TU_BATCH;
}

static ptbm_pool *open_with(const char *file, uint64_t budget_pages, uint64_t n_pages)
{
	struct ptbm_config cfg;
	config(&cfg, file, budget_pages);
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(ptbm_engine_of(pool), engine);
	if (n_pages)
		assert_int_equal(tu_alloc(pool, n_pages), 0);
	return pool;
}

/* Reopen an existing file with engine e; the file must hold n_pages. */
static ptbm_pool *reopen(const char *file, enum ptbm_engine e, uint64_t n_pages)
{
	struct ptbm_config cfg;
	config(&cfg, file, SMALL_BUDGET);
	cfg.engine = e;
	cfg.flags = 0;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_stats(pool).allocated, n_pages);
	return pool;
}

static uint64_t get_u64(const void *page, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char *)page + off, sizeof v);
	return v;
}

static void put_u64(void *page, size_t off, uint64_t v)
{
	memcpy((char *)page + off, &v, sizeof v);
}

/* Fix shared and unfix: 0, 1 if the page is not all zeros, or the error. */
static int touch_zero(ptbm_pool *pool, uint64_t pid)
{
	void *p;
	int rc = ptbm_fix_shared(pool, pid, &p);
	if (rc < 0)
		return rc;
	bool zero = tu_is_zero(p, ptbm_page_usable(pool));
	rc = ptbm_unfix_shared(pool, pid);
	return rc < 0 ? rc : !zero;
}

/* ---- threads mode --------------------------------------------------------- */

static void test_basic(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, TU_BUDGET, 8);
	void *p;
	/* a fresh page reads as zeros */
	assert_rc(ptbm_fix_shared(pool, 3, &p), 0);
	assert_true(tu_is_zero(p, ptbm_page_usable(pool)));
	assert_rc(ptbm_unfix_shared(pool, 3), 0);

	for (uint64_t pid = 0; pid < 8; pid++)
		assert_rc(tu_write(pool, pid, 11), 0);
	for (uint64_t pid = 0; pid < 8; pid++)
		assert_rc(tu_verify(pool, pid, 11), 0);

	/* a second fix finds the same bytes at a stable address while fixed */
	void *q;
	assert_rc(ptbm_fix_exclusive(pool, 5, &p), 0);
	put_u64(p, 0, 0x1234);
	assert_rc(ptbm_mark_dirty(pool, 5), 0);
	assert_rc(ptbm_unfix_exclusive(pool, 5), 0);
	assert_rc(ptbm_fix_shared(pool, 5, &q), 0);
	assert_int_equal(get_u64(q, 0), 0x1234);
	assert_rc(ptbm_unfix_shared(pool, 5), 0);
	uint64_t got = 0;
	assert_rc(ptbm_read(pool, 5, 0, &got, sizeof got), 0);
	assert_int_equal(got, 0x1234);
	assert_rc(ptbm_read(pool, 5, ptbm_page_usable(pool) - 4, &got, 8), PTBM_ERANGE);

	/* misuse is refused, the latch kept */
	assert_rc(ptbm_fix_shared(pool, 1, &p), 0);
	assert_rc(ptbm_mark_dirty(pool, 1), PTBM_ENOTFIXED);
	assert_rc(ptbm_unfix_exclusive(pool, 1), PTBM_ENOTFIXED);
	assert_rc(ptbm_unfix_shared(pool, 1), 0);
	assert_rc(ptbm_unfix_shared(pool, 1), PTBM_ENOTFIXED);
	assert_rc(ptbm_unfix_exclusive(pool, 2), PTBM_ENOTFIXED);
	assert_rc(ptbm_mark_dirty(pool, 2), PTBM_ENOTFIXED);

	/* pages not allocated, or beyond max_pages */
	assert_rc(ptbm_fix_shared(pool, 8, &p), PTBM_ERANGE);
	assert_rc(ptbm_fix_exclusive(pool, 100, &p), PTBM_ERANGE);
	assert_rc(ptbm_fix_shared(pool, TU_MAX_PAGES, &p), PTBM_ERANGE);
	uint64_t bad = 8;
	assert_rc(ptbm_prefetch(pool, &bad, 1), PTBM_ERANGE);

	struct ptbm_stats st = tu_stats(pool);
	assert_true(st.hits > 0);
	if (bounded()) {
		assert_int_equal(st.misses, 8);
		assert_int_equal(st.resident, 8);
	}
	tu_close(pool);
}

/* More pages latched at once than the hash engine's per-thread pin cache. */
static void test_many_latches(void **state)
{
	(void)state;
	enum { N = 40 };
	ptbm_pool *pool = open_with(__func__, TU_BUDGET, N);
	void *p[N];
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(pool, pid, pid), 0);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(pid % 2 ? ptbm_fix_shared(pool, pid, &p[pid])
				  : ptbm_fix_exclusive(pool, pid, &p[pid]),
			  0);
	for (uint64_t pid = 0; pid < N; pid++) {
		assert_true(tu_check(p[pid], ptbm_page_usable(pool), pid, pid));
		if (pid % 2 == 0) {
			put_u64(p[pid], 0, 77);
			assert_rc(ptbm_mark_dirty(pool, pid), 0);
		}
	}
	/* release in an order unlike the fixes */
	for (uint64_t i = 0; i < N; i++) {
		uint64_t pid = (i * 7) % N;
		assert_rc(pid % 2 ? ptbm_unfix_shared(pool, pid) : ptbm_unfix_exclusive(pool, pid),
			  0);
	}
	for (uint64_t pid = 0; pid < N; pid += 2) {
		uint64_t v;
		assert_rc(ptbm_read(pool, pid, 0, &v, sizeof v), 0);
		assert_int_equal(v, 77);
	}
	tu_close(pool);
}

static void test_optimistic(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, DATA_PAGES);
	assert_rc(tu_write(pool, 1, 5), 0);
	const void *cp;
	uint64_t v;
	assert_rc(ptbm_read_begin(pool, 1, &cp, &v), 0);
	assert_true(tu_check(cp, ptbm_page_usable(pool), 1, 5));
	assert_rc(ptbm_read_validate(pool, 1, v), 0);

	/* a writer in another thread invalidates the read */
	struct tu_holder h;
	tu_holder_start(&h, pool);
	assert_rc(tu_holder_call(&h, TU_FIX_EXCLUSIVE, 1), 0);
	assert_rc(tu_holder_call(&h, TU_UNFIX_EXCLUSIVE, 1), 0);
	assert_rc(ptbm_read_validate(pool, 1, v), PTBM_ERESTART);
	assert_rc(ptbm_upgrade(pool, 1, v), PTBM_ERESTART);

	/* upgrade of a valid read: exclusive, a reader waits until the unfix */
	assert_rc(ptbm_read_begin(pool, 1, &cp, &v), 0);
	assert_rc(ptbm_upgrade(pool, 1, v), 0);
	void *p = (void *)cp;
	put_u64(p, 0, 99);
	assert_rc(ptbm_mark_dirty(pool, 1), 0);
	tu_holder_post(&h, TU_FIX_SHARED, 1);
	assert_false(tu_holder_wait(&h, 100));
	assert_rc(ptbm_unfix_exclusive(pool, 1), 0);
	assert_true(tu_holder_wait(&h, 30000));
	assert_rc(h.rc, 0);
	assert_int_equal(h.seen, 99);
	/* a shared holder does not invalidate, but blocks upgrade */
	assert_rc(ptbm_read_begin(pool, 1, &cp, &v), 0);
	assert_rc(ptbm_read_validate(pool, 1, v), 0);
	assert_rc(ptbm_upgrade(pool, 1, v), PTBM_ERESTART);
	assert_rc(tu_holder_call(&h, TU_UNFIX_SHARED, 1), 0);
	tu_holder_stop(&h);

	/* an eviction invalidates the read too */
	if (bounded()) {
		assert_rc(ptbm_read_begin(pool, 1, &cp, &v), 0);
		for (uint64_t pid = 2; pid < DATA_PAGES; pid++)
			assert_rc(touch_zero(pool, pid), 0);
		assert_rc(ptbm_read_validate(pool, 1, v), PTBM_ERESTART);
		assert_rc(ptbm_upgrade(pool, 1, v), PTBM_ERESTART);
		assert_true(tu_stats(pool).restarts >= 4);
	}
	uint64_t x;
	assert_rc(ptbm_read(pool, 1, 0, &x, sizeof x), 0);
	assert_int_equal(x, 99);
	tu_close(pool);
}

/* Data 4x the budget: written, evicted (written back), read back intact. */
static void test_eviction(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, DATA_PAGES);
	for (uint64_t pid = 0; pid < DATA_PAGES; pid++)
		assert_rc(tu_write(pool, pid, 1), 0);
	for (uint64_t pid = 0; pid < DATA_PAGES; pid++)
		assert_rc(tu_verify(pool, pid, 1), 0);
	/* rewrite every other page after it was reloaded, read all again */
	for (uint64_t pid = 0; pid < DATA_PAGES; pid += 2)
		assert_rc(tu_write(pool, pid, 2), 0);
	for (uint64_t pid = 0; pid < DATA_PAGES; pid++)
		assert_rc(tu_verify(pool, pid, pid % 2 ? 1 : 2), 0);

	/* prefetch loads what is not resident and skips what is */
	uint64_t ids[8];
	for (int i = 0; i < 8; i++)
		ids[i] = (uint64_t)i * 3;
	int n = ptbm_prefetch(pool, ids, 8);
	assert_true(n >= 0 && n <= 8);
	assert_rc(ptbm_prefetch(pool, ids, 8), 0);
	for (int i = 0; i < 8; i++)
		assert_rc(tu_verify(pool, ids[i], ids[i] % 2 ? 1 : 2), 0);

	struct ptbm_stats st = tu_stats(pool);
	if (bounded()) {
		assert_true(st.resident <= SMALL_BUDGET);
		assert_true(st.evictions >= DATA_PAGES);
		assert_true(st.writes >= DATA_PAGES + DATA_PAGES / 2 - SMALL_BUDGET);
		assert_true(st.reads >= 2 * DATA_PAGES);
	}
	tu_close(pool);
}

/*
 * A prefetch of more pages than one batch (the API cuts it into batches of
 * 64) loads every page that is not resident, with their contents, so that
 * the fixes after it are hits.
 */
static void test_prefetch_batches(void **state)
{
	(void)state;
	const uint64_t budget = 4 * SMALL_BUDGET, pages = 4 * budget, n = 100;
	ptbm_pool *pool = open_with(__func__, budget, pages);
	for (uint64_t pid = 0; pid < pages; pid++)
		assert_rc(tu_write(pool, pid, 5), 0);
	uint64_t ids[100];
	for (uint64_t i = 0; i < n; i++)
		ids[i] = i * 2; /* written early: evicted since */
	struct ptbm_stats before = tu_stats(pool);
	int loaded = ptbm_prefetch(pool, ids, n);
	if (bounded()) {
		assert_int_equal(loaded, (int)n);
		assert_int_equal(tu_stats(pool).reads - before.reads, n);
	} else {
		assert_true(loaded >= 0 && loaded <= (int)n);
	}
	struct ptbm_stats mid = tu_stats(pool);
	for (uint64_t i = 0; i < n; i++)
		assert_rc(tu_verify(pool, ids[i], 5), 0);
	if (bounded()) /* all hits: nothing read again */
		assert_int_equal(tu_stats(pool).reads, mid.reads);
	tu_close(pool);
}

/* A write-back that fails keeps the page dirty; the next one succeeds. */
static void test_writeback_error(void **state)
{
	(void)state;
	if (!bounded())
		skip(); /* no write-back of ours to fail */
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, DATA_PAGES);
	for (uint64_t pid = 0; pid < SMALL_BUDGET; pid++)
		assert_rc(tu_write(pool, pid, 3), 0);
	ptbm_fault_inject_write(PTBM_FAULT_ENOSPC, 0);
	int rc = 0;
	for (uint64_t pid = SMALL_BUDGET; pid < DATA_PAGES && rc == 0; pid++)
		rc = touch_zero(pool, pid);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	/* hash writes one victim per miss and returns its error (PostgreSQL
	 * would raise it); vm writes a batch and may evict the others */
	if (engine == PTBM_ENGINE_HASH || rc != 0)
		assert_rc(rc, -ENOSPC);
	for (uint64_t pid = 0; pid < DATA_PAGES; pid++)
		assert_rc(pid < SMALL_BUDGET ? tu_verify(pool, pid, 3) : touch_zero(pool, pid), 0);
	for (uint64_t pid = 0; pid < SMALL_BUDGET; pid++)
		assert_rc(tu_verify(pool, pid, 3), 0);
	tu_close(pool);
}

/* The batch ring fails to submit: the pages are read and written one by one,
 * every one of them has its own result, and none is lost or taken for read. */
static void test_ring_failure(void **state)
{
	(void)state;
	if (!bounded())
		skip(); /* the kernel does this engine's I/O */
	const uint64_t budget = SMALL_BUDGET, pages = 4 * budget, n = 32;
	ptbm_pool *pool = open_with(__func__, budget, pages);
	for (uint64_t pid = 0; pid < pages; pid++)
		assert_rc(tu_write(pool, pid, 6), 0);
	assert_rc(ptbm_flush(pool), 0);
	/* reads: a prefetch of pages evicted since they were written */
	uint64_t ids[32];
	for (uint64_t i = 0; i < n; i++)
		ids[i] = i;
	ptbm_fault_inject_read(PTBM_FAULT_RING, 0);
	int loaded = ptbm_prefetch(pool, ids, n);
	ptbm_fault_inject_read(PTBM_FAULT_NONE, 0);
	assert_int_equal(loaded, (int)n);
	for (uint64_t i = 0; i < n; i++)
		assert_rc(tu_verify(pool, ids[i], 6), 0);
	/* writes: a flush of dirty pages, then a reopen */
	for (uint64_t i = 0; i < n; i++)
		assert_rc(tu_write(pool, ids[i], 7), 0);
	ptbm_fault_inject_write(PTBM_FAULT_RING, 0);
	int rc = ptbm_flush(pool);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	assert_rc(rc, 0);
	tu_close(pool);
	pool = reopen(__func__, engine, pages);
	for (uint64_t pid = 0; pid < pages; pid++)
		assert_rc(tu_verify(pool, pid, pid < n ? 7 : 6), 0);
	tu_close(pool);
}

/* ---- the random workload shared by threads and processes ------------------ */

enum { WORK_TORN = 1000, WORK_BADVAL = 1001 };

static uint64_t rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* A page is consistent when its first and last counters agree. */
static bool page_ok(ptbm_pool *pool, const void *p)
{
	return get_u64(p, 0) == get_u64(p, ptbm_page_usable(pool) - 8);
}

/*
 * iters random operations on pages [0, n_pages): 40% exclusive increment of
 * the page's two counters (tallied), 30% shared check, 22% optimistic copy
 * and check, 4% two pages latched in ascending order, 2% prefetch, 2% flush
 * (when allowed). Returns 0, a ptbm error, or WORK_*. No cmocka here: it
 * runs in children too.
 */
static int work(ptbm_pool *pool, uint64_t seed, uint64_t n_pages, unsigned iters,
		_Atomic uint64_t *tally, bool flushes)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull | 1;
	size_t usable = ptbm_page_usable(pool);
	char *copy = malloc(usable);
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	for (unsigned i = 0; i < iters && rc == 0; i++) {
		uint64_t r = rng(&x);
		uint64_t pid = r % n_pages;
		unsigned kind = (unsigned)(r >> 40) % 100;
		void *p, *q;
		if (kind < 40) {
			if ((rc = ptbm_fix_exclusive(pool, pid, &p)) < 0)
				break;
			if (!page_ok(pool, p))
				rc = WORK_TORN;
			uint64_t c = get_u64(p, 0) + 1;
			put_u64(p, 0, c);
			put_u64(p, usable - 8, c);
			int rc2 = ptbm_mark_dirty(pool, pid);
			int rc3 = ptbm_unfix_exclusive(pool, pid);
			rc = rc ? rc : rc2 ? rc2 : rc3;
			atomic_fetch_add(&tally[pid], 1);
		} else if (kind < 70) {
			if ((rc = ptbm_fix_shared(pool, pid, &p)) < 0)
				break;
			if (!page_ok(pool, p))
				rc = WORK_TORN;
			int rc2 = ptbm_unfix_shared(pool, pid);
			rc = rc ? rc : rc2;
		} else if (kind < 92) {
			if ((rc = ptbm_read(pool, pid, 0, copy, usable)) < 0)
				break;
			if (!page_ok(pool, copy))
				rc = WORK_TORN;
		} else if (kind < 96) {
			uint64_t pid2 = (pid + 1 + (r >> 8) % 7) % n_pages;
			uint64_t lo = pid < pid2 ? pid : pid2, hi = pid < pid2 ? pid2 : pid;
			if (lo == hi)
				continue;
			if ((rc = ptbm_fix_exclusive(pool, lo, &p)) < 0)
				break;
			if ((rc = ptbm_fix_shared(pool, hi, &q)) < 0) {
				ptbm_unfix_exclusive(pool, lo);
				break;
			}
			if (!page_ok(pool, p) || !page_ok(pool, q))
				rc = WORK_TORN;
			int rc2 = ptbm_unfix_shared(pool, hi);
			int rc3 = ptbm_unfix_exclusive(pool, lo);
			rc = rc ? rc : rc2 ? rc2 : rc3;
		} else if (kind < 98) {
			uint64_t ids[4];
			for (int k = 0; k < 4; k++)
				ids[k] = (pid + (uint64_t)k * 5) % n_pages;
			int n = ptbm_prefetch(pool, ids, 4);
			rc = n < 0 ? n : 0;
		} else if (flushes) {
			rc = ptbm_flush(pool);
		}
	}
	free(copy);
	return rc;
}

/* Every page's counter equals the increments tallied for it. */
static int check_counters(ptbm_pool *pool, uint64_t n_pages, _Atomic uint64_t *tally)
{
	for (uint64_t pid = 0; pid < n_pages; pid++) {
		void *p;
		int rc = ptbm_fix_shared(pool, pid, &p);
		if (rc < 0)
			return rc;
		bool ok = page_ok(pool, p) && get_u64(p, 0) == atomic_load(&tally[pid]);
		if (!ok)
			fprintf(stderr, "page %llu: counters %llu/%llu, tally %llu\n",
				(unsigned long long)pid, (unsigned long long)get_u64(p, 0),
				(unsigned long long)get_u64(p, ptbm_page_usable(pool) - 8),
				(unsigned long long)atomic_load(&tally[pid]));
		ptbm_unfix_shared(pool, pid);
		if (!ok)
			return WORK_BADVAL;
	}
	return 0;
}

#define WORKERS	   4
#define WORK_ITERS 6000
#define WORK_PAGES DATA_PAGES

struct thread_arg {
	ptbm_pool *pool;
	unsigned id;
	_Atomic uint64_t *tally;
	int rc;
};

static void *thread_main(void *arg)
{
	struct thread_arg *a = arg;
	a->rc = work(a->pool, a->id + 1, WORK_PAGES, WORK_ITERS, a->tally, a->id == 0);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, WORK_PAGES);
	static _Atomic uint64_t tally[WORK_PAGES];
	for (unsigned i = 0; i < WORK_PAGES; i++)
		atomic_store(&tally[i], 0);
	pthread_t th[WORKERS];
	struct thread_arg args[WORKERS];
	for (unsigned i = 0; i < WORKERS; i++) {
		args[i] = (struct thread_arg){pool, i, tally, 0};
		assert_int_equal(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
	}
	for (unsigned i = 0; i < WORKERS; i++) {
		pthread_join(th[i], NULL);
		assert_rc(args[i].rc, 0);
	}
	assert_rc(check_counters(pool, WORK_PAGES, tally), 0);
	struct ptbm_stats st = tu_stats(pool);
	if (bounded()) {
		assert_true(st.resident <= SMALL_BUDGET);
		assert_true(st.evictions > 0);
	}
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	pool = reopen(__func__, engine, WORK_PAGES);
	assert_rc(check_counters(pool, WORK_PAGES, tally), 0);
	tu_close(pool);
}

/* flush + close + reopen keeps every page, for this engine and the others. */
static void test_persist(void **state)
{
	(void)state;
	enum { N = 200 };
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, N);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(pool, pid, 40 + pid % 3), 0);
	assert_rc(ptbm_flush(pool), 0);
	/* a page modified after the flush and not flushed need not survive;
	 * one flushed again must */
	assert_rc(tu_write(pool, 7, 9), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);

	for (enum ptbm_engine e = PTBM_ENGINE_VM; e <= PTBM_ENGINE_MMAP; e++) {
		struct ptbm_config cfg;
		config(&cfg, __func__, SMALL_BUDGET);
		cfg.engine = e;
		cfg.flags = 0;
		ptbm_pool *other = NULL;
		int rc = ptbm_open(&cfg, &other);
		if (rc == PTBM_ENOSUPPORT)
			continue; /* engine not built */
		assert_rc(rc, 0);
		assert_int_equal(tu_stats(other).allocated, N);
		for (uint64_t pid = 0; pid < N; pid++)
			assert_rc(tu_verify(other, pid, pid == 7 ? 9 : 40 + pid % 3), 0);
		tu_close(other);
	}
	/* and it grows again after the reopen */
	pool = reopen(__func__, engine, N);
	assert_int_equal(tu_alloc(pool, 10), N);
	assert_rc(tu_write(pool, N + 9, 1), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	pool = reopen(__func__, engine, N + 10);
	assert_rc(tu_verify(pool, N + 9, 1), 0);
	assert_rc(touch_zero(pool, N + 8), 0);
	tu_close(pool);
}

/* A page corrupted on disk: PTBM_ECHECKSUM every time, the others fine. */
static void test_checksum(void **state)
{
	(void)state;
	enum { N = 6, BAD = 2 };
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, N);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(pool, pid, 8), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);

	int fd = open(tu_path(__func__), O_RDWR);
	assert_true(fd >= 0);
	unsigned char byte;
	off_t at = (off_t)(BAD + 1) * TU_PAGE_SIZE + 100;
	assert_int_equal(pread(fd, &byte, 1, at), 1);
	byte ^= 0x40;
	assert_int_equal(pwrite(fd, &byte, 1, at), 1);
	assert_int_equal(fsync(fd), 0);
	close(fd);

	pool = reopen(__func__, engine, N);
	assert_rc(tu_verify(pool, 0, 8), 0);
	uint64_t resident = tu_stats(pool).resident;
	void *p;
	const void *cp;
	uint64_t v, x;
	assert_rc(ptbm_fix_shared(pool, BAD, &p), PTBM_ECHECKSUM);
	assert_rc(ptbm_fix_exclusive(pool, BAD, &p), PTBM_ECHECKSUM);
	assert_rc(ptbm_read(pool, BAD, 0, &x, sizeof x), PTBM_ECHECKSUM);
	assert_rc(ptbm_read_begin(pool, BAD, &cp, &v), PTBM_ECHECKSUM);
	assert_int_equal(tu_stats(pool).resident, resident); /* not resident */
	for (uint64_t pid = 0; pid < N; pid++)
		if (pid != BAD)
			assert_rc(tu_verify(pool, pid, 8), 0);
	/* the failed loads left no frame taken: a full budget still loads */
	if (bounded()) {
		assert_int_equal(tu_stats(pool).resident, N - 1);
		uint64_t first = tu_alloc(pool, 2 * SMALL_BUDGET);
		for (uint64_t pid = first; pid < first + 2 * SMALL_BUDGET; pid++)
			assert_rc(touch_zero(pool, pid), 0);
		assert_true(tu_stats(pool).resident <= SMALL_BUDGET);
	}
	/* overwriting the page is not possible through a fix: still refused */
	assert_rc(ptbm_fix_shared(pool, BAD, &p), PTBM_ECHECKSUM);
	tu_close(pool);
}

/* A page written, flushed, then zeroed on disk: PTBM_ECHECKSUM, not zeros;
 * a page allocated and never written: zeros. */
static void test_zeroed(void **state)
{
	(void)state;
	enum { N = 6, BAD = 3 };
	ptbm_pool *pool = open_with(__func__, SMALL_BUDGET, N + 1);
	for (uint64_t pid = 0; pid < N; pid++)
		assert_rc(tu_write(pool, pid, 9), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	int fd = open(tu_path(__func__), O_RDWR);
	assert_true(fd >= 0);
	static char zeros[TU_PAGE_SIZE];
	assert_int_equal(pwrite(fd, zeros, sizeof zeros, (off_t)(BAD + 1) * TU_PAGE_SIZE),
			 TU_PAGE_SIZE);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	pool = reopen(__func__, engine, N + 1);
	void *p;
	uint64_t x;
	assert_rc(ptbm_fix_shared(pool, BAD, &p), PTBM_ECHECKSUM);
	assert_rc(ptbm_read(pool, BAD, 0, &x, sizeof x), PTBM_ECHECKSUM);
	for (uint64_t pid = 0; pid < N; pid++)
		if (pid != BAD)
			assert_rc(tu_verify(pool, pid, 9), 0);
	assert_rc(touch_zero(pool, N), 0);
	tu_close(pool);
}

/* A named pool attached a second time in the same process. */
static void test_attach_twice(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	config(&cfg, __func__, SMALL_BUDGET);
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = tu_shm_name("twice");
	ptbm_pool *a = tu_open(&cfg), *b = NULL;
	assert_int_equal(tu_alloc(a, DATA_PAGES), 0);
	assert_rc(ptbm_attach(cfg.name, &b), 0);
	assert_int_equal(ptbm_engine_of(b), engine);
	for (uint64_t pid = 0; pid < DATA_PAGES; pid++)
		assert_rc(tu_write(pid % 2 ? a : b, pid, 21), 0);
	for (uint64_t pid = 0; pid < DATA_PAGES; pid++)
		assert_rc(tu_verify(pid % 2 ? b : a, pid, 21), 0);
	/* a latch taken through one handle is seen through the other */
	void *p;
	assert_rc(ptbm_fix_exclusive(a, 3, &p), 0);
	const void *cp;
	uint64_t v;
	struct tu_holder h;
	tu_holder_start(&h, b);
	tu_holder_post(&h, TU_FIX_SHARED, 3);
	assert_false(tu_holder_wait(&h, 100));
	assert_rc(ptbm_unfix_exclusive(a, 3), 0);
	assert_true(tu_holder_wait(&h, 30000));
	assert_rc(h.rc, 0);
	assert_rc(tu_holder_call(&h, TU_UNFIX_SHARED, 3), 0);
	tu_holder_stop(&h);
	assert_rc(ptbm_read_begin(b, 3, &cp, &v), 0);
	assert_rc(ptbm_read_validate(b, 3, v), 0);
	assert_rc(ptbm_flush(b), 0);
	tu_close(b);
	tu_close(a);
}

/* ---- processes mode ---------------------------------------------------------- */

#define PROC_WORKERS 2

struct proc_shared {
	_Atomic uint64_t tally[WORK_PAGES];
};

struct proc_arg {
	ptbm_pool *pool;
	struct proc_shared *sh;
	unsigned id;
};

static int proc_main(void *arg)
{
	struct proc_arg *a = arg;
	int rc = work(a->pool, 100 + a->id, WORK_PAGES, WORK_ITERS, a->sh->tally, a->id == 0);
	if (rc)
		fprintf(stderr, "worker %u: %d (%s)\n", a->id, rc, ptbm_strerror(rc));
	return rc ? 1 : 0;
}

static void test_fork_workers(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	config(&cfg, __func__, SMALL_BUDGET);
	cfg.share = PTBM_SHARE_PROCESSES;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, WORK_PAGES), 0);
	struct proc_shared *sh =
	    mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	pid_t kids[PROC_WORKERS];
	fflush(NULL);
	for (unsigned i = 0; i < PROC_WORKERS; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			struct proc_arg a = {pool, sh, i};
			_exit(proc_main(&a));
		}
	}
	for (unsigned i = 0; i < PROC_WORKERS; i++) {
		int status;
		assert_int_equal(waitpid(kids[i], &status, 0), kids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_rc(check_counters(pool, WORK_PAGES, sh->tally), 0);
	if (bounded())
		assert_true(tu_stats(pool).resident <= SMALL_BUDGET);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	pool = reopen(__func__, engine, WORK_PAGES);
	assert_rc(check_counters(pool, WORK_PAGES, sh->tally), 0);
	tu_close(pool);
	munmap(sh, sizeof *sh);
}

/* Child role: attach by name, write pages [0, 32) with seed 31. */
static int role_attach_write(const char *name)
{
	ptbm_pool *pool;
	int rc = ptbm_attach(name, &pool);
	if (rc < 0) {
		fprintf(stderr, "attach %s: %s\n", name, ptbm_strerror(rc));
		return 1;
	}
	for (uint64_t pid = 0; pid < 32 && rc == 0; pid++) {
		rc = tu_verify(pool, pid, 30);
		if (rc == 0)
			rc = tu_write(pool, pid, 31);
	}
	if (rc)
		fprintf(stderr, "child: %d (%s)\n", rc, ptbm_strerror(rc));
	ptbm_close(pool);
	return rc ? 1 : 0;
}

static void test_attach_exec(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	config(&cfg, __func__, SMALL_BUDGET);
	cfg.share = PTBM_SHARE_PROCESSES;
	cfg.name = tu_shm_name("exec");
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 32), 0);
	for (uint64_t pid = 0; pid < 32; pid++)
		assert_rc(tu_write(pool, pid, 30), 0);
	assert_int_equal(tu_spawn_self("attach_write", cfg.name), 0);
	for (uint64_t pid = 0; pid < 32; pid++)
		assert_rc(tu_verify(pool, pid, 31), 0);
	tu_close(pool);
}

/* ---- main --------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct tu_role roles[] = {{"attach_write", role_attach_write}, {NULL, NULL}};
	static const struct CMUnitTest threads_tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_many_latches),
	    cmocka_unit_test(test_optimistic),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_prefetch_batches),
	    cmocka_unit_test(test_writeback_error),
	    cmocka_unit_test(test_ring_failure),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_persist),
	    cmocka_unit_test(test_checksum),
	    cmocka_unit_test(test_zeroed),
	    cmocka_unit_test(test_attach_twice),
	};
	static const struct CMUnitTest process_tests[] = {
	    cmocka_unit_test(test_fork_workers),
	    cmocka_unit_test(test_attach_exec),
	};
	if (argc == 4 && strcmp(argv[1], "--child") == 0) /* tu_spawn_self */
		return tu_main(argc, argv, roles, __FILE__, threads_tests, 0);
	if (argc != 3) {
		fprintf(stderr, "usage: %s vm|hash|mmap threads|processes\n", argv[0]);
		return 2;
	}
	bool found = false;
	for (enum ptbm_engine e = PTBM_ENGINE_VM; e <= PTBM_ENGINE_MMAP; e++)
		if (strcmp(argv[1], ptbm_engine_name(e)) == 0) {
			engine = e;
			found = true;
		}
	bool processes = strcmp(argv[2], "processes") == 0;
	if (!found || (!processes && strcmp(argv[2], "threads") != 0)) {
		fprintf(stderr, "usage: %s vm|hash|mmap threads|processes\n", argv[0]);
		return 2;
	}
	/* is the engine built? */
	struct ptbm_config cfg;
	ptbm_config_init(&cfg);
	cfg.engine = engine;
	cfg.data_path = tu_path("probe");
	ptbm_pool *probe = NULL;
	if (ptbm_open(&cfg, &probe) == PTBM_ENOSUPPORT) {
		printf("engine %s not built: skip\n", argv[1]);
		return 77;
	}
	if (probe)
		ptbm_close(probe);
	char group[64];
	snprintf(group, sizeof group, "engine %s %s", argv[1], argv[2]);
	if (processes) {
#ifdef UNDER_TSAN
		printf("ThreadSanitizer does not follow fork: skip\n");
		return 77;
#endif
		return _cmocka_run_group_tests(group, process_tests,
					       sizeof process_tests / sizeof process_tests[0], NULL,
					       NULL);
	}
	return _cmocka_run_group_tests(group, threads_tests,
				       sizeof threads_tests / sizeof threads_tests[0], NULL, NULL);
}
