/*
 * runs.h - page ids in order and frames in runs: the kernel walks (and, in
 * a shared mapping, flushes TLBs for) each range it is given, so frames are
 * released and populated as runs of adjacent pages, as few calls as the
 * kernel allows (core/region.c). The clock collects victims in page order
 * (vm/evict.c), misses and groups are mapped in address order (vm/load.c,
 * vm/map.c).
 */
#ifndef PTBM_CORE_RUNS_H
#define PTBM_CORE_RUNS_H

#include "core/region.h"

/* Sort n page ids into ascending order. */
void ptbm_sort_ids(uint64_t *ids, size_t n);

/*
 * Add [addr, addr + bytes) to the k runs in runs[]: it joins the last run
 * if it starts where that one ends, else it starts a new run (runs[] has
 * room for it). Returns the new number of runs.
 */
static inline size_t ptbm_runs_add(struct ptbm_run *runs, size_t k, void *addr, uint64_t bytes)
{
	if (k && (char *)runs[k - 1].addr + runs[k - 1].bytes == (char *)addr) {
		runs[k - 1].bytes += bytes;
		return k;
	}
	runs[k].addr = addr;
	runs[k].bytes = bytes;
	return k + 1;
}

/* Stretch run r to end where [addr, addr + bytes) ends: what lies between
 * joins it (pages the caller latched for that). */
static inline void ptbm_run_stretch(struct ptbm_run *r, void *addr, uint64_t bytes)
{
	r->bytes = (uint64_t)((char *)addr - (char *)r->addr) + bytes;
}

#endif /* PTBM_CORE_RUNS_H */
