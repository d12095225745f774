/*
 * Description: statistics. A scripted sequence of fixes, optimistic reads,
 * upgrades, flushes, prefetches and evictions moves every counter by
 * exactly what it did. Counts of forked children (processes mode) are
 * summed into the parent's view, and each child that touches a page the
 * parent loaded populates it once. Threads that exit keep their counts,
 * even when more threads have come and gone than there are slots, and
 * give their slots back. A new pool starts from zero even in a thread that
 * counted for a closed one. With PTBM_NO_POPULATE a child takes faults
 * instead of populating.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct counts {
	uint64_t hits, misses, optimistic, restarts, reads, writes, evictions;
};

#define expect(pool, ...) expect_at(__LINE__, pool, (struct counts){__VA_ARGS__})

static void expect_at(int line, ptbm_pool *pool, struct counts want)
{
	struct ptbm_stats st = tu_stats(pool);
	struct counts got = {st.hits,  st.misses, st.optimistic, st.restarts,
			     st.reads, st.writes, st.evictions};
	if (memcmp(&got, &want, sizeof got) != 0)
		fail_msg("line %d: hits %llu misses %llu optimistic %llu restarts %llu reads %llu "
			 "writes %llu evictions %llu; expected %llu %llu %llu %llu %llu %llu %llu",
			 line, (unsigned long long)got.hits, (unsigned long long)got.misses,
			 (unsigned long long)got.optimistic, (unsigned long long)got.restarts,
			 (unsigned long long)got.reads, (unsigned long long)got.writes,
			 (unsigned long long)got.evictions, (unsigned long long)want.hits,
			 (unsigned long long)want.misses, (unsigned long long)want.optimistic,
			 (unsigned long long)want.restarts, (unsigned long long)want.reads,
			 (unsigned long long)want.writes, (unsigned long long)want.evictions);
}

static ptbm_pool *open_stats(const char *file, enum ptbm_share share, uint32_t flags)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	cfg.flags |= flags;
	cfg.budget_bytes = (uint64_t)TU_BATCH * TU_PAGE_SIZE;
	return tu_open(&cfg);
}

static void test_scripted(void **state)
{
	(void)state;
	ptbm_pool *pool = open_stats(__func__, PTBM_SHARE_THREADS, 0);
	void *p;
	const void *cp;
	uint64_t v;
	char buf[8];
	expect(pool, 0);
	assert_int_equal(tu_alloc(pool, TU_BATCH + 2), 0);
	expect(pool, 0);

	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0); /* miss: loads */
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	expect(pool, .misses = 1, .reads = 1);
	assert_rc(ptbm_fix_shared(pool, 0, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, 0), 0);
	expect(pool, .hits = 1, .misses = 1, .reads = 1);
	assert_rc(tu_write(pool, 0, 1), 0); /* a hit, dirty */
	expect(pool, .hits = 2, .misses = 1, .reads = 1);

	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_rc(ptbm_read_validate(pool, 0, v), 0);
	expect(pool, .hits = 2, .misses = 1, .optimistic = 1, .reads = 1);
	assert_rc(ptbm_read_begin(pool, 0, &cp, &v), 0);
	assert_rc(ptbm_fix_exclusive(pool, 0, &p), 0);
	assert_rc(ptbm_unfix_exclusive(pool, 0), 0);
	assert_rc(ptbm_read_validate(pool, 0, v), PTBM_ERESTART);
	expect(pool, .hits = 3, .misses = 1, .optimistic = 2, .restarts = 1, .reads = 1);
	assert_rc(ptbm_upgrade(pool, 0, v), PTBM_ERESTART);
	expect(pool, .hits = 3, .misses = 1, .optimistic = 2, .restarts = 2, .reads = 1);
	assert_rc(ptbm_read(pool, 0, 0, buf, sizeof buf), 0);
	expect(pool, .hits = 3, .misses = 1, .optimistic = 3, .restarts = 2, .reads = 1);

	assert_rc(ptbm_flush(pool), 0); /* page 0 is dirty */
	expect(pool, .hits = 3, .misses = 1, .optimistic = 3, .restarts = 2, .reads = 1,
	       .writes = 1);
	assert_rc(ptbm_flush(pool), 0); /* nothing is */
	expect(pool, .hits = 3, .misses = 1, .optimistic = 3, .restarts = 2, .reads = 1,
	       .writes = 1);

	/* an optimistic read of an evicted page loads it: one miss */
	assert_rc(ptbm_read_begin(pool, 1, &cp, &v), 0);
	expect(pool, .hits = 3, .misses = 2, .optimistic = 4, .restarts = 2, .reads = 2,
	       .writes = 1);
	uint64_t pids[] = {1, 2, 3};
	assert_rc(ptbm_prefetch(pool, pids, 3), 2); /* not a fix: reads, no misses */
	expect(pool, .hits = 3, .misses = 2, .optimistic = 4, .restarts = 2, .reads = 4,
	       .writes = 1);
	assert_rc(tu_write(pool, 1, 1), 0); /* a hit, dirty */

	/* fill the budget, then one more: one batch (all 64) is evicted, and
	 * the one dirty page among them written */
	for (uint64_t pid = 4; pid < TU_BATCH; pid++) {
		assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
		assert_rc(ptbm_unfix_shared(pool, pid), 0);
	}
	expect(pool, .hits = 4, .misses = TU_BATCH - 2, .optimistic = 4, .restarts = 2,
	       .reads = TU_BATCH, .writes = 1);
	assert_int_equal(tu_stats(pool).resident, TU_BATCH);
	assert_rc(ptbm_fix_shared(pool, TU_BATCH, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, TU_BATCH), 0);
	expect(pool, .hits = 4, .misses = TU_BATCH - 1, .optimistic = 4, .restarts = 2,
	       .reads = TU_BATCH + 1, .writes = 2, .evictions = TU_BATCH);
	struct ptbm_stats st = tu_stats(pool);
	assert_int_equal(st.resident, 1);
	assert_int_equal(st.allocated, TU_BATCH + 2);
	assert_int_equal(st.budget_pages, TU_BATCH);
	assert_int_equal(st.populates, 0); /* threads mode never populates */
	tu_close(pool);
}

