/*
 * evict.c - the clock and eviction, in two halves: picking victims and
 * retiring them. A worker whose miss leaves less than a batch of the budget
 * free picks a batch and hands it to its process's releaser thread, which
 * retires it (vm/release.c); a worker whose miss finds the budget full with
 * no batch of its process in flight does both itself (vm/load.c,
 * reserve_frame).
 *
 * A clock over the resident set (a page set in page order, in the engine's
 * area) marks unlocked pages and takes marked ones exclusive, up to
 * evict_batch victims; dirty victims are written back in one batch; the
 * victims are sorted, their pages moved into spares where the process keeps
 * some (vm/recycle.c), the others merged into runs of adjacent pages and
 * released with one batched call (core/region.c); then each leaves the
 * resident set and is published evicted. Where pages move, a miss may
 * instead take victims whose pages go straight into its frames
 * (ptbm_vm_evict_into, below). A latched page is never a victim: the clock
 * only takes pages whose tag is unlocked or marked, with a CAS.
 */
#include "vm/vm.h"

#include "core/runs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Victims a few pages apart are released as one run: the evicted pages
 * between them are latched (CAS from evicted, so no one loads them
 * meanwhile) and released along, which frees nothing of theirs but a stray
 * zero page an optimistic reader may have left. Fewer runs, fewer ranges
 * for the kernel to walk and flush: about a fifth cheaper here, in both
 * modes (docs/design-figures.md, "Releasing").
 */
#define MAX_GAP 16

struct ptbm_gap_latch {
	uint64_t pid, state;
};

static void *work_carve(char **at, size_t bytes)
{
	void *p = *at;
	*at += (bytes + 15) & ~(size_t)15;
	return p;
}

void *ptbm_vm_evict_work_alloc(struct ptbm_evict_work *w, size_t cap)
{
	size_t bytes = cap * (2 * sizeof(uint64_t) + sizeof(void *) + sizeof(int) +
			      sizeof(struct ptbm_run) + sizeof(struct ptbm_gap_latch)) +
		       6 * 16;
	char *base = malloc(bytes), *at = base;
	if (!base)
		return NULL;
	w->cap = cap;
	w->victims = work_carve(&at, cap * sizeof(uint64_t));
	w->dirty = work_carve(&at, cap * sizeof(uint64_t));
	w->dirty_addr = work_carve(&at, cap * sizeof(void *));
	w->rcs = work_carve(&at, cap * sizeof(int));
	w->runs = work_carve(&at, cap * sizeof(struct ptbm_run));
	w->gaps = work_carve(&at, cap * sizeof(struct ptbm_gap_latch));
	return base;
}

/* Latch the evicted pages in [from, to) into out (room for cap); false
 * (none kept) if one is not evicted or there is no room. */
static bool latch_gap(ptbm_pool *pool, uint64_t from, uint64_t to, struct ptbm_gap_latch *out,
		      size_t *n_out, size_t cap)
{
	size_t n0 = *n_out;
	if (to - from > cap - n0)
		return false;
	for (uint64_t q = from; q < to; q++) {
		uint64_t s;
		if (!ptbm_state_latch_evicted(&pool->desc[q], &s)) {
			while (*n_out > n0) {
				(*n_out)--;
				atomic_store(&pool->desc[out[*n_out].pid], out[*n_out].state);
			}
			return false;
		}
		out[*n_out].pid = q;
		out[(*n_out)++].state = s;
	}
	return true;
}

/* Release the frames of n exclusively latched pages, sorted by id. */
static int release_frames(ptbm_pool *pool, struct ptbm_evict_work *w, const uint64_t *pids,
			  size_t n)
{
	struct ptbm_run *runs = w->runs;
	size_t k = 0, n_gaps = 0;
	for (size_t i = 0; i < n; i++) {
		char *a = ptbm_page_addr(pool, pids[i]);
		uint64_t gap = i ? pids[i] - pids[i - 1] - 1 : 0;
		if (gap && gap <= MAX_GAP &&
		    latch_gap(pool, pids[i - 1] + 1, pids[i], w->gaps, &n_gaps, w->cap)) {
			ptbm_run_stretch(&runs[k - 1], a, pool->page_size);
			continue;
		}
		k = ptbm_runs_add(runs, k, a, pool->page_size);
	}
	int rc = ptbm_region_release(runs, k, pool->shmem_frames);
	for (size_t i = 0; i < n_gaps; i++)
		atomic_store_explicit(&pool->desc[w->gaps[i].pid], w->gaps[i].state,
				      memory_order_release);
	return rc;
}

