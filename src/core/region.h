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

/*
 * Moving frames between addresses of private memory (userfaultfd's
 * UFFDIO_MOVE, Linux 6.8+): the page-table entries move, the pages stay,
 * nothing is allocated, zeroed or freed. A mover is a userfaultfd of this
 * process; a range it moves into must be registered with it (registered
 * for write-protection, which never protects anything unless asked, so
 * the range faults as before).
 * ptbm_region_mover_open: the mover's descriptor, or -errno (-ENOSYS,
 * -EPERM: no userfaultfd here; -EINVAL: a kernel without moves).
 */
int ptbm_region_mover_open(void);
int ptbm_region_mover_register(int mover, void *addr, uint64_t bytes);
/* Move the pages of [src, src + bytes) to dst: 0, or -errno (-EEXIST: dst
 * is mapped; -ENOENT: src is not; -EBUSY: a page is shared or pinned).
 * After a failure both ranges may hold part of the pages. */
int ptbm_region_move(int mover, void *dst, void *src, uint64_t bytes);

#endif /* PTBM_CORE_REGION_H */
