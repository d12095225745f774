/*
 * datafile.c - the data file as a whole: its header, creating and opening
 * it, the lock that gives it to one pool, trimming, and the commit that
 * makes a flush durable. Page reads and writes are pageio.c's.
 *
 * Layout: one header block of page_size bytes, then page p at byte
 * (p + 1) * page_size. The header records the layout version, the page size,
 * n_pages (the number of pages allocated at the last commit) and the ranges
 * of pages written at least once, with a checksum of its own:
 *
 *   offset 0          page_size        2*page_size
 *   [ header         | page 0         | page 1        | ...
 *
 * Written pages: a page allocated and never written is a hole and reads as
 * zeros; a page written once carries a trailer from then on, so an all-zero
 * copy of it means it was zeroed on disk. The pool keeps the set of pages
 * written (a page set in its region, set after each write completes,
 * pageio.c; the mmap engine sets it when it seals a page) and each commit
 * stores it in the header as up to ptbm_header_ranges() ranges, the
 * shortest left out if there are more; the creator loads them back at open.
 *
 * Creation: a missing file is created only with PTBM_CREATE, unnamed
 * (O_TMPFILE) and linked to its path once its header is durable, so a file
 * at the path always has a header: an empty one was emptied by someone, and
 * opening it is PTBM_ETRUNCATED, not a new pool (only PTBM_TRUNCATE starts
 * a file over).
 *
 * Commit order (ptbm_file_commit): pages are written, the file is extended
 * to hold n_pages, fdatasync, then the header, then fdatasync. A crash
 * between the two leaves the old header, which describes a prefix of the
 * file: nothing it promises is missing.
 *
 * Entry points: ptbm_file_open, ptbm_file_close, ptbm_file_bind_written,
 * ptbm_file_trim, ptbm_file_commit, ptbm_file_header_sum.
 */
#include "core/datafile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

uint64_t ptbm_file_header_sum(const struct ptbm_file_header *h, const struct ptbm_range *ranges)
{
	uint64_t sum = XXH3_64bits(h, offsetof(struct ptbm_file_header, checksum));
	if (h->n_written)
		sum = XXH3_64bits_withSeed(ranges, h->n_written * sizeof *ranges, sum);
	return sum;
}

/*
 * The written pages of [0, n_pages) as up to cap ranges, in page order,
 * into out; if there are more, the shortest are left out (*lost = 1): a page
 * left out of the header reads as zeros after a reopen if its copy on disk
 * is zeroed, but no page that was never written is ever said written.
 */
static uint32_t written_ranges(struct ptbm_file *f, uint64_t n_pages, struct ptbm_range *out,
			       uint32_t cap, uint32_t *lost)
{
	uint32_t n = 0;
	*lost = 0;
	if (!f->written)
		return 0;
	uint64_t p = ptbm_pageset_next(f->written, 0, n_pages);
	while (p < n_pages) {
		struct ptbm_range r = {p, ptbm_pageset_next_clear(f->written, p, n_pages)};
		if (n < cap) {
			out[n++] = r;
		} else {
			*lost = 1;
			uint32_t k = 0;
			for (uint32_t i = 1; i < n; i++)
				if (out[i].end - out[i].first < out[k].end - out[k].first)
					k = i;
			if (out[k].end - out[k].first < r.end - r.first) {
				memmove(&out[k], &out[k + 1], (n - k - 1) * sizeof *out);
				out[n - 1] = r;
			}
		}
		p = r.end < n_pages ? ptbm_pageset_next(f->written, r.end, n_pages) : UINT64_MAX;
	}
	return n;
}

/* A header block for n_pages with the ranges written so far; NULL: no memory. */
static void *header_block(struct ptbm_file *f, uint64_t n_pages)
{
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, f->page_size))
		return NULL;
	memset(buf, 0, f->page_size);
	struct ptbm_file_header *h = buf;
	struct ptbm_range *ranges = (struct ptbm_range *)((char *)buf + PTBM_HEADER_RANGES_AT);
	memcpy(h->magic, PTBM_FILE_MAGIC, 8);
	h->layout_version = PTBM_LAYOUT_VERSION;
	h->page_size = f->page_size;
	h->n_pages = n_pages;
	h->n_written =
	    written_ranges(f, n_pages, ranges, ptbm_header_ranges(f->page_size), &h->written_lost);
	h->checksum = ptbm_file_header_sum(h, ranges);
	return buf;
}

static int block_write(struct ptbm_file *f, void *buf)
{
	int rc = ptbm_io_xfer(f->fd, buf, f->page_size, 0, true, NULL);
	free(buf);
	return rc;
}

