/*
 * pageset.h - a set of page ids walked in page order (pageset.c): the vm
 * engine's resident set and the data file's written set.
 */
#ifndef PTBM_CORE_PAGESET_H
#define PTBM_CORE_PAGESET_H

#include "base.h"

struct ptbm_pageset {
	uint64_t n_words;	 /* words of the bitmap */
	_Atomic uint64_t bits[]; /* n_words of bitmap, then its summary */
};
/* Bytes of a set of max_pages ids (zero-filled memory is an empty set). */
uint64_t ptbm_pageset_bytes(uint64_t max_pages);
void ptbm_pageset_init(struct ptbm_pageset *r, uint64_t max_pages);
void ptbm_pageset_insert(struct ptbm_pageset *r, uint64_t pid);
void ptbm_pageset_remove(struct ptbm_pageset *r, uint64_t pid);
/* The first page of the set in [from, limit), or UINT64_MAX. */
uint64_t ptbm_pageset_next(struct ptbm_pageset *r, uint64_t from, uint64_t limit);
bool ptbm_pageset_has(struct ptbm_pageset *r, uint64_t pid);
/* Are all of pages [first, end) in the set? */
bool ptbm_pageset_all(struct ptbm_pageset *r, uint64_t first, uint64_t end);
void ptbm_pageset_insert_range(struct ptbm_pageset *r, uint64_t first, uint64_t end);
/* The first page in [from, limit) not in the set, or limit. */
uint64_t ptbm_pageset_next_clear(struct ptbm_pageset *r, uint64_t from, uint64_t limit);

#endif /* PTBM_CORE_PAGESET_H */
