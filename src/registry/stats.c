/*
 * stats.c - the pool's counters: what ptbm_get_stats reports.
 *
 * Counting must not cost the hit path an atomic read-modify-write or a
 * shared cache line. Each thread counts in its own slot (threads.c) with
 * plain relaxed stores (ptbm_slot_add, registry/stats.h); ptbm_get_stats
 * sums every slot in use plus the counts of threads that have left, which
 * threads.c folds into the control block's retired counters when it frees
 * a slot. Faults are getrusage deltas of the calling process since it
 * opened or attached the pool (or was forked).
 */
#include "registry/stats.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

/* Counters of every slot in use, and of the slots given back. */
static void stats_sum(ptbm_pool *pool, uint64_t out[PTBM_N_COUNTERS])
{
	for (int c = 0; c < PTBM_N_COUNTERS; c++)
		out[c] = atomic_load(&pool->sh->retired[c]);
	uint32_t n = ptbm_slots_used(pool);
	for (uint32_t i = 0; i < n; i++)
		for (int c = 0; c < PTBM_N_COUNTERS; c++)
			out[c] += atomic_load_explicit(&pool->slots[i].c[c], memory_order_relaxed);
}

int ptbm_get_stats(ptbm_pool *pool, struct ptbm_stats *st)
{
	if (!pool || !st)
		return -EINVAL;
	uint64_t c[PTBM_N_COUNTERS];
	stats_sum(pool, c);
	memset(st, 0, sizeof *st);
	st->hits = c[PTBM_C_HITS];
	st->misses = c[PTBM_C_MISSES];
	st->optimistic = c[PTBM_C_OPTIMISTIC];
	st->restarts = c[PTBM_C_RESTARTS];
	st->reads = c[PTBM_C_READS];
	st->writes = c[PTBM_C_WRITES];
	st->collapses = c[PTBM_C_COLLAPSES];
	st->evictions = c[PTBM_C_EVICTIONS];
	st->populates = c[PTBM_C_POPULATES];
	st->resident = atomic_load(&pool->sh->resident);
	st->budget_pages = pool->sh->budget_pages;
	st->allocated = atomic_load(&pool->sh->n_alloc);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	st->minor_faults = (uint64_t)(ru.ru_minflt - pool->minflt0);
	st->major_faults = (uint64_t)(ru.ru_majflt - pool->majflt0);
	return 0;
}
