/*
 * map.c - the per-process page-table fill (processes mode).
 *
 * Every process has its own page table. A page loaded by one process is
 * faulted in by each other process on first access; a hardware fault costs
 * ~9 us on a shadow-paging host against ~1.6 us for a MADV_POPULATE_WRITE
 * call, so a process populates the page itself when it latches it and its
 * private mapgen[p] differs from the page's residency generation (a byte
 * compare on the hit path, vm/hit.h). Populating happens only under a
 * latch, so it never maps (and so allocates) a hole: a read of an evicted
 * shmem page would allocate a zero page that nobody frees. The one path
 * that reads without a latch, the optimistic read, cleans up after itself
 * (vm/optimistic.c).
 */
#include "vm/vm.h"

#include "core/runs.h"

/*
 * Processes mode: this process has not mapped page pid (latched by the
 * caller) since it was last loaded. Map it, and with it every resident
 * neighbour in its aligned group of MAP_GROUP pages that this process has
 * not mapped either, in one system call: the neighbours are latched shared
 * for the call (a try, never a wait), so no hole is populated. A new worker
 * process thus fills its page table a group at a time.
 */
#define MAP_GROUP 64

int ptbm_vm_map_group(ptbm_pool *pool, uint64_t pid, uint8_t g)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	uint64_t lo = pid & ~(uint64_t)(MAP_GROUP - 1), hi = lo + MAP_GROUP;
	uint64_t n_alloc = atomic_load_explicit(&pool->sh->n_alloc, memory_order_relaxed);
	if (hi > n_alloc)
		hi = n_alloc > pid ? n_alloc : pid + 1;
	uint8_t gen[MAP_GROUP];
	bool mine[MAP_GROUP] = {false}, take[MAP_GROUP] = {false};
	struct ptbm_run runs[MAP_GROUP];
	size_t k = 0, n = 0;
	for (uint64_t q = lo; q < hi; q++) {
		size_t i = q - lo;
		if (q == pid) {
			gen[i] = g;
		} else {
			_Atomic uint64_t *w = &pool->desc[q];
			uint64_t s = atomic_load_explicit(w, memory_order_relaxed), ns;
			/* mapped already, or evicted, exclusive or full of readers */
			if (pool->mapgen[q] == ptbm_gen(s) || !ptbm_state_add_reader(s, &ns))
				continue;
			ptbm_slot_hold(slot, 1);
			if (!ptbm_state_cas(w, &s, ns)) {
				ptbm_slot_hold(slot, -1);
				continue;
			}
			mine[i] = true;
			gen[i] = (uint8_t)ptbm_gen(s);
		}
		take[i] = true;
		n++;
		k = ptbm_runs_add(runs, k, ptbm_page_addr(pool, q), pool->page_size);
	}
	int rc = ptbm_region_populate_runs(runs, k);
	for (uint64_t q = lo; q < hi; q++) {
		size_t i = q - lo;
		if (rc == 0 && take[i])
			pool->mapgen[q] = gen[i];
		if (mine[i])
			ptbm_vm_unfix_shared(pool, q);
	}
	if (rc == 0)
		ptbm_slot_add(slot, PTBM_C_POPULATES, n);
	return rc;
}
