/*
 * pageset.c - page sets: the vm engine's resident set (which pages are in
 * memory, in page order), and, in the same form, the data file's written
 * set (which pages the file holds a written copy of, pageio.c).
 *
 * The page table answers "where is page p" but not "which pages are
 * resident", and the clock needs the latter. The set is a bitmap with one
 * bit per page id and a summary with one bit per bitmap word, both in the
 * shared region (zero-filled: empty, no initialization pass; a 1 TiB pool of
 * 8 KiB pages reserves 16 MiB + 256 KiB and touches only the words of pages
 * that were ever resident):
 *
 *   summary:  [ 1 bit per 64 pages ] ...
 *   bits:     [ 1 bit per page     ] ...
 *
 * Walking it yields resident pages in ascending id order, so the victims one
 * clock step collects are neighbours in the address space, and the frames of
 * neighbours can be released with one call per run (vm/evict.c), which is
 * what makes eviction affordable in a shared mapping (a hole punch costs a
 * few microseconds per call, whatever its length).
 *
 * Only the holder of a page's exclusive latch sets or clears its bit, so a
 * page is never in the set twice. A summary bit is set after its word gets
 * a bit and cleared only by a walker that then re-reads the word and sets it
 * again if a bit appeared meanwhile, so a word with a bit always ends with
 * its summary bit set.
 */
#include "core/pageset.h"

#define WORD_BITS 64

static inline _Atomic uint64_t *summary(struct ptbm_pageset *r)
{
	return r->bits + r->n_words;
}

static uint64_t words_for(uint64_t max_pages)
{
	return (max_pages + WORD_BITS - 1) / WORD_BITS;
}

uint64_t ptbm_pageset_bytes(uint64_t max_pages)
{
	uint64_t w = words_for(max_pages);
	return sizeof(struct ptbm_pageset) + (w + words_for(w)) * sizeof(uint64_t);
}

void ptbm_pageset_init(struct ptbm_pageset *r, uint64_t max_pages)
{
	r->n_words = words_for(max_pages);
}

void ptbm_pageset_insert(struct ptbm_pageset *r, uint64_t pid)
{
	uint64_t w = pid / WORD_BITS;
	atomic_fetch_or(&r->bits[w], 1ull << (pid % WORD_BITS));
	_Atomic uint64_t *s = &summary(r)[w / WORD_BITS];
	uint64_t sbit = 1ull << (w % WORD_BITS);
	if (!(atomic_load_explicit(s, memory_order_relaxed) & sbit))
		atomic_fetch_or(s, sbit);
}

bool ptbm_pageset_has(struct ptbm_pageset *r, uint64_t pid)
{
	return atomic_load_explicit(&r->bits[pid / WORD_BITS], memory_order_acquire) &
	       (1ull << (pid % WORD_BITS));
}

/* The bits of [first, end) in first's word; *first moves past them. */
static uint64_t word_mask(uint64_t *first, uint64_t end)
{
	uint64_t lo = *first % WORD_BITS;
	uint64_t n = end - *first < WORD_BITS - lo ? end - *first : WORD_BITS - lo;
	*first += n;
	return (n == WORD_BITS ? ~0ull : ((1ull << n) - 1)) << lo;
}

bool ptbm_pageset_all(struct ptbm_pageset *r, uint64_t first, uint64_t end)
{
	while (first < end) {
		uint64_t w = first / WORD_BITS, mask = word_mask(&first, end);
		if ((atomic_load_explicit(&r->bits[w], memory_order_relaxed) & mask) != mask)
			return false;
	}
	return true;
}

void ptbm_pageset_insert_range(struct ptbm_pageset *r, uint64_t first, uint64_t end)
{
	while (first < end) {
		uint64_t w = first / WORD_BITS, mask = word_mask(&first, end);
		atomic_fetch_or(&r->bits[w], mask);
		atomic_fetch_or(&summary(r)[w / WORD_BITS], 1ull << (w % WORD_BITS));
	}
}

uint64_t ptbm_pageset_next_clear(struct ptbm_pageset *r, uint64_t from, uint64_t limit)
{
	while (from < limit) {
		uint64_t w = from / WORD_BITS;
		uint64_t clear = ~atomic_load_explicit(&r->bits[w], memory_order_acquire);
		clear &= ~0ull << (from % WORD_BITS);
		if (clear) {
			uint64_t pid = w * WORD_BITS + (uint64_t)__builtin_ctzll(clear);
			return pid < limit ? pid : limit;
		}
		from = (w + 1) * WORD_BITS;
	}
	return limit;
}

void ptbm_pageset_remove(struct ptbm_pageset *r, uint64_t pid)
{
	atomic_fetch_and(&r->bits[pid / WORD_BITS], ~(1ull << (pid % WORD_BITS)));
}

uint64_t ptbm_pageset_next(struct ptbm_pageset *r, uint64_t from, uint64_t limit)
{
	uint64_t end = r->n_words * WORD_BITS;
	if (limit > end)
		limit = end;
	while (from < limit) {
		uint64_t w = from / WORD_BITS;
		_Atomic uint64_t *s = &summary(r)[w / WORD_BITS];
		uint64_t sum = atomic_load_explicit(s, memory_order_relaxed) >> (w % WORD_BITS);
		if (!sum) { /* no page in the rest of this group of 64 words */
			from = (w / WORD_BITS + 1) * WORD_BITS * WORD_BITS;
			continue;
		}
		if (!(sum & 1)) { /* jump to the next word that has pages */
			from = (w + (uint64_t)__builtin_ctzll(sum)) * WORD_BITS;
			continue;
		}
		uint64_t bits = atomic_load_explicit(&r->bits[w], memory_order_acquire);
		bits &= ~0ull << (from % WORD_BITS);
		if (bits) {
			uint64_t pid = w * WORD_BITS + (uint64_t)__builtin_ctzll(bits);
			return pid < limit ? pid : UINT64_MAX;
		}
		if (from % WORD_BITS == 0) {
			/* an empty word: clear its summary bit, unless it filled again */
			uint64_t sbit = 1ull << (w % WORD_BITS);
			atomic_fetch_and(s, ~sbit);
			if (atomic_load(&r->bits[w]))
				atomic_fetch_or(s, sbit);
		}
		from = (w + 1) * WORD_BITS;
	}
	return UINT64_MAX;
}
