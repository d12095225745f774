/*
 * state.h - the page state word and the latch primitives on it: one 64-bit
 * word per page, in the shared descriptor array, read and changed by the
 * vm engine (hit.h and every file of vm/) and by the mmap baseline, which
 * latches with the same word. Everything here is static inline: the hit
 * path is made of these.
 *
 *   63........56 55  54......48 47..........................0
 *   [   tag    ][D][   gen    ][          version           ]
 *
 * tag: 0 evicted, 1 unlocked, 2..253 shared (tag - 1 holders), 254
 *      exclusive, 255 marked (the clock's second chance). A marked page is
 *      unlocked for every purpose; any latch clears the mark. An all-zero
 *      word is an evicted page never loaded, so a fresh descriptor array
 *      needs no initialization (a 1 TiB pool touches none of it).
 * D:   dirty: set under the exclusive latch, cleared by write-back.
 * gen: residency generation 1..127, bumped each time the page is loaded; a
 *      process compares it with its private record to know whether its own
 *      page table maps the current frame (processes mode, vm/map.c).
 * version: bumped by every exclusive unlock and every eviction; optimistic
 *      readers validate against it.
 *
 * The transitions, and the function that makes each, are listed once, in
 * src/README.md ("Transitions").
 */
#ifndef PTBM_VM_STATE_H
#define PTBM_VM_STATE_H

#include "base.h"

#define PTBM_TAG_SHIFT	    56
#define PTBM_TAG_EVICTED    0ull
#define PTBM_TAG_UNLOCKED   1ull
#define PTBM_TAG_SHARED_MAX 253ull /* 252 shared holders */
#define PTBM_TAG_EXCLUSIVE  254ull
#define PTBM_TAG_MARKED	    255ull
#define PTBM_DIRTY_BIT	    (1ull << 55)
#define PTBM_GEN_SHIFT	    48
#define PTBM_GEN_MASK	    (0x7full << PTBM_GEN_SHIFT)
#define PTBM_VERSION_MASK   ((1ull << 48) - 1)
#define PTBM_LOW_MASK	    ((1ull << PTBM_TAG_SHIFT) - 1) /* D|gen|version */
#define PTBM_READER	    (1ull << PTBM_TAG_SHIFT)	   /* one shared holder */

static inline uint64_t ptbm_tag(uint64_t s)
{
	return s >> PTBM_TAG_SHIFT;
}
static inline uint64_t ptbm_version(uint64_t s)
{
	return s & PTBM_VERSION_MASK;
}
static inline unsigned ptbm_gen(uint64_t s)
{
	return (unsigned)((s & PTBM_GEN_MASK) >> PTBM_GEN_SHIFT);
}
static inline uint64_t ptbm_with_tag(uint64_t s, uint64_t tag)
{
	return (s & PTBM_LOW_MASK) | (tag << PTBM_TAG_SHIFT);
}
/* Same page, version + 1 (wraps inside its 48 bits). */
static inline uint64_t ptbm_bump_version(uint64_t s)
{
	return (s & ~PTBM_VERSION_MASK) | ((s + 1) & PTBM_VERSION_MASK);
}
/* Next residency generation: 1..127, never 0 (0 = "never mapped"). */
static inline uint64_t ptbm_bump_gen(uint64_t s)
{
	unsigned g = ptbm_gen(s) % 127 + 1;
	return (s & ~PTBM_GEN_MASK) | ((uint64_t)g << PTBM_GEN_SHIFT);
}

/* ---- taking a latch --------------------------------------------------- */

/* One CAS of a state word; on success the caller holds what it asked for. */
static inline bool ptbm_state_cas(_Atomic uint64_t *w, uint64_t *expected, uint64_t desired)
{
	return atomic_compare_exchange_weak_explicit(w, expected, desired, memory_order_acquire,
						     memory_order_relaxed);
}

