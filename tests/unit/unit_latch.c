/*
 * Description: the page state word, one transition at a time. Each test
 * drives a page through latch calls and reads its state word (internal.h)
 * after every step: evicted -> exclusive -> unlocked with version + 1;
 * shared holder counts up and down, and the 252-holder ceiling; the clock's
 * mark cleared by any latch; misuse (unfix or mark_dirty of a page not
 * latched that way) refused with PTBM_ENOTFIXED and the word unchanged; the
 * dirty bit set by mark_dirty and cleared by flush; page ids beyond
 * max_pages or not allocated refused with PTBM_ERANGE by every call; NULL
 * arguments refused; optimistic reads (begin, validate, upgrade, ptbm_read)
 * and their restarts; and latches that block: a reader or writer waiting
 * for a writer (or for readers) gets the page only after it is released,
 * which the test checks by what the waiter sees in the page.
 */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A threads-mode pool with n allocated pages. */
static ptbm_pool *open_with(const char *file, uint64_t n)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, n), 0);
	return pool;
}

static void put_u64(void *page, uint64_t v)
{
	memcpy(page, &v, sizeof v);
}

/* evicted --fix exclusive--> exclusive --unfix--> unlocked, version + 1 */
static void test_evicted_exclusive_unlocked(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 2);
	uint64_t s0 = tu_word(pool, 0);
	assert_int_equal(ptbm_tag(s0), PTBM_TAG_EVICTED);

	void *p;
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_ptr_equal(p, ptbm_page_addr(pool, 0));
	uint64_t s1 = tu_word(pool, 0);
	assert_int_equal(ptbm_tag(s1), PTBM_TAG_EXCLUSIVE);
	assert_int_equal(ptbm_version(s1), ptbm_version(s0));
	assert_int_equal(ptbm_gen(s1), ptbm_gen(s0) % 127 + 1); /* loaded once more */
	assert_int_equal(tu_stats(pool).resident, 1);

	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	uint64_t s2 = tu_word(pool, 0);
	assert_int_equal(ptbm_tag(s2), PTBM_TAG_UNLOCKED);
	assert_int_equal(ptbm_version(s2), ptbm_version(s1) + 1);
	assert_int_equal(ptbm_gen(s2), ptbm_gen(s1));
	assert_false(s2 & PTBM_DIRTY_BIT);

	/* unlocked --fix exclusive--> exclusive (no load) --unfix--> v + 1 */
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_int_equal(ptbm_tag(tu_word(pool, 0)), PTBM_TAG_EXCLUSIVE);
	assert_int_equal(ptbm_gen(tu_word(pool, 0)), ptbm_gen(s2));
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_int_equal(ptbm_version(tu_word(pool, 0)), ptbm_version(s2) + 1);

	/* evicted --fix shared--> shared(1) --unfix--> unlocked, version kept */
	uint64_t e = tu_word(pool, 1);
	assert_rc(ptbm_fix_shared(pool, 1, &p), 0);
	assert_int_equal(ptbm_tag(tu_word(pool, 1)), 2);
	assert_rc(ptbm_unfix_shared(pool, 1), 0);
	assert_int_equal(ptbm_tag(tu_word(pool, 1)), PTBM_TAG_UNLOCKED);
	assert_int_equal(ptbm_version(tu_word(pool, 1)), ptbm_version(e));
	assert_int_equal(tu_stats(pool).resident, 2);
	tu_close(pool);
}

