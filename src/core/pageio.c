/*
 * pageio.c - reading and writing the data file's pages, and what those
 * transfers teach about the file: how long it is known to be, and which
 * pages it holds a written copy of. The file as a whole (header, open,
 * commit) is datafile.c's.
 *
 * Page p is at byte (p + 1) * page_size. Misses are read into per-thread
 * staging buffers and copied into their frame once verified ("staged
 * reads", below); other reads go with pread straight into the frame, and
 * pages are written with pwrite straight from it. With O_DIRECT (the
 * default where the filesystem takes it) the page cache does not hold a
 * second copy. Every page written is sealed with its checksum trailer first
 * (checksum.c) and verified when read, so a torn or corrupted page is
 * reported, never returned.
 *
 * Batches (ptbm_file_read_batch, ptbm_file_write_batch) go to the disk
 * through one io_uring, up to RING_DEPTH requests at once, so a batch of 64
 * misses or 64 dirty victims waits for the disk once, at queue depth 64,
 * instead of 64 times at depth 1. They are submitted in groups of
 * SUBMIT_GROUP as they are built, so that the first are under way while
 * the kernel builds the rest. Each thread has its own ring (a ring is
 * not shared between threads or, after fork, processes); where io_uring is
 * not available the batch falls back to one pread/pwrite at a time.
 *
 * Every transfer asks the fault-injection seam (fault.c) first; in the
 * installed library that is a constant.
 *
 * Entry points: ptbm_io_xfer, ptbm_file_read_page, ptbm_file_read_batch,
 * ptbm_file_read_start/_finish, ptbm_file_write_batch,
 * ptbm_file_write_pages, ptbm_file_verify, ptbm_file_note_written,
 * ptbm_file_note_length, ptbm_io_after_fork.
 */
#include "core/pageio.h"

