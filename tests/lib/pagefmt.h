/*
 * pagefmt.h - stamped pages for the stress and kill tests: every page holds
 * its id, a version and a checksum of the rest, so a reader can tell a whole
 * page of a given version from a torn one.
 */
#ifndef PTBM_TESTS_PAGEFMT_H
#define PTBM_TESTS_PAGEFMT_H

#include <stddef.h>
#include <stdint.h>

struct page_head {
	uint64_t pid;
	uint64_t version;
	uint64_t sum; /* XXH3 of the body */
};

/* Write version `version` of page pid into p (usable bytes). */
void pagefmt_fill(void *p, size_t usable, uint64_t pid, uint64_t version);
/* 0 if p is a whole stamped page of pid (its version in *version), else 1.
 * An all-zero page (never written) is whole with version 0. */
int pagefmt_check(const void *p, size_t usable, uint64_t pid, uint64_t *version);

#endif
