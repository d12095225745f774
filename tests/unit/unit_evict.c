/*
 * Description: eviction under a small budget. With more pages than the
 * budget holds, in both sharing modes: the pool's resident count and the
 * pages really in memory (mincore) never exceed the budget; dirty pages are
 * written back when evicted and read back intact; an evicted page's state
 * word is evicted, clean, version + 1. A page latched shared or exclusive
 * (even modified and not yet marked dirty) is never evicted. When every
 * resident page is latched, a miss returns PTBM_EBUSY instead of hanging,
 * and succeeds once one page is unlatched. The clock gives a page touched
 * since it was marked a second chance. A write-back that fails keeps its
 * victim in memory, dirty and intact; the miss returns the error only when
 * no victim could be released.
 * A forked child's misses evict pages the parent loaded.
 * A miss on a page past the file's end whose eviction writes back pages
 * further on (growing the file while the read is in flight) reads zeros,
 * not PTBM_ETRUNCATED.
 * The largest eviction batch (4096) evicts and writes back from a thread
 * with a 256 KiB stack.
 * A batch of misses (ptbm_prefetch) that finds the budget full evicts as
 * many victims as it loads, not a whole eviction batch, in both sharing
 * modes: the budget ends full, never over.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_PAGES (4 * TU_BUDGET)

static ptbm_pool *open_evict(const char *file, enum ptbm_share share, uint64_t budget_pages,
			     uint64_t n)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	cfg.budget_bytes = budget_pages * TU_PAGE_SIZE;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, n), 0);
	return pool;
}

/* Write 4x the budget, then read it all back. */
static void budget_round_trip(const char *file, enum ptbm_share share)
{
	ptbm_pool *pool = open_evict(file, share, TU_BUDGET, N_PAGES);
	assert_int_equal(tu_stats(pool).budget_pages, TU_BUDGET);
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		assert_rc(tu_write(pool, pid, 1), 0);
		tu_check_within_budget(pool);
	}
	struct ptbm_stats st = tu_stats(pool);
	assert_true(st.evictions >= N_PAGES - TU_BUDGET);
	assert_int_equal(st.writes, st.evictions); /* every victim was dirty */
	assert_int_equal(st.resident, N_PAGES - st.evictions);

	/* each page was written once and loaded once: an evicted one is at
	 * version 2 (unfix, eviction) and clean */
	uint64_t evicted = 0;
	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		uint64_t s = tu_word(pool, pid);
		if (ptbm_tag(s) != PTBM_TAG_EVICTED) {
			assert_true(s & PTBM_DIRTY_BIT);
			continue;
		}
		evicted++;
		assert_false(s & PTBM_DIRTY_BIT);
		assert_int_equal(ptbm_version(s), 2);
	}
	assert_int_equal(evicted, st.evictions);

	for (uint64_t pid = 0; pid < N_PAGES; pid++) {
		if (tu_verify(pool, pid, 1) != 0)
			fail_msg("page %llu: lost its write", (unsigned long long)pid);
		tu_check_within_budget(pool);
	}
	st = tu_stats(pool);
	assert_true(st.reads >= st.evictions); /* the evicted pages came back from disk */
	tu_close(pool);
}

static void test_budget_threads(void **state)
{
	(void)state;
	budget_round_trip(__func__, PTBM_SHARE_THREADS);
}

static void test_budget_processes(void **state)
{
	(void)state;
	budget_round_trip(__func__, PTBM_SHARE_PROCESSES);
}

/* Latched pages stay, at the same address, with their contents and words. */
static void test_latched_never_evicted(void **state)
{
	(void)state;
	ptbm_pool *pool = open_evict(__func__, PTBM_SHARE_THREADS, TU_BUDGET, N_PAGES);
	size_t usable = ptbm_page_usable(pool);
	assert_rc(tu_write(pool, 0, 5), 0);
	assert_rc(tu_write(pool, 1, 5), 0);
	void *p0, *p1;
	assert_rc(ptbm_fix_shared(pool, 0, &p0), 0);
	assert_rc(ptbm_fix_exclusive(pool, 1, &p1), 0);
	tu_fill(p1, usable, 1, 6); /* modified, not yet marked dirty */
	uint64_t s0 = tu_word(pool, 0), s1 = tu_word(pool, 1);

	for (int round = 0; round < 2; round++)
		for (uint64_t pid = 2; pid < N_PAGES; pid++)
			assert_rc(tu_write(pool, pid, 7), 0);
	assert_true(tu_stats(pool).evictions >= 2 * (N_PAGES - 2) - TU_BUDGET);
	assert_int_equal(tu_word(pool, 0), s0);
	assert_int_equal(tu_word(pool, 1), s1);
	assert_true(tu_check(p0, usable, 0, 5));
	assert_true(tu_check(p1, usable, 1, 6));
	assert_int_equal(tu_pages_in_core(pool, 2), 2);

	assert_rc(ptbm_mark_dirty(pool, 1), 0);
	assert_rc(ptbm_unfix_exclusive(pool, 1), 0);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	/* unlatched, they go like the others */
	for (int round = 0; round < 8; round++) {
		if (tu_tag(pool, 0) == PTBM_TAG_EVICTED && tu_tag(pool, 1) == PTBM_TAG_EVICTED)
			break;
		for (uint64_t pid = 2; pid < N_PAGES; pid++)
			assert_rc(tu_verify(pool, pid, 7), 0);
	}
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_EVICTED);
	assert_int_equal(tu_tag(pool, 1), PTBM_TAG_EVICTED);
	assert_rc(tu_verify(pool, 0, 5), 0);
	assert_rc(tu_verify(pool, 1, 6), 0);
	tu_close(pool);
}