size_t ptbm_vm_pick_victims(ptbm_pool *pool, struct ptbm_evict_work *work)
{
	struct ptbm_pageset *rs = ptbm_vm_resident(pool);
	uint32_t want = (uint32_t)work->cap;
	uint64_t *victims = work->victims;
	size_t n = 0;
	/*
	 * The hand moves over allocated page ids 64 at a time; two turns
	 * (mark, then take) without a victim means everything is latched.
	 */
	uint64_t span = (atomic_load(&pool->sh->n_alloc) + 63) / 64 * 64;
	if (span == 0)
		return 0;
	const uint64_t step = 64, limit = 2 * span + step;

	for (uint64_t scanned = 0; n < want && scanned < limit; scanned += step) {
		uint64_t pos =
		    atomic_fetch_add_explicit(&pool->sh->clock_hand, step, memory_order_relaxed) %
		    span;
		for (uint64_t pid = ptbm_pageset_next(rs, pos, pos + step);
		     pid != UINT64_MAX && n < want;
		     pid = ptbm_pageset_next(rs, pid + 1, pos + step)) {
			_Atomic uint64_t *w = &pool->desc[pid];
			uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
			if (ptbm_tag(s) == PTBM_TAG_UNLOCKED)
				ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_MARKED));
			else if (ptbm_tag(s) == PTBM_TAG_MARKED &&
				 ptbm_state_cas(w, &s, ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE)))
				victims[n++] = pid;
		}
	}
	return n;
}

/* Count in slot, or, for a thread with no slot (the releaser), in the
 * pool's retired counters, which every thread may add to. */
static void count_in(ptbm_pool *pool, struct ptbm_stat_slot *slot, enum ptbm_counter c, uint64_t n)
{
	if (slot)
		ptbm_slot_add(slot, c, n);
	else
		atomic_fetch_add_explicit(&pool->sh->retired[c], n, memory_order_relaxed);
}

/*
 * Write back the dirty ones of *n victims in one batch. One that fails
 * stays, resident, dirty and unlatched again (its last good copy), and
 * leaves victims; *n is what is left. Returns the write error, if any.
 */
static int write_back(ptbm_pool *pool, struct ptbm_evict_work *work, size_t *n,
		      struct ptbm_stat_slot *slot)
{
	uint64_t *victims = work->victims, *dirty = work->dirty;
	void **dirty_addr = work->dirty_addr;
	size_t n_dirty = 0;
	for (size_t i = 0; i < *n; i++)
		if (atomic_load_explicit(&pool->desc[victims[i]], memory_order_relaxed) &
		    PTBM_DIRTY_BIT) {
			dirty[n_dirty] = victims[i];
			dirty_addr[n_dirty++] = ptbm_page_addr(pool, victims[i]);
		}
	if (n_dirty == 0)
		return 0;
	int *rcs = work->rcs;
	int werr = ptbm_file_write_batch(&pool->file, dirty, dirty_addr, n_dirty, rcs);
	size_t failed = 0;
	for (size_t j = 0; j < n_dirty; j++) {
		if (rcs[j] == 0)
			continue;
		ptbm_state_unlatch_unchanged(&pool->desc[dirty[j]]);
		for (size_t i = 0; i < *n; i++)
			if (victims[i] == dirty[j])
				victims[i] = UINT64_MAX;
		failed++;
	}
	count_in(pool, slot, PTBM_C_WRITES, n_dirty - failed);
	if (failed) {
		size_t k = 0;
		for (size_t i = 0; i < *n; i++)
			if (victims[i] != UINT64_MAX)
				victims[k++] = victims[i];
		*n = k;
	}
	return werr;
}

/* n clean victims whose pages are out of their frames: out of the resident
 * set, published evicted. */