/* Shared holders in several threads: the tag counts them, up and down. */
static void test_shared_counts(void **state)
{
	(void)state;
	enum { N = 4 };
	ptbm_pool *pool = open_with(__func__, 1);
	struct tu_holder h[N];
	for (int i = 0; i < N; i++)
		tu_holder_start(&h[i], pool);
	uint64_t v = ptbm_version(tu_word(pool, 0));
	for (int i = 0; i < N; i++) {
		assert_rc(tu_holder_call(&h[i], TU_FIX_SHARED, 0), 0);
		assert_int_equal(tu_tag(pool, 0), 2 + i);
	}
	for (int i = N - 1; i >= 0; i--) {
		assert_rc(tu_holder_call(&h[i], TU_UNFIX_SHARED, 0), 0);
		assert_int_equal(tu_tag(pool, 0), 1 + i);
	}
	assert_int_equal(ptbm_version(tu_word(pool, 0)), v);
	for (int i = 0; i < N; i++)
		tu_holder_stop(&h[i]);
	tu_close(pool);
}

/* At 252 holders (tag PTBM_TAG_SHARED_MAX) a further reader waits. */
static void test_shared_ceiling(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	void *p;
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	/* pretend 252 readers hold it */
	uint64_t s = tu_word(pool, 0);
	atomic_store(&pool->desc[0], ptbm_with_tag(s, PTBM_TAG_SHARED_MAX));

	struct tu_holder h;
	tu_holder_start(&h, pool);
	tu_holder_post(&h, TU_FIX_SHARED, 0);
	assert_false(tu_holder_wait(&h, 100));
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_SHARED_MAX);
	/* one of them leaves: the waiter gets in */
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	assert_true(tu_holder_wait(&h, 30000));
	assert_rc(h.rc, 0);
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_SHARED_MAX);
	assert_rc(tu_holder_call(&h, TU_UNFIX_SHARED, 0), 0);
	tu_holder_stop(&h);
	atomic_store(&pool->desc[0], ptbm_with_tag(s, PTBM_TAG_UNLOCKED));
	tu_close(pool);
}

/* A marked page (the clock's second chance) is unlocked for every purpose,
 * and any latch clears the mark. */
static void test_marked(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	void *p;
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	put_u64(p, 42);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	uint64_t s = tu_word(pool, 0);
	uint64_t marked = ptbm_with_tag(s, PTBM_TAG_MARKED);

	atomic_store(&pool->desc[0], marked);
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	assert_int_equal(tu_word(pool, 0), ptbm_with_tag(s, 2));
	assert_int_equal(*(uint64_t *)p, 42); /* the page was not reloaded */
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	assert_int_equal(tu_word(pool, 0), s);

	atomic_store(&pool->desc[0], marked);
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_int_equal(tu_word(pool, 0), ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE));
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_int_equal(tu_word(pool, 0), ptbm_bump_version(s));

	/* an optimistic read of a marked page works and writes nothing */
	s = tu_word(pool, 0);
	marked = ptbm_with_tag(s, PTBM_TAG_MARKED);
	atomic_store(&pool->desc[0], marked);
	const void *cp;
	uint64_t v;
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_int_equal(v, ptbm_version(s));
	assert_rc(ptbm_read_validate(pool, 0, v), 0);
	assert_int_equal(tu_word(pool, 0), marked);
	/* ... and upgrades from it */
	assert_rc(ptbm_upgrade(pool, 0, v), 0);
	assert_int_equal(tu_word(pool, 0), ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE));
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_int_equal(tu_word(pool, 0), ptbm_bump_version(s));
	tu_close(pool);
}

/* Unfix and mark_dirty of a page not latched that way: PTBM_ENOTFIXED, and
 * the state word is left exactly as it was. */