/* Every resident page latched: a miss is PTBM_EBUSY, promptly, and leaves
 * the page evicted; unlatch one and the miss evicts it. */
static void test_all_latched_busy(void **state)
{
	(void)state;
	const uint64_t budget = TU_BATCH; /* the smallest budget allowed */
	ptbm_pool *pool = open_evict(__func__, PTBM_SHARE_THREADS, budget, budget + 1);
	void *p;
	for (uint64_t pid = 0; pid < budget; pid++)
		assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
	assert_int_equal(tu_stats(pool).resident, budget);

	double t0 = tu_now_ms();
	assert_rc(ptbm_fix_shared(pool, budget, &p), PTBM_EBUSY);
	double ms = tu_now_ms() - t0;
	if (ms > 20000)
		fail_msg("PTBM_EBUSY took %.0f ms", ms);
	assert_int_equal(tu_tag(pool, budget), PTBM_TAG_EVICTED);
	assert_rc(ptbm_fix_exclusive(pool, budget, &p), PTBM_EBUSY);
	const void *cp;
	uint64_t v, one = budget;
	assert_rc(ptbm_read_begin(pool, budget, &cp, &v), PTBM_EBUSY);
	assert_rc(ptbm_prefetch(pool, &one, 1), PTBM_EBUSY);
	assert_int_equal(tu_tag(pool, budget), PTBM_TAG_EVICTED);
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.resident, budget);
	assert_int_equal(st.evictions, 0);
	for (uint64_t pid = 0; pid < budget; pid++)
		assert_int_equal(tu_tag(pool, pid), 2);

	assert_rc(ptbm_unfix_shared(pool, 10), 0);
	assert_rc(ptbm_fix_shared(pool, budget, &p), 0);
	assert_int_equal(tu_tag(pool, 10), PTBM_TAG_EVICTED);
	assert_int_equal(tu_stats(pool).evictions, 1);
	for (uint64_t pid = 0; pid <= budget; pid++)
		if (pid != 10)
			assert_rc(ptbm_unfix_shared(pool, pid), 0);
	tu_close(pool);
}

static void touch(ptbm_pool *pool, uint64_t pid)
{
	void *p;
	assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, pid), 0);
}

/* The first marked page after the clock hand (which walks allocated page ids
 * in order, wrapping), after `after` (or any). */
static uint64_t next_marked(ptbm_pool *pool, uint64_t after)
{
	struct ptbm_pageset *rs = pool->engine_area;
	uint64_t span = (atomic_load(&pool->sh->n_alloc) + 63) / 64 * 64;
	uint64_t hand = atomic_load(&pool->sh->clock_hand) % span;
	bool seen = after == UINT64_MAX;
	for (uint64_t i = 0; i < span; i++) {
		uint64_t pid = (hand + i) % span;
		if (ptbm_pageset_next(rs, pid, pid + 1) != pid)
			continue; /* not resident */
		if (!seen) {
			seen = pid == after;
			continue;
		}
		if (tu_tag(pool, pid) == PTBM_TAG_MARKED)
			return pid;
	}
	fail_msg("no marked page after the clock hand");
	return UINT64_MAX;
}

/* Second chance: the clock marks unlocked pages, evicts marked ones, and a
 * page latched since it was marked is passed over. */
