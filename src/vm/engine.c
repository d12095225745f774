/*
 * engine.c - the vm engine as the pool sees it: its operations table and
 * its area of the shared region, the resident set (a core/pageset.h set
 * the clock walks in page order).
 *
 * The hit path is inlined into the entry points (vm/hit.h, pool/api.c);
 * the rest is split by idea: fix.c (latches that lost a race, first calls),
 * load.c (misses), evict.c (the clock), map.c (per-process page tables),
 * release.c (the background releaser), recycle.c (frames moved, not
 * freed), optimistic.c, prefetch.c, flush.c,
 * latch_wait.c (waiting, dead owners).
 */
#include "vm/vm.h"

/* The operations' fix and unfix: the hit path, out of line (api.c inlines
 * it instead). */
static int vm_fix(ptbm_pool *pool, uint64_t pid, void **page, bool exclusive)
{
	return ptbm_vm_fix(pool, pid, page, exclusive);
}

static int vm_unfix(ptbm_pool *pool, uint64_t pid, bool exclusive)
{
	return exclusive ? ptbm_vm_unfix_exclusive(pool, pid) : ptbm_vm_unfix_shared(pool, pid);
}

static uint64_t vm_area_bytes(const struct ptbm_shared *sh)
{
	return ptbm_pageset_bytes(sh->max_pages);
}

static int vm_init(ptbm_pool *pool, bool creator)
{
	if (creator)
		ptbm_pageset_init(ptbm_vm_resident(pool), pool->sh->max_pages);
	int rc = ptbm_vm_spares_init(pool);
	if (rc < 0)
		return rc;
	rc = ptbm_vm_releaser_init(pool);
	if (rc < 0)
		ptbm_vm_spares_fini(pool);
	return rc;
}

static void vm_fini(ptbm_pool *pool, bool creator)
{
	(void)creator;
	ptbm_vm_releaser_fini(pool);
	ptbm_vm_spares_fini(pool);
}

static void vm_after_fork(ptbm_pool *pool)
{
	ptbm_vm_releaser_after_fork(pool);
	ptbm_vm_spares_after_fork(pool);
}

const struct ptbm_engine_ops ptbm_vm_ops = {
    .fix = vm_fix,
    .unfix = vm_unfix,
    .mark_dirty = ptbm_vm_mark_dirty,
    .read_begin = ptbm_vm_read_begin,
    .read_validate = ptbm_vm_read_validate,
    .upgrade = ptbm_vm_upgrade,
    .prefetch = ptbm_vm_prefetch,
    .flush = ptbm_vm_flush,
    .area_bytes = vm_area_bytes,
    .init = vm_init,
    .fini = vm_fini,
    .drain = ptbm_vm_releaser_drain,
    .after_fork = vm_after_fork,
};