#define K 16

static ptbm_pool *child_pool;

static int child_hits(void *arg)
{
	(void)arg;
	for (uint64_t pid = 0; pid < K; pid++)
		if (tu_verify(child_pool, pid, 1) != 0)
			return 1;
	return 0;
}

static void test_children_summed(void **state)
{
	(void)state;
	ptbm_pool *pool = open_stats(__func__, PTBM_SHARE_PROCESSES, 0);
	assert_int_equal(tu_alloc(pool, K), 0);
	for (uint64_t pid = 0; pid < K; pid++)
		assert_rc(tu_write(pool, pid, 1), 0);
	expect(pool, .misses = K, .reads = K);
	child_pool = pool;
	for (int i = 0; i < 3; i++)
		assert_int_equal(tu_fork_run(child_hits, NULL), 0);
	expect(pool, .hits = 3 * K, .misses = K, .reads = K);
	assert_int_equal(tu_stats(pool).populates, 3 * K);
	/* the parent mapped its pages when it loaded them: no populate */
	assert_rc(tu_verify(pool, 0, 1), 0);
	assert_int_equal(tu_stats(pool).populates, 3 * K);
	tu_close(pool);
}

/*
 * With PTBM_NO_POPULATE a child maps the parent's pages by faulting. It
 * writes pages K..2K-1, which lie beyond the 64 KiB fault-around window of
 * any read of the pool's metadata (right before page 0). Each page is read
 * before it is written, and a read fault maps up to 64 KiB of cached
 * neighbours, so the floor is one fault per 64 KiB, not one per page.
 */
static int child_faults(void *arg)
{
	(void)arg;
	struct ptbm_stats st0, st1;
	ptbm_get_stats(child_pool, &st0);
	for (uint64_t pid = K; pid < 2 * K; pid++)
		if (tu_write(child_pool, pid, 2) != 0)
			return 1;
	ptbm_get_stats(child_pool, &st1);
	if (st1.populates != 0)
		return 2;
	/* a fault the kernel had to retry counts as major */
	uint64_t faults = st1.minor_faults + st1.major_faults - st0.minor_faults - st0.major_faults;
	/* a read fault maps up to 16 cached 4 KiB neighbours (64 KiB) with it */
	uint64_t per_fault = 65536 / ptbm_page_size(child_pool);
	if (faults < (K + per_fault - 1) / per_fault) {
		fprintf(stderr, "child: %llu faults for %d pages\n", (unsigned long long)faults, K);
		return 3;
	}
	return 0;
}

static void test_no_populate_faults(void **state)
{
	(void)state;
	ptbm_pool *pool = open_stats(__func__, PTBM_SHARE_PROCESSES, PTBM_NO_POPULATE);
	assert_int_equal(tu_alloc(pool, 2 * K), 0);
	for (uint64_t pid = 0; pid < 2 * K; pid++)
		assert_rc(tu_write(pool, pid, 1), 0);
	child_pool = pool;
	assert_int_equal(tu_fork_run(child_faults, NULL), 0);
	tu_close(pool);
}

struct hitter {
	ptbm_pool *pool;
	uint64_t n;
};

static void *hit_thread(void *arg)
{
	struct hitter *h = arg;
	for (uint64_t i = 0; i < h->n; i++)
		if (tu_verify(h->pool, i % 8, 1) != 0)
			return (void *)1;
	return NULL;
}