static void test_second_chance(void **state)
{
	(void)state;
	const uint64_t budget = 4 * TU_BATCH, n = 3 * budget;
	ptbm_pool *pool = open_evict(__func__, PTBM_SHARE_THREADS, budget, n);
	uint64_t next = 0;
	while (next < budget)
		touch(pool, next++);
	assert_int_equal(tu_stats(pool).evictions, 0);
	for (uint64_t pid = 0; pid < budget; pid++)
		assert_int_equal(tu_tag(pool, pid), PTBM_TAG_UNLOCKED);

	/* round 1: every resident page is marked, then one batch is taken */
	touch(pool, next++);
	assert_int_equal(tu_stats(pool).evictions, TU_BATCH);
	uint64_t marked = 0, evicted = 0;
	for (uint64_t pid = 0; pid < budget; pid++) {
		uint64_t tag = tu_tag(pool, pid);
		marked += tag == PTBM_TAG_MARKED;
		evicted += tag == PTBM_TAG_EVICTED;
	}
	assert_int_equal(evicted, TU_BATCH);
	assert_int_equal(marked, budget - TU_BATCH);

	/* x would be the next victim, y the one after it; latch x once */
	uint64_t x = next_marked(pool, UINT64_MAX);
	uint64_t y = next_marked(pool, x);
	touch(pool, x);
	assert_int_equal(tu_tag(pool, x), PTBM_TAG_UNLOCKED);

	/* round 2 */
	while (tu_stats(pool).evictions < 2 * TU_BATCH && next < n)
		touch(pool, next++);
	assert_int_equal(tu_stats(pool).evictions, 2 * TU_BATCH);
	assert_int_equal(tu_tag(pool, y), PTBM_TAG_EVICTED);
	assert_int_equal(tu_tag(pool, x), PTBM_TAG_MARKED);
	tu_close(pool);
}

/* A write-back that fails for one victim keeps that victim resident, dirty,
 * unlatched and intact; the rest of the batch is evicted and the miss
 * succeeds. A flush writes the kept page later. */
static void test_evict_write_fault_one(void **state)
{
	(void)state;
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	const uint64_t budget = TU_BATCH;
	ptbm_pool *pool = open_evict(__func__, PTBM_SHARE_THREADS, budget, budget + 1);
	for (uint64_t pid = 0; pid < budget; pid++)
		assert_rc(tu_write(pool, pid, 9), 0);

	void *p;
	ptbm_fault_inject_write(PTBM_FAULT_EIO, 10);
	assert_rc(ptbm_fix_shared(pool, budget, &p), 0);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	assert_rc(ptbm_unfix_shared(pool, budget), 0);
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.evictions, budget - 1);
	assert_int_equal(st.writes, budget - 1);
	assert_int_equal(st.resident, 2);
	uint64_t kept = UINT64_MAX;
	for (uint64_t pid = 0; pid < budget; pid++) {
		uint64_t s = tu_word(pool, pid);
		if (ptbm_tag(s) == PTBM_TAG_EVICTED) {
			assert_false(s & PTBM_DIRTY_BIT);
			continue;
		}
		assert_int_equal(kept, UINT64_MAX);
		kept = pid;
		assert_int_equal(ptbm_tag(s), PTBM_TAG_UNLOCKED);
		assert_true(s & PTBM_DIRTY_BIT);
	}
	assert_int_not_equal(kept, UINT64_MAX);
	assert_rc(tu_verify(pool, kept, 9), 0);
	assert_rc(ptbm_flush(pool), 0);
	assert_int_equal(tu_stats(pool).writes, budget);
	assert_false(tu_word(pool, kept) & PTBM_DIRTY_BIT);
	for (uint64_t pid = 0; pid < budget; pid++)
		assert_rc(tu_verify(pool, pid, 9), 0);
	tu_close(pool);
}

/* The only victim's write-back fails: no frame can be freed, the miss
 * returns the write's error and leaves its page evicted; the victim stays
 * resident, dirty and intact; the next miss writes and evicts it. */
static void evict_write_fault_all(enum ptbm_fault fault, int want)
{
#ifndef PTBM_FAULT_INJECTION
	skip();
#endif
	const uint64_t budget = TU_BATCH, victim = 5;
	ptbm_pool *pool = open_evict("evict_write_fault", PTBM_SHARE_THREADS, budget, budget + 1);
	void *p;
	for (uint64_t pid = 0; pid < budget; pid++)
		if (pid != victim)
			assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
	assert_rc(tu_write(pool, victim, 9), 0);

	ptbm_fault_inject_write(fault, 0);
	assert_rc(ptbm_fix_shared(pool, budget, &p), want);
	ptbm_fault_inject_write(PTBM_FAULT_NONE, 0);
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.evictions, 0);
	assert_int_equal(st.writes, 0);
	assert_int_equal(st.resident, budget);
	assert_int_equal(tu_tag(pool, budget), PTBM_TAG_EVICTED);
	uint64_t s = tu_word(pool, victim);
	assert_int_equal(ptbm_tag(s), PTBM_TAG_UNLOCKED);
	assert_true(s & PTBM_DIRTY_BIT);
	assert_rc(tu_verify(pool, victim, 9), 0);

	assert_rc(ptbm_fix_shared(pool, budget, &p), 0);
	st = tu_stats(pool);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.writes, 1);
	assert_int_equal(tu_tag(pool, victim), PTBM_TAG_EVICTED);
	for (uint64_t pid = 0; pid <= budget; pid++)
		if (pid != victim)
			assert_rc(ptbm_unfix_shared(pool, pid), 0);
	assert_rc(tu_verify(pool, victim, 9), 0); /* from disk */
	tu_close(pool);
}