static int header_write(struct ptbm_file *f, uint64_t n_pages)
{
	void *buf = header_block(f, n_pages);
	return buf ? block_write(f, buf) : -ENOMEM;
}

/* The header's checksum, as layout version 1 computed it (no ranges). */
static bool v1_header(const void *block)
{
	const unsigned char *b = block;
	uint32_t version;
	uint64_t sum;
	memcpy(&version, b + 8, 4);
	memcpy(&sum, b + 24, 8);
	return version == 1 && sum == XXH3_64bits(b, 24);
}

/* Check the header block and keep its ranges for ptbm_file_bind_written. */
static int header_read(struct ptbm_file *f, const void *block, size_t got, uint64_t *n_pages)
{
	struct ptbm_file_header h;
	memcpy(&h, block, sizeof h);
	const struct ptbm_range *ranges =
	    (const struct ptbm_range *)((const char *)block + PTBM_HEADER_RANGES_AT);
	if (got < sizeof h || memcmp(h.magic, PTBM_FILE_MAGIC, 8) != 0)
		return PTBM_EBADFILE;
	if (v1_header(block))
		return PTBM_ELAYOUT; /* an older ptbm's file */
	if (h.n_written > ptbm_header_ranges((uint32_t)got) ||
	    h.checksum != ptbm_file_header_sum(&h, ranges))
		return PTBM_EBADFILE;
	if (h.layout_version != PTBM_LAYOUT_VERSION || h.page_size != f->page_size)
		return PTBM_ELAYOUT;
	for (uint32_t i = 0; i < h.n_written; i++)
		if (ranges[i].first >= ranges[i].end || ranges[i].end > h.n_pages ||
		    (i && ranges[i].first <= ranges[i - 1].end))
			return PTBM_EBADFILE;
	free(f->pending);
	f->pending = NULL;
	f->n_pending = h.n_written;
	if (h.n_written) {
		f->pending = malloc(h.n_written * sizeof *ranges);
		if (!f->pending)
			return -ENOMEM;
		memcpy(f->pending, ranges, h.n_written * sizeof *ranges);
	}
	*n_pages = h.n_pages;
	return 0;
}

static int open_fd(const char *path, int oflags, bool direct)
{
	int fd = open(path, oflags | (direct ? O_DIRECT : 0), 0644);
	return fd < 0 ? -errno : fd;
}

/* Write a fresh header (no pages) to fd and make it durable. */
static int fresh_header(int fd, uint32_t page_size)
{
	struct ptbm_file tmp = {.fd = fd, .page_size = page_size};
	int rc = header_write(&tmp, 0);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	return rc;
}

/* Make the directory entry of a new file durable. */
static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

/*
 * Create the missing file path holding a header and no pages. The file is
 * written unnamed (O_TMPFILE) and linked to path once its header is
 * durable, so that no one, even after a crash, ever finds path empty.
 * Where the filesystem has no O_TMPFILE, path is created (O_EXCL) and
 * written in place. -EEXIST if someone else created path meanwhile.
 */
static int create_file(const char *path, uint32_t page_size)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof dir, ".");
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if (fd >= 0) {
		int rc = fresh_header(fd, page_size);
		char proc[64];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		if (rc == 0 && linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
			rc = -errno;
		close(fd);
		if (rc == 0)
			sync_dir(dir);
		if (rc != -ENOENT)
			return rc; /* else no /proc to link through: create in place */
	}
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = fresh_header(fd, page_size);
	close(fd);
	if (rc < 0)
		unlink(path);
	else
		sync_dir(dir);
	return rc;
}

/*
 * One pool per data file: an open file description lock (which the kernel
 * drops when the last descriptor of the description closes, at death too,
 * and which forked children share) on byte 0. The opener takes it
 * exclusive, which fails while anyone holds it, then turns it shared;
 * attachers of the same pool take it shared. Where the filesystem has no
 * such locks, nothing is locked.
 */