static void test_not_fixed(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 3);
	uint64_t s;
	void *p;

	/* evicted (page 2 never loaded) */
	s = tu_word(pool, 2);
	assert_rc(ptbm_unfix_shared(pool, 2), PTBM_ENOTFIXED);
	assert_rc(ptbm_unfix_exclusive(pool, 2), PTBM_ENOTFIXED);
	assert_rc(ptbm_mark_dirty(pool, 2), PTBM_ENOTFIXED);
	assert_int_equal(tu_word(pool, 2), s);

	/* unlocked */
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	s = tu_word(pool, 0);
	assert_rc(ptbm_unfix_shared(pool, 0), PTBM_ENOTFIXED);
	assert_rc(ptbm_unfix_exclusive(pool, 0), PTBM_ENOTFIXED);
	assert_rc(ptbm_mark_dirty(pool, 0), PTBM_ENOTFIXED);
	assert_int_equal(tu_word(pool, 0), s);

	/* marked */
	atomic_store(&pool->desc[0], ptbm_with_tag(s, PTBM_TAG_MARKED));
	assert_rc(ptbm_unfix_shared(pool, 0), PTBM_ENOTFIXED);
	assert_rc(ptbm_unfix_exclusive(pool, 0), PTBM_ENOTFIXED);
	assert_rc(ptbm_mark_dirty(pool, 0), PTBM_ENOTFIXED);
	assert_int_equal(tu_word(pool, 0), ptbm_with_tag(s, PTBM_TAG_MARKED));
	atomic_store(&pool->desc[0], s);

	/* shared: not exclusive */
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	s = tu_word(pool, 0);
	assert_rc(ptbm_unfix_exclusive(pool, 0), PTBM_ENOTFIXED);
	assert_rc(ptbm_mark_dirty(pool, 0), PTBM_ENOTFIXED);
	assert_int_equal(tu_word(pool, 0), s);
	assert_false(s & PTBM_DIRTY_BIT);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);

	/* exclusive: not shared */
	assert_rc(ptbm_fix_exclusive(pool, 1, &p), 0);
	s = tu_word(pool, 1);
	assert_rc(ptbm_unfix_shared(pool, 1), PTBM_ENOTFIXED);
	assert_int_equal(tu_word(pool, 1), s);
	assert_rc(ptbm_unfix_exclusive(pool, 1), 0);
	tu_close(pool);
}

/* The dirty bit: set under the exclusive latch, kept through unfix and
 * shared fixes, cleared (and the page written) by ptbm_flush. */
static void test_dirty_bit(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 2);
	void *p;
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_false(tu_word(pool, 0) & PTBM_DIRTY_BIT);
	tu_fill(p, ptbm_page_usable(pool), 0, 7);
	assert_rc(ptbm_mark_dirty(pool, 0), 0);
	assert_true(tu_word(pool, 0) & PTBM_DIRTY_BIT);
	assert_rc(ptbm_mark_dirty(pool, 0), 0); /* twice is fine */
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_EXCLUSIVE);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	uint64_t s = tu_word(pool, 0);
	assert_true(s & PTBM_DIRTY_BIT);
	assert_int_equal(ptbm_tag(s), PTBM_TAG_UNLOCKED);

	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	assert_true(tu_word(pool, 0) & PTBM_DIRTY_BIT);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);

	/* page 1 loaded but clean: flush must not write it */
	assert_rc(ptbm_fix_shared(pool, 1, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, 1), 0);

	uint64_t writes = tu_stats(pool).writes;
	assert_rc(ptbm_flush(pool), 0);
	s = tu_word(pool, 0);
	assert_false(s & PTBM_DIRTY_BIT);
	assert_int_equal(ptbm_tag(s), PTBM_TAG_UNLOCKED);
	assert_int_equal(tu_stats(pool).writes, writes + 1);
	/* nothing dirty any more: a second flush writes no page */
	assert_rc(ptbm_flush(pool), 0);
	assert_int_equal(tu_stats(pool).writes, writes + 1);
	assert_rc(tu_verify(pool, 0, 7), 0);
	tu_close(pool);
}

/* The version is 48 bits and wraps without touching gen, dirty or tag. */
static void test_version_wrap(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	void *p;
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_rc(ptbm_mark_dirty(pool, 0), 0);
	uint64_t s = tu_word(pool, 0) | PTBM_VERSION_MASK;
	atomic_store(&pool->desc[0], s);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	uint64_t t = tu_word(pool, 0);
	assert_int_equal(ptbm_version(t), 0);
	assert_int_equal(ptbm_tag(t), PTBM_TAG_UNLOCKED);
	assert_int_equal(ptbm_gen(t), ptbm_gen(s));
	assert_true(t & PTBM_DIRTY_BIT);
	tu_close(pool);
}

