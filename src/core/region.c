/*
 * region.c - the address-space layer: reserve, populate, release, collapse.
 *
 * The pool reserves its whole virtual range once (MAP_NORESERVE: a 1 TiB
 * database costs no memory until pages are touched), on a 2 MiB boundary.
 * Processes mode maps it MAP_SHARED, anonymous (inherited by fork) or from a
 * POSIX shm object (attached by name); threads mode maps it
 * MAP_SHARED|MAP_ANONYMOUS too, unless the pool never collapses extents
 * (PTBM_NO_HUGE), when it maps private anonymous memory. Either shmem
 * kind's page cache is what every process shares, while each process fills
 * its own page table (../README.md, "What the kernel does"). The boundary
 * matters for shmem: MADV_COLLAPSE takes a 2 MiB extent only where the
 * mapping's addresses and the object's offsets agree modulo 2 MiB (EINVAL
 * otherwise), and offset 0 is mapped at the reservation's start.
 *
 * Releasing a frame must free it for every process. In shmem, MADV_REMOVE
 * punches a hole in the object, which zaps every process's PTEs and frees
 * the page at once, even out of a huge page (which is split);
 * MADV_DONTNEED would free nothing there. In private memory MADV_DONTNEED
 * frees a 4 KiB page, but not a part of a huge page, which stays allocated
 * whole until memory pressure splits it: hence shmem for a threads-mode
 * pool that collapses. ptbm_region_release takes a batch of runs and issues
 * them with one process_madvise(2) call when the kernel accepts that advice
 * for the calling process (Linux 6.13+), else one madvise(2) per run; the
 * cost per page is lower for contiguous runs than for scattered pages
 * (docs/probe.md, costs), so callers merge adjacent pages into runs and
 * batch the runs.
 *
 * Populating (MADV_POPULATE_WRITE) maps pages writable without taking a
 * hardware fault. Collapsing (MADV_COLLAPSE) copies the 512 present 4 KiB
 * pages of a 2 MiB extent into one huge page, which the MMU then maps with
 * one PMD entry in every process (extent.c says when).
 *
 * Moving (userfaultfd's UFFDIO_MOVE) hands a private page from one address
 * to another: its PTE is cleared at the source (a TLB flush there) and set
 * at the destination; the page is neither freed nor allocated nor zeroed.
 * The kernel refuses a page that is shared (after a fork, until one side
 * writes) or pinned (a read in flight into it), and a destination that is
 * mapped: the caller then releases and populates as before.
 */
#include "core/region.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef PIDFD_SELF
#define PIDFD_SELF -10000
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#define IOV_BATCH 512
/* Debian 12's kernel headers (6.1) predate moves; the ABI is Linux 6.8's. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1u << 16)
struct uffdio_move {
	uint64_t dst, src, len, mode;
	int64_t move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

void *ptbm_region_reserve(uint64_t bytes, bool shared, int fd, uint64_t offset)
{
	/* an address range an extent longer, then the mapping on its first
	 * extent boundary, the rest given back */
	const uint64_t ext = PTBM_EXTENT_BYTES;
	char *r =
	    mmap(NULL, bytes + ext, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)r + ext - 1) & ~(uintptr_t)(ext - 1));
	int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_NORESERVE | MAP_FIXED;
	if (fd < 0)
		flags |= MAP_ANONYMOUS;
	void *p = mmap(a, bytes, PROT_READ | PROT_WRITE, flags, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		int e = errno;
		munmap(r, bytes + ext);
		errno = e;
		return NULL;
	}
	if (a > r)
		munmap(r, (size_t)(a - r));
	if (r + ext > a)
		munmap(a + bytes, (size_t)(r + ext - a));
	return p;
}

int ptbm_region_unmap(void *addr, uint64_t bytes)
{
	return munmap(addr, bytes) < 0 ? -errno : 0;
}

/* -1 unknown, 0 no, 1 yes: does process_madvise take this advice for self? */
enum { PM_DONTNEED, PM_REMOVE, PM_POPULATE, PM_KINDS };
static _Atomic int pm_ok[PM_KINDS] = {-1, -1, -1};

static int advise_loop(struct ptbm_run *runs, size_t n, int advice)
{
	for (size_t i = 0; i < n; i++)
		if (madvise(runs[i].addr, runs[i].bytes, advice) < 0)
			return -errno;
	return 0;
}

/* Apply advice to n runs with as few system calls as the kernel allows. */
static int advise_runs(struct ptbm_run *runs, size_t n, int advice, _Atomic int *ok)
{
	if (n <= 1 || atomic_load_explicit(ok, memory_order_relaxed) == 0)
		return advise_loop(runs, n, advice);
	struct iovec iov[IOV_BATCH];
	for (size_t at = 0; at < n;) {
		size_t k = n - at < IOV_BATCH ? n - at : IOV_BATCH;
		uint64_t want = 0;
		for (size_t i = 0; i < k; i++) {
			iov[i].iov_base = runs[at + i].addr;
			iov[i].iov_len = runs[at + i].bytes;
			want += runs[at + i].bytes;
		}
		long r = syscall(SYS_process_madvise, PIDFD_SELF, iov, k, advice, 0u);
		if (r < 0) {
			/* an older kernel: fall back for good, finish with madvise */
			atomic_store(ok, 0);
			return advise_loop(runs + at, n - at, advice);
		}
		atomic_store_explicit(ok, 1, memory_order_relaxed);
		if ((uint64_t)r != want) /* partial: finish the rest one by one */
			return advise_loop(runs + at, n - at, advice);
		at += k;
	}
	return 0;
}

int ptbm_region_release(struct ptbm_run *runs, size_t n, bool shmem)
{
	return shmem ? advise_runs(runs, n, MADV_REMOVE, &pm_ok[PM_REMOVE])
		     : advise_runs(runs, n, MADV_DONTNEED, &pm_ok[PM_DONTNEED]);
}

int ptbm_region_populate_runs(struct ptbm_run *runs, size_t n)
{
	return advise_runs(runs, n, MADV_POPULATE_WRITE, &pm_ok[PM_POPULATE]);
}

int ptbm_region_collapse(void *addr)
{
	return madvise(addr, PTBM_EXTENT_BYTES, MADV_COLLAPSE) < 0 ? -errno : 0;
}

int ptbm_region_mover_open(void)
{
	/* user-mode faults only: what an unprivileged process may open */
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return -errno;
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_MOVE};
	if (ioctl(fd, UFFDIO_API, &api) < 0 || !(api.features & UFFD_FEATURE_MOVE)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int ptbm_region_mover_register(int mover, void *addr, uint64_t bytes)
{
	struct uffdio_register reg = {
	    .range = {.start = (uintptr_t)addr, .len = bytes},
	    .mode = UFFDIO_REGISTER_MODE_WP,
	};
	return ioctl(mover, UFFDIO_REGISTER, &reg) < 0 ? -errno : 0;
}

int ptbm_region_move(int mover, void *dst, void *src, uint64_t bytes)
{
	struct uffdio_move m = {.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = bytes};
	if (ioctl(mover, UFFDIO_MOVE, &m) < 0)
		return -errno;
	return m.move == (int64_t)bytes ? 0 : -EAGAIN;
}