static void run_threads(struct hitter *h, int n)
{
	pthread_t t[8];
	for (int i = 0; i < n; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hit_thread, h), 0);
	for (int i = 0; i < n; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		assert_null(ret);
	}
}

static int slots_in_use(ptbm_pool *pool)
{
	int n = 0;
	for (uint32_t i = 0; i < pool->sh->max_slots; i++)
		n += atomic_load(&pool->slots[i].owner) != 0;
	return n;
}

#define FEW_THREADS 16u

static void test_exited_threads_keep_counts(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	tu_config(&cfg, __func__);
	cfg.budget_bytes = (uint64_t)TU_BATCH * TU_PAGE_SIZE;
	cfg.max_threads = FEW_THREADS;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 8), 0);
	for (uint64_t pid = 0; pid < 8; pid++)
		assert_rc(tu_write(pool, pid, 1), 0);
	expect(pool, .misses = 8, .reads = 8);
	int mine = slots_in_use(pool);
	assert_int_equal(mine, 1);

	struct hitter h = {pool, 1000};
	run_threads(&h, 4); /* concurrently */
	expect(pool, .hits = 4000, .misses = 8, .reads = 8);
	h.n = 1;
	for (unsigned i = 0; i < FEW_THREADS + 44; i++) /* more than there are slots */
		run_threads(&h, 1);
	expect(pool, .hits = 4000 + FEW_THREADS + 44, .misses = 8, .reads = 8);
	assert_int_equal(slots_in_use(pool), mine);
	tu_close(pool);
}

/* ---- more threads at once than the old fixed table of 256 slots --------- */

#define MANY_THREADS 300
#define MANY_HITS    200

struct many {
	ptbm_pool *pool;
	pthread_barrier_t all_in; /* every thread has made its calls */
	struct ptbm_stat_slot *slot[MANY_THREADS];
	int rc[MANY_THREADS];
	_Atomic int next;
};

static void *many_thread(void *arg)
{
	struct many *m = arg;
	int me = atomic_fetch_add(&m->next, 1);
	for (int i = 0; i < MANY_HITS && m->rc[me] == 0; i++) {
		void *p;
		uint64_t pid = (uint64_t)(me + i) % 8;
		m->rc[me] = ptbm_fix_shared(m->pool, pid, &p);
		if (m->rc[me] == 0)
			m->rc[me] = ptbm_unfix_shared(m->pool, pid);
	}
	m->slot[me] = ptbm_tls_stat.slot;
	pthread_barrier_wait(&m->all_in); /* alive until every one has counted */
	return NULL;
}

static void start_small(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	assert_int_equal(pthread_create(t, &attr, fn, arg), 0);
	pthread_attr_destroy(&attr);
}

/* 300 live threads: each has a slot of its own, no count is lost, and the
 * pool is healthy once they have all let go. */
static void test_many_threads(void **state)
{
	(void)state;
	ptbm_pool *pool = open_stats(__func__, PTBM_SHARE_THREADS, 0);
	assert_int_equal(tu_alloc(pool, 8), 0);
	for (uint64_t pid = 0; pid < 8; pid++)
		assert_rc(tu_write(pool, pid, 1), 0);
	static struct many m;
	memset(&m, 0, sizeof m);
	m.pool = pool;
	pthread_barrier_init(&m.all_in, NULL, MANY_THREADS);
	pthread_t t[MANY_THREADS];
	for (int i = 0; i < MANY_THREADS; i++)
		start_small(&t[i], many_thread, &m);
	for (int i = 0; i < MANY_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&m.all_in);
	for (int i = 0; i < MANY_THREADS; i++) {
		assert_rc(m.rc[i], 0);
		assert_non_null(m.slot[i]);
		for (int j = 0; j < i; j++)
			if (m.slot[i] == m.slot[j])
				fail_msg("threads %d and %d share a slot", j, i);
	}
	expect(pool, .hits = MANY_THREADS * MANY_HITS, .misses = 8, .reads = 8);
	assert_rc(ptbm_health(pool), 0);
	tu_close(pool);
}

/* ---- running out of slots ------------------------------------------------ */

struct latecomer {
	ptbm_pool *pool;
	int fix, read_begin, read, flush, prefetch, upgrade, unfix, alloc, stats;
};

static void *late_thread(void *arg)
{
	struct latecomer *l = arg;
	void *p;
	const void *cp;
	uint64_t v = 0, first, pid = 7;
	char buf[8];
	struct ptbm_stats st;
	l->fix = ptbm_fix_shared(l->pool, pid, &p);
	l->read_begin = ptbm_read_begin(l->pool, pid, &cp, &v);
	l->read = ptbm_read(l->pool, pid, 0, buf, sizeof buf);
	l->flush = ptbm_flush(l->pool);
	l->prefetch = ptbm_prefetch(l->pool, &pid, 1);
	l->upgrade = ptbm_upgrade(l->pool, pid, v);
	l->unfix = ptbm_unfix_shared(l->pool, 0); /* held by another thread */
	l->alloc = ptbm_alloc(l->pool, 1, &first);
	l->stats = ptbm_get_stats(l->pool, &st);
	return NULL;
}