/* The residency generation runs 1..127 and skips 0 ("never mapped"). */
static void test_gen_wrap(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	/* an evicted page whose last load was generation 127 */
	atomic_store(&pool->desc[0], (127ull << PTBM_GEN_SHIFT) | 5);
	void *p;
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	uint64_t s = tu_word(pool, 0);
	assert_int_equal(ptbm_gen(s), 1);
	assert_int_equal(ptbm_version(s), 5);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	tu_close(pool);
}

/* Every page call refuses ids beyond max_pages; the fixing calls refuse ids
 * not yet allocated and leave the page evicted and no frame taken. */
static void test_range(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 2);
	const uint64_t bad[] = {TU_MAX_PAGES, TU_MAX_PAGES + 1, UINT64_MAX / 2, UINT64_MAX};
	char buf[16];
	void *p;
	const void *cp;
	uint64_t v;
	assert_int_equal(ptbm_max_pages(pool), TU_MAX_PAGES);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t pid = bad[i];
		assert_rc(ptbm_fix_shared(pool, pid, &p), PTBM_ERANGE);
		assert_rc(ptbm_fix_exclusive(pool, pid, &p), PTBM_ERANGE);
		assert_rc(ptbm_unfix_shared(pool, pid), PTBM_ERANGE);
		assert_rc(ptbm_unfix_exclusive(pool, pid), PTBM_ERANGE);
		assert_rc(ptbm_mark_dirty(pool, pid), PTBM_ERANGE);
		assert_rc(ptbm_read_begin(pool, pid, &cp, &v), PTBM_ERANGE);
		assert_rc(ptbm_read_validate(pool, pid, 0), PTBM_ERANGE);
		assert_rc(ptbm_upgrade(pool, pid, 0), PTBM_ERANGE);
		assert_rc(ptbm_read(pool, pid, 0, buf, sizeof buf), PTBM_ERANGE);
		assert_rc(ptbm_prefetch(pool, &pid, 1), PTBM_ERANGE);
	}

	/* allocated: 0 and 1. Not allocated: 2 .. max_pages - 1 */
	const uint64_t unalloc[] = {2, 3, TU_MAX_PAGES - 1};
	for (size_t i = 0; i < sizeof unalloc / sizeof unalloc[0]; i++) {
		uint64_t pid = unalloc[i];
		uint64_t s = tu_word(pool, pid);
		assert_rc(ptbm_fix_shared(pool, pid, &p), PTBM_ERANGE);
		assert_rc(ptbm_fix_exclusive(pool, pid, &p), PTBM_ERANGE);
		assert_rc(ptbm_read_begin(pool, pid, &cp, &v), PTBM_ERANGE);
		assert_rc(ptbm_read(pool, pid, 0, buf, sizeof buf), PTBM_ERANGE);
		uint64_t two[2] = {0, pid};
		assert_rc(ptbm_prefetch(pool, two, 2), PTBM_ERANGE);
		assert_int_equal(tu_word(pool, pid), s);
		assert_int_equal(ptbm_tag(s), PTBM_TAG_EVICTED);
	}
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.resident, 0);
	assert_int_equal(st.misses, 0);
	assert_int_equal(st.allocated, 2);

	/* once allocated, the same id works */
	assert_int_equal(tu_alloc(pool, 1), 2);
	assert_rc(ptbm_fix_shared(pool, 2, &p), 0);
	assert_true(tu_is_zero(p, ptbm_page_usable(pool)));
	assert_rc(ptbm_unfix_shared(pool, 2), 0);
	tu_close(pool);
}