static int lock_file(int fd, bool attach)
{
	struct flock l = {.l_type = attach ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
	/*
	 * A process killed with reads or writes in flight lets go of the file
	 * only once the kernel has torn its io_uring down, a little after it
	 * is reaped: a pool reopened right after its workers were killed (a
	 * crash restart) waits for that, up to a second.
	 */
	for (int tries = 0; fcntl(fd, F_OFD_SETLK, &l) < 0; tries++) {
		if (errno != EAGAIN && errno != EACCES)
			return errno == EINVAL || errno == ENOLCK ? 0 : -errno;
		if (tries == 100)
			return PTBM_EINUSE;
		usleep(10000);
	}
	if (attach)
		return 0;
	l.l_type = F_RDLCK; /* from now on attachers may join */
	return fcntl(fd, F_OFD_SETLK, &l) < 0 ? -errno : 0;
}

int ptbm_file_open(struct ptbm_file *f, const char *path, uint32_t page_size, uint32_t flags,
		   enum ptbm_direct direct, uint64_t *n_pages)
{
	int oflags = O_RDWR | O_CLOEXEC;
	f->fd = -1;
	f->page_size = page_size;
	int fd = -ENOENT;
	for (int attempt = 0; attempt < 8; attempt++) {
		f->direct = direct != PTBM_DIRECT_OFF;
		fd = open_fd(path, oflags, f->direct);
		if (fd == -EINVAL && direct == PTBM_DIRECT_AUTO) {
			f->direct = 0; /* the filesystem refuses O_DIRECT: buffered */
			fd = open_fd(path, oflags, false);
		} else if (fd == -EINVAL && direct == PTBM_DIRECT_ON) {
			return PTBM_ENOSUPPORT; /* the filesystem refuses O_DIRECT */
		}
		if (fd != -ENOENT || !(flags & PTBM_CREATE))
			break;
		/* missing, and the caller asks for it: only now may a pool start empty */
		int rc = create_file(path, page_size);
		if (rc < 0 && rc != -EEXIST)
			return rc;
	}
	if (fd < 0)
		return fd;
	f->fd = fd;

	struct stat st;
	if (fstat(fd, &st) < 0) {
		int err = -errno;
		ptbm_file_close(f);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		ptbm_file_close(f);
		return PTBM_EBADFILE;
	}
	int rc = lock_file(fd, flags & PTBM_FILE_ATTACH);
	if (rc < 0) {
		ptbm_file_close(f);
		return rc;
	}
	if (flags & PTBM_TRUNCATE) {
		/* start over: no pages, a fresh header */
		rc = ftruncate(fd, 0) < 0 ? -errno : fresh_header(fd, page_size);
		if (rc < 0) {
			ptbm_file_close(f);
			return rc;
		}
		*n_pages = 0;
		return 0;
	}
	if (st.st_size == 0) {
		/* it had a header once (ptbm never leaves a file empty): emptied */
		ptbm_file_close(f);
		return PTBM_ETRUNCATED;
	}

	void *buf = NULL;
	if (posix_memalign(&buf, 4096, page_size)) {
		ptbm_file_close(f);
		return -ENOMEM;
	}
	memset(buf, 0, page_size);
	size_t got = 0;
	uint64_t n = 0;
	rc = ptbm_io_xfer(fd, buf, page_size, 0, false, &got);
	if (rc == 0 || rc == PTBM_EIO_SHORT)
		rc = header_read(f, buf, got, &n);
	free(buf);
	if (rc < 0)
		goto fail;
	if (n >= UINT64_MAX / page_size || /* its size in bytes would overflow */
	    (uint64_t)st.st_size < (n + 1) * (uint64_t)page_size) {
		rc = PTBM_ETRUNCATED;
		goto fail;
	}
	*n_pages = n;
	return 0;
fail:
	ptbm_file_close(f);
	return rc;
}

void ptbm_file_close(struct ptbm_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->pending);
	f->pending = NULL;
	f->n_pending = 0;
}

void ptbm_file_bind_written(struct ptbm_file *f, struct ptbm_pageset *set, bool creator)
{
	f->written = set;
	for (uint32_t i = 0; creator && i < f->n_pending; i++)
		ptbm_pageset_insert_range(set, f->pending[i].first, f->pending[i].end);
	free(f->pending);
	f->pending = NULL;
	f->n_pending = 0;
}

int ptbm_file_trim(struct ptbm_file *f, uint64_t n_pages)
{
	struct stat st;
	uint64_t need = (n_pages + 1) * (uint64_t)f->page_size;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > need && ftruncate(f->fd, (off_t)need) < 0)
		return -errno;
	return 0;
}

int ptbm_file_commit(struct ptbm_file *f, uint64_t n_pages)
{
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	uint64_t need = (n_pages + 1) * (uint64_t)f->page_size;
	if ((uint64_t)st.st_size < need && ftruncate(f->fd, (off_t)need) < 0)
		return -errno;
	if (n_pages)
		ptbm_file_note_length(f, n_pages - 1);
	/* the ranges are taken before the sync, so every page they name is
	 * durable before the header that names it */
	void *block = header_block(f, n_pages);
	if (!block)
		return -ENOMEM;
	if (fdatasync(f->fd) < 0) {
		free(block);
		return -errno;
	}
	int rc = block_write(f, block);
	if (rc < 0)
		return rc;
	if (fdatasync(f->fd) < 0)
		return -errno;
	return 0;
}