static void *late_fix(void *arg)
{
	struct latecomer *l = arg;
	void *p;
	l->fix = ptbm_fix_shared(l->pool, 7, &p);
	if (l->fix == 0)
		l->unfix = ptbm_unfix_shared(l->pool, 7);
	return NULL;
}

/* With max_threads = 4 and four threads in, a fifth gets PTBM_ETOOMANY from
 * its first call (and changes nothing); once one leaves, it gets in. */
static void test_too_many_threads(void **state)
{
	(void)state;
	struct ptbm_config cfg;
	tu_config(&cfg, __func__);
	cfg.max_threads = 4;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, 8), 0);
	assert_rc(tu_write(pool, 0, 1), 0);
	struct tu_holder h[3];
	for (int i = 0; i < 3; i++) {
		tu_holder_start(&h[i], pool);
		assert_rc(tu_holder_call(&h[i], TU_FIX_SHARED, 0), 0);
	}
	struct latecomer l = {.pool = pool};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, late_thread, &l), 0);
	pthread_join(t, NULL);
	assert_rc(l.fix, PTBM_ETOOMANY);
	assert_rc(l.read_begin, PTBM_ETOOMANY);
	assert_rc(l.read, PTBM_ETOOMANY);
	assert_rc(l.flush, PTBM_ETOOMANY);
	assert_rc(l.prefetch, PTBM_ETOOMANY);
	assert_rc(l.upgrade, PTBM_ETOOMANY);
	assert_rc(l.unfix, PTBM_ETOOMANY);
	assert_rc(l.alloc, 0);
	assert_rc(l.stats, 0);
	assert_int_equal(tu_tag(pool, 7), PTBM_TAG_EVICTED); /* nothing was loaded */
	assert_int_equal(tu_tag(pool, 0), 1 + 3);	     /* nor unlatched */
	assert_rc(tu_holder_call(&h[2], TU_UNFIX_SHARED, 0), 0);
	tu_holder_stop(&h[2]);
	memset(&l, 0, sizeof l);
	l.pool = pool;
	assert_int_equal(pthread_create(&t, NULL, late_fix, &l), 0);
	pthread_join(t, NULL);
	assert_rc(l.fix, 0);
	assert_rc(l.unfix, 0);
	for (int i = 0; i < 2; i++) {
		assert_rc(tu_holder_call(&h[i], TU_UNFIX_SHARED, 0), 0);
		tu_holder_stop(&h[i]);
	}
	tu_close(pool);
}

static void touch(ptbm_pool *pool, uint64_t pid)
{
	void *p;
	assert_rc(ptbm_fix_shared(pool, pid, &p), 0);
	assert_rc(ptbm_unfix_shared(pool, pid), 0);
}

/* A thread that counted for a closed pool counts from zero for a new one;
 * a thread that alternates between two pools counts each in its own. */
static void test_per_pool(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		ptbm_pool *pool = open_stats(__func__, PTBM_SHARE_THREADS, 0);
		expect(pool, 0);
		assert_int_equal(tu_alloc(pool, 1), 0);
		for (int i = 0; i <= round; i++)
			touch(pool, 0);
		expect(pool, .hits = round, .misses = 1, .reads = 1);
		tu_close(pool);
	}
	ptbm_pool *a = open_stats("test_per_pool.a", PTBM_SHARE_THREADS, 0);
	ptbm_pool *b = open_stats("test_per_pool.b", PTBM_SHARE_THREADS, 0);
	assert_int_equal(tu_alloc(a, 1), 0);
	assert_int_equal(tu_alloc(b, 1), 0);
	for (int i = 0; i < 10; i++) {
		touch(a, 0);
		touch(b, 0);
		touch(b, 0);
	}
	expect(a, .hits = 9, .misses = 1, .reads = 1);
	expect(b, .hits = 19, .misses = 1, .reads = 1);
	tu_close(a);
	touch(b, 0);
	expect(b, .hits = 20, .misses = 1, .reads = 1);
	tu_close(b);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scripted),
	    cmocka_unit_test(test_children_summed),
	    cmocka_unit_test(test_no_populate_faults),
	    cmocka_unit_test(test_exited_threads_keep_counts),
	    cmocka_unit_test(test_many_threads),
	    cmocka_unit_test(test_too_many_threads),
	    cmocka_unit_test(test_per_pool),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