/* Unlocked, or shared with room for one more: + PTBM_READER is one more. */
static inline bool ptbm_tag_shareable(uint64_t tag)
{
	return tag - 1 < PTBM_TAG_SHARED_MAX - 1;
}
/* Latched shared (by 1..252 holders). */
static inline bool ptbm_tag_shared(uint64_t tag)
{
	return tag - 2 <= PTBM_TAG_SHARED_MAX - 2;
}
/* Resident and latched by no one: unlocked, or marked by the clock. */
static inline bool ptbm_tag_idle(uint64_t tag)
{
	return tag == PTBM_TAG_UNLOCKED || tag == PTBM_TAG_MARKED;
}

/* The word with one more shared holder, in *ns, if s can take one (unlocked,
 * shared with room, or marked: the latch clears the mark). */
static inline bool ptbm_state_add_reader(uint64_t s, uint64_t *ns)
{
	uint64_t tag = ptbm_tag(s);
	if (PTBM_LIKELY(ptbm_tag_shareable(tag))) {
		*ns = s + PTBM_READER;
		return true;
	}
	if (tag == PTBM_TAG_MARKED) {
		*ns = ptbm_with_tag(s, 2);
		return true;
	}
	return false;
}

/* The word latched exclusive, in *ns, if s is idle. */
static inline bool ptbm_state_to_exclusive(uint64_t s, uint64_t *ns)
{
	if (!ptbm_tag_idle(ptbm_tag(s)))
		return false;
	*ns = ptbm_with_tag(s, PTBM_TAG_EXCLUSIVE);
	return true;
}

/*
 * Take the exclusive latch of an evicted page, a try: false if the page is
 * not evicted or someone else latched it first. *s gets the word replaced
 * (or the one that stood in the way).
 */
static inline bool ptbm_state_latch_evicted(_Atomic uint64_t *w, uint64_t *s)
{
	*s = atomic_load_explicit(w, memory_order_relaxed);
	return ptbm_tag(*s) == PTBM_TAG_EVICTED &&
	       atomic_compare_exchange_strong(w, s, ptbm_with_tag(*s, PTBM_TAG_EXCLUSIVE));
}

/* ---- letting go -------------------------------------------------------- */

/* Release one shared latch: 0, or PTBM_ENOTFIXED if the word is not latched
 * shared. */
static inline int ptbm_state_unlatch_shared(_Atomic uint64_t *w)
{
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	for (;;) {
		if (PTBM_UNLIKELY(!ptbm_tag_shared(ptbm_tag(s))))
			return PTBM_ENOTFIXED;
		if (atomic_compare_exchange_weak_explicit(
			w, &s, s - PTBM_READER, memory_order_release, memory_order_relaxed))
			return 0;
	}
}

/* Release the exclusive latch of word s: only the holder writes an exclusive
 * word, so a store is enough; unlocked, version + 1. */
static inline void ptbm_state_unlatch_exclusive(_Atomic uint64_t *w, uint64_t s)
{
	atomic_store_explicit(w, ptbm_bump_version(ptbm_with_tag(s, PTBM_TAG_UNLOCKED)),
			      memory_order_release);
}

/* Let an exclusive latch go with nothing changed: unlocked, same version
 * (an aborted victim, a page that failed its check). */
static inline void ptbm_state_unlatch_unchanged(_Atomic uint64_t *w)
{
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	atomic_store_explicit(w, ptbm_with_tag(s, PTBM_TAG_UNLOCKED), memory_order_release);
}

/* Let go of a latch just taken, with nothing changed (the caller's latch
 * count is its own business). */
static inline void ptbm_state_unlatch_undo(_Atomic uint64_t *w, bool exclusive)
{
	if (exclusive)
		ptbm_state_unlatch_unchanged(w);
	else
		ptbm_state_unlatch_shared(w);
}

/* Set D, for the holder of the exclusive latch: 0, or PTBM_ENOTFIXED. */
static inline int ptbm_state_mark_dirty(_Atomic uint64_t *w)
{
	uint64_t s = atomic_load_explicit(w, memory_order_relaxed);
	if (ptbm_tag(s) != PTBM_TAG_EXCLUSIVE)
		return PTBM_ENOTFIXED;
	if (!(s & PTBM_DIRTY_BIT))
		atomic_store_explicit(w, s | PTBM_DIRTY_BIT, memory_order_relaxed);
	return 0;
}

#endif /* PTBM_VM_STATE_H */