static void test_evict_write_eio(void **state)
{
	(void)state;
	evict_write_fault_all(PTBM_FAULT_EIO, -EIO);
}

static void test_evict_write_enospc(void **state)
{
	(void)state;
	evict_write_fault_all(PTBM_FAULT_ENOSPC, -ENOSPC);
}

static void test_evict_write_short(void **state)
{
	(void)state;
	evict_write_fault_all(PTBM_FAULT_SHORT, PTBM_EIO_SHORT);
}

static ptbm_pool *child_pool;

static int child_loads_more(void *arg)
{
	(void)arg;
	for (uint64_t pid = TU_BUDGET; pid < 2 * TU_BUDGET; pid++)
		if (tu_write(child_pool, pid, 3) != 0)
			return 1;
	return 0;
}

/* Processes mode: a child's misses evict the parent's pages; the parent
 * finds them gone from memory and reads them back intact. */
/*
 * A miss reads a page never written, past the end of the file; the miss
 * finds the budget full of dirty pages further on and writes them back,
 * so the file grows past the page while its read is in flight. The read
 * found the end of the file, which is no truncation: zeros.
 */
static void miss_past_end_while_file_grows(const char *file, enum ptbm_share share)
{
	for (int round = 0; round < 3; round++) {
		ptbm_pool *pool = open_evict(file, share, TU_BUDGET, 4 * TU_BUDGET);
		for (uint64_t pid = 2 * TU_BUDGET; pid < 3 * TU_BUDGET; pid++)
			assert_rc(tu_write(pool, pid, 3), 0);
		assert_int_equal(tu_stats(pool).writes, 0); /* nothing on disk yet */
		for (uint64_t pid = 0; pid < 4; pid++) {
			void *p;
			assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
			assert_true(tu_is_zero(p, ptbm_page_usable(pool)));
			assert_rc(ptbm_unfix_shared(pool, pid), 0);
		}
		assert_true(tu_stats(pool).writes > 0); /* the file did grow */
		for (uint64_t pid = 2 * TU_BUDGET; pid < 3 * TU_BUDGET; pid++)
			assert_int_equal(tu_verify(pool, pid, 3), 0);
		tu_close(pool);
	}
}

static void test_miss_past_end_threads(void **state)
{
	(void)state;
	miss_past_end_while_file_grows(__func__, PTBM_SHARE_THREADS);
}

static void test_miss_past_end_processes(void **state)
{
	(void)state;
	miss_past_end_while_file_grows(__func__, PTBM_SHARE_PROCESSES);
}

static void test_child_evicts(void **state)
{
	(void)state;
	ptbm_pool *pool = open_evict(__func__, PTBM_SHARE_PROCESSES, TU_BUDGET, 2 * TU_BUDGET);
	for (uint64_t pid = 0; pid < TU_BUDGET; pid++)
		assert_rc(tu_write(pool, pid, 2), 0);
	assert_int_equal(tu_pages_in_core(pool, 2 * TU_BUDGET), TU_BUDGET);
	child_pool = pool;
	assert_int_equal(tu_fork_run(child_loads_more, NULL), 0);

	struct ptbm_stats st = tu_stats(pool);
	assert_true(st.evictions >= TU_BUDGET);
	assert_true(st.resident <= TU_BUDGET);
	uint64_t gone = 0;
	for (uint64_t pid = 0; pid < TU_BUDGET; pid++)
		gone += tu_tag(pool, pid) == PTBM_TAG_EVICTED;
	assert_true(gone >= TU_BUDGET - TU_BATCH);
	tu_check_within_budget(pool);
	for (uint64_t pid = 0; pid < TU_BUDGET; pid++)
		assert_rc(tu_verify(pool, pid, 2), 0);
	for (uint64_t pid = TU_BUDGET; pid < 2 * TU_BUDGET; pid++)
		assert_rc(tu_verify(pool, pid, 3), 0);
	tu_check_within_budget(pool);
	tu_close(pool);
}