/* NULL pointers are refused with an error and leave no latch behind. */
static void test_null_arguments(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	void *p;
	const void *cp;
	uint64_t v, first;
	char buf[8];

	assert_true(ptbm_fix_shared(pool, 0, NULL) < 0);
	assert_true(ptbm_fix_exclusive(pool, 0, NULL) < 0);
	assert_true(ptbm_read_begin(pool, 0, NULL, &v) < 0);
	assert_true(ptbm_read_begin(pool, 0, &cp, NULL) < 0);
	assert_true(ptbm_read(pool, 0, 0, NULL, 8) < 0);
	assert_true(ptbm_alloc(pool, 1, NULL) < 0);
	assert_true(ptbm_prefetch(pool, NULL, 1) < 0);
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_EVICTED);

	assert_true(ptbm_fix_shared(NULL, 0, &p) < 0);
	assert_true(ptbm_fix_exclusive(NULL, 0, &p) < 0);
	assert_true(ptbm_unfix_shared(NULL, 0) < 0);
	assert_true(ptbm_unfix_exclusive(NULL, 0) < 0);
	assert_true(ptbm_mark_dirty(NULL, 0) < 0);
	assert_true(ptbm_read_begin(NULL, 0, &cp, &v) < 0);
	assert_true(ptbm_read_validate(NULL, 0, 0) < 0);
	assert_true(ptbm_upgrade(NULL, 0, 0) < 0);
	assert_true(ptbm_read(NULL, 0, 0, buf, sizeof buf) < 0);
	assert_true(ptbm_alloc(NULL, 1, &first) < 0);
	assert_true(ptbm_prefetch(NULL, &first, 1) < 0);
	assert_true(ptbm_flush(NULL) < 0);
	assert_true(ptbm_close(NULL) < 0);
	assert_true(ptbm_open(NULL, &pool) < 0);

	/* an empty prefetch is fine */
	assert_rc(ptbm_prefetch(pool, NULL, 0), 0);
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0); /* no latch was left */
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	tu_close(pool);
}

/* Optimistic reads: begin writes nothing; validate passes with no writer
 * and fails after a write or under a writer; begin loads an evicted page. */
static void test_optimistic(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	const void *cp;
	void *p;
	uint64_t v;

	/* begin on an evicted page loads it (through a shared latch) */
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_ptr_equal(cp, ptbm_page_addr(pool, 0));
	uint64_t s = tu_word(pool, 0);
	assert_int_equal(ptbm_tag(s), PTBM_TAG_UNLOCKED);
	assert_int_equal(v, ptbm_version(s));
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.optimistic, 1);
	assert_rc(ptbm_read_validate(pool, 0, v), 0);
	assert_int_equal(tu_word(pool, 0), s); /* no write to the state word */

	/* a write in between: restart */
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_rc(ptbm_read_validate(pool, 0, v), PTBM_ERESTART);
	assert_int_equal(tu_stats(pool).restarts, st.restarts + 1);

	/* a writer holding it while we validate: restart */
	struct tu_holder h;
	tu_holder_start(&h, pool);
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_rc(tu_holder_call(&h, TU_FIX_EXCLUSIVE, 0), 0);
	assert_rc(ptbm_read_validate(pool, 0, v), PTBM_ERESTART);

	/* begin waits for the writer (h), then sees its last write */
	struct tu_holder r;
	tu_holder_start(&r, pool);
	tu_holder_post(&r, TU_READ_BEGIN, 0);
	assert_false(tu_holder_wait(&r, 100));
	put_u64(ptbm_page_addr(pool, 0), 99); /* written under h's latch */
	uint64_t before = ptbm_version(tu_word(pool, 0));
	assert_rc(tu_holder_call(&h, TU_UNFIX_EXCLUSIVE, 0), 0);
	assert_true(tu_holder_wait(&r, 30000));
	assert_rc(r.rc, 0);
	assert_int_equal(r.seen, 99);
	assert_int_equal(r.version, before + 1);
	assert_rc(ptbm_read_validate(pool, 0, r.version), 0);
	tu_holder_stop(&h);
	tu_holder_stop(&r);
	tu_close(pool);
}

