/*
 * load.c - the miss path: a frame reserved within the budget, the read
 * issued into this thread's staging buffer first, the frame made ready
 * while the disk works, the page verified and copied in.
 *
 * Loading (ptbm_vm_load, holding the exclusive latch of an evicted page):
 *   1. check the page is allocated;
 *   2. reserve a frame: resident + 1 <= budget; if that leaves less than
 *      a batch free, hand a batch of victims to the background releaser
 *      (vm/release.c), or, with none, evict a slice of a batch on this
 *      thread while the read is in flight (below); if the budget is full,
 *      wait for the batch in flight, or, with none, evict a batch on this
 *      thread (vm/evict.c);
 *   3. read the page into this thread's staging buffer (issued before step
 *      2, so the frame is made ready while the disk works; core/pageio.c,
 *      staged reads), verify its checksum there and copy it into the frame
 *      (a failure releases the frame, the page stays evicted, the caller
 *      gets the error);
 *   4. insert it into the resident set, bump its residency generation.
 */
#include "vm/vm.h"

#include "core/runs.h"

bool ptbm_vm_try_reserve(ptbm_pool *pool, uint64_t n)
{
	_Atomic uint64_t *res = &pool->sh->resident;
	uint64_t r = atomic_load_explicit(res, memory_order_relaxed);
	do {
		if (r + n > pool->sh->budget_pages)
			return false;
	} while (!atomic_compare_exchange_weak(res, &r, r + n));
	return true;
}

/* Count one more resident frame, evicting first if the budget is full. */
int ptbm_vm_reserve_frame(ptbm_pool *pool)
{
	unsigned spins = 0, empty_rounds = 0;
	for (;;) {
		if (ptbm_vm_try_reserve(pool, 1)) {
			ptbm_vm_release_ahead(pool);
			return 0;
		}
		/* a batch of this process on its way out: its frames, soon */
		if (ptbm_vm_release_wait(pool))
			continue;
		int got = ptbm_vm_evict(pool);
		if (got < 0)
			return got;
		if (got == 0) {
			/* everything latched: others may unlatch soon */
			if (++empty_rounds > 1000)
				return PTBM_EBUSY;
			int rc = ptbm_wait(pool, &spins);
			if (rc < 0)
				return rc;
		}
	}
}

void ptbm_vm_unreserve_frames(ptbm_pool *pool, uint64_t n)
{
	atomic_fetch_sub(&pool->sh->resident, n);
}

/*
 * Make n frames of exclusively latched pages ready for their contents: a
 * spare's page moved in where the process keeps spares (vm/recycle.c),
 * else mapped writable in this process (one system call for the rest,
 * adjacent frames merged) and touched once per 4 KiB, which on a
 * paravirtualized guest is when the hypervisor maps them. Called while
 * their reads are in flight. A failure is harmless: the copy would fault
 * the frame in.
 */
void ptbm_vm_prepare_frames(ptbm_pool *pool, void *const *addr, size_t n)
{
	struct ptbm_run runs[PTBM_STAGE_MAX]; /* n <= ptbm_file_stage_slots() */
	void *fresh[PTBM_STAGE_MAX];
	size_t k = 0, n_fresh = 0;
	for (size_t i = 0; i < n; i++) {
		if (ptbm_vm_spares_take(pool, addr[i]))
			continue;
		fresh[n_fresh++] = addr[i];
		if (k == PTBM_STAGE_MAX) {
			ptbm_region_populate_runs(runs, k);
			k = 0;
		}
		k = ptbm_runs_add(runs, k, addr[i], pool->page_size);
	}
	ptbm_region_populate_runs(runs, k);
	for (size_t i = 0; i < n_fresh; i++)
		for (uint32_t off = 0; off < pool->page_size; off += 4096)
			((volatile char *)fresh[i])[off] = 0;
}

/*
 * Eviction in the read's shadow. A miss at queue depth 1 waits for the disk
 * for tens of microseconds with nothing to do, while a miss that finds the
 * budget full evicts a whole batch, whose releases take several times one
 * read's latency: the rest of it lands on that miss's path. So a miss that
 * finds fewer than a batch of frames free evicts a slice of victims (a
 * batch over SLICE_DIV: 4 of 64) while its own read is in flight: at depth
 * 1 one miss in four evicts a slice, the budget is never full and no miss
 * waits for a whole batch. The slice frees frames and takes none, so the
 * budget holds as before. A small budget (vm.h, PTBM_VM_MIN_BATCHES) keeps
 * eviction when full only.
 */
#define SLICE_DIV 16

void ptbm_vm_evict_in_shadow(ptbm_pool *pool)
{
	uint64_t budget = pool->sh->budget_pages, batch = pool->sh->evict_batch;
	uint64_t resident = atomic_load_explicit(&pool->sh->resident, memory_order_relaxed);
	/* a pool with a releaser (vm/release.c) hands its victims over instead */
	if (pool->engine_private || !ptbm_vm_evicts_ahead(pool) || resident + batch <= budget)
		return;
	ptbm_vm_evict_upto(pool, batch / SLICE_DIV ? batch / SLICE_DIV : 1);
}

