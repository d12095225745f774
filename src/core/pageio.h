/*
 * pageio.h - the data file's pages (pageio.c): reads and writes, one at a
 * time or in io_uring batches, staged reads, and what the pool knows of the
 * file from them (its length, the pages written). The header, open and
 * commit are datafile.h's.
 */
#ifndef PTBM_CORE_PAGEIO_H
#define PTBM_CORE_PAGEIO_H

#include "base.h"
#include "core/pageset.h"

#include <sys/types.h>

/* A data file open in a pool (datafile.h opens it). */
struct ptbm_range;
struct ptbm_file {
	_Atomic uint64_t *file_pages; /* pages the file is known to hold (shared) */
	struct ptbm_pageset *written; /* pages written at least once (shared) */
	struct ptbm_range *pending;   /* from the header, until bound to written */
	uint32_t n_pending;
	int fd;
	int direct; /* opened with O_DIRECT */
	uint32_t page_size;
};

/* pread/pwrite of exactly n bytes at off, through the fault seam: 0,
 * PTBM_EIO_SHORT at the end of the file, or -errno; *done_out (if not NULL)
 * gets the bytes transferred. */
int ptbm_io_xfer(int fd, void *buf, size_t n, off_t off, bool write, size_t *done_out);

/* Read page pid into dst (page_size bytes, page aligned) and verify it. */
int ptbm_file_read_page(struct ptbm_file *f, uint64_t pid, void *dst);
/* Seal (checksum) and write n pages; returns 0 or the first error. */
int ptbm_file_write_pages(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n);
/*
 * Batches, in io_uring submissions where available: read and verify n
 * pages, or seal and write n pages. rcs[i] gets each page's result (0 or a
 * negative error), whatever becomes of the ring; returns 0 or the first
 * page's error (a summary of rcs, nothing more).
 */
int ptbm_file_read_batch(struct ptbm_file *f, const uint64_t *pids, void *const *dst, size_t n,
			 int *rcs);
int ptbm_file_write_batch(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n,
			  int *rcs);
/*
 * Staged reads: up to ptbm_file_stage_slots() pages read into the calling
 * thread's staging buffers (memory that stays mapped), so that the caller
 * can prepare the pages' frames while the disk works. _start submits the
 * reads and returns at once; _finish waits for them, verifies each page in
 * its staging buffer and copies it into dst[i] (dst[i] NULL: discard it).
 * rcs[i] gets each page's result; _finish returns 0 or the first error.
 * Every _start is followed by a _finish on the same thread.
 */
#define PTBM_STAGE_MAX 64
struct ptbm_staged {
	const uint64_t *pids;
	size_t n;
	char *buf;		 /* n slots of page_size bytes */
	int how[PTBM_STAGE_MAX]; /* 0 in flight, 1 read at finish, 2 delivered,
				    < 0 injected error */
	size_t queued;
	uint64_t known; /* pages the file was known to hold before the reads */
};
size_t ptbm_file_stage_slots(const struct ptbm_file *f);
void ptbm_file_read_start(struct ptbm_file *f, const uint64_t *pids, size_t n,
			  struct ptbm_staged *st);
int ptbm_file_read_finish(struct ptbm_file *f, struct ptbm_staged *st, void *const *dst, int *rcs);
/* In a forked child: forget the parent's per-thread io_uring. */
void ptbm_io_after_fork(void);

/* ptbm_page_verify, with what f knows of the page's writes. */
int ptbm_file_verify(struct ptbm_file *f, const void *page, uint64_t pid);
/* The file holds a written copy of page pid (the mmap engine's own writes). */
void ptbm_file_note_written(struct ptbm_file *f, uint64_t pid);
/* The file is now at least pid + 1 pages long. */
void ptbm_file_note_length(struct ptbm_file *f, uint64_t pid);

#endif /* PTBM_CORE_PAGEIO_H */
