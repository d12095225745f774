/*
 * hit.h - the vm engine's hit path, inlined into the public entry points
 * (pool/api.c) so that a hit costs the argument checks, one CAS to latch,
 * the access, one CAS to unlatch and this thread's own counters: no call,
 * no second thread-local lookup, and no register saved for the miss path.
 * Everything else is out of line (vm/fix.c): claiming a slot, a CAS that
 * lost a race, a page marked, evicted, latched exclusive or full of
 * readers, and mapping a page into this process (processes mode).
 */
#ifndef PTBM_VM_HIT_H
#define PTBM_VM_HIT_H

#include "pool/pool.h"
#include "registry/stats.h"
#include "registry/threads.h"
#include "vm/state.h"

/*
 * The out-of-line rest (vm/fix.c). The fix calls get this thread's slot,
 * whose count already holds the latch being taken, and s, the state word
 * the hit path last saw; _mapped gets a page it latched (s: its word then)
 * that this process must map first.
 */
int ptbm_vm_fix_slow(ptbm_pool *pool, uint64_t pid, void **page, struct ptbm_stat_slot *slot,
		     uint64_t s, bool exclusive) __attribute__((noinline, cold));
int ptbm_vm_fix_mapped(ptbm_pool *pool, uint64_t pid, void **page, struct ptbm_stat_slot *slot,
		       uint64_t s, bool exclusive) __attribute__((noinline, cold));
int ptbm_vm_unfix_shared_slow(ptbm_pool *pool, uint64_t pid, struct ptbm_stat_slot *slot)
    __attribute__((noinline, cold));
/* A thread's first call in the pool: claim its slot, then do the call. */
int ptbm_vm_fix_first(ptbm_pool *pool, uint64_t pid, void **page, bool exclusive)
    __attribute__((noinline, cold));
int ptbm_vm_unfix_first(ptbm_pool *pool, uint64_t pid, bool exclusive)
    __attribute__((noinline, cold));
/* Optimistic reads (vm/optimistic.c), called directly by api.c (no
 * indirect call). */
int ptbm_vm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version);
int ptbm_vm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version);

/* Whether this thread has its slot in pool (then ptbm_tls_stat.slot). */
static inline bool ptbm_vm_has_slot(const ptbm_pool *pool)
{
	return PTBM_LIKELY(ptbm_tls_stat.serial == pool->serial);
}

/* Whether this process must map page pid (word s) before using it. */
static inline bool ptbm_vm_unmapped(const ptbm_pool *pool, uint64_t pid, uint64_t s)
{
	return PTBM_UNLIKELY(pool->populate) && pool->mapgen[pid] != ptbm_gen(s);
}

/* Latch page pid shared or exclusive (a constant where it is inlined). */
static inline __attribute__((always_inline)) int ptbm_vm_fix(ptbm_pool *pool, uint64_t pid,
							     void **page, bool exclusive)
{
	if (PTBM_UNLIKELY(!ptbm_vm_has_slot(pool)))
		return ptbm_vm_fix_first(pool, pid, page, exclusive);
	struct ptbm_stat_slot *slot = ptbm_tls_stat.slot;
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	ptbm_slot_hold(slot, 1);
	/* exclusive: unlocked or marked; shared: unlocked, or shared with room
	 * for one more */
	if (PTBM_UNLIKELY(exclusive
			      ? !ptbm_tag_idle(ptbm_tag(s)) ||
				    !ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE))
			      : !ptbm_tag_shareable(ptbm_tag(s)) ||
				    !ptbm_state_cas(w, &s, s + PTBM_READER)))
		return ptbm_vm_fix_slow(pool, pid, page, slot, s, exclusive);
	if (ptbm_vm_unmapped(pool, pid, s))
		return ptbm_vm_fix_mapped(pool, pid, page, slot, s, exclusive);
	ptbm_slot_add(slot, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
}

static inline int ptbm_vm_unfix_shared(ptbm_pool *pool, uint64_t pid)
{
	if (PTBM_UNLIKELY(!ptbm_vm_has_slot(pool)))
		return ptbm_vm_unfix_first(pool, pid, false);
	struct ptbm_stat_slot *slot = ptbm_tls_stat.slot;
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	if (PTBM_UNLIKELY(!ptbm_tag_shared(ptbm_tag(s)) ||
			  !atomic_compare_exchange_weak_explicit(
			      w, &s, s - PTBM_READER, memory_order_release, memory_order_relaxed)))
		return ptbm_vm_unfix_shared_slow(pool, pid, slot);
	ptbm_slot_hold(slot, -1);
	return 0;
}

static inline int ptbm_vm_unfix_exclusive(ptbm_pool *pool, uint64_t pid)
{
	if (PTBM_UNLIKELY(!ptbm_vm_has_slot(pool)))
		return ptbm_vm_unfix_first(pool, pid, true);
	struct ptbm_stat_slot *slot = ptbm_tls_stat.slot;
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	if (PTBM_UNLIKELY(ptbm_tag(s) != PTBM_TAG_EXCLUSIVE))
		return PTBM_ENOTFIXED;
	ptbm_state_unlatch_exclusive(w, s);
	ptbm_slot_hold(slot, -1);
	return 0;
}

#endif /* PTBM_VM_HIT_H */
