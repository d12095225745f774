/*
 * datafile.h - the data file as a whole (datafile.c): a header page, then
 * page p at (p + 1) * page_size; opening, locking, trimming, committing.
 * Its pages are read and written through pageio.h.
 */
#ifndef PTBM_CORE_DATAFILE_H
#define PTBM_CORE_DATAFILE_H

#include "base.h"
#include "core/pageio.h"

/*
 * The header block at offset 0: this struct, then n_written ranges of pages
 * written at least once (struct ptbm_range, sorted, disjoint), then zeros.
 * The checksum covers the bytes above it, and the ranges when there are any
 * (ptbm_file_header_sum).
 */
#define PTBM_FILE_MAGIC "PTBMDATA"
struct ptbm_file_header {
	char magic[8];
	uint32_t layout_version;
	uint32_t page_size;
	uint64_t n_pages;
	uint32_t n_written;    /* ranges that follow the header */
	uint32_t written_lost; /* 1: more ranges than fit; the shortest were left out */
	uint64_t checksum;     /* XXH3-64 */
};
struct ptbm_range {
	uint64_t first, end; /* pages [first, end) */
};
#define PTBM_HEADER_RANGES_AT 64 /* byte offset of the ranges in the block */
/* Ranges that fit in the header block of a file of that page size. */
static inline uint32_t ptbm_header_ranges(uint32_t page_size)
{
	return (page_size - PTBM_HEADER_RANGES_AT) / sizeof(struct ptbm_range);
}
uint64_t ptbm_file_header_sum(const struct ptbm_file_header *h, const struct ptbm_range *ranges);

/*
 * Open (or create, or empty: PTBM_CREATE, PTBM_TRUNCATE in flags) the data
 * file and lock it for this pool: PTBM_EINUSE if another pool has it open.
 * PTBM_FILE_ATTACH: an attacher of the pool that holds it.
 */
#define PTBM_FILE_ATTACH 0x80000000u
int ptbm_file_open(struct ptbm_file *f, const char *path, uint32_t page_size, uint32_t flags,
		   enum ptbm_direct direct, uint64_t *n_pages);
void ptbm_file_close(struct ptbm_file *f);
/* Extend the file to n_pages, record n_pages in the header, fdatasync. */
int ptbm_file_commit(struct ptbm_file *f, uint64_t n_pages);
/*
 * Cut the file to n_pages, its header's count: pages past it were written
 * back by a pool that closed or died before a flush committed them, and a
 * page allocated again must read as zeros. The creator calls it at open.
 */
int ptbm_file_trim(struct ptbm_file *f, uint64_t n_pages);
/* The written set lives in the pool's region: bind it (the creator also fills
 * it from the header's ranges), once the region is there. */
void ptbm_file_bind_written(struct ptbm_file *f, struct ptbm_pageset *set, bool creator);

#endif /* PTBM_CORE_DATAFILE_H */
