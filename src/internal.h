/*
 * internal.h - every layer's header at once, for code that reaches inside
 * the library (the tests). The library's own files include only the
 * headers of what they use; src/README.md, "Files", says what each holds.
 */
#ifndef PTBM_INTERNAL_H
#define PTBM_INTERNAL_H

#include "base.h"
#include "core/backoff.h"
#include "core/checksum.h"
#include "core/datafile.h"
#include "core/fault.h"
#include "core/pageio.h"
#include "core/pageset.h"
#include "core/proc.h"
#include "core/region.h"
#include "pool/pool.h"
#include "registry/slot.h"
#include "registry/stats.h"
#include "registry/threads.h"

/* ---------------------------------------------------------------------
 * The page state word (one per page, in the shared descriptor array)
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
 *      page table maps the current frame (processes mode, engine_vm.c).
 * version: bumped by every exclusive unlock and every eviction; optimistic
 *      readers validate against it.
 * ------------------------------------------------------------------- */
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

/* Waiting for a latch: ptbm_backoff, and after a while of waiting a look
 * for processes that died holding latches: PTBM_EOWNERDEAD if one did (the
 * pool is then broken for every waiter), else 0. */
int ptbm_wait(ptbm_pool *pool, unsigned *spins);
/* PTBM_EOWNERDEAD if a process died holding latches. */
int ptbm_check_owners(ptbm_pool *pool);

#endif /* PTBM_INTERNAL_H */