/* Upgrade: exclusive if unchanged since begin; else ERESTART, no latch. */
static void test_upgrade(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	const void *cp;
	void *p;
	uint64_t v;

	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	uint64_t s = tu_word(pool, 0);
	assert_rc(ptbm_upgrade(pool, 0, v), 0);
	assert_int_equal(tu_word(pool, 0), ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE));
	assert_rc(ptbm_mark_dirty(pool, 0), 0); /* a real exclusive latch */
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_int_equal(ptbm_version(tu_word(pool, 0)), v + 1);

	/* after a write: refused, and nothing latched */
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	s = tu_word(pool, 0);
	assert_rc(ptbm_upgrade(pool, 0, v), PTBM_ERESTART);
	assert_int_equal(tu_word(pool, 0), s);

	/* while a reader holds it shared: refused, the reader keeps it */
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	struct tu_holder h;
	tu_holder_start(&h, pool);
	assert_rc(tu_holder_call(&h, TU_FIX_SHARED, 0), 0);
	s = tu_word(pool, 0);
	assert_rc(ptbm_upgrade(pool, 0, v), PTBM_ERESTART);
	assert_int_equal(tu_word(pool, 0), s);
	assert_rc(tu_holder_call(&h, TU_UNFIX_SHARED, 0), 0);
	tu_holder_stop(&h);
	/* the reader is gone and nothing was written: now it works */
	assert_rc(ptbm_upgrade(pool, 0, v), 0);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	tu_close(pool);
}

/* ptbm_read copies exactly the bytes asked for, within the usable bytes. */
static void test_read_copy(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	size_t usable = ptbm_page_usable(pool);
	assert_int_equal(usable, TU_PAGE_SIZE - PTBM_PAGE_TRAILER);
	assert_rc(tu_write(pool, 0, 3), 0);
	unsigned char *want = malloc(usable), *got = malloc(usable + 1);
	tu_fill(want, usable, 0, 3);

	memset(got, 0xee, usable + 1);
	assert_rc(ptbm_read(pool, 0, 0, got, usable), 0);
	assert_memory_equal(got, want, usable);
	assert_int_equal(got[usable], 0xee); /* not one byte more */

	memset(got, 0xee, usable + 1);
	assert_rc(ptbm_read(pool, 0, 100, got, 37), 0);
	assert_memory_equal(got, want + 100, 37);
	assert_int_equal(got[37], 0xee);

	assert_rc(ptbm_read(pool, 0, usable - 8, got, 8), 0);
	assert_memory_equal(got, want + usable - 8, 8);
	assert_rc(ptbm_read(pool, 0, usable, got, 0), 0);

	assert_rc(ptbm_read(pool, 0, usable - 8, got, 9), PTBM_ERANGE);
	assert_rc(ptbm_read(pool, 0, 0, got, usable + 1), PTBM_ERANGE);
	assert_rc(ptbm_read(pool, 0, usable + 1, got, 0), PTBM_ERANGE);
	assert_rc(ptbm_read(pool, 0, 8, got, SIZE_MAX), PTBM_ERANGE);
	assert_rc(ptbm_read(pool, 0, SIZE_MAX, got, 2), PTBM_ERANGE);
	free(want);
	free(got);
	tu_close(pool);
}

/* A reader waits for a writer: it gets the page only after the unfix, and
 * sees the last byte the writer wrote before it. */