static void publish_evicted(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t pid = pids[i];
		ptbm_pageset_remove(ptbm_vm_resident(pool), pid);
		uint64_t s = atomic_load_explicit(&pool->desc[pid], memory_order_relaxed);
		s = ptbm_bump_version(ptbm_with_tag(s & ~PTBM_DIRTY_BIT, PTBM_TAG_EVICTED));
		atomic_store_explicit(&pool->desc[pid], s, memory_order_release);
	}
}

/* The clean half of retiring: frames emptied (spares, else released),
 * victims published evicted, their frames given back to the budget. */
static int retire_clean(ptbm_pool *pool, struct ptbm_evict_work *work, size_t n,
			struct ptbm_stat_slot *slot)
{
	uint64_t *victims = work->victims, *rest = work->dirty;
	ptbm_sort_ids(victims, n);
	/* pages moved into spares (vm/recycle.c) are out of their frames;
	 * the rest (in dirty[], which is free again) are released */
	size_t n_rest = 0, n_kept = ptbm_vm_spares_keep(pool, victims, n, rest, &n_rest);
	int rc = n_rest ? release_frames(pool, work, rest, n_rest) : 0;
	if (rc < 0) {
		for (size_t i = 0; i < n_rest; i++)
			ptbm_state_unlatch_unchanged(&pool->desc[rest[i]]);
		if (n_kept == 0)
			return rc;
		n = n_kept;
	} else {
		for (size_t i = 0; i < n_rest; i++)
			victims[n_kept + i] = rest[i];
	}
	publish_evicted(pool, victims, n);
	atomic_fetch_sub(&pool->sh->resident, n);
	count_in(pool, slot, PTBM_C_EVICTIONS, n);
	return (int)n;
}

int ptbm_vm_retire_victims(ptbm_pool *pool, struct ptbm_evict_work *work, size_t n,
			   struct ptbm_stat_slot *slot)
{
	if (n == 0)
		return 0;
	int werr = write_back(pool, work, &n, slot);
	return n ? retire_clean(pool, work, n, slot) : werr;
}

size_t ptbm_vm_evict_into(ptbm_pool *pool, void *const *frames, size_t n, bool *filled)
{
	for (size_t i = 0; i < n; i++)
		filled[i] = false;
	struct ptbm_evict_work w;
	void *mem = n ? ptbm_vm_evict_work_alloc(&w, n) : NULL;
	if (!mem)
		return 0;
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	size_t m = ptbm_vm_pick_victims(pool, &w);
	if (m)
		write_back(pool, &w, &m, slot);
	/* victim i's page into frame i; one that does not move is retired */
	size_t handed = 0, n_rest = 0;
	uint64_t *rest = w.dirty; /* free again after the write-back */
	for (size_t i = 0; i < m; i++) {
		uint64_t v = w.victims[i];
		if (ptbm_vm_hand_over(pool, frames[i], ptbm_page_addr(pool, v))) {
			filled[i] = true;
			w.victims[handed++] = v;
		} else {
			rest[n_rest++] = v;
		}
	}
	publish_evicted(pool, w.victims, handed);
	count_in(pool, slot, PTBM_C_EVICTIONS, handed);
	if (n_rest) {
		memcpy(w.victims, rest, n_rest * sizeof *rest);
		retire_clean(pool, &w, n_rest, slot);
	}
	ptbm_slot_hold(slot, -1);
	free(mem);
	size_t got = 0;
	for (size_t i = 0; i < n; i++)
		got += filled[i];
	return got;
}

/* Victims are latched inside: count the work as one held latch. */
int ptbm_vm_evict_upto(ptbm_pool *pool, size_t cap)
{
	struct ptbm_evict_work w;
	void *mem = ptbm_vm_evict_work_alloc(&w, cap);
	if (!mem)
		return -ENOMEM;
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	int rc = ptbm_vm_retire_victims(pool, &w, ptbm_vm_pick_victims(pool, &w), slot);
	ptbm_slot_hold(slot, -1);
	free(mem);
	return rc;
}

int ptbm_vm_evict(ptbm_pool *pool)
{
	return ptbm_vm_evict_upto(pool, pool->sh->evict_batch);
}
