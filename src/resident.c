/*
 * resident.c - the resident set: which pages are in memory.
 *
 * The page table answers "where is page p" but not "which pages are
 * resident", and the descriptor array is as long as the virtual database
 * (a dense scan of a 1 TiB pool is out of the question). The clock therefore
 * walks this set: an open-addressing hash table of page ids sized to twice
 * the budget, lock-free. Only the holder of a page's exclusive latch inserts
 * or removes that page, so an id is never in the set twice and a remove
 * always finds its entry. Deleted entries become tombstones that inserts
 * reuse, so probe chains stay as short as the live load factor (<= 1/2)
 * makes them. A zero-filled table is empty: no initialization pass.
 */
#include "internal.h"

#include <assert.h>

#define SLOT_EMPTY   0ull
#define SLOT_DELETED 1ull

static uint64_t capacity_for(uint64_t budget_pages)
{
	uint64_t cap = 1024;
	while (cap < 2 * budget_pages)
		cap <<= 1;
	return cap;
}

uint64_t ptbm_resident_bytes(uint64_t budget_pages)
{
	return sizeof(struct ptbm_resident) + capacity_for(budget_pages) * sizeof(uint64_t);
}

void ptbm_resident_init(struct ptbm_resident *r, uint64_t budget_pages)
{
	r->mask = capacity_for(budget_pages) - 1;
}

static inline uint64_t slot_hash(uint64_t pid)
{
	pid ^= pid >> 33;
	pid *= 0xff51afd7ed558ccdull;
	pid ^= pid >> 33;
	return pid;
}

void ptbm_resident_insert(struct ptbm_resident *r, uint64_t pid)
{
	for (uint64_t i = slot_hash(pid);; i++) {
		_Atomic uint64_t *s = &r->slot[i & r->mask];
		uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
		if (v <= SLOT_DELETED && atomic_compare_exchange_strong(s, &v, pid + 2))
			return;
	}
}

void ptbm_resident_remove(struct ptbm_resident *r, uint64_t pid)
{
	for (uint64_t i = slot_hash(pid), n = 0; n <= r->mask; i++, n++) {
		_Atomic uint64_t *s = &r->slot[i & r->mask];
		uint64_t v = atomic_load_explicit(s, memory_order_relaxed);
		if (v == pid + 2) {
			atomic_store_explicit(s, SLOT_DELETED, memory_order_release);
			return;
		}
		assert(v != SLOT_EMPTY && "resident set: removing a page not in it");
	}
	assert(!"resident set: removing a page not in it");
}
