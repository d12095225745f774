/*
 * vm.h - what the files of the vm engine call in each other (engine.c
 * lists them). Everything else of the engine is reached through hit.h and
 * the operations table.
 */
#ifndef PTBM_VM_VM_H
#define PTBM_VM_VM_H

#include "core/pageio.h"
#include "core/pageset.h"
#include "core/region.h"
#include "registry/stats.h"
#include "vm/hit.h"
#include "vm/latch_wait.h"
#include "vm/state.h"

/* The resident set: the pages in memory, in page order (the engine area). */
static inline struct ptbm_pageset *ptbm_vm_resident(ptbm_pool *pool)
{
	return pool->engine_area;
}

/* load.c */
/*
 * Load page pid, whose exclusive latch the caller took from the evicted
 * state (s is the state word it replaced). On success the page is resident
 * and still latched exclusive; returns the new state word's low bits in
 * *state. On failure the page is published evicted again.
 */
int ptbm_vm_load(ptbm_pool *pool, uint64_t pid, uint64_t s, uint64_t *state);
/* Count one more resident frame, evicting first if the budget is full. */
int ptbm_vm_reserve_frame(ptbm_pool *pool);
/* Count n more resident frames only if they fit the budget now (never
 * evicts); ptbm_vm_unreserve_frames gives n back. */
bool ptbm_vm_try_reserve(ptbm_pool *pool, uint64_t n);
void ptbm_vm_unreserve_frames(ptbm_pool *pool, uint64_t n);
/* Map n frames of exclusively latched pages writable and touch them, while
 * their reads are in flight (n <= ptbm_file_stage_slots()). */
void ptbm_vm_prepare_frames(ptbm_pool *pool, void *const *addr, size_t n);

/* extent.c: page pid was just loaded; if that made its extent fully
 * resident, collapse the extent into a huge page when the budget has room. */
void ptbm_vm_extent_loaded(ptbm_pool *pool, uint64_t pid);

/* optimistic.c: page pid, evicted in state word s, may have a frame nobody
 * accounts for (an unlatched read of its hole, or a hole a collapse filled):
 * punch it under the latch, unless someone latched it first. */
void ptbm_vm_drop_stray(ptbm_pool *pool, uint64_t pid, uint64_t s);

/* evict.c: one clock round of up to evict_batch victims; pages evicted, 0
 * if everything was latched, or a write-back error if none was evicted. */
int ptbm_vm_evict(ptbm_pool *pool);

/* map.c: map page pid (latched by the caller, generation g) and its
 * unmapped resident neighbours into this process's page table. */
int ptbm_vm_map_group(ptbm_pool *pool, uint64_t pid, uint8_t g);

/* The operations of the table in engine.c (fix.c, optimistic.c,
 * prefetch.c, flush.c). */
int ptbm_vm_mark_dirty(ptbm_pool *pool, uint64_t pid);
int ptbm_vm_upgrade(ptbm_pool *pool, uint64_t pid, uint64_t version);
int ptbm_vm_prefetch(ptbm_pool *pool, const uint64_t *pids, size_t n);
int ptbm_vm_flush(ptbm_pool *pool);

#endif /* PTBM_VM_VM_H */
