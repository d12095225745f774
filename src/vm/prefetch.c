/*
 * prefetch.c - ptbm_prefetch: up to PTBM_PREFETCH_BATCH evicted pages
 * loaded with one batch of reads (one io_uring, in groups of 4), one populate
 * call for all their frames and one wait.
 */
#include "vm/vm.h"

/*
 * Load up to PREFETCH_BATCH evicted pages with one batch of reads: latch
 * them exclusive (skipping any that are resident or latched), reserve their
 * frames, read, verify, publish them unlocked. Returns pages loaded or the
 * first error if none was.
 */
#define PREFETCH_BATCH PTBM_PREFETCH_BATCH

static int prefetch_batch_held(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	uint64_t got[PREFETCH_BATCH] = {0}, state[PREFETCH_BATCH];
	void *addr[PREFETCH_BATCH] = {0};
	int rcs[PREFETCH_BATCH];
	size_t k = 0;
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t s;
		if (!ptbm_state_latch_evicted(&pool->desc[pids[i]], &s))
			continue; /* resident, or someone else is on it */
		got[k] = pids[i];
		state[k] = s;
		addr[k] = ptbm_page_addr(pool, pids[i]);
		k++;
	}
	struct ptbm_staged st;
	ptbm_file_read_start(&pool->file, got, k, &st);
	/* frames: victims' pages handed over, else reserved and prepared */
	bool framed[PREFETCH_BATCH];
	size_t handed = ptbm_vm_hand_over_for(pool, addr, k, framed);
	ptbm_vm_evict_for(pool, k - handed);
	void *fresh[PREFETCH_BATCH], *dst[PREFETCH_BATCH];
	size_t n_fresh = 0;
	for (size_t i = 0; i < k; i++) {
		if (!framed[i] && !err && (err = ptbm_vm_reserve_frame(pool)) == 0) {
			framed[i] = true;
			fresh[n_fresh++] = addr[i];
		}
		dst[i] = framed[i] ? addr[i] : NULL;
	}
	ptbm_vm_prepare_frames(pool, fresh, n_fresh);
	if (k)
		ptbm_file_read_finish(&pool->file, &st, dst, rcs);
	size_t kept = 0;
	for (size_t i = 0; i < k; i++) {
		if (!framed[i]) { /* no frame: leave it evicted */
			atomic_store_explicit(&pool->desc[got[i]], state[i], memory_order_release);
			continue;
		}
		got[kept] = got[i];
		state[kept] = state[i];
		addr[kept] = addr[i];
		rcs[kept++] = rcs[i];
	}
	k = kept;
	int loaded = 0;
	struct ptbm_run bad[PREFETCH_BATCH];
	size_t n_bad = 0;
	for (size_t i = 0; i < k; i++) {
		uint64_t s = state[i];
		if (rcs[i] < 0) {
			if (!err)
				err = rcs[i];
			bad[n_bad].addr = addr[i];
			bad[n_bad++].bytes = pool->page_size;
			continue;
		}
		ptbm_pageset_insert(ptbm_vm_resident(pool), got[i]);
		s = ptbm_bump_gen(s);
		if (pool->populate)
			pool->mapgen[got[i]] = (uint8_t)ptbm_gen(s);
		atomic_store_explicit(&pool->desc[got[i]], ptbm_with_tag(s, PTBM_TAG_UNLOCKED),
				      memory_order_release);
		loaded++;
	}
	for (size_t i = 0; i < k; i++) /* consecutive ids of one extent: once */
		if (rcs[i] >= 0 &&
		    (i + 1 == k || rcs[i + 1] < 0 ||
		     ptbm_extent_of(pool, got[i + 1]) != ptbm_extent_of(pool, got[i])))
			ptbm_vm_extent_loaded(pool, got[i]);
	if (n_bad) {
		/* free the frames first, then let the pages be tried again */
		ptbm_region_release(bad, n_bad, pool->shmem_frames);
		for (size_t i = 0; i < k; i++)
			if (rcs[i] < 0) {
				ptbm_vm_unreserve_frames(pool, 1);
				atomic_store_explicit(&pool->desc[got[i]], state[i],
						      memory_order_release);
			}
	}
	ptbm_count(pool, PTBM_C_READS, (uint64_t)loaded);
	return loaded ? loaded : err;
}

static int prefetch_batch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	struct ptbm_stat_slot *slot = ptbm_slot(pool);
	ptbm_slot_hold(slot, 1);
	int rc = prefetch_batch_held(pool, pids, n);
	ptbm_slot_hold(slot, -1);
	ptbm_vm_release_wait(pool);
	return rc;
}

int ptbm_vm_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n)
{
	/* 8 KiB pages: one batch; larger ones: as many as the staging holds */
	size_t slots = ptbm_file_stage_slots(&pool->file);
	int loaded = 0, rc = 0;
	for (size_t at = 0; at < n && rc >= 0; at += slots) {
		rc = prefetch_batch(pool, pids + at, n - at < slots ? n - at : slots);
		loaded += rc > 0 ? rc : 0;
	}
	return loaded || rc >= 0 ? loaded : rc;
}
