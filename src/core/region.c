/*
 * region.c - the address-space layer: reserve, populate, release.
 *
 * The pool reserves its whole virtual range once (MAP_NORESERVE: a 1 TiB
 * database costs no memory until pages are touched). Threads mode maps it
 * MAP_PRIVATE|MAP_ANONYMOUS; processes mode MAP_SHARED, either anonymous
 * (inherited by fork) or from a POSIX shm object (attached by name). Both
 * shared kinds are shmem: the inode's page cache is what every process
 * shares, while each process fills its own page table (../README.md, "What
 * the kernel does").
 *
 * Releasing a frame must free it for every process. MADV_DONTNEED does so in
 * a private mapping but frees nothing in a shared one (it only zaps the
 * caller's PTEs); there MADV_REMOVE punches a hole in the shmem object, which
 * zaps every process's PTEs and frees the page. ptbm_region_release takes a
 * batch of runs and issues them with one process_madvise(2) call when the
 * kernel accepts that advice for the calling process (Linux 6.13+), else one
 * madvise(2) per run. Measured here (ptbm probe, costs): a batched private
 * DONTNEED costs ~0.4 us a page; a shared REMOVE costs microseconds per
 * call, about 5x less per page in batches of 64 than one at a time, and
 * more for scattered pages than for a contiguous run, so callers merge
 * adjacent pages into runs and batch the runs.
 *
 * Populating (MADV_POPULATE_WRITE) maps pages writable without taking a
 * hardware fault (~1.6 us a call against ~9 us a fault on this machine).
 */
#include "core/region.h"

#include <errno.h>
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
#define IOV_BATCH 512

void *ptbm_region_reserve(uint64_t bytes, bool shared, int fd, uint64_t offset)
{
	int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_NORESERVE;
	if (fd < 0)
		flags |= MAP_ANONYMOUS;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, fd, (off_t)offset);
	return p == MAP_FAILED ? NULL : p;
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

int ptbm_region_release(struct ptbm_run *runs, size_t n, bool shared)
{
	return shared ? advise_runs(runs, n, MADV_REMOVE, &pm_ok[PM_REMOVE])
		      : advise_runs(runs, n, MADV_DONTNEED, &pm_ok[PM_DONTNEED]);
}

int ptbm_region_populate_runs(struct ptbm_run *runs, size_t n)
{
	return advise_runs(runs, n, MADV_POPULATE_WRITE, &pm_ok[PM_POPULATE]);
}