/*
 * Room for a batch of misses, made in its reads' shadow. A batch that found
 * the budget full evicted a whole evict_batch (64 victims) while it reserved
 * its frames, and the next two batches of 24 misses evicted nothing: one
 * batch in three carried three batches' releases, far more work than its
 * reads' shadow holds in processes mode (5-6 us a shmem release), while the
 * others' shadows had room to spare. So a batch evicts what it needs, as
 * many victims as it loads less the budget's free frames, in one call; its
 * frames are then reserved as before. It frees frames and takes none, so
 * the budget holds as before. A pool with a releaser hands its victims over
 * instead.
 */
void ptbm_vm_evict_for(ptbm_pool *pool, uint64_t n)
{
	uint64_t budget = pool->sh->budget_pages;
	uint64_t resident = atomic_load_explicit(&pool->sh->resident, memory_order_relaxed);
	if (pool->engine_private || resident + n <= budget)
		return;
	uint64_t need = resident + n - budget;
	uint64_t cap = pool->sh->evict_batch;
	ptbm_vm_evict_upto(pool, need < cap ? need : cap);
}

/*
 * Victims handed straight over. Where pages move (vm/recycle.c), a victim
 * moved into a spare and then into a miss's frame took two moves, each one
 * system call and one flush of the page's old address. A miss that needs a
 * victim anyway takes it at once instead: the victim's page moves straight
 * into the missing frame, one move, and the frame takes over the victim's
 * count in the budget, so resident memory does not change. The pool keeps
 * a batch of the budget free, as eviction in a read's shadow does (above),
 * so that a thread that does not hand over (no victim to be had) finds a
 * frame without waiting. Not in a pool with a releaser, whose thread takes
 * the victims off the misses' path, nor in one too small to evict ahead.
 */
size_t ptbm_vm_hand_over_for(ptbm_pool *pool, void *const *addr, size_t n, bool *framed)
{
	for (size_t i = 0; i < n; i++)
		framed[i] = false;
	if (!ptbm_vm_hands_over(pool) || pool->engine_private || !ptbm_vm_evicts_ahead(pool))
		return 0;
	uint64_t level = pool->sh->budget_pages - pool->sh->evict_batch;
	uint64_t resident = atomic_load_explicit(&pool->sh->resident, memory_order_relaxed);
	if (resident + n <= level)
		return 0;
	uint64_t need = resident + n - level;
	return ptbm_vm_evict_into(pool, addr, need < n ? need : n, framed);
}

/*
 * Load page pid, whose exclusive latch the caller took from the evicted
 * state (s is the state word it replaced). On success the page is resident
 * and still latched exclusive; returns the new state word's low bits in
 * *state. On failure the page is published evicted again.
 */
int ptbm_vm_load(ptbm_pool *pool, uint64_t pid, uint64_t s, uint64_t *state)
{
	_Atomic uint64_t *w = &pool->desc[pid];
	void *addr = ptbm_page_addr(pool, pid);
	struct ptbm_staged st;
	int rc, rcs[1];
	if (pid >= atomic_load_explicit(&pool->sh->n_alloc, memory_order_acquire)) {
		rc = PTBM_ERANGE;
		goto fail;
	}
	/* the read goes first; the frame is made ready while the disk works */
	ptbm_file_read_start(&pool->file, &pid, 1, &st);
	bool framed;
	if (!ptbm_vm_hand_over_for(pool, &addr, 1, &framed)) {
		rc = ptbm_vm_reserve_frame(pool);
		if (rc < 0) {
			void *none[1] = {NULL};
			ptbm_file_read_finish(&pool->file, &st, none, rcs);
			goto fail;
		}
		ptbm_vm_prepare_frames(pool, &addr, 1);
		ptbm_vm_evict_in_shadow(pool);
	}
	rc = ptbm_file_read_finish(&pool->file, &st, &addr, rcs);
	if (rc < 0)
		goto fail_frame;
	ptbm_pageset_insert(ptbm_vm_resident(pool), pid);
	s = ptbm_bump_gen(s);
	if (pool->populate)
		pool->mapgen[pid] = (uint8_t)ptbm_gen(s);
	ptbm_count(pool, PTBM_C_MISSES, 1);
	ptbm_count(pool, PTBM_C_READS, 1);
	*state = ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE);
	atomic_store_explicit(w, *state, memory_order_relaxed);
	ptbm_vm_extent_loaded(pool, pid);
	ptbm_vm_release_wait(pool);
	return 0;

fail_frame : {
	struct ptbm_run run = {addr, pool->page_size};
	ptbm_region_release(&run, 1, pool->shmem_frames);
	ptbm_vm_unreserve_frames(pool, 1);
}
fail:
	atomic_store_explicit(w, ptbm_with_tag(s, PTBM_TAG_EVICTED), memory_order_release);
	ptbm_vm_release_wait(pool);
	return rc;
}
