/*
 * Description: huge extents. In both sharing modes, a pool whose 2 MiB
 * extents become fully resident collapses each into one huge page
 * (stats.collapses counts them, /proc/self/smaps_rollup shows the memory
 * mapped by PMD entries) and every page reads back intact, from memory and
 * after a flush and reopen. A collapse needs an extent's worth of the
 * budget for its copy: with less room it is skipped, with exactly that much
 * it happens; resident pages and pages really in memory (mincore) stay
 * within the budget throughout, also while pages are evicted out of
 * collapsed extents, and every page evicted so reads back intact.
 * PTBM_NO_HUGE never collapses. A forked child maps a collapsed extent with
 * a PMD entry and reads it intact. Two threads loading the same extents
 * while they collapse and are evicted from lose nothing.
 * Skipped where the kernel gives no huge page at all (transparent huge pages
 * "never", or none free), which the test finds out by asking it, and where
 * the transparent_hugepage settings give shmem folios larger than a page,
 * which leave pools without huge extents.
 */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define EXTENT_PAGES (PTBM_EXTENT_BYTES / TU_PAGE_SIZE) /* 512 */

/* kB of this process's memory mapped by PMD entries (shmem), or -1. */
static long pmd_mapped_kib(void)
{
	return tu_proc_kib("/proc/self/smaps_rollup", "ShmemPmdMapped");
}

/*
 * Whether this machine gives a shmem mapping a huge page on MADV_COLLAPSE
 * now: the test's own 2 MiB, written and collapsed. Skips the test if not.
 */
static void require_huge_pages(void)
{
	/* settings that give shmem frames folios larger than the test's pages
	 * leave pools without huge extents (unit_folios tests that) */
	char why[256];
	uint64_t folio =
	    ptbm_shmem_folio_max(ptbm_thp_system(), true, false, "/dev/shm", why, sizeof why);
	if (folio > TU_PAGE_SIZE) {
		fprintf(stderr, "skipped: shmem folios of %llu kB here (%s): no huge extents\n",
			(unsigned long long)(folio >> 10), why);
		exit(77);
	}
	size_t ext = PTBM_EXTENT_BYTES;
	char *r = mmap(NULL, 2 * ext, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(r != MAP_FAILED);
	/* mapped on a 2 MiB boundary, as the pool's region is: offset 0 there */
	char *a = (char *)(((uintptr_t)r + ext - 1) & ~(uintptr_t)(ext - 1));
	assert_true(mmap(a, ext, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == a);
	memset(a, 1, ext);
	int rc = madvise(a, ext, MADV_COLLAPSE) < 0 ? errno : 0;
	munmap(r, 2 * ext);
	if (rc) {
		fprintf(stderr, "skipped: MADV_COLLAPSE of shmem fails here (%s)\n", strerror(rc));
		exit(77);
	}
}

static ptbm_pool *open_huge(const char *file, enum ptbm_share share, uint64_t budget_pages,
			    uint32_t flags)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	cfg.budget_bytes = budget_pages * TU_PAGE_SIZE;
	cfg.flags |= flags;
	return tu_open(&cfg);
}

static void write_pages(ptbm_pool *pool, uint64_t first, uint64_t end, uint64_t seed)
{
	for (uint64_t pid = first; pid < end; pid++) {
		assert_rc(tu_write(pool, pid, seed), 0);
		tu_check_within_budget(pool);
	}
}

static void verify_pages(ptbm_pool *pool, uint64_t first, uint64_t end, uint64_t seed)
{
	for (uint64_t pid = first; pid < end; pid++)
		if (tu_verify(pool, pid, seed) != 0)
			fail_msg("page %llu differs", (unsigned long long)pid);
}

/* Two full extents, room for their copies: both collapse, nothing is lost. */
static void collapse_round_trip(const char *file, enum ptbm_share share)
{
	require_huge_pages();
	uint64_t n = 2 * EXTENT_PAGES;
	ptbm_pool *pool = open_huge(file, share, 4 * EXTENT_PAGES, 0);
	assert_int_equal(tu_alloc(pool, n), 0);
	long pmd0 = pmd_mapped_kib();
	write_pages(pool, 0, n, 3);
	assert_int_equal(tu_stats(pool).collapses, 2);
	long pmd = pmd_mapped_kib() - pmd0;
	if (pmd < 2 * (long)(PTBM_EXTENT_BYTES >> 10))
		fail_msg("%ld kB mapped by PMD entries after two collapses", pmd);
	verify_pages(pool, 0, n, 3);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);

	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.share = share;
	cfg.flags = 0;
	cfg.budget_bytes = 4ull * EXTENT_PAGES * TU_PAGE_SIZE;
	pool = tu_open(&cfg);
	verify_pages(pool, 0, n, 3);
	tu_close(pool);
}

static void test_collapse_threads(void **state)
{
	(void)state;
	collapse_round_trip(__func__, PTBM_SHARE_THREADS);
}

static void test_collapse_processes(void **state)
{
	(void)state;
	collapse_round_trip(__func__, PTBM_SHARE_PROCESSES);
}

/* The copy's extent must fit the budget: one page short, no collapse;
 * exactly, a collapse. */
static void test_collapse_needs_room(void **state)
{
	(void)state;
	require_huge_pages();
	for (uint64_t room = EXTENT_PAGES - 1; room <= EXTENT_PAGES; room++) {
		ptbm_pool *pool = open_huge(__func__, PTBM_SHARE_PROCESSES, EXTENT_PAGES + room, 0);
		assert_int_equal(tu_alloc(pool, EXTENT_PAGES), 0);
		write_pages(pool, 0, EXTENT_PAGES, 4);
		assert_int_equal(tu_stats(pool).collapses, room == EXTENT_PAGES ? 1 : 0);
		verify_pages(pool, 0, EXTENT_PAGES, 4);
		tu_close(pool);
	}
}

