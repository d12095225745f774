/*
 * region.h - the address space (region.c): reserve a range, release,
 * populate and collapse frames in it.
 */
#ifndef PTBM_CORE_REGION_H
#define PTBM_CORE_REGION_H

#include "base.h"

/* A reservation starts on a PTBM_EXTENT_BYTES boundary, so the extents at
 * extent-aligned offsets of it can be mapped by huge page-table entries. */
#define PTBM_EXTENT_BYTES (2u << 20)

/* Reserve bytes of address space (MAP_NORESERVE): private or shared,
 * anonymous (fd < 0) or from fd at offset; NULL on failure (errno). */
void *ptbm_region_reserve(uint64_t bytes, bool shared, int fd, uint64_t offset);
int ptbm_region_unmap(void *addr, uint64_t bytes);

/* A run of adjacent frames (core/runs.h builds them). */
struct ptbm_run {
	void *addr;
	uint64_t bytes;
};
/* Release n page runs: frees the frames in every process that maps them.
 * shmem: the frames are shmem (MADV_REMOVE); else private (MADV_DONTNEED). */
int ptbm_region_release(struct ptbm_run *runs, size_t n, bool shmem);
/* Map (and allocate if needed) n runs writable in this process, in one system
 * call where the kernel allows. */
int ptbm_region_populate_runs(struct ptbm_run *runs, size_t n);
/* Collapse the extent at addr (extent-aligned, its pages present) into one
 * huge page: 0, or -errno (-EINVAL: this kernel or its settings never will). */
int ptbm_region_collapse(void *addr);

#endif /* PTBM_CORE_REGION_H */
