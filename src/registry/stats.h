/*
 * stats.h - counting in the thread's own slot (ptbm_get_stats sums them,
 * stats.c).
 */
#ifndef PTBM_REGISTRY_STATS_H
#define PTBM_REGISTRY_STATS_H

#include "registry/threads.h"

/* Only the owner writes its slot: plain adds, atomic for readers. */
static inline void ptbm_slot_add(struct ptbm_stat_slot *s, enum ptbm_counter c, uint64_t n)
{
	atomic_store_explicit(&s->c[c], atomic_load_explicit(&s->c[c], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

static inline void ptbm_count(ptbm_pool *pool, enum ptbm_counter c, uint64_t n)
{
	ptbm_slot_add(ptbm_slot(pool), c, n);
}

#endif /* PTBM_REGISTRY_STATS_H */
