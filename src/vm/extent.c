/*
 * extent.c - huge extents: a 2 MiB extent of frames whose pages are all
 * resident is collapsed into one huge page, which the MMU maps with one PMD
 * entry instead of 512 PTEs.
 *
 * Why: a random read of memory mapped by 4 KiB entries pays a page walk that
 * misses the caches, and under a hypervisor a two-dimensional one; mapped by
 * 2 MiB entries, the same reads of the same memory take 0.55-0.75 of the
 * time (ptbm probe, read-speed; docs/bench.md). That is why the page cache's
 * large folios made OS mmap read faster than the pool's own frames.
 *
 * When: the loader that makes an extent fully resident (load.c,
 * prefetch.c) collapses it at once, while it still holds its own page's
 * latch (the kernel does not care; a hit elsewhere in the extent that
 * touches a page while it is being copied waits in a page fault until the
 * copy is done). MADV_COLLAPSE copies the 512 4 KiB pages into a new huge
 * page and frees them, so for a moment the extent takes twice its memory:
 * the collapse first reserves extent_pages frames of the budget, as a miss
 * reserves one, and skips the extent if the budget has no room for them.
 * A pool that is at its budget (it evicts) therefore never collapses, and
 * resident memory stays within the budget during a collapse as at any other
 * moment (invariant 5 of ../README.md).
 *
 * Eviction stays at page granularity: a victim in a huge extent is punched
 * like any other (MADV_REMOVE frees its 8 KiB at once), which splits the
 * huge page; the extent's other pages stay resident and are mapped by 4 KiB
 * entries again until the extent is full again and collapsed anew. A page
 * evicted while its extent was being copied may have had its hole filled
 * with a zero page by the collapse: it is punched again under its latch
 * (ptbm_vm_drop_stray), as an optimistic reader's stray is.
 *
 * A kernel or configuration that refuses the advice (transparent huge pages
 * "never", a kernel before 6.1) answers EINVAL once; this process then stops
 * asking. PTBM_NO_HUGE turns collapsing off for a pool.
 */
#include "vm/vm.h"

#include <errno.h>
#include <sched.h>

static _Atomic bool kernel_refuses;

#define COLLAPSE_RETRIES 4

void ptbm_vm_extent_loaded(ptbm_pool *pool, uint64_t pid)
{
	if (!pool->huge || atomic_load_explicit(&kernel_refuses, memory_order_relaxed))
		return;
	uint64_t n = pool->extent_pages, first = pid - pid % n, end = first + n;
	struct ptbm_pageset *rs = ptbm_vm_resident(pool);
	if (end > pool->max_pages || !ptbm_pageset_all(rs, first, end))
		return;
	if (!ptbm_vm_try_reserve(pool, n))
		return;
	/* EAGAIN is the kernel's transient failure (a page of the extent
	 * locked, being faulted in by another thread): a few more tries */
	int rc = ptbm_region_collapse(ptbm_page_addr(pool, first));
	for (int tries = 0; rc == -EAGAIN && tries < COLLAPSE_RETRIES; tries++) {
		sched_yield();
		rc = ptbm_region_collapse(ptbm_page_addr(pool, first));
	}
	ptbm_vm_unreserve_frames(pool, n);
	if (rc == -EINVAL || rc == -ENOSYS || rc == -EPERM)
		atomic_store_explicit(&kernel_refuses, true, memory_order_relaxed);
	if (rc < 0)
		return; /* nothing was copied, no hole filled */
	ptbm_count(pool, PTBM_C_COLLAPSES, 1);
	/* every hit also reads the page's state word: the 2 MiB of state words
	 * around it (those of 256 Ki pages) get one entry too; a second call
	 * for them costs a look, not a copy */
	uintptr_t d = (uintptr_t)&pool->desc[first] & ~(uintptr_t)(PTBM_EXTENT_BYTES - 1);
	ptbm_region_collapse((void *)d);
	/* pages evicted meanwhile: their holes may hold zero pages now */
	for (uint64_t p = first; p < end; p++) {
		if (ptbm_pageset_has(rs, p))
			continue;
		uint64_t s = atomic_load_explicit(&pool->desc[p], memory_order_relaxed);
		if (ptbm_tag(s) == PTBM_TAG_EVICTED)
			ptbm_vm_drop_stray(pool, p, s);
	}
}