static void test_no_huge_flag(void **state)
{
	(void)state;
	require_huge_pages();
	ptbm_pool *pool = open_huge(__func__, PTBM_SHARE_THREADS, 4 * EXTENT_PAGES, PTBM_NO_HUGE);
	assert_int_equal(tu_alloc(pool, EXTENT_PAGES), 0);
	long pmd0 = pmd_mapped_kib();
	write_pages(pool, 0, EXTENT_PAGES, 5);
	assert_int_equal(tu_stats(pool).collapses, 0);
	assert_int_equal(pmd_mapped_kib(), pmd0);
	tu_close(pool);
}

/* Collapse two extents, then write three times the budget: pages are
 * evicted out of the huge pages, memory stays within the budget, every
 * page reads back intact. */
static void evict_from_huge(const char *file, enum ptbm_share share)
{
	require_huge_pages();
	uint64_t budget = 3 * EXTENT_PAGES, n = 3 * budget;
	ptbm_pool *pool = open_huge(file, share, budget, 0);
	assert_int_equal(tu_alloc(pool, n), 0);
	write_pages(pool, 0, 2 * EXTENT_PAGES, 6);
	assert_int_equal(tu_stats(pool).collapses, 2);
	write_pages(pool, 2 * EXTENT_PAGES, n, 6);
	struct ptbm_stats st = tu_stats(pool);
	assert_true(st.evictions >= n - budget);
	verify_pages(pool, 0, n, 6);
	tu_check_within_budget(pool);
	tu_close(pool);
}

static void test_evict_from_huge_threads(void **state)
{
	(void)state;
	evict_from_huge(__func__, PTBM_SHARE_THREADS);
}

static void test_evict_from_huge_processes(void **state)
{
	(void)state;
	evict_from_huge(__func__, PTBM_SHARE_PROCESSES);
}

/* Two threads load the even and the odd pages of six extents, past the
 * budget of three, meeting at a barrier after each extent (else one may run
 * an extent ahead of the other, and the first extent complete only when the
 * budget has no room for a collapse): collapses run while the other thread
 * loads pages of the same extent, and evictions take pages out of collapsed
 * extents while the other thread loads. Every page reads back intact,
 * within the budget. */
struct filler {
	ptbm_pool *pool;
	uint64_t n, parity;
	pthread_barrier_t *step;
	int rc;
};

static void *fill_half(void *arg)
{
	struct filler *f = arg;
	for (uint64_t first = 0; first < f->n; first += EXTENT_PAGES) {
		for (uint64_t pid = first + f->parity; pid < first + EXTENT_PAGES && f->rc == 0;
		     pid += 2)
			f->rc = tu_write(f->pool, pid, 9);
		pthread_barrier_wait(f->step);
	}
	return NULL;
}

static void test_concurrent_fill(void **state)
{
	(void)state;
	require_huge_pages();
	uint64_t budget = 3 * EXTENT_PAGES, n = 2 * budget;
	ptbm_pool *pool = open_huge(__func__, PTBM_SHARE_THREADS, budget, 0);
	assert_int_equal(tu_alloc(pool, n), 0);
	pthread_barrier_t step;
	pthread_barrier_init(&step, NULL, 2);
	struct filler f[2] = {{pool, n, 0, &step, 0}, {pool, n, 1, &step, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fill_half, &f[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_rc(f[i].rc, 0);
	}
	pthread_barrier_destroy(&step);
	assert_true(tu_stats(pool).collapses >= 1);
	verify_pages(pool, 0, n, 9);
	tu_check_within_budget(pool);
	tu_close(pool);
}

static ptbm_pool *child_pool;

static int child_reads_huge(void *arg)
{
	(void)arg;
	long pmd0 = pmd_mapped_kib();
	for (uint64_t pid = 0; pid < 2 * EXTENT_PAGES; pid++)
		if (tu_verify(child_pool, pid, 7) != 0)
			return 1;
	long pmd = pmd_mapped_kib() - pmd0;
	if (pmd < 2 * (long)(PTBM_EXTENT_BYTES >> 10)) {
		fprintf(stderr, "child: %ld kB mapped by PMD entries\n", pmd);
		return 2;
	}
	return 0;
}

static void test_child_maps_huge(void **state)
{
	(void)state;
	require_huge_pages();
	ptbm_pool *pool = open_huge(__func__, PTBM_SHARE_PROCESSES, 4 * EXTENT_PAGES, 0);
	assert_int_equal(tu_alloc(pool, 2 * EXTENT_PAGES), 0);
	write_pages(pool, 0, 2 * EXTENT_PAGES, 7);
	assert_int_equal(tu_stats(pool).collapses, 2);
	child_pool = pool;
	assert_int_equal(tu_fork_run(child_reads_huge, NULL), 0);
	tu_close(pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_collapse_threads),
	    cmocka_unit_test(test_collapse_processes),
	    cmocka_unit_test(test_collapse_needs_room),
	    cmocka_unit_test(test_no_huge_flag),
	    cmocka_unit_test(test_evict_from_huge_threads),
	    cmocka_unit_test(test_evict_from_huge_processes),
	    cmocka_unit_test(test_child_maps_huge),
	    cmocka_unit_test(test_concurrent_fill),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
