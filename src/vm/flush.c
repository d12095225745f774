/*
 * flush.c - ptbm_flush's engine part: every dirty resident page written
 * back, in batches of FLUSH_BATCH, under shared latches (so readers go on
 * and no one dirties a page while it is written). D is cleared only once
 * the write returned (invariant 6, src/README.md); api.c then commits the header
 * under the flush lock.
 *
 * Flush never waits for a latch while it holds some: a page latched
 * exclusive is waited for only once the batch in hand is written out and
 * unlatched (invariant 7).
 */
#include "vm/vm.h"

enum latch_try { LATCHED, GONE, BUSY, DEAD };

/* Take a shared latch of a resident page; GONE if it is (or became) evicted,
 * BUSY if it is latched exclusive and the caller may not wait. */
static enum latch_try latch_shared_resident(ptbm_pool *pool, uint64_t pid, bool wait)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	unsigned spins = 0;
	enum latch_try got;
	ptbm_slot_hold(slot, 1);
	for (;;) {
		if (ptbm_tag(s) == PTBM_TAG_EVICTED) {
			got = GONE;
			break;
		}
		uint64_t ns;
		if (ptbm_state_add_reader(s, &ns)) {
			if (ptbm_state_cas(w, &s, ns))
				return LATCHED;
			continue;
		}
		if (!wait) {
			got = BUSY;
			break;
		}
		if (ptbm_wait(pool, &spins) < 0) {
			got = DEAD;
			break;
		}
		s = atomic_load_explicit(w, memory_order_relaxed);
	}
	ptbm_slot_hold(slot, -1);
	return got;
}

#define FLUSH_BATCH 64

/* Write a batch of shared-latched dirty pages, clear their bits, unlatch. */
static int flush_batch(ptbm_pool *pool, uint64_t *pids, size_t n)
{
	void *addr[FLUSH_BATCH] = {0};
	int rcs[FLUSH_BATCH] = {0};
	for (size_t i = 0; i < n; i++)
		addr[i] = ptbm_page_addr(pool, pids[i]);
	int rc = n ? ptbm_file_write_batch(&pool->file, pids, addr, n, rcs) : 0;
	uint64_t written = 0;
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == 0) { /* on disk: clean (invariant 6); a failed one stays dirty */
			atomic_fetch_and(&pool->desc[pids[i]], ~PTBM_DIRTY_BIT);
			written++;
		}
		ptbm_vm_unfix_shared(pool, pids[i]);
	}
	ptbm_count(pool, PTBM_C_WRITES, written);
	return rc;
}

int ptbm_vm_flush(ptbm_pool *pool)
{
	struct ptbm_pageset *rs = ptbm_vm_resident(pool);
	uint64_t batch[FLUSH_BATCH];
	size_t n = 0;
	int rc = 0;
	uint64_t end = atomic_load(&pool->sh->n_alloc);
	for (uint64_t pid = ptbm_pageset_next(rs, 0, end); pid != UINT64_MAX && rc == 0;
	     pid = ptbm_pageset_next(rs, pid + 1, end)) {
		if (!(atomic_load_explicit(&pool->desc[pid], memory_order_relaxed) &
		      PTBM_DIRTY_BIT))
			continue;
		enum latch_try got = latch_shared_resident(pool, pid, n == 0);
		if (got == BUSY) {
			/* never wait while holding latches: write what we hold first */
			rc = flush_batch(pool, batch, n);
			n = 0;
			if (rc < 0)
				break;
			got = latch_shared_resident(pool, pid, true);
		}
		if (got == DEAD) {
			rc = PTBM_EOWNERDEAD;
			break;
		}
		if (got == GONE)
			continue; /* evicted meanwhile: its evictor wrote it */
		if (!(atomic_load(&pool->desc[pid]) & PTBM_DIRTY_BIT)) {
			ptbm_vm_unfix_shared(pool, pid);
			continue;
		}
		batch[n++] = pid;
		if (n == FLUSH_BATCH) {
			rc = flush_batch(pool, batch, n);
			n = 0;
		}
	}
	if (n && rc == 0)
		rc = flush_batch(pool, batch, n);
	else
		for (size_t i = 0; i < n; i++)
			ptbm_vm_unfix_shared(pool, batch[i]);
	return rc;
}
