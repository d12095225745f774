/*
 * fix.c - the out-of-line half of fix and unfix: everything the inlined hit
 * path (vm/hit.h) hands over. A CAS that lost a race, a page that is
 * marked, latched exclusive or full of readers (wait), an evicted page
 * (load it, vm/load.c), a page this process has not mapped (vm/map.c), a
 * thread's first call in the pool (claim its slot); and mark_dirty.
 */
#include "vm/vm.h"

/*
 * Latch page pid (exclusive or shared) starting from word s, the one the
 * hit path last saw; slot's count already holds the latch being taken.
 */
int ptbm_vm_fix_slow(ptbm_pool *pool, uint64_t pid, void **page, struct ptbm_stat_slot *slot,
		     uint64_t s, bool exclusive)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	unsigned spins = 0;
	int rc;
	for (;;) {
		uint64_t ns;
		if (PTBM_LIKELY(exclusive ? ptbm_state_to_exclusive(s, &ns)
					  : ptbm_state_add_reader(s, &ns))) {
			if (ptbm_state_cas(w, &s, ns))
				break;
			continue;
		}
		if (ptbm_tag(s) == PTBM_TAG_EVICTED) {
			if (!ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
				continue;
			rc = ptbm_vm_load(pool, pid, s, &s);
			if (rc < 0)
				goto fail;
			if (!exclusive) /* downgrade: we are the only holder */
				atomic_store_explicit(w, ptbm_with_tag(s, 2), memory_order_release);
			*page = ptbm_page_addr(pool, pid);
			return 0;
		}
		/* exclusive, too many readers, or (for an exclusive fix) shared */
		if ((rc = ptbm_wait(pool, &spins)) < 0)
			goto fail;
		s = atomic_load_explicit(w, memory_order_relaxed);
	}
	if (ptbm_vm_unmapped(pool, pid, s))
		return ptbm_vm_fix_mapped(pool, pid, page, slot, s, exclusive);
	ptbm_slot_add(slot, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
fail:
	ptbm_slot_hold(slot, -1);
	return rc;
}

int ptbm_vm_fix_mapped(ptbm_pool *pool, uint64_t pid, void **page, struct ptbm_stat_slot *slot,
		       uint64_t s, bool exclusive)
{
	int rc = ptbm_vm_map_group(pool, pid, (uint8_t)ptbm_gen(s));
	if (PTBM_UNLIKELY(rc < 0)) {
		ptbm_state_unlatch_undo(&pool->desc[pid], exclusive);
		ptbm_slot_hold(slot, -1);
		return rc;
	}
	ptbm_slot_add(slot, PTBM_C_HITS, 1);
	*page = ptbm_page_addr(pool, pid);
	return 0;
}

int ptbm_vm_fix_first(ptbm_pool *pool, uint64_t pid, void **page, bool exclusive)
{
	struct ptbm_stat_slot *slot = ptbm_stat_slot_slow(pool);
	if (!slot)
		return PTBM_ETOOMANY;
	ptbm_slot_hold(slot, 1);
	uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
	return ptbm_vm_fix_slow(pool, pid, page, slot, s, exclusive);
}

int ptbm_vm_unfix_first(ptbm_pool *pool, uint64_t pid, bool exclusive)
{
	if (!ptbm_stat_slot_slow(pool))
		return PTBM_ETOOMANY;
	return exclusive ? ptbm_vm_unfix_exclusive(pool, pid) : ptbm_vm_unfix_shared(pool, pid);
}

int ptbm_vm_unfix_shared_slow(ptbm_pool *pool, uint64_t pid, struct ptbm_stat_slot *slot)
{
	int rc = ptbm_state_unlatch_shared(&pool->desc[pid]);
	if (rc == 0)
		ptbm_slot_hold(slot, -1);
	return rc;
}

int ptbm_vm_mark_dirty(ptbm_pool *pool, uint64_t pid)
{
	return ptbm_state_mark_dirty(&pool->desc[pid]);
}
