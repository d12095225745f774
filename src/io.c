/*
 * io.c - the data file.
 *
 * Layout: one header block of page_size bytes, then page p at byte
 * (p + 1) * page_size. The header records the layout version, the page size
 * and n_pages, the number of pages allocated at the last commit, with a
 * checksum of its own:
 *
 *   offset 0          page_size        2*page_size
 *   [ header         | page 0         | page 1        | ...
 *
 * Pages are read with pread straight into their frame and written with
 * pwrite straight from it; with O_DIRECT (the default where the filesystem
 * takes it) the page cache does not hold a second copy. Every page written
 * is sealed with its checksum trailer first (checksum.c) and verified when
 * read, so a torn or corrupted page is reported, never returned.
 *
 * Commit order (ptbm_file_commit): pages are written, the file is extended
 * to hold n_pages, fdatasync, then the header, then fdatasync. A crash
 * between the two leaves the old header, which describes a prefix of the
 * file: nothing it promises is missing.
 *
 * Entry points: ptbm_file_open, ptbm_file_read_page, ptbm_file_write_pages,
 * ptbm_file_commit, ptbm_file_close; ptbm_fault_inject_* for tests.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define FILE_MAGIC "PTBMDATA"

struct file_header {
	char magic[8];
	uint32_t layout_version;
	uint32_t page_size;
	uint64_t n_pages;
	uint64_t checksum; /* XXH3-64 of the bytes above */
};

/* ---- fault injection seam ------------------------------------------- */

struct fault_plan {
	_Atomic int kind;
	_Atomic long after;
};
static struct fault_plan read_plan, write_plan;

void ptbm_fault_inject_read(enum ptbm_fault f, long after)
{
	atomic_store(&read_plan.after, after);
	atomic_store(&read_plan.kind, f);
}

void ptbm_fault_inject_write(enum ptbm_fault f, long after)
{
	atomic_store(&write_plan.after, after);
	atomic_store(&write_plan.kind, f);
}

/* Returns the fault to apply to this call, disarming the plan. */
static enum ptbm_fault fault_take(struct fault_plan *p)
{
#ifdef PTBM_FAULT_INJECTION
	if (PTBM_LIKELY(atomic_load_explicit(&p->kind, memory_order_relaxed) == PTBM_FAULT_NONE))
		return PTBM_FAULT_NONE;
	if (atomic_fetch_sub(&p->after, 1) > 0)
		return PTBM_FAULT_NONE;
	return (enum ptbm_fault)atomic_exchange(&p->kind, PTBM_FAULT_NONE);
#else
	(void)p;
	return PTBM_FAULT_NONE;
#endif
}