/* ---- the largest batch on a small stack --------------------------------- */

#define BIG_BATCH 4096u

static void *write_and_verify(void *arg)
{
	ptbm_pool *pool = arg;
	uint64_t n = BIG_BATCH + 256;
	for (uint64_t pid = 0; pid < n; pid++)
		if (tu_write(pool, pid, 3) != 0)
			return (void *)1;
	for (uint64_t pid = 0; pid < n; pid++)
		if (tu_verify(pool, pid, 3) != 0)
			return (void *)2;
	return NULL;
}

static void test_big_batch_small_stack(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	tu_config(&cfg, __func__);
	cfg.max_pages = 2 * BIG_BATCH;
	cfg.evict_batch = BIG_BATCH;
	cfg.budget_bytes = (uint64_t)BIG_BATCH * TU_PAGE_SIZE;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, BIG_BATCH + 256), 0);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t t;
	assert_int_equal(pthread_create(&t, &attr, write_and_verify, pool), 0);
	pthread_attr_destroy(&attr);
	void *ret;
	pthread_join(t, &ret);
	assert_null(ret);
	struct ptbm_stats st = tu_stats(pool);
	assert_true(st.evictions >= 256);
	assert_true(st.writes >= 256);
	tu_close(pool);
}

/* Prefetch batches of evicted pages into a full budget: each evicts what it
 * loads beyond the free frames, so the budget is full after each. */
static void batch_evicts_its_need(const char *file, enum ptbm_share share)
{
	enum { BUDGET = 512, BATCH = 64, LOADS = 24 };
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	cfg.budget_bytes = (uint64_t)BUDGET * TU_PAGE_SIZE;
	cfg.evict_batch = BATCH;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 4 * BUDGET), 0);
	for (uint64_t pid = 0; pid < 4 * BUDGET; pid++)
		assert_rc(tu_write(pool, pid, 9), 0);
	assert_rc(ptbm_flush(pool), 0); /* clean victims: no write-back */
	uint64_t next = 0;
	for (int round = 0; round < 8; round++) {
		uint64_t pids[LOADS];
		for (int i = 0; i < LOADS; next++)
			if (tu_tag(pool, next % (4 * BUDGET)) == PTBM_TAG_EVICTED)
				pids[i++] = next % (4 * BUDGET);
		struct ptbm_stats before = tu_stats(pool);
		assert_rc(ptbm_prefetch(pool, pids, LOADS), LOADS);
		struct ptbm_stats after = tu_stats(pool);
		uint64_t over =
		    before.resident + LOADS > BUDGET ? before.resident + LOADS - BUDGET : 0;
		if (after.evictions - before.evictions != over)
			fail_msg("round %d: %llu resident + %d loaded evicted %llu, not %llu",
				 round, (unsigned long long)before.resident, LOADS,
				 (unsigned long long)(after.evictions - before.evictions),
				 (unsigned long long)over);
		assert_true(after.resident <= BUDGET);
		if (over)
			assert_int_equal(after.resident, BUDGET);
		tu_check_within_budget(pool);
	}
	for (uint64_t pid = 0; pid < 4 * BUDGET; pid++)
		assert_rc(tu_verify(pool, pid, 9), 0);
	tu_close(pool);
}

static void test_batch_evicts_its_need_threads(void **state)
{
	(void)state;
	batch_evicts_its_need(__func__, PTBM_SHARE_THREADS);
}

static void test_batch_evicts_its_need_processes(void **state)
{
	(void)state;
	batch_evicts_its_need(__func__, PTBM_SHARE_PROCESSES);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_budget_threads),
	    cmocka_unit_test(test_budget_processes),
	    cmocka_unit_test(test_latched_never_evicted),
	    cmocka_unit_test(test_all_latched_busy),
	    cmocka_unit_test(test_second_chance),
	    cmocka_unit_test(test_evict_write_fault_one),
	    cmocka_unit_test(test_evict_write_eio),
	    cmocka_unit_test(test_evict_write_enospc),
	    cmocka_unit_test(test_evict_write_short),
	    cmocka_unit_test(test_child_evicts),
	    cmocka_unit_test(test_miss_past_end_threads),
	    cmocka_unit_test(test_miss_past_end_processes),
	    cmocka_unit_test(test_big_batch_small_stack),
	    cmocka_unit_test(test_batch_evicts_its_need_threads),
	    cmocka_unit_test(test_batch_evicts_its_need_processes),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