#include "core/checksum.h"
#include "core/fault.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* pread/pwrite of exactly n bytes; 0, PTBM_EIO_SHORT at EOF, or -errno. */
int ptbm_io_xfer(int fd, void *buf, size_t n, off_t off, bool write, size_t *done_out)
{
	size_t done = 0;
	enum ptbm_fault f = ptbm_fault_take(write);
	if (f == PTBM_FAULT_DELAY) {
		usleep(200000);
		f = PTBM_FAULT_NONE;
	}
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

void ptbm_file_note_written(struct ptbm_file *f, uint64_t pid)
{
	if (f->written && !ptbm_pageset_has(f->written, pid))
		ptbm_pageset_insert(f->written, pid);
}

static bool was_written(struct ptbm_file *f, uint64_t pid)
{
	return f->written && ptbm_pageset_has(f->written, pid);
}

int ptbm_file_verify(struct ptbm_file *f, const void *page, uint64_t pid)
{
	return ptbm_page_verify(page, f->page_size, pid, was_written(f, pid));
}

/* What the file is known to hold, taken before a read is issued. */
static uint64_t known_pages(const struct ptbm_file *f)
{
	return f->file_pages ? atomic_load(f->file_pages) : 0;
}

/* A read found the end of the file: a page never written, unless the file
 * was known to hold it before the read (known, from known_pages); then
 * someone truncated the file under us. A page written back since the read
 * was issued may have grown the file meanwhile: that is not a truncation. */
static int read_at_eof(struct ptbm_file *f, uint64_t pid, void *dst, uint64_t known)
{
	if (pid < known || was_written(f, pid))
		return PTBM_ETRUNCATED;
	memset(dst, 0, f->page_size);
	return 0;
}

/* The file is now at least pid + 1 pages long. */
void ptbm_file_note_length(struct ptbm_file *f, uint64_t pid)
{
	if (!f->file_pages)
		return;
	uint64_t cur = atomic_load_explicit(f->file_pages, memory_order_relaxed);
	while (cur < pid + 1 && !atomic_compare_exchange_weak(f->file_pages, &cur, pid + 1))
		;
}

int ptbm_file_read_page(struct ptbm_file *f, uint64_t pid, void *dst)
{
	size_t got = 0;
	uint64_t known = known_pages(f);
	int rc =
	    ptbm_io_xfer(f->fd, dst, f->page_size, (off_t)((pid + 1) * f->page_size), false, &got);
	if (rc == PTBM_EIO_SHORT && got == 0)
		return read_at_eof(f, pid, dst, known);
	if (rc < 0)
		return rc;
	return ptbm_file_verify(f, dst, pid);
}

/* ---- batches through io_uring ------------------------------------------- */

#define RING_DEPTH 64
/*
 * Requests per submission of a batch. Submitted all at once, a batch's
 * requests reach the device only when the last is built (a few microseconds
 * each in the kernel); in groups, the first ones are under way while the
 * rest are built. On a virtio disk that took 24 reads from about 725 us to
 * about 655 us; the price is a system call per group.
 */
#define SUBMIT_GROUP 4

static __thread struct thread_ring {
	struct io_uring ring;
	int state; /* 0 not yet, 1 ready, -1 unavailable */
	struct io_uring stage;
	int stage_state;  /* the staged reads' ring, the same way */
	char *stage_buf;  /* staging buffers, STAGE_BYTES or one page */
	size_t stage_len; /* bytes mapped at stage_buf */
	int stage_reg;	  /* stage_buf registered with the stage ring: 0 not yet, 1, -1 refused */
} tl_ring;

static pthread_key_t ring_key;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_exit(void *arg)
{
	(void)arg;
	if (tl_ring.state == 1)
		io_uring_queue_exit(&tl_ring.ring);
	if (tl_ring.stage_state == 1)
		io_uring_queue_exit(&tl_ring.stage);
	if (tl_ring.stage_buf)
		munmap(tl_ring.stage_buf, tl_ring.stage_len);
	tl_ring.state = tl_ring.stage_state = 0;
	tl_ring.stage_buf = NULL;
	tl_ring.stage_reg = 0;
}

static void ring_key_make(void)
{
	pthread_key_create(&ring_key, ring_exit);
}

/* The calling thread's ring (or its staged reads' ring), made on first use. */
static struct io_uring *ring_of(struct io_uring *ring, int *state)
{
	if (PTBM_LIKELY(*state == 1))
		return ring;
	if (*state < 0)
		return NULL;
	pthread_once(&ring_once, ring_key_make);
	if (io_uring_queue_init(RING_DEPTH, ring, 0) < 0) {
		*state = -1;
		return NULL;
	}
	*state = 1;
	pthread_setspecific(ring_key, &tl_ring);
	return ring;
}

static struct io_uring *thread_ring(void)
{
	return ring_of(&tl_ring.ring, &tl_ring.state);
}

void ptbm_io_after_fork(void)
{
	/* the parent's rings came along with its memory: never touch them here;
	 * the staging buffers are this process's own private copy */
	tl_ring.state = tl_ring.stage_state = 0;
	tl_ring.stage_reg = 0;
}

/* One page by pread/pwrite: its result, and whether a read found the end. */
static int xfer_page(struct ptbm_file *f, uint64_t pid, void *buf, bool write, bool *eof)
{
	size_t got = 0;
	int rc =
	    ptbm_io_xfer(f->fd, buf, f->page_size, (off_t)((pid + 1) * f->page_size), write, &got);
	if (!write && rc == PTBM_EIO_SHORT && got == 0) {
		*eof = true;
		return 0;
	}
	return rc;
}

/* The calling thread's batch ring failed: drop it (and whatever requests it
 * holds that the kernel did not take); the next batch makes a new one. */
static void ring_broken(struct io_uring *ring)
{
	io_uring_queue_exit(ring);
	tl_ring.state = 0;
}

/* Submit what the ring holds, through interruptions; 0 or the ring's error. */
static int ring_submit(struct io_uring *ring, unsigned wait_for)
{
	int rc = io_uring_submit_and_wait(ring, wait_for);
	while (rc == -EINTR || (rc >= 0 && io_uring_sq_ready(ring))) /* some were not taken */
		rc = io_uring_submit(ring);
	return rc < 0 ? rc : 0;
}

/*
 * The fault for one request of a batch (fault.c): a delay is served here
 * (the request then goes as usual) and a ring fault noted in *ring_fault;
 * what is returned is the request's own fault, PTBM_FAULT_NONE if none.
 */
static enum ptbm_fault request_fault(bool write, bool *ring_fault)
{
	enum ptbm_fault fault = ptbm_fault_take(write);
	if (fault == PTBM_FAULT_DELAY || fault == PTBM_FAULT_RING) {
		if (fault == PTBM_FAULT_DELAY)
			usleep(200000); /* then the request goes as usual */
		*ring_fault |= fault == PTBM_FAULT_RING;
		fault = PTBM_FAULT_NONE;
	}
	return fault;
}

/* The result a request's own fault stands for. */
static int fault_rc(enum ptbm_fault fault)
{
	return fault == PTBM_FAULT_EIO	    ? -EIO
	       : fault == PTBM_FAULT_ENOSPC ? -ENOSPC
					    : PTBM_EIO_SHORT;
}

/*
 * Transfer n whole pages, in io_uring submissions of up to RING_DEPTH (one
 * pread/pwrite at a time where there is no ring). Two channels, neither a
 * sum of the other: rcs[i] gets page i's own result (0, -errno or
 * PTBM_EIO_SHORT) and, for reads, eof[i] whether its read found the end of
 * the file (rcs[i] is 0 then). The ring's own failure is no page's result:
 * a ring that cannot submit is torn down and the pages it did not take are
 * transferred one by one; one that fails while requests are in flight
 * leaves those pages with its error, their outcome unknown.
 */
static void batch_xfer(struct ptbm_file *f, const uint64_t *pids, void *const *bufs, size_t n,
		       bool write, int *rcs, bool *eof)
{
	struct io_uring *ring = thread_ring();
	for (size_t at = 0; at < n;) {
		size_t k = n - at < RING_DEPTH ? n - at : RING_DEPTH, queued = 0, sent = 0;
		bool in_ring[RING_DEPTH] = {false}, ring_fault = false;
		enum ptbm_fault faults[RING_DEPTH];
		/* the injected faults first: a ring fault comes before any submission */
		for (size_t i = 0; i < k; i++)
			faults[i] = request_fault(write, &ring_fault);
		for (size_t i = at; i < at + k; i++) {
			if (eof)
				eof[i] = false;
			enum ptbm_fault fault = faults[i - at];
			/* no SQE for a faulted page: one taken and left unprepared
			 * would be submitted anyway, replaying a stale request */
			struct io_uring_sqe *sqe = ring && !ring_fault && fault == PTBM_FAULT_NONE
						       ? io_uring_get_sqe(ring)
						       : NULL;
			if (fault != PTBM_FAULT_NONE) {
				rcs[i] = fault_rc(fault);
				continue;
			}
			if (!sqe) { /* no ring here: one call each */
				bool end = false;
				rcs[i] = xfer_page(f, pids[i], bufs[i], write, &end);
				if (eof)
					eof[i] = end;
				continue;
			}
			off_t off = (off_t)((pids[i] + 1) * f->page_size);
			if (write)
				io_uring_prep_write(sqe, f->fd, bufs[i], f->page_size,
						    (uint64_t)off);
			else
				io_uring_prep_read(sqe, f->fd, bufs[i], f->page_size,
						   (uint64_t)off);
			io_uring_sqe_set_data64(sqe, i);
			in_ring[i - at] = true;
			/* in groups, as staged reads go (ptbm_file_read_start) */
			if (++queued % SUBMIT_GROUP == 0) {
				int r = io_uring_submit(ring);
				sent += r > 0 ? (size_t)r : 0;
			}
		}
		int rc = 0;
		if (ring_fault && ring) {
			ring_broken(ring); /* then every page went one by one */
			ring = NULL;
		}
		if (queued)
			rc = ring_submit(ring, (unsigned)queued);
		if (rc < 0 && sent) {
			/* the ring failed with requests in flight */
			for (size_t i = at; i < at + k; i++)
				if (in_ring[i - at])
					rcs[i] = rc;
			ring_broken(ring);
			ring = NULL;
			queued = 0;
		} else if (rc < 0) {
			/* nothing was taken: drop the ring, do them one by one */
			ring_broken(ring);
			ring = NULL;
			for (size_t i = at; i < at + k; i++) {
				if (!in_ring[i - at])
					continue;
				in_ring[i - at] = false;
				bool end = false;
				rcs[i] = xfer_page(f, pids[i], bufs[i], write, &end);
				if (eof)
					eof[i] = end;
			}
			queued = 0;
		}
		for (size_t done = 0; done < queued; done++) {
			struct io_uring_cqe *cqe;
			rc = io_uring_wait_cqe(ring, &cqe);
			if (rc == -EINTR) {
				done--;
				continue;
			}
			if (rc < 0) {
				/* the ring failed with requests in flight */
				for (size_t i = at; i < at + k; i++)
					if (in_ring[i - at])
						rcs[i] = rc;
				ring_broken(ring);
				ring = NULL;
				break;
			}
			size_t i = (size_t)io_uring_cqe_get_data64(cqe);
			int res = cqe->res;
			io_uring_cqe_seen(ring, cqe);
			in_ring[i - at] = false;
			if (res == (int)f->page_size) {
				rcs[i] = 0;
			} else if (res == 0 && !write) {
				rcs[i] = 0; /* the end of the file */
				if (eof)
					eof[i] = true;
			} else if (res >= 0 || res == -EAGAIN || res == -EINTR) {
				/* short: finish it with the synchronous path */
				bool end = false;
				rcs[i] = xfer_page(f, pids[i], bufs[i], write, &end);
				if (eof)
					eof[i] = end;
			} else {
				rcs[i] = res;
			}
		}
		at += k;
	}
}

int ptbm_file_read_batch(struct ptbm_file *f, const uint64_t *pids, void *const *dst, size_t n,
			 int *rcs)
{
	uint64_t known = known_pages(f);
	int first_err = 0;
	for (size_t at = 0; at < n; at += RING_DEPTH) {
		size_t k = n - at < RING_DEPTH ? n - at : RING_DEPTH;
		bool eof[RING_DEPTH];
		batch_xfer(f, pids + at, dst + at, k, false, rcs + at, eof);
		for (size_t j = 0; j < k; j++) {
			size_t i = at + j;
			if (rcs[i] == 0)
				rcs[i] = eof[j] ? read_at_eof(f, pids[i], dst[i], known)
						: ptbm_file_verify(f, dst[i], pids[i]);
			if (rcs[i] < 0 && !first_err)
				first_err = rcs[i];
		}
	}
	return first_err;
}

/* ---- staged reads ---------------------------------------------------- */

/*
 * A miss into a frame released at eviction pays, besides the disk, for a new
 * frame: the kernel allocates and zeroes it and sets its PTE, and on this
 * kind of paravirtualized guest the first access to the new mapping exits
 * to the hypervisor. Read straight into the frame, all of that comes before
 * the read is issued (and an io_uring read into an unmapped frame cannot
 * even be issued inline: it goes to a kernel worker thread). Staged reads
 * go to buffers that stay mapped instead, so the frame's cost overlaps the
 * disk's latency, and the page is verified before it reaches the frame.
 */
#define STAGE_BYTES (1u << 20)

size_t ptbm_file_stage_slots(const struct ptbm_file *f)
{
	size_t k = STAGE_BYTES / f->page_size;
	return k < 1 ? 1 : k > PTBM_STAGE_MAX ? PTBM_STAGE_MAX : k;
}

/* The thread's staging buffers, at least bytes long; NULL if out of memory. */
static char *stage_buffers(size_t bytes)
{
	if (tl_ring.stage_len >= bytes)
		return tl_ring.stage_buf;
	pthread_once(&ring_once, ring_key_make);
	if (tl_ring.stage_reg == 1 && tl_ring.stage_state == 1)
		io_uring_unregister_buffers(&tl_ring.stage); /* it pins the old pages */
	tl_ring.stage_reg = 0;
	if (tl_ring.stage_buf)
		munmap(tl_ring.stage_buf, tl_ring.stage_len);
	tl_ring.stage_len = 0;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tl_ring.stage_buf = p == MAP_FAILED ? NULL : p;
	if (!tl_ring.stage_buf)
		return NULL;
	tl_ring.stage_len = bytes;
	pthread_setspecific(ring_key, &tl_ring);
	return tl_ring.stage_buf;
}

/*
 * Whether the staging buffers are the ring's registered buffer, registering
 * them on first use. A read into a registered buffer skips pinning its
 * pages for every request and unpinning them at completion (12-13% of a
 * batch's CPU time on a nested-paging host, docs/bench.md). The pages
 * count against RLIMIT_MEMLOCK (up to 1 MiB a thread, or one page where
 * pages are larger) unless the process has CAP_IPC_LOCK;
 * where the kernel refuses, reads go as before.
 */
static bool stage_registered(struct io_uring *ring)
{
	if (PTBM_LIKELY(tl_ring.stage_reg != 0))
		return tl_ring.stage_reg == 1;
	struct iovec iov = {tl_ring.stage_buf, tl_ring.stage_len};
	tl_ring.stage_reg = io_uring_register_buffers(ring, &iov, 1) == 0 ? 1 : -1;
	return tl_ring.stage_reg == 1;
}

/*
 * Submit the staged reads the ring holds; false if none was ever submitted
 * and this submission failed too (the caller gives up the ring). A later
 * group that fails stays in the ring, and _finish submits it.
 */
static bool stage_submit(struct io_uring *ring, bool *submitted)
{
	if (io_uring_submit(ring) >= 0)
		*submitted = true;
	return *submitted;
}

void ptbm_file_read_start(struct ptbm_file *f, const uint64_t *pids, size_t n,
			  struct ptbm_staged *st)
{
	st->pids = pids;
	st->n = n;
	st->known = known_pages(f);
	st->queued = 0;
	st->buf = stage_buffers(ptbm_file_stage_slots(f) * f->page_size);
	struct io_uring *ring = st->buf ? ring_of(&tl_ring.stage, &tl_ring.stage_state) : NULL;
	/* the injected faults first: a ring fault comes before any submission */
	bool ring_fault = false;
	for (size_t i = 0; i < n; i++) {
		enum ptbm_fault fault = request_fault(false, &ring_fault);
		st->how[i] = fault == PTBM_FAULT_NONE ? 1 : fault_rc(fault);
	}
	if (ring && ring_fault) { /* nothing submitted: all read at finish, one by one */
		io_uring_queue_exit(ring);
		tl_ring.stage_state = 0;
		tl_ring.stage_reg = 0;
		return;
	}
	size_t grouped = 0;
	bool submitted = false, broken = false, fixed = ring && stage_registered(ring);
	for (size_t i = 0; i < n && ring && !broken; i++) {
		struct io_uring_sqe *sqe = st->how[i] == 1 ? io_uring_get_sqe(ring) : NULL;
		if (!sqe)
			continue;
		if (fixed)
			io_uring_prep_read_fixed(sqe, f->fd, st->buf + i * f->page_size,
						 f->page_size, (pids[i] + 1) * f->page_size, 0);
		else
			io_uring_prep_read(sqe, f->fd, st->buf + i * f->page_size, f->page_size,
					   (pids[i] + 1) * f->page_size);
		io_uring_sqe_set_data64(sqe, i);
		st->how[i] = 0;
		st->queued++;
		if (++grouped == SUBMIT_GROUP) {
			grouped = 0;
			broken = !stage_submit(ring, &submitted);
		}
	}
	if (grouped && !broken)
		stage_submit(ring, &submitted);
	if (st->queued && !submitted) {
		/* nothing known submitted: read them all at finish, one by one */
		io_uring_queue_exit(ring);
		tl_ring.stage_state = 0;
		tl_ring.stage_reg = 0;
		for (size_t i = 0; i < n; i++)
			if (st->how[i] == 0)
				st->how[i] = 1;
		st->queued = 0;
	}
}

/* Verify page i in its staging slot (or read at the end of the file) and
 * copy it to dst. */
static int stage_deliver(struct ptbm_file *f, struct ptbm_staged *st, size_t i, int res, void *dst)
{
	char *slot = st->buf ? st->buf + i * f->page_size : NULL;
	size_t got = 0;
	off_t off = (off_t)((st->pids[i] + 1) * f->page_size);
	if (!slot) /* no staging memory: straight into the frame */
		return dst ? ptbm_file_read_page(f, st->pids[i], dst) : 0;
	if (res == 0)
		return dst ? read_at_eof(f, st->pids[i], dst, st->known) : 0;
	if (res != (int)f->page_size) { /* short or retryable: synchronously */
		if (res < 0 && res != -EAGAIN && res != -EINTR)
			return res;
		int rc = ptbm_io_xfer(f->fd, slot, f->page_size, off, false, &got);
		if (rc == PTBM_EIO_SHORT && got == 0)
			return dst ? read_at_eof(f, st->pids[i], dst, st->known) : 0;
		if (rc < 0)
			return rc;
	}
	int rc = ptbm_file_verify(f, slot, st->pids[i]);
	if (rc == 0 && dst)
		memcpy(dst, slot, f->page_size);
	return rc;
}

int ptbm_file_read_finish(struct ptbm_file *f, struct ptbm_staged *st, void *const *dst, int *rcs)
{
	int first_err = 0;
	if (st->queued && io_uring_sq_ready(&tl_ring.stage))
		io_uring_submit(&tl_ring.stage); /* what _start's submit left */
	for (size_t i = 0; i < st->n; i++)
		rcs[i] = st->how[i] < 0 ? st->how[i]
			 : st->how[i] == 1
			     ? stage_deliver(f, st, i, -EAGAIN, dst[i]) /* not queued */
			     : 0;
	for (size_t done = 0; done < st->queued; done++) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&tl_ring.stage, &cqe);
		if (rc == -EINTR) {
			done--;
			continue;
		}
		if (rc < 0) {
			/* the ring failed: what it still holds cannot be known */
			for (size_t i = 0; i < st->n; i++)
				if (st->how[i] == 0)
					rcs[i] = rc;
			io_uring_queue_exit(&tl_ring.stage);
			tl_ring.stage_state = 0;
			tl_ring.stage_reg = 0;
			break;
		}
		size_t i = (size_t)io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&tl_ring.stage, cqe);
		st->how[i] = 2; /* delivered */
		rcs[i] = stage_deliver(f, st, i, res, dst[i]);
	}
	for (size_t i = 0; i < st->n; i++)
		if (rcs[i] < 0 && !first_err)
			first_err = rcs[i];
	return first_err;
}

int ptbm_file_write_batch(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n,
			  int *rcs)
{
	for (size_t i = 0; i < n; i++)
		ptbm_page_seal(pages[i], f->page_size, pids[i]);
	batch_xfer(f, pids, pages, n, true, rcs, NULL);
	int first_err = 0;
	for (size_t i = 0; i < n; i++) {
		if (rcs[i] == 0) {
			ptbm_file_note_length(f, pids[i]);
			ptbm_file_note_written(f, pids[i]);
		} else if (!first_err) {
			first_err = rcs[i];
		}
	}
	return first_err;
}

int ptbm_file_write_pages(struct ptbm_file *f, const uint64_t *pids, void *const *pages, size_t n)
{
	int rcs[RING_DEPTH];
	for (size_t at = 0; at < n; at += RING_DEPTH) {
		size_t k = n - at < RING_DEPTH ? n - at : RING_DEPTH;
		int rc = ptbm_file_write_batch(f, pids + at, pages + at, k, rcs);
		if (rc < 0)
			return rc;
	}
	return 0;
}
