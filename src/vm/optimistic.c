/*
 * optimistic.c - optimistic reads: read_begin notes the page's version
 * without latching, the caller reads, read_validate checks the version
 * again (PTBM_ERESTART: discard what was read); upgrade turns a still valid
 * read into the exclusive latch. An optimistic reader writes nothing
 * shared, except the one clean-up below.
 */
#include "vm/vm.h"

int ptbm_vm_read_begin(ptbm_pool *pool, uint64_t pid, const void **page, uint64_t *version)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	if (PTBM_UNLIKELY(!slot))
		return PTBM_ETOOMANY;
	_Atomic uint64_t *w = &pool->desc[pid];
	unsigned spins = 0;
	for (;;) {
		uint64_t s = atomic_load_explicit(w, memory_order_acquire);
		uint64_t tag = ptbm_tag(s);
		if (PTBM_UNLIKELY(tag == PTBM_TAG_EXCLUSIVE)) {
			int rc = ptbm_wait(pool, &spins);
			if (rc < 0)
				return rc;
			continue;
		}
		if (PTBM_UNLIKELY(tag == PTBM_TAG_EVICTED ||
				  (pool->populate && pool->mapgen[pid] != ptbm_gen(s)))) {
			/* load or map it under a latch, never blindly */
			void *p;
			int rc = ptbm_vm_fix(pool, pid, &p, false);
			if (rc < 0)
				return rc;
			ptbm_vm_unfix_shared(pool, pid);
			continue;
		}
		ptbm_slot_add(slot, PTBM_C_OPTIMISTIC, 1);
		*version = ptbm_version(s);
		*page = ptbm_page_addr(pool, pid);
		return 0;
	}
}

void ptbm_vm_drop_stray(ptbm_pool *pool, uint64_t pid, uint64_t s)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	if (ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE))) {
		struct ptbm_run run = {ptbm_page_addr(pool, pid), pool->page_size};
		ptbm_region_release(&run, 1, pool->shmem_frames);
		atomic_store_explicit(w, s, memory_order_release);
	}
	ptbm_slot_hold(slot, -1);
}

int ptbm_vm_read_validate(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	atomic_thread_fence(memory_order_acquire);
	uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
	uint64_t tag = ptbm_tag(s);
	if (PTBM_LIKELY(tag != PTBM_TAG_EXCLUSIVE && tag != PTBM_TAG_EVICTED &&
			ptbm_version(s) == version))
		return 0;
	if (PTBM_UNLIKELY(!ptbm_slot(pool)))
		return PTBM_ERESTART; /* no read_begin can have succeeded here */
	if (tag == PTBM_TAG_EVICTED && pool->shmem_frames)
		ptbm_vm_drop_stray(pool, pid, s);
	ptbm_count(pool, PTBM_C_RESTARTS, 1);
	return PTBM_ERESTART;
}

int ptbm_vm_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	for (;;) {
		uint64_t tag = ptbm_tag(s);
		if (!ptbm_tag_idle(tag) || ptbm_version(s) != version) {
			ptbm_slot_hold(slot, -1);
			ptbm_slot_add(slot, PTBM_C_RESTARTS, 1);
			return PTBM_ERESTART;
		}
		if (ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
			return 0;
	}
}
