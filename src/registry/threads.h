/*
 * threads.h - the thread registry (threads.c): each thread's slot in a
 * pool, the latches each process holds, the processes that died holding
 * some, and the pools this process has open.
 */
#ifndef PTBM_REGISTRY_THREADS_H
#define PTBM_REGISTRY_THREADS_H

#include "pool/pool.h"
#include "registry/slot.h"

/* The calling thread's slot in pool, claimed now; NULL if every slot is
 * taken by a live thread. */
struct ptbm_stat_slot *ptbm_stat_slot_slow(ptbm_pool *pool);
/* initial-exec: no __tls_get_addr call on the hit path of libptbm.so */
extern __thread __attribute__((tls_model("initial-exec"))) struct ptbm_tls_stat {
	uint64_t serial;
	struct ptbm_stat_slot *slot;
} ptbm_tls_stat;

/*
 * This thread's slot in pool, claimed on first use; NULL if every slot is
 * taken by a live thread (the caller returns PTBM_ETOOMANY). api.c makes
 * sure a thread has its slot before it enters an engine, so engine code
 * past an entry point may take ptbm_slot() as non-NULL.
 */
static inline struct ptbm_stat_slot *ptbm_slot(ptbm_pool *pool)
{
	if (PTBM_UNLIKELY(ptbm_tls_stat.serial != pool->serial))
		return ptbm_stat_slot_slow(pool);
	return ptbm_tls_stat.slot;
}

/*
 * Latches this thread took minus those it released: +1 before a latch is
 * taken, -1 after one is released, so that a process killed at any instant
 * is never seen holding fewer latches than it does (its threads' counts
 * summed: a latch may be released by another thread of the process than
 * the one that took it; threads.c, dead owners).
 */
static inline void ptbm_slot_hold(struct ptbm_stat_slot *s, int64_t n)
{
	atomic_store_explicit(&s->held, atomic_load_explicit(&s->held, memory_order_relaxed) + n,
			      memory_order_relaxed);
	atomic_signal_fence(memory_order_seq_cst); /* kept in program order by the compiler */
}

/* Slots in use: [0, ptbm_slots_used(pool)) is what a scan must cover. */
static inline uint32_t ptbm_slots_used(ptbm_pool *pool)
{
	return atomic_load_explicit(&pool->sh->slots_hwm, memory_order_acquire);
}

/* A process that died (or exited) holding latches, or 0. */
int32_t ptbm_dead_owner(ptbm_pool *pool);
/* The calling thread leaves pool (ptbm_close): its slot is given back. */
void ptbm_threads_release_pool(ptbm_pool *pool);
/* In a forked child: the parent's threads' slots are not this process's. */
void ptbm_threads_after_fork(void);

/* The pools open in this process (a thread that exits leaves their slots). */
void ptbm_threads_add_pool(ptbm_pool *pool);
void ptbm_threads_remove_pool(ptbm_pool *pool);
void ptbm_threads_each_pool(void (*fn)(ptbm_pool *));

#endif /* PTBM_REGISTRY_THREADS_H */