/* pread/pwrite of exactly n bytes; 0, PTBM_EIO_SHORT at EOF, or -errno. */
static int xfer(int fd, void *buf, size_t n, off_t off, bool write, size_t *done_out)
{
	size_t done = 0;
	enum ptbm_fault f = fault_take(write ? &write_plan : &read_plan);
	if (f == PTBM_FAULT_EIO)
		return -EIO;
	if (f == PTBM_FAULT_ENOSPC)
		return -ENOSPC;
	if (f == PTBM_FAULT_SHORT)
		n /= 2;
	while (done < n) {
		ssize_t r = write ? pwrite(fd, (char *)buf + done, n - done, off + (off_t)done)
				  : pread(fd, (char *)buf + done, n - done, off + (off_t)done);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	if (done_out)
		*done_out = done;
	if (f == PTBM_FAULT_SHORT)
		return PTBM_EIO_SHORT;
	return done == n ? 0 : PTBM_EIO_SHORT;
}

static void header_fill(struct file_header *h, uint32_t page_size, uint64_t n_pages)
{
	memset(h, 0, sizeof *h);
	memcpy(h->magic, FILE_MAGIC, 8);
	h->layout_version = PTBM_LAYOUT_VERSION;
	h->page_size = page_size;
	h->n_pages = n_pages;
	h->checksum = XXH3_64bits(h, offsetof(struct file_header, checksum));
}

static int header_write(struct ptbm_file *f, uint64_t n_pages)
{
	void *buf = NULL;
	if (posix_memalign(&buf, 4096, f->page_size))
		return -ENOMEM;
	memset(buf, 0, f->page_size);
	header_fill(buf, f->page_size, n_pages);
	int rc = xfer(f->fd, buf, f->page_size, 0, true, NULL);
	free(buf);
	return rc;
}

static int open_fd(const char *path, int oflags, bool direct)
{
	int fd = open(path, oflags | (direct ? O_DIRECT : 0), 0644);
	return fd < 0 ? -errno : fd;
}

int ptbm_file_open(struct ptbm_file *f, const char *path, uint32_t page_size, uint32_t flags,
		   enum ptbm_direct direct, uint64_t *n_pages)
{
	int oflags = O_RDWR | O_CLOEXEC;
	if (flags & PTBM_CREATE)
		oflags |= O_CREAT;
	if (flags & PTBM_TRUNCATE)
		oflags |= O_TRUNC;
	f->fd = -1;
	f->page_size = page_size;
	f->direct = direct != PTBM_DIRECT_OFF;
	int fd = open_fd(path, oflags, f->direct);
	if (fd == -EINVAL && direct == PTBM_DIRECT_AUTO) {
		f->direct = 0; /* the filesystem refuses O_DIRECT: buffered */
		fd = open_fd(path, oflags, false);
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
	if (st.st_size == 0) {
		/* a new file: write its header now */
		int rc = header_write(f, 0);
		if (rc == 0 && fdatasync(fd) < 0)
			rc = -errno;
		if (rc < 0) {
			ptbm_file_close(f);
			return rc;
		}
		*n_pages = 0;
		return 0;
	}

	void *buf = NULL;
	if (posix_memalign(&buf, 4096, page_size)) {
		ptbm_file_close(f);
		return -ENOMEM;
	}
	memset(buf, 0, page_size);
	size_t got = 0;
	int rc = xfer(fd, buf, page_size, 0, false, &got);
	struct file_header h;
	memcpy(&h, buf, sizeof h);
	free(buf);
	if (rc < 0 && rc != PTBM_EIO_SHORT)
		goto fail;
	if (got < sizeof h || memcmp(h.magic, FILE_MAGIC, 8) != 0) {
		rc = PTBM_EBADFILE;
		goto fail;
	}
	if (h.checksum != XXH3_64bits(&h, offsetof(struct file_header, checksum))) {
		rc = PTBM_EBADFILE;
		goto fail;
	}
	if (h.layout_version != PTBM_LAYOUT_VERSION || h.page_size != page_size) {
		rc = PTBM_ELAYOUT;
		goto fail;
	}
	if ((uint64_t)st.st_size < (h.n_pages + 1) * (uint64_t)page_size) {
		rc = PTBM_ETRUNCATED;
		goto fail;
	}
	*n_pages = h.n_pages;
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
}

int ptbm_file_read_page(struct ptbm_file *f, uint64_t pid, void *dst)
{
	size_t got = 0;
	int rc = xfer(f->fd, dst, f->page_size, (off_t)((pid + 1) * f->page_size), false, &got);
	if (rc == PTBM_EIO_SHORT && got == 0) {
		/* beyond the end of the file: a page never written */
		memset(dst, 0, f->page_size);
		return 0;
	}
	if (rc < 0)
		return rc;
	return ptbm_page_verify(dst, f->page_size, pid);
}

int ptbm_file_write_pages(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ptbm_page_seal(pages[i], f->page_size, pids[i]);
		int rc = xfer(f->fd, pages[i], f->page_size, (off_t)((pids[i] + 1) * f->page_size),
			      true, NULL);
		if (rc < 0)
			return rc;
	}
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
	if (fdatasync(f->fd) < 0)
		return -errno;
	int rc = header_write(f, n_pages);
	if (rc < 0)
		return rc;
	if (fdatasync(f->fd) < 0)
		return -errno;
	return 0;
}
