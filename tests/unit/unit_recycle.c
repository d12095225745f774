/*
 * Description: frames recycled instead of freed (threads mode, private
 * frames). A pool whose data file holds four times its budget evicts from
 * the start in private memory; there a victim's page is moved into a spare
 * and a miss's frame takes it back, so a miss populates nothing: the
 * process's minor faults per miss stay far below the one per 4 KiB that a
 * populate costs. Every page read back after many evictions holds what was
 * last written to it, dirty victims included. The pages in memory (frames
 * in core and spares) never exceed the budget. After a fork, whose child
 * shares every page until one side writes, the kernel refuses the moves and
 * the pool releases and populates instead: every page still reads back
 * intact. Where the kernel has no moves (before Linux 6.8, or no
 * userfaultfd) the tests skip.
 */
#include "testutil.h"

#include "core/region.h"
#include "vm/vm.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUDGET	(4 * TU_BATCH * 16) /* 4096 pages: evicts ahead of need */
#define N_PAGES (4 * BUDGET)

static bool kernel_moves(void)
{
	int fd = ptbm_region_mover_open();
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A pool over a file of N_PAGES written with seed 1, reopened so that it
 * evicts from the start. */
static ptbm_pool *open_over_budget(const char *file)
{
	struct ptbm_config cfg;
	tu_config(&cfg, file);
	cfg.budget_bytes = (uint64_t)N_PAGES * TU_PAGE_SIZE;
	cfg.max_pages = 2 * N_PAGES;
	ptbm_pool *pool = tu_open(&cfg);
	assert_int_equal(tu_alloc(pool, N_PAGES), 0);
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		assert_rc(tu_write(pool, pid, 1), 0);
	assert_rc(ptbm_flush(pool), 0);
	tu_close(pool);
	cfg.flags &= ~PTBM_TRUNCATE;
	cfg.budget_bytes = (uint64_t)BUDGET * TU_PAGE_SIZE;
	return tu_open(&cfg);
}

/* Each page's seed: 1, as open_over_budget wrote them (free it). */
static uint64_t *seeds_as_written(void)
{
	uint64_t *seeds = malloc(N_PAGES * sizeof *seeds);
	assert_non_null(seeds);
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		seeds[pid] = 1;
	return seeds;
}

/* Pages in memory: frames in core and spares; fails above the budget. */
static void check_memory(ptbm_pool *pool)
{
	uint64_t in_core = tu_pages_in_core(pool, N_PAGES);
	uint64_t spares = ptbm_vm_spares_held(pool);
	if (in_core + spares > BUDGET)
		fail_msg("%llu frames in core and %llu spares, budget %u",
			 (unsigned long long)in_core, (unsigned long long)spares, BUDGET);
}

/* Random reads and writes over the whole file; seeds[pid] is the page's. */
static void churn(ptbm_pool *pool, uint64_t *seeds, unsigned ops, unsigned salt)
{
	srandom(salt);
	for (unsigned i = 0; i < ops; i++) {
		uint64_t pid = (uint64_t)random() % N_PAGES;
		if (i % 5 == 0) {
			seeds[pid] = salt * 100000u + i;
			assert_rc(tu_write(pool, pid, seeds[pid]), 0);
		} else if (tu_verify(pool, pid, seeds[pid]) != 0) {
			fail_msg("page %llu: not what was written", (unsigned long long)pid);
		}
		if (i % 1024 == 0)
			check_memory(pool);
	}
}

static void verify_all(ptbm_pool *pool, const uint64_t *seeds)
{
	for (uint64_t pid = 0; pid < N_PAGES; pid++)
		if (tu_verify(pool, pid, seeds[pid]) != 0)
			fail_msg("page %llu: not what was written", (unsigned long long)pid);
}

/* open_over_budget, then churned until the budget is full and spares
 * were made; skips where the kernel has no moves. */
static ptbm_pool *open_churned(const char *file, uint64_t **seeds, unsigned salt)
{
	if (!kernel_moves())
		skip();
	ptbm_pool *pool = open_over_budget(file);
	*seeds = seeds_as_written();
	churn(pool, *seeds, 2 * BUDGET, salt);
	return pool;
}

static void test_misses_populate_nothing(void **state)
{
	(void)state;
	uint64_t *seeds;
	ptbm_pool *pool = open_churned("recycle.dat", &seeds, 1);
	/* every frame touched once: a sanitizer's shadow of it faults in
	 * now, not below */
	verify_all(pool, seeds);

	struct ptbm_stats st0 = tu_stats(pool);
	long f0 = minor_faults();
	churn(pool, seeds, 4 * BUDGET, 2);
	long faults = minor_faults() - f0;
	struct ptbm_stats st1 = tu_stats(pool);
	uint64_t misses = st1.misses - st0.misses;
	assert_true(misses > BUDGET);
	assert_true(st1.evictions - st0.evictions > BUDGET);
	/* a populated 4 KiB frame is one fault: without recycling >= 1 a miss */
	if ((double)faults > 0.25 * (double)misses)
		fail_msg("%ld minor faults for %llu misses", faults, (unsigned long long)misses);

	verify_all(pool, seeds);
	check_memory(pool);
	tu_check_within_budget(pool);
	free(seeds);
	tu_close(pool);
}

/* Batches of misses read ahead, as a scan or an index's batched lookups do. */
static void churn_batches(ptbm_pool *pool, const uint64_t *seeds, unsigned batches, unsigned salt)
{
	srandom(salt);
	for (unsigned b = 0; b < batches; b++) {
		uint64_t ids[TU_BATCH];
		for (unsigned i = 0; i < TU_BATCH; i++)
			ids[i] = (uint64_t)random() % N_PAGES;
		assert_true(ptbm_prefetch(pool, ids, TU_BATCH) >= 0);
		for (unsigned i = 0; i < TU_BATCH; i++)
			if (tu_verify(pool, ids[i], seeds[ids[i]]) != 0)
				fail_msg("page %llu: not what was written",
					 (unsigned long long)ids[i]);
		if (b % 32 == 0)
			check_memory(pool);
	}
}

/* Moves per miss: a victim's page handed straight to the missing frame is
 * one; through a spare it would be two. */
static void check_moves_per_miss(uint64_t moves, uint64_t misses)
{
	assert_true(misses > BUDGET);
	if ((double)moves > 1.25 * (double)misses)
		fail_msg("%llu moves for %llu misses", (unsigned long long)moves,
			 (unsigned long long)misses);
	if ((double)moves < 0.75 * (double)misses)
		fail_msg("%llu moves for %llu misses: pages were not recycled",
			 (unsigned long long)moves, (unsigned long long)misses);
}

static void test_victims_handed_straight_over(void **state)
{
	(void)state;
	uint64_t *seeds;
	ptbm_pool *pool = open_churned("recycle_hand.dat", &seeds, 6);

	/* one miss at a time */
	struct ptbm_stats st0 = tu_stats(pool);
	uint64_t m0 = ptbm_vm_moves(pool);
	churn(pool, seeds, 4 * BUDGET, 7);
	struct ptbm_stats st1 = tu_stats(pool);
	check_moves_per_miss(ptbm_vm_moves(pool) - m0, st1.misses - st0.misses);

	/* batches of misses; a read ahead counts its pages as reads */
	m0 = ptbm_vm_moves(pool);
	churn_batches(pool, seeds, 4 * BUDGET / TU_BATCH, 8);
	struct ptbm_stats st2 = tu_stats(pool);
	check_moves_per_miss(ptbm_vm_moves(pool) - m0, st2.reads - st1.reads);

	verify_all(pool, seeds);
	check_memory(pool);
	tu_check_within_budget(pool);
	free(seeds);
	tu_close(pool);
}

static void test_fork_shares_every_page(void **state)
{
	(void)state;
	uint64_t *seeds;
	ptbm_pool *pool = open_churned("recycle_fork.dat", &seeds, 3);

	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) { /* holds the parent's pages shared until told */
		char c;
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 1);
	}
	close(go[0]);
	churn(pool, seeds, 3 * BUDGET, 4);
	verify_all(pool, seeds);
	close(go[1]);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	churn(pool, seeds, 2 * BUDGET, 5); /* moves again, on pages not shared */
	verify_all(pool, seeds);
	check_memory(pool);
	free(seeds);
	tu_close(pool);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_misses_populate_nothing),
	    cmocka_unit_test(test_victims_handed_straight_over),
	    cmocka_unit_test(test_fork_shares_every_page),
	};
	return TU_MAIN(argc, argv, NULL, tests);
}
