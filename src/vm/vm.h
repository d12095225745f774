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

/* A budget of fewer than this many eviction batches evicts only when it is
 * full (a batch of free frames would be a large share of it): it gets no
 * background releaser and no eviction in a read's shadow. */
#define PTBM_VM_MIN_BATCHES 16

static inline bool ptbm_vm_evicts_ahead(const ptbm_pool *pool)
{
	return pool->sh->budget_pages >= PTBM_VM_MIN_BATCHES * (uint64_t)pool->sh->evict_batch;
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
/* The same with up to cap victims (cap <= evict_batch). */
int ptbm_vm_evict_upto(ptbm_pool *pool, size_t cap);
/* load.c: a miss whose read is in flight and that finds fewer than a batch
 * of the budget's frames free evicts a slice of victims meanwhile (not in a
 * pool with a releaser). */
void ptbm_vm_evict_in_shadow(ptbm_pool *pool);
/* load.c: a batch of n misses whose reads are in flight evicts what the
 * budget lacks for them (not in a pool with a releaser). */
void ptbm_vm_evict_for(ptbm_pool *pool, uint64_t n);

/*
 * evict.c: victims handed straight to misses (vm/recycle.c): up to n
 * victims picked and written back if dirty, victim i's page moved into
 * frames[i] (frames of latched pages being loaded, not reserved: each takes
 * over its victim's count in the budget, so resident is unchanged), the
 * victims published evicted. filled[i] says which frames got a page;
 * returns how many. A victim whose page does not move is retired as usual
 * and its frame given back to the budget.
 */
size_t ptbm_vm_evict_into(ptbm_pool *pool, void *const *frames, size_t n, bool *filled);
/* load.c: as many of n misses' frames as the budget lacks room for, given
 * their victims' pages (ptbm_vm_evict_into) when this process hands pages
 * over and has no releaser; framed[i]: frame i has its page and its count. */
size_t ptbm_vm_hand_over_for(ptbm_pool *pool, void *const *addr, size_t n, bool *framed);

/* One eviction's arrays, sized by evict_batch (up to 4096) and so on the
 * heap, not on a worker's stack (which may be small). */
struct ptbm_evict_work {
	uint64_t *victims;
	uint64_t *dirty;
	void **dirty_addr;
	int *rcs;
	struct ptbm_run *runs;
	struct ptbm_gap_latch *gaps; /* as many as victims: merging stops there */
	size_t cap;		     /* evict_batch */
};
/* Carve w's arrays for cap victims out of one allocation, returned (free
 * it), or NULL. */
void *ptbm_vm_evict_work_alloc(struct ptbm_evict_work *w, size_t cap);
/* The clock: latch up to w->cap victims exclusive into w->victims;
 * returns how many (0: everything latched or used twice round). */
size_t ptbm_vm_pick_victims(ptbm_pool *pool, struct ptbm_evict_work *w);
/* Write back the dirty ones of n picked victims, release their frames,
 * publish them evicted and give their frames back to the budget (any that
 * fails is unlatched, resident). Returns pages evicted, or the error if
 * none was. Any thread of the process may do it; it counts the work in
 * slot, its own, or with NULL in the pool's retired counters. */
int ptbm_vm_retire_victims(ptbm_pool *pool, struct ptbm_evict_work *w, size_t n,
			   struct ptbm_stat_slot *slot);

/* release.c: the background releaser (one thread per process and pool,
 * named so in /proc/PID/task/TID/comm). */
#define PTBM_RELEASER_NAME "ptbm-releaser"
/* After a frame was reserved: if fewer than a batch of frames are left,
 * hand a batch of victims to this process's releaser (nothing if one is in
 * flight, or if there is no releaser). */
void ptbm_vm_release_ahead(ptbm_pool *pool);
/* Wait for this process's batch in flight, if any; true if there was one
 * (its frames are free now). Every call that may have handed a batch over
 * ends with it: between calls a process holds no latch and has no work in
 * flight. */
bool ptbm_vm_release_wait(ptbm_pool *pool);
/* A pool with PTBM_BACKGROUND (and room for 16 batches) gets a releaser in
 * each process that opens, attaches or forks it; others get none. */
int ptbm_vm_releaser_init(ptbm_pool *pool);

/* ptbm_close, before the closing thread leaves its slot: the batch in
 * flight is retired, the thread stopped. */
void ptbm_vm_releaser_drain(ptbm_pool *pool);
void ptbm_vm_releaser_fini(ptbm_pool *pool);
void ptbm_vm_releaser_after_fork(ptbm_pool *pool);

/* recycle.c: frames recycled instead of freed (threads mode, private
 * frames, a kernel with userfaultfd moves); without them the pool keeps
 * no spares, takes none, and the callers release and populate. */
int ptbm_vm_spares_init(ptbm_pool *pool);
void ptbm_vm_spares_fini(ptbm_pool *pool);
void ptbm_vm_spares_after_fork(ptbm_pool *pool);
/* Move the pages of n latched victims' frames into spares: pids keeps the
 * ones moved (returned: how many), rest gets the others (*n_rest), for the
 * caller to release; both in pids' order. */
size_t ptbm_vm_spares_keep(ptbm_pool *pool, uint64_t *pids, size_t n, uint64_t *rest,
			   size_t *n_rest);
/* Give the reserved frame at addr a spare's page: false if there is none
 * (populate it then). */
bool ptbm_vm_spares_take(ptbm_pool *pool, void *addr);
/* Whether this process moves pages between frames (it keeps spares). */
bool ptbm_vm_hands_over(const ptbm_pool *pool);
/* Move the page of a latched victim's frame straight into the frame at dst
 * (holding no page): false if it did not move (release the victim's frame,
 * populate dst). */
bool ptbm_vm_hand_over(ptbm_pool *pool, void *dst, void *victim);
/* Spares holding a page now. */
uint64_t ptbm_vm_spares_held(ptbm_pool *pool);
/* Move calls this process made (for tests). */
uint64_t ptbm_vm_moves(ptbm_pool *pool);

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