static void test_reader_waits_for_writer(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	void *p;
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	put_u64(p, 1);

	struct tu_holder r;
	tu_holder_start(&r, pool);
	tu_holder_post(&r, TU_FIX_SHARED, 0);
	assert_false(tu_holder_wait(&r, 100));
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_EXCLUSIVE);
	put_u64(p, 2); /* the reader must see this, the last write before unfix */
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_true(tu_holder_wait(&r, 30000));
	assert_rc(r.rc, 0);
	assert_int_equal(r.seen, 2);
	assert_int_equal(tu_tag(pool, 0), 2);
	tu_holder_stop(&r); /* leaves its latch: release it here */
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	tu_close(pool);
}

/* A writer waits for readers, and for another writer. */
static void test_writer_waits(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 1);
	void *p;
	struct tu_holder w;
	tu_holder_start(&w, pool);

	/* for a reader */
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	tu_holder_post(&w, TU_FIX_EXCLUSIVE, 0);
	assert_false(tu_holder_wait(&w, 100));
	assert_int_equal(tu_tag(pool, 0), 2);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	assert_true(tu_holder_wait(&w, 30000));
	assert_rc(w.rc, 0);
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_EXCLUSIVE);

	/* for a writer: w holds it; this thread's fix waits in another holder */
	struct tu_holder w2;
	tu_holder_start(&w2, pool);
	put_u64(ptbm_page_addr(pool, 0), 5);
	tu_holder_post(&w2, TU_FIX_EXCLUSIVE, 0);
	assert_false(tu_holder_wait(&w2, 100));
	put_u64(ptbm_page_addr(pool, 0), 6);
	assert_rc(tu_holder_call(&w, TU_UNFIX_EXCLUSIVE, 0), 0);
	assert_true(tu_holder_wait(&w2, 30000));
	assert_rc(w2.rc, 0);
	assert_int_equal(w2.seen, 6);
	assert_rc(tu_holder_call(&w2, TU_UNFIX_EXCLUSIVE, 0), 0);
	assert_int_equal(tu_tag(pool, 0), PTBM_TAG_UNLOCKED);
	tu_holder_stop(&w);
	tu_holder_stop(&w2);
	tu_close(pool);
}

/* Prefetch loads evicted pages unlatched, skips resident ones. */
static void test_prefetch(void **state)
{
	(void)state;
	ptbm_pool *pool = open_with(__func__, 4);
	uint64_t pids[] = {0, 1, 3};
	assert_rc(ptbm_prefetch(pool, pids, 3), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_tag(pool, pids[i]), PTBM_TAG_UNLOCKED);
	assert_int_equal(tu_tag(pool, 2), PTBM_TAG_EVICTED);
	assert_int_equal(tu_stats(pool).resident, 3);
	assert_rc(ptbm_prefetch(pool, pids, 3), 0); /* all resident now */
	/* a latched page is skipped and stays latched */
	void *p;
	assert_rc(ptbm_fix_exclusive(pool, 2, &p), 0);
	uint64_t two = 2;
	assert_rc(ptbm_prefetch(pool, &two, 1), 0);
	assert_int_equal(tu_tag(pool, 2), PTBM_TAG_EXCLUSIVE);
	assert_rc(ptbm_unfix_exclusive(pool, 2), 0);
	tu_close(pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_evicted_exclusive_unlocked),
	    cmocka_unit_test(test_shared_counts),
	    cmocka_unit_test(test_shared_ceiling),
	    cmocka_unit_test(test_marked),
	    cmocka_unit_test(test_not_fixed),
	    cmocka_unit_test(test_dirty_bit),
	    cmocka_unit_test(test_version_wrap),
	    cmocka_unit_test(test_gen_wrap),
	    cmocka_unit_test(test_range),
	    cmocka_unit_test(test_null_arguments),
	    cmocka_unit_test(test_optimistic),
	    cmocka_unit_test(test_upgrade),
	    cmocka_unit_test(test_read_copy),
	    cmocka_unit_test(test_reader_waits_for_writer),
	    cmocka_unit_test(test_writer_waits),
	    cmocka_unit_test(test_prefetch),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
